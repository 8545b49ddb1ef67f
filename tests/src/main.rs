//! `cargo glint`: the developer task runner.
//!
//! - `cargo glint run [-- SERVE FLAGS]`: installs what the UI build needs, builds the web UI and
//!   starts `glint serve` (SQLite and the filesystem store in `glint-data/`).
//! - `cargo glint test`: installs what the checks need, then runs formatting, clippy (native and
//!   wasm), the unit, property and end-to-end tests, and the core tests compiled to wasm.
//! - `cargo glint ui`: builds the web UI into `web-ui/dist/` only.
//! - `cargo glint bench`: the criterion benchmarks.
//! - `cargo glint tempest`: Tempest's image v2 tests and glance-tempest-plugin's RBAC tests against
//!   Glint behind a real Keystone.
//! - `cargo glint bench-vs-glance [--quick]`: the HTTP benchmark (`../shared/bench/`) against the
//!   real Glance 33 and against Glint, on this machine, one after the other; prints both tables
//!   and Glint's ratio to Glance for each case.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest.to_vec()),
        None => ("help", Vec::new()),
    };
    let result = match task {
        "run" => run(&rest),
        "test" => test(),
        "ui" => build_ui().map(|_| ()),
        "bench" => bench(),
        "bench-vs-glance" => bench_vs_glance(&rest),
        "tempest" => tempest(),
        _ => {
            eprintln!(
                "usage: cargo glint <run [-- serve flags] | test | ui | bench | bench-vs-glance [--quick] | tempest>"
            );
            return if task == "help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cargo glint {task}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

fn step(title: &str) {
    eprintln!("\n==> {title}");
}

fn sh(cmd: &mut Command) -> Result {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn target_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return Ok(if dir.is_absolute() {
            dir
        } else {
            root().join(dir)
        });
    }
    let out = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata has no target_directory".to_string())
}

// ---------------------------------------------------------------------------------------------
// Tools

fn ensure_rust_parts() -> Result {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == WASM_TARGET) {
        step("rustup target add wasm32-unknown-unknown");
        sh(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    let components = output("rustup", &["component", "list", "--installed"]).unwrap_or_default();
    for component in ["rustfmt", "clippy"] {
        if !components.lines().any(|l| l.starts_with(component)) {
            step(&format!("rustup component add {component}"));
            sh(Command::new("rustup").args(["component", "add", component]))?;
        }
    }
    Ok(())
}

/// The wasm-bindgen version Cargo.lock pins; the CLI must match it exactly.
fn locked_wasm_bindgen() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
        {
            return Ok(v.trim_matches('"').to_string());
        }
    }
    Err("Cargo.lock does not pin wasm-bindgen".into())
}

fn ensure_wasm_bindgen() -> Result {
    let version = locked_wasm_bindgen()?;
    let have = output("wasm-bindgen", &["--version"]).unwrap_or_default();
    if have.split_whitespace().nth(1) != Some(version.as_str()) {
        step(&format!("cargo install wasm-bindgen-cli {version}"));
        sh(Command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", &version]))?;
    }
    Ok(())
}

fn ensure_node() -> Result {
    if output("node", &["--version"]).is_none() {
        apt_install(&["nodejs"])?;
    }
    Ok(())
}

/// The tools the tests make real disk images with, from Debian's packages.
fn ensure_image_tools() -> Result {
    let missing: Vec<&str> = [
        ("qemu-img", "qemu-utils"),
        ("genisoimage", "genisoimage"),
        ("parted", "parted"),
    ]
    .into_iter()
    .filter(|(tool, _)| !on_path(tool))
    .map(|(_, package)| package)
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        apt_install(&missing)
    }
}

/// Real disk images for the inspector's wasm tests, made once per run.
fn inspect_fixtures() -> Result<PathBuf> {
    let dir = target_dir()?.join("inspect-fixtures");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("clean {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("content")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, bytes: Vec<u8>| {
        std::fs::write(dir.join(name), bytes).map_err(|e| format!("{name}: {e}"))
    };
    write(
        "plain.raw",
        (0..300_000u32).map(|i| (i % 251) as u8).collect(),
    )?;
    write("gpt.raw", vec![0; 2 << 20])?;
    write("content/hello.txt", b"hello".to_vec())?;
    let qemu: [&[&str]; 11] = [
        &["create", "-f", "qcow2", "v3.qcow2", "1M"],
        &[
            "create",
            "-f",
            "qcow2",
            "-o",
            "compat=0.10",
            "v2.qcow2",
            "1M",
        ],
        &["create", "-f", "raw", "base.raw", "1M"],
        &[
            "create",
            "-f",
            "qcow2",
            "-b",
            "base.raw",
            "-F",
            "raw",
            "child.qcow2",
        ],
        &[
            "create",
            "-f",
            "qcow2",
            "-o",
            "data_file=external.raw",
            "datafile.qcow2",
            "1M",
        ],
        &["create", "-f", "vmdk", "sparse.vmdk", "1M"],
        &[
            "create",
            "-f",
            "vmdk",
            "-o",
            "subformat=streamOptimized",
            "stream.vmdk",
            "1M",
        ],
        &[
            "create",
            "-f",
            "vmdk",
            "-o",
            "subformat=monolithicFlat",
            "flat.vmdk",
            "1M",
        ],
        &["create", "-f", "qed", "disk.qed", "1M"],
        &["create", "-f", "vpc", "dynamic.vhd", "1M"],
        &["create", "-f", "vdi", "disk.vdi", "1M"],
    ];
    for args in qemu {
        sh(Command::new("qemu-img").args(args).current_dir(&dir))?;
    }
    sh(Command::new("qemu-img")
        .args(["create", "-f", "vhdx", "disk.vhdx", "1M"])
        .current_dir(&dir))?;
    sh(Command::new("genisoimage")
        .args(["-quiet", "-o", "cd.iso", "content"])
        .current_dir(&dir))?;
    sh(Command::new(if on_path("parted") {
        "parted"
    } else {
        "/usr/sbin/parted"
    })
    .args([
        "-s", "gpt.raw", "mklabel", "gpt", "mkpart", "p1", "1MiB", "1536KiB",
    ])
    .current_dir(&dir))?;
    Ok(dir)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .any(|dir| dir.join(tool).is_file())
    })
}

fn apt_install(packages: &[&str]) -> Result {
    step(&format!("apt-get install {}", packages.join(" ")));
    let sudo = output("id", &["-u"])
        .map(|u| u.trim() != "0")
        .unwrap_or(true);
    let mut update = Command::new(if sudo { "sudo" } else { "apt-get" });
    if sudo {
        update.arg("apt-get");
    }
    sh(update.args(["update", "-q"]))?;
    let mut install = Command::new(if sudo { "sudo" } else { "apt-get" });
    if sudo {
        install.arg("apt-get");
    }
    sh(install
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(packages))
}

// ---------------------------------------------------------------------------------------------
// Tasks

/// The wasm features current Rust emits for wasm32 that wasm-opt must accept.
const WASM_FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// The binaryen release whose `wasm-opt` shrinks the UI bundle (Debian's is too old for the
/// features Rust emits; npm's `binaryen` is current).
const BINARYEN: &str = "binaryen@132.0.0";

/// `wasm-opt`, installed from npm into the target folder when missing. Optional: without it
/// the UI still builds, only larger.
fn wasm_opt() -> Option<PathBuf> {
    let dir = target_dir().ok()?.join("tools").join("binaryen");
    let tool = dir.join("node_modules").join(".bin").join("wasm-opt");
    if tool.is_file() {
        return Some(tool);
    }
    if !on_path("npm") && apt_install(&["npm"]).is_err() {
        return None;
    }
    step(&format!("npm install {BINARYEN} (wasm-opt)"));
    std::fs::create_dir_all(&dir).ok()?;
    let ok = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .arg(BINARYEN)
        .status()
        .is_ok_and(|s| s.success());
    (ok && tool.is_file()).then_some(tool)
}

/// Debian's Chromium and its WebDriver, for the UI's end-to-end tests.
fn ensure_browser() -> Result {
    let missing: Vec<&str> = [
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
    ]
    .into_iter()
    .filter(|(tool, _)| !on_path(tool))
    .map(|(_, package)| package)
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        apt_install(&missing)
    }
}

/// Builds the web UI to wasm and lays it out in `web-ui/dist/`.
fn build_ui() -> Result<PathBuf> {
    ensure_rust_parts()?;
    ensure_wasm_bindgen()?;
    step("build the web UI (wasm)");
    sh(cargo().args([
        "build",
        "--release",
        "-p",
        "glint-web-ui",
        "--target",
        WASM_TARGET,
    ]))?;
    let wasm = target_dir()?
        .join(WASM_TARGET)
        .join("release")
        .join("glint-web-ui.wasm");
    let dist = root().join("web-ui").join("dist");
    if dist.exists() {
        std::fs::remove_dir_all(&dist).map_err(|e| format!("clean {}: {e}", dist.display()))?;
    }
    sh(Command::new("wasm-bindgen")
        .args([
            "--target",
            "web",
            "--no-typescript",
            "--out-name",
            "glint_web_ui",
        ])
        .arg("--out-dir")
        .arg(&dist)
        .arg(&wasm))?;
    let bundle = dist.join("glint_web_ui_bg.wasm");
    let raw = std::fs::metadata(&bundle).map(|m| m.len()).unwrap_or(0);
    match wasm_opt() {
        Some(tool) => {
            step("wasm-opt -Oz");
            let ok = Command::new(&tool)
                .args(["-Oz"])
                .args(WASM_FEATURES)
                .arg(&bundle)
                .arg("-o")
                .arg(&bundle)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("wasm-opt failed; keeping the unoptimised bundle");
            }
        }
        None => eprintln!("wasm-opt is not available; the bundle stays unoptimised"),
    }
    copy(&root().join("web-ui").join("index.html"), &dist)?;
    for entry in std::fs::read_dir(root().join("style")).map_err(|e| format!("style/: {e}"))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension() == Some(OsStr::new("css")) {
            copy(&path, &dist)?;
        }
    }
    let size = std::fs::metadata(&bundle).map(|m| m.len()).unwrap_or(0);
    let gzipped = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(&bundle)
        .output()
        .map(|o| o.stdout.len())
        .unwrap_or(0);
    eprintln!(
        "web UI built in {}: {size} bytes of wasm ({raw} before wasm-opt), {gzipped} gzipped",
        dist.display()
    );
    Ok(dist)
}

fn copy(file: &Path, dir: &Path) -> Result {
    let name = file.file_name().ok_or("no file name")?;
    std::fs::copy(file, dir.join(name))
        .map(|_| ())
        .map_err(|e| format!("copy {}: {e}", file.display()))
}

fn run(extra: &[String]) -> Result {
    let dist = build_ui()?;
    step("build and start glint serve");
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "-p",
        "glint-server",
        "--",
        "serve",
        "--ui-dir",
    ])
    .arg(dist)
    .args(extra.iter().filter(|a| *a != "--"));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        Err(format!("cannot start glint: {}", cmd.exec()))
    }
    #[cfg(not(unix))]
    sh(&mut cmd)
}

fn test() -> Result {
    let started = Instant::now();
    ensure_rust_parts()?;
    ensure_wasm_bindgen()?;
    ensure_node()?;
    ensure_image_tools()?;
    ensure_browser()?;

    step("cargo fmt --check");
    sh(cargo().args(["fmt", "--all", "--", "--check"]))?;
    step("clippy (native)");
    sh(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    step("disk images for the inspector's wasm tests");
    let fixtures = inspect_fixtures()?;
    step("clippy (wasm32)");
    sh(cargo().env("GLINT_INSPECT_FIXTURES", &fixtures).args([
        "clippy",
        "-p",
        "glint-core",
        "-p",
        "glint-web-ui",
        "--all-targets",
        "--target",
        WASM_TARGET,
        "--",
        "-D",
        "warnings",
    ]))?;
    let dist = build_ui()?;
    step("tests (native: core, server, end-to-end incl. the UI in Chromium)");
    sh(cargo()
        .env("GLINT_UI_DIR", &dist)
        .args(["test", "--all-targets"]))?;
    eprintln!(
        "screenshots of the UI's pages: {}",
        target_dir()?.join("tmp").join("ui-screenshots").display()
    );
    let tempest = target_dir()?.join("tmp").join("tempest");
    for file in ["summary.txt", "rbac-summary.txt"] {
        if let Ok(summary) = std::fs::read_to_string(tempest.join(file)) {
            eprintln!(
                "\n{summary}(Tempest's output and log: {})",
                tempest.display()
            );
        }
    }
    sh(cargo().args(["test", "--doc", "-p", "glint-core"]))?;
    step("core tests compiled to wasm (Node)");
    sh(cargo()
        .env("GLINT_INSPECT_FIXTURES", &fixtures)
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            "wasm-bindgen-test-runner",
        )
        .args([
            "test",
            "-p",
            "glint-core",
            "--tests",
            "--target",
            WASM_TARGET,
        ]))?;
    eprintln!(
        "\nall checks passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Tempest's image v2 tests against Glint behind a real Keystone (`tests/tests/e2e/tempest.rs`).
fn tempest() -> Result {
    ensure_image_tools()?;
    step(
        "Tempest image v2 and glance-tempest-plugin's RBAC tests (tempest 47.0.0, keystone 30.0.0)",
    );
    sh(cargo().args([
        "test",
        "-p",
        "glint-tests",
        "--test",
        "e2e",
        "tempest::",
        "--",
        "--nocapture",
    ]))
}

fn bench() -> Result {
    step("criterion benchmarks");
    sh(cargo().args(["bench", "-p", "glint-core"]))
}

/// Cases compared between Glance and Glint: (section, case, field, title, higher is better).
const COMPARED: [(&str, &str, &str, &str, bool); 14] = [
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

fn bench_value(result: &serde_json::Value, section: &str, case: &str, field: &str) -> Option<f64> {
    let case = &result[section][case];
    if field == "rss" {
        return case["server_memory"]["rss_peak_sum_mib"].as_f64();
    }
    case[field].as_f64()
}

fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn bench_vs_glance(args: &[String]) -> Result {
    let quick = args.iter().any(|a| a == "--quick");
    let bench_dir = std::env::var_os("GLINT_GLANCE_BENCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("..").join("shared").join("bench"));
    let script = bench_dir.join("glance_api_bench.py");
    if !script.is_file() {
        return Err(format!(
            "{} not found: point GLINT_GLANCE_BENCH at the folder with glance_api_bench.py and start_glance.sh",
            script.display()
        ));
    }
    let out = target_dir()?.join("bench-vs-glance");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let run_bench = |base: &str, label: &str, file: &Path| -> Result {
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg(base)
            .args(["--label", label, "--out"])
            .arg(file);
        if quick {
            cmd.arg("--quick");
        }
        sh(&mut cmd)
    };

    step("build glint (release)");
    sh(cargo().args(["build", "--release", "-p", "glint-server"]))?;

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
    let _ = Command::new(&start_glance).arg("stop").status();
    glance?;

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
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data);
    glint?;

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
    println!(
        "\nresults: {} and {}",
        glance_json.display(),
        glint_json.display()
    );
    Ok(())
}
