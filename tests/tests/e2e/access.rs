//! Who may see and change what: roles × visibility × ownership × operation, as Glance decides
//! it. Each cell is checked over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{PATCH_V21, TestApp};

/// (name, project, roles)
const WHO: [(&str, &str, &str); 6] = [
    ("admin", "p0", "admin,member,reader"),
    ("owner-member", "p1", "member,reader"),
    ("owner-reader", "p1", "reader"),
    ("stranger", "p2", "member,reader"),
    ("image-member", "p3", "member,reader"),
    ("no-role", "p1", "nothing"),
];

const VISIBILITIES: [&str; 4] = ["private", "shared", "community", "public"];

fn as_who(app: &TestApp, who: usize, method: Method, path: &str) -> reqwest::RequestBuilder {
    let (_, project, roles) = WHO[who];
    app.request(method, path)
        .header("X-Tenant-Id", project)
        .header("X-Roles", roles)
}

/// Expected status of GET /v2/images/{id}, per identity (rows) and visibility (columns).
const SHOW: [[u16; 4]; 6] = [
    [200, 200, 200, 200],
    [200, 200, 200, 200],
    [200, 200, 200, 200],
    [404, 404, 200, 200],
    [404, 200, 200, 200],
    [404, 404, 404, 404],
];

/// Expected status of a PATCH adding a property.
const PATCH: [[u16; 4]; 6] = [
    [200, 200, 200, 200],
    [200, 200, 200, 200],
    [403, 403, 403, 403],
    [404, 404, 403, 403],
    [404, 403, 403, 403],
    [404, 404, 404, 404],
];

/// Whether the image is in the identity's default list.
const LISTED: [[bool; 4]; 6] = [
    [true, true, false, true],
    [true, true, true, true],
    [true, true, true, true],
    [false, false, false, true],
    [false, true, false, true],
    [false, false, false, false],
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_matrix() {
    let app = TestApp::sqlite().await;
    let mut ids = Vec::new();
    for visibility in VISIBILITIES {
        let r = as_who(&app, 0, Method::POST, "/v2/images")
            .json(&json!({"name": visibility, "owner": "p1", "visibility": visibility}))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), StatusCode::CREATED, "{visibility}");
        let id = r.json::<Value>().await.expect("json")["id"]
            .as_str()
            .expect("id")
            .to_string();
        if visibility == "shared" {
            let r = as_who(&app, 1, Method::POST, &format!("/v2/images/{id}/members"))
                .json(&json!({"member": "p3"}))
                .send()
                .await
                .expect("share");
            assert_eq!(r.status(), StatusCode::OK);
            let r = as_who(&app, 4, Method::PUT, &format!("/v2/images/{id}/members/p3"))
                .json(&json!({"status": "accepted"}))
                .send()
                .await
                .expect("accept");
            assert_eq!(r.status(), StatusCode::OK);
        }
        ids.push(id);
    }
    let mut failures = Vec::new();
    for (w, (name, _, _)) in WHO.iter().enumerate() {
        let listed: Vec<String> = {
            let r = as_who(&app, w, Method::GET, "/v2/images?limit=100")
                .send()
                .await
                .expect("list");
            if r.status() == StatusCode::OK {
                r.json::<Value>().await.expect("json")["images"]
                    .as_array()
                    .expect("images")
                    .iter()
                    .map(|i| i["id"].as_str().unwrap_or_default().to_string())
                    .collect()
            } else {
                assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name} list");
                Vec::new()
            }
        };
        for (v, visibility) in VISIBILITIES.iter().enumerate() {
            let id = &ids[v];
            let show = as_who(&app, w, Method::GET, &format!("/v2/images/{id}"))
                .send()
                .await
                .expect("show")
                .status()
                .as_u16();
            if show != SHOW[w][v] {
                failures.push(format!(
                    "{name} GET {visibility}: {show}, expected {}",
                    SHOW[w][v]
                ));
            }
            if listed.contains(id) != LISTED[w][v] {
                failures.push(format!(
                    "{name} list {visibility}: listed={}",
                    listed.contains(id)
                ));
            }
            let patch = as_who(&app, w, Method::PATCH, &format!("/v2/images/{id}"))
                .header("Content-Type", PATCH_V21)
                .body(json!([{"op": "add", "path": format!("/by_{w}"), "value": "x"}]).to_string())
                .send()
                .await
                .expect("patch")
                .status()
                .as_u16();
            if patch != PATCH[w][v] {
                failures.push(format!(
                    "{name} PATCH {visibility}: {patch}, expected {}",
                    PATCH[w][v]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Creating needs the member role; making an image public needs admin.
    let r = as_who(&app, 2, Method::POST, "/v2/images")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a reader cannot create");
    let r = as_who(&app, 1, Method::POST, "/v2/images")
        .json(&json!({"name": "x", "visibility": "public"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a member cannot publish");
    let r = as_who(&app, 1, Method::POST, "/v2/images")
        .json(&json!({"name": "x", "owner": "p2"}))
        .send()
        .await
        .expect("create");
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "a member cannot create for another project"
    );
    // Deleting: the reader of the owner may not, a stranger does not even see private images.
    let r = as_who(&app, 2, Method::DELETE, &format!("/v2/images/{}", ids[0]))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = as_who(&app, 3, Method::DELETE, &format!("/v2/images/{}", ids[0]))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = as_who(&app, 3, Method::DELETE, &format!("/v2/images/{}", ids[3]))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = as_who(&app, 1, Method::DELETE, &format!("/v2/images/{}", ids[0]))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.stop().await;
}
