//! A throw-away single-node Ceph for the RBD tests: one monitor, one OSD on memstore (the data
//! lives in the OSD's memory), a manager without its Python modules, cephx, loopback only,
//! every file under one folder, daemons stopped by pid. `cargo glint ceph start|stop|status`;
//! `cargo glint test` starts one before the tests and stops it when they end, pass or fail.
//!
//! The daemons fork into the background and outlive the process that started them: whatever
//! starts a cluster stops it (`Running` does so when dropped).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Result, step, target_dir};

/// The pools the tests use: two, for a deployment with two RBD stores.
pub(crate) const POOLS: [&str; 2] = ["images", "images2"];

/// The monitor's msgr2 port; msgr1 listens on the next one.
const MON_PORT: u16 = 3300;

/// Memstore's capacity: the data lives in RAM, so the tests keep their images small.
const MEMSTORE_BYTES: u64 = 4 << 30;

const DAEMONS: [&str; 3] = ["osd.0", "mgr.x", "mon.a"];

/// Where the tests' cluster lives: a short path, as its sockets' paths must stay under 108
/// bytes.
pub(crate) fn default_dir() -> Result<PathBuf> {
    let dir = target_dir()?.join("tmp").join("ceph");
    if dir.as_os_str().len() > 80 {
        let short = std::env::temp_dir().join(format!("glint-ceph-{}", uid()));
        return Ok(short);
    }
    Ok(dir)
}

fn uid() -> String {
    crate::output("id", &["-u"])
        .map(|u| u.trim().to_string())
        .unwrap_or_default()
}

/// The Debian packages the cluster and the RBD store need.
pub(crate) fn ensure_packages() -> Result {
    let wanted = [
        ("ceph-mon", "ceph-mon"),
        ("ceph-osd", "ceph-osd"),
        ("ceph-mgr", "ceph-mgr"),
        ("rbd", "ceph-common"),
    ];
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(tool, _)| !crate::tools::on_path(tool))
        .map(|(_, p)| *p)
        .collect();
    if missing.is_empty() && librbd_loadable() {
        return Ok(());
    }
    let mut packages = missing;
    packages.push("librbd1");
    crate::tools::apt_install(&packages)
}

fn librbd_loadable() -> bool {
    crate::output("ldconfig", &["-p"]).is_some_and(|o| o.contains("librbd.so.1"))
}

/// A cluster started here, stopped when dropped.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) dir: PathBuf,
    pub(crate) conf: PathBuf,
    pub(crate) fsid: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        step("stopping the test Ceph cluster");
        stop(&self.dir);
    }
}

fn conf_of(dir: &Path) -> PathBuf {
    dir.join("ceph.conf")
}

/// Starts a cluster in `dir`, or finds the one running there; returns its conf and fsid.
pub(crate) fn start(dir: &Path) -> Result<Running> {
    ensure_packages()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    if dir.as_os_str().len() > 80 || dir.to_string_lossy().contains(char::is_whitespace) {
        return Err(format!(
            "{}: a Ceph folder's path must be short (its sockets live there) and without spaces",
            dir.display()
        ));
    }
    let conf = conf_of(&dir);
    if dir.join(".ready").exists() && alive(&dir) {
        let fsid = read(&dir.join("fsid"))?;
        return Ok(Running { dir, conf, fsid });
    }
    let started = Instant::now();
    step(&format!("starting a single-node Ceph in {}", dir.display()));
    stop(&dir);
    for part in ["mon", "mgr", "osd", "run", "log", "crash"] {
        let _ = std::fs::remove_dir_all(dir.join(part));
        std::fs::create_dir_all(dir.join(part)).map_err(|e| e.to_string())?;
    }
    for file in [".ready", "fsid", "keyring", "monmap", "ceph.conf"] {
        let _ = std::fs::remove_file(dir.join(file));
    }
    for port in [MON_PORT, MON_PORT + 1] {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Err(format!(
                "127.0.0.1:{port} is taken: another Ceph monitor runs here (stop it with \
                 `cargo glint ceph stop`)"
            ));
        }
    }
    let fsid = new_uuid()?;
    let osd_uuid = new_uuid()?;
    std::fs::write(&conf, conf_text(&dir, &fsid)).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("fsid"), &fsid).map_err(|e| e.to_string())?;
    let keyring = dir.join("keyring");
    let key = |name: &str, caps: &[(&str, &str)], create: bool| -> Result {
        let mut c = Command::new("ceph-authtool");
        c.arg(&keyring);
        if create {
            c.arg("--create-keyring");
        }
        c.args(["--gen-key", "-n", name]);
        for (what, cap) in caps {
            c.args(["--cap", what, cap]);
        }
        quiet(&mut c)
    };
    key("mon.", &[("mon", "allow *")], true)?;
    key(
        "client.admin",
        &[
            ("mon", "allow *"),
            ("osd", "allow *"),
            ("mgr", "allow *"),
            ("mds", "allow *"),
        ],
        false,
    )?;
    key(
        "osd.0",
        &[
            ("mon", "allow profile osd"),
            ("mgr", "allow profile osd"),
            ("osd", "allow *"),
        ],
        false,
    )?;
    key(
        "mgr.x",
        &[
            ("mon", "allow profile mgr"),
            ("osd", "allow *"),
            ("mds", "allow *"),
        ],
        false,
    )?;
    let addr = format!("[v2:127.0.0.1:{MON_PORT},v1:127.0.0.1:{}]", MON_PORT + 1);
    quiet(
        Command::new("monmaptool")
            .args(["--create", "--fsid", &fsid, "--addv", "a", &addr])
            .arg(dir.join("monmap")),
    )?;
    quiet(
        Command::new("ceph-mon")
            .arg("--conf")
            .arg(&conf)
            .args(["-i", "a", "--mkfs", "--monmap"])
            .arg(dir.join("monmap"))
            .arg("--keyring")
            .arg(&keyring),
    )?;
    quiet(
        Command::new("ceph-mon")
            .arg("--conf")
            .arg(&conf)
            .args(["-i", "a"]),
    )?;
    wait_for("the monitor's quorum", &dir, || {
        ceph(&conf, &["quorum_status"]).is_ok()
    })?;
    ceph(&conf, &["health", "mute", "MGR_MODULE_ERROR", "--sticky"])?;
    let id = ceph(&conf, &["osd", "new", &osd_uuid])?;
    if id.trim() != "0" {
        return Err(format!("the OSD got id {id}, not 0"));
    }
    quiet(Command::new("ceph-osd").arg("--conf").arg(&conf).args([
        "-i",
        "0",
        "--mkfs",
        "--osd-uuid",
        &osd_uuid,
    ]))?;
    quiet(
        Command::new("ceph-osd")
            .arg("--conf")
            .arg(&conf)
            .args(["-i", "0"]),
    )?;
    quiet(
        Command::new("ceph-mgr")
            .arg("--conf")
            .arg(&conf)
            .args(["-i", "x"]),
    )?;
    wait_for("the OSD", &dir, || {
        ceph(&conf, &["osd", "stat", "-f", "json"])
            .is_ok_and(|s| s.replace(' ', "").contains("\"num_up_osds\":1,"))
    })?;
    for pool in POOLS {
        ceph(&conf, &["osd", "pool", "create", pool, "8", "8"])?;
        // Writes into the pool, so it also waits for its placement groups.
        quiet(
            Command::new("timeout")
                .args(["60", "rbd", "--conf"])
                .arg(&conf)
                .args(["pool", "init", pool]),
        )?;
    }
    wait_for("the manager", &dir, || {
        ceph(&conf, &["mgr", "stat"])
            .is_ok_and(|s| s.replace(' ', "").contains("\"available\":true"))
    })?;
    std::fs::write(dir.join(".ready"), b"").map_err(|e| e.to_string())?;
    eprintln!(
        "Ceph {fsid} ready in {:.1}s (conf {})",
        started.elapsed().as_secs_f64(),
        conf.display()
    );
    Ok(Running { dir, conf, fsid })
}

fn conf_text(dir: &Path, fsid: &str) -> String {
    let d = dir.display();
    // The manager runs without its Python modules (30 MiB instead of 300): what the RBD
    // store needs (and `ceph df`) works without them.
    let modules = std::fs::read_dir("/usr/share/ceph/mgr")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "__pycache__")
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    format!(
        "# the tests' single-node cluster: loopback only, data in memory\n\
[global]\n\
fsid = {fsid}\n\
mon host = [v2:127.0.0.1:{p2},v1:127.0.0.1:{p1}]\n\
public addr = 127.0.0.1\n\
cluster addr = 127.0.0.1\n\
auth cluster required = cephx\n\
auth service required = cephx\n\
auth client required = cephx\n\
auth allow insecure global id reclaim = false\n\
keyring = {d}/keyring\n\
run dir = {d}/run\n\
crash dir = {d}/crash\n\
log file = {d}/log/$name.log\n\
osd pool default size = 1\n\
osd pool default min size = 1\n\
osd pool default pg num = 8\n\
osd pool default pgp num = 8\n\
osd pool default pg autoscale mode = off\n\
osd crush chooseleaf type = 0\n\
mon allow pool size one = true\n\
mon allow pool delete = true\n\
mon warn on pool no redundancy = false\n\
mon data avail warn = 1\n\
mon data avail crit = 0\n\
mgr initial modules =\n\
\n\
[mon]\n\
mon data = {d}/mon\n\
pid file = {d}/run/$name.pid\n\
mon cluster log file = {d}/log/cluster.$channel.log\n\
\n\
[mgr]\n\
mgr data = {d}/mgr\n\
pid file = {d}/run/$name.pid\n\
mgr disabled modules = {modules}\n\
\n\
[osd]\n\
osd data = {d}/osd\n\
osd journal = {d}/osd/journal\n\
pid file = {d}/run/$name.pid\n\
osd objectstore = memstore\n\
memstore device bytes = {MEMSTORE_BYTES}\n\
osd crush initial weight = 1\n\
osd op num shards = 2\n\
osd op num threads per shard = 1\n\
\n\
[client]\n\
log file = /dev/null\n",
        p2 = MON_PORT,
        p1 = MON_PORT + 1,
    )
}

/// The pid of a daemon of the cluster in `dir`, if it runs (checked against its command line,
/// so a reused pid is never taken for it).
fn pid_of(dir: &Path, daemon: &str) -> Option<i32> {
    let pid: i32 = read(&dir.join("run").join(format!("{daemon}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let conf = conf_of(dir);
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    cmdline
        .contains(conf.to_string_lossy().as_ref())
        .then_some(pid)
}

fn alive(dir: &Path) -> bool {
    DAEMONS.iter().all(|d| pid_of(dir, d).is_some())
        && Command::new("timeout")
            .args(["15", "rados", "--conf"])
            .arg(conf_of(dir))
            .arg("lspools")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Stops the cluster in `dir`: the OSD first (it tells the monitor it goes), then the
/// others; TERM, then KILL after 5 s.
pub(crate) fn stop(dir: &Path) {
    let term = |pids: &[i32]| {
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let until = Instant::now() + Duration::from_secs(5);
        while pids
            .iter()
            .any(|p| Path::new(&format!("/proc/{p}")).exists())
        {
            if Instant::now() > until {
                for pid in pids {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    if let Some(osd) = pid_of(dir, "osd.0") {
        term(&[osd]);
    }
    let others: Vec<i32> = ["mgr.x", "mon.a"]
        .iter()
        .filter_map(|d| pid_of(dir, d))
        .collect();
    term(&others);
    let _ = std::fs::remove_file(dir.join(".ready"));
}

pub(crate) fn status(dir: &Path) -> bool {
    dir.join(".ready").exists() && alive(dir)
}

/// Runs `ceph` against the cluster; its output.
pub(crate) fn ceph(conf: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("timeout")
        .args(["30", "ceph", "--conf"])
        .arg(conf)
        .args(args)
        .output()
        .map_err(|e| format!("ceph: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ceph {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_for(what: &str, dir: &Path, mut ready: impl FnMut() -> bool) -> Result {
    let until = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if Instant::now() > until {
            return Err(format!(
                "timed out waiting for {what} (logs: {})",
                dir.join("log").display()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn quiet(c: &mut Command) -> Result {
    let out = c.output().map_err(|e| format!("{c:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{c:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn new_uuid() -> Result<String> {
    read(Path::new("/proc/sys/kernel/random/uuid"))
}

/// `cargo glint ceph start|stop|status [DIR]`.
pub(crate) fn task(args: &[String]) -> Result {
    let dir = match args.get(1) {
        Some(d) => PathBuf::from(d),
        None => default_dir()?,
    };
    match args.first().map(String::as_str) {
        Some("start") => {
            let running = start(&dir)?;
            println!("CEPH_CONF={}", running.conf.display());
            println!("CEPH_FSID={}", running.fsid);
            // Left running: `cargo glint ceph stop` ends it.
            std::mem::forget(running);
            Ok(())
        }
        Some("stop") => {
            stop(&dir);
            Ok(())
        }
        Some("status") => {
            if status(&dir) {
                println!("running");
                Ok(())
            } else {
                Err("not running".into())
            }
        }
        _ => Err("usage: cargo glint ceph start|stop|status [DIR]".into()),
    }
}
