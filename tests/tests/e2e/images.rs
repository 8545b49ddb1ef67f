//! Metadata: create, show, update, status transitions, ETags, dry runs, history and restore,
//! concurrent updates.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

use crate::harness::{PATCH_V21, TestApp, on_both_databases};

on_both_databases!(
    seed_flow_keeps_properties_through_upload,
    status_transitions,
    etag_and_if_match,
    dry_run_changes_nothing,
    history_soft_deletes_and_restores,
    concurrent_patches_lose_nothing,
    tags_and_protection,
);

/// Nova's snapshot flow, through v2: register with properties, upload, nothing lost.
async fn seed_flow_keeps_properties_through_upload(app: &TestApp) {
    let image = app
        .create(json!({
            "name": "image12345",
            "disk_format": "raw",
            "container_format": "bare",
            "backup_type": "daily",
            "image_type": "snapshot",
            "instance_uuid": "0a1b2c3d-0000-4000-8000-000000000042",
            "user_id": "u42",
            "key1": "value1",
            "key2": "value2",
        }))
        .await;
    let id = image["id"].as_str().expect("id");
    assert_eq!(image["status"], "queued");
    assert_eq!(image["visibility"], "shared");
    let data = vec![7u8; 64 * 1024];
    let r = app.upload(id, data.clone()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after = app.show(id).await;
    assert_eq!(after["status"], "active");
    assert_eq!(after["size"], 65536);
    for (k, v) in [
        ("backup_type", "daily"),
        ("image_type", "snapshot"),
        ("instance_uuid", "0a1b2c3d-0000-4000-8000-000000000042"),
        ("user_id", "u42"),
        ("key1", "value1"),
        ("key2", "value2"),
    ] {
        assert_eq!(after[k], v, "{k} after upload");
    }
    let deleted = app
        .rows(
            "SELECT name FROM image_properties WHERE image_id = $1 AND deleted <> 0",
            id,
        )
        .await;
    assert!(
        deleted.is_empty(),
        "no property may be soft-deleted by an upload"
    );
}

async fn status_transitions(app: &TestApp) {
    let id = app
        .create(json!({"name": "s", "disk_format": "raw", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    // queued: no data, cannot be deactivated.
    let r = app.get(&format!("/v2/images/{id}/file")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .request(Method::POST, &format!("/v2/images/{id}/actions/deactivate"))
        .send()
        .await
        .expect("deactivate");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // queued -> active by upload; a second upload is refused.
    assert_eq!(
        app.upload(&id, "abc").await.status(),
        StatusCode::NO_CONTENT
    );
    let r = app.upload(&id, "abc").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let text = r.text().await.expect("body");
    assert!(
        text.contains("from active to saving is not allowed"),
        "{text}"
    );
    // active <-> deactivated; deactivated data is forbidden to non-admins.
    for (action, status) in [("deactivate", "deactivated"), ("deactivate", "deactivated")] {
        let r = app
            .request(Method::POST, &format!("/v2/images/{id}/actions/{action}"))
            .send()
            .await
            .expect("action");
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.show(&id).await["status"], status);
    }
    let r = app
        .patch(
            &id,
            json!([{"op": "replace", "path": "/owner", "value": "p1"}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .request(Method::GET, &format!("/v2/images/{id}/file"))
        .header("X-Tenant-Id", "p1")
        .header("X-Roles", "member,reader")
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.get(&format!("/v2/images/{id}/file")).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "admins may download deactivated data"
    );
    let r = app
        .request(Method::POST, &format!("/v2/images/{id}/actions/reactivate"))
        .send()
        .await
        .expect("reactivate");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.show(&id).await["status"], "active");
    // Formats are frozen once data is there.
    let r = app
        .patch(
            &id,
            json!([{"op": "replace", "path": "/disk_format", "value": "qcow2"}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // delete -> 404, twice.
    let r = app
        .request(Method::DELETE, &format!("/v2/images/{id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/v2/images/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = app
        .request(Method::DELETE, &format!("/v2/images/{id}"))
        .send()
        .await
        .expect("delete again");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        app.stored_files().is_empty(),
        "the data went with the image"
    );
    // Upload without formats.
    let bare = app.create(json!({"name": "no formats"})).await;
    let r = app.upload(bare["id"].as_str().expect("id"), "x").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("disk_format, container_format must be set")
    );
}

async fn etag_and_if_match(app: &TestApp) {
    let r = app
        .request(Method::POST, "/v2/images")
        .json(&json!({"name": "e", "disk_format": "raw", "container_format": "bare", "a": "1"}))
        .send()
        .await
        .expect("create");
    let etag = r.headers()["etag"].to_str().expect("etag").to_string();
    let id = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let show = app.get(&format!("/v2/images/{id}")).await;
    assert_eq!(show.headers()["etag"].to_str().expect("etag"), etag);
    let ok = app
        .request(Method::PATCH, &format!("/v2/images/{id}"))
        .header("Content-Type", PATCH_V21)
        .header("If-Match", &etag)
        .body(json!([{"op": "replace", "path": "/a", "value": "2"}]).to_string())
        .send()
        .await
        .expect("patch");
    assert_eq!(ok.status(), StatusCode::OK);
    let new_etag = ok.headers()["etag"].to_str().expect("etag").to_string();
    assert_ne!(new_etag, etag);
    let stale = app
        .request(Method::PATCH, &format!("/v2/images/{id}"))
        .header("Content-Type", PATCH_V21)
        .header("If-Match", &etag)
        .body(json!([{"op": "replace", "path": "/a", "value": "3"}]).to_string())
        .send()
        .await
        .expect("patch");
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.show(&id).await["a"], "2");
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/file"))
        .header("Content-Type", "application/octet-stream")
        .header("If-Match", &etag)
        .body("data")
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.show(&id).await["status"], "queued");
}

async fn dry_run_changes_nothing(app: &TestApp) {
    let id = app.create(json!({"name": "d", "a": "1", "b": "2"})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let ops = json!([
        {"op": "remove", "path": "/a"},
        {"op": "replace", "path": "/b", "value": "20"},
        {"op": "add", "path": "/c", "value": "3"},
        {"op": "add", "path": "/os_glance_x", "value": "3"},
    ]);
    for (header, query) in [(Some("return=preview"), ""), (None, "?dry_run=true")] {
        let mut req = app
            .request(Method::PATCH, &format!("/v2/images/{id}{query}"))
            .header("Content-Type", PATCH_V21)
            .body(ops.to_string());
        if let Some(h) = header {
            req = req.header("Prefer", h);
        }
        let r = req.send().await.expect("preview");
        assert_eq!(r.status(), StatusCode::OK);
        let plan: Value = r.json().await.expect("plan");
        assert_eq!(plan["removed"], json!({"a": "1"}));
        assert_eq!(plan["changed"], json!({"b": {"old": "2", "new": "20"}}));
        assert_eq!(plan["added"], json!({"c": "3"}));
        assert_eq!(plan["violations"][0]["status"], 403);
        assert_eq!(plan["violations"][0]["key"], "os_glance_x");
    }
    let image = app.show(&id).await;
    assert_eq!(
        (image["a"].clone(), image["b"].clone()),
        (json!("1"), json!("2"))
    );
    assert!(image.get("c").is_none());
    // The same request for real is refused as the preview said.
    assert_eq!(app.patch(&id, ops).await.status(), StatusCode::FORBIDDEN);
}

async fn history_soft_deletes_and_restores(app: &TestApp) {
    let id = app
        .create(json!({"name": "h", "a": "1", "b": "2", "c": "3"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = app
        .patch(
            &id,
            json!([{"op": "remove", "path": "/a"}, {"op": "remove", "path": "/b"}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Soft-deleted rows carry deleted_at.
    let rows = app
        .rows(
            "SELECT name, deleted_at FROM image_properties WHERE image_id = $1 AND deleted <> 0 ORDER BY name",
            &id,
        )
        .await;
    let names: Vec<String> = rows.iter().map(|r| r.get::<String, _>("name")).collect();
    assert_eq!(names, ["a", "b"]);
    for row in &rows {
        assert!(
            row.get::<Option<i64>, _>("deleted_at").is_some(),
            "deleted_at is set"
        );
    }
    let history: Value = app
        .get(&format!("/v2/images/{id}/history"))
        .await
        .json()
        .await
        .expect("history");
    let changes = history["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1]["action"], "patch");
    assert_eq!(changes[1]["removed"], json!({"a": "1", "b": "2"}));
    let removed: Vec<&Value> = history["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .filter(|p| p["deleted"] == true)
        .collect();
    assert_eq!(removed.len(), 2);
    assert!(removed.iter().all(|p| p["deleted_at"].is_string()));
    // Preview, then restore one key by name and the rest by change id.
    let preview = app
        .request(Method::POST, &format!("/v2/images/{id}/history/restore"))
        .header("Prefer", "return=preview")
        .json(&json!({"properties": ["a"]}))
        .send()
        .await
        .expect("preview");
    assert_eq!(
        preview.json::<Value>().await.expect("plan")["added"],
        json!({"a": "1"})
    );
    assert!(app.show(&id).await.get("a").is_none());
    let r = app
        .request(Method::POST, &format!("/v2/images/{id}/history/restore"))
        .json(&json!({"properties": ["a"]}))
        .send()
        .await
        .expect("restore");
    assert_eq!(r.status(), StatusCode::OK);
    let change_id = changes[1]["id"].clone();
    let r = app
        .request(Method::POST, &format!("/v2/images/{id}/history/restore"))
        .json(&json!({"change": change_id}))
        .send()
        .await
        .expect("restore");
    assert_eq!(r.status(), StatusCode::OK);
    let image = app.show(&id).await;
    assert_eq!(
        (image["a"].clone(), image["b"].clone(), image["c"].clone()),
        (json!("1"), json!("2"), json!("3"))
    );
    // Restoring what is not removed, or was never set, says so.
    let r = app
        .request(Method::POST, &format!("/v2/images/{id}/history/restore"))
        .json(&json!({"properties": ["c"]}))
        .send()
        .await
        .expect("restore");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = app
        .request(Method::POST, &format!("/v2/images/{id}/history/restore"))
        .json(&json!({"properties": ["zz"]}))
        .send()
        .await
        .expect("restore");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let history: Value = app
        .get(&format!("/v2/images/{id}/history"))
        .await
        .json()
        .await
        .expect("history");
    assert_eq!(history["changes"].as_array().expect("changes").len(), 4);
    assert_eq!(history["changes"][3]["action"], "restore");
}

/// Eight clients each add their own keys to one image at once; every key lands.
async fn concurrent_patches_lose_nothing(app: &TestApp) {
    let id = app.create(json!({"name": "busy"})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let mut tasks = Vec::new();
    for client in 0..8 {
        let client_app = (app.client.clone(), app.url(&format!("/v2/images/{id}")));
        tasks.push(tokio::spawn(async move {
            let (http, url) = client_app;
            for i in 0..6 {
                let r = http
                    .patch(&url)
                    .header("Content-Type", PATCH_V21)
                    .body(
                        json!([{"op": "add", "path": format!("/c{client}_{i}"), "value": format!("{i}")}])
                            .to_string(),
                    )
                    .send()
                    .await
                    .expect("patch");
                assert_eq!(r.status(), StatusCode::OK);
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let image = app.show(&id).await;
    for client in 0..8 {
        for i in 0..6 {
            assert_eq!(
                image[format!("c{client}_{i}")],
                json!(format!("{i}")),
                "c{client}_{i}"
            );
        }
    }
}

async fn tags_and_protection(app: &TestApp) {
    let id = app.create(json!({"name": "t", "tags": ["a"]})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    for tag in ["b", "b", "gabe%40example.com"] {
        let r = app
            .request(Method::PUT, &format!("/v2/images/{id}/tags/{tag}"))
            .send()
            .await
            .expect("tag");
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(
        app.show(&id).await["tags"],
        json!(["a", "b", "gabe@example.com"])
    );
    let r = app
        .request(Method::DELETE, &format!("/v2/images/{id}/tags/a"))
        .send()
        .await
        .expect("untag");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .request(Method::DELETE, &format!("/v2/images/{id}/tags/a"))
        .send()
        .await
        .expect("untag");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let long = "x".repeat(256);
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/tags/{long}"))
        .send()
        .await
        .expect("tag");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // protected blocks delete until unprotected.
    assert_eq!(
        app.patch(
            &id,
            json!([{"op": "replace", "path": "/protected", "value": true}])
        )
        .await
        .status(),
        StatusCode::OK
    );
    let r = app
        .request(Method::DELETE, &format!("/v2/images/{id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("is protected and cannot be deleted")
    );
    app.patch(
        &id,
        json!([{"op": "replace", "path": "/protected", "value": false}]),
    )
    .await;
    let r = app
        .request(Method::DELETE, &format!("/v2/images/{id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}
