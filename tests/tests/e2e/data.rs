//! Image data: streamed uploads with checksums, ranged downloads, interrupted uploads.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha512;
use tokio::io::AsyncWriteExt;

use crate::harness::{TestApp, on_both_databases};

on_both_databases!(
    ranges_and_checks,
    interrupted_upload_leaves_image_uploadable,
    stage_and_glance_direct_import,
);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn new_image(app: &TestApp) -> String {
    app.create(json!({"name": "d", "disk_format": "raw", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// A 1 GiB upload streamed in 1 MiB chunks; the test hashes what it sends and what it gets back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_streamed_upload_and_download() {
    const MIB: usize = 1 << 20;
    const CHUNKS: usize = 1024;
    let app = TestApp::sqlite().await;
    let id = new_image(&app).await;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let base: Vec<u8> = (0..MIB)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed.to_le_bytes()[0]
        })
        .collect();
    let base = std::sync::Arc::new(base);
    let chunk = move |i: usize| {
        let mut c = base.as_ref().clone();
        c[..8].copy_from_slice(&(i as u64).to_le_bytes());
        Bytes::from(c)
    };
    let (mut md5, mut sha) = (Md5::new(), Sha512::new());
    for i in 0..CHUNKS {
        let c = chunk(i);
        md5.update(&c);
        sha.update(&c);
    }
    let (md5, sha) = (hex(&md5.finalize()), hex(&sha.finalize()));
    let stream =
        futures_util::stream::iter((0..CHUNKS).map(move |i| Ok::<_, std::io::Error>(chunk(i))));
    let started = Instant::now();
    let r = app.upload(&id, reqwest::Body::wrap_stream(stream)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    eprintln!(
        "1 GiB upload (debug build): {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let image = app.show(&id).await;
    assert_eq!(image["size"], json!(CHUNKS * MIB));
    assert_eq!(image["checksum"], json!(md5));
    assert_eq!(image["os_hash_algo"], "sha512");
    assert_eq!(image["os_hash_value"], json!(sha));
    assert_eq!(image["virtual_size"], json!(CHUNKS * MIB));

    let r = app.get(&format!("/v2/images/{id}/file")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-md5"].to_str().expect("md5"), md5);
    let mut down = Md5::new();
    let mut n = 0usize;
    let mut body = r.bytes_stream();
    while let Some(c) = body.next().await {
        let c = c.expect("download chunk");
        n += c.len();
        down.update(&c);
    }
    assert_eq!(n, CHUNKS * MIB);
    assert_eq!(hex(&down.finalize()), md5);
    app.stop().await;
}

async fn ranges_and_checks(app: &TestApp) {
    let id = new_image(app).await;
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    // Chunked transfer encoding (what glanceclient sends) with a declared size.
    let stream = futures_util::stream::iter(
        data.chunks(100)
            .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/file"))
        .header("Content-Type", "application/octet-stream")
        .header("x-openstack-image-size", "1000")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for (range, status, content_range, expect) in [
        ("bytes=3-10", 206, Some("bytes 3-10/1000"), &data[3..=10]),
        ("bytes=-5", 206, Some("bytes 995-999/1000"), &data[995..]),
        ("bytes=990-", 206, Some("bytes 990-999/1000"), &data[990..]),
        (
            "bytes=990-5000",
            206,
            Some("bytes 990-999/1000"),
            &data[990..],
        ),
    ] {
        let r = app
            .request(Method::GET, &format!("/v2/images/{id}/file"))
            .header("Range", range)
            .send()
            .await
            .expect("range");
        assert_eq!(r.status().as_u16(), status, "{range}");
        assert_eq!(
            r.headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok()),
            content_range
        );
        assert_eq!(&r.bytes().await.expect("body")[..], expect, "{range}");
    }
    for range in [
        "bytes=1000-",
        "bytes=5-2",
        "bytes=a-b",
        "items=1-2",
        "bytes=1-2,4-5",
    ] {
        let r = app
            .request(Method::GET, &format!("/v2/images/{id}/file"))
            .header("Range", range)
            .send()
            .await
            .expect("range");
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
    }
    // Declared size that does not match: 400, image queued again, nothing stored.
    let other = new_image(app).await;
    let r = app
        .request(Method::PUT, &format!("/v2/images/{other}/file"))
        .header("Content-Type", "application/octet-stream")
        .header("x-openstack-image-size", "999")
        .body(data.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    wait_for_status(app, &other, "queued").await;
    let image = app.show(&other).await;
    assert_eq!(image["size"], Value::Null);
    assert_eq!(
        app.stored_files().len(),
        1,
        "only the first image's data is stored"
    );
    // Wrong content type.
    let r = app
        .request(Method::PUT, &format!("/v2/images/{other}/file"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Empty body: active with size 0.
    assert_eq!(
        app.upload(&other, Vec::<u8>::new()).await.status(),
        StatusCode::NO_CONTENT
    );
    let image = app.show(&other).await;
    assert_eq!(
        (image["status"].clone(), image["size"].clone()),
        (json!("active"), json!(0))
    );
}

pub(crate) async fn wait_for_status(app: &TestApp, id: &str, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if app.show(id).await["status"] == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "image {id} never became {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends the headers and part of a body over a raw connection, then closes it.
pub(crate) async fn start_then_abandon_upload(base: &str, id: &str, declared: usize, sent: usize) {
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(sock);
}

async fn interrupted_upload_leaves_image_uploadable(app: &TestApp) {
    let id = new_image(app).await;
    start_then_abandon_upload(&app.base, &id, 8 << 20, 1 << 20).await;
    wait_for_status(app, &id, "queued").await;
    // The partial data is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.stored_files().is_empty() {
        assert!(
            Instant::now() < deadline,
            "orphaned data: {:?}",
            app.stored_files()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And the image takes data again.
    assert_eq!(
        app.upload(&id, vec![3u8; 4096]).await.status(),
        StatusCode::NO_CONTENT
    );
    let image = app.show(&id).await;
    assert_eq!(
        (image["status"].clone(), image["size"].clone()),
        (json!("active"), json!(4096))
    );
}

async fn stage_and_glance_direct_import(app: &TestApp) {
    let id = new_image(app).await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let import = |method: &'static str| {
        app.request(Method::POST, &format!("/v2/images/{id}/import"))
            .json(&json!({"method": {"name": method}}))
    };
    // Import before staging: the image is not uploading.
    let r = import("glance-direct").send().await.expect("import");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/stage"))
        .header("Content-Type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .expect("stage");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let staged = app.show(&id).await;
    assert_eq!(staged["status"], "uploading");
    assert_eq!(staged["size"], 300_000);
    // Staging twice, uploading meanwhile, unknown methods: refused.
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/stage"))
        .header("Content-Type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .expect("stage");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(app.upload(&id, "x").await.status(), StatusCode::CONFLICT);
    let r = import("teleport").send().await.expect("import");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = import("glance-direct").send().await.expect("import");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    wait_for_status(app, &id, "active").await;
    let image = app.show(&id).await;
    assert_eq!(image["checksum"], json!(hex(&Md5::digest(&data))));
    assert_eq!(image["os_hash_value"], json!(hex(&Sha512::digest(&data))));
    let r = app.get(&format!("/v2/images/{id}/file")).await;
    assert_eq!(&r.bytes().await.expect("data")[..], &data[..]);
    let staging: Vec<_> = crate::harness::list_files(&app.data.0.join("staging"));
    assert!(
        staging.is_empty(),
        "staged data is removed after import: {staging:?}"
    );
}

/// Glance's `hashing_algorithm`: new data is hashed with the deployment's algorithm (md5 as
/// well); a copy is checked against the algorithm the image was hashed with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secure_hash_is_the_deployments() {
    let store =
        |id: &str| glint_server::config::StoreConfig::new(id, glint_server::config::StoreKind::Fs);
    let app = TestApp::sqlite_with(|c| {
        c.hashing_algorithm = glint_server::hashing::Algorithm::Sha256;
        c.stores = vec![store("one"), store("two")];
    })
    .await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    let id = new_image(&app).await;
    assert_eq!(
        app.upload(&id, data.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    let image = app.show(&id).await;
    assert_eq!(image["os_hash_algo"], "sha256");
    assert_eq!(
        image["os_hash_value"],
        format!("{:x}", sha2::Sha256::digest(&data))
    );
    assert_eq!(image["checksum"], format!("{:x}", Md5::digest(&data)));
    // Copied into the other store, the copy is hashed and checked with sha256.
    let (status, body) = app
        .call(
            None,
            Method::POST,
            &format!("/v2/images/{id}/import"),
            Some(json!({"method": {"name": "copy-image"}, "stores": ["two"]})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task = app.ended_task(&id, 1).await;
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(app.show(&id).await["stores"], "one,two");
    app.stop().await;
}
