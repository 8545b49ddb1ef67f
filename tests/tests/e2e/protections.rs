//! Property protections from a file: what the API refuses is what the plan (and so the UI's
//! preview) marks, and unreadable properties are neither shown nor lost.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::harness::{PATCH_V21, TempDir, TestApp};

const RULES: &str = "
[^x_secret_.*]
create = admin
read = admin
update = admin
delete = admin

[^x_ro_.*]
create = admin
read = @
update = !
delete = admin

[.*]
create = admin,member
read = admin,member
update = admin,member
delete = admin,member
";

fn member(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    app.request(method, path)
        .header("X-Tenant-Id", "p1")
        .header("X-Roles", "member,reader")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protections_are_enforced_through_the_plan() {
    let files = TempDir::new("protections");
    let path = files.0.join("property-protections.conf");
    std::fs::write(&path, RULES).expect("write rules");
    let app = TestApp::sqlite_with(|c| c.property_protections = Some(path.clone())).await;

    // An admin sets every kind of key, for project p1.
    let image = app
        .create(json!({"name": "p", "owner": "p1", "x_secret_s": "1", "x_ro_r": "2", "plain": "3"}))
        .await;
    let id = image["id"].as_str().expect("id").to_string();
    let path = format!("/v2/images/{id}");

    // A member of p1 does not see the secret key, in v2 or v1.
    let seen: Value = member(&app, Method::GET, &path)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(seen.get("x_secret_s").is_none(), "{seen}");
    assert_eq!(
        (seen["x_ro_r"].clone(), seen["plain"].clone()),
        (json!("2"), json!("3"))
    );
    let head = member(&app, Method::HEAD, &format!("/v1/images/{id}"))
        .send()
        .await
        .expect("head");
    assert!(
        head.headers()
            .get("x-image-meta-property-x_secret_s")
            .is_none()
    );
    assert!(head.headers().get("x-image-meta-property-plain").is_some());

    let patch = |ops: Value| {
        member(&app, Method::PATCH, &path)
            .header("Content-Type", PATCH_V21)
            .body(ops.to_string())
    };
    // The preview marks exactly what the request would be refused for.
    let plan: Value = patch(json!([
        {"op": "replace", "path": "/x_ro_r", "value": "20"},
        {"op": "add", "path": "/other", "value": "4"},
    ]))
    .header("Prefer", "return=preview")
    .send()
    .await
    .expect("preview")
    .json()
    .await
    .expect("plan");
    let violations: Vec<(String, u64)> = plan["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| {
            (
                v["key"].as_str().unwrap_or_default().to_string(),
                v["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(violations, [("x_ro_r".to_string(), 403)]);
    let r = patch(json!([{"op": "replace", "path": "/x_ro_r", "value": "20"}]))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = patch(json!([{"op": "remove", "path": "/x_secret_s"}]))
        .send()
        .await
        .expect("patch");
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "an unreadable key is absent to the caller"
    );
    let r = patch(json!([{"op": "add", "path": "/other", "value": "4"}]))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::OK);
    let r = member(&app, Method::POST, "/v2/images")
        .json(&json!({"name": "q", "x_ro_new": "1"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A v1 purge by the member would delete x_ro_r, which it may not: refused whole.
    let r = member(&app, Method::PUT, &format!("/v1/images/{id}"))
        .header("x-image-meta-property-plain", "3")
        .send()
        .await
        .expect("purge");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Nothing the member did touched the key it cannot see.
    let all = app.show(&id).await;
    assert_eq!(all["x_secret_s"], "1", "the secret key is still there");
    assert_eq!(all["other"], "4");

    // A bad rules file stops the server from starting.
    let bad = files.0.join("bad.conf");
    std::fs::write(&bad, "[.*]\ncreate = @\n").expect("write");
    let mut config = glint_server::Config::for_data_dir(&files.0);
    config.property_protections = Some(bad);
    config.insecure_noauth = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let err = glint_server::run(listener, config, async {})
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("does not define 'read'"), "{err}");
    app.stop().await;
}
