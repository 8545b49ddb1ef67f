//! `image_decompression`: data staged compressed (by the real gzip, xz, zstd and zip) is
//! decompressed on import, then inspected and stored as what it is; a zip of two files, an
//! unsafe image inside an archive and a decompression bomb are refused, leaving the image
//! queued; an image of container format `compressed` is stored as it came.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::data::wait_for_status;
use crate::harness::{TempDir, TestApp};
use crate::inspection::{backed_qcow2, qemu_img};

/// Runs a compressor in `dir`; its standard output when `stdout`.
fn compress(dir: &Path, program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the compressor");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

async fn staged(app: &TestApp, disk: &str, container: &str, data: Vec<u8>) -> String {
    let id = app
        .create(json!({"name": "packed", "disk_format": disk, "container_format": container}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/stage"))
        .header("Content-Type", "application/octet-stream")
        .body(data)
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
    id
}

/// The image's import task once it ended.
async fn ended_task(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tasks: Value = app
            .get(&format!("/v2/images/{id}/tasks"))
            .await
            .json()
            .await
            .expect("tasks");
        let task = tasks["tasks"][0].clone();
        if matches!(task["status"].as_str(), Some("success" | "failure")) {
            return task;
        }
        assert!(Instant::now() < deadline, "the import of {id} never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_are_decompressed_then_inspected() {
    let app = TestApp::sqlite_with(|c| c.image_decompression = true).await;
    let dir = TempDir::new("decompression");
    let d = &dir.0;
    qemu_img(&["create", "-f", "qcow2", "disk.qcow2", "64M"], d);
    let qcow2 = std::fs::read(d.join("disk.qcow2")).expect("qcow2");
    let raw: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(d.join("disk.raw"), &raw).expect("raw");
    std::fs::write(d.join("other.raw"), b"another file").expect("raw");

    let cases = [
        (
            "gzip",
            "qcow2",
            compress(d, "gzip", &["-c", "disk.qcow2"]),
            &qcow2,
        ),
        (
            "xz",
            "qcow2",
            compress(d, "xz", &["-c", "disk.qcow2"]),
            &qcow2,
        ),
        (
            "zstd",
            "raw",
            compress(d, "zstd", &["-c", "disk.raw"]),
            &raw,
        ),
        (
            "zip",
            "raw",
            compress(d, "zip", &["-j", "-", "disk.raw"]),
            &raw,
        ),
        // zip writing to a pipe puts the sizes after the data (a data descriptor).
        (
            "zip",
            "qcow2",
            compress(d, "sh", &["-c", "cat disk.qcow2 | zip -q - -"]),
            &qcow2,
        ),
    ];
    for (kind, disk, packed, plain) in cases {
        assert!(packed.len() < plain.len(), "{kind} made it smaller");
        let id = staged(&app, disk, "bare", packed).await;
        let task = ended_task(&app, &id).await;
        assert_eq!(task["status"], "success", "{kind}: {task}");
        assert_eq!(task["result"]["decompressed"], kind, "{task}");
        let image = app.show(&id).await;
        assert_eq!(image["status"], "active", "{kind}");
        assert_eq!(image["size"], plain.len(), "{kind}: the decompressed size");
        if disk == "qcow2" {
            assert_eq!(image["virtual_size"], 64 << 20, "{kind}: inspected");
        }
        assert!(
            app.download(&id).await.as_ref() == plain.as_slice(),
            "{kind}: the decompressed data"
        );
    }

    // Refused, the image queued again: a zip of two files, an unsafe qcow2 (a backing file)
    // inside gzip, and more data than the size cap allows out of a small archive.
    let backed = backed_qcow2(d);
    let refused = [
        (
            "raw",
            compress(d, "zip", &["-j", "-", "disk.raw", "other.raw"]),
            "more than one file",
        ),
        (
            "qcow2",
            compress(d, "gzip", &["-c", &backed.display().to_string()]),
            "backing",
        ),
    ];
    for (disk, packed, why) in refused {
        let id = staged(&app, disk, "bare", packed).await;
        let task = ended_task(&app, &id).await;
        assert_eq!(task["status"], "failure", "{task}");
        assert!(
            task["message"].as_str().unwrap_or_default().contains(why),
            "{why}: {task}"
        );
        wait_for_status(&app, &id, "queued").await;
    }
    app.stop().await;

    // A 300 MB run of zeros, gzip'd to a few hundred KB, against a 100 MB cap.
    let small = TestApp::sqlite_with(|c| {
        c.image_decompression = true;
        c.image_size_cap = 100_000_000;
    })
    .await;
    let bomb = compress(d, "sh", &["-c", "head -c 300000000 /dev/zero | gzip -c -1"]);
    assert!(bomb.len() < 2_000_000);
    let id = staged(&small, "raw", "bare", bomb).await;
    let task = ended_task(&small, &id).await;
    assert_eq!(task["status"], "failure", "{task}");
    assert!(
        task["message"]
            .as_str()
            .unwrap_or_default()
            .contains("once decompressed"),
        "{task}"
    );
    wait_for_status(&small, &id, "queued").await;

    // Container format `compressed`: the archive is the image.
    let gz = compress(d, "gzip", &["-c", "disk.raw"]);
    let id = staged(&small, "raw", "compressed", gz.clone()).await;
    assert_eq!(ended_task(&small, &id).await["status"], "success");
    assert!(small.download(&id).await.as_ref() == gz.as_slice());
    small.stop().await;
}
