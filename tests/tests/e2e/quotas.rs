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

/// `(limit, usage)` of each resource in `/v2/info/usage`, in Glance's order.
async fn usage(app: &TestApp, project: &str) -> Vec<(i64, i64)> {
    let r = app
        .request(Method::GET, "/v2/info/usage")
        .header("X-Tenant-Id", project)
        .header("X-Roles", "member,reader")
        .send()
        .await
        .expect("usage");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    [
        "image_size_total",
        "image_stage_total",
        "image_count_total",
        "image_count_uploading",
    ]
    .iter()
    .map(|k| {
        let line = &body["usage"][k];
        (
            line["limit"].as_i64().unwrap_or(i64::MIN),
            line["usage"].as_i64().unwrap_or(i64::MIN),
        )
    })
    .collect()
}

/// `glint project limit` against the server's database; its output, or its error.
fn project_limit(app: &TestApp, args: &[&str]) -> Result<String, String> {
    let out = crate::harness::glint()
        .args(["project", "--database-url", &app.database_url, "limit"])
        .args(args)
        .output()
        .expect("glint project limit");
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_have_their_own_limits() {
    let app = TestApp::sqlite_with(|c| c.image_quota = Some(1)).await;
    let p1 = uuid::Uuid::new_v4().simple().to_string();
    let p2 = uuid::Uuid::new_v4().simple().to_string();
    let create = |project: &str, name: &str| {
        app.request(Method::POST, "/v2/images")
            .header("X-Tenant-Id", project)
            .header("X-Roles", "member,reader")
            .json(&json!({"name": name, "disk_format": "raw", "container_format": "bare"}))
            .send()
    };
    assert_eq!(usage(&app, &p1).await, [(-1, 0), (-1, 0), (1, 0), (-1, 0)]);
    let first: Value = create(&p1, "one")
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let first = first["id"].as_str().expect("id").to_string();
    let r = create(&p1, "two").await.expect("create");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("image_count_total is over limit of 1 due to current usage 1 and delta 1")
    );

    // The project's own: three images and a MiB, over the deployment's one image.
    let shown = tokio::task::block_in_place(|| {
        project_limit(
            &app,
            &[
                &p1,
                "--image-count-total",
                "3",
                "--image-size-total",
                "1",
                "--image-count-uploading",
                "-1",
            ],
        )
    })
    .expect("set");
    assert!(shown.contains("image_count_total\t3"), "{shown}");
    assert!(
        shown.contains("image_stage_total\t(the deployment's)"),
        "{shown}"
    );
    assert_eq!(usage(&app, &p1).await, [(1, 0), (-1, 0), (3, 1), (-1, 0)]);
    for name in ["two", "three"] {
        let r = create(&p1, name).await.expect("create");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = create(&p1, "four").await.expect("create");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = create(&p2, "other").await.expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = create(&p2, "other-two").await.expect("create");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // The MiB is held in bytes while the data streams: one byte more is refused.
    let upload = |size: usize| {
        app.request(Method::PUT, &format!("/v2/images/{first}/file"))
            .header("X-Tenant-Id", &p1)
            .header("X-Roles", "member,reader")
            .header("Content-Type", "application/octet-stream")
            .body(vec![0u8; size])
            .send()
    };
    let r = upload((1 << 20) + 1).await.expect("upload");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = upload(1 << 20).await.expect("upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(usage(&app, &p1).await, [(1, 1), (-1, 0), (3, 3), (-1, 0)]);

    // Unset, the deployment's limit applies again.
    tokio::task::block_in_place(|| project_limit(&app, &[&p1, "--unset", "image_count_total"]))
        .expect("unset");
    assert_eq!(usage(&app, &p1).await[2], (1, 3));
    // Nonsense is refused and changes nothing.
    for bad in [
        vec![p1.as_str(), "--image-count-total", "-2"],
        vec![p1.as_str(), "--unset", "image_count"],
        vec!["no-such-project", "--image-count-total", "2"],
    ] {
        let err = tokio::task::block_in_place(|| project_limit(&app, &bad)).expect_err("refused");
        assert!(!err.is_empty());
    }
    assert_eq!(usage(&app, &p1).await[2], (1, 3));
    app.stop().await;
}
