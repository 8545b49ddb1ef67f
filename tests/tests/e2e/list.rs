//! Listing: filters, sorting, and marker paging with `next` links.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestApp, on_both_databases};

on_both_databases!(filters_sorting_and_paging);

async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    let r = app.get(&format!("/v2/images{query}")).await;
    assert_eq!(r.status(), StatusCode::OK, "{query}");
    let body: Value = r.json().await.expect("json");
    body["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn filters_sorting_and_paging(app: &TestApp) {
    let mut made = Vec::new();
    for i in 0..30 {
        let mut body = json!({
            "name": format!("img{i:02}"),
            "disk_format": if i % 2 == 0 { "raw" } else { "qcow2" },
            "container_format": "bare",
            "tags": if i % 3 == 0 { json!(["triple"]) } else { json!([]) },
            "group": format!("g{}", i % 5),
        });
        if i == 7 {
            body["visibility"] = json!("public");
        }
        if i == 8 {
            body["os_hidden"] = json!(true);
        }
        let image = app.create(body).await;
        made.push(image["id"].as_str().expect("id").to_string());
    }
    // Sizes for a few raw ones.
    for (i, size) in [(2usize, 10usize), (4, 20), (6, 30)] {
        assert_eq!(
            app.upload(&made[i], vec![0u8; size]).await.status(),
            StatusCode::NO_CONTENT
        );
    }

    // Default: newest first, 25 a page, hidden images left out.
    let page = ids(app, "").await;
    assert_eq!(page.len(), 25);
    assert_eq!(page[0], "img29");
    assert!(!ids(app, "?limit=100").await.contains(&"img08".to_string()));
    assert!(ids(app, "?os_hidden=true").await == vec!["img08".to_string()]);

    assert_eq!(ids(app, "?name=img05").await, ["img05"]);
    assert_eq!(
        ids(app, "?name=in:img05,img06,%22nope%22&sort=name:asc").await,
        ["img05", "img06"]
    );
    assert_eq!(ids(app, "?disk_format=qcow2&limit=100").await.len(), 15);
    assert_eq!(ids(app, "?tag=triple&limit=100").await.len(), 10);
    assert_eq!(
        ids(app, "?group=g1&sort=name:asc").await,
        ["img01", "img06", "img11", "img16", "img21", "img26"]
    );
    assert_eq!(ids(app, "?group=g1&tag=triple").await, ["img21", "img06"]);
    assert_eq!(
        ids(app, "?status=active&sort=size:desc").await,
        ["img06", "img04", "img02"]
    );
    assert_eq!(ids(app, "?size_min=15&size_max=25").await, ["img04"]);
    assert_eq!(ids(app, "?size=30").await, ["img06"]);
    assert_eq!(ids(app, "?virtual_size=10").await, ["img02"]);
    assert_eq!(ids(app, "?visibility=public").await, ["img07"]);
    assert_eq!(
        ids(app, "?sort_key=name&sort_dir=asc&limit=3").await,
        ["img00", "img01", "img02"]
    );
    assert_eq!(
        ids(
            app,
            "?sort_key=disk_format&sort_key=name&sort_dir=asc&sort_dir=desc&limit=2"
        )
        .await,
        ["img29", "img27"]
    );

    // Times: everything was created before now, nothing after.
    let first: Value = app.show(&made[0]).await;
    let created = first["created_at"].as_str().expect("created_at");
    assert_eq!(
        ids(app, &format!("?created_at=lt:{created}")).await.len(),
        0
    );
    assert!(
        ids(app, &format!("?created_at=gte:{created}&limit=100"))
            .await
            .len()
            >= 29
    );
    assert_eq!(
        ids(app, "?updated_at=gt:2999-01-01T00:00:00Z").await.len(),
        0
    );

    // Marker paging visits every listed image once.
    let mut seen = BTreeSet::new();
    let mut next = Some("/v2/images?limit=7&sort=name:asc".to_string());
    let mut pages = 0;
    while let Some(url) = next {
        let body: Value = app.get(&url).await.json().await.expect("json");
        for i in body["images"].as_array().expect("images") {
            assert!(
                seen.insert(i["id"].as_str().expect("id").to_string()),
                "seen twice"
            );
        }
        assert_eq!(body["schema"], "/v2/schemas/images");
        next = body["next"].as_str().map(str::to_string);
        pages += 1;
        assert!(pages < 10);
    }
    assert_eq!(seen.len(), 29, "every image but the hidden one");
    assert_eq!(pages, 5, "4 full pages of 7, then the last one");

    // Paging stays exact whatever the order, NULL names and sizes included.
    for _ in 0..3 {
        app.create(json!({"disk_format": "raw", "container_format": "bare"}))
            .await;
    }
    for sort in [
        "name:asc",
        "name:desc",
        "size:asc",
        "size:desc,name:asc",
        "created_at:asc",
        "disk_format:asc,size:desc",
    ] {
        let mut seen = BTreeSet::new();
        let mut previous: Option<Value> = None;
        let mut next = Some(format!("/v2/images?limit=4&sort={sort}"));
        while let Some(url) = next {
            let body: Value = app.get(&url).await.json().await.expect("json");
            for i in body["images"].as_array().expect("images") {
                assert!(
                    seen.insert(i["id"].as_str().expect("id").to_string()),
                    "{sort}: seen twice"
                );
                if sort == "name:asc" {
                    if let Some(p) = &previous {
                        // NULL names first, then names in order.
                        let key = |v: &Value| v["name"].as_str().map(str::to_string);
                        assert!(key(p) <= key(i), "{sort}: out of order");
                    }
                    previous = Some(i.clone());
                }
            }
            next = body["next"].as_str().map(str::to_string);
        }
        assert_eq!(seen.len(), 32, "{sort}: every visible image once");
    }

    // Bad parameters are 400s, with Glance's messages where it has them.
    for q in [
        "?limit=-1",
        "?limit=x",
        "?sort_key=colour",
        "?sort_dir=up",
        "?sort=name:up",
        "?sort=name&sort_key=name",
        "?protected=True",
        "?visibility=everyone",
        "?created_at=gt:yesterday",
        "?size_min=big",
        "?changes-since=2020-01-01",
        "?marker=6b8e1f0a-7c3d-4f2e-9a1b-2c3d4e5f6a7b",
        "?name=gt:x",
        "?status=bogus",
    ] {
        assert_eq!(
            app.get(&format!("/v2/images{q}")).await.status(),
            StatusCode::BAD_REQUEST,
            "{q}"
        );
    }
}

/// PostgreSQL plans listings from statistics; a table that grew a lot since its last analysis is
/// analyzed by the server itself, whether or not autovacuum runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statistics_follow_growth() {
    let app = TestApp::postgres_with(|c| {
        c.maintenance_every = std::time::Duration::from_millis(200);
    })
    .await;
    let pool = sqlx::AnyPool::connect(&app.database_url)
        .await
        .expect("connect to the test database");
    let analyzed = || async {
        let row = sqlx::query(
            "SELECT CAST(COUNT(last_analyze) AS BIGINT) FROM pg_stat_user_tables \
             WHERE relname = 'images'",
        )
        .fetch_one(&pool)
        .await
        .expect("statistics view");
        sqlx::Row::try_get::<i64, _>(&row, 0).expect("count") == 1
    };
    // When a few rows are worth an analysis is the database layer's test; here, that the
    // server's maintenance analyzes a table that grew.
    assert!(!analyzed().await, "a new database");
    let creates = (0..600).map(|i| app.create(json!({"name": format!("many-{i}"), "k": "v"})));
    futures_util::future::join_all(creates).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !analyzed().await {
        assert!(
            std::time::Instant::now() < deadline,
            "images was not analyzed after 600 inserts"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    pool.close().await;
    app.stop().await;
}
