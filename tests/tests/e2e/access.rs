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

/// Expected status of uploading data to a queued image (`PUT /file`).
const UPLOAD: [[u16; 4]; 6] = [
    [204, 204, 204, 204],
    [204, 204, 204, 204],
    [403, 403, 403, 403],
    [404, 404, 403, 403],
    [404, 403, 403, 403],
    [404, 404, 404, 404],
];

/// Expected status of downloading an active image (`GET /file`): whoever sees it with the
/// `member` role (Glance's download_image); a reader sees the image but may not download it.
const DOWNLOAD: [[u16; 4]; 6] = [
    [200, 200, 200, 200],
    [200, 200, 200, 200],
    [403, 403, 403, 403],
    [404, 404, 200, 200],
    [404, 200, 200, 200],
    [404, 404, 404, 404],
];

/// Expected status of deactivating an active image: administrators and members of the owner
/// project (Glance's `deactivate` policy).
const DEACTIVATE: [[u16; 4]; 6] = [
    [204, 204, 204, 204],
    [204, 204, 204, 204],
    [403, 403, 403, 403],
    [404, 404, 403, 403],
    [404, 403, 403, 403],
    [404, 404, 404, 404],
];

/// Sharing a shared image (add a member, list members), per identity.
const ADD_MEMBER: [u16; 6] = [200, 200, 403, 404, 403, 404];
const LIST_MEMBERS: [u16; 6] = [200, 200, 200, 404, 200, 404];

/// Images owned by p1 in each visibility, shared with p3 (accepted) when shared.
async fn images_of_p1(app: &TestApp, tag: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for visibility in VISIBILITIES {
        let r = as_who(app, 0, Method::POST, "/v2/images")
            .json(&json!({
                "name": format!("{tag}-{visibility}"), "owner": "p1", "visibility": visibility,
                "disk_format": "raw", "container_format": "bare",
            }))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = r.json::<Value>().await.expect("json")["id"]
            .as_str()
            .expect("id")
            .to_string();
        if visibility == "shared" {
            let path = format!("/v2/images/{id}/members");
            let r = as_who(app, 1, Method::POST, &path)
                .json(&json!({"member": "p3"}))
                .send()
                .await
                .expect("share");
            assert_eq!(r.status(), StatusCode::OK);
            let r = as_who(app, 4, Method::PUT, &format!("{path}/p3"))
                .json(&json!({"status": "accepted"}))
                .send()
                .await
                .expect("accept");
            assert_eq!(r.status(), StatusCode::OK);
        }
        ids.push(id);
    }
    ids
}

async fn upload(app: &TestApp, who: usize, id: &str) -> u16 {
    as_who(app, who, Method::PUT, &format!("/v2/images/{id}/file"))
        .header("Content-Type", "application/octet-stream")
        .body(vec![1u8; 4096])
        .send()
        .await
        .expect("upload")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_matrix_for_data_state_and_sharing() {
    let app = TestApp::sqlite().await;
    let mut failures = Vec::new();
    let mut check = |what: String, got: u16, want: u16| {
        if got != want {
            failures.push(format!("{what}: {got}, expected {want}"));
        }
    };
    for (w, (name, _, _)) in WHO.iter().enumerate() {
        // Upload: fresh queued images for each identity.
        let ids = images_of_p1(&app, &format!("up{w}")).await;
        for (v, visibility) in VISIBILITIES.iter().enumerate() {
            let got = upload(&app, w, &ids[v]).await;
            check(format!("{name} upload {visibility}"), got, UPLOAD[w][v]);
        }
    }
    // Active images, uploaded by the owner.
    let active = images_of_p1(&app, "active").await;
    for id in &active {
        assert_eq!(upload(&app, 1, id).await, 204);
    }
    for (w, (name, _, _)) in WHO.iter().enumerate() {
        for (v, visibility) in VISIBILITIES.iter().enumerate() {
            let r = as_who(
                &app,
                w,
                Method::GET,
                &format!("/v2/images/{}/file", active[v]),
            )
            .send()
            .await
            .expect("download");
            let got = r.status().as_u16();
            if got == 200 {
                assert_eq!(r.bytes().await.expect("bytes").len(), 4096);
            }
            check(format!("{name} download {visibility}"), got, DOWNLOAD[w][v]);
        }
        let shared = &active[1];
        let got = as_who(
            &app,
            w,
            Method::POST,
            &format!("/v2/images/{shared}/members"),
        )
        .json(&json!({"member": format!("p9-{w}")}))
        .send()
        .await
        .expect("add member")
        .status()
        .as_u16();
        check(format!("{name} add member"), got, ADD_MEMBER[w]);
        let r = as_who(
            &app,
            w,
            Method::GET,
            &format!("/v2/images/{shared}/members"),
        )
        .send()
        .await
        .expect("members");
        let got = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let members: Vec<&str> = body["members"]
            .as_array()
            .map(|m| m.iter().filter_map(|m| m["member_id"].as_str()).collect())
            .unwrap_or_default();
        if got == 200 && w == 4 {
            assert_eq!(members, ["p3"], "a member lists only itself");
        }
        if got == 200 && w == 2 {
            assert!(
                members.len() >= 2,
                "the owner project's readers see every member: {body}"
            );
        }
        check(format!("{name} list members"), got, LIST_MEMBERS[w]);
    }
    // Deactivation, each identity on the active images; reactivated by the admin after each.
    for (w, (name, _, _)) in WHO.iter().enumerate() {
        for (v, visibility) in VISIBILITIES.iter().enumerate() {
            let id = &active[v];
            let got = as_who(
                &app,
                w,
                Method::POST,
                &format!("/v2/images/{id}/actions/deactivate"),
            )
            .send()
            .await
            .expect("deactivate")
            .status()
            .as_u16();
            check(
                format!("{name} deactivate {visibility}"),
                got,
                DEACTIVATE[w][v],
            );
            if got == 204 {
                // Deactivated data is for administrators only.
                let owner = as_who(&app, 1, Method::GET, &format!("/v2/images/{id}/file"))
                    .send()
                    .await
                    .expect("download")
                    .status()
                    .as_u16();
                check(
                    format!("owner download deactivated {visibility}"),
                    owner,
                    403,
                );
                let admin = as_who(&app, 0, Method::GET, &format!("/v2/images/{id}/file"))
                    .send()
                    .await
                    .expect("download")
                    .status()
                    .as_u16();
                check(
                    format!("admin download deactivated {visibility}"),
                    admin,
                    200,
                );
                let back = as_who(
                    &app,
                    0,
                    Method::POST,
                    &format!("/v2/images/{id}/actions/reactivate"),
                )
                .send()
                .await
                .expect("reactivate")
                .status()
                .as_u16();
                check(format!("admin reactivate {visibility}"), back, 204);
            }
        }
    }
    // Attributes only an administrator may set: publishing and changing the owner.
    let id = &active[0];
    let patch = |who: usize, path: &'static str, value: Value| {
        as_who(&app, who, Method::PATCH, &format!("/v2/images/{id}"))
            .header("Content-Type", PATCH_V21)
            .body(json!([{"op": "replace", "path": path, "value": value}]).to_string())
            .send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    check(
        "member publishes".into(),
        status(
            patch(1, "/visibility", json!("public"))
                .await
                .expect("patch"),
        ),
        403,
    );
    check(
        "member makes community".into(),
        status(
            patch(1, "/visibility", json!("community"))
                .await
                .expect("patch"),
        ),
        200,
    );
    check(
        "member gives the image away".into(),
        status(patch(1, "/owner", json!("p2")).await.expect("patch")),
        403,
    );
    check(
        "member hides the image".into(),
        status(patch(1, "/os_hidden", json!(true)).await.expect("patch")),
        200,
    );
    check(
        "admin publishes".into(),
        status(
            patch(0, "/visibility", json!("public"))
                .await
                .expect("patch"),
        ),
        200,
    );
    check(
        "admin changes the owner".into(),
        status(patch(0, "/owner", json!("p2")).await.expect("patch")),
        200,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    app.stop().await;
}
