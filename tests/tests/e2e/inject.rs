//! `inject_image_metadata`: properties the deployment sets on images that users without an
//! ignored role import (glance-direct, web-download), shown by the import's dry run, recorded
//! in the image's history as the deployment's change; an administrator's import and a plain
//! upload get none.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::data::wait_for_status;
use crate::harness::TestApp;

const MEMBER: (&str, &str) = ("p1", "member,reader");

async fn staged(app: &TestApp, who: Option<(&str, &str)>, name: &str) -> String {
    let (status, image) = app
        .call(
            who,
            Method::POST,
            "/v2/images",
            Some(
                json!({"name": name, "disk_format": "raw", "container_format": "bare",
                        "support_contact": "me"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{image}");
    let id = image["id"].as_str().expect("id").to_string();
    let mut r = app
        .request(Method::PUT, &format!("/v2/images/{id}/stage"))
        .header("Content-Type", "application/octet-stream")
        .body(vec![5u8; 4096]);
    if let Some((project, roles)) = who {
        r = r.header("X-Tenant-Id", project).header("X-Roles", roles);
    }
    assert_eq!(
        r.send().await.expect("stage").status(),
        StatusCode::NO_CONTENT
    );
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_by_users_get_the_deployments_properties() {
    let app = TestApp::sqlite_with(|c| {
        c.inject_metadata_properties = [
            ("support_contact", "cloud-ops@example.org"),
            ("billing_class", "user-image"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        c.inject_ignore_user_roles = vec!["admin".into()];
    })
    .await;
    let import = json!({"method": {"name": "glance-direct"}});

    // A member's import: the dry run says what will be set, the import sets it.
    let id = staged(&app, Some(MEMBER), "users").await;
    let (status, plan) = app
        .call(
            Some(MEMBER),
            Method::POST,
            &format!("/v2/images/{id}/import?dry_run=true"),
            Some(import.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(
        plan["injected"],
        json!({"billing_class": "user-image", "support_contact": "cloud-ops@example.org"})
    );
    let (status, body) = app
        .call(
            Some(MEMBER),
            Method::POST,
            &format!("/v2/images/{id}/import"),
            Some(import.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_for_status(&app, &id, "active").await;
    let image = app.show(&id).await;
    assert_eq!(image["support_contact"], "cloud-ops@example.org");
    assert_eq!(image["billing_class"], "user-image");
    // The history tells it as the deployment's change; the user's value can be restored.
    let (_, history) = app
        .call(
            Some(MEMBER),
            Method::GET,
            &format!("/v2/images/{id}/history"),
            None,
        )
        .await;
    let injected = history["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["action"] == "inject")
        .unwrap_or_else(|| panic!("no inject change: {history}"));
    assert!(injected["project_id"].is_null(), "{injected}");
    assert_eq!(
        injected["added"]["billing_class"], "user-image",
        "{injected}"
    );
    assert_eq!(
        injected["changed"]["support_contact"]["old"], "me",
        "{injected}"
    );

    // An administrator's import, and a plain upload: nothing injected.
    let id = staged(&app, None, "admins").await;
    let (_, plan) = app
        .call(
            None,
            Method::POST,
            &format!("/v2/images/{id}/import?dry_run=true"),
            Some(import.clone()),
        )
        .await;
    assert_eq!(plan["injected"], json!({}));
    let (status, _) = app
        .call(
            None,
            Method::POST,
            &format!("/v2/images/{id}/import"),
            Some(import.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    wait_for_status(&app, &id, "active").await;
    let image = app.show(&id).await;
    assert_eq!(image["support_contact"], "me");
    assert!(image.get("billing_class").is_none(), "{image}");
    let (_, uploaded) = app
        .call(
            Some(MEMBER),
            Method::POST,
            "/v2/images",
            Some(json!({"name": "upload", "disk_format": "raw", "container_format": "bare"})),
        )
        .await;
    let up = uploaded["id"].as_str().expect("id").to_string();
    let r = app
        .request(Method::PUT, &format!("/v2/images/{up}/file"))
        .header("X-Tenant-Id", MEMBER.0)
        .header("X-Roles", MEMBER.1)
        .header("Content-Type", "application/octet-stream")
        .body(vec![1u8; 100])
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let image: Value = app.show(&up).await;
    assert!(image.get("billing_class").is_none(), "{image}");
    app.stop().await;
}
