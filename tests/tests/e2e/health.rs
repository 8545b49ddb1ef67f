//! `/healthcheck` as oslo.middleware answers it, the operator's disable file, and the detailed
//! view administrators get.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::TestApp;

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
