//! Image locations (Glance's `show_multiple_locations` and the 2.17 locations API): http(s)
//! locations added through the import guard, validation data, activation from a location,
//! reading the data from it, the replace and remove rules, and the location import task that
//! hashes the data and checks it.

use md5::Digest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::harness::{PATCH_V21, TestApp};
use super::webdownload::source;
use glint_server::config::StoreConfig;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn patch(
    app: &TestApp,
    who: Option<(&str, &str)>,
    id: &str,
    ops: Value,
) -> (StatusCode, Value) {
    let mut r = app
        .request(Method::PATCH, &format!("/v2/images/{id}"))
        .header("Content-Type", PATCH_V21)
        .body(ops.to_string());
    if let Some((project, roles)) = who {
        r = r.header("X-Tenant-Id", project).header("X-Roles", roles);
    }
    let r = r.send().await.expect("PATCH");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_are_guarded_validated_and_read_sqlite() {
    locations_are_guarded_validated_and_read(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_are_guarded_validated_and_read_postgres() {
    locations_are_guarded_validated_and_read(true).await;
}

async fn locations_are_guarded_validated_and_read(postgres: bool) {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let port = source(vec![
        ("/disk.raw", data.clone()),
        ("/other.raw", b"other".to_vec()),
    ])
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let configure = move |c: &mut glint_server::Config| {
        c.show_multiple_locations = true;
        c.import_filter.exceptions = vec![format!("127.0.0.1:{port}")];
        let fs = |id: &str| StoreConfig {
            id: id.into(),
            kind: glint_server::config::StoreKind::Fs,
            path: None,
            description: None,
            weight: 10,
            read_only: false,
            ..glint_server::config::StoreConfig::new("", glint_server::config::StoreKind::Fs)
        };
        c.stores = vec![
            fs("local"),
            StoreConfig {
                id: "web".into(),
                kind: glint_server::config::StoreKind::Http,
                path: None,
                description: None,
                weight: 0,
                read_only: false,
                ..glint_server::config::StoreConfig::new("", glint_server::config::StoreKind::Fs)
            },
        ];
    };
    let app_owned = match postgres {
        true => TestApp::postgres_with(configure).await,
        false => TestApp::sqlite_with(configure).await,
    };
    let app = &app_owned;
    let owner = Some(("p1", "member,reader"));
    let create =
        |name: &str| json!({"name": name, "disk_format": "raw", "container_format": "bare"});

    // Locations are shown; a new one must be http(s) and pass the guard.
    let (_, image) = app
        .call(owner, Method::POST, "/v2/images", Some(create("loc")))
        .await;
    let id = image["id"].as_str().expect("id").to_string();
    assert_eq!(image["locations"], json!([]));
    let (_, stores) = app.call(owner, Method::GET, "/v2/info/stores", None).await;
    assert_eq!(
        stores["stores"][1],
        json!({"id": "web", "read-only": "true"})
    );
    for (url, why) in [
        ("gopher://info.cern.ch", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://169.254.169.254/latest", "does not pass filtering"),
        ("http://127.0.0.1:1/x", "does not pass filtering"),
    ] {
        let (status, body) = patch(
            app,
            owner,
            &id,
            json!([{"op": "add", "path": "/locations/-",
            "value": {"url": url, "metadata": {}}}]),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert!(body.to_string().contains(why), "{url}: {body}");
    }

    // Adding one activates the image, sized from the source; its data is read from there.
    let url = format!("{base}/disk.raw");
    let (status, body) = patch(
        app,
        owner,
        &id,
        json!([{"op": "add", "path": "/locations/-",
        "value": {"url": url, "metadata": {"foo": "bar"}}}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    assert_eq!(body["size"], data.len());
    assert_eq!(body["stores"], "web");
    assert_eq!(body["locations"][0]["metadata"]["foo"], "bar");
    assert!(body["os_hash_value"].is_null());
    let file = app.get(&format!("/v2/images/{id}/file")).await;
    assert_eq!(file.status(), StatusCode::OK);
    let got = file.bytes().await.expect("data");
    assert!(
        got.as_ref() == data.as_slice(),
        "the data read from the location differs"
    );

    // A second location; replacing may change metadata, not which locations there are.
    let second = format!("{base}/disk.raw#new");
    let (status, _) = patch(
        app,
        owner,
        &id,
        json!([{"op": "add", "path": "/locations/-",
        "value": {"url": second, "metadata": {"speed": "88mph"}}}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = patch(
        app,
        owner,
        &id,
        json!([{"op": "replace", "path": "/locations",
        "value": [{"url": url, "metadata": {"foo": "baz"}}, {"url": second, "metadata": {}}]}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for value in [
        json!([{"url": url, "metadata": {}}]),
        json!([{"url": url, "metadata": {}}, {"url": format!("{base}/other.raw"), "metadata": {}}]),
    ] {
        let (status, _) = patch(
            app,
            owner,
            &id,
            json!([{"op": "replace", "path": "/locations", "value": value}]),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let shown = app.show(&id).await;
    assert_eq!(
        shown["locations"][0]["metadata"],
        json!({"foo": "baz", "store": "web"})
    );
    // Removing: administrators only, never the last one.
    let (status, _) = patch(
        app,
        owner,
        &id,
        json!([{"op": "remove", "path": "/locations/0"}]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = patch(
        app,
        None,
        &id,
        json!([{"op": "remove", "path": "/locations/0"}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = patch(
        app,
        None,
        &id,
        json!([{"op": "remove", "path": "/locations/0"}]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the last location stays");

    // Validation data becomes the image's checksums, and must agree with them after.
    let (_, image) = app
        .call(owner, Method::POST, "/v2/images", Some(create("hashed")))
        .await;
    let hashed = image["id"].as_str().expect("id").to_string();
    let given = json!({"checksum": "1".repeat(32), "os_hash_algo": "sha512",
        "os_hash_value": "deadbeef".repeat(16)});
    let (status, body) = patch(
        app,
        owner,
        &hashed,
        json!([{"op": "add", "path": "/locations/-",
        "value": {"url": url, "metadata": {}, "validation_data": given}}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checksum"], "1".repeat(32));
    assert_eq!(body["os_hash_value"], "deadbeef".repeat(16));
    assert!(body["locations"][0].get("validation_data").is_none());
    let (status, _) = patch(app, owner, &hashed, json!([{"op": "add", "path": "/locations/-",
        "value": {"url": second, "metadata": {}, "validation_data": {"checksum": "2".repeat(32)}}}])).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The locations API: the server hashes the data and checks it against what it is told.
    let sha256 = hex(&sha2::Sha256::digest(&data));
    let (_, image) = app
        .call(owner, Method::POST, "/v2/images", Some(create("imported")))
        .await;
    let imported = image["id"].as_str().expect("id").to_string();
    let post = |id: &str, body: Value| {
        let path = format!("/v2/images/{id}/locations");
        async move { app.call(owner, Method::POST, &path, Some(body)).await }
    };
    for bad in [
        json!({"url": url, "validation_data": {"os_hash_algo": "sha512", "os_hash_value": "abc"}}),
        json!({"url": url, "validation_data": {"os_hash_value": sha256}}),
        json!({"url": url, "validation_data": {"os_hash_algo": "sha123", "os_hash_value": sha256}}),
        json!({"url": url, "validation_data": {"os_hash_algo": "sha512", "os_hash_value": sha256}}),
        json!({"url": "gopher://x"}),
        json!({"url": "http://10.0.0.1/x"}),
    ] {
        let (status, body) = post(&imported, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, _) = post(
        &imported,
        json!({"url": url,
        "validation_data": {"os_hash_algo": "sha256", "os_hash_value": sha256}}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let task = app.ended_task(&imported, 1).await;
    assert_eq!(
        (task["type"].as_str(), task["status"].as_str()),
        (Some("location_import"), Some("success")),
        "{task}"
    );
    let image = app.show(&imported).await;
    assert_eq!(image["status"], "active");
    assert_eq!(image["os_hash_algo"], "sha256");
    assert_eq!(image["os_hash_value"], sha256);
    assert_eq!(image["checksum"], hex(&md5::Md5::digest(&data)));
    assert_eq!(image["size"], data.len());
    let (status, _) = post(&imported, json!({"url": url})).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "only a queued image takes one"
    );
    // Data that does not hash as said: the task fails, the image is queued with its location.
    let (_, image) = app
        .call(owner, Method::POST, "/v2/images", Some(create("wrong")))
        .await;
    let wrong = image["id"].as_str().expect("id").to_string();
    let (status, _) = post(
        &wrong,
        json!({"url": url,
        "validation_data": {"os_hash_algo": "sha512", "os_hash_value": "beefdead".repeat(16)}}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(app.ended_task(&wrong, 1).await["status"], "failure");
    super::data::wait_for_status(app, &wrong, "queued").await;
    let image = app.show(&wrong).await;
    assert!(image["os_hash_value"].is_null() && image["checksum"].is_null());
    assert_eq!(image["stores"], "web");
    // Listing locations is for services.
    let (status, _) = app
        .call(
            owner,
            Method::GET,
            &format!("/v2/images/{imported}/locations"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, list) = app
        .call(
            None,
            Method::GET,
            &format!("/v2/images/{imported}/locations"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["url"], json!(url));

    // Another image's data in a file store is not anyone's to claim by its URL.
    let (_, theirs) = app
        .call(owner, Method::POST, "/v2/images", Some(create("theirs")))
        .await;
    let theirs = theirs["id"].as_str().expect("id").to_string();
    assert_eq!(
        app.upload(&theirs, data.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    let (_, list) = app
        .call(
            None,
            Method::GET,
            &format!("/v2/images/{theirs}/locations"),
            None,
        )
        .await;
    let file_url = list[0]["url"].as_str().expect("a file URL").to_string();
    assert!(file_url.starts_with("file://"), "{file_url}");
    let (_, mine) = app
        .call(owner, Method::POST, "/v2/images", Some(create("mine")))
        .await;
    let mine = mine["id"].as_str().expect("id").to_string();
    let (status, body) = post(&mine, json!({"url": file_url})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(app.show(&mine).await["status"], "queued");
    app_owned.stop().await;
}
