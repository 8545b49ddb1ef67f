//! `glint db purge`: old deleted images go with every row that hangs off them, their ids stay
//! reserved, live images and their history stay unless asked; a dry run removes nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{PATCH_V21, TestApp, on_both_databases};

on_both_databases!(purge_removes_old_deleted_images_and_keeps_their_ids);

const DAY: i64 = 86_400 * 1_000_000;

async fn purge_removes_old_deleted_images_and_keeps_their_ids(app: &TestApp) {
    let mut ids = Vec::new();
    for name in ["old-1", "old-2", "recent", "live"] {
        let image = app
            .create(
                json!({"name": name, "disk_format": "raw", "container_format": "bare",
                           "visibility": "shared", "k": "v", "scratch": "x"}),
            )
            .await;
        let id = image["id"].as_str().expect("an id").to_string();
        assert_eq!(
            app.upload(&id, vec![3u8; 100]).await.status(),
            StatusCode::NO_CONTENT
        );
        let (s, _) = app
            .call(
                None,
                Method::POST,
                &format!("/v2/images/{id}/members"),
                Some(json!({"member": "p9"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        ids.push(id);
    }
    let (old1, old2, recent, live) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    // The live image's history: a removed value.
    let r = app
        .request(Method::PATCH, &format!("/v2/images/{live}"))
        .header("Content-Type", PATCH_V21)
        .body(json!([{"op": "remove", "path": "/scratch"}]).to_string())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::OK);
    for id in [old1, old2, recent] {
        let (s, _) = app
            .call(None, Method::DELETE, &format!("/v2/images/{id}"), None)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    // Two were deleted ten days ago; the live image's history is as old.
    let pool = sqlx::AnyPool::connect(&app.sqlx_url())
        .await
        .expect("the database");
    let ten_days_ago = glint_server::time::now_micros() - 10 * DAY;
    for id in [old1, old2] {
        sqlx::query("UPDATE images SET deleted_at = $1 WHERE id = $2")
            .bind(ten_days_ago)
            .bind(id)
            .execute(&pool)
            .await
            .expect("age the deletion");
    }
    for sql in [
        "UPDATE property_changes SET changed_at = $1 WHERE image_id = $2",
        "UPDATE image_properties SET deleted_at = $1 WHERE image_id = $2 AND deleted = 1",
    ] {
        sqlx::query(sql)
            .bind(ten_days_ago)
            .bind(live)
            .execute(&pool)
            .await
            .expect("age the history");
    }
    let count = |table: &'static str, id: String| {
        let pool = pool.clone();
        async move {
            let row = sqlx::query(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE {} = $1",
                if table == "images" || table == "purged_images" {
                    "id"
                } else {
                    "image_id"
                }
            ))
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("count");
            sqlx::Row::try_get::<i64, _>(&row, 0).expect("a count")
        }
    };
    let db = glint_server::db::Db::connect(&app.database_url)
        .await
        .expect("connect");
    let week = |apply: bool, history: bool| glint_server::db::Purge {
        deleted_before: glint_server::time::now_micros() - 7 * DAY,
        history_before: history.then(|| glint_server::time::now_micros() - 7 * DAY),
        max_images: None,
        apply,
    };

    // A dry run counts and removes nothing.
    let counted = db.purge(&week(false, false)).await.expect("a dry run");
    assert_eq!(counted.images, 2);
    assert_eq!(counted.properties, 4, "k and scratch of each");
    assert_eq!((counted.locations, counted.members), (2, 2));
    assert!(counted.changes >= 2, "{counted:?}");
    assert_eq!(count("images", old1.clone()).await, 1);

    let purged = db.purge(&week(true, false)).await.expect("a purge");
    assert_eq!(
        (purged.images, purged.properties, purged.locations),
        (2, 4, 2)
    );
    for id in [old1, old2] {
        for table in [
            "images",
            "image_properties",
            "image_locations",
            "property_changes",
        ] {
            assert_eq!(count(table, id.clone()).await, 0, "{table} of {id}");
        }
        assert_eq!(count("purged_images", id.clone()).await, 1, "a tombstone");
    }
    assert_eq!(
        count("images", recent.clone()).await,
        1,
        "deleted yesterday: kept"
    );
    assert!(
        count("property_changes", live.clone()).await > 0,
        "live history kept"
    );
    assert_eq!(
        db.purge(&week(true, false)).await.expect("again").images,
        0,
        "nothing left to purge"
    );

    // A purged id is never an image again.
    let (s, body) = app
        .call(
            None,
            Method::POST,
            "/v2/images",
            Some(json!({"id": old1, "name": "again"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");

    // History of live images goes only when asked; the live image itself stays.
    let with_history = db.purge(&week(true, true)).await.expect("history");
    assert!(with_history.history >= 2, "{with_history:?}");
    assert_eq!(count("property_changes", live.clone()).await, 0);
    let shown = app.show(live).await;
    assert_eq!(shown["k"], "v");
    db.close().await;
    pool.close().await;
}
