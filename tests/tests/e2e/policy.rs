//! The operator's policy file (`--policy-file`, Glance's `policy.yaml`): its rules replace
//! Glance's defaults for the operations they name, and a changed file takes effect without a
//! restart.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{TempDir, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_file_overrides_and_reloads() {
    let dir = TempDir::new("policy");
    let file = dir.0.join("policy.yaml");
    std::fs::write(
        &file,
        "# Locations for administrators only; store details for nobody; members download\n\
         # their own project's images only.\n\
         \"fetch_image_location\": \"role:admin\"\n\
         \"stores_info_detail\": \"!\"\n\
         \"download_image\": \"role:admin or (role:member and project_id:%(project_id)s)\"\n",
    )
    .expect("write the policy file");
    let policy = file.clone();
    let store =
        |id: &str| glint_server::config::StoreConfig::new(id, glint_server::config::StoreKind::Fs);
    let app = TestApp::sqlite_with(move |c| {
        c.policy_file = Some(policy);
        // The legacy import task below may name this (closed) port.
        c.import_filter.exceptions = vec!["127.0.0.1:9".into()];
        c.stores = vec![store("one"), store("two")];
    })
    .await;
    let service = Some(("svc", "service,member,reader"));
    let member = Some(("p1", "member,reader"));
    let id = app
        .create(json!({"name": "p", "disk_format": "raw", "container_format": "bare", "visibility": "public"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        app.upload(&id, vec![7u8; 1000]).await.status(),
        StatusCode::NO_CONTENT
    );
    let locations = format!("/v2/images/{id}/locations");
    let (status, _) = app.call(service, Method::GET, &locations, None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the service role no longer reads locations"
    );
    let (status, body) = app.call(None, Method::GET, &locations, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .call(None, Method::GET, "/v2/info/stores/detail", None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "nobody, administrators included: {body}"
    );
    assert!(body.to_string().contains("stores_info_detail"), "{body}");
    // The public image is not another project's to download any more; its owner still can.
    let file_path = format!("/v2/images/{id}/file");
    let (status, _) = app.call(member, Method::GET, &file_path, None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "download_image as the file says"
    );
    let (status, _) = app
        .call(member, Method::GET, &format!("/v2/images/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "still visible");
    // Creating tasks: administrators by default, members too once the file says so (below).
    let task = json!({"type": "import", "input": {"import_from": "http://127.0.0.1:9/x",
        "import_from_format": "raw", "image_properties": {"name": "t"}}});
    let (status, body) = app
        .call(member, Method::POST, "/v2/tasks", Some(task.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("tasks_api_access"), "{body}");
    // What the file does not name keeps Glance's default: a member lists stores, not details.
    let (status, _) = app.call(member, Method::GET, "/v2/info/stores", None).await;
    assert_eq!(status, StatusCode::OK);

    // The operator changes the file: it takes effect without a restart.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    std::fs::write(
        &file,
        "\"stores_info_detail\": \"role:member\"\n\"tasks_api_access\": \"role:member\"\n",
    )
    .expect("rewrite");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, _) = app
            .call(member, Method::GET, "/v2/info/stores/detail", None)
            .await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new rules never applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // fetch_image_location and download_image are no longer named: Glance's defaults again.
    let (status, _) = app.call(service, Method::GET, &locations, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(member, Method::GET, &file_path, None).await;
    assert_eq!(status, StatusCode::OK, "a public image downloads again");
    let (status, body) = app
        .call(member, Method::POST, "/v2/tasks", Some(task))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "members may create tasks now: {body}"
    );

    // A change that does not parse leaves the rules as they were.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    std::fs::write(&file, "\"stores_info_detail\": \"role:member or\"\n").expect("rewrite");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (status, _) = app
        .call(member, Method::GET, "/v2/info/stores/detail", None)
        .await;
    assert_eq!(status, StatusCode::OK, "the last good rules hold");
    app.stop().await;
}

/// A policy file that cannot be read or parsed stops the start, naming the rule.
#[test]
fn a_broken_policy_file_is_refused_at_start() {
    let dir = TempDir::new("policy-broken");
    let file = dir.0.join("policy.yaml");
    std::fs::write(&file, "\"copy_image\": \"role:admin and\"\n").expect("write");
    let mut config = glint_server::Config::for_data_dir(&dir.0);
    config.policy_file = Some(file);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        glint_server::run(listener, config, async {}).await
    });
    let error = result.expect_err("refused").to_string();
    assert!(error.contains("copy_image"), "{error}");
}

/// Image decisions routed through the policy: an operator who lets a `publisher` role make
/// images public, keeps deletion for administrators, reserves history for them and lets only
/// `creator`s create; each refusal names its policy, and a dry run shows it in the plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_decisions_follow_the_operators_rules() {
    let dir = TempDir::new("policy-images");
    let file = dir.0.join("policy.yaml");
    std::fs::write(
        &file,
        "\"publicize_image\": \"role:admin or role:publisher\"\n\
         \"delete_image\": \"role:admin\"\n\
         \"get_image_history\": \"role:admin\"\n\
         \"add_image\": \"role:admin or (role:creator and project_id:%(project_id)s)\"\n\
         \"deactivate\": \"role:admin\"\n\
         \"modify_member\": \"role:admin\"\n",
    )
    .expect("write the policy file");
    let policy = file.clone();
    let app = TestApp::sqlite_with(move |c| c.policy_file = Some(policy)).await;
    let member = Some(("p1", "member,reader"));
    let creator = Some(("p1", "member,reader,creator"));
    let publisher = Some(("p1", "member,reader,publisher"));
    let body = json!({"name": "p", "disk_format": "raw", "container_format": "bare"});

    // Creating: only creators (the plan's first rule, named).
    let (status, refused) = app
        .call(member, Method::POST, "/v2/images", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(refused.to_string().contains("add_image"), "{refused}");
    let (status, image) = app
        .call(creator, Method::POST, "/v2/images", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{image}");
    let id = image["id"].as_str().expect("id").to_string();
    let path = format!("/v2/images/{id}");
    let public = json!([{"op": "replace", "path": "/visibility", "value": "public"}]);
    let patch = |who: Option<(&'static str, &'static str)>, query: &'static str| {
        let mut r = app
            .request(Method::PATCH, &format!("{path}{query}"))
            .header(
                "Content-Type",
                "application/openstack-images-v2.1-json-patch",
            )
            .json(&public);
        if let Some((project, roles)) = who {
            r = r.header("X-Tenant-Id", project).header("X-Roles", roles);
        }
        r.send()
    };
    // A member's dry run shows the refusal with the policy's name; the change is refused.
    let preview = patch(member, "?dry_run=true").await.expect("preview");
    let plan = preview.text().await.expect("plan");
    assert!(plan.contains("publicize_image"), "{plan}");
    let r = patch(member, "").await.expect("patch");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.expect("body").contains("publicize_image"));
    // A publisher may.
    let r = patch(publisher, "").await.expect("patch");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.show(&id).await["visibility"], "public");

    // Answering a share: administrators only here, whoever the member is.
    let (_, shared) = app
        .call(
            creator,
            Method::POST,
            "/v2/images",
            Some(json!({"name": "s", "visibility": "shared"})),
        )
        .await;
    let shared = shared["id"].as_str().expect("id").to_string();
    let members = format!("/v2/images/{shared}/members");
    let (status, body) = app
        .call(
            creator,
            Method::POST,
            &members,
            Some(json!({"member": "p2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = Some(json!({"status": "accepted"}));
    let (status, body) = app
        .call(
            Some(("p2", "member,reader")),
            Method::PUT,
            &format!("{members}/p2"),
            answer.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("modify_member"), "{body}");
    let (status, body) = app
        .call(None, Method::PUT, &format!("{members}/p2"), answer)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // History and deactivation: administrators only; deleting too.
    let history = format!("{path}/history");
    let (status, body) = app.call(member, Method::GET, &history, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("get_image_history"), "{body}");
    let (status, _) = app.call(None, Method::GET, &history, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .call(
            member,
            Method::POST,
            &format!("{path}/actions/deactivate"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app.call(member, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("delete_image"), "{body}");
    let (status, _) = app.call(None, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.stop().await;
}

/// Reads follow the operator's rules too: `get_image` narrowed to the caller's own project
/// hides another project's public image from the show, the lists (v2 and v1) and its
/// members; `get_images` refuses listing to readers; `get_members` to non-members of the
/// owner; metadata definitions readable by administrators only, created by a role the file
/// names. The web UI gets the same rules to plan with. Roles imply as Keystone's do (`member`
/// reads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_follow_the_operators_rules() {
    let dir = TempDir::new("policy-reads");
    let file = dir.0.join("policy.yaml");
    std::fs::write(
        &file,
        "\"get_image\": \"rule:context_is_admin or (role:reader and project_id:%(project_id)s)\"\n\
         \"get_images\": \"role:admin or role:member\"\n\
         \"get_members\": \"rule:context_is_admin or (role:member and project_id:%(project_id)s)\"\n\
         \"get_metadef_namespace\": \"rule:context_is_admin\"\n\
         \"add_metadef_namespace\": \"role:admin or role:metadef_editor\"\n\
         \"delete_metadef_namespace\": \"role:admin or role:metadef_editor\"\n\
         \"publicize_image\": \"role:admin\"\n",
    )
    .expect("write the policy file");
    let policy = file.clone();
    let app = TestApp::sqlite_with(move |c| c.policy_file = Some(policy)).await;
    let p1 = Some(("p1", "member"));
    let p1_reader = Some(("p1", "reader"));
    let p2 = Some(("p2", "member"));

    // p2's public image; p1's shared one, shared with p2.
    let (status, theirs) = app
        .call(
            p2,
            Method::POST,
            "/v2/images",
            Some(
                json!({"name": "theirs", "disk_format": "raw", "container_format": "bare",
                "visibility": "community"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    let theirs = theirs["id"].as_str().expect("id").to_string();
    let (status, mine) = app
        .call(
            p1,
            Method::POST,
            "/v2/images",
            Some(
                json!({"name": "mine", "disk_format": "raw", "container_format": "bare",
                "visibility": "shared"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    let mine = mine["id"].as_str().expect("id").to_string();
    let (status, _) = app
        .call(
            p1,
            Method::POST,
            &format!("/v2/images/{mine}/members"),
            Some(json!({"member": "p2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // get_image: another project's community image is not there for p1; its owner sees it.
    let (status, _) = app
        .call(p1, Method::GET, &format!("/v2/images/{theirs}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(p2, Method::GET, &format!("/v2/images/{theirs}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(p1, Method::GET, &format!("/v2/images/{theirs}/file"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor its data");
    let (status, list) = app
        .call(p1, Method::GET, "/v2/images?visibility=community", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["images"], json!([]), "the list hides it too");
    let (status, list) = app.call(p1, Method::GET, "/v1/images/detail", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["images"]
        .as_array()
        .expect("images")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, vec!["mine"], "and v1's");
    // p2, a member of p1's shared image, no longer sees it (it is not p2's project's).
    let (status, _) = app
        .call(p2, Method::GET, &format!("/v2/images/{mine}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            p2,
            Method::GET,
            &format!("/v2/images/{mine}/members/p2"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor its membership");

    // get_images: a reader of p1 may not list (named), a member may.
    let (status, body) = app.call(p1_reader, Method::GET, "/v2/images", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("get_images"), "{body}");
    let (status, _) = app.call(p1_reader, Method::GET, "/v1/images", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // ... yet shows its project's image (get_image holds for readers).
    let (status, _) = app
        .call(p1_reader, Method::GET, &format!("/v2/images/{mine}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // get_members: the owner's members list them, its readers may not.
    let members = format!("/v2/images/{mine}/members");
    let (status, body) = app.call(p1, Method::GET, &members, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["members"][0]["member_id"], "p2");
    let (status, body) = app.call(p1_reader, Method::GET, &members, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("get_members"), "{body}");

    // Metadata definitions: an administrator's public namespace is not there for p1.
    let (status, body) = app
        .call(
            None,
            Method::POST,
            "/v2/metadefs/namespaces",
            Some(json!({"namespace": "Ops::Public", "visibility": "public"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app
        .call(p1, Method::GET, "/v2/metadefs/namespaces/Ops::Public", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .call(p1, Method::GET, "/v2/metadefs/namespaces", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["namespaces"], json!([]), "{body}");
    let (status, body) = app
        .call(None, Method::GET, "/v2/metadefs/namespaces", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["namespaces"][0]["namespace"], "Ops::Public");
    // A role the file names creates namespaces. A plain member is refused; as it may read no
    // namespace at all, Glance's answer hides even the refusal (404, not 403).
    let ns = json!({"namespace": "Ops::Mine", "visibility": "private"});
    let (status, body) = app
        .call(
            p1,
            Method::POST,
            "/v2/metadefs/namespaces",
            Some(ns.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .call(
            Some(("p1", "member,metadef_editor")),
            Method::POST,
            "/v2/metadefs/namespaces",
            Some(ns),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A rule allowing a change does not reach a namespace the caller does not see: another
    // project's editor is told there is none, and it stays.
    let (status, body) = app
        .call(
            Some(("p2", "member,metadef_editor")),
            Method::DELETE,
            "/v2/metadefs/namespaces/Ops::Mine",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = app
        .call(None, Method::GET, "/v2/metadefs/namespaces/Ops::Mine", None)
        .await;
    assert_eq!(status, StatusCode::OK, "still there");

    // The web UI plans with the file's rules it decides with, and learns no other.
    let (status, me) = app.call(p1, Method::GET, "/auth/whoami", None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me["planning"]["policy"],
        json!([["publicize_image", "role:admin"]]),
        "{me}"
    );
    assert_eq!(
        me["roles"],
        json!(["member", "reader"]),
        "member implies reader"
    );
    app.stop().await;
}
