//! A create is answered only once it has committed: `glint serve` (the real binary, SQLite) is
//! killed with SIGKILL while eight clients create images, and after a restart every image that
//! was answered 201 is there with all its properties.

use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{TempDir, free_port, glint, http_client};

fn serve(data: &TempDir, port: u16) -> Child {
    let child = glint()
        .args(["serve", "--insecure-noauth", "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(&data.0)
        .env("GLINT_LOG", "warn")
        .spawn()
        .expect("start glint serve");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "glint did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn body(client: usize, n: usize) -> Value {
    let mut b = json!({
        "name": format!("crash-{client}-{n}"),
        "disk_format": "raw",
        "container_format": "bare",
        "tags": ["crash", format!("c{client}")],
    });
    for k in 0..10 {
        b[format!("p{k:02}")] = json!(format!("value-{client}-{n}-{k}"));
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_create_survives_a_kill() {
    let data = TempDir::new("durability");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = tokio::task::block_in_place(|| serve(&data, port));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..8 {
        let (base, answered) = (base.clone(), answered.clone());
        clients.push(tokio::spawn(async move {
            let http = http_client();
            let mut created = Vec::new();
            for n in 0.. {
                let sent = http
                    .post(format!("{base}/v2/images"))
                    .json(&body(c, n))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                // Once the server is gone, requests fail: this client is done.
                let Ok(response) = sent else { break };
                if response.status() != 201 {
                    break;
                }
                let Ok(image) = response.json::<Value>().await else {
                    break;
                };
                created.push((image["id"].as_str().unwrap_or_default().to_string(), c, n));
                answered.fetch_add(1, Ordering::SeqCst);
            }
            created
        }));
    }
    // Kill it in the middle of the clients' work.
    let deadline = Instant::now() + Duration::from_secs(120);
    while answered.load(Ordering::SeqCst) < 300 {
        assert!(Instant::now() < deadline, "the creates did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().expect("SIGKILL");
    let _ = server.wait();
    let mut created = Vec::new();
    for c in clients {
        created.extend(c.await.expect("a client"));
    }
    assert!(created.len() >= 300, "{} answered", created.len());

    let mut server = tokio::task::block_in_place(|| serve(&data, port));
    let http = http_client();
    for (id, c, n) in &created {
        let got = http
            .get(format!("{base}/v2/images/{id}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(got.status(), 200, "image {id} (client {c}, #{n}) was lost");
        let image: Value = got.json().await.expect("an image");
        let expected = body(*c, *n);
        for k in 0..10 {
            let key = format!("p{k:02}");
            assert_eq!(image[&key], expected[&key], "{id}: {key}");
        }
        assert_eq!(image["tags"], expected["tags"], "{id}: tags");
    }
    let _ = server.kill();
    let _ = server.wait();
}
