//! Uploaded content is inspected on every way in: refused when unsafe or not what it claims,
//! leaving the image queued and nothing stored; sized from its header when accepted.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::data::wait_for_status;
use crate::harness::{TempDir, TestApp, on_both_databases};

on_both_databases!(uploads_are_inspected);

/// A real qcow2 (made by qemu-img in `dir`) whose header names a backing file, `base.raw`.
pub(crate) fn backed_qcow2(dir: &Path) -> PathBuf {
    qemu_img(&["create", "-f", "raw", "base.raw", "1M"], dir);
    qemu_img(
        &[
            "create",
            "-f",
            "qcow2",
            "-b",
            "base.raw",
            "-F",
            "raw",
            "backed.qcow2",
        ],
        dir,
    );
    dir.join("backed.qcow2")
}

pub(crate) fn qemu_img(args: &[&str], cwd: &Path) {
    let out = Command::new("qemu-img")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("qemu-img is needed for this test");
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn image(app: &TestApp, disk_format: &str) -> String {
    app.create(json!({"name": disk_format, "disk_format": disk_format, "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn refused(app: &TestApp, id: &str, r: reqwest::Response, status: u16, words: &[&str]) {
    assert_eq!(r.status().as_u16(), status);
    let text = r.text().await.expect("body");
    for w in words {
        assert!(text.contains(w), "{w:?} not in {text}");
    }
    wait_for_status(app, id, "queued").await;
    let shown = app.show(id).await;
    assert_eq!(
        (shown["size"].clone(), shown["checksum"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(
        app.get(&format!("/v2/images/{id}/file")).await.status(),
        StatusCode::NO_CONTENT
    );
}

async fn uploads_are_inspected(app: &TestApp) {
    let files = TempDir::new("inspect");
    let p = &files.0;
    qemu_img(&["create", "-f", "qcow2", "good.qcow2", "10M"], p);
    backed_qcow2(p);
    let read = |name: &str| std::fs::read(p.join(name)).expect("read");

    // Accepted, with the virtual size from the header.
    let id = image(app, "qcow2").await;
    assert_eq!(
        app.upload(&id, read("good.qcow2")).await.status(),
        StatusCode::NO_CONTENT
    );
    let shown = app.show(&id).await;
    assert_eq!(shown["virtual_size"], json!(10 << 20));
    assert_eq!(shown["size"], json!(read("good.qcow2").len()));

    // A backing file: refused whatever the format-match setting.
    let id = image(app, "qcow2").await;
    let r = app.upload(&id, read("backed.qcow2")).await;
    refused(app, &id, r, 400, &["qcow2", "backing file"]).await;
    // Random bytes declared qcow2, and a qcow2 declared raw: refused as Glance does (415).
    let id = image(app, "qcow2").await;
    let r = app.upload(&id, vec![7u8; 100_000]).await;
    refused(
        app,
        &id,
        r,
        415,
        &["Image disk_format qcow2 does not match stream data raw"],
    )
    .await;
    let id = image(app, "raw").await;
    let r = app.upload(&id, read("good.qcow2")).await;
    refused(app, &id, r, 415, &["does not match stream data qcow2"]).await;
    // The refused image takes the right data afterwards.
    let r = app.upload(&id, vec![0u8; 4096]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // A sparse VMDK whose embedded descriptor's extent names a file of the host reading it
    // (CVE-2022-47951's class): refused, nothing stored.
    qemu_img(&["create", "-f", "vmdk", "sparse.vmdk", "10M"], p);
    let mut vmdk = read("sparse.vmdk");
    let own = b"\"sparse.vmdk\"";
    let at = vmdk
        .windows(own.len())
        .position(|w| w == own)
        .expect("the extent names the file");
    vmdk[at..at + own.len()].copy_from_slice(b"\"/etc/hosts\" ");
    let id = image(app, "vmdk").await;
    let r = app.upload(&id, vmdk).await;
    refused(app, &id, r, 400, &["vmdk", "/etc/hosts"]).await;

    // Through v1.
    let id = image(app, "qcow2").await;
    let r = app
        .request(Method::PUT, &format!("/v1/images/{id}"))
        .header("Content-Type", "application/octet-stream")
        .body(read("backed.qcow2"))
        .send()
        .await
        .expect("v1 upload");
    refused(app, &id, r, 400, &["backing file"]).await;

    // Through stage and glance-direct import: the import fails and the image is queued again.
    let id = image(app, "qcow2").await;
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/stage"))
        .header("Content-Type", "application/octet-stream")
        .body(read("backed.qcow2"))
        .send()
        .await
        .expect("stage");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .request(Method::POST, &format!("/v2/images/{id}/import"))
        .json(&json!({"method": {"name": "glance-direct"}}))
        .send()
        .await
        .expect("import");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    wait_for_status(app, &id, "queued").await;
    assert_eq!(
        app.get(&format!("/v2/images/{id}/file")).await.status(),
        StatusCode::NO_CONTENT
    );

    // Nothing refused is left in the store: only the two accepted images' data.
    let stored = app
        .stored_files()
        .into_iter()
        .filter(|f| !f.to_string_lossy().contains("staging"))
        .count();
    assert_eq!(stored, 2, "{:?}", app.stored_files());
}

/// With format matching off (as Tempest's list tests need), mismatches pass; safety does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_can_be_relaxed_but_not_safety() {
    let app = TestApp::sqlite_with(|c| c.require_format_match = false).await;
    let files = TempDir::new("relaxed");
    let backed = backed_qcow2(&files.0);
    let id = image(&app, "qcow2").await;
    assert_eq!(
        app.upload(&id, vec![7u8; 10_000]).await.status(),
        StatusCode::NO_CONTENT
    );
    let id = image(&app, "qcow2").await;
    let backed = std::fs::read(&backed).expect("read");
    let r = app.upload(&id, backed).await;
    refused(&app, &id, r, 400, &["backing file"]).await;
    app.stop().await;
}
