//! Keystone's unified limits (`use_keystone_limits`), registered through a real Keystone's API:
//! creates, uploads and staging refused with 413 over a limit, a project's limit over the
//! registered default, changes taking effect at the next check, and `GET /v2/info/usage`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::keystone::Keystone;
use crate::harness::TestApp;

const MIB: usize = 1 << 20;

struct Caller<'a> {
    app: &'a TestApp,
    token: String,
}

impl Caller<'_> {
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .request(method, path)
            .header("X-Auth-Token", &self.token)
            .header("Accept", "application/json")
    }

    async fn create(&self, name: &str) -> (StatusCode, Value) {
        let r = self
            .request(Method::POST, "/v2/images")
            .json(&json!({"name": name, "disk_format": "raw", "container_format": "bare"}))
            .send()
            .await
            .expect("create");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn created(&self, name: &str) -> String {
        let (status, body) = self.create(name).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// Sends a MiB to `/file` or `/stage`, its length declared or (chunked) not.
    async fn send(&self, id: &str, what: &str, declared: bool) -> (StatusCode, String) {
        let data = vec![7u8; MIB];
        let body = match declared {
            true => reqwest::Body::from(data),
            false => reqwest::Body::wrap_stream(futures_util::stream::iter([Ok::<
                _,
                std::io::Error,
            >(data)])),
        };
        let r = self
            .request(Method::PUT, &format!("/v2/images/{id}/{what}"))
            .header("Content-Type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .expect("data");
        (r.status(), r.text().await.unwrap_or_default())
    }

    async fn usage(&self) -> Value {
        let r = self
            .request(Method::GET, "/v2/info/usage")
            .send()
            .await
            .expect("usage");
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.expect("json")["usage"].clone()
    }

    async fn status(&self, id: &str) -> String {
        let r = self
            .request(Method::GET, &format!("/v2/images/{id}"))
            .send()
            .await
            .expect("show");
        r.json::<Value>().await.expect("json")["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// `(limit, usage)` of each resource, in the order Glance lists them.
fn lines(usage: &Value) -> Vec<(i64, i64)> {
    [
        "image_size_total",
        "image_stage_total",
        "image_count_total",
        "image_count_uploading",
    ]
    .iter()
    .map(|r| {
        (
            usage[r]["limit"].as_i64().unwrap_or(i64::MIN),
            usage[r]["usage"].as_i64().unwrap_or(i64::MIN),
        )
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_unified_limits_decide_creates_uploads_and_staging() {
    let keystone = Keystone::start().await;
    let service = keystone.project("service").await;
    let small = keystone.project("small").await;
    let larger = keystone.project("larger").await;
    let glint_user = keystone
        .user("glint", "glint-pw", &service, "service")
        .await;
    // Reading every project's limits takes a role on the system, as Glance's user needs.
    let reader = keystone.role("reader").await;
    keystone
        .admin(
            Method::PUT,
            &format!("/system/users/{glint_user}/roles/{reader}"),
            None,
        )
        .await;
    keystone.user("alice", "alice-pw", &small, "member").await;
    keystone.user("bob", "bob-pw", &larger, "member").await;
    keystone
        .catalog("glance", "image", "http://127.0.0.1:9")
        .await;
    let services = keystone
        .admin(Method::GET, "/services?type=image", None)
        .await;
    let service_id = services["services"][0]["id"]
        .as_str()
        .expect("the image service")
        .to_string();
    for (resource, default) in [
        ("image_size_total", 1),
        ("image_stage_total", 1),
        ("image_count_total", 2),
        ("image_count_uploading", 1),
    ] {
        keystone
            .admin(
                Method::POST,
                "/registered_limits",
                Some(json!({"registered_limits": [{"service_id": service_id,
                    "region_id": "RegionOne", "resource_name": resource,
                    "default_limit": default}]})),
            )
            .await;
    }
    // The larger project: three images, and no limit on data.
    for (resource, limit) in [("image_count_total", 3), ("image_size_total", -1)] {
        keystone
            .admin(
                Method::POST,
                "/limits",
                Some(
                    json!({"limits": [{"service_id": service_id, "region_id": "RegionOne",
                    "project_id": larger, "resource_name": resource,
                    "resource_limit": limit}]}),
                ),
            )
            .await;
    }

    let glint = keystone.glint_config(60);
    let app = TestApp::sqlite_with(move |c| {
        c.insecure_noauth = false;
        c.keystone = Some(glint);
        c.keystone_limits = Some(glint_server::config::KeystoneLimitsConfig {
            endpoint_id: None,
            service_type: "image".into(),
            service_name: None,
            region_name: Some("RegionOne".into()),
            interface: "public".into(),
            cache_seconds: 0,
        });
    })
    .await;
    let alice = Caller {
        app: &app,
        token: keystone
            .token("alice", "alice-pw", "small")
            .await
            .expect("alice"),
    };
    let bob = Caller {
        app: &app,
        token: keystone
            .token("bob", "bob-pw", "larger")
            .await
            .expect("bob"),
    };

    // The registered defaults, and the larger project's own limits over them.
    assert_eq!(
        lines(&alice.usage().await),
        [(1, 0), (1, 0), (2, 0), (1, 0)]
    );
    assert_eq!(lines(&bob.usage().await), [(-1, 0), (1, 0), (3, 0), (1, 0)]);

    // Two images, then a third is over image_count_total, in oslo.limit's words.
    let first = alice.created("first").await;
    let second = alice.created("second").await;
    let (status, body) = alice.create("third").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let text = body.to_string();
    assert!(
        text.contains(&format!(
            "Project {small} is over a limit for [Resource image_count_total is over limit \
             of 2 due to current usage 2 and delta 1]"
        )),
        "{text}"
    );
    for i in 0..3 {
        bob.created(&format!("bob-{i}")).await;
    }
    assert_eq!(bob.create("bob-3").await.0, StatusCode::PAYLOAD_TOO_LARGE);
    // A limit set for the project counts at the next check.
    keystone
        .admin(
            Method::POST,
            "/limits",
            Some(
                json!({"limits": [{"service_id": service_id, "region_id": "RegionOne",
                "project_id": small, "resource_name": "image_count_total",
                "resource_limit": 4}]}),
            ),
        )
        .await;
    let third = alice.created("third").await;

    // image_size_total is 1 MiB: a MiB of unknown length goes in (usage 0, delta 0); a
    // declared MiB beyond it does not, and the image stays queued.
    assert_eq!(
        alice.send(&first, "file", false).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, text) = alice.send(&second, "file", true).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(
        text.contains(
            "Resource image_size_total is over limit of 1 due to current usage 1 and delta 1"
        ),
        "{text}"
    );
    assert_eq!(alice.status(&second).await, "queued");
    // At the limit, one more of unknown length still goes in (Glance's soft limit)...
    assert_eq!(
        alice.send(&second, "file", false).await.0,
        StatusCode::NO_CONTENT
    );
    // ...and then the project is over it.
    let fourth = alice.created("fourth").await;
    assert_eq!(
        alice.send(&fourth, "file", false).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(alice.status(&fourth).await, "queued");

    // Staging: one image taking data at a time (image_count_uploading 1).
    assert_eq!(
        alice.send(&third, "stage", false).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, text) = alice.send(&fourth, "stage", false).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(
        text.contains(
            "Resource image_count_uploading is over limit of 1 due to current usage 1 and delta 1"
        ),
        "{text}"
    );
    assert_eq!(alice.status(&fourth).await, "queued");
    // Two MiB stored, one staged, four images, one taking data.
    assert_eq!(
        lines(&alice.usage().await),
        [(1, 2), (1, 1), (4, 4), (1, 1)]
    );

    // Without a limit on data, bob's MiB goes in whatever its size.
    let (status, body) = bob.create("bob-data").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let r = bob
        .request(Method::GET, "/v2/images?name=bob-0")
        .send()
        .await
        .expect("list");
    let listed: Value = r.json().await.expect("json");
    let bob_image = listed["images"][0]["id"]
        .as_str()
        .expect("bob-0")
        .to_string();
    assert_eq!(
        bob.send(&bob_image, "file", true).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(lines(&bob.usage().await)[0], (-1, 1));
    app.stop().await;
}
