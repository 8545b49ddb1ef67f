//! Notifications through the real RabbitMQ to a real oslo.messaging notification listener, as
//! Ceilometer receives Glance's: every event of a scenario arrives, decoded by oslo.messaging,
//! with Glance's payload fields and never an image's locations; and none is lost when the
//! broker drops the server's connection.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TempDir, TestApp};
use crate::python::venv_with;

const BROKER: &str = "rabbit://guest:guest@127.0.0.1:5672/";

/// The listener: oslo.messaging's notification listener on the `glance` exchange, writing what
/// it receives as JSON lines.
const LISTENER: &str = r#"
import json, sys
import oslo_messaging
from oslo_config import cfg

url, exchange, topic, out = sys.argv[1:5]
conf = cfg.ConfigOpts()
conf([])
transport = oslo_messaging.get_notification_transport(conf, url=url)
target = oslo_messaging.Target(topic=topic, exchange=exchange)

class Endpoint:
    def _seen(self, priority, publisher_id, event_type, payload, metadata):
        with open(out, 'a') as f:
            f.write(json.dumps({'priority': priority, 'publisher_id': publisher_id,
                                'event_type': event_type, 'payload': payload,
                                'message_id': metadata.get('message_id'),
                                'timestamp': metadata.get('timestamp')}) + '\n')
    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self._seen('INFO', publisher_id, event_type, payload, metadata)
    def warn(self, ctxt, publisher_id, event_type, payload, metadata):
        self._seen('WARN', publisher_id, event_type, payload, metadata)
    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        self._seen('ERROR', publisher_id, event_type, payload, metadata)

listener = oslo_messaging.get_notification_listener(
    transport, [target], [Endpoint()], executor='threading')
# One worker: notifications are handled in the order they arrive.
listener.start(override_pool_size=1)
print('ready', flush=True)
sys.stdin.read()
listener.stop()
listener.wait()
"#;

struct Listener {
    child: Child,
    out: std::path::PathBuf,
    /// The test's own topic: the queues named after it are removed at the end.
    topic: String,
    _dir: TempDir,
}

impl Listener {
    fn start(topic: &str) -> Listener {
        let venv = venv_with(&["oslo.messaging==18.3.1"]);
        let dir = TempDir::new("listener");
        let script = dir.0.join("listener.py");
        std::fs::write(&script, LISTENER).expect("the listener script");
        let out = dir.0.join("received.jsonl");
        let mut child = Command::new(venv.join("bin").join("python"))
            .arg(&script)
            .args([BROKER, "glance", topic])
            .arg(&out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the oslo.messaging listener");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("its output"))
            .read_line(&mut line)
            .expect("the listener starts");
        assert_eq!(line.trim(), "ready", "the listener did not start");
        Listener {
            child,
            out,
            topic: topic.to_string(),
            _dir: dir,
        }
    }

    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until `done` holds for what was received, and returns it.
    async fn until(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never arrived; received: {:?}",
                got.iter().map(|n| &n["event_type"]).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The queues this test's topic made (one per priority) go with it.
        let listed = Command::new("rabbitmqctl")
            .args(["list_queues", "name", "--quiet", "--no-table-headers"])
            .output();
        for line in listed
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|q| q.starts_with(&format!("{}.", self.topic)))
        {
            let _ = Command::new("rabbitmqctl")
                .args(["delete_queue", line])
                .output();
        }
    }
}

/// Settings that send notifications to the broker on the test's own topic.
fn to_broker(c: &mut glint_server::Config, topic: String) {
    c.notifications.driver = glint_server::config::NotificationDriver::Messagingv2;
    c.notifications.transport_url = Some(BROKER.into());
    c.notifications.topics = vec![topic];
}

fn of<'a>(got: &'a [Value], event_type: &str, image: &str) -> Vec<&'a Value> {
    got.iter()
        .filter(|n| {
            n["event_type"] == event_type
                && (n["payload"]["id"] == image || n["payload"]["image_id"] == image)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_oslo_messaging_and_survive_the_broker() {
    let topic = format!("notifications_{}", uuid::Uuid::new_v4().simple());
    let listener = Listener::start(&topic);
    let t = topic.clone();
    let app = TestApp::sqlite_with(move |c| {
        to_broker(c, t);
        c.notifications.publisher_id = "image.glint-test".into();
    })
    .await;
    let owner = Some(("p1", "member,reader"));
    let (s, image) = app
        .call(
            owner,
            Method::POST,
            "/v2/images",
            Some(
                json!({"name": "n", "disk_format": "raw", "container_format": "bare",
                        "os_distro": "debian", "scratch": "x"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{image}");
    let id = image["id"].as_str().expect("an id").to_string();
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/file"))
        .header("X-Tenant-Id", "p1")
        .header("X-Roles", "member,reader")
        .header("Content-Type", "application/octet-stream")
        .body(vec![7u8; 4096])
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let data = app
        .request(Method::GET, &format!("/v2/images/{id}/file"))
        .header("X-Tenant-Id", "p1")
        .header("X-Roles", "member,reader")
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("the data");
    assert_eq!(data.len(), 4096);
    let r = app
        .request(Method::PATCH, &format!("/v2/images/{id}"))
        .header("X-Tenant-Id", "p1")
        .header("X-Roles", "member,reader")
        .header("Content-Type", crate::harness::PATCH_V21)
        .body(
            json!([{"op": "remove", "path": "/scratch"},
                   {"op": "replace", "path": "/visibility", "value": "shared"}])
            .to_string(),
        )
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::OK);
    let members = format!("/v2/images/{id}/members");
    let (s, _) = app
        .call(owner, Method::POST, &members, Some(json!({"member": "p2"})))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .call(
            Some(("p2", "member,reader")),
            Method::PUT,
            &format!("{members}/p2"),
            Some(json!({"status": "accepted"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // A failed import: staged data that is not the qcow2 it claims to be.
    let (_, bad) = app
        .call(
            owner,
            Method::POST,
            "/v2/images",
            Some(json!({"name": "bad", "disk_format": "qcow2", "container_format": "bare"})),
        )
        .await;
    let bad_id = bad["id"].as_str().expect("an id").to_string();
    let r = app
        .request(Method::PUT, &format!("/v2/images/{bad_id}/stage"))
        .header("X-Tenant-Id", "p1")
        .header("X-Roles", "member,reader")
        .header("Content-Type", "application/octet-stream")
        .body(vec![0u8; 2048])
        .send()
        .await
        .expect("stage");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (s, _) = app
        .call(
            owner,
            Method::POST,
            &format!("/v2/images/{bad_id}/import"),
            Some(json!({"method": {"name": "glance-direct"}})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(app.ended_task(&bad_id, 1).await["status"], "failure");
    let (s, _) = app
        .call(owner, Method::DELETE, &format!("/v2/images/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let got = listener
        .until("the scenario's notifications", |got| {
            got.iter().any(|n| n["event_type"] == "task.failure")
                && !of(got, "image.delete", &id).is_empty()
        })
        .await;
    // In the order they happened; a download's image.send is written as its stream ends, so
    // its place among the metadata changes is not fixed.
    let kinds: Vec<&str> = got
        .iter()
        .filter(|n| n["payload"]["id"] == id.as_str() || n["payload"]["image_id"] == id.as_str())
        .filter_map(|n| n["event_type"].as_str())
        .filter(|e| *e != "image.send")
        .collect();
    assert_eq!(
        kinds,
        [
            "image.create",
            "image.prepare",
            "image.upload",
            "image.activate",
            "image.update",
            "image.member.create",
            "image.member.update",
            "image.delete"
        ],
        "in the order they happened"
    );
    assert_eq!(of(&got, "image.send", &id).len(), 1);
    for n in &got {
        assert_eq!(n["publisher_id"], "image.glint-test", "{n}");
        assert!(
            n["message_id"].as_str().is_some_and(|m| m.len() == 36),
            "{n}"
        );
        assert!(n["payload"].get("locations").is_none(), "no locations: {n}");
    }
    let created = &of(&got, "image.create", &id)[0]["payload"];
    for field in [
        "id",
        "name",
        "status",
        "created_at",
        "updated_at",
        "min_disk",
        "min_ram",
        "protected",
        "checksum",
        "owner",
        "disk_format",
        "container_format",
        "size",
        "virtual_size",
        "is_public",
        "visibility",
        "properties",
        "tags",
        "deleted",
        "deleted_at",
    ] {
        assert!(
            created.get(field).is_some(),
            "image.create lacks {field}: {created}"
        );
    }
    assert_eq!(created["owner"], "p1");
    assert_eq!(created["properties"]["os_distro"], "debian");
    let activated = &of(&got, "image.activate", &id)[0]["payload"];
    assert_eq!(activated["status"], "active");
    assert_eq!(activated["size"], 4096);
    let sent = &of(&got, "image.send", &id)[0];
    assert_eq!(sent["priority"], "INFO");
    assert_eq!(sent["payload"]["bytes_sent"], 4096);
    assert_eq!(sent["payload"]["owner_id"], "p1");
    assert_eq!(sent["payload"]["receiver_tenant_id"], "p1");
    let updated = &of(&got, "image.update", &id)[0]["payload"];
    assert_eq!(
        updated["changes"]["removed"],
        json!(["scratch"]),
        "{updated}"
    );
    assert!(updated["properties"].get("scratch").is_none());
    assert_eq!(updated["visibility"], "shared");
    let accepted = &of(&got, "image.member.update", &id)[0]["payload"];
    assert_eq!(
        (accepted["member_id"].as_str(), accepted["status"].as_str()),
        (Some("p2"), Some("accepted"))
    );
    let deleted = &of(&got, "image.delete", &id)[0]["payload"];
    assert_eq!(deleted["deleted"], true);
    assert!(deleted["deleted_at"].is_string());
    let failed: Vec<&Value> = got
        .iter()
        .filter(|n| {
            n["event_type"]
                .as_str()
                .is_some_and(|e| e.starts_with("task."))
        })
        .collect();
    let task_kinds: Vec<&str> = failed
        .iter()
        .filter_map(|n| n["event_type"].as_str())
        .collect();
    assert_eq!(
        task_kinds,
        ["task.create", "task.run", "task.processing", "task.failure"]
    );
    assert_eq!(failed[3]["payload"]["type"], "api_image_import");

    // The broker drops every connection: what happens meanwhile still arrives, once each
    // (or again, with the same message id).
    let closed = Command::new("rabbitmqctl")
        .args(["close_all_connections", "a test of lost connections"])
        .output()
        .expect("rabbitmqctl (RabbitMQ's own tool) is needed for this test");
    assert!(closed.status.success(), "{closed:?}");
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create(json!({"name": format!("after-{i}")})).await["id"].clone());
    }
    let got = listener
        .until(
            "the notifications made while the broker dropped the connection",
            |got| {
                ids.iter().all(|id| {
                    got.iter()
                        .any(|n| n["event_type"] == "image.create" && n["payload"]["id"] == *id)
                })
            },
        )
        .await;
    let mut seen = std::collections::BTreeMap::new();
    for n in &got {
        let previous = seen.insert(n["message_id"].to_string(), n.clone());
        if let Some(p) = previous {
            assert_eq!(p, *n, "a message id names one notification");
        }
    }

    // `glint db purge` removes the failed task once it is old, and tells it as the servers'
    // settings say (here from their file).
    let task_id = failed[0]["payload"]["id"].clone();
    let pool = sqlx::AnyPool::connect(&app.sqlx_url())
        .await
        .expect("the database");
    sqlx::query("UPDATE tasks SET updated_at = $1 WHERE id = $2")
        .bind(glint_server::time::now_micros() - 10 * 86_400 * 1_000_000)
        .bind(task_id.as_str().expect("a task id"))
        .execute(&pool)
        .await
        .expect("age the task");
    pool.close().await;
    let dir = TempDir::new("purge-config");
    let file = dir.0.join("glint.toml");
    std::fs::write(
        &file,
        format!(
            "notification_driver = \"messagingv2\"\nnotification_transport_url = \"{BROKER}\"\n\
             notification_topics = [\"{topic}\"]\n"
        ),
    )
    .expect("the settings file");
    let args = glint_server::DbArgs {
        data_dir: None,
        database_url: Some(app.database_url.clone()),
        config: Some(file),
    };
    let purged = glint_server::purge(
        &args,
        &glint_server::db::Purge {
            deleted_before: glint_server::time::now_micros() - 7 * 86_400 * 1_000_000,
            history_before: None,
            max_images: None,
            apply: true,
        },
    )
    .await
    .expect("a purge");
    assert_eq!(purged.tasks, 1);
    let got = listener
        .until("the purged task's task.delete", |got| {
            got.iter().any(|n| n["event_type"] == "task.delete")
        })
        .await;
    let gone: Vec<&Value> = got
        .iter()
        .filter(|n| n["event_type"] == "task.delete")
        .collect();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["payload"]["id"], task_id);
    assert_eq!(gone[0]["payload"]["deleted"], true);
    assert_eq!(gone[0]["payload"]["status"], "failure");
    app.stop().await;
}

/// Notifications made while the broker cannot be reached wait in the outbox, across a restart,
/// and are sent once it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_keeps_notifications_across_an_outage_and_a_restart() {
    let topic = format!("notifications_{}", uuid::Uuid::new_v4().simple());
    let listener = Listener::start(&topic);
    let shared = TempDir::new("outbox");
    let node = crate::harness::shared_node(&shared.0, "a");
    let t = topic.clone();
    let unreachable = TestApp::sqlite_with(move |c| {
        node(c);
        to_broker(c, t);
        // Nothing listens on port 1.
        c.notifications.transport_url = Some("rabbit://guest:guest@127.0.0.1:1/".into());
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            unreachable
                .create(json!({"name": format!("kept-{i}")}))
                .await["id"]
                .clone(),
        );
    }
    // The database both servers share.
    let db = format!("sqlite://{}", shared.0.join("shared.db").display());
    let pool = sqlx::AnyPool::connect(&db)
        .await
        .expect("the shared database");
    let waiting = sqlx::query("SELECT event_type FROM notification_outbox WHERE payload LIKE $1")
        .bind("%kept-%")
        .fetch_all(&pool)
        .await
        .expect("the outbox");
    pool.close().await;
    assert_eq!(waiting.len(), 3, "the notifications wait in the outbox");
    unreachable.stop().await;
    assert!(listener.received().is_empty(), "nothing could be sent");

    let node = crate::harness::shared_node(&shared.0, "a");
    let t = topic.clone();
    let back = TestApp::sqlite_with(move |c| {
        node(c);
        to_broker(c, t);
    })
    .await;
    let got = listener
        .until("the notifications kept in the outbox", |got| {
            ids.iter().all(|id| {
                got.iter()
                    .any(|n| n["event_type"] == "image.create" && n["payload"]["id"] == *id)
            })
        })
        .await;
    let order: Vec<&Value> = got.iter().map(|n| &n["payload"]["id"]).collect();
    assert_eq!(
        order,
        ids.iter().collect::<Vec<_>>(),
        "in the order they happened"
    );
    back.stop().await;
}

/// Metadata definitions changes are told as Glance tells them: a namespace made whole, then
/// its parts; renames with the old name beside the new; deletions marked deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadef_changes_reach_oslo_messaging() {
    let topic = format!("notifications_{}", uuid::Uuid::new_v4().simple());
    let listener = Listener::start(&topic);
    let t = topic.clone();
    let app = TestApp::sqlite_with(move |c| to_broker(c, t)).await;
    let admin = Some(("admin-project", "admin,member,reader"));
    let ns = format!("OS::Test::{}", uuid::Uuid::new_v4().simple());
    let (s, body) = app
        .call(
            admin,
            Method::POST,
            "/v2/metadefs/namespaces",
            Some(json!({
                "namespace": ns,
                "display_name": "Test",
                "visibility": "public",
                "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "t_"}],
                "objects": [{"name": "obj", "required": ["speed"],
                             "properties": {"speed": {"type": "integer", "title": "Speed", "minimum": 1}}}],
                "tags": [{"name": "fast"}],
                "properties": {"cores": {"type": "integer", "title": "Cores"}},
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let base = format!("/v2/metadefs/namespaces/{ns}");
    let (s, body) = app
        .call(
            admin,
            Method::PUT,
            &format!("{base}/properties/cores"),
            Some(json!({"name": "vcpus", "type": "integer", "title": "vCPUs"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _) = app
        .call(admin, Method::DELETE, &format!("{base}/tags/fast"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .call(admin, Method::DELETE, &format!("{base}/objects"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // A refused change tells nothing.
    let (s, _) = app
        .call(Some(("p1", "member,reader")), Method::DELETE, &base, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.call(admin, Method::DELETE, &base, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let got = listener
        .until("the namespace's deletion", |got| {
            got.iter()
                .any(|n| n["event_type"] == "metadef_namespace.delete")
        })
        .await;
    let mine: Vec<&Value> = got
        .iter()
        .filter(|n| n["payload"]["namespace"] == ns.as_str())
        .collect();
    let kinds: Vec<&str> = mine
        .iter()
        .filter_map(|n| n["event_type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "metadef_namespace.create",
            "metadef_resource_type.create",
            "metadef_object.create",
            "metadef_tag.create",
            "metadef_property.create",
            "metadef_property.update",
            "metadef_tag.delete",
            "metadef_namespace.delete_objects",
            "metadef_namespace.delete",
        ]
    );
    let created = &mine[0]["payload"];
    assert_eq!(
        (
            created["display_name"].as_str(),
            created["visibility"].as_str(),
            created["namespace_old"].as_str(),
            created["protected"].as_bool(),
        ),
        (Some("Test"), Some("public"), Some(ns.as_str()), Some(false))
    );
    let rt = &mine[1]["payload"];
    assert_eq!(
        (rt["name"].as_str(), rt["prefix"].as_str()),
        (Some("OS::Glance::Image"), Some("t_"))
    );
    let object = &mine[2]["payload"];
    assert_eq!(object["required"], json!(["speed"]));
    assert_eq!(object["properties"][0]["name"], "speed");
    assert_eq!(object["properties"][0]["minimum"], 1);
    assert!(object["properties"][0]["maximum"].is_null());
    let renamed = &mine[5]["payload"];
    assert_eq!(
        (
            renamed["name"].as_str(),
            renamed["name_old"].as_str(),
            renamed["title"].as_str()
        ),
        (Some("vcpus"), Some("cores"), Some("vCPUs"))
    );
    let tag = &mine[6]["payload"];
    assert_eq!(
        (tag["name"].as_str(), tag["deleted"].as_bool()),
        (Some("fast"), Some(true))
    );
    assert!(tag["deleted_at"].is_string());
    let gone = &mine[8]["payload"];
    assert_eq!(gone["deleted"], true);
    app.stop().await;
}

/// What a webhook receiver got: each POST's headers and body, and how many it turned away.
#[derive(Default)]
struct Received {
    accepted: Vec<(axum::http::HeaderMap, bytes::Bytes)>,
    /// POSTs answered 503 (the first ones, to make the sender try again).
    turned_away: usize,
}

/// A webhook receiver on loopback that answers the first `refuse` POSTs with 503.
async fn receiver(
    refuse: usize,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Received>>,
    tokio::task::JoinHandle<()>,
) {
    use axum::http::{HeaderMap, StatusCode as Status};
    let got = std::sync::Arc::new(std::sync::Mutex::new(Received::default()));
    let state = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: bytes::Bytes| {
            let state = state.clone();
            async move {
                let mut r = state.lock().expect("the receiver's state");
                if r.turned_away < refuse {
                    r.turned_away += 1;
                    return Status::SERVICE_UNAVAILABLE;
                }
                r.accepted.push((headers, body));
                Status::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!(
        "http://{}/hook",
        listener.local_addr().expect("its address")
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got, task)
}

/// Webhooks get every notification, signed, in order, each URL on its own: a receiver that
/// turns notifications away gets them again, and one that cannot be reached holds up no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_get_signed_notifications_again_until_taken() {
    use hmac::Mac as _;
    let (url, got, task) = receiver(2).await;
    let key = b"a webhook key".to_vec();
    let k = key.clone();
    let app = TestApp::sqlite_with(move |c| {
        // Nothing listens on port 1: that webhook never takes anything.
        c.notifications.webhooks = vec![url, "http://127.0.0.1:1/hook".into()];
        c.notifications.webhook_secret = Some(glint_server::config::Secret(k));
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            app.create(json!({"name": format!("hooked-{i}"), "color": "red"}))
                .await["id"]
                .as_str()
                .expect("an id")
                .to_string(),
        );
    }
    let (s, _) = app
        .call(
            None,
            Method::DELETE,
            &format!("/v2/images/{}", ids[0]),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let deadline = Instant::now() + Duration::from_secs(60);
    let messages: Vec<(axum::http::HeaderMap, Value)> = loop {
        let now: Vec<(axum::http::HeaderMap, bytes::Bytes)> =
            got.lock().expect("the receiver's state").accepted.clone();
        let parsed: Vec<(axum::http::HeaderMap, Value)> = now
            .iter()
            .map(|(h, b)| (h.clone(), serde_json::from_slice(b).expect("JSON")))
            .collect();
        if parsed
            .iter()
            .any(|(_, m)| m["event_type"] == "image.delete")
        {
            // Every body is signed with the key, over the bytes as sent.
            for (headers, body) in &now {
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("a key");
                mac.update(body);
                let hex: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                assert_eq!(
                    headers["x-glint-signature-256"].to_str().ok(),
                    Some(format!("sha256={hex}").as_str())
                );
            }
            break parsed;
        }
        assert!(Instant::now() < deadline, "the webhook got {parsed:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(got.lock().expect("state").turned_away, 2);
    let kinds: Vec<(String, String)> = messages
        .iter()
        .map(|(h, m)| {
            assert_eq!(h["x-glint-event"], m["event_type"].as_str().unwrap_or("?"));
            assert_eq!(
                h["x-glint-delivery"],
                m["message_id"].as_str().unwrap_or("?")
            );
            (
                m["event_type"].as_str().unwrap_or_default().to_string(),
                m["payload"]["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = ids
        .iter()
        .map(|id| ("image.create".to_string(), id.clone()))
        .chain([("image.delete".to_string(), ids[0].clone())])
        .collect();
    assert_eq!(kinds, expected, "each once, in order, after the refusals");
    assert_eq!(messages[0].1["payload"]["properties"]["color"], "red");
    assert_eq!(messages[0].1["priority"], "INFO");
    // The unreachable webhook's copies wait in the outbox.
    let pool = sqlx::AnyPool::connect(&app.sqlx_url())
        .await
        .expect("the database");
    let waiting = sqlx::query("SELECT DISTINCT sink FROM notification_outbox")
        .fetch_all(&pool)
        .await
        .expect("the outbox");
    pool.close().await;
    assert_eq!(waiting.len(), 1, "only the unreachable webhook's wait");
    app.stop().await;
    task.abort();
}
