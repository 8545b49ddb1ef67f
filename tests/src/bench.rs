//! Benchmarks: the criterion ones (`cargo glint bench`) and the HTTP bench against the real
//! Glance 33 (`cargo glint bench-vs-glance`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::{Result, cargo, sh, step, target_dir};

pub(crate) fn bench() -> Result {
    step("criterion benchmarks");
    sh(cargo().args(["bench", "-p", "glint-core"]))
}

/// Cases compared between Glance and Glint: (section, case, field, title, higher is better).
pub(crate) const COMPARED: [(&str, &str, &str, &str, bool); 14] = [
    (
        "a_metadata_writes",
        "create_sequential",
        "rps",
        "create, 1 client (req/s)",
        true,
    ),
    (
        "a_metadata_writes",
        "create_concurrent",
        "rps",
        "create, 8 clients (req/s)",
        true,
    ),
    (
        "a_metadata_writes",
        "patch_sequential",
        "rps",
        "PATCH, 1 client (req/s)",
        true,
    ),
    (
        "a_metadata_writes",
        "patch_concurrent",
        "rps",
        "PATCH, 8 clients (req/s)",
        true,
    ),
    (
        "b_reads",
        "get_image_c1",
        "rps",
        "show, 1 conn (req/s)",
        true,
    ),
    (
        "b_reads",
        "get_image_c8",
        "rps",
        "show, 8 conn (req/s)",
        true,
    ),
    (
        "b_reads",
        "list_limit20_c8",
        "rps",
        "list limit=20, 8 conn (req/s)",
        true,
    ),
    (
        "b_reads",
        "list_property_filter_limit20_c8",
        "rps",
        "list by 2 properties, 8 conn (req/s)",
        true,
    ),
    (
        "d_list_scaling",
        "first_page_limit20",
        "p50_ms",
        "first page at 10k images (p50 ms)",
        false,
    ),
    (
        "d_list_scaling",
        "deep_page_limit20",
        "p50_ms",
        "deep page at 10k images (p50 ms)",
        false,
    ),
    (
        "c_data",
        "upload",
        "mb_per_s",
        "1 GiB upload, md5+sha512 (MB/s)",
        true,
    ),
    (
        "c_data",
        "download",
        "mb_per_s",
        "1 GiB download (MB/s)",
        true,
    ),
    (
        "c_data",
        "upload",
        "rss",
        "server peak RSS during upload (MiB)",
        false,
    ),
    (
        "c_data",
        "download",
        "rss",
        "server peak RSS during download (MiB)",
        false,
    ),
];

pub(crate) fn bench_value(
    result: &serde_json::Value,
    section: &str,
    case: &str,
    field: &str,
) -> Option<f64> {
    let case = &result[section][case];
    if field == "rss" {
        return case["server_memory"]["rss_peak_sum_mib"].as_f64();
    }
    case[field].as_f64()
}

pub(crate) fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

pub(crate) fn bench_vs_glance(args: &[String]) -> Result {
    let quick = args.iter().any(|a| a == "--quick");
    // The bench and Glance's start script are not part of this repository: their folder is
    // given, never guessed.
    let bench_dir = args
        .iter()
        .position(|a| a == "--bench-dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("GLINT_GLANCE_BENCH").map(PathBuf::from))
        .ok_or_else(|| {
            "give the folder with glance_api_bench.py and start_glance.sh: \
             cargo glint bench-vs-glance --bench-dir DIR (or GLINT_GLANCE_BENCH=DIR)"
                .to_string()
        })?;
    let script = bench_dir.join("glance_api_bench.py");
    if !script.is_file() {
        return Err(format!(
            "{} not found: --bench-dir names the folder with glance_api_bench.py and start_glance.sh",
            script.display()
        ));
    }
    // The data's size (MiB): the script's default unless given.
    let data_mib: u64 = match args.iter().position(|a| a == "--data-mib") {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or("--data-mib takes a number of MiB")?,
        None if quick => 64,
        None => 1024,
    };
    let out = target_dir()?.join("bench-vs-glance");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let client_dir = out.join("client");
    let run_bench = |base: &str, label: &str, file: &Path| -> Result {
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg(base)
            .args(["--label", label, "--out"])
            .arg(file)
            .arg("--workdir")
            .arg(&client_dir)
            .args(["--data-mib", &data_mib.to_string()]);
        if quick {
            cmd.arg("--quick");
        }
        sh(&mut cmd)
    };

    step("build glint and the limit line's streamer (release)");
    sh(cargo().args(["build", "--release", "-p", "glint-server"]))?;
    sh(cargo().args([
        "build",
        "--release",
        "-p",
        "glint-tests",
        "--example",
        "streamer",
    ]))?;

    step("Glance 33 (../shared/bench/start_glance.sh)");
    let glance_port = free_port()?.to_string();
    let start_glance = bench_dir.join("start_glance.sh");
    sh(Command::new(&start_glance)
        .arg("start")
        .env("GLANCE_PORT", &glance_port))?;
    let glance_json = out.join("glance.json");
    let glance = run_bench(
        &format!("http://127.0.0.1:{glance_port}"),
        "Glance 33.0.0 (uwsgi, SQLite, file store)",
        &glance_json,
    );
    // Glance's downloads against the same limit line, as Glint's are measured below.
    let glance_limit_json = out.join("download-limit-glance.json");
    let glance_limit = match glance {
        Ok(()) => download_limit_line(
            &format!("http://127.0.0.1:{glance_port}"),
            "glance",
            &[],
            &client_dir,
            data_mib,
            &glance_limit_json,
        ),
        Err(_) => Ok(()),
    };
    let _ = Command::new(&start_glance).arg("stop").status();
    glance?;
    glance_limit?;

    step("Glint (release, SQLite, filesystem store)");
    let data = out.join("glint-data");
    let _ = std::fs::remove_dir_all(&data);
    let port = free_port()?;
    let bin = target_dir()?.join("release").join("glint");
    let mut server = Command::new(&bin)
        .args(["serve", "--insecure-noauth", "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(&data)
        .env("GLINT_LOG", "warn")
        .spawn()
        .map_err(|e| format!("start {}: {e}", bin.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed().as_secs() > 30 {
            let _ = server.kill();
            return Err("glint did not start".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let glint_json = out.join("glint.json");
    let glint = run_bench(&base, "Glint (release, SQLite, file store)", &glint_json);
    let limit_json = out.join("download-limit.json");
    let limit = match glint {
        Ok(()) => download_limit_line(
            &base,
            "glint",
            &["--range", "--cache"],
            &client_dir,
            data_mib,
            &limit_json,
        ),
        Err(_) => Ok(()),
    };
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data);
    glint?;
    limit?;

    step("side by side");
    sh(Command::new("python3")
        .arg(&script)
        .arg("table")
        .arg(&glance_json)
        .arg(&glint_json))?;
    let read = |p: &Path| -> Result<serde_json::Value> {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
    };
    let (g, n) = (read(&glance_json)?, read(&glint_json)?);
    println!("\n| case | Glance 33 | Glint | Glint vs Glance |\n|---|---|---|---|");
    for (section, case, field, title, higher) in COMPARED {
        let (a, b) = (
            bench_value(&g, section, case, field),
            bench_value(&n, section, case, field),
        );
        let ratio = match (a, b) {
            (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
                let r = if higher { b / a } else { a / b };
                format!("{r:.1}x {}", if higher { "faster" } else { "better" })
            }
            _ => "-".into(),
        };
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        println!("| {title} | {} | {} | {ratio} |", show(a), show(b));
    }
    let mut limit = read(&limit_json)?;
    // Glance's own run: its downloads and the streamer's beside them.
    let glance_limit = read(&glance_limit_json)?;
    limit["glance"] = glance_limit["glance"].clone();
    limit["streamer_glance_run"] = glance_limit["streamer"].clone();
    let median = |label: &str| limit[label]["median_mb_per_s"].as_f64();
    println!(
        "\ndownload of the same {data_mib} MiB, same client, interleaved, 5 runs each (median MB/s):"
    );
    println!("| server | MB/s | vs the streamer |\n|---|---|---|");
    for (label, title, beside) in [
        (
            "streamer_glance_run",
            "trivial axum file streamer (limit line), beside Glance",
            "streamer_glance_run",
        ),
        ("glance", "Glance 33", "streamer_glance_run"),
        (
            "streamer",
            "trivial axum file streamer (limit line), beside Glint",
            "streamer",
        ),
        ("glint", "Glint", "streamer"),
        ("glint_range", "Glint, Range: the second half", "streamer"),
        ("glint_cached", "Glint, from its image cache", "streamer"),
    ] {
        let (v, s) = (median(label), median(beside));
        let ratio = match (v, s) {
            (Some(v), Some(s)) if s > 0.0 => format!("{:.0}%", 100.0 * v / s),
            _ => "-".into(),
        };
        println!(
            "| {title} | {} | {ratio} |",
            v.map_or("-".into(), |v| format!("{v:.1}"))
        );
    }
    if let (Some(glint), Some(glance)) = (median("glint"), median("glance")) {
        println!(
            "\nGlint's downloads against Glance's (medians): {:.2}x",
            glint / glance
        );
    }
    println!(
        "\nresults: {}, {}, {} and {}",
        glance_json.display(),
        glint_json.display(),
        glance_limit_json.display(),
        limit_json.display()
    );
    Ok(())
}

/// The download's limit line: the bench's data file served by the most direct axum handler
/// (`tests/examples/streamer.rs`) and by `name` (Glint or Glance, uploaded to `base`; `extra`
/// adds the Range and cache cases), downloaded in turn by the
/// same client as the bench's, five times each; the rates go to `out` (JSON).
fn download_limit_line(
    base: &str,
    name: &str,
    extra: &[&str],
    client_dir: &Path,
    data_mib: u64,
    out: &Path,
) -> Result {
    step(&format!(
        "download limit line: a trivial streamer and {name}, same client, interleaved"
    ));
    let data_file = client_dir.join(format!("data-{data_mib}MiB.bin"));
    let port = free_port()?;
    let bin = target_dir()?
        .join("release")
        .join("examples")
        .join("streamer");
    let mut streamer = Command::new(&bin)
        .arg(&data_file)
        .arg(port.to_string())
        .spawn()
        .map_err(|e| format!("start {}: {e}", bin.display()))?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed().as_secs() > 30 {
            let _ = streamer.kill();
            return Err("the streamer did not start".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join("download_bench.py");
    let result = Command::new("python3")
        .arg(&script)
        .args(["--runs", "5", "--as", name])
        .args(extra)
        .args(["--upload", base])
        .arg(&data_file)
        .arg(format!("streamer=http://127.0.0.1:{port}/file"))
        .output();
    let _ = streamer.kill();
    let _ = streamer.wait();
    let output = result.map_err(|e| format!("python3 {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "the download limit line failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::write(out, &output.stdout).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(())
}

/// `cargo glint bench-rbd [--mib N] [--runs N]`: N MiB of random data (1024 by default)
/// through Glint (release, SQLite, `--store rbd`) into the tests' Ceph and back, against
/// `rbd import` and `rbd export` of the same file on the same cluster, interleaved; prints
/// each rate and Glint's peak RSS. Starts the cluster if none runs, and stops it after.
pub(crate) fn bench_rbd(args: &[String]) -> Result {
    let value = |flag: &str, default: u64| -> Result<u64> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args
                .get(i + 1)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{flag} needs a number")),
            None => Ok(default),
        }
    };
    let mib = value("--mib", 1024)?;
    let runs = value("--runs", 3)?;
    step("release build of glint");
    sh(cargo().args(["build", "--release", "-p", "glint-server"]))?;
    let glint = target_dir()?.join("release").join("glint");
    let ceph = crate::ceph::start(&crate::ceph::default_dir()?)?;
    let work = target_dir()?.join("tmp").join("bench-rbd");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let file = work.join("data");
    sh(Command::new("head")
        .args(["-c", &(mib << 20).to_string(), "/dev/urandom"])
        .stdout(std::fs::File::create(&file).map_err(|e| e.to_string())?))?;
    let mut server = Command::new(&glint)
        .args(["serve", "--insecure-noauth", "--bind", "127.0.0.1:9494"])
        .arg("--data-dir")
        .arg(work.join("glint"))
        .args(["--store", "rbd", "--image-cache-max-size", "0"])
        .arg("--rbd-store-ceph-conf")
        .arg(&ceph.conf)
        .env("GLINT_LOG", "warn")
        .spawn()
        .map_err(|e| format!("glint: {e}"))?;
    let result = rbd_runs(&ceph.conf, &file, mib, runs, server.id());
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn rbd_runs(conf: &Path, file: &Path, mib: u64, runs: u64, pid: u32) -> Result {
    let url = "http://127.0.0.1:9494";
    let identity = ["-H", "X-Tenant-Id: bench", "-H", "X-Roles: admin,member"];
    let curl = |args: &[&str]| -> Result<String> {
        let out = Command::new("curl")
            .args(["-sf"])
            .args(identity)
            .args(args)
            .output()
            .map_err(|e| format!("curl: {e}"))?;
        if !out.status.success() {
            return Err(format!("curl {}: {}", args.join(" "), out.status));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    for _ in 0..100 {
        if curl(&[&format!("{url}/healthz")]).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let rate = |started: Instant| mib as f64 / started.elapsed().as_secs_f64();
    let rbd = |args: &[&str]| -> Result {
        sh(Command::new("rbd")
            .arg("--conf")
            .arg(conf)
            .arg("--no-progress")
            .args(args)
            .stdout(std::process::Stdio::null()))
    };
    let path = file.to_string_lossy().into_owned();
    let exported = format!("{path}.export");
    for run in 1..=runs {
        let name = format!("images/bench-{}", std::process::id());
        let t = Instant::now();
        rbd(&["import", &path, &name])?;
        let import = rate(t);
        let _ = std::fs::remove_file(&exported);
        let t = Instant::now();
        rbd(&["export", &name, &exported])?;
        let export_file = rate(t);
        let _ = std::fs::remove_file(&exported);
        let t = Instant::now();
        rbd(&["export", &name, "-"])?;
        let export_pipe = rate(t);
        rbd(&["rm", &name])?;
        let created = curl(&[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"name": "bench", "disk_format": "raw", "container_format": "bare"}"#,
            &format!("{url}/v2/images"),
        ])?;
        let id = serde_json::from_str::<serde_json::Value>(&created)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .ok_or("no image id")?;
        let t = Instant::now();
        curl(&[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
            "-T",
            &path,
            &format!("{url}/v2/images/{id}/file"),
        ])?;
        let upload = rate(t);
        let t = Instant::now();
        curl(&["-o", "/dev/null", &format!("{url}/v2/images/{id}/file")])?;
        let download = rate(t);
        curl(&["-X", "DELETE", &format!("{url}/v2/images/{id}")])?;
        let peak = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
            })
            .unwrap_or_default();
        println!(
            "run {run}: rbd import {import:.0} MiB/s, glint upload (md5 + sha512) {upload:.0} MiB/s; \
             rbd export to a file {export_file:.0} MiB/s, to a pipe {export_pipe:.0} MiB/s, \
             glint download {download:.0} MiB/s; glint peak RSS {peak}"
        );
    }
    Ok(())
}
