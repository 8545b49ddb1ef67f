//! What the tasks need on the machine, installed when missing: the Rust target and components,
//! `wasm-bindgen-cli` at the version `Cargo.lock` pins, Node.js, the disk image tools, Chromium
//! and chromedriver (Debian packages), `wasm-opt` (npm).

use std::path::PathBuf;
use std::process::Command;

use crate::{Result, WASM_TARGET, output, root, sh, step, target_dir};

/// Everything the tasks need, installed where missing: the wasm32 target, rustfmt and clippy
/// (rustup); wasm-bindgen-cli (cargo install, the version Cargo.lock pins); Node.js, qemu-utils,
/// genisoimage, parted, xz-utils, zstd, zip, gzip, chromium and chromium-driver (Debian packages, through sudo when not
/// root); wasm-opt (npm's binaryen, into the target folder; optional).
pub(crate) fn setup() -> Result {
    ensure_rust_parts()?;
    ensure_wasm_bindgen()?;
    ensure_node()?;
    ensure_image_tools()?;
    ensure_browser()?;
    if wasm_opt().is_none() {
        eprintln!("wasm-opt is not available: the UI bundle will not be shrunk");
    }
    eprintln!("setup: everything the tasks need is here");
    Ok(())
}

pub(crate) fn ensure_rust_parts() -> Result {
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
pub(crate) fn locked_wasm_bindgen() -> Result<String> {
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

pub(crate) fn ensure_wasm_bindgen() -> Result {
    let version = locked_wasm_bindgen()?;
    let have = output("wasm-bindgen", &["--version"]).unwrap_or_default();
    if have.split_whitespace().nth(1) != Some(version.as_str()) {
        step(&format!("cargo install wasm-bindgen-cli {version}"));
        sh(Command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", &version]))?;
    }
    Ok(())
}

pub(crate) fn ensure_node() -> Result {
    if output("node", &["--version"]).is_none() {
        apt_install(&["nodejs"])?;
    }
    Ok(())
}

/// The tools the tests make real disk images with, from Debian's packages.
pub(crate) fn ensure_image_tools() -> Result {
    ensure_packages(&[
        ("qemu-img", "qemu-utils"),
        ("genisoimage", "genisoimage"),
        ("parted", "parted"),
        ("xz", "xz-utils"),
        ("zstd", "zstd"),
        ("zip", "zip"),
        ("gzip", "gzip"),
    ])
}

/// Installs the Debian package of each (tool, package) whose tool is not on the path.
fn ensure_packages(tools: &[(&str, &str)]) -> Result {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(tool, _)| !on_path(tool))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        apt_install(&missing)
    }
}

pub(crate) fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .any(|dir| dir.join(tool).is_file())
    })
}

pub(crate) fn apt_install(packages: &[&str]) -> Result {
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

/// The wasm features current Rust emits for wasm32 that wasm-opt must accept.
pub(crate) const WASM_FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// The binaryen release whose `wasm-opt` shrinks the UI bundle (Debian's is too old for the
/// features Rust emits; npm's `binaryen` is current).
pub(crate) const BINARYEN: &str = "binaryen@132.0.0";

/// `wasm-opt`, installed from npm into the target folder when missing. Optional: without it
/// the UI still builds, only larger.
pub(crate) fn wasm_opt() -> Option<PathBuf> {
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
pub(crate) fn ensure_browser() -> Result {
    ensure_packages(&[
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
    ])
}
