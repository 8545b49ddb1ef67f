//! The image cache of an API server: administrators queue images, which are fetched in the
//! background and then served from the local copy; bounded in size, least recently used
//! evicted first; cleared by cache, queue or both.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::harness::TestApp;

async fn uploaded(app: &TestApp, data: Vec<u8>) -> String {
    let id = app
        .create(json!({"name": "c", "disk_format": "raw", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(app.upload(&id, data).await.status().is_success());
    id
}

fn cached_ids(list: &Value) -> Vec<String> {
    list["cached_images"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["image_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Queues an image and waits until it is cached.
async fn cache(app: &TestApp, id: &str) {
    let (status, _) = app
        .call(None, Method::PUT, &format!("/v2/cache/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, list) = app.call(None, Method::GET, "/v2/cache", None).await;
        if cached_ids(&list).iter().any(|c| c == id) {
            return;
        }
        assert!(Instant::now() < deadline, "{id} was never cached: {list}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_cached_served_and_cleared() {
    let app = TestApp::sqlite().await;
    let member = Some(("p1", "member,reader"));
    let (status, _) = app.call(member, Method::GET, "/v2/cache", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, list) = app.call(None, Method::GET, "/v2/cache", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!({"cached_images": [], "queued_images": []}));
    let (status, _) = app
        .call(
            None,
            Method::PUT,
            "/v2/cache/3f3a36bb-1d4e-4d6f-8c38-2b1b0f0c0a11",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let queued = app
        .create(json!({"name": "q", "disk_format": "raw", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, _) = app
        .call(None, Method::PUT, &format!("/v2/cache/{queued}"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no data to cache");

    let data: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
    let id = uploaded(&app, data.clone()).await;
    cache(&app, &id).await;
    assert!(app.data.0.join("cache").join(&id).is_file());
    // Served from the copy: with the store's file gone, downloads (and ranges) still work.
    std::fs::remove_file(app.data.0.join("images").join(&id)).expect("remove the stored file");
    let got = app.download(&id).await;
    assert!(got.as_ref() == data.as_slice(), "served from the cache");
    let part = app
        .request(Method::GET, &format!("/v2/images/{id}/file"))
        .header("Range", "bytes=1000-1009")
        .send()
        .await
        .expect("range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.bytes().await.expect("part").as_ref(),
        &data[1000..1010]
    );
    let (_, list) = app.call(None, Method::GET, "/v2/cache", None).await;
    assert_eq!(list["cached_images"][0]["hits"], 2);
    assert_eq!(list["cached_images"][0]["size"], data.len());

    // Clearing: a bad target is refused; the queue alone leaves the cache; all of it.
    let bad = app
        .request(Method::DELETE, "/v2/cache")
        .header("x-image-cache-clear-target", "invalid")
        .send()
        .await
        .expect("clear");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let r = app
        .request(Method::DELETE, "/v2/cache")
        .header("x-image-cache-clear-target", "queue")
        .send()
        .await
        .expect("clear");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, list) = app.call(None, Method::GET, "/v2/cache", None).await;
    assert_eq!(cached_ids(&list), [id.as_str()]);
    let (status, _) = app.call(None, Method::DELETE, "/v2/cache", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = app.call(None, Method::GET, "/v2/cache", None).await;
    assert_eq!(list, json!({"cached_images": [], "queued_images": []}));
    assert!(!app.data.0.join("cache").join(&id).exists());

    // One image out of the cache; deleting an image drops its copy too.
    let other = uploaded(&app, vec![5u8; 1000]).await;
    cache(&app, &other).await;
    let (status, _) = app
        .call(None, Method::DELETE, &format!("/v2/cache/{other}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    cache(&app, &other).await;
    let (status, _) = app
        .call(None, Method::DELETE, &format!("/v2/images/{other}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = app.call(None, Method::GET, "/v2/cache", None).await;
    assert!(cached_ids(&list).is_empty(), "{list}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_least_recently_used_image_leaves_a_full_cache() {
    let app = TestApp::sqlite_with(|c| c.image_cache_max_size = 250_000).await;
    let a = uploaded(&app, vec![1u8; 100_000]).await;
    let b = uploaded(&app, vec![2u8; 100_000]).await;
    let c = uploaded(&app, vec![3u8; 100_000]).await;
    cache(&app, &a).await;
    cache(&app, &b).await;
    // a is read, so b is now the least recently used.
    assert!(
        app.get(&format!("/v2/images/{a}/file"))
            .await
            .status()
            .is_success()
    );
    cache(&app, &c).await;
    let (_, list) = app.call(None, Method::GET, "/v2/cache", None).await;
    let mut ids = cached_ids(&list);
    ids.sort();
    let mut want = vec![a.clone(), c.clone()];
    want.sort();
    assert_eq!(ids, want);
    // An image larger than the whole cache is not cached.
    let big = uploaded(&app, vec![4u8; 300_000]).await;
    let (status, _) = app
        .call(None, Method::PUT, &format!("/v2/cache/{big}"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // The fill gives up at once: the image leaves the queue without being cached.
    let deadline = Instant::now() + Duration::from_secs(20);
    let list = loop {
        let (_, list) = app.call(None, Method::GET, "/v2/cache", None).await;
        if list["queued_images"].as_array().is_some_and(Vec::is_empty) {
            break list;
        }
        assert!(Instant::now() < deadline, "{big} stays queued: {list}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    assert!(!cached_ids(&list).contains(&big), "{list}");
    app.stop().await;
}

/// API 2.18: `POST /v2/cache/clean` removes what interrupted fills left and the copies of
/// images deleted through another server; `POST /v2/cache/prune` brings a cache over its bound
/// (a server restarted with a smaller one) back within it, least recently used first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_and_prune_keep_the_cache_true() {
    let shared = super::harness::TempDir::new("cache-nodes");
    let node = |name: &'static str, max: u64| {
        let shared_node = super::harness::shared_node(&shared.0, name);
        let data = shared.0.join(name);
        move |c: &mut glint_server::Config| {
            shared_node(c);
            c.data_dir = data;
            c.image_cache_max_size = max;
        }
    };
    let a = TestApp::sqlite_with(node("a", 10 << 20)).await;
    let b = TestApp::sqlite_with(node("b", 10 << 20)).await;
    let x = uploaded(&a, vec![1u8; 100_000]).await;
    let y = uploaded(&a, vec![2u8; 100_000]).await;
    let z = uploaded(&a, vec![3u8; 100_000]).await;
    for id in [&x, &y, &z] {
        cache(&b, id).await;
    }
    let member = Some(("p1", "member,reader"));
    for path in ["/v2/cache/clean", "/v2/cache/prune"] {
        let (status, _) = b.call(member, Method::POST, path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }

    let (status, _) = a
        .call(None, Method::DELETE, &format!("/v2/images/{x}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let cache_dir = shared.0.join("b").join("cache");
    let (_, list) = b.call(None, Method::GET, "/v2/cache", None).await;
    assert!(cached_ids(&list).contains(&x), "b still holds x: {list}");
    let stray = cache_dir.join(".incomplete").join("stray");
    std::fs::write(&stray, b"left by a fill that died").expect("stray file");
    let (status, body) = b.call(None, Method::POST, "/v2/cache/clean", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = b.call(None, Method::GET, "/v2/cache", None).await;
    let mut ids = cached_ids(&list);
    ids.sort();
    let mut want = vec![y.clone(), z.clone()];
    want.sort();
    assert_eq!(ids, want);
    assert!(!stray.exists(), "the stray fill is gone");
    assert!(!cache_dir.join(&x).exists(), "x's copy is gone");
    // Nothing over the bound: prune has nothing to do.
    let (status, pruned) = b.call(None, Method::POST, "/v2/cache/prune", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        pruned,
        json!({"total_files_pruned": 0, "total_bytes_pruned": 0})
    );

    // b comes back with room for one image: prune evicts the older copy.
    b.stop().await;
    let b = TestApp::sqlite_with(node("b", 150_000)).await;
    let (_, list) = b.call(None, Method::GET, "/v2/cache", None).await;
    assert_eq!(cached_ids(&list).len(), 2, "{list}");
    let (status, pruned) = b.call(None, Method::POST, "/v2/cache/prune", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        pruned,
        json!({"total_files_pruned": 1, "total_bytes_pruned": 100_000})
    );
    let (_, list) = b.call(None, Method::GET, "/v2/cache", None).await;
    assert_eq!(cached_ids(&list).len(), 1, "{list}");
    b.stop().await;
    a.stop().await;
}
