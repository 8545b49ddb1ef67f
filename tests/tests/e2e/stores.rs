//! Several stores (Glance's multi-store): listing them, choosing one for an upload, importing
//! into several at once, copy-image between them, deleting from one, reading from the
//! heaviest, and one import at a time per image.

use md5::Digest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::harness::{TestApp, list_files};
use glint_server::config::StoreConfig;

fn store(id: &str, weight: i64, read_only: bool) -> StoreConfig {
    StoreConfig {
        id: id.into(),
        kind: glint_server::config::StoreKind::Fs,
        path: None,
        description: Some(format!("The {id} store")),
        weight,
        read_only,
        ..StoreConfig::new(id, glint_server::config::StoreKind::Fs)
    }
}

fn multi_store(c: &mut glint_server::Config) {
    c.stores = vec![
        store("slow", 10, false),
        store("fast", 100, false),
        store("archive", 0, true),
    ];
    c.default_store = Some("fast".into());
}

/// Runs a test of several stores once on SQLite and once on PostgreSQL.
macro_rules! on_both_databases_with_stores {
    ($($f:ident),* $(,)?) => {$(
        mod $f {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$f(crate::harness::TestApp::sqlite_with(super::multi_store).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$f(crate::harness::TestApp::postgres_with(super::multi_store).await).await;
            }
        }
    )*};
}

on_both_databases_with_stores!(
    stores_are_listed_chosen_copied_and_emptied,
    imports_into_several_stores_all_or_some,
);

fn files_in(app: &TestApp, store: &str) -> Vec<String> {
    list_files(&app.data.0.join("stores").join(store))
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains(".partial"))
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect()
}

async fn new_image(app: &TestApp) -> String {
    app.create(json!({"name": "multi", "disk_format": "raw", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn import(
    app: &TestApp,
    who: Option<(&str, &str)>,
    id: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.call(
        who,
        Method::POST,
        &format!("/v2/images/{id}/import"),
        Some(body),
    )
    .await
}

async fn stage(app: &TestApp, id: &str, data: &[u8]) {
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/stage"))
        .header("Content-Type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .expect("stage");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

async fn stores_are_listed_chosen_copied_and_emptied(app: TestApp) {
    let member = Some(("p1", "member,reader"));

    // Discovery.
    let (status, info) = app.call(member, Method::GET, "/v2/info/stores", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        info["stores"],
        json!([
            {"id": "slow", "description": "The slow store"},
            {"id": "fast", "description": "The fast store", "default": "true"},
            {"id": "archive", "description": "The archive store", "read-only": "true"}
        ])
    );
    let (status, _) = app
        .call(member, Method::GET, "/v2/info/stores/detail", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, detail) = app
        .call(None, Method::GET, "/v2/info/stores/detail", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["stores"][1]["type"], "file");
    assert_eq!(detail["stores"][1]["weight"], 100);
    let (_, methods) = app.call(None, Method::GET, "/v2/info/import", None).await;
    assert_eq!(
        methods["import-methods"]["value"],
        json!(["glance-direct", "web-download", "copy-image"])
    );
    let r = app
        .request(Method::POST, "/v2/images")
        .json(&json!({"name": "h"}))
        .send()
        .await
        .expect("create");
    assert_eq!(
        r.headers()["openstack-image-store-ids"].to_str().ok(),
        Some("slow,fast")
    );

    // An upload goes to the store asked for; unknown and read-only stores are refused.
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let id = new_image(&app).await;
    for (asked, want) in [("nowhere", "not found"), ("archive", "read-only")] {
        let r = app
            .request(Method::PUT, &format!("/v2/images/{id}/file"))
            .header("Content-Type", "application/octet-stream")
            .header("X-Image-Meta-Store", asked)
            // Refused before the body is read: a small one, so the refusal is what is read.
            .body(data[..1000].to_vec())
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap_or_default().contains(want));
    }
    assert_eq!(app.show(&id).await["status"], "queued");
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/file"))
        .header("Content-Type", "application/octet-stream")
        .header("X-Image-Meta-Store", "slow")
        .body(data.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let image = app.show(&id).await;
    assert_eq!(image["stores"], "slow");
    assert_eq!(files_in(&app, "slow"), [id.as_str()]);
    assert!(files_in(&app, "fast").is_empty());

    // copy-image: administrators only; into the stores named, hashed again.
    let copy = json!({"method": {"name": "copy-image"}, "stores": ["fast"]});
    let (status, _) = import(&app, member, &id, copy.clone()).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a member does not see another's private image"
    );
    let (status, body) = import(&app, None, &id, copy.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task = app.ended_task(&id, 1).await;
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(task["result"]["stores"], json!(["fast"]));
    let image = app.show(&id).await;
    assert_eq!(image["stores"], "fast,slow", "heaviest store first");
    assert_eq!(image["status"], "active");
    assert_eq!(files_in(&app, "fast"), [id.as_str()]);
    let (status, _) = import(&app, None, &id, copy).await;
    assert_eq!(status, StatusCode::CONFLICT, "already there");
    let (status, _) = import(
        &app,
        None,
        &id,
        json!({"method": {"name": "copy-image"}, "all_stores": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "in every writable store");
    let (status, _) = import(
        &app,
        None,
        &id,
        json!({"method": {"name": "copy-image"}, "stores": ["fast"], "all_stores": true}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Reads come from the heaviest store: with its copy gone, the lighter one serves.
    let body = app.download(&id).await;
    assert_eq!(body.as_ref(), data.as_slice());
    std::fs::remove_file(app.data.0.join("stores").join("fast").join(&id)).expect("remove");
    let body = app.download(&id).await;
    assert_eq!(
        md5::Md5::digest(&body),
        md5::Md5::digest(&data),
        "read from slow"
    );

    // Deleting from a store: administrators, a store that has it, never the last copy. A
    // member who does not see the image is told there is none; once it sees the image (public),
    // it is refused, by get_image_location first as in Glance (it may not see the locations of
    // another project's image).
    let delete_as_member = || async {
        app.call(
            member,
            Method::DELETE,
            &format!("/v2/stores/slow/{id}"),
            None,
        )
        .await
    };
    assert_eq!(delete_as_member().await.0, StatusCode::NOT_FOUND);
    let public = json!([{"op": "replace", "path": "/visibility", "value": "public"}]);
    assert_eq!(app.patch(&id, public).await.status(), StatusCode::OK);
    let (status, body) = delete_as_member().await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("get_image_location"), "{body}");
    let (status, _) = app
        .call(
            None,
            Method::DELETE,
            &format!("/v2/stores/archive/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            None,
            Method::DELETE,
            &format!("/v2/stores/nowhere/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(None, Method::DELETE, &format!("/v2/stores/slow/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.show(&id).await["stores"], "fast");
    assert!(
        files_in(&app, "slow").is_empty(),
        "the data is gone from slow"
    );
    let (status, _) = app
        .call(None, Method::DELETE, &format!("/v2/stores/fast/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the only copy stays");

    // A copy whose source data is gone fails, and the image keeps what it had.
    let (status, _) = import(
        &app,
        None,
        &id,
        json!({"method": {"name": "copy-image"}, "stores": ["slow"]}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(app.ended_task(&id, 2).await["status"], "failure");
    assert_eq!(app.show(&id).await["stores"], "fast");
    assert!(files_in(&app, "slow").is_empty(), "no partial copy is left");

    // Deleting an image removes its data from every store.
    let id = new_image(&app).await;
    assert!(app.upload(&id, data.clone()).await.status().is_success());
    let (status, _) = import(
        &app,
        None,
        &id,
        json!({"method": {"name": "copy-image"}, "all_stores": true}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(app.ended_task(&id, 1).await["status"], "success");
    assert_eq!(app.show(&id).await["stores"], "fast,slow");
    let r = app
        .request(Method::DELETE, &format!("/v2/images/{id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!files_in(&app, "slow").contains(&id) && !files_in(&app, "fast").contains(&id));
    app.stop().await;
}

async fn imports_into_several_stores_all_or_some(app: TestApp) {
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 241) as u8).collect();

    // glance-direct into every writable store.
    let id = new_image(&app).await;
    stage(&app, &id, &data).await;
    let (status, body) = import(
        &app,
        None,
        &id,
        json!({"method": {"name": "glance-direct"}, "all_stores": true}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task = app.ended_task(&id, 1).await;
    assert_eq!(task["status"], "success", "{task}");
    let image = app.show(&id).await;
    assert_eq!(image["stores"], "fast,slow");
    assert_eq!(image["checksum"], format!("{:x}", md5::Md5::digest(&data)));
    // The import's progress, as Glance shows it on the image: nothing left, nothing failed.
    assert_eq!(image["os_glance_importing_to_stores"], "");
    assert_eq!(image["os_glance_failed_import"], "");
    assert_eq!(files_in(&app, "slow"), [id.as_str()]);
    assert_eq!(files_in(&app, "fast"), [id.as_str()]);

    // Bad requests about stores.
    let id2 = new_image(&app).await;
    stage(&app, &id2, &data).await;
    for body in [
        json!({"method": {"name": "glance-direct"}, "stores": ["nowhere"]}),
        json!({"method": {"name": "glance-direct"}, "stores": ["archive"]}),
    ] {
        let (status, _) = import(&app, None, &id2, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(app.show(&id2).await["status"], "uploading", "still staged");

    // A store that fails: with all_stores_must_succeed the import fails and leaves nothing.
    std::fs::remove_dir_all(app.data.0.join("stores").join("slow")).expect("break slow");
    let (status, _) = import(
        &app,
        None,
        &id2,
        json!({"method": {"name": "glance-direct"},
        "stores": ["fast", "slow"]}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let task = app.ended_task(&id2, 1).await;
    assert_eq!(task["status"], "failure", "{task}");
    assert!(
        task["message"]
            .as_str()
            .unwrap_or_default()
            .contains("slow"),
        "{task}"
    );
    super::data::wait_for_status(&app, &id2, "queued").await;
    assert_eq!(app.show(&id2).await["os_glance_failed_import"], "fast,slow");
    assert!(
        !files_in(&app, "fast").contains(&id2),
        "nothing left in fast"
    );
    // Without it, the import succeeds where it can and the task names the failed store.
    let id3 = new_image(&app).await;
    stage(&app, &id3, &data).await;
    let (status, _) = import(
        &app,
        None,
        &id3,
        json!({"method": {"name": "glance-direct"},
        "stores": ["fast", "slow"], "all_stores_must_succeed": false}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let task = app.ended_task(&id3, 1).await;
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(task["result"]["failed_stores"], json!(["slow"]));
    let image = app.show(&id3).await;
    assert_eq!(image["stores"], "fast");
    assert_eq!(image["os_glance_failed_import"], "slow");
    assert_eq!(image["os_glance_importing_to_stores"], "");

    // One import at a time: an import in progress (its lock held by a live server) blocks
    // another with 409.
    app.rows(
        "INSERT INTO image_import_locks (image_id, task_id, owner, taken_at) \
         VALUES ($1, 't-1', 'glint/x', 0)",
        &id3,
    )
    .await;
    let (status, body) = import(
        &app,
        None,
        &id3,
        json!({"method": {"name": "copy-image"}, "stores": ["slow"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("import in progress"), "{body}");
    app.stop().await;
}

/// With one store a site behaves as Glance without `enabled_backends`: store choices in
/// uploads and imports are not looked at (Tempest sends `all_stores`, python-openstackclient
/// `all_stores_must_succeed: false`), and the import methods are Glance's default list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_store_sites_ignore_store_choices() {
    let app = TestApp::sqlite().await;
    let (status, _) = app.call(None, Method::GET, "/v2/info/stores", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, methods) = app.call(None, Method::GET, "/v2/info/import", None).await;
    assert_eq!(
        methods["import-methods"]["value"],
        json!(["glance-direct", "web-download", "copy-image"])
    );
    let id = new_image(&app).await;
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/file"))
        .header("Content-Type", "application/octet-stream")
        .header("X-Image-Meta-Store", "fast")
        .body("data")
        .send()
        .await
        .expect("upload");
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "the header is not looked at"
    );
    let image = app.show(&id).await;
    assert_eq!(image["status"], "active");
    assert!(image.get("stores").is_none(), "{image}");

    // glance-direct with the fields Tempest sends: into the one store.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 233) as u8).collect();
    let staged = new_image(&app).await;
    stage(&app, &staged, &data).await;
    let (status, body) = import(
        &app,
        None,
        &staged,
        json!({"method": {"name": "glance-direct"}, "all_stores": true, "stores": ["x"],
               "all_stores_must_succeed": false}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    super::data::wait_for_status(&app, &staged, "active").await;
    let got = app.download(&staged).await;
    assert!(
        got.as_ref() == data.as_slice(),
        "the staged data was imported"
    );
    let image = app.show(&staged).await;
    assert!(image.get("stores").is_none(), "{image}");
    assert!(
        image.get("os_glance_importing_to_stores").is_none(),
        "{image}"
    );

    // copy-image is offered; the one store holds the data already.
    let (status, body) = import(&app, None, &id, json!({"method": {"name": "copy-image"}})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("already"), "{body}");
    // glance-download is not enabled by default.
    let fresh = new_image(&app).await;
    let (status, body) = import(
        &app,
        None,
        &fresh,
        json!({"method": {"name": "glance-download", "glance_image_id": id,
                          "glance_region": "RegionOne"}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string()
            .contains("Unknown import method name 'glance-download'"),
        "{body}"
    );
    let (status, _) = app
        .call(None, Method::DELETE, &format!("/v2/stores/x/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

/// `enabled_import_methods` decides what is offered and what is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_enabled_import_methods_are_offered_and_accepted() {
    use glint_server::config::ImportMethod;
    let app = TestApp::sqlite_with(|c| {
        c.enabled_import_methods = vec![ImportMethod::GlanceDirect];
    })
    .await;
    let (_, methods) = app.call(None, Method::GET, "/v2/info/import", None).await;
    assert_eq!(methods["import-methods"]["value"], json!(["glance-direct"]));
    let (status, created) = app
        .call(
            None,
            Method::POST,
            "/v2/images",
            Some(json!({"disk_format": "raw", "container_format": "bare"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().expect("id");
    let r = app.get(&format!("/v2/images/{id}")).await;
    assert!(r.status().is_success());
    let r = app
        .request(Method::POST, "/v2/images")
        .json(&json!({"disk_format": "raw", "container_format": "bare"}))
        .send()
        .await
        .expect("create");
    assert_eq!(
        r.headers()
            .get("OpenStack-image-import-methods")
            .and_then(|v| v.to_str().ok()),
        Some("glance-direct")
    );
    let (status, body) = import(
        &app,
        None,
        id,
        json!({"method": {"name": "web-download", "uri": "http://example.com/x"}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string()
            .contains("Unknown import method name 'web-download'"),
        "{body}"
    );
    assert_eq!(app.show(id).await["status"], "queued", "nothing started");
    app.stop().await;
}

/// Two servers sharing one folder as their store (an NFS export): a server that restarts
/// removes what it left itself, never the upload another live server is writing; what a
/// server its database does not know wrote (another deployment on the same export) goes only
/// once untouched for an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_leaves_another_servers_upload_alone() {
    let shared = super::harness::TempDir::new("shared-folder");
    let node = |name| super::harness::shared_node(&shared.0, name);
    let a = TestApp::sqlite_with(node("node-a")).await;
    let b = TestApp::sqlite_with(node("node-b")).await;
    // What b left behind when it was killed, and what a server long gone left.
    let partials = shared.0.join("images").join(".partial");
    let hex = |s: &str| -> String { s.bytes().map(|b| format!("{b:02x}")).collect() };
    let left_by_b = partials.join(format!("img.{}.01", hex("node-b")));
    let left_by_gone = partials.join(format!("img.{}.02", hex("node-gone")));
    let stranger = partials.join(format!("img.{}.03", hex("elsewhere")));
    std::fs::write(&left_by_b, b"b's").expect("b's leftover");
    std::fs::write(&left_by_gone, b"gone").expect("a leftover");
    std::fs::write(&stranger, b"fresh").expect("another deployment's upload");
    let touched = std::process::Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&left_by_gone)
        .status()
        .expect("touch");
    assert!(touched.success());

    let id = new_image(&a).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(tokio_stream_of(rx));
    let upload = {
        let r = a
            .request(Method::PUT, &format!("/v2/images/{id}/file"))
            .header("Content-Type", "application/octet-stream")
            .body(body);
        tokio::spawn(async move { r.send().await })
    };
    let chunk = |i: u8| vec![i; 256 * 1024];
    let mut md5 = md5::Md5::new();
    for i in 0..4u8 {
        md5.update(chunk(i));
        tx.send(Ok(chunk(i))).await.expect("send");
    }
    // a's upload is on disk, unfinished.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mine = |p: &std::path::PathBuf| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().contains(&hex("node-a")))
    };
    while !list_files(&partials).iter().any(mine) {
        assert!(
            std::time::Instant::now() < deadline,
            "a's upload never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    b.stop().await;
    let b = TestApp::sqlite_with(node("node-b")).await;
    assert!(!left_by_b.exists(), "b removed what it left itself");
    assert!(
        !left_by_gone.exists(),
        "what a server gone long ago left is removed"
    );
    assert!(
        stranger.exists(),
        "a fresh upload of another deployment stays"
    );
    assert!(
        list_files(&partials).iter().any(mine),
        "a's upload in progress is still there"
    );
    for i in 4..8u8 {
        md5.update(chunk(i));
        tx.send(Ok(chunk(i))).await.expect("send");
    }
    drop(tx);
    let r = upload.await.expect("join").expect("the upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let want: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let image = b.show(&id).await;
    assert_eq!(image["status"], "active");
    assert_eq!(image["checksum"], json!(want));
    let got = b.download(&id).await;
    let got: String = md5::Md5::digest(&got)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(got, want, "the data is intact");
    b.stop().await;
    a.stop().await;
}

/// The items of a channel as a stream.
fn tokio_stream_of<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// Two servers on one database and one store, each with its own staging area: data staged
/// through one and imported through the other is imported by the one that holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_goes_to_the_server_holding_the_staged_data() {
    let shared = super::harness::TempDir::new("two-nodes");
    let node = |name| super::harness::shared_node(&shared.0, name);
    let a = TestApp::sqlite_with(node("node-a")).await;
    let b = TestApp::sqlite_with(node("node-b")).await;
    let data: Vec<u8> = (0..500_000u32).map(|i| (i % 239) as u8).collect();
    let id = new_image(&a).await;
    stage(&a, &id, &data).await;
    assert!(
        a.show(&id).await.get("os_glance_stage_host").is_none(),
        "the staging host is the server's own business"
    );
    let (status, body) = import(&b, None, &id, json!({"method": {"name": "glance-direct"}})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    super::data::wait_for_status(&b, &id, "active").await;
    let got = b.download(&id).await;
    assert!(got.as_ref() == data.as_slice(), "B serves what A imported");
    let staged = super::harness::list_files(&a.data.0.join("staging"));
    assert!(staged.is_empty(), "A removed its staged data: {staged:?}");
    b.stop().await;
    a.stop().await;
}
