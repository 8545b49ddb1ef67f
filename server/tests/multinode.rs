//! Two `glint serve` processes on different ports sharing one PostgreSQL database and one S3
//! bucket (moto's S3 server on loopback): data uploaded through one downloads through the
//! other, concurrent PATCHes through both lose nothing, and a node killed (SIGKILL) mid-upload
//! leaves the image uploadable through the other once its silence passes `--node-timeout`.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Glint, TempDir, http_client};

use md5::Digest;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

const BUCKET: &str = "glint-multinode";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// moto's S3 server, from a virtual environment kept in `~/.cache/glint/` (made on first use).
async fn start_s3() -> (Child, String) {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let venv = home.join(".cache/glint/venv-moto-server-5.1.18");
    if !venv.join(".ready").exists() {
        let ok = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && std::process::Command::new(venv.join("bin/pip"))
                .args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "moto[server]==5.1.18",
                ])
                .status()
                .is_ok_and(|s| s.success());
        assert!(
            ok,
            "installing moto's S3 server needs Python 3 with venv and pip"
        );
        std::fs::write(venv.join(".ready"), "moto[server]==5.1.18").expect("mark ready");
    }
    let port = free_port();
    let child = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the S3 server");
    let url = format!("http://127.0.0.1:{port}");
    let http = http_client();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http
        .get(format!("{url}/"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "the S3 server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = http
        .put(format!("{url}/{BUCKET}"))
        .send()
        .await
        .expect("bucket");
    assert!(r.status().is_success());
    (child, url)
}

/// A fresh PostgreSQL database, or a clear stop when there is none.
async fn postgres_database() -> (String, String) {
    sqlx::any::install_default_drivers();
    let admin = std::env::var("GLINT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pool = sqlx::AnyPool::connect(&admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is needed for the multi-node test and is not reachable at {admin}: {e}")
    });
    let name = format!("glint_multinode_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create database");
    pool.close().await;
    let (prefix, _) = admin.rsplit_once('/').expect("a database URL");
    (name.clone(), format!("{prefix}/{name}"))
}

async fn start_node(name: &str, database: &str, s3: &str) -> Node {
    let data = TempDir::new(name);
    let dir = data.0.to_string_lossy().into_owned();
    let glint = common::serve(
        &[
            "--insecure-noauth",
            "--node-name",
            name,
            "--node-timeout",
            "3",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &dir,
            "--database-url",
            database,
            "--store",
            "s3",
            "--s3-endpoint",
            s3,
            "--s3-bucket",
            BUCKET,
            "--s3-access-key",
            "multinode",
            "--s3-secret-key",
            "multinode-secret",
        ],
        &[],
    )
    .await;
    Node { glint, _data: data }
}

struct Node {
    glint: Glint,
    _data: TempDir,
}

async fn show(http: &reqwest::Client, node: &Node, id: &str) -> Value {
    http.get(format!("{}/v2/images/{id}", node.glint.base))
        .send()
        .await
        .expect("show")
        .json()
        .await
        .expect("json")
}

async fn create(http: &reqwest::Client, node: &Node, name: &str) -> String {
    let image: Value = http
        .post(format!("{}/v2/images", node.glint.base))
        .json(&json!({"name": name, "disk_format": "raw", "container_format": "bare"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    image["id"].as_str().expect("id").to_string()
}

async fn upload(http: &reqwest::Client, node: &Node, id: &str, data: Vec<u8>) -> StatusCode {
    http.put(format!("{}/v2/images/{id}/file", node.glint.base))
        .header("Content-Type", "application/octet-stream")
        .body(data)
        .send()
        .await
        .expect("upload")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_postgres_and_s3() {
    let (_s3, s3_url) = start_s3().await;
    let (db_name, db_url) = postgres_database().await;
    let mut a = start_node("node-a", &db_url, &s3_url).await;
    let b = start_node("node-b", &db_url, &s3_url).await;
    let http = http_client();

    // Upload through A, download through B.
    let data: Vec<u8> = (0..12u32 << 20).map(|i| (i % 241) as u8).collect();
    let id = create(&http, &a, "shared").await;
    assert_eq!(
        upload(&http, &a, &id, data.clone()).await,
        StatusCode::NO_CONTENT
    );
    let via_b = http
        .get(format!("{}/v2/images/{id}/file", b.glint.base))
        .send()
        .await
        .expect("download through B");
    assert_eq!(via_b.status(), StatusCode::OK);
    assert_eq!(
        via_b.bytes().await.expect("bytes").as_ref(),
        data.as_slice()
    );
    assert_eq!(
        show(&http, &b, &id).await["checksum"],
        format!("{:x}", md5::Md5::digest(&data))
    );

    // Concurrent PATCHes through both nodes: every one lands.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let http = http.clone();
        let base = if i % 2 == 0 {
            a.glint.base.clone()
        } else {
            b.glint.base.clone()
        };
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            http.patch(format!("{base}/v2/images/{id}"))
                .header(
                    "Content-Type",
                    "application/openstack-images-v2.1-json-patch",
                )
                .body(
                    json!([{"op": "add", "path": format!("/p{i}"), "value": format!("v{i}")}])
                        .to_string(),
                )
                .send()
                .await
                .expect("patch")
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), StatusCode::OK);
    }
    let image = show(&http, &a, &id).await;
    for i in 0..24 {
        assert_eq!(image[format!("p{i}")], format!("v{i}"), "p{i} lost");
    }

    // A killed mid-upload: once it has been silent for --node-timeout, B queues the image
    // again and takes the upload.
    let cut = create(&http, &b, "cut").await;
    let addr = a.glint.base.trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "PUT /v2/images/{cut}/file HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        64 << 20
    );
    sock.write_all(head.as_bytes()).await.expect("headers");
    sock.write_all(&vec![9u8; 8 << 20])
        .await
        .expect("part of the body");
    sock.flush().await.expect("flush");
    let deadline = Instant::now() + Duration::from_secs(20);
    while show(&http, &b, &cut).await["status"] != "saving" {
        assert!(
            Instant::now() < deadline,
            "the upload through A never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.glint.child.kill().await.expect("SIGKILL node A");
    assert_eq!(
        upload(&http, &b, &cut, vec![1u8; 10]).await,
        StatusCode::CONFLICT,
        "while A might still be alive, its upload stands"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while show(&http, &b, &cut).await["status"] != "queued" {
        assert!(
            Instant::now() < deadline,
            "B never queued the image of the dead node again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again: Vec<u8> = vec![4u8; 3 << 20];
    assert_eq!(
        upload(&http, &b, &cut, again.clone()).await,
        StatusCode::NO_CONTENT
    );
    let image = show(&http, &b, &cut).await;
    assert_eq!(image["status"], "active");
    assert_eq!(image["size"], again.len());
    drop(sock);
    drop(b);

    if let Ok(pool) = sqlx::AnyPool::connect(
        &std::env::var("GLINT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
    )
    .await
    {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}
