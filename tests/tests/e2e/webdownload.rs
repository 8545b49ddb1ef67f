//! The `web-download` import from a real HTTP server on loopback: the guard refuses internal
//! addresses, odd ports and other schemes unless the operator allows the host; an allowed
//! download is hashed and inspected like an upload; refused content and redirects to internal
//! addresses fail the task and leave the image queued.

use std::time::Duration;

use md5::Digest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::harness::TestApp;

/// Serves `routes` (path → response bytes, a redirect target when it starts with `>`, or a
/// source that sends its headers and a few bytes and then stalls when it is `~`) over plain
/// HTTP/1.1 on a loopback port.
pub(crate) async fn source(routes: Vec<(&'static str, Vec<u8>)>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let routes = std::sync::Arc::new(routes);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let response = match routes.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) if body.first() == Some(&b'>') => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        String::from_utf8_lossy(&body[1..])
                    )
                    .into_bytes(),
                    Some((_, body)) if body.as_slice() == b"~" => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nabc")
                            .await;
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                    Some((_, body)) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                    None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                };
                let _ = sock.write_all(&response).await;
            });
        }
    });
    port
}

async fn import(app: &TestApp, id: &str, uri: &str) -> (StatusCode, String) {
    let r = app
        .request(Method::POST, &format!("/v2/images/{id}/import"))
        .json(&json!({"method": {"name": "web-download", "uri": uri}}))
        .send()
        .await
        .expect("import");
    let status = r.status();
    (status, r.text().await.unwrap_or_default())
}

/// Starts a web-download of `uri` that is accepted and whose task then fails saying `why`.
async fn import_fails(app: &TestApp, id: &str, uri: &str, why: &str) {
    let (status, _) = import(app, id, uri).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let task = app.ended_task(id, 1).await;
    assert_eq!(task["status"], "failure", "{task}");
    assert!(
        task["message"].as_str().unwrap_or_default().contains(why),
        "{task}"
    );
}

async fn new_image(app: &TestApp, disk_format: &str) -> String {
    app.create(json!({"name": "web", "disk_format": disk_format, "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_download_is_guarded_hashed_and_inspected() {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 199) as u8).collect();
    let files = super::harness::TempDir::new("backed");
    let backing = std::fs::read(super::inspection::backed_qcow2(&files.0)).expect("read");
    let port = source(vec![
        ("/disk.raw", data.clone()),
        ("/bad.qcow2", backing),
        (
            "/metadata",
            b">http://169.254.169.254/latest/meta-data/".to_vec(),
        ),
    ])
    .await;

    // Without an exception, loopback is refused before anything is fetched.
    let app = TestApp::sqlite().await;
    let id = new_image(&app, "raw").await;
    let uri = format!("http://127.0.0.1:{port}/disk.raw");
    let (status, body) = import(&app, &id, &uri).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("does not pass filtering"), "{body}");
    for bad in [
        "file:///etc/passwd",
        "http://example.org:22/x",
        "http://169.254.169.254/x",
    ] {
        assert_eq!(
            import(&app, &id, bad).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    assert_eq!(app.show(&id).await["status"], "queued");
    app.stop().await;

    // With the source allowed: the download is hashed and becomes the image's data.
    let allow = format!("127.0.0.1:{port}");
    let app = TestApp::sqlite_with(move |c| c.import_filter.exceptions = vec![allow]).await;
    let info: Value = app.get("/v2/info/import").await.json().await.expect("info");
    assert_eq!(
        info["import-methods"]["value"],
        json!(["glance-direct", "web-download", "copy-image"])
    );
    let id = new_image(&app, "raw").await;
    let (status, body) = import(&app, &id, &uri).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task = app.ended_task(&id, 1).await;
    assert_eq!(task["status"], "success", "{task}");
    let image = app.show(&id).await;
    assert_eq!(image["status"], "active");
    assert_eq!(image["size"], data.len());
    assert_eq!(image["checksum"], format!("{:x}", md5::Md5::digest(&data)));
    let file = app.get(&format!("/v2/images/{id}/file")).await;
    assert_eq!(file.bytes().await.expect("bytes").as_ref(), data.as_slice());
    // An image that is not queued cannot be downloaded into again.
    assert_eq!(import(&app, &id, &uri).await.0, StatusCode::CONFLICT);

    // Refused content: the task fails with the inspector's reason, the image is queued again.
    let id = new_image(&app, "qcow2").await;
    import_fails(
        &app,
        &id,
        &format!("http://127.0.0.1:{port}/bad.qcow2"),
        "qcow2",
    )
    .await;
    super::data::wait_for_status(&app, &id, "queued").await;
    let files = app.stored_files();
    assert!(
        !files.iter().any(|f| f.to_string_lossy().contains(&id)),
        "refused data stays out of the store: {files:?}"
    );

    // A redirect to the metadata service is not followed.
    let id = new_image(&app, "raw").await;
    import_fails(
        &app,
        &id,
        &format!("http://127.0.0.1:{port}/metadata"),
        "web-download failed",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_filtering_lists_and_a_stalled_source() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 97) as u8).collect();
    let port = source(vec![("/disk.raw", data.clone()), ("/stall", b"~".to_vec())]).await;
    // Glance's lists: allowed hosts and ports only; a named host may be internal.
    let app = TestApp::sqlite_with(move |c| {
        c.import_filter.allowed_hosts = vec!["127.0.0.1".into()];
        c.import_filter.allowed_ports = vec![port];
        c.import_filter.read_timeout = 1;
    })
    .await;
    let id = new_image(&app, "raw").await;
    for (uri, why) in [
        (
            format!("http://localhost:{port}/disk.raw"),
            "host 'localhost'",
        ),
        (format!("http://127.0.0.1:{}/disk.raw", port ^ 1), "port"),
        (format!("ftp://127.0.0.1:{port}/disk.raw"), "scheme 'ftp'"),
    ] {
        let (status, body) = import(&app, &id, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.contains(why), "{uri}: {body}");
    }
    let (status, body) = import(&app, &id, &format!("http://127.0.0.1:{port}/disk.raw")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(app.ended_task(&id, 1).await["status"], "success");
    assert_eq!(app.show(&id).await["size"], data.len());

    // A source that stops sending: the fetch gives up after the read timeout, the task says
    // why and the image can be imported again.
    let id = new_image(&app, "raw").await;
    import_fails(&app, &id, &format!("http://127.0.0.1:{port}/stall"), "").await;
    super::data::wait_for_status(&app, &id, "queued").await;
    let (status, _) = import(&app, &id, &format!("http://127.0.0.1:{port}/disk.raw")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(app.ended_task(&id, 2).await["status"], "success");
    app.stop().await;

    // Disallowed lists, with no allowed list: the host is refused.
    let app = TestApp::sqlite_with(move |c| {
        c.import_filter.allowed_ports = Vec::new();
        c.import_filter.disallowed_hosts = vec!["downloads.example.org".into()];
    })
    .await;
    let id = new_image(&app, "raw").await;
    let (status, body) = import(&app, &id, "https://downloads.example.org:8443/x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not allowed"), "{body}");
    app.stop().await;
}

/// The image size cap (Glance's `image_size_cap`) holds for uploads, declared or streamed, and
/// for web-download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_cap_holds_for_every_way_in() {
    let big: Vec<u8> = vec![7u8; 150_000];
    let port = source(vec![("/big.raw", big.clone())]).await;
    let allow = format!("127.0.0.1:{port}");
    let app = TestApp::sqlite_with(move |c| {
        c.image_size_cap = 100_000;
        c.import_filter.exceptions = vec![allow];
    })
    .await;
    let id = new_image(&app, "raw").await;
    // Refused on its declared length before a byte is read, the answer still reaches a client
    // that goes on sending its body (the server reads and drops the rest).
    for len in [big.len(), 4 << 20, 12 << 20].repeat(3) {
        let r = app.upload(&id, vec![7u8; len]).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{len} bytes");
        assert!(r.text().await.unwrap_or_default().contains("size cap"));
    }
    // A client that waits for `100 Continue` before sending is answered at once, and sends
    // nothing.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = app.base.trim_start_matches("http://").to_string();
        let mut tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let head = format!(
            "PUT /v2/images/{id}/file HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\
             Expect: 100-continue\r\n\r\n",
            big.len()
        );
        tcp.write_all(head.as_bytes()).await.expect("send the head");
        let mut answer = vec![0u8; 512];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read(&mut answer))
            .await
            .expect("an answer without the body")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "the refusal, not a 100 Continue: {answer}"
        );
    }
    // Streamed without a length: refused once past the cap.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(10_000).map(|c| Ok(c.to_vec())).collect();
    let r = app
        .upload(
            &id,
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.show(&id).await["status"], "queued");
    import_fails(
        &app,
        &id,
        &format!("http://127.0.0.1:{port}/big.raw"),
        "size cap",
    )
    .await;
    super::data::wait_for_status(&app, &id, "queued").await;
    assert!(app.upload(&id, vec![1u8; 1000]).await.status().is_success());
    app.stop().await;
}
