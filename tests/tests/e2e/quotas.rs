//! Per-project quotas: images per project and bytes stored per project, refused with 413.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::data::wait_for_status;
use crate::harness::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_and_storage_quotas() {
    let app = TestApp::sqlite_with(|c| {
        c.image_quota = Some(3);
        c.storage_quota = Some(10_000);
    })
    .await;
    let as_p1 = |method: Method, path: &str| {
        app.request(method, path)
            .header("X-Tenant-Id", "p1")
            .header("X-Roles", "member,reader")
    };
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = as_p1(Method::POST, "/v2/images")
            .json(
                &json!({"name": format!("q{i}"), "disk_format": "raw", "container_format": "bare"}),
            )
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(
            r.json::<Value>().await.expect("json")["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    // The fourth image, through v2 or v1: over the image quota.
    let r = as_p1(Method::POST, "/v2/images")
        .json(&json!({"name": "q3"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = as_p1(Method::POST, "/v1/images")
        .header("x-image-meta-name", "q3")
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Another project is not affected.
    let r = app
        .request(Method::POST, "/v2/images")
        .header("X-Tenant-Id", "p2")
        .header("X-Roles", "member,reader")
        .json(&json!({"name": "other"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);

    let upload = |id: &str, body: reqwest::Body| {
        as_p1(Method::PUT, &format!("/v2/images/{id}/file"))
            .header("Content-Type", "application/octet-stream")
            .body(body)
    };
    // 6,000 of the 10,000 bytes.
    let r = upload(&ids[0], vec![1u8; 6000].into())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // A declared 6,000 more is refused before any byte is taken.
    let r = upload(&ids[1], vec![1u8; 6000].into())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("4000 bytes are left")
    );
    // An undeclared (chunked) stream is cut off when it passes the quota.
    let chunks = futures_util::stream::iter(
        (0..6).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![1u8; 1000]))),
    );
    let r = upload(&ids[1], reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    wait_for_status(&app, &ids[1], "queued").await;
    // What fits is taken; deleting frees room.
    let r = upload(&ids[1], vec![1u8; 4000].into())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = upload(&ids[2], vec![1u8; 1].into())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = as_p1(Method::DELETE, &format!("/v2/images/{}", ids[0]))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = upload(&ids[2], vec![1u8; 6000].into())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.stop().await;
}
