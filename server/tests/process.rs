//! The real `glint` process, killed in the middle of an upload and restarted: nothing lost.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Glint, TempDir, http_client, serve};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

fn list_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(list_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Sends the headers and part of a body over a raw connection, then leaves it open.
async fn start_then_abandon_upload(base: &str, id: &str, declared: usize, sent: usize) {
    let addr = base.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "PUT /v2/images/{id}/file HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await.expect("headers");
    sock.write_all(&vec![1u8; sent])
        .await
        .expect("part of the body");
    sock.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_secs(60)).await;
}

async fn start(data: &TempDir) -> Glint {
    let dir = data.0.to_string_lossy().into_owned();
    common::serve(
        &[
            "--insecure-noauth",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &dir,
        ],
        &[],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_upload_recovers_on_restart() {
    let data = TempDir::new("kill");
    let mut server = start(&data).await;
    let http = http_client();
    let image: Value = http
        .post(format!("{}/v2/images", server.base))
        .json(&json!({"name": "k", "disk_format": "raw", "container_format": "bare", "keep": "me"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = image["id"].as_str().expect("id").to_string();
    // Start an upload that never finishes, and kill the server while it is saving.
    let base = server.base.clone();
    let upload_id = id.clone();
    let upload = tokio::spawn(async move {
        let addr = base.clone();
        let _ = tokio::time::timeout(
            Duration::from_secs(30),
            start_then_abandon_upload(&addr, &upload_id, 64 << 20, 4 << 20),
        )
        .await;
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = http
            .get(format!("{}/v2/images/{id}", server.base))
            .send()
            .await
            .expect("show")
            .json::<Value>()
            .await
            .expect("json")["status"]
            .clone();
        if status == "saving" {
            break;
        }
        assert!(Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.start_kill().expect("kill -9");
    server.child.wait().await.expect("reap");
    upload.abort();

    let server = start(&data).await;
    let image: Value = http
        .get(format!("{}/v2/images/{id}", server.base))
        .send()
        .await
        .expect("show")
        .json()
        .await
        .expect("json");
    assert_eq!(
        image["status"], "queued",
        "a restart recovers the interrupted upload"
    );
    assert_eq!(image["keep"], "me");
    assert!(
        list_files(&data.0.join("images")).is_empty(),
        "no orphaned data"
    );
    let r = http
        .put(format!("{}/v2/images/{id}/file", server.base))
        .header("Content-Type", "application/octet-stream")
        .body(vec![9u8; 1000])
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// `glint metadefs load DIR`: loads Glance-format namespace files, says what it did with each,
/// skips what is there already unless asked to merge or overwrite, and reports files it could
/// not load with a failing exit status while loading the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadefs_load_command() {
    let data = TempDir::new("metadefs");
    let catalogue = data.0.join("catalogue");
    std::fs::create_dir_all(&catalogue).expect("folder");
    let namespace = serde_json::json!({
        "namespace": "Glint::Test", "display_name": "Test", "visibility": "public",
        "protected": true,
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "glint_"}],
        "properties": {"speed": {"title": "Speed", "type": "integer", "minimum": 1}},
        "objects": [{"name": "Box", "properties": {"width": {"title": "W", "type": "number"}}}]
    });
    std::fs::write(catalogue.join("glint-test.json"), namespace.to_string()).expect("write");
    std::fs::write(catalogue.join("broken.json"), "{\"namespace\": 7}").expect("write");
    std::fs::write(catalogue.join("notes.txt"), "not a namespace").expect("write");
    let run = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_glint"));
        cmd.args(["metadefs", "--data-dir"])
            .arg(&data.0)
            .arg("load")
            .arg(&catalogue)
            .args(extra)
            .env("GLINT_LOG", "warn");
        let out = cmd.output().expect("run glint metadefs load");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&[]);
    assert!(!ok, "a broken file fails the command");
    assert_eq!(stdout.trim(), "Glint::Test: loaded");
    assert!(stderr.contains("broken.json: not loaded"), "{stderr}");
    assert!(!stderr.contains("notes.txt"), "{stderr}");
    std::fs::remove_file(catalogue.join("broken.json")).expect("remove");
    let (ok, stdout, _) = run(&[]);
    assert!(ok);
    assert_eq!(stdout.trim(), "Glint::Test: skipped (already present)");
    let (ok, stdout, _) = run(&["--merge", "--prefer-new"]);
    assert!(ok);
    assert_eq!(stdout.trim(), "Glint::Test: merged");
    let (ok, stdout, _) = run(&["--overwrite"]);
    assert!(ok);
    assert_eq!(stdout.trim(), "Glint::Test: overwritten");
    let (ok, _, stderr) = run(&["--prefer-new"]);
    assert!(!ok, "--prefer-new needs --merge: {stderr}");

    // The server serves what was loaded.
    let glint = serve(
        &[
            "--data-dir",
            &data.0.to_string_lossy(),
            "--insecure-noauth",
            "--bind",
            "127.0.0.1:0",
        ],
        &[],
    )
    .await;
    let ns: serde_json::Value = http_client()
        .get(format!(
            "{}/v2/metadefs/namespaces/Glint::Test?resource_type=OS::Glance::Image",
            glint.base
        ))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(ns["properties"]["glint_speed"]["minimum"], 1, "{ns}");
    assert_eq!(
        ns["objects"][0]["properties"]["glint_width"]["type"],
        "number"
    );
}
