//! The S3 store against a real S3-protocol server on loopback: moto in server mode (from PyPI),
//! which speaks S3's HTTP API (multipart uploads, ranged GETs, signatures) and starts in a second.
//! Uploads stream as multipart uploads, downloads are ranged GETs, an interrupted or refused
//! upload aborts its multipart upload and leaves no object.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use glint_server::store::S3Settings;
use md5::Digest;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::harness::TestApp;
use super::python;

const MOTO: &[&str] = &["moto[server]==5.1.18"];

/// A running S3 server with one bucket; dropped, it stops.
pub(crate) struct S3Server {
    pub(crate) url: String,
    pub(crate) bucket: String,
    process: Child,
    http: reqwest::Client,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl S3Server {
    pub(crate) async fn start() -> S3Server {
        let venv = tokio::task::block_in_place(|| python::venv_with(MOTO));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let process = Command::new(venv.join("bin").join("python"))
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
            .spawn()
            .expect("start the S3 server");
        let url = format!("http://127.0.0.1:{port}");
        let http = super::harness::http_client();
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
        let bucket = "glint-images".to_string();
        let r = http
            .put(format!("{url}/{bucket}"))
            .send()
            .await
            .expect("create the bucket");
        assert!(r.status().is_success(), "create bucket: {}", r.status());
        S3Server {
            url,
            bucket,
            process,
            http,
        }
    }

    pub(crate) fn settings(&self) -> S3Settings {
        S3Settings {
            endpoint: Some(self.url.clone()),
            region: "us-east-1".into(),
            bucket: self.bucket.clone(),
            access_key: "glint-test".into(),
            secret_key: "glint-test-secret".into(),
            path_style: true,
        }
    }

    /// The object's bytes, or `None` when there is no such object.
    pub(crate) async fn object(&self, key: &str) -> Option<Vec<u8>> {
        let r = self
            .http
            .get(format!("{}/{}/{key}", self.url, self.bucket))
            .send()
            .await
            .expect("get object");
        if r.status() == StatusCode::NOT_FOUND {
            return None;
        }
        assert!(r.status().is_success(), "get {key}: {}", r.status());
        Some(r.bytes().await.expect("object bytes").to_vec())
    }

    /// Multipart uploads begun and neither completed nor aborted.
    pub(crate) async fn open_uploads(&self) -> usize {
        let xml = self
            .http
            .get(format!("{}/{}?uploads", self.url, self.bucket))
            .send()
            .await
            .expect("list multipart uploads")
            .text()
            .await
            .expect("xml");
        xml.matches("<Upload>").count()
    }
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_streams_multipart_uploads_and_ranged_downloads() {
    let s3 = S3Server::start().await;
    let settings = s3.settings();
    let app = TestApp::sqlite_with(move |c| c.s3 = Some(settings)).await;

    // 40 MiB: three parts.
    let data: Vec<u8> = (0..40u32 << 20).map(|i| (i % 253) as u8).collect();
    let image = app
        .create(json!({"name": "s3", "disk_format": "raw", "container_format": "bare"}))
        .await;
    let id = image["id"].as_str().expect("id").to_string();
    let r = app.upload(&id, data.clone()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let shown = app.show(&id).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["size"], data.len());
    assert_eq!(shown["checksum"], format!("{:x}", md5::Md5::digest(&data)));
    assert_eq!(
        shown["os_hash_value"],
        format!("{:x}", sha2::Sha512::digest(&data))
    );
    // The object is in the bucket, whole, and no multipart upload is left open.
    let key = format!("images/{id}");
    assert_eq!(s3.object(&key).await.as_deref(), Some(data.as_slice()));
    assert_eq!(s3.open_uploads().await, 0);

    // Downloads: whole and ranged.
    let whole = app.get(&format!("/v2/images/{id}/file")).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(
        whole.bytes().await.expect("bytes").as_ref(),
        data.as_slice()
    );
    let part = app
        .request(Method::GET, &format!("/v2/images/{id}/file"))
        .header("Range", "bytes=17000000-17000999")
        .send()
        .await
        .expect("ranged download");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.bytes().await.expect("bytes").as_ref(),
        &data[17_000_000..17_001_000]
    );

    // An upload cut off mid-way: the image is queued again and the multipart upload aborted.
    let cut = app
        .create(json!({"name": "cut", "disk_format": "raw", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    super::data::start_then_abandon_upload(&app.base, &cut, 64 << 20, 20 << 20).await;
    wait_for("the cut upload to be queued again", async || {
        app.show(&cut).await["status"] == "queued"
    })
    .await;
    wait_for("the multipart upload to be aborted", async || {
        s3.open_uploads().await == 0
    })
    .await;
    assert_eq!(s3.object(&format!("images/{cut}")).await, None);
    assert_eq!(
        app.upload(&cut, vec![5u8; 1000]).await.status(),
        StatusCode::NO_CONTENT
    );

    // Refused content (a qcow2 with a backing file) leaves nothing in the bucket.
    let refused = app
        .create(json!({"name": "bad", "disk_format": "qcow2", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let files = super::harness::TempDir::new("backed");
    let qcow = std::fs::read(super::inspection::backed_qcow2(&files.0)).expect("read");
    let r = app.upload(&refused, qcow).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.show(&refused).await["status"], "queued");
    wait_for("the refused upload's parts to go", async || {
        s3.open_uploads().await == 0
    })
    .await;
    assert_eq!(s3.object(&format!("images/{refused}")).await, None);

    // Deleting the image deletes the object.
    let r = app
        .request(Method::DELETE, &format!("/v2/images/{id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    wait_for("the object to be deleted", async || {
        s3.object(&key).await.is_none()
    })
    .await;
    app.stop().await;
}
