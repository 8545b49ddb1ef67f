//! The web UI: built to wasm and laid out in `web-ui/dist/` (`cargo glint ui`), and served by
//! `glint serve` (`cargo glint run`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{WASM_FEATURES, ensure_rust_parts, ensure_wasm_bindgen, wasm_opt};
use crate::{Result, WASM_TARGET, cargo, root, sh, step, target_dir};

/// Builds the web UI to wasm and lays it out in `web-ui/dist/`.
pub(crate) fn build_ui() -> Result<PathBuf> {
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

pub(crate) fn copy(file: &Path, dir: &Path) -> Result {
    let name = file.file_name().ok_or("no file name")?;
    std::fs::copy(file, dir.join(name))
        .map(|_| ())
        .map_err(|e| format!("copy {}: {e}", file.display()))
}

pub(crate) fn run(extra: &[String]) -> Result {
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
