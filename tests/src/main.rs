//! `cargo glint`: the developer task runner.
//!
//! - `cargo glint run [-- SERVE FLAGS]`: installs what the UI build needs, builds the web UI and
//!   starts `glint serve` (SQLite and the filesystem store in `glint-data/`).
//! - `cargo glint test`: checks formatting, installs what the checks need (`setup`), then runs
//!   clippy (native and wasm), the unit, property and end-to-end tests, and the core tests
//!   compiled to wasm (`check.rs` says what, in order). `cargo glint test --quick`: formatting,
//!   clippy and the core's and server's own tests, in minutes.
//! - `cargo glint setup`: installs what the tasks need and is missing, saying what (`tools.rs`).
//! - `cargo glint ui`: builds the web UI into `web-ui/dist/` only (`ui.rs`).
//! - `cargo glint bench`: the criterion benchmarks (`bench.rs`).
//! - `cargo glint tempest`: Tempest's image v2 tests and glance-tempest-plugin's RBAC tests against
//!   Glint behind a real Keystone.
//! - `cargo glint bench-vs-glance --bench-dir DIR [--quick] [--data-mib N]`: the HTTP benchmark (DIR holds
//!   `glance_api_bench.py` and `start_glance.sh`) against the real Glance 33 and against Glint,
//!   on this machine, one after the other; prints both tables and Glint's ratio to Glance for
//!   each case.
//! - `cargo glint bench-rbd [--mib N] [--runs N]`: N MiB through Glint into the tests' Ceph and
//!   back against `rbd import` / `rbd export` of the same file (`bench.rs`).
//! - `cargo glint ceph start|stop|status [DIR]`: the single-node Ceph the RBD tests use
//!   (`ceph.rs`); `start` prints `CEPH_CONF=` and `CEPH_FSID=` for the shell.

mod bench;
mod ceph;
mod check;
mod tools;
mod ui;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

pub(crate) const WASM_TARGET: &str = "wasm32-unknown-unknown";

pub(crate) type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest.to_vec()),
        None => ("help", Vec::new()),
    };
    let result = match task {
        "run" => ui::run(&rest),
        "setup" => tools::setup(),
        "test" => check::test(rest.iter().any(|a| a == "--quick")),
        "ui" => ui::build_ui().map(|_| ()),
        "bench" => bench::bench(),
        "bench-vs-glance" => bench::bench_vs_glance(&rest),
        "tempest" => check::tempest(),
        "ceph" => ceph::task(&rest),
        "bench-rbd" => bench::bench_rbd(&rest),
        _ => {
            eprintln!(
                "usage: cargo glint <run [-- serve flags] | setup | test [--quick] | ui | bench | \
                 bench-vs-glance --bench-dir DIR [--quick] | tempest | bench-rbd | ceph start|stop|status>"
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

pub(crate) fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

pub(crate) fn step(title: &str) {
    eprintln!("\n==> {title}");
}

pub(crate) fn sh(cmd: &mut Command) -> Result {
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

pub(crate) fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn target_dir() -> Result<PathBuf> {
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
