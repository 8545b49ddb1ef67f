//! The web UI in a real headless Chromium against a real `glint serve` (token auth, SQLite,
//! filesystem store), checked through the API. Screenshots of the main pages are kept in
//! `<target>/tmp/ui-screenshots/`.

use std::path::PathBuf;

use md5::Digest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::harness::{TempDir, TestApp};
use super::inspection::{backed_qcow2, qemu_img};
use super::webdriver::Browser;

const ADMIN_TOKEN: &str = "ui-tests-admin-token-0123456789";
const PASSWORD: &str = "ui-tests-admin-password";

fn ui_dir() -> PathBuf {
    let dir = std::env::var_os("GLINT_UI_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web-ui/dist"));
    assert!(
        dir.join("index.html").is_file() && dir.join("glint_web_ui_bg.wasm").is_file(),
        "the web UI is not built in {}: run `cargo glint ui` (cargo glint test does)",
        dir.display()
    );
    dir
}

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots")
}

async fn app() -> TestApp {
    app_with(|_| {}).await
}

async fn app_with(tweak: impl FnOnce(&mut glint_server::Config)) -> TestApp {
    let ui = ui_dir();
    TestApp::sqlite_with(move |c| {
        c.insecure_noauth = false;
        c.admin_token = Some(ADMIN_TOKEN.into());
        c.admin_password = Some(PASSWORD.into());
        c.ui_dir = ui;
        tweak(c);
    })
    .await
}

/// Where the deployment converts imports to raw, the upload form says what a qcow2 will be
/// stored as before anything is sent, and which properties the deployment injects into the
/// import; it stages and imports the file, and shows the stored format and checksums of the
/// converted image, which carries the injected property.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_shows_and_does_the_conversion() {
    let app = app_with(|c| {
        c.image_conversion_output_format = Some("raw".into());
        c.inject_metadata_properties =
            [("support_contact".to_string(), "cloud-ops".to_string())].into();
        // Administrators' imports are injected into too, here (the UI logs in as one).
        c.inject_ignore_user_roles = vec!["nobody".into()];
    })
    .await;
    let b = Browser::start(&shots()).await;
    log_in(&b, &app).await;
    let dir = super::harness::TempDir::new("ui-convert");
    let disk: Vec<u8> = (0..(3u32 << 20)).map(|i| (i % 239) as u8).collect();
    std::fs::write(dir.0.join("disk.raw"), &disk).expect("write");
    qemu_img(
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "qcow2",
            "disk.raw",
            "disk.qcow2",
        ],
        &dir.0,
    );
    b.goto(&app.url("/#/create")).await;
    b.fill("#c-name", "ui-convert").await;
    b.js(
        "const s = document.querySelector('#c-disk'); s.value = 'qcow2'; s.dispatchEvent(new Event('change'));",
        json!([]),
    )
    .await;
    b.click("form button[type=submit]").await;
    b.wait_for("[data-test=created]").await;
    b.wait_for("#upload-file").await;
    b.wait_text("[data-test=conversion][data-to=raw]", "stored as raw")
        .await;
    b.wait_text(
        "[data-test=injected] [data-key=support_contact][data-injected=true]",
        "cloud-ops",
    )
    .await;
    b.fill("#upload-file", &dir.0.join("disk.qcow2").to_string_lossy())
        .await;
    b.wait_text(
        "[data-test=inspection][data-format=qcow2]",
        "✓ The file is qcow2",
    )
    .await;
    b.screenshot("upload-converts").await;
    b.click("[data-test=upload]").await;
    b.wait_text("[data-test=stored-format]", "raw").await;
    let md5 = format!("{:x}", md5::Md5::digest(&disk));
    assert_eq!(
        b.text("[data-test=md5]").await,
        md5,
        "the converted image's MD5"
    );
    let (_, list) = call(&app, Method::GET, "/v2/images?name=ui-convert", None).await;
    let image = &list["images"][0];
    assert_eq!(image["status"], "active");
    assert_eq!(image["disk_format"], "raw");
    assert_eq!(image["checksum"], md5.as_str());
    assert_eq!(image["size"], disk.len());
    assert_eq!(image["support_contact"], "cloud-ops");
    b.quit().await;
    app.stop().await;
}

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = app
        .request(method, path)
        .header("X-Auth-Token", ADMIN_TOKEN);
    if let Some(body) = body {
        r = match body {
            Value::Array(_) => r
                .header("Content-Type", super::harness::PATCH_V21)
                .body(body.to_string()),
            _ => r.json(&body),
        };
    }
    let r = r.send().await.expect("API call");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn create(app: &TestApp, body: Value) -> String {
    let (status, image) = call(app, Method::POST, "/v2/images", Some(body)).await;
    assert_eq!(status, 201, "{image}");
    image["id"].as_str().expect("id").to_string()
}

async fn show(app: &TestApp, id: &str) -> Value {
    call(app, Method::GET, &format!("/v2/images/{id}"), None)
        .await
        .1
}

async fn log_in(b: &Browser, app: &TestApp) {
    b.goto(&app.url("/")).await;
    b.wait_for("#login-user").await;
    b.screenshot("login").await;
    b.fill("#login-user", "admin").await;
    b.fill("#login-password", "wrong").await;
    b.click("button[type=submit]").await;
    b.wait_text(".error-box", "wrong").await;
    b.fill("#login-password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_text("[data-test=who] .user", "admin").await;
    b.wait_text("[data-test=who] .project", "admin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_end_to_end() {
    let app = app().await;
    let b = Browser::start(&shots()).await;
    log_in(&b, &app).await;

    create_and_upload(&b, &app).await;
    unsafe_file_is_flagged_before_upload_and_refused(&b, &app).await;
    let edited = edit_properties_with_preview(&b, &app).await;
    concurrent_change_is_shown_not_overwritten(&b, &app, &edited).await;
    restore_from_history(&b, &app, &edited).await;
    violations_block_submit_and_replace_all_needs_confirmation(&b, &app, &edited).await;
    typed_inputs_from_metadata_definitions(&b, &app).await;
    protected_image_cannot_be_deleted(&b, &app).await;
    list_sorts_filters_and_pages(&b, &app).await;
    log_out(&b).await;
    a_reader_sees_no_history(&b, &app, &edited).await;

    b.quit().await;
    app.stop().await;
}

/// The deployment's image schema requires properties: the create form asks for each with an
/// input of its type (a choice for an enum, a number for an integer); core's plan says what is
/// missing before anything is sent, and the filled form creates the image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_create_form_asks_for_required_properties() {
    let schema = glint_core::schema::ImageSchema::parse(
        r#"{"properties": {
            "os_distro": {"type": "string", "enum": ["ubuntu", "debian"]},
            "hw_cores": {"type": "integer", "minimum": 1}
        }, "required": ["os_distro", "hw_cores"]}"#,
    )
    .expect("schema");
    let app = app_with(move |c| c.image_schema = schema).await;
    let b = Browser::start(&shots()).await;
    log_in(&b, &app).await;
    b.goto(&app.url("/#/create")).await;
    b.wait_for("[data-test=required-props]").await;
    let kinds = b
        .js(
            "return [document.querySelector('#c-req-os_distro').tagName, \
                     document.querySelector('#c-req-hw_cores').type]",
            json!([]),
        )
        .await;
    assert_eq!(kinds, json!(["SELECT", "number"]));
    b.fill("#c-name", "ui-required").await;
    b.click("form button[type=submit]").await;
    b.wait_for("[data-change=violation][data-key=os_distro]")
        .await;
    b.wait_for("[data-change=violation][data-key=hw_cores]")
        .await;
    b.screenshot("create-required").await;
    let (_, list) = call(&app, Method::GET, "/v2/images?name=ui-required", None).await;
    assert_eq!(list["images"], json!([]), "nothing was sent");
    b.js(
        "const s = document.querySelector('#c-req-os_distro'); s.value = 'debian'; \
         s.dispatchEvent(new Event('change'));",
        json!([]),
    )
    .await;
    b.fill("#c-req-hw_cores", "4").await;
    b.click("form button[type=submit]").await;
    b.wait_for("[data-test=created]").await;
    let (_, list) = call(&app, Method::GET, "/v2/images?name=ui-required", None).await;
    let image = &list["images"][0];
    assert_eq!(image["os_distro"], "debian");
    assert_eq!(image["hw_cores"], "4");
    b.quit().await;
    app.stop().await;
}

/// The browser plans with the deployment's policy file: where nobody may publicize an image,
/// administrators included, the create form shows the refusal, naming the policy, before
/// anything is sent; a private image is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_create_form_plans_with_the_operators_policy() {
    let dir = TempDir::new("ui-policy");
    let file = dir.0.join("policy.yaml");
    std::fs::write(&file, "\"publicize_image\": \"!\"\n").expect("policy file");
    let app = app_with(move |c| c.policy_file = Some(file)).await;
    let b = Browser::start(&shots()).await;
    log_in(&b, &app).await;
    b.goto(&app.url("/#/create")).await;
    b.wait_for("#c-visibility").await;
    b.fill("#c-name", "ui-public").await;
    b.js(
        "const s = document.querySelector('#c-visibility'); s.value = 'public'; \
         s.dispatchEvent(new Event('change'));",
        json!([]),
    )
    .await;
    b.click("form button[type=submit]").await;
    b.wait_for("[data-change=violation][data-key=visibility]")
        .await;
    let text = b
        .js(
            "return document.querySelector('[data-change=violation][data-key=visibility]').textContent",
            json!([]),
        )
        .await;
    assert!(
        text.to_string().contains("publicize_image"),
        "the plan names the policy: {text}"
    );
    b.screenshot("create-policy").await;
    let (_, list) = call(&app, Method::GET, "/v2/images?name=ui-public", None).await;
    assert_eq!(list["images"], json!([]), "nothing was sent");
    b.js(
        "const s = document.querySelector('#c-visibility'); s.value = 'private'; \
         s.dispatchEvent(new Event('change'));",
        json!([]),
    )
    .await;
    b.click("form button[type=submit]").await;
    b.wait_for("[data-test=created]").await;
    let (_, list) = call(&app, Method::GET, "/v2/images?name=ui-public", None).await;
    assert_eq!(list["images"][0]["visibility"], "private");
    b.quit().await;
    app.stop().await;
}

async fn create_and_upload(b: &Browser, app: &TestApp) {
    b.goto(&app.url("/#/create")).await;
    b.fill("#c-name", "ui-upload").await;
    b.click("[data-test=add-prop]").await;
    b.fill("[data-test=new-key]", "os_distro").await;
    b.fill("[data-test=new-value]", "debian").await;
    b.js(
        "const s = document.querySelector('#c-disk'); s.value = 'raw'; s.dispatchEvent(new Event('change'));",
        json!([]),
    )
    .await;
    b.screenshot("create").await;
    b.click("form button[type=submit]").await;
    b.wait_for("[data-test=created]").await;

    let data: Vec<u8> = (0..6_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = app.data.0.join("upload.raw");
    std::fs::write(&file, &data).expect("file to upload");
    b.fill("#upload-file", &file.to_string_lossy()).await;
    // The browser inspects the file with core's inspector before anything is sent.
    b.wait_text(
        "[data-test=inspection][data-format=raw]",
        "✓ The file is raw",
    )
    .await;
    b.click("[data-test=upload]").await;
    b.wait_for("[data-test=checksums]").await;
    b.wait_text("[data-test=percent]", "100%").await;
    let bar = b
        .js(
            "return document.querySelector('[data-test=progress] progress').value",
            json!([]),
        )
        .await;
    assert_eq!(bar.as_f64(), Some(100.0), "the progress bar reaches 100%");
    b.screenshot("upload-done").await;
    let md5 = format!("{:x}", md5::Md5::digest(&data));
    assert_eq!(b.text("[data-test=md5]").await, md5, "the UI shows the MD5");

    let (_, list) = call(app, Method::GET, "/v2/images?name=ui-upload", None).await;
    let image = &list["images"][0];
    assert_eq!(image["status"], "active");
    assert_eq!(image["checksum"], md5.as_str());
    assert_eq!(image["size"], 6_000_000);
    assert_eq!(image["disk_format"], "raw");
    assert_eq!(image["os_distro"], "debian");
}

/// A qcow2 that points at a backing file: the browser says the server will refuse it, and it
/// does; the refusal is shown in place and the image stays queued for another try.
async fn unsafe_file_is_flagged_before_upload_and_refused(b: &Browser, app: &TestApp) {
    let dir = &app.data.0;
    let child = backed_qcow2(dir);
    let id = create(
        app,
        json!({"name": "ui-unsafe", "disk_format": "qcow2", "container_format": "bare"}),
    )
    .await;
    b.goto(&app.url(&format!("/#/images/{id}"))).await;
    b.fill("#upload-file", &child.to_string_lossy()).await;
    b.wait_text(
        "[data-test=inspection][data-format=qcow2]",
        "The server will refuse this file",
    )
    .await;
    b.js(
        "document.querySelector('[data-test=inspection]').scrollIntoView()",
        json!([]),
    )
    .await;
    b.screenshot("upload-refused-preview").await;
    b.click("[data-test=upload]").await;
    b.wait_text(".uploader .error-box", "The upload failed")
        .await;
    let image = show(app, &id).await;
    assert_eq!(
        image["status"], "queued",
        "a refused upload leaves the image queued"
    );

    // A safe qcow2 picked for an image declared raw: the mismatch is explained, the matching
    // disk_format proposed, and once taken the upload goes through.
    qemu_img(&["create", "-f", "qcow2", "safe.qcow2", "3M"], dir);
    let id = create(
        app,
        json!({"name": "ui-mismatch", "disk_format": "raw", "container_format": "bare"}),
    )
    .await;
    b.goto(&app.url(&format!("/#/images/{id}"))).await;
    b.fill("#upload-file", &dir.join("safe.qcow2").to_string_lossy())
        .await;
    b.wait_text(
        "[data-test=inspection][data-format=qcow2]",
        "The server will refuse this file",
    )
    .await;
    b.click("[data-test=use-format]").await;
    b.wait_text(
        "[data-test=inspection]",
        "✓ The file is qcow2, a disk of 3.0 MiB",
    )
    .await;
    assert_eq!(show(app, &id).await["disk_format"], "qcow2");
    b.click("[data-test=upload]").await;
    // The page shows the image again, now active, with its checksums.
    b.wait_text("[data-attr=Status]", "active").await;
    let image = show(app, &id).await;
    assert_eq!(image["status"], "active");
    assert_eq!(image["virtual_size"], 3 * 1024 * 1024);
    let md5 = image["checksum"].as_str().unwrap_or_default().to_string();
    b.wait_text("[data-attr=MD5]", &md5).await;
}

async fn edit_properties_with_preview(b: &Browser, app: &TestApp) -> String {
    let id = create(
        app,
        json!({"name": "ui-props", "a": "1", "b": "2", "c": "3", "d": "4"}),
    )
    .await;
    b.goto(&app.url(&format!("/#/images/{id}/properties")))
        .await;
    b.wait_for("tr[data-key=d]").await;
    b.click("tr[data-key=b] [data-test=remove]").await;
    b.fill("tr[data-key=c] [data-test=value]", "33").await;
    b.click("[data-test=add-row]").await;
    b.fill("tr[data-state=blank] [data-test=key]", "e").await;
    b.fill("tr[data-key=e] [data-test=value]", "5").await;
    // A filter hides rows but never changes what is submitted.
    b.fill("#prop-filter", "zzz").await;
    b.wait_for("[data-test=hidden-changes]").await;
    b.click("[data-test=review]").await;
    b.wait_for("[data-test=plan]").await;
    assert_eq!(
        b.keys("[data-change=removed]").await,
        ["b"],
        "exactly b is removed"
    );
    assert_eq!(b.keys("[data-change=changed]").await, ["c"]);
    assert_eq!(b.keys("[data-change=added]").await, ["e"]);
    assert_eq!(b.keys("[data-change=kept]").await, ["a", "d"]);
    b.fill("#prop-filter", "").await;
    b.screenshot("properties-review").await;
    b.click("[data-test=submit]").await;
    b.wait_text("[data-test=saved]", "1 added, 1 changed, 1 removed")
        .await;

    let image = show(app, &id).await;
    assert_eq!(image["a"], "1");
    assert!(image.get("b").is_none(), "b is removed: {image}");
    assert_eq!(image["c"], "33");
    assert_eq!(image["d"], "4");
    assert_eq!(image["e"], "5");
    id
}

/// A key with a metadata definition gets a typed input and a note when its value does not fit.
async fn typed_inputs_from_metadata_definitions(b: &Browser, app: &TestApp) {
    let (status, ns) = call(
        app,
        Method::POST,
        "/v2/metadefs/namespaces",
        Some(json!({
            "namespace": "Glint::UITest", "visibility": "public",
            "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}],
            "properties": {
                "watchdog_action": {"type": "string", "title": "Watchdog Action",
                    "enum": ["disabled", "reset", "poweroff"]},
                "cpu_cores": {"type": "integer", "title": "CPU cores", "minimum": 1, "maximum": 64}
            }
        })),
    )
    .await;
    assert_eq!(status, 201, "{ns}");
    let id = create(
        app,
        json!({"name": "ui-metadefs", "hw_watchdog_action": "reset"}),
    )
    .await;
    b.goto(&app.url(&format!("/#/images/{id}/properties")))
        .await;
    let choice = "tr[data-key=hw_watchdog_action] select[data-test=value]";
    b.wait_for(choice).await;
    let options = b
        .js(
            "return [...document.querySelectorAll(arguments[0] + ' option')].map(o => o.value)",
            json!([choice]),
        )
        .await;
    assert_eq!(options, json!(["disabled", "reset", "poweroff"]));
    b.js(
        "const s = document.querySelector(arguments[0]); s.value = 'poweroff'; \
         s.dispatchEvent(new Event('change', {bubbles: true}))",
        json!([choice]),
    )
    .await;
    b.click("[data-test=add-row]").await;
    b.fill("tr[data-state=blank] [data-test=key]", "hw_cpu_cores")
        .await;
    let cores = "tr[data-key=hw_cpu_cores] input[type=number][data-test=value]";
    b.fill(cores, "0").await;
    b.wait_text(
        "tr[data-key=hw_cpu_cores] [data-test=def-warning]",
        "at least 1",
    )
    .await;
    b.wait_text(
        "tr[data-key=hw_cpu_cores] [data-test=def-hint]",
        "CPU cores (Glint::UITest)",
    )
    .await;
    b.click("[data-test=review]").await;
    b.wait_text("[data-test=misfits]", "hw_cpu_cores must be at least 1")
        .await;
    b.screenshot("properties-metadefs").await;
    b.fill(cores, "8").await;
    b.click("[data-test=review]").await;
    b.wait_for("[data-test=plan]").await;
    let misfits = b
        .js("return document.querySelectorAll('[data-test=misfits], [data-test=def-warning]').length", json!([]))
        .await;
    assert_eq!(misfits, json!(0));
    b.click("[data-test=submit]").await;
    b.wait_text("[data-test=saved]", "1 added, 1 changed, 0 removed")
        .await;
    let image = show(app, &id).await;
    assert_eq!(image["hw_watchdog_action"], "poweroff");
    assert_eq!(image["hw_cpu_cores"], "8");
}

async fn concurrent_change_is_shown_not_overwritten(b: &Browser, app: &TestApp, id: &str) {
    b.fill("tr[data-key=d] [data-test=value]", "44").await;
    b.click("[data-test=review]").await;
    b.wait_for("[data-change=changed][data-key=d]").await;
    // Someone else changes the image between the review and the submit.
    let (status, _) = call(
        app,
        Method::PATCH,
        &format!("/v2/images/{id}"),
        Some(json!([{"op": "replace", "path": "/a", "value": "elsewhere"}])),
    )
    .await;
    assert_eq!(status, 200);
    b.click("[data-test=submit]").await;
    b.wait_text("[data-test=stale-notice]", "a: \"1\" → \"elsewhere\"")
        .await;
    let after = show(app, id).await;
    assert_eq!(after["d"], "4", "nothing was written on 412");
    assert_eq!(after["a"], "elsewhere");
    // The new plan is against the image as it is now: a is kept with the other writer's value.
    b.wait_for("[data-change=kept][data-key=a]").await;
    assert_eq!(b.keys("[data-change=changed]").await, ["d"]);
    assert!(b.keys("[data-change=removed]").await.is_empty());
    b.screenshot("properties-stale").await;
    b.click("[data-test=submit]").await;
    b.wait_for("[data-test=saved]").await;
    let after = show(app, id).await;
    assert_eq!(after["d"], "44");
    assert_eq!(
        after["a"], "elsewhere",
        "the other writer's change survives"
    );
}

async fn restore_from_history(b: &Browser, app: &TestApp, id: &str) {
    b.goto(&app.url(&format!("/#/images/{id}/history"))).await;
    b.click("tr[data-key=b][data-deleted=true] [data-test=pick]")
        .await;
    b.click("[data-test=review-restore]").await;
    b.wait_for("[data-change=added][data-key=b]").await;
    assert!(b.keys("[data-change=removed]").await.is_empty());
    b.screenshot("history-review").await;
    b.click("[data-test=restore]").await;
    b.wait_for("[data-test=restored]").await;
    b.wait_for("tr[data-key=b][data-deleted=false]").await;
    assert_eq!(
        show(app, id).await["b"],
        "2",
        "b is back with its old value"
    );
    let (_, history) = call(app, Method::GET, &format!("/v2/images/{id}/history"), None).await;
    let last = history["changes"]
        .as_array()
        .and_then(|c| c.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["action"], "restore");
}

async fn violations_block_submit_and_replace_all_needs_confirmation(
    b: &Browser,
    app: &TestApp,
    id: &str,
) {
    b.goto(&app.url(&format!("/#/images/{id}/properties")))
        .await;
    b.wait_for("tr[data-key=b]").await;
    // A reserved key: core marks it, and the plan cannot be submitted.
    b.click("[data-test=add-row]").await;
    b.fill("tr[data-state=blank] [data-test=key]", "os_glance_mine")
        .await;
    b.fill("tr[data-key=os_glance_mine] [data-test=value]", "x")
        .await;
    b.click("[data-test=review]").await;
    b.wait_for("[data-change=violation][data-key=os_glance_mine]")
        .await;
    let disabled = b
        .js(
            "return document.querySelector('[data-test=submit]').disabled",
            json!([]),
        )
        .await;
    assert_eq!(
        disabled,
        Value::Bool(true),
        "a plan with violations cannot be submitted"
    );
    b.screenshot("properties-violation").await;
    b.click("tr[data-key=os_glance_mine] [data-test=drop]")
        .await;

    // Replace all: the purge list is shown and needs a second confirmation.
    b.click("[data-test=replace-all]").await;
    b.fill("[data-test=replacement]", "a=elsewhere\nb=2").await;
    b.click("[data-test=review]").await;
    b.wait_for("[data-test=confirm-purge]").await;
    assert_eq!(b.keys("[data-change=removed]").await, ["c", "d", "e"]);
    assert_eq!(b.keys("[data-change=kept]").await, ["a", "b"]);
    let disabled = b
        .js(
            "return document.querySelector('[data-test=submit]').disabled",
            json!([]),
        )
        .await;
    assert_eq!(
        disabled,
        Value::Bool(true),
        "a purge waits for its confirmation"
    );
    b.screenshot("properties-replace-all").await;
    b.click("[data-test=confirm-purge]").await;
    b.click("[data-test=submit]").await;
    b.wait_text("[data-test=saved]", "3 removed").await;
    let image = show(app, id).await;
    assert_eq!(image["a"], "elsewhere");
    assert_eq!(image["b"], "2");
    for gone in ["c", "d", "e"] {
        assert!(image.get(gone).is_none(), "{gone} is purged: {image}");
    }
}

async fn protected_image_cannot_be_deleted(b: &Browser, app: &TestApp) {
    let id = create(app, json!({"name": "ui-keep", "protected": true})).await;
    b.goto(&app.url(&format!("/#/images/{id}"))).await;
    b.wait_text(
        "[data-test=delete-reason]",
        "Protected images cannot be deleted",
    )
    .await;
    let disabled = b
        .js(
            "return document.querySelector('[data-test=delete]').disabled",
            json!([]),
        )
        .await;
    assert_eq!(disabled, Value::Bool(true));
    b.screenshot("image-protected").await;
    // Unprotect, then delete through the confirmation, which names the image.
    b.click("[data-test=toggle-protected]").await;
    b.wait_js(
        "the delete button to be enabled",
        "const e = document.querySelector('[data-test=delete]'); return !!e && !e.disabled",
        json!([]),
    )
    .await;
    assert_eq!(show(app, &id).await["protected"], false);
    b.click("[data-test=delete]").await;
    b.wait_text("[data-test=confirm-text]", "ui-keep").await;
    b.screenshot("delete-confirm").await;
    b.click("[data-test=confirm-delete]").await;
    b.wait_for("table[data-test=images]").await;
    let (status, _) = call(app, Method::GET, &format!("/v2/images/{id}"), None).await;
    assert_eq!(status, 404);
}

async fn list_sorts_filters_and_pages(b: &Browser, app: &TestApp) {
    for name in ["list-c", "list-a", "list-b"] {
        create(
            app,
            json!({"name": name, "disk_format": "qcow2", "container_format": "bare"}),
        )
        .await;
    }
    b.goto(&app.url("/#/images?name=list-a")).await;
    b.wait_text("[data-test=list-state]", "1 images").await;
    // Sort by name, ascending, two per page: the state is in the URL.
    b.goto(&app.url("/#/images?sort_key=name&sort_dir=asc&limit=2"))
        .await;
    b.wait_text("[data-test=list-state]", "2 images").await;
    assert_eq!(first_column(b).await, ["list-a", "list-b"]);
    b.screenshot("list").await;
    b.click("[data-test=next]").await;
    b.wait_js(
        "the second page",
        "return location.hash.includes('marker=')",
        json!([]),
    )
    .await;
    b.wait_text("table[data-test=images] tbody", "list-c").await;
    assert_eq!(first_column(b).await[0], "list-c");
    // Filters from the form land in the URL.
    b.fill("#f-name", "list-b").await;
    b.click(".filters button[type=submit]").await;
    b.wait_js(
        "name in the URL",
        "return location.hash.includes('name=list-b')",
        json!([]),
    )
    .await;
    b.wait_text("[data-test=list-state]", "1 images").await;
    assert!(b.current_url().await.contains("sort_key=name"));
    // A narrow screen still shows the list.
    b.set_window(420, 900).await;
    b.screenshot("list-narrow").await;
    b.set_window(1280, 900).await;
}

/// A reader of the owner project sees the image but not its history: the tab says who it is
/// for and the page never holds a removed value (the API answers the reader 403 too).
async fn a_reader_sees_no_history(b: &Browser, app: &TestApp, id: &str) {
    for ops in [
        json!([{"op": "add", "path": "/ui_token", "value": "removed-0815"}]),
        json!([{"op": "remove", "path": "/ui_token"}]),
    ] {
        let (status, body) = call(app, Method::PATCH, &format!("/v2/images/{id}"), Some(ops)).await;
        assert_eq!(status, 200, "{body}");
    }
    let db = glint_server::db::Db::connect(&app.database_url)
        .await
        .expect("the database");
    db.create_user("viewer", "viewer-password-0", "admin", "reader")
        .await
        .expect("a reader");
    db.close().await;
    b.goto(&app.url("/")).await;
    b.wait_for("#login-user").await;
    b.fill("#login-user", "viewer").await;
    b.fill("#login-password", "viewer-password-0").await;
    b.click("button[type=submit]").await;
    b.wait_text("[data-test=who] .user", "viewer").await;
    b.goto(&app.url(&format!("/#/images/{id}/history"))).await;
    b.wait_for("[data-test=history-closed]").await;
    b.screenshot("history-reader").await;
    let page = b
        .js("return document.body.innerHTML", json!([]))
        .await
        .to_string();
    assert!(!page.contains("removed-0815"), "{page}");
    let token = b
        .js("return localStorage.getItem('glint.token')", json!([]))
        .await;
    let r = app
        .request(Method::GET, &format!("/v2/images/{id}/history"))
        .header("X-Auth-Token", token.as_str().expect("the reader's token"))
        .send()
        .await
        .expect("history");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The session ends on the server (here: a token it does not know): the next call's 401
    // leads to the login page and the token is forgotten, whichever page made the call.
    b.js(
        "localStorage.setItem('glint.token', 'expired-token')",
        json!([]),
    )
    .await;
    b.goto(&app.url("/#/images?name=anything")).await;
    b.wait_for("#login-user").await;
    let token = b
        .js("return localStorage.getItem('glint.token')", json!([]))
        .await;
    assert_eq!(token, Value::Null, "the ended session's token is forgotten");
}

async fn log_out(b: &Browser) {
    b.click(".topbar button.link").await;
    b.wait_for("#login-user").await;
    let token = b
        .js("return localStorage.getItem('glint.token')", json!([]))
        .await;
    assert_eq!(token, Value::Null, "the token is forgotten");
}

/// The login cookie authenticates downloads only, so the UI's download link works while
/// every other call still needs `X-Auth-Token`.
#[tokio::test]
async fn login_cookie_authenticates_downloads_only() {
    let app = TestApp::sqlite_with(|c| {
        c.insecure_noauth = false;
        c.admin_token = Some(ADMIN_TOKEN.into());
        c.admin_password = Some(PASSWORD.into());
    })
    .await;
    let id = create(
        &app,
        json!({"name": "dl", "disk_format": "raw", "container_format": "bare"}),
    )
    .await;
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/file"))
        .header("X-Auth-Token", ADMIN_TOKEN)
        .header("Content-Type", "application/octet-stream")
        .body(vec![7u8; 1000])
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let login = app
        .request(Method::POST, "/auth/login")
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::CREATED);
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().expect("name=value").to_string();
    let with_cookie = |path: String| {
        app.request(Method::GET, &path)
            .header("Cookie", pair.clone())
            .send()
    };
    let file = with_cookie(format!("/v2/images/{id}/file"))
        .await
        .expect("download");
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.bytes().await.expect("bytes").len(), 1000);
    let show = with_cookie(format!("/v2/images/{id}")).await.expect("show");
    assert_eq!(show.status(), StatusCode::UNAUTHORIZED);
    let delete = app
        .request(Method::DELETE, &format!("/v2/images/{id}"))
        .header("Cookie", pair.clone())
        .send()
        .await
        .expect("delete");
    assert_eq!(delete.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

async fn first_column(b: &Browser) -> Vec<String> {
    let v = b
        .js(
            "return [...document.querySelectorAll('table[data-test=images] tbody tr td:first-child')].map(e => e.textContent)",
            json!([]),
        )
        .await;
    serde_json::from_value(v).unwrap_or_default()
}
