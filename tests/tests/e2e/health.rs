//! `/healthcheck` as oslo.middleware answers it, the operator's disable file, and the detailed
//! view administrators get.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{TestApp, free_port};

#[tokio::test]
async fn healthcheck_answers_as_oslo_middleware_and_drains_by_file() {
    let disable = std::env::temp_dir().join(format!("glint-disable-{}", uuid::Uuid::new_v4()));
    let file = disable.clone();
    let app = TestApp::sqlite_with(move |c| c.healthcheck_disable_file = Some(file)).await;
    let get = |accept: &'static str, admin: bool| {
        let mut r = app
            .request(Method::GET, "/healthcheck")
            .header("Accept", accept);
        if !admin {
            r = r
                .header("X-Tenant-Id", "p1")
                .header("X-Roles", "member,reader");
        }
        async move {
            let r = r.send().await.expect("healthcheck");
            let status = r.status();
            let kind = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (status, kind, r.text().await.unwrap_or_default())
        }
    };
    let head = || async {
        app.request(Method::HEAD, "/healthcheck")
            .send()
            .await
            .expect("HEAD")
            .status()
    };

    let (status, kind, body) = get("*/*", false).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "OK"));
    assert!(kind.starts_with("text/plain"), "{kind}");
    assert_eq!(head().await, StatusCode::NO_CONTENT);
    let (status, _, body) = get("application/json", false).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v, serde_json::json!({"detailed": false, "reasons": ["OK"]}));
    let (_, kind, body) = get("text/html", false).await;
    assert!(
        kind.starts_with("text/html") && body.contains("<TD>OK</TD>"),
        "{body}"
    );

    // An administrator sees every part, each with its latency.
    let (status, _, body) = get("application/json", true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["detailed"], true);
    let classes: Vec<&str> = v["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(|r| r["class"].as_str())
        .collect();
    assert_eq!(
        classes,
        [
            "DisableByFileHealthcheck",
            "database",
            "store:default",
            "staging"
        ]
    );
    assert!(v["reasons"][1]["latency_ms"].as_f64().is_some());

    // A store that is gone fails the detailed view (and only it).
    let images = app.data.0.join("images");
    std::fs::remove_dir_all(&images).expect("remove the store's folder");
    let (status, _, body) = get("application/json", true).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["reasons"][2]["reason"], "FAILED", "{v}");
    assert_eq!(v["reasons"][1]["reason"], "OK", "{v}");
    std::fs::create_dir_all(&images).expect("the folder again");

    // The operator drains the node: every probe says so, until the file goes.
    std::fs::write(&disable, "").expect("the disable file");
    let (status, _, body) = get("*/*", false).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "DISABLED BY FILE")
    );
    assert_eq!(head().await, StatusCode::SERVICE_UNAVAILABLE);
    std::fs::remove_file(&disable).expect("remove the disable file");
    assert_eq!(head().await, StatusCode::NO_CONTENT);
    app.stop().await;
}

/// The value of the first sample of `series` in an OpenMetrics text.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// `/metrics` counts requests by route template, the bytes that moved and the events, and
/// names no image.
#[tokio::test]
async fn metrics_count_requests_bytes_and_events_by_template() {
    let app = TestApp::sqlite().await;
    let image = app
        .create(serde_json::json!({"name": "m", "disk_format": "raw", "container_format": "bare"}))
        .await;
    let id = image["id"].as_str().expect("an id").to_string();
    assert_eq!(
        app.upload(&id, vec![1u8; 3000]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.download(&id).await.len(), 3000);
    assert_eq!(
        app.get(&format!("/v2/images/{id}")).await.status(),
        StatusCode::OK
    );
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), StatusCode::OK);
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = r.text().await.expect("the metrics");
    let value = |series: &str| sample(&text, series);
    assert_eq!(
        value(r#"glint_http_requests_total{route="/v2/images",method="POST",status="201"}"#),
        1.0
    );
    assert_eq!(
        value(r#"glint_http_requests_total{route="/v2/images/{id}",method="GET",status="200"}"#),
        1.0
    );
    assert!(
        value(
            r#"glint_http_request_duration_seconds_count{route="/v2/images/{id}/file",method="PUT"}"#
        ) >= 1.0
    );
    assert_eq!(value("glint_image_uploaded_bytes_total"), 3000.0);
    assert_eq!(value("glint_image_downloaded_bytes_total"), 3000.0);
    assert_eq!(value(r#"glint_events_total{event="image.activate"}"#), 1.0);
    assert!(!text.contains(&id), "no image id in the metrics");
    app.stop().await;
}

/// `/metrics` on an address of its own (and only it there) shows the cache's hits, misses and
/// size, imports by method and outcome, store failures by store, uploads in flight and the
/// database pools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_cache_imports_stores_and_pools() {
    let port = free_port();
    let app = TestApp::sqlite_with(move |c| {
        c.metrics_bind = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    })
    .await;
    let new_image = || async {
        app.create(
            serde_json::json!({"name": "m", "disk_format": "raw", "container_format": "bare"}),
        )
        .await["id"]
            .as_str()
            .expect("an id")
            .to_string()
    };
    // Read once before it is cached (a miss), then from the cache (a hit).
    let cached = new_image().await;
    assert_eq!(
        app.upload(&cached, vec![1u8; 2000]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.download(&cached).await.len(), 2000);
    let (s, _) = app
        .call(None, Method::PUT, &format!("/v2/cache/{cached}"), None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, list) = app.call(None, Method::GET, "/v2/cache", None).await;
        if list["cached_images"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never cached: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    assert_eq!(app.download(&cached).await.len(), 2000);
    // An import that succeeds.
    let imported = new_image().await;
    let r = app
        .request(Method::PUT, &format!("/v2/images/{imported}/stage"))
        .header("Content-Type", "application/octet-stream")
        .body(vec![2u8; 1000])
        .send()
        .await
        .expect("stage");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (s, _) = app
        .call(
            None,
            Method::POST,
            &format!("/v2/images/{imported}/import"),
            Some(serde_json::json!({"method": {"name": "glance-direct"}})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(app.ended_task(&imported, 1).await["status"], "success");
    // Data gone from the store behind the server's back: the read fails, and is counted.
    let lost = new_image().await;
    assert_eq!(
        app.upload(&lost, vec![3u8; 500]).await.status(),
        StatusCode::NO_CONTENT
    );
    let file = app.data.0.join("images").join(&lost);
    std::fs::remove_file(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let r = app.get(&format!("/v2/images/{lost}/file")).await;
    assert!(!r.status().is_success() || r.bytes().await.is_err());

    let own = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("the metrics address");
    assert_eq!(own.status(), StatusCode::OK);
    let text = own.text().await.expect("the metrics");
    let value = |series: &str| sample(&text, series);
    assert_eq!(value("glint_image_cache_hits_total"), 1.0);
    assert!(value("glint_image_cache_misses_total") >= 1.0);
    assert_eq!(value("glint_image_cache_size_bytes"), 2000.0);
    assert_eq!(value("glint_image_cache_evictions_total"), 0.0);
    assert_eq!(
        value(r#"glint_import_duration_seconds_count{method="glance-direct",outcome="success"}"#),
        1.0
    );
    assert_eq!(value("glint_imports_in_flight"), 0.0);
    assert_eq!(value("glint_uploads_in_flight"), 0.0);
    assert!(value(r#"glint_store_errors_total{store="default",operation="read"}"#) >= 1.0);
    let idle = value(r#"glint_db_pool_connections{pool="reader",state="idle"}"#);
    let busy = value(r#"glint_db_pool_connections{pool="reader",state="busy"}"#);
    assert!(idle + busy >= 1.0, "the reader pool has connections");
    for id in [&cached, &imported, &lost] {
        assert!(!text.contains(id.as_str()), "no image id in the metrics");
    }
    // Only `/metrics` is there.
    let api = reqwest::get(format!("http://127.0.0.1:{port}/v2/images"))
        .await
        .expect("the metrics address");
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
