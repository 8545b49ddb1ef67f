//! The legacy v1 API, and the snapshot flow of Launchpad bug 901534 that must stay fixed.

use md5::{Digest, Md5};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

use crate::harness::{TestApp, on_both_databases};

on_both_databases!(snapshot_flow_of_bug_901534, v1_calls_and_header_edge_cases);

const REGISTERED: [(&str, &str); 7] = [
    ("backup_type", "daily"),
    ("image_type", "snapshot"),
    ("instance_ref", "http://nova/servers/42"),
    ("instance_uuid", "0a1b2c3d-0000-4000-8000-000000000042"),
    ("user_id", "u42"),
    ("key1", "value1"),
    ("key2", "value2"),
];

const UPLOADED: [(&str, &str); 5] = [
    ("image_location", "snapshot"),
    ("image_state", "available"),
    ("kernel_id", "6b8e1f0a-7c3d-4f2e-9a1b-2c3d4e5f0001"),
    ("ramdisk_id", "6b8e1f0a-7c3d-4f2e-9a1b-2c3d4e5f0002"),
    ("owner_id", "p1"),
];

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

fn property_headers(props: &[(&str, &str)]) -> Vec<(String, String)> {
    props
        .iter()
        .map(|(k, v)| (format!("x-image-meta-property-{k}"), v.to_string()))
        .collect()
}

async fn head(app: &TestApp, id: &str) -> HeaderMap {
    let r = app
        .request(Method::HEAD, &format!("/v1/images/{id}"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(r.status(), StatusCode::OK);
    r.headers().clone()
}

async fn snapshot_flow_of_bug_901534(app: &TestApp) {
    // 1. Nova registers the snapshot with its properties.
    let mut pairs: Vec<(String, String)> = vec![
        ("x-image-meta-name".into(), "image12345".into()),
        ("x-image-meta-status".into(), "queued".into()),
        ("x-image-meta-disk_format".into(), "raw".into()),
        ("x-image-meta-container_format".into(), "bare".into()),
        ("x-image-meta-is_public".into(), "False".into()),
    ];
    pairs.extend(property_headers(&REGISTERED));
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = app
        .request(Method::POST, "/v1/images")
        .headers(headers(&refs))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let created: Value = r.json().await.expect("json");
    let id = created["image"]["id"].as_str().expect("id").to_string();
    assert_eq!(location, format!("/v1/images/{id}"));
    assert_eq!(created["image"]["status"], "queued");

    // 2. It uploads the snapshot with more properties, and no purge header.
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let pairs = property_headers(&UPLOADED);
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = app
        .request(Method::PUT, &format!("/v1/images/{id}"))
        .headers(headers(&refs))
        .header("Content-Type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::OK);

    // 3. All twelve properties, through v1 and v2; none soft-deleted; the checksum matches.
    let h = head(app, &id).await;
    let v2 = app.show(&id).await;
    for (k, v) in REGISTERED.iter().chain(UPLOADED.iter()) {
        assert_eq!(
            h[format!("x-image-meta-property-{k}").as_str()],
            *v,
            "v1 {k}"
        );
        assert_eq!(v2[*k], *v, "v2 {k}");
    }
    let md5: String = Md5::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(h["x-image-meta-checksum"], md5.as_str());
    assert_eq!(h["x-image-meta-status"], "active");
    assert_eq!(v2["checksum"], json!(md5));
    let deleted = app
        .rows(
            "SELECT name FROM image_properties WHERE image_id = $1 AND deleted <> 0",
            &id,
        )
        .await;
    assert!(deleted.is_empty());

    // 4a. A metadata-only PUT with purge false purges nothing.
    let r = app
        .request(Method::PUT, &format!("/v1/images/{id}"))
        .header("x-image-meta-property-key1", "value1")
        .header("X-Glance-Registry-Purge-Props", "false")
        .send()
        .await
        .expect("merge");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["image"]["properties"]
            .as_object()
            .expect("props")
            .len(),
        12
    );

    // 4b. The preview shows exactly what a purge would delete, and deletes nothing.
    let r = app
        .request(Method::PUT, &format!("/v1/images/{id}"))
        .header("x-image-meta-property-key1", "value1")
        .header("X-Glance-Registry-Purge-Props", "true")
        .header("Prefer", "return=preview")
        .send()
        .await
        .expect("preview");
    let plan: Value = r.json().await.expect("plan");
    assert_eq!(plan["purge"], true);
    assert_eq!(plan["removed"].as_object().expect("removed").len(), 11);
    assert_eq!(
        head(app, &id)
            .await
            .keys()
            .filter(|k| k.as_str().starts_with("x-image-meta-property-"))
            .count(),
        12
    );

    // 4c. The purge itself: the others are soft-deleted with deleted_at.
    let r = app
        .request(Method::PUT, &format!("/v1/images/{id}"))
        .header("x-image-meta-property-key1", "value1")
        .header("X-Glance-Registry-Purge-Props", "true")
        .send()
        .await
        .expect("purge");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["image"]["properties"], json!({"key1": "value1"}));
    let purged = app
        .rows(
            "SELECT name, deleted_at FROM image_properties WHERE image_id = $1 AND deleted <> 0",
            &id,
        )
        .await;
    assert_eq!(purged.len(), 11);
    assert!(
        purged
            .iter()
            .all(|r| r.get::<Option<i64>, _>("deleted_at").is_some())
    );

    // The history shows them, and restoring the change brings every one back.
    let history: Value = app
        .get(&format!("/v2/images/{id}/history"))
        .await
        .json()
        .await
        .expect("history");
    let purge = history["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["purge"] == true)
        .expect("the purge is recorded")
        .clone();
    assert_eq!(purge["action"], "v1_put");
    assert_eq!(purge["removed"].as_object().expect("removed").len(), 11);
    let r = app
        .request(Method::POST, &format!("/v2/images/{id}/history/restore"))
        .json(&json!({"change": purge["id"]}))
        .send()
        .await
        .expect("restore");
    assert_eq!(r.status(), StatusCode::OK);
    let v2 = app.show(&id).await;
    for (k, v) in REGISTERED.iter().chain(UPLOADED.iter()) {
        assert_eq!(v2[*k], *v, "restored {k}");
    }
}

async fn v1_calls_and_header_edge_cases(app: &TestApp) {
    let r = app
        .request(Method::POST, "/v1/images")
        .header("x-image-meta-name", "edge")
        .header("x-image-meta-disk-format", "raw")
        .header("x-image-meta-container-format", "bare")
        .header("x-image-meta-property-plain", "x")
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.expect("json")["image"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let put = |hs: HeaderMap| {
        app.request(Method::PUT, &format!("/v1/images/{id}"))
            .header("X-Glance-Registry-Purge-Props", "false")
            .headers(hs)
    };
    // Non-ASCII values (raw UTF-8), percent-encoded values (python-glanceclient), empty values.
    let mut hs = HeaderMap::new();
    hs.insert(
        "x-image-meta-property-utf8",
        HeaderValue::from_bytes("Ubuntu Jammy – ü".as_bytes()).expect("bytes"),
    );
    hs.insert(
        "x-image-meta-property-encoded",
        HeaderValue::from_static("my%20image%2Fv2"),
    );
    hs.insert("x-image-meta-property-empty", HeaderValue::from_static(""));
    let r = put(hs).send().await.expect("put");
    assert_eq!(r.status(), StatusCode::OK);
    let v2 = app.show(&id).await;
    assert_eq!(v2["utf8"], "Ubuntu Jammy – ü");
    assert_eq!(v2["encoded"], "my image/v2");
    assert_eq!(v2["empty"], "");
    assert_eq!(v2["plain"], "x");
    // HEAD sends non-ASCII back percent-encoded, so headers stay ASCII.
    let h = head(app, &id).await;
    assert_eq!(
        h["x-image-meta-property-utf8"],
        "Ubuntu Jammy %E2%80%93 %C3%BC"
    );

    let mut bad_cases: Vec<(HeaderMap, u16, &str)> = Vec::new();
    let mut repeated = HeaderMap::new();
    repeated.append("x-image-meta-property-k", HeaderValue::from_static("1"));
    repeated.append("x-image-meta-property-k", HeaderValue::from_static("2"));
    bad_cases.push((repeated, 400, "more than once"));
    let mut invalid = HeaderMap::new();
    invalid.insert(
        "x-image-meta-property-bin",
        HeaderValue::from_bytes(&[0xff, 0xfe]).expect("bytes"),
    );
    bad_cases.push((invalid, 400, "not valid UTF-8"));
    let mut unknown = HeaderMap::new();
    unknown.insert("x-image-meta-colour", HeaderValue::from_static("red"));
    bad_cases.push((unknown, 400, "Bad header"));
    let mut long = HeaderMap::new();
    long.insert(
        "x-image-meta-property-long",
        HeaderValue::from_str(&"v".repeat(65_536)).expect("value"),
    );
    bad_cases.push((long, 400, "longer than 65535"));
    let mut copy = HeaderMap::new();
    copy.insert(
        "x-glance-api-copy-from",
        HeaderValue::from_static("http://example.com/x.img"),
    );
    bad_cases.push((copy, 400, "is not supported"));
    let mut ram = HeaderMap::new();
    ram.insert("x-image-meta-min-ram", HeaderValue::from_static("-5"));
    bad_cases.push((ram, 400, "out of range"));
    for (hs, status, needle) in bad_cases {
        let r = put(hs)
            .header("Accept", "application/json")
            .send()
            .await
            .expect("put");
        assert_eq!(r.status().as_u16(), status, "{needle}");
        let body: Value = r.json().await.expect("json error");
        assert!(
            body["message"].as_str().expect("message").contains(needle),
            "{body}"
        );
    }
    // Headers beyond the server's limit: refused before any handler runs, never a 500.
    let r = put(headers(&[(
        "x-image-meta-property-huge",
        &"h".repeat(600_000),
    )]))
    .send()
    .await;
    if let Ok(r) = r {
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    assert_eq!(app.show(&id).await["plain"], "x", "nothing changed");

    // Data: a wrong checksum is refused and the image stays queued; then the right upload.
    let r = app
        .request(Method::PUT, &format!("/v1/images/{id}"))
        .header("Content-Type", "application/octet-stream")
        .header("x-image-meta-checksum", "00000000000000000000000000000000")
        .body("hello")
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    crate::data::wait_for_status(app, &id, "queued").await;
    let r = app
        .request(Method::PUT, &format!("/v1/images/{id}"))
        .header("Content-Type", "application/octet-stream")
        .header("x-image-meta-checksum", "5d41402abc4b2a76b9719d911017c592")
        .body("hello")
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .request(Method::PUT, &format!("/v1/images/{id}"))
        .header("Content-Type", "application/octet-stream")
        .body("again")
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = app.get(&format!("/v1/images/{id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-image-meta-size"], "5");
    assert_eq!(r.bytes().await.expect("data").as_ref(), b"hello");

    // Lists.
    let brief: Value = app
        .get("/v1/images?name=edge")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(brief["images"].as_array().expect("images").len(), 1);
    assert_eq!(
        brief["images"][0]["checksum"],
        "5d41402abc4b2a76b9719d911017c592"
    );
    assert!(brief["images"][0].get("properties").is_none());
    let detail: Value = app
        .get("/v1/images/detail?property-plain=x")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(detail["images"][0]["properties"]["plain"], "x");
    assert_eq!(detail["images"][0]["is_public"], false);
    assert_eq!(
        app.get("/v1/images?sort_dir=up").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/v1/images?marker=nope").await.status(),
        StatusCode::BAD_REQUEST
    );

    // Members.
    let members = |path: String| app.request(Method::PUT, &path);
    let r = members(format!("/v1/images/{id}/members/p2"))
        .send()
        .await
        .expect("add");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = members(format!("/v1/images/{id}/members/p3"))
        .json(&json!({"member": {"can_share": true}}))
        .send()
        .await
        .expect("add");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let list: Value = app
        .get(&format!("/v1/images/{id}/members"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        list,
        json!({"members": [{"member_id": "p2", "can_share": false}, {"member_id": "p3", "can_share": true}]})
    );
    let shared: Value = app
        .request(Method::GET, "/v1/shared-images/p3")
        .header("X-Tenant-Id", "p3")
        .header("X-Roles", "member")
        .send()
        .await
        .expect("shared")
        .json()
        .await
        .expect("json");
    assert_eq!(
        shared,
        json!({"shared_images": [{"image_id": id, "can_share": true}]})
    );
    let r = members(format!("/v1/images/{id}/members"))
        .json(
            &json!({"memberships": [{"member_id": "p3"}, {"member_id": "p4", "can_share": false}]}),
        )
        .send()
        .await
        .expect("replace");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let list: Value = app
        .get(&format!("/v1/images/{id}/members"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        list,
        json!({"members": [{"member_id": "p3", "can_share": true}, {"member_id": "p4", "can_share": false}]}),
        "p2 removed, p3 kept as it was, p4 added"
    );
    // A member project sees its own membership only, as in v2.
    let seen: Value = app
        .request(Method::GET, &format!("/v1/images/{id}/members"))
        .header("X-Tenant-Id", "p4")
        .header("X-Roles", "member,reader")
        .send()
        .await
        .expect("members as p4")
        .json()
        .await
        .expect("json");
    assert_eq!(
        seen,
        json!({"members": [{"member_id": "p4", "can_share": false}]})
    );
    let r = app
        .request(Method::DELETE, &format!("/v1/images/{id}/members/p2"))
        .send()
        .await
        .expect("delete member");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = members(format!("/v1/images/{id}/members"))
        .json(&json!({"members": []}))
        .send()
        .await
        .expect("replace");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Delete answers 200; then 404.
    let r = app
        .request(Method::DELETE, &format!("/v1/images/{id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .request(Method::HEAD, &format!("/v1/images/{id}"))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
