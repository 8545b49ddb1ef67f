//! Sharing through `/v2/images/{id}/members`, seen from the owner, the member and a stranger.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, on_both_databases};

on_both_databases!(sharing_with_members);

fn as_project(app: &TestApp, project: &str, method: Method, path: &str) -> RequestBuilder {
    app.request(method, path)
        .header("X-Tenant-Id", project)
        .header("X-Roles", "member,reader")
}

async fn listed(app: &TestApp, project: &str, query: &str) -> Vec<String> {
    let body: Value = as_project(app, project, Method::GET, &format!("/v2/images{query}"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    body["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn sharing_with_members(app: &TestApp) {
    let r = as_project(app, "p1", Method::POST, "/v2/images")
        .json(&json!({"name": "shared"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let image: Value = r.json().await.expect("json");
    let id = image["id"].as_str().expect("id").to_string();
    assert_eq!(
        (image["owner"].clone(), image["visibility"].clone()),
        (json!("p1"), json!("shared"))
    );
    let members = format!("/v2/images/{id}/members");

    // A stranger cannot see the image at all.
    for project in ["p2", "p3"] {
        let r = as_project(app, project, Method::GET, &format!("/v2/images/{id}"))
            .send()
            .await
            .expect("get");
        assert_eq!(
            r.status(),
            StatusCode::NOT_FOUND,
            "{project} before sharing"
        );
    }
    let r = as_project(app, "p1", Method::POST, &members)
        .json(&json!({"member": "p2"}))
        .send()
        .await
        .expect("add");
    assert_eq!(r.status(), StatusCode::OK);
    let m: Value = r.json().await.expect("json");
    assert_eq!(
        (m["member_id"].clone(), m["status"].clone()),
        (json!("p2"), json!("pending"))
    );
    assert_eq!(m["schema"], "/v2/schemas/member");
    let r = as_project(app, "p1", Method::POST, &members)
        .json(&json!({"member": "p2"}))
        .send()
        .await
        .expect("add again");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = as_project(app, "p1", Method::POST, &members)
        .json(&json!({"nobody": "p2"}))
        .send()
        .await
        .expect("bad body");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Pending: fetchable by id, not listed by default.
    let r = as_project(app, "p2", Method::GET, &format!("/v2/images/{id}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!listed(app, "p2", "").await.contains(&id));
    assert!(
        listed(app, "p2", "?member_status=pending")
            .await
            .contains(&id)
    );
    // Only the member decides its status.
    let r = as_project(app, "p1", Method::PUT, &format!("{members}/p2"))
        .json(&json!({"status": "accepted"}))
        .send()
        .await
        .expect("owner accepts");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = as_project(app, "p2", Method::PUT, &format!("{members}/p2"))
        .json(&json!({"status": "maybe"}))
        .send()
        .await
        .expect("bad status");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A reader of the member project sees the offer but may not answer it (Glance's
    // modify_member needs the member role).
    let r = app
        .request(Method::PUT, &format!("{members}/p2"))
        .header("X-Tenant-Id", "p2")
        .header("X-Roles", "reader")
        .json(&json!({"status": "accepted"}))
        .send()
        .await
        .expect("reader accepts");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = as_project(app, "p2", Method::PUT, &format!("{members}/p2"))
        .json(&json!({"status": "accepted"}))
        .send()
        .await
        .expect("accept");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(listed(app, "p2", "").await.contains(&id));
    // Who sees which memberships.
    let list: Value = as_project(app, "p2", Method::GET, &members)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["members"].as_array().expect("members").len(), 1);
    assert_eq!(list["schema"], "/v2/schemas/members");
    let r = as_project(app, "p3", Method::GET, &format!("{members}/p2"))
        .send()
        .await
        .expect("show");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The member cannot remove itself; the owner can, and then the image is gone for it.
    let r = as_project(app, "p2", Method::DELETE, &format!("{members}/p2"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = as_project(app, "p1", Method::DELETE, &format!("{members}/p2"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = as_project(app, "p2", Method::GET, &format!("/v2/images/{id}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Private images have no members.
    let r = as_project(app, "p1", Method::PATCH, &format!("/v2/images/{id}"))
        .header("Content-Type", crate::harness::PATCH_V21)
        .body(json!([{"op": "replace", "path": "/visibility", "value": "private"}]).to_string())
        .send()
        .await
        .expect("private");
    assert_eq!(r.status(), StatusCode::OK);
    let r = as_project(app, "p1", Method::POST, &members)
        .json(&json!({"member": "p2"}))
        .send()
        .await
        .expect("add");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
