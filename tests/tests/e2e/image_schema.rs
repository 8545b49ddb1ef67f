//! The operator's image schema (Glance's `schema-image.json` with a `required` list): shown in
//! `/v2/schemas/image`, required properties needed on create and never removed, typed values
//! checked (400 naming the key), a dry run showing the refusal before anything is written, and
//! python-glanceclient, which reads the schema, sending typed values Glint accepts.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::python::{on_terminal, venv};

const SCHEMA: &str = r#"{
    "properties": {
        "os_distro": {"type": "string", "enum": ["ubuntu", "debian", "rhel"],
                      "description": "The distribution"},
        "architecture": {"type": "string", "description": "CPU architecture"},
        "hw_cores": {"type": "integer", "minimum": 1, "maximum": 64},
        "ticket": {"type": "string", "pattern": "^OPS-[0-9]+$"}
    },
    "required": ["os_distro", "architecture"]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_schema_requires_and_types_properties() {
    let dir = crate::harness::TempDir::new("image-schema");
    let file = dir.0.join("schema-image.json");
    std::fs::write(&file, SCHEMA).expect("schema file");
    let args = glint_server::config::ServeArgs {
        image_schema_file: Some(file.clone()),
        ..Default::default()
    };
    let schema = glint_server::Config::resolve(args)
        .expect("the file is read")
        .image_schema;
    let app = TestApp::sqlite_with(move |c| c.image_schema = schema).await;

    // The schema shows them, with the required list.
    let shown: Value = app
        .get("/v2/schemas/image")
        .await
        .json()
        .await
        .expect("schema");
    assert_eq!(shown["required"], json!(["os_distro", "architecture"]));
    assert_eq!(shown["properties"]["hw_cores"]["type"], "integer");
    assert_eq!(shown["properties"]["os_distro"]["is_base"], false);
    assert!(
        shown["properties"]["kernel_id"].is_null(),
        "the file replaces Glance's own"
    );

    let create = |body: Value| app.request(Method::POST, "/v2/images").json(&body).send();
    // Missing a required key: 400 naming it; nothing created.
    let r = create(json!({"name": "bare", "os_distro": "debian"}))
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let text = r.text().await.expect("body");
    assert!(
        text.contains("'architecture' is a required property"),
        "{text}"
    );
    // A value outside its type or enum: 400 naming it.
    for (body, key) in [
        (
            json!({"os_distro": "arch", "architecture": "x86_64"}),
            "os_distro",
        ),
        (
            json!({"os_distro": "rhel", "architecture": "x86_64", "hw_cores": 0}),
            "hw_cores",
        ),
        (
            json!({"os_distro": "rhel", "architecture": "x86_64", "hw_cores": "many"}),
            "hw_cores",
        ),
        (
            json!({"os_distro": "rhel", "architecture": "x86_64", "ticket": "42"}),
            "ticket",
        ),
    ] {
        let r = create(body).await.expect("create");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let text = r.text().await.expect("body");
        assert!(text.contains(&format!("'{key}'")), "{key}: {text}");
    }
    let listed: Value = app.get("/v2/images").await.json().await.expect("list");
    assert_eq!(listed["images"], json!([]), "nothing was created");

    // The dry run says why before anything is written.
    let r = app
        .request(Method::POST, "/v2/images")
        .header("Prefer", "return=preview")
        .json(&json!({"name": "preview", "os_distro": "ubuntu"}))
        .send()
        .await
        .expect("preview");
    let plan: Value = r.json().await.expect("plan");
    let violations = plan.to_string();
    assert!(violations.contains("architecture"), "{plan}");

    // Typed values: an integer as JSON, stored as text.
    let image = app
        .create(
            json!({"name": "ok", "os_distro": "ubuntu", "architecture": "x86_64",
                       "hw_cores": 8, "ticket": "OPS-7"}),
        )
        .await;
    let id = image["id"].as_str().expect("id").to_string();
    assert_eq!(image["hw_cores"], "8");
    // A required key cannot be removed; other changes go on.
    let patch = |ops: Value| {
        app.request(Method::PATCH, &format!("/v2/images/{id}"))
            .header(
                "Content-Type",
                "application/openstack-images-v2.1-json-patch",
            )
            .json(&ops)
            .send()
    };
    let r = patch(json!([{"op": "remove", "path": "/architecture"}]))
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let text = r.text().await.expect("body");
    assert!(
        text.contains("'architecture' is a required property"),
        "{text}"
    );
    let r = patch(json!([{"op": "replace", "path": "/hw_cores", "value": 16}]))
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.show(&id).await["hw_cores"], "16");

    app.stop().await;

    // python-glanceclient reads the schema (cached in its home, this test's own): the declared
    // properties become its options, checked against their enums and patterns. It cannot create
    // images where the schema has a required list (it validates an empty image against the
    // schema first, whatever the server), nor use a property typed other than string (it sends
    // and reads them as text, as Glance stores them); so this part runs with the same
    // properties, none required.
    let flat = SCHEMA.replace(
        r#""required": ["os_distro", "architecture"]"#,
        r#""required": []"#,
    );
    let schema = glint_core::schema::ImageSchema::parse(&flat).expect("schema");
    let app = TestApp::sqlite_with(move |c| c.image_schema = schema).await;
    let venv = venv();
    let base = app.base.clone();
    let home = dir.0.join("home");
    std::fs::create_dir_all(&home).expect("home");
    let glance = |args: &[&str]| {
        let mut all = vec!["--os-image-url", base.as_str(), "--os-auth-token", "noauth"];
        all.extend_from_slice(args);
        let out = on_terminal(&venv, "glance", &all)
            .env("HOME", &home)
            .output()
            .expect("glance");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, out) = tokio::task::block_in_place(|| glance(&["--get-schema", "image-list"]));
    assert!(ok, "{out}");
    let (ok, out) = tokio::task::block_in_place(|| {
        glance(&[
            "image-create",
            "--name",
            "from-cli",
            "--os-distro",
            "debian",
            "--architecture",
            "aarch64",
            "--ticket",
            "OPS-9",
        ])
    });
    assert!(ok, "{out}");
    let listed: Value = app
        .get("/v2/images?name=from-cli")
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(listed["images"][0]["ticket"], "OPS-9", "{listed}");
    assert_eq!(listed["images"][0]["os_distro"], "debian", "{listed}");
    // A value outside the enum is refused by the client, which read the schema.
    let (ok, out) = tokio::task::block_in_place(|| {
        glance(&["image-create", "--name", "wrong", "--os-distro", "arch"])
    });
    assert!(!ok, "{out}");
    assert!(out.contains("arch"), "{out}");
    app.stop().await;
}
