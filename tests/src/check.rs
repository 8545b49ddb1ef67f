//! What `cargo glint test` runs, in order: formatting, clippy (native and wasm), the UI build,
//! every native test (core, server, end-to-end with the UI in Chromium, Tempest, the RBAC
//! tests), the doc tests and the core tests compiled to wasm; and `cargo glint tempest`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::tools::{ensure_image_tools, ensure_rust_parts, on_path};
use crate::ui::build_ui;
use crate::{Result, WASM_TARGET, cargo, sh, step, target_dir};

/// Real disk images for the inspector's wasm tests, made once per run.
pub(crate) fn inspect_fixtures() -> Result<PathBuf> {
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

pub(crate) fn test(quick: bool) -> Result {
    let started = Instant::now();
    ensure_rust_parts()?;
    step("cargo fmt --check");
    sh(cargo().args(["fmt", "--all", "--", "--check"]))?;
    step("clippy (native)");
    sh(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    if quick {
        ensure_image_tools()?;
        step("the core's and the server's own tests");
        sh(cargo().args(["test", "-p", "glint-core", "-p", "glint-server"]))?;
        eprintln!(
            "\nquick checks passed in {:.0}s (the end-to-end and wasm tests: cargo glint test)",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    crate::tools::setup()?;
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
    // Stopped when this function returns, whether the tests passed or not.
    let ceph = crate::ceph::start(&crate::ceph::default_dir()?)?;
    step("tests (native: core, server, end-to-end incl. the UI in Chromium and RBD on Ceph)");
    // The `glint` command the end-to-end tests run (`glint adopt`).
    sh(cargo().args(["build", "-p", "glint-server", "--bin", "glint"]))?;
    sh(cargo()
        .env("GLINT_BIN", target_dir()?.join("debug").join("glint"))
        .env("GLINT_UI_DIR", &dist)
        .env("CEPH_CONF", &ceph.conf)
        .env("GLINT_REQUIRE_CEPH", "1")
        .args(["test", "--all-targets"]))?;
    drop(ceph);
    eprintln!(
        "screenshots of the UI's pages: {}",
        target_dir()?.join("tmp").join("ui-screenshots").display()
    );
    let tempest = target_dir()?.join("tmp").join("tempest");
    for file in ["summary.txt", "rbac-summary.txt", "limits-summary.txt"] {
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
pub(crate) fn tempest() -> Result {
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
