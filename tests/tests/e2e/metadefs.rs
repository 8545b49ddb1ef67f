//! The metadata definitions catalogue: Glance's own catalogue (from the glance 33.0.0 wheel on
//! PyPI) loaded, listed and read as typed definitions; every endpoint's success and error
//! codes; who may see and change what.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::harness::{TestApp, on_both_databases};
use glint_server::catalogue::{LoadMode, Loaded, load_dir};

const NS: &str = "/v2/metadefs/namespaces";

async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.call(None, method, path, body).await
}

async fn load(app: &TestApp, mode: LoadMode) -> Vec<(String, Loaded)> {
    let db = glint_server::db::Db::connect(&app.database_url)
        .await
        .expect("database");
    let dir = super::python::glance_catalogue();
    let outcomes = load_dir(&db, &dir, mode).await.expect("load");
    db.close().await;
    outcomes
        .into_iter()
        .map(|o| {
            o.result
                .unwrap_or_else(|e| panic!("{}: {e}", o.file.display()))
        })
        .collect()
}

/// Every namespace name the caller lists, walking `next` links.
async fn all_namespaces(app: &TestApp, who: Option<(&str, &str)>, query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut next = Some(format!("{NS}?limit=7{query}"));
    while let Some(path) = next {
        let (status, page) = app.call(who, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        for ns in page["namespaces"].as_array().expect("namespaces") {
            names.push(ns["namespace"].as_str().expect("name").to_string());
        }
        next = page["next"].as_str().map(str::to_string);
        assert!(names.len() < 100, "paging does not end");
    }
    names
}

async fn glance_catalogue_loads_lists_and_reads(app: &TestApp) {
    let loaded = load(app, LoadMode::Skip).await;
    assert_eq!(loaded.len(), 32);
    assert!(
        loaded.iter().all(|(_, l)| *l == Loaded::Created),
        "{loaded:?}"
    );
    let again = load(app, LoadMode::Skip).await;
    assert!(
        again.iter().all(|(_, l)| *l == Loaded::Skipped),
        "{again:?}"
    );

    // Listing: every namespace exactly once over the pages, newest first by default.
    let names = all_namespaces(app, None, "").await;
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((names.len(), unique.len()), (32, 32), "{names:?}");
    // Two catalogue namespaces have no visibility: private, for administrators only.
    let member = Some(("p1", "member,reader"));
    let seen = all_namespaces(app, member, "").await;
    assert_eq!(seen.len(), 30);
    assert!(!seen.contains(&"OS::Glance::CommonImageProperties".to_string()));
    let (status, _) = app
        .call(
            member,
            Method::GET,
            &format!("{NS}/OS::Glance::CommonImageProperties"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Sorted by name, ascending, across pages.
    let by_name = all_namespaces(app, None, "&sort_key=namespace&sort_dir=asc").await;
    assert_eq!(by_name, unique);
    let for_images = all_namespaces(app, None, "&resource_types=OS::Glance::Image").await;
    assert_eq!(for_images.len(), 20, "{for_images:?}");
    let either = all_namespaces(
        app,
        None,
        "&resource_types=OS::Trove::Instance,OS::Nova::Server",
    )
    .await;
    assert_eq!(either.len(), 4, "{either:?}");

    let (_, types) = admin(app, Method::GET, "/v2/metadefs/resource_types", None).await;
    let mut type_names: Vec<&str> = types["resource_types"]
        .as_array()
        .expect("types")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    type_names.sort();
    assert_eq!(
        type_names,
        [
            "OS::Cinder::Volume",
            "OS::Glance::Image",
            "OS::Nova::Aggregate",
            "OS::Nova::Flavor",
            "OS::Nova::Server",
            "OS::Trove::Instance"
        ]
    );

    // Read with a resource type: keys carry the association's prefix, and core turns them into
    // the typed definitions the web UI offers.
    let (status, watchdog) = admin(
        app,
        Method::GET,
        &format!("{NS}/OS::Compute::Watchdog?resource_type=OS::Nova::Flavor"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        watchdog["properties"]["hw:watchdog_action"].is_object(),
        "{watchdog}"
    );
    let mut definitions = Vec::new();
    for name in &for_images {
        let (status, doc) = admin(app, Method::GET, &format!("{NS}/{name}"), None).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        definitions.extend(
            glint_core::metadefs::definitions_for(&doc, "OS::Glance::Image")
                .unwrap_or_else(|| panic!("{name} is associated with images")),
        );
    }
    let def = |key: &str| {
        definitions
            .iter()
            .find(|d| d.key == key)
            .unwrap_or_else(|| panic!("no definition of {key}"))
    };
    assert!(matches!(
        &def("hw_watchdog_action").input,
        glint_core::metadefs::Input::Choice(c) if c.contains(&"reset".to_string())
    ));
    assert!(def("hw_watchdog_action").check("explode").is_err());
    assert_eq!(def("os_distro").check("ubuntu"), Ok(()));
    assert!(def("hw_cpu_sockets").check("two").is_err());
    // A property reached through a prefixed name.
    let (status, p) = admin(
        app,
        Method::GET,
        &format!("{NS}/OS::Compute::Watchdog/properties/hw_watchdog_action?resource_type=OS::Glance::Image"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["name"], "watchdog_action");

    // Loading again: skip keeps the operator's changes, merge adds back what is missing,
    // prefer-new restores the file's version, overwrite drops additions.
    let path = format!("{NS}/OS::Compute::Watchdog");
    let (status, _) = admin(
        app,
        Method::PUT,
        &path,
        Some(
            json!({"namespace": "OS::Compute::Watchdog", "display_name": "Changed",
            "visibility": "public", "protected": false}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin(
        app,
        Method::DELETE,
        &format!("{path}/properties/watchdog_action"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin(app, Method::POST, &format!("{path}/tags/mine"), None).await;
    assert_eq!(status, StatusCode::CREATED);
    load(app, LoadMode::Skip).await;
    let (_, ns) = admin(app, Method::GET, &path, None).await;
    assert_eq!(ns["display_name"], "Changed");
    assert!(ns.get("properties").is_none(), "{ns}");
    load(app, LoadMode::Merge { prefer_new: false }).await;
    let (_, ns) = admin(app, Method::GET, &path, None).await;
    assert_eq!(ns["display_name"], "Changed");
    assert!(ns["properties"]["watchdog_action"].is_object(), "{ns}");
    load(app, LoadMode::Merge { prefer_new: true }).await;
    let (_, ns) = admin(app, Method::GET, &path, None).await;
    assert_eq!(ns["display_name"], "Watchdog Behavior");
    assert_eq!(ns["protected"], true);
    assert_eq!(ns["tags"], json!([{"name": "mine"}]));
    let overwritten = load(app, LoadMode::Overwrite).await;
    assert!(overwritten.iter().all(|(_, l)| *l == Loaded::Overwritten));
    let (_, ns) = admin(app, Method::GET, &path, None).await;
    assert!(ns.get("tags").is_none(), "{ns}");
    assert_eq!(all_namespaces(app, None, "").await.len(), 32);
}

fn new_namespace(name: &str) -> Value {
    json!({"namespace": name, "display_name": name, "description": "Tempest-like",
        "visibility": "public", "protected": true,
        "resource_type_associations": [{"name": "OS::Glint::Thing", "prefix": "thing_"}]})
}

async fn namespaces_objects_properties_and_their_errors(app: &TestApp) {
    // Create, show, list; protected against deletion until updated.
    let r = app
        .request(Method::POST, NS)
        .json(&new_namespace("glint-ns"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(
        location.ends_with("/v2/metadefs/namespaces/glint-ns"),
        "{location}"
    );
    let (status, ns) = admin(app, Method::GET, &format!("{NS}/glint-ns"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ns["visibility"], "public");
    assert_eq!(ns["resource_type_associations"][0]["prefix"], "thing_");
    assert!(
        all_namespaces(app, None, "")
            .await
            .contains(&"glint-ns".to_string())
    );
    let (status, _) = admin(app, Method::DELETE, &format!("{NS}/glint-ns"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Creation errors.
    let cases = [
        (new_namespace("glint-ns"), StatusCode::CONFLICT),
        (json!({"display_name": "x"}), StatusCode::BAD_REQUEST),
        (
            json!({"namespace": "v", "visibility": "shared"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"namespace": "v", "colour": "red"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"namespace": "v", "created_at": "2020-01-01T00:00:00Z"}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"namespace": "n".repeat(81)}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"namespace": "v", "properties": {"p": {"type": "colour", "title": "t"}}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"namespace": "v", "objects": [{"name": "o"}, {"name": "o"}]}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"namespace": "v", "tags": [{"name": "t"}, {"name": "t"}]}),
            StatusCode::CONFLICT,
        ),
    ];
    for (body, want) in cases {
        let (status, answer) = admin(app, Method::POST, NS, Some(body.clone())).await;
        assert_eq!(status, want, "{body}: {answer}");
    }
    // All or nothing: the refused namespaces were not left behind.
    let (status, _) = admin(app, Method::GET, &format!("{NS}/v"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for body in ["", "{not json", "[1, 2]"] {
        let r = app
            .request(Method::POST, NS)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body:?}");
    }

    // A full namespace in one request: its parts are all there.
    let full = json!({"namespace": "glint-full", "visibility": "private",
        "properties": {"cores": {"type": "integer", "title": "Cores", "minimum": 1}},
        "objects": [{"name": "Limits", "required": ["period"],
            "properties": {"period": {"type": "integer", "title": "Period"}}}],
        "tags": [{"name": "fast"}],
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "glint_"}]});
    let (status, made) = admin(app, Method::POST, NS, Some(full)).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (_, shown) = admin(
        app,
        Method::GET,
        &format!("{NS}/glint-full?resource_type=OS::Glance::Image"),
        None,
    )
    .await;
    assert_eq!(shown["properties"]["glint_cores"]["minimum"], 1, "{shown}");
    assert_eq!(shown["objects"][0]["required"], json!(["glint_period"]));
    assert!(shown["objects"][0]["properties"]["glint_period"].is_object());
    assert_eq!(shown["tags"], json!([{"name": "fast"}]));

    // Update: a full replace of the namespace's own fields; renames; clashes.
    let (status, updated) = admin(
        app,
        Method::PUT,
        &format!("{NS}/glint-ns"),
        Some(
            json!({"namespace": "glint-ns", "description": "new", "visibility": "private",
            "display_name": "N", "protected": false}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["visibility"], "private");
    assert_eq!(updated["protected"], false);
    let (status, _) = admin(
        app,
        Method::PUT,
        &format!("{NS}/glint-ns"),
        Some(json!({"namespace": "glint-full"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = admin(
        app,
        Method::PUT,
        &format!("{NS}/nowhere"),
        Some(json!({"namespace": "nowhere"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, renamed) = admin(
        app,
        Method::PUT,
        &format!("{NS}/glint-ns"),
        Some(json!({"namespace": "glint-ns2", "visibility": "public"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renamed["self"], "/v2/metadefs/namespaces/glint-ns2");
    let base = format!("{NS}/glint-ns2");
    // The association came along with the rename.
    let (_, assoc) = admin(app, Method::GET, &format!("{base}/resource_types"), None).await;
    assert_eq!(
        assoc["resource_type_associations"][0]["name"],
        "OS::Glint::Thing"
    );

    // Objects.
    let (status, o) = admin(
        app,
        Method::POST,
        &format!("{base}/objects"),
        Some(json!({"name": "obj", "description": "d", "required": ["a"],
            "properties": {"a": {"type": "string", "title": "A", "enum": ["x", "y"]}}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{o}");
    assert_eq!(o["self"], format!("{base}/objects/obj"));
    let (status, _) = admin(
        app,
        Method::POST,
        &format!("{base}/objects"),
        Some(json!({"name": "obj"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = admin(
        app,
        Method::POST,
        &format!("{base}/objects"),
        Some(json!({"name": "o2", "required": "a"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    admin(
        app,
        Method::POST,
        &format!("{base}/objects"),
        Some(json!({"name": "other"})),
    )
    .await;
    let (status, o) = admin(
        app,
        Method::PUT,
        &format!("{base}/objects/obj"),
        Some(json!({"name": "obj2"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (o["name"].clone(), o["required"].clone()),
        (json!("obj2"), json!([]))
    );
    let (status, _) = admin(app, Method::GET, &format!("{base}/objects/obj"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin(
        app,
        Method::PUT,
        &format!("{base}/objects/obj2"),
        Some(json!({"name": "other"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, list) = admin(app, Method::GET, &format!("{base}/objects"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["objects"].as_array().map(Vec::len), Some(2));
    let (status, _) = admin(app, Method::GET, &format!("{base}/objects?limit=0"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = admin(app, Method::DELETE, &format!("{base}/objects/obj2"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin(app, Method::DELETE, &format!("{base}/objects/obj2"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Properties, names with colons included.
    let prop = json!({"name": "OS::Glance::Image", "title": "Hypervisor", "type": "string",
        "enum": ["xen", "qemu", "kvm"]});
    let (status, p) = admin(
        app,
        Method::POST,
        &format!("{base}/properties"),
        Some(prop.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["title"], "Hypervisor");
    let (status, _) = admin(app, Method::POST, &format!("{base}/properties"), Some(prop)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    for bad in [
        json!({"title": "t", "type": "string"}),
        json!({"name": "q", "type": "string"}),
        json!({"name": "q", "title": "t", "type": "string", "maxLength": -1}),
        json!({"name": "q", "title": "t", "type": "integer", "minimum": "1"}),
    ] {
        let (status, answer) = admin(
            app,
            Method::POST,
            &format!("{base}/properties"),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert!(
            answer
                .to_string()
                .contains("does not match schema 'property'"),
            "{answer}"
        );
    }
    let (status, p) = admin(
        app,
        Method::GET,
        &format!("{base}/properties/OS::Glance::Image"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["name"], "OS::Glance::Image");
    let (status, p) = admin(
        app,
        Method::PUT,
        &format!("{base}/properties/OS::Glance::Image"),
        Some(json!({"name": "OS::Glance::Image", "title": "New", "type": "string"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["title"], "New");
    assert!(p.get("enum").is_none(), "a full replace: {p}");
    admin(
        app,
        Method::POST,
        &format!("{base}/properties"),
        Some(json!({"name": "size", "title": "Size", "type": "integer"})),
    )
    .await;
    // Read through the association's prefix.
    let (status, p) = admin(
        app,
        Method::GET,
        &format!("{base}/properties/thing_size?resource_type=OS::Glint::Thing"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["name"], "size");
    for (path, want) in [
        (
            "properties/size?resource_type=OS::Glint::Thing",
            StatusCode::NOT_FOUND,
        ),
        (
            "properties/thing_size?resource_type=OS::Nowhere",
            StatusCode::NOT_FOUND,
        ),
        (
            "properties/thing_size?resource_type=OS::Glance::Image",
            StatusCode::NOT_FOUND,
        ),
        ("properties/missing", StatusCode::NOT_FOUND),
    ] {
        let (status, _) = admin(app, Method::GET, &format!("{base}/{path}"), None).await;
        assert_eq!(status, want, "{path}");
    }
    let (_, props) = admin(app, Method::GET, &format!("{base}/properties"), None).await;
    assert_eq!(
        props["properties"].as_object().map(|p| p.len()),
        Some(2),
        "{props}"
    );
    let (status, _) = admin(
        app,
        Method::DELETE,
        &format!("{base}/properties/OS::Glance::Image"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin(
        app,
        Method::DELETE,
        &format!("{base}/properties/OS::Glance::Image"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Resource type associations.
    let (status, a) = admin(
        app,
        Method::POST,
        &format!("{base}/resource_types"),
        Some(json!({"name": "OS::Nova::Flavor", "prefix": "hw:"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let (status, _) = admin(
        app,
        Method::POST,
        &format!("{base}/resource_types"),
        Some(json!({"name": "OS::Nova::Flavor"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = admin(
        app,
        Method::POST,
        &format!("{base}/resource_types"),
        Some(json!({"prefix": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = admin(
        app,
        Method::DELETE,
        &format!("{base}/resource_types/OS::Nova::Flavor"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin(
        app,
        Method::DELETE,
        &format!("{base}/resource_types/OS::Nova::Flavor"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, types) = admin(app, Method::GET, "/v2/metadefs/resource_types", None).await;
    assert!(
        types.to_string().contains("OS::Nova::Flavor"),
        "resource types stay: {types}"
    );

    // Listing filters and errors.
    let public = all_namespaces(app, None, "&visibility=public").await;
    assert!(
        public.contains(&"glint-ns2".to_string()) && !public.contains(&"glint-full".to_string())
    );
    for query in [
        "?sort_dir=up",
        "?sort_key=colour",
        "?limit=-1",
        "?limit=x",
        "?visibility=shared",
    ] {
        let (status, _) = admin(app, Method::GET, &format!("{NS}{query}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }
    let (status, _) = admin(app, Method::GET, &format!("{NS}?marker=nowhere"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Protection: the namespace and its parts cannot be deleted, one by one or all at once.
    admin(
        app,
        Method::PUT,
        &base,
        Some(json!({"namespace": "glint-ns2", "protected": true, "visibility": "public"})),
    )
    .await;
    admin(app, Method::POST, &format!("{base}/tags/keep"), None).await;
    for path in [
        base.clone(),
        format!("{base}/objects"),
        format!("{base}/properties"),
        format!("{base}/tags"),
        format!("{base}/objects/other"),
        format!("{base}/properties/size"),
        format!("{base}/tags/keep"),
        format!("{base}/resource_types/OS::Glint::Thing"),
    ] {
        let (status, answer) = admin(app, Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
        assert!(answer.to_string().contains("is protected"), "{answer}");
    }
    admin(
        app,
        Method::PUT,
        &base,
        Some(json!({"namespace": "glint-ns2", "protected": false})),
    )
    .await;
    for kind in ["objects", "properties", "tags"] {
        let (status, _) = admin(app, Method::DELETE, &format!("{base}/{kind}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (_, ns) = admin(app, Method::GET, &base, None).await;
    for kind in ["objects", "properties", "tags"] {
        assert!(ns.get(kind).is_none(), "{kind} left: {ns}");
    }
    let (status, _) = admin(app, Method::DELETE, &base, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin(app, Method::GET, &base, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn tags(app: &TestApp) {
    admin(
        app,
        Method::POST,
        NS,
        Some(json!({"namespace": "tagged", "visibility": "public"})),
    )
    .await;
    let base = format!("{NS}/tagged/tags");
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| t["name"].as_str().expect("name").to_string())
            .collect();
        n.sort();
        n
    };
    let bulk = |tags: &[&str]| json!({"tags": tags.iter().map(|t| json!({"name": t})).collect::<Vec<_>>()});
    let (status, made) = admin(app, Method::POST, &base, Some(bulk(&["a", "b", "c"]))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(names(&made), ["a", "b", "c"]);
    // Appending keeps them; without the header the new list replaces them.
    let r = app
        .request(Method::POST, &base)
        .header("X-Openstack-Append", "True")
        .json(&bulk(&["d"]))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, all) = admin(app, Method::GET, &base, None).await;
    assert_eq!(names(&all), ["a", "b", "c", "d"]);
    // A clash changes nothing, the replacement included.
    let (status, _) = admin(app, Method::POST, &base, Some(bulk(&["x", "x"]))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, all) = admin(app, Method::GET, &base, None).await;
    assert_eq!(names(&all), ["a", "b", "c", "d"]);
    let (status, _) = admin(app, Method::POST, &base, Some(bulk(&[]))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, all) = admin(app, Method::GET, &base, None).await;
    assert_eq!(names(&all).len(), 4, "an empty list changes nothing");
    let (status, _) = admin(app, Method::POST, &base, Some(bulk(&["e", "f"]))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, all) = admin(app, Method::GET, &base, None).await;
    assert_eq!(names(&all), ["e", "f"]);
    for bad in [
        json!({}),
        json!({"tags": "e"}),
        json!({"tags": [{"name": "g", "x": 1}]}),
    ] {
        let (status, _) = admin(app, Method::POST, &base, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // Paging and order.
    let (_, page) = admin(
        app,
        Method::GET,
        &format!("{base}?sort_key=name&sort_dir=asc&limit=1"),
        None,
    )
    .await;
    assert_eq!(names(&page), ["e"]);
    let (_, page) = admin(
        app,
        Method::GET,
        &format!("{base}?sort_key=name&sort_dir=asc&marker=e"),
        None,
    )
    .await;
    assert_eq!(names(&page), ["f"]);
    let (status, _) = admin(app, Method::GET, &format!("{base}?marker=zz"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // One at a time.
    let (status, t) = admin(app, Method::POST, &format!("{base}/single"), None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(t["name"], "single");
    assert!(t["created_at"].is_string());
    let (status, _) = admin(app, Method::POST, &format!("{base}/single"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, t) = admin(
        app,
        Method::PUT,
        &format!("{base}/single"),
        Some(json!({"name": "renamed"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t["name"], "renamed");
    let (status, _) = admin(
        app,
        Method::PUT,
        &format!("{base}/renamed"),
        Some(json!({"name": "e"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = admin(app, Method::GET, &format!("{base}/single"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin(app, Method::DELETE, &format!("{base}/renamed"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin(app, Method::DELETE, &base, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, all) = admin(app, Method::GET, &base, None).await;
    assert!(names(&all).is_empty());
    let (status, _) = admin(app, Method::GET, &format!("{NS}/nowhere/tags"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn who_sees_and_changes_what(app: &TestApp) {
    admin(
        app,
        Method::POST,
        NS,
        Some(json!({"namespace": "pub", "visibility": "public"})),
    )
    .await;
    admin(
        app,
        Method::POST,
        NS,
        Some(json!({"namespace": "p1-private", "owner": "p1"})),
    )
    .await;
    admin(
        app,
        Method::POST,
        NS,
        Some(json!({"namespace": "admin-private"})),
    )
    .await;
    let p1 = Some(("p1", "member,reader"));
    let p1_reader = Some(("p1", "reader"));
    let p2 = Some(("p2", "member,reader"));
    let nobody = Some(("p1", "nothing"));
    let mut p1_list = all_namespaces(app, p1, "").await;
    p1_list.sort();
    assert_eq!(p1_list, ["p1-private", "pub"]);
    assert_eq!(all_namespaces(app, p2, "").await, ["pub"]);
    for (who, name, want) in [
        (p1, "pub", StatusCode::OK),
        (p1_reader, "p1-private", StatusCode::OK),
        (p2, "p1-private", StatusCode::NOT_FOUND),
        (p1, "admin-private", StatusCode::NOT_FOUND),
        (nobody, "pub", StatusCode::NOT_FOUND),
    ] {
        let (status, _) = app
            .call(who, Method::GET, &format!("{NS}/{name}"), None)
            .await;
        assert_eq!(status, want, "{who:?} GET {name}");
    }
    // Writing is for administrators: 403 where the caller can see, 404 where it cannot.
    let writes = [
        (
            Method::POST,
            NS.to_string(),
            Some(json!({"namespace": "mine"})),
        ),
        (
            Method::PUT,
            format!("{NS}/pub"),
            Some(json!({"namespace": "pub"})),
        ),
        (Method::DELETE, format!("{NS}/pub"), None),
        (
            Method::POST,
            format!("{NS}/pub/objects"),
            Some(json!({"name": "o"})),
        ),
        (Method::POST, format!("{NS}/pub/tags/t"), None),
        (
            Method::POST,
            format!("{NS}/p1-private/properties"),
            Some(json!({"name": "p", "title": "t", "type": "string"})),
        ),
        (
            Method::POST,
            format!("{NS}/pub/resource_types"),
            Some(json!({"name": "OS::Glance::Image"})),
        ),
        (Method::DELETE, format!("{NS}/pub/tags"), None),
    ];
    for (method, path, body) in writes {
        let (status, answer) = app.call(p1, method.clone(), &path, body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert!(answer.to_string().contains("not authorized"), "{answer}");
    }
    let (status, _) = app
        .call(
            p2,
            Method::PUT,
            &format!("{NS}/p1-private"),
            Some(json!({"namespace": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(p2, Method::DELETE, &format!("{NS}/p1-private/tags"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(nobody, Method::GET, "/v2/metadefs/resource_types", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(p2, Method::GET, "/v2/metadefs/resource_types", None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Schemas, for any caller.
    for (path, name) in [
        ("namespace", "namespace"),
        ("namespaces", "namespaces"),
        ("resource_type", "resource_type_association"),
        ("resource_types", "resource_type_associations"),
        ("object", "object"),
        ("objects", "objects"),
        ("property", "property"),
        ("properties", "properties"),
        ("tag", "tag"),
        ("tags", "tags"),
    ] {
        let (status, schema) = app
            .call(
                p2,
                Method::GET,
                &format!("/v2/schemas/metadefs/{path}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(schema["name"], name);
    }
    let (status, _) = admin(app, Method::GET, "/v2/schemas/metadefs/colour", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin(app, Method::PATCH, &format!("{NS}/pub"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

on_both_databases!(
    glance_catalogue_loads_lists_and_reads,
    namespaces_objects_properties_and_their_errors,
    tags,
    who_sees_and_changes_what,
);
