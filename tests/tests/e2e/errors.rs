//! Bad input gets a 4xx in Glance's error shape, never a 500.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{PATCH_V21, TestApp, on_both_databases};

on_both_databases!(bad_requests_get_clear_errors);

/// Method, path, content type, body, expected status, words the message must contain.
type Case<'a> = (Method, String, Option<&'a str>, String, u16, &'a str);

async fn bad_requests_get_clear_errors(app: &TestApp) {
    let id = app.create(json!({"name": "x", "k": "v"})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let image = format!("/v2/images/{id}");
    let long_value = "v".repeat(65_536);
    let long_key = format!("/{}", "k".repeat(256));
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/v2/images".into(),
            Some("application/json"),
            "{".into(),
            400,
            "Malformed JSON",
        ),
        (
            Method::POST,
            "/v2/images".into(),
            Some("application/json"),
            "".into(),
            400,
            "Body expected",
        ),
        (
            Method::POST,
            "/v2/images".into(),
            Some("application/json"),
            "[1]".into(),
            400,
            "must be a JSON object",
        ),
        (
            Method::POST,
            "/v2/images".into(),
            Some("application/json"),
            r#"{"id": "nope"}"#.into(),
            400,
            "must be a UUID",
        ),
        (
            Method::POST,
            "/v2/images".into(),
            Some("application/json"),
            r#"{"x": 1}"#.into(),
            400,
            "is not a string",
        ),
        (
            Method::POST,
            "/v2/images".into(),
            Some("application/json"),
            r#"{"status": "active"}"#.into(),
            403,
            "read-only",
        ),
        (
            Method::POST,
            "/v2/images".into(),
            Some("application/json"),
            r#"{"visibility": "everyone"}"#.into(),
            400,
            "visibility",
        ),
        (
            Method::POST,
            "/v2/images".into(),
            Some("application/json"),
            format!(r#"{{"{}": "v"}}"#, "k".repeat(256)),
            400,
            "longer than 255",
        ),
        (
            Method::POST,
            "/v2/images".into(),
            Some("application/json"),
            format!(r#"{{"id": "{id}"}}"#),
            409,
            "already exists",
        ),
        (
            Method::PATCH,
            image.clone(),
            Some("application/json"),
            "[]".into(),
            415,
            "Unsupported Content-Type",
        ),
        (
            Method::PATCH,
            image.clone(),
            Some(PATCH_V21),
            "{}".into(),
            400,
            "JSON array",
        ),
        (
            Method::PATCH,
            image.clone(),
            Some(PATCH_V21),
            "[{".into(),
            400,
            "Malformed JSON",
        ),
        (
            Method::PATCH,
            image.clone(),
            Some(PATCH_V21),
            r#"[{"op": "add", "path": "/k"}]"#.into(),
            400,
            "'value' is required",
        ),
        (
            Method::PATCH,
            image.clone(),
            Some(PATCH_V21),
            r#"[{"op": "add", "path": "/a/b", "value": "1"}]"#.into(),
            400,
            "Invalid JSON pointer",
        ),
        (
            Method::PATCH,
            image.clone(),
            Some(PATCH_V21),
            r#"[{"op": "add", "path": "k", "value": "1"}]"#.into(),
            400,
            "does not start with",
        ),
        (
            Method::PATCH,
            image.clone(),
            Some(PATCH_V21),
            r#"[{"op": "remove", "path": "/nope"}]"#.into(),
            409,
            "does not exist",
        ),
        (
            Method::PATCH,
            image.clone(),
            Some(PATCH_V21),
            r#"[{"op": "replace", "path": "/status", "value": "active"}]"#.into(),
            403,
            "read-only",
        ),
        (
            Method::PATCH,
            image.clone(),
            Some(PATCH_V21),
            json!([{"op": "add", "path": "/big", "value": long_value}]).to_string(),
            400,
            "longer than 65535",
        ),
        (
            Method::PATCH,
            image.clone(),
            Some(PATCH_V21),
            json!([{"op": "add", "path": long_key, "value": "v"}]).to_string(),
            400,
            "longer than 255",
        ),
        (
            Method::GET,
            "/v2/images/not-a-uuid".into(),
            None,
            "".into(),
            404,
            "No image found",
        ),
        (
            Method::GET,
            "/v2/images/6b8e1f0a-7c3d-4f2e-9a1b-2c3d4e5f6a7b".into(),
            None,
            "".into(),
            404,
            "No image found",
        ),
        (
            Method::GET,
            image.clone(),
            None,
            "body".into(),
            400,
            "A body is not expected",
        ),
        (
            Method::POST,
            image.clone(),
            None,
            "".into(),
            405,
            "not allowed",
        ),
        (
            Method::GET,
            "/v2/nothing-here".into(),
            None,
            "".into(),
            404,
            "could not be found",
        ),
    ];
    for (method, path, content_type, body, status, needle) in cases {
        let mut req = app
            .request(method.clone(), &path)
            .header("Accept", "application/json");
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let r = req.body(body.clone()).send().await.expect("request");
        assert_eq!(r.status().as_u16(), status, "{method} {path} {body:.80}");
        assert_eq!(
            r.headers()["content-type"].to_str().expect("type"),
            "application/json",
            "{method} {path}"
        );
        let err: Value = r.json().await.expect("JSON error body");
        let message = err["message"].as_str().expect("message");
        assert!(message.contains(needle), "{method} {path}: {message}");
        assert_eq!(
            err["code"]
                .as_str()
                .map(|c| c.starts_with(&status.to_string())),
            Some(true)
        );
        assert!(err["title"].is_string());
    }
    // The other error shapes: plain text without Accept, HTML for */*.
    let raw = raw_get(&app.base, "/v2/images/x").await;
    assert!(raw.contains("content-type: text/plain"), "{raw}");
    assert!(raw.contains("\r\n\r\n404 Not Found\n\n"), "{raw}");
    let r = app
        .client
        .get(app.url("/v2/images/x"))
        .header("Accept", "*/*")
        .send()
        .await
        .expect("get");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("<h1>404 Not Found</h1>")
    );
    // Every response carries a request id; an over-long incoming one is refused.
    let r = app.get("/versions").await;
    assert!(
        r.headers()["x-openstack-request-id"]
            .to_str()
            .expect("id")
            .starts_with("req-")
    );
    let r = app
        .request(Method::GET, "/versions")
        .header("X-Openstack-Request-ID", "x".repeat(65))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 431);
    // The image is untouched by all of it.
    let image = app.show(&id).await;
    assert_eq!(image["k"], "v");
    assert!(image.get("big").is_none());
}

/// A GET with no `Accept` header at all (HTTP clients add one), returning the raw response.
async fn raw_get(base: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    sock.write_all(request.as_bytes()).await.expect("send");
    let mut out = String::new();
    sock.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_documents() {
    let app = TestApp::sqlite().await;
    let r = app
        .request(Method::GET, "/")
        .header("Accept", "application/json")
        .send()
        .await
        .expect("root");
    assert_eq!(r.status(), StatusCode::MULTIPLE_CHOICES);
    let body: Value = r.json().await.expect("json");
    // The image cache is on: 2.18 (its clean and prune) is current, as in Glance.
    assert_eq!(body["versions"][0]["id"], "v2.18");
    assert_eq!(body["versions"][0]["status"], "CURRENT");
    let ids: Vec<&str> = body["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"v2.9") && !ids.contains(&"v2.13"),
        "one store: {ids:?}"
    );
    assert_eq!(ids.last(), Some(&"v2.0"));
    let r = app.get("/versions").await;
    assert_eq!(r.status(), StatusCode::OK);
    // /v2.N/ prefixes are v2.
    let r = app.get("/v2.1/images").await;
    assert_eq!(r.status(), StatusCode::OK);
    let schema: Value = app
        .get("/v2/schemas/image")
        .await
        .json()
        .await
        .expect("schema");
    assert_eq!(schema["name"], "image");
    assert_eq!(schema["additionalProperties"], json!({"type": "string"}));
    assert_eq!(schema["properties"]["kernel_id"]["is_base"], false);
    for path in [
        "/v2/schemas/images",
        "/v2/schemas/member",
        "/v2/schemas/members",
        "/v2/schemas/task",
        "/v2/schemas/tasks",
        "/v2/info/import",
    ] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(
        app.get("/v2/info/stores").await.status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;

    // No cache: 2.17 is current; several stores: the multi-store versions are listed.
    let app = TestApp::sqlite_with(|c| {
        c.image_cache_max_size = 0;
        c.stores = vec![glint_server::config::StoreConfig {
            id: "one".into(),
            kind: glint_server::config::StoreKind::Fs,
            path: None,
            description: None,
            weight: 0,
            read_only: false,
            ..glint_server::config::StoreConfig::new("", glint_server::config::StoreKind::Fs)
        }];
    })
    .await;
    let body: Value = app.get("/versions").await.json().await.expect("json");
    let listed: Vec<(&str, &str)> = body["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| Some((v["id"].as_str()?, v["status"].as_str()?)))
        .collect();
    assert!(listed.contains(&("v2.17", "CURRENT")), "{listed:?}");
    assert!(listed.contains(&("v2.13", "SUPPORTED")), "{listed:?}");
    assert!(!listed.iter().any(|(id, _)| *id == "v2.18"), "{listed:?}");
    assert_eq!(
        listed.iter().filter(|(_, s)| *s == "CURRENT").count(),
        1,
        "{listed:?}"
    );
    app.stop().await;
}
