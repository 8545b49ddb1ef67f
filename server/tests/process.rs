//! The real `glint` process, killed in the middle of an upload and restarted: nothing lost.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Glint, TempDir, http_client};

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
