//! The tasks API: the legacy `POST /v2/tasks` import (an administrator's, fetched through the
//! web-download guard), listing with filters, ordering and paging, and the error codes.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::harness::{TempDir, TestApp};
use super::webdownload::source;

async fn post_task(app: &TestApp, body: Value) -> (StatusCode, Value, Option<String>) {
    let r = app
        .request(Method::POST, "/v2/tasks")
        .json(&body)
        .send()
        .await
        .expect("POST /v2/tasks");
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, location)
}

async fn wait_task(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let task: Value = app
            .get(&format!("/v2/tasks/{id}"))
            .await
            .json()
            .await
            .expect("task");
        if task["status"] != "processing" && task["status"] != "pending" {
            return task;
        }
        assert!(Instant::now() < deadline, "task {id} never ended: {task}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn import_task(uri: &str, format: &str) -> Value {
    json!({
        "type": "import",
        "input": {
            "import_from": uri,
            "import_from_format": format,
            "image_properties": {"name": "from-task", "hw_scsi_model": "virtio-scsi"}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_import_task_creates_and_fills_an_image() {
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 241) as u8).collect();
    let port = source(vec![("/disk.raw", data.clone())]).await;
    let allow = format!("127.0.0.1:{port}");
    let app = TestApp::sqlite_with(move |c| c.import_filter.exceptions = vec![allow]).await;
    let uri = format!("http://127.0.0.1:{port}/disk.raw");

    let (status, task, location) = post_task(&app, import_task(&uri, "raw")).await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let id = task["id"].as_str().expect("task id").to_string();
    assert_eq!(
        location.as_deref(),
        Some(format!("/v2/tasks/{id}").as_str())
    );
    assert_eq!(task["type"], "import");
    assert_eq!(task["input"]["import_from"], json!(uri));
    assert_eq!(task["self"], json!(format!("/v2/tasks/{id}")));

    let done = wait_task(&app, &id).await;
    assert_eq!(done["status"], "success", "{done}");
    let image_id = done["result"]["image_id"].as_str().expect("result image");
    let image = app.show(image_id).await;
    assert_eq!(image["status"], "active");
    assert_eq!(image["name"], "from-task");
    assert_eq!(image["disk_format"], "raw");
    assert_eq!(image["container_format"], "bare");
    assert_eq!(image["hw_scsi_model"], "virtio-scsi");
    assert_eq!(image["size"], data.len());
    let file = app.get(&format!("/v2/images/{image_id}/file")).await;
    assert_eq!(file.bytes().await.expect("data").as_ref(), data.as_slice());
    // The task is also the image's.
    let of_image: Value = app
        .get(&format!("/v2/images/{image_id}/tasks"))
        .await
        .json()
        .await
        .expect("image tasks");
    assert_eq!(of_image["tasks"][0]["id"], json!(id));

    // A source whose content does not match the declared format: the task fails with the
    // inspector's reason and the image it made stays queued with no data.
    let (status, task, _) = post_task(&app, import_task(&uri, "qcow2")).await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let done = wait_task(&app, task["id"].as_str().expect("id")).await;
    assert_eq!(done["status"], "failure", "{done}");
    assert!(
        done["message"]
            .as_str()
            .unwrap_or_default()
            .contains("qcow2"),
        "{done}"
    );
    let image_id = done["result"]["image_id"].as_str().expect("result image");
    super::data::wait_for_status(&app, image_id, "queued").await;
    assert_eq!(
        app.get(&format!("/v2/images/{image_id}/file"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    // Bad requests.
    let bad = [
        json!({"input": {}}),
        json!({"type": "import"}),
        json!({"type": "teleport", "input": {}}),
        json!({"type": "api_image_import", "input": {}}),
        json!({"type": "import", "input": {"import_from": uri, "import_from_format": "raw"}}),
        import_task("file:///etc/passwd", "raw"),
        import_task("ftp://example.org/x", "raw"),
        import_task("http://169.254.169.254/latest", "raw"),
        json!(["not", "an", "object"]),
    ];
    for body in bad {
        let (status, answer, _) = post_task(&app, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
    }
    // Only administrators create tasks.
    let r = app
        .request(Method::POST, "/v2/tasks")
        .header("X-Tenant-Id", "p1")
        .header("X-Roles", "member,reader")
        .json(&import_task(&uri, "raw"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Tasks are not deleted by hand.
    let r = app
        .request(Method::DELETE, &format!("/v2/tasks/{id}"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    app.stop().await;
}

/// Runs a glance-direct import to its end and returns the image id.
async fn imported(app: &TestApp, project: &str, data: &'static [u8]) -> String {
    let r = app
        .request(Method::POST, "/v2/images")
        .header("X-Tenant-Id", project)
        .header("X-Roles", "member,reader")
        .json(&json!({"name": "t", "disk_format": "raw", "container_format": "bare"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.expect("image")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let as_owner = |method: Method, path: String| {
        app.request(method, &path)
            .header("X-Tenant-Id", project)
            .header("X-Roles", "member,reader")
    };
    let r = as_owner(Method::PUT, format!("/v2/images/{id}/stage"))
        .header("Content-Type", "application/octet-stream")
        .body(data)
        .send()
        .await
        .expect("stage");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = as_owner(Method::POST, format!("/v2/images/{id}/import"))
        .json(&json!({"method": {"name": "glance-direct"}}))
        .send()
        .await
        .expect("import");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    app.ended_task(&id, 1).await;
    id
}

fn ids(page: &Value) -> Vec<String> {
    page["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_string())
        .collect()
}

async fn task_list(app: &TestApp, query: &str, project: Option<&str>) -> (StatusCode, Value) {
    let mut r = app.request(Method::GET, &format!("/v2/tasks{query}"));
    if let Some(p) = project {
        r = r
            .header("X-Tenant-Id", p)
            .header("X-Roles", "member,reader");
    }
    let r = r.send().await.expect("GET /v2/tasks");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn listing_filters_orders_and_pages(app: &TestApp) {
    for _ in 0..3 {
        imported(app, "p1", b"some bytes").await;
    }
    imported(app, "p2", b"other bytes").await;
    // A failed import: backing-file qcow2 is refused.
    let files = super::harness::TempDir::new("tasks");
    let bad: &'static [u8] = std::fs::read(super::inspection::backed_qcow2(&files.0))
        .expect("read")
        .leak();
    let r = app
        .request(Method::POST, "/v2/images")
        .header("X-Tenant-Id", "p1")
        .header("X-Roles", "member,reader")
        .json(&json!({"name": "bad", "disk_format": "qcow2", "container_format": "bare"}))
        .send()
        .await
        .expect("create");
    let bad_id = r.json::<Value>().await.expect("image")["id"]
        .as_str()
        .expect("id")
        .to_string();
    for (method, path, body) in [
        (Method::PUT, format!("/v2/images/{bad_id}/stage"), None),
        (
            Method::POST,
            format!("/v2/images/{bad_id}/import"),
            Some(json!({"method": {"name": "glance-direct"}})),
        ),
    ] {
        let mut r = app
            .request(method, &path)
            .header("X-Tenant-Id", "p1")
            .header("X-Roles", "member,reader");
        r = match body {
            Some(b) => r.json(&b),
            None => r
                .header("Content-Type", "application/octet-stream")
                .body(bad),
        };
        assert!(r.send().await.expect("send").status().is_success());
    }
    app.ended_task(&bad_id, 1).await;

    // An administrator sees all five, newest first; a project its own.
    let (status, all) = task_list(app, "", None).await;
    assert_eq!(status, StatusCode::OK);
    let all_ids = ids(&all);
    assert_eq!(all_ids.len(), 5, "{all}");
    assert!(
        all["tasks"][0].get("input").is_none(),
        "listing hides input"
    );
    let created: Vec<String> = all["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["created_at"].as_str().expect("created_at").to_string())
        .collect();
    let mut sorted = created.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(created, sorted, "newest first");
    let (_, p1) = task_list(app, "", Some("p1")).await;
    assert_eq!(ids(&p1).len(), 4);
    let (_, p2) = task_list(app, "", Some("p2")).await;
    assert_eq!(ids(&p2).len(), 1);

    // Filters.
    let (_, failed) = task_list(app, "?status=failure", None).await;
    assert_eq!(ids(&failed).len(), 1, "{failed}");
    assert_eq!(failed["tasks"][0]["status"], "failure");
    let (_, ok) = task_list(app, "?status=success&type=api_image_import", None).await;
    assert_eq!(ids(&ok).len(), 4);
    let (_, none) = task_list(app, "?type=import", None).await;
    assert_eq!(ids(&none).len(), 0);

    // Ascending order is the reverse; pages of two walk all five exactly once.
    let (_, asc) = task_list(app, "?sort_dir=asc", None).await;
    let mut reversed = all_ids.clone();
    reversed.reverse();
    assert_eq!(ids(&asc), reversed);
    let mut walked = Vec::new();
    let mut next = Some("/v2/tasks?limit=2".to_string());
    while let Some(path) = next {
        let page: Value = app.get(&path).await.json().await.expect("page");
        walked.extend(ids(&page));
        next = page["next"].as_str().map(str::to_string);
        assert!(walked.len() <= 6, "paging does not end: {walked:?}");
    }
    assert_eq!(walked, all_ids);

    // Errors.
    for query in [
        "?status=done",
        "?type=x",
        "?sort_dir=up",
        "?sort_key=name",
        "?limit=-1",
        "?limit=many",
        "?marker=00000000-0000-0000-0000-000000000000",
        "?colour=red",
    ] {
        let (status, body) = task_list(app, query, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
    // Another project's task is unknown to a project, and a marker of it is invalid.
    let p2_task = ids(&p2).remove(0);
    let r = app
        .request(Method::GET, &format!("/v2/tasks/{p2_task}"))
        .header("X-Tenant-Id", "p1")
        .header("X-Roles", "member,reader")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (status, _) = task_list(app, &format!("?marker={p2_task}"), Some("p1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Glance's `tasks_api_access` is for administrators; this deployment's policy file opens the
/// tasks API to projects, which then see their own tasks.
fn tasks_for_projects(c: &mut glint_server::config::Config, dir: &TempDir) {
    let file = dir.0.join("policy.yaml");
    std::fs::write(&file, "tasks_api_access: 'role:admin or role:member'\n")
        .expect("write the policy file");
    c.policy_file = Some(file);
}

mod listing_filters_orders_and_pages {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = TempDir::new("tasks-policy");
        let app = TestApp::sqlite_with(|c| tasks_for_projects(c, &dir)).await;
        listing_filters_orders_and_pages(&app).await;
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let dir = TempDir::new("tasks-policy");
        let app = TestApp::postgres_with(|c| tasks_for_projects(c, &dir)).await;
        listing_filters_orders_and_pages(&app).await;
        app.stop().await;
    }
}

/// By Glance's defaults the tasks API is an administrator's: a project's member is refused
/// every call, naming the policy, while its images' tasks stay readable where the image is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tasks_api_is_for_administrators_by_default() {
    let app = TestApp::sqlite().await;
    let member = Some(("p1", "member"));
    let id = app
        .create(json!({"name": "t", "disk_format": "raw", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    for (method, path) in [
        (Method::GET, "/v2/tasks".to_string()),
        (
            Method::GET,
            "/v2/tasks/00000000-0000-0000-0000-000000000000".to_string(),
        ),
        (
            Method::DELETE,
            "/v2/tasks/00000000-0000-0000-0000-000000000000".to_string(),
        ),
    ] {
        let (status, body) = app.call(member, method.clone(), &path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert!(body.to_string().contains("tasks_api_access"), "{body}");
    }
    let (status, _) = app.call(None, Method::GET, "/v2/tasks", None).await;
    assert_eq!(status, StatusCode::OK, "an administrator lists tasks");
    let (status, body) = app
        .call(
            Some(("p2", "member")),
            Method::GET,
            &format!("/v2/images/{id}/tasks"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not p2's image: {body}");
    app.stop().await;
}

/// A task that fails in the server's storage says so in words a user can act on; the error
/// itself (paths, the system's message) stays in the server's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_imports_message_keeps_internals_in_the_log() {
    let app = TestApp::sqlite().await;
    let id = app
        .create(json!({"name": "s", "disk_format": "raw", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/stage"))
        .header("Content-Type", "application/octet-stream")
        .body(vec![7u8; 100_000])
        .send()
        .await
        .expect("stage");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The store's folder goes away under the server: writing the image fails.
    let images = app.data.0.join("images");
    std::fs::remove_dir_all(&images).expect("remove the store's folder");
    let (status, body) = app
        .call(
            None,
            Method::POST,
            &format!("/v2/images/{id}/import"),
            Some(json!({"method": {"name": "glance-direct"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task = app.ended_task(&id, 1).await;
    assert_eq!(task["status"], "failure", "{task}");
    let message = task["message"].as_str().expect("a message");
    assert!(message.contains("server's log"), "{message}");
    let shown = task.to_string();
    for internal in [
        images.display().to_string(),
        "No such file".into(),
        "I/O".into(),
    ] {
        assert!(!shown.contains(&internal), "{internal} in {shown}");
    }
    app.stop().await;
}
