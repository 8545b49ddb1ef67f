//! Who reads history and plans, and what of an image they show: an access matrix over Glint's
//! own surfaces (history, restore and its preview, PATCH and v1 PUT previews) beside the
//! image itself, with a property protections file, callers of every role in the owner project,
//! a member project (accepted and pending), and another project, on a private, then shared,
//! then public image. A secret only administrators may read and a value the owner removed
//! must appear in nothing shown to a caller who may not read it, and refused requests change
//! nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{PATCH_V21, TempDir, TestApp};

const RULES: &str = "
[^x_secret_.*]
create = admin
read = admin
update = admin
delete = admin

[.*]
create = admin,member
read = admin,member,reader
update = admin,member
delete = admin,member
";

/// The admin-only value and the value the owner removed.
const SECRET: &str = "adminonly-4711";
const REMOVED: &str = "temp-token-0815";
/// The signature in the URL the owner's web-download import fetched.
const SIGNATURE: &str = "sig-SIGNED-0042";

/// A caller: project and roles (the trusted headers of the test deployment).
#[derive(Debug, Clone, Copy)]
struct Who {
    name: &'static str,
    project: &'static str,
    roles: &'static str,
}

const ADMIN: Who = Who {
    name: "admin",
    project: "p0",
    roles: "admin,member,reader",
};
const OWNER_MEMBER: Who = Who {
    name: "owner member",
    project: "p1",
    roles: "member,reader",
};
const OWNER_READER: Who = Who {
    name: "owner reader",
    project: "p1",
    roles: "reader",
};
const ACCEPTED: Who = Who {
    name: "member project (accepted)",
    project: "p2",
    roles: "member,reader",
};
const PENDING: Who = Who {
    name: "member project (pending)",
    project: "p3",
    roles: "member,reader",
};
const OTHER: Who = Who {
    name: "other project",
    project: "p4",
    roles: "member,reader",
};
const OTHER_READER: Who = Who {
    name: "other project's reader",
    project: "p4",
    roles: "reader",
};

/// A response as text: status, headers and body.
struct Seen {
    status: StatusCode,
    text: String,
    body: Value,
}

async fn call(
    app: &TestApp,
    who: Who,
    method: Method,
    path: &str,
    body: Option<(&str, Value)>,
    preview: bool,
) -> Seen {
    let mut r = app
        .request(method, path)
        .header("X-Tenant-Id", who.project)
        .header("X-Roles", who.roles)
        .header("Accept", "application/json");
    if preview {
        r = r.header("Prefer", "return=preview");
    }
    if let Some((content_type, b)) = body {
        r = r.header("Content-Type", content_type).body(b.to_string());
    }
    let r = r.send().await.expect("request");
    let status = r.status();
    let headers = format!("{:?}", r.headers());
    let text = r.text().await.expect("body");
    Seen {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text: format!("{headers}\n{text}"),
    }
}

/// Nothing `who` may not read is in what it was shown (the secret's name only where the
/// caller did not name it itself).
fn reveals_nothing(
    seen: &Seen,
    who: Who,
    may_read_secret: bool,
    may_read_removed: bool,
    what: &str,
) {
    if !may_read_secret {
        let named = what.starts_with("restore") && seen.text.contains("x_secret_key has never");
        let hidden: &[&str] = if named {
            &[SECRET]
        } else {
            &[SECRET, "x_secret_key"]
        };
        for hidden in hidden {
            assert!(
                !seen.text.contains(hidden),
                "{what} shows {hidden} to {}: {}",
                who.name,
                seen.text
            );
        }
    }
    if !may_read_removed {
        assert!(
            !seen.text.contains(REMOVED),
            "{what} shows the removed value to {}: {}",
            who.name,
            seen.text
        );
    }
}

/// Every surface, for every caller, with the statuses expected at this visibility: `visible`
/// lists who can see the image (the others get 404).
async fn check_all(app: &TestApp, id: &str, visible: &[&str], stage: &str) {
    let everyone = [
        ADMIN,
        OWNER_MEMBER,
        OWNER_READER,
        ACCEPTED,
        PENDING,
        OTHER,
        OTHER_READER,
    ];
    for who in everyone {
        let sees = who.name == "admin" || visible.contains(&who.name);
        let writes = who.name == "admin" || who.name == "owner member";
        let may_read_secret = who.name == "admin";
        let what = |s: &str| format!("{s} ({stage})");
        let before = app.show(id).await["updated_at"].clone();

        // The image itself.
        let shown = call(
            app,
            who,
            Method::GET,
            &format!("/v2/images/{id}"),
            None,
            false,
        )
        .await;
        let expected = if sees {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(shown.status, expected, "{}: GET ({stage})", who.name);
        reveals_nothing(&shown, who, may_read_secret, false, &what("GET"));
        let head = call(
            app,
            who,
            Method::HEAD,
            &format!("/v1/images/{id}"),
            None,
            false,
        )
        .await;
        reveals_nothing(&head, who, may_read_secret, false, &what("v1 HEAD"));

        // The image's tasks: all of them for those who may change it, with the import's signed
        // source; others only their own project's (the owner project's reader sees the task
        // as it would at /v2/tasks/{id}; other projects see none of it).
        let tasks = call(
            app,
            who,
            Method::GET,
            &format!("/v2/images/{id}/tasks"),
            None,
            false,
        )
        .await;
        let expected = if sees {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(tasks.status, expected, "{}: tasks ({stage})", who.name);
        assert_eq!(
            tasks.text.contains(SIGNATURE),
            writes || (sees && who.project == "p1"),
            "{}: the import's source in {}",
            who.name,
            tasks.text
        );

        // History: for those who may change the image; 403 for those who only see it.
        let expected = match (sees, writes) {
            (_, true) => StatusCode::OK,
            (true, false) => StatusCode::FORBIDDEN,
            (false, _) => StatusCode::NOT_FOUND,
        };
        let history = call(
            app,
            who,
            Method::GET,
            &format!("/v2/images/{id}/history"),
            None,
            false,
        )
        .await;
        assert_eq!(history.status, expected, "{}: history ({stage})", who.name);
        reveals_nothing(&history, who, may_read_secret, writes, &what("history"));
        if writes {
            assert!(
                history.text.contains(REMOVED),
                "the owner finds the removed value: {}",
                history.text
            );
            assert_eq!(
                may_read_secret,
                history.text.contains(SECRET),
                "{}: {}",
                who.name,
                history.text
            );
        }

        // Restore by name and by change, previewed and applied.
        for body in [
            json!({"properties": ["temp_token"]}),
            json!({"properties": ["x_secret_key"]}),
            json!({"change": 1}),
        ] {
            let restore = call(
                app,
                who,
                Method::POST,
                &format!("/v2/images/{id}/history/restore"),
                Some(("application/json", body.clone())),
                true,
            )
            .await;
            if !writes {
                assert_eq!(restore.status, expected, "{}: restore {body}", who.name);
            }
            reveals_nothing(
                &restore,
                who,
                may_read_secret,
                writes,
                &what("restore preview"),
            );
        }
        let restore = call(
            app,
            who,
            Method::POST,
            &format!("/v2/images/{id}/history/restore"),
            Some(("application/json", json!({"properties": ["x_secret_key"]}))),
            false,
        )
        .await;
        reveals_nothing(&restore, who, may_read_secret, writes, &what("restore"));
        if !may_read_secret && writes {
            assert_eq!(
                restore.status,
                StatusCode::NOT_FOUND,
                "an unreadable key cannot be restored by name: {}",
                restore.text
            );
        }

        // Previews of a PATCH and of a v1 PUT that purges.
        let patch = call(
            app,
            who,
            Method::PATCH,
            &format!("/v2/images/{id}"),
            Some((
                PATCH_V21,
                json!([{"op": "add", "path": "/plain2", "value": "x"}]),
            )),
            true,
        )
        .await;
        if writes {
            assert_eq!(patch.status, StatusCode::OK, "{}: {}", who.name, patch.text);
            assert!(patch.body.get("kept").is_some(), "a plan: {}", patch.text);
        } else {
            assert!(
                patch.status.is_client_error(),
                "{}: {}",
                who.name,
                patch.text
            );
        }
        reveals_nothing(&patch, who, may_read_secret, writes, &what("PATCH preview"));
        let put = app
            .request(Method::PUT, &format!("/v1/images/{id}"))
            .header("X-Tenant-Id", who.project)
            .header("X-Roles", who.roles)
            .header("Prefer", "return=preview")
            .header("x-image-meta-property-plain", "3")
            .header("x-glance-registry-purge-props", "true")
            .send()
            .await
            .expect("v1 put");
        let status = put.status();
        let headers = format!("{:?}", put.headers());
        let text = put.text().await.expect("body");
        let v1 = Seen {
            status,
            body: Value::Null,
            text: format!("{headers}\n{text}"),
        };
        if writes {
            assert_eq!(v1.status, StatusCode::OK, "{}: {}", who.name, v1.text);
        }
        reveals_nothing(&v1, who, may_read_secret, writes, &what("v1 PUT preview"));

        // Nothing above changed the image.
        assert_eq!(
            app.show(id).await["updated_at"],
            before,
            "{}: a refused or previewed request changed the image",
            who.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_plans_and_previews_on_sqlite() {
    let files = TempDir::new("history-access");
    let rules = files.0.join("property-protections.conf");
    std::fs::write(&rules, RULES).expect("write rules");
    let port = source().await;
    let app = TestApp::sqlite_with(move |c| {
        c.property_protections = Some(rules);
        c.import_filter.exceptions = vec![format!("127.0.0.1:{port}")];
    })
    .await;
    matrix(app, port).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_plans_and_previews_on_postgres() {
    let files = TempDir::new("history-access");
    let rules = files.0.join("property-protections.conf");
    std::fs::write(&rules, RULES).expect("write rules");
    let port = source().await;
    let app = TestApp::postgres_with(move |c| {
        c.property_protections = Some(rules);
        c.import_filter.exceptions = vec![format!("127.0.0.1:{port}")];
    })
    .await;
    matrix(app, port).await;
}

/// The web-download source: a small raw image at a signed URL.
async fn source() -> u16 {
    super::webdownload::source(vec![(
        "/image.raw?sig=sig-SIGNED-0042",
        vec![5u8; 64 * 1024],
    )])
    .await
}

async fn matrix(app: TestApp, port: u16) {
    // An administrator registers an image for p1 with a secret only administrators read.
    let image = app
        .create(json!({"name": "h", "owner": "p1", "disk_format": "raw",
                       "container_format": "bare", "x_secret_key": SECRET, "plain": "3"}))
        .await;
    let id = image["id"].as_str().expect("id").to_string();
    // The owner sets a token, then removes it: it must not travel with the image.
    for ops in [
        json!([{"op": "add", "path": "/temp_token", "value": REMOVED}]),
        json!([{"op": "remove", "path": "/temp_token"}]),
    ] {
        let r = call(
            &app,
            OWNER_MEMBER,
            Method::PATCH,
            &format!("/v2/images/{id}"),
            Some((PATCH_V21, ops)),
            false,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    // The owner imports its data from a signed URL.
    let r = call(
        &app,
        OWNER_MEMBER,
        Method::POST,
        &format!("/v2/images/{id}/import"),
        Some((
            "application/json",
            json!({"method": {"name": "web-download",
                              "uri": format!("http://127.0.0.1:{port}/image.raw?sig={SIGNATURE}")}}),
        )),
        false,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let task = app.ended_task(&id, 1).await;
    assert_eq!(task["status"], "success", "{task}");
    check_all(&app, &id, &["owner member", "owner reader"], "private").await;

    // Shared with p2 (accepted) and p3 (pending).
    let r = call(
        &app,
        OWNER_MEMBER,
        Method::PATCH,
        &format!("/v2/images/{id}"),
        Some((
            PATCH_V21,
            json!([{"op": "replace", "path": "/visibility", "value": "shared"}]),
        )),
        false,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for member in ["p2", "p3"] {
        let r = call(
            &app,
            OWNER_MEMBER,
            Method::POST,
            &format!("/v2/images/{id}/members"),
            Some(("application/json", json!({"member": member}))),
            false,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let r = call(
        &app,
        ACCEPTED,
        Method::PUT,
        &format!("/v2/images/{id}/members/p2"),
        Some(("application/json", json!({"status": "accepted"}))),
        false,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    check_all(
        &app,
        &id,
        &[
            "owner member",
            "owner reader",
            "member project (accepted)",
            "member project (pending)",
        ],
        "shared",
    )
    .await;

    // An administrator makes it public: every project sees it, none reads its history.
    let r = call(
        &app,
        ADMIN,
        Method::PATCH,
        &format!("/v2/images/{id}"),
        Some((
            PATCH_V21,
            json!([{"op": "replace", "path": "/visibility", "value": "public"}]),
        )),
        false,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    check_all(
        &app,
        &id,
        &[
            "owner member",
            "owner reader",
            "member project (accepted)",
            "member project (pending)",
            "other project",
            "other project's reader",
        ],
        "public",
    )
    .await;
    app.stop().await;
}
