//! The RBD store against a real single-node Ceph (`CEPH_CONF`; `cargo glint test` starts one,
//! and these tests start one with `cargo glint ceph start` when run on their own): uploads
//! with checksums, downloads and ranges, the protected snapshot Nova clones, deletes with
//! clones of either format (to the trash, purged once the clones go), thin provisioning, cut-off
//! uploads, copy-image between a file store and RBD, two pools, and Nova's direct snapshot.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use glint_server::config::{StoreConfig, StoreKind};
use glint_server::store::RbdSettings;
use md5::Digest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TempDir, TestApp};

/// The test cluster: its configuration and fsid.
pub(crate) struct Ceph {
    pub(crate) conf: PathBuf,
}

/// The cluster `CEPH_CONF` names, or one started here (left running for the next tests;
/// `cargo glint ceph stop` ends it).
pub(crate) fn ceph() -> &'static Ceph {
    static CEPH: OnceLock<Ceph> = OnceLock::new();
    CEPH.get_or_init(|| {
        if let Some(conf) = std::env::var_os("CEPH_CONF") {
            return Ceph {
                conf: PathBuf::from(conf),
            };
        }
        let out = Command::new(env!("CARGO_BIN_EXE_glint-dev"))
            .args(["ceph", "start"])
            .output()
            .expect("cargo glint ceph start runs");
        assert!(
            out.status.success(),
            "no CEPH_CONF and no cluster could be started: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let conf = stdout
            .lines()
            .find_map(|l| l.strip_prefix("CEPH_CONF="))
            .expect("CEPH_CONF printed");
        Ceph {
            conf: PathBuf::from(conf),
        }
    })
}

impl Ceph {
    fn cli(&self, tool: &str, args: &[&str]) -> std::process::Output {
        Command::new(tool)
            .arg("--conf")
            .arg(&self.conf)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool} runs: {e}"))
    }

    /// Runs `rbd`, asserting success; its output.
    pub(crate) fn rbd(&self, args: &[&str]) -> String {
        let out = self.cli("rbd", args);
        assert!(
            out.status.success(),
            "rbd {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn fsid(&self) -> String {
        let out = self.cli("ceph", &["fsid"]);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The images in a pool (not in its trash).
    pub(crate) fn images(&self, pool: &str) -> Vec<String> {
        self.rbd(&["ls", pool])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The names of the images in a pool's trash.
    pub(crate) fn trash(&self, pool: &str) -> Vec<String> {
        self.rbd(&["trash", "ls", pool])
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .collect()
    }

    /// An image's (or snapshot's) bytes, through `rbd export`.
    pub(crate) fn export(&self, spec: &str, dir: &Path) -> Vec<u8> {
        let file = dir.join(format!("export-{}", uuid::Uuid::new_v4().simple()));
        self.rbd(&["export", spec, &file.to_string_lossy()]);
        let data = std::fs::read(&file).expect("the export");
        let _ = std::fs::remove_file(&file);
        data
    }

    /// Bytes used in the pool by an image and its snapshots (`rbd du`), as the cluster
    /// counts them.
    pub(crate) fn used(&self, spec: &str) -> u64 {
        let out: Value =
            serde_json::from_str(&self.rbd(&["du", "--format", "json", spec])).expect("json");
        out["images"]
            .as_array()
            .expect("images")
            .iter()
            .map(|i| i["used_size"].as_u64().expect("used_size"))
            .sum()
    }

    pub(crate) fn settings(&self, pool: &str, thin: bool) -> RbdSettings {
        RbdSettings {
            pool: pool.into(),
            ceph_conf: Some(self.conf.clone()),
            user: Some("admin".into()),
            chunk_size: 4 << 20,
            connect_timeout: 30,
            thin_provisioning: thin,
        }
    }
}

pub(crate) fn rbd_store(id: &str, pool: &str, thin: bool, conf: &Path) -> StoreConfig {
    StoreConfig {
        rbd_store_pool: Some(pool.into()),
        rbd_store_ceph_conf: Some(conf.to_path_buf()),
        rbd_store_chunk_size: Some(4),
        rbd_thin_provisioning: Some(thin),
        description: Some(format!("Ceph pool {pool}")),
        ..StoreConfig::new(id, StoreKind::Rbd)
    }
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8)
        .collect()
}

async fn raw_image(app: &TestApp, name: &str) -> String {
    app.create(json!({"name": name, "disk_format": "raw", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn delete(app: &TestApp, id: &str) -> StatusCode {
    app.request(Method::DELETE, &format!("/v2/images/{id}"))
        .send()
        .await
        .expect("delete")
        .status()
}

/// A server name of its own: servers of other tests share the pools, and a server removes
/// the partial images its own name left when it starts.
fn node_name() -> String {
    format!("rbd-{}", uuid::Uuid::new_v4().simple())
}

/// One RBD store as the only store (`--store rbd`, Glance's `default_store = rbd`).
async fn single_rbd_store(postgres: bool) -> TestApp {
    single_rbd_store_named(postgres, node_name()).await
}

async fn single_rbd_store_named(postgres: bool, node: String) -> TestApp {
    let settings = ceph().settings("images", false);
    let configure = move |c: &mut glint_server::Config| {
        c.node_name = node;
        c.rbd = Some(settings);
        c.show_image_direct_url = true;
        c.node_timeout = 3;
    };
    match postgres {
        true => TestApp::postgres_with(configure).await,
        false => TestApp::sqlite_with(configure).await,
    }
}

/// Upload, download, ranges, the snapshot Nova clones, and deletes of images with clones of
/// both formats: the API answers 204, the image waits in the trash while cloned, and goes once
/// its clone does.
async fn uploads_clones_and_deletes(postgres: bool) {
    let ceph = ceph();
    let app = single_rbd_store(postgres).await;
    let scratch = TempDir::new("rbd");
    let fsid = ceph.fsid();

    // 10 MiB and a bit: three objects of 4 MiB, the last one partial.
    let data = pattern((10 << 20) + 12_345, 7);
    let id = raw_image(&app, "rbd").await;
    let r = app.upload(&id, data.clone()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let shown = app.show(&id).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["size"], data.len());
    assert_eq!(shown["checksum"], format!("{:x}", md5::Md5::digest(&data)));
    assert_eq!(
        shown["os_hash_value"],
        format!("{:x}", sha2::Sha512::digest(&data))
    );
    let url = format!("rbd://{fsid}/images/{id}/snap");
    assert_eq!(shown["direct_url"], url, "the location Nova parses");
    let (status, locations) = app
        .call(
            None,
            Method::GET,
            &format!("/v2/images/{id}/locations"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(locations[0]["url"], url);
    // The RBD image is named by the image id, with the protected snapshot `snap`.
    assert!(ceph.images("images").contains(&id));
    let info: Value = serde_json::from_str(&ceph.rbd(&[
        "info",
        "--format",
        "json",
        &format!("images/{id}@snap"),
    ]))
    .expect("json");
    assert_eq!(info["protected"], "true", "{info}");
    assert_eq!(info["size"], data.len());
    assert_eq!(info["order"], 22, "4 MiB objects");
    assert_eq!(ceph.export(&format!("images/{id}@snap"), &scratch.0), data);
    let partial = format!("glint-partial.{id}.");
    assert!(
        !ceph
            .images("images")
            .iter()
            .any(|n| n.starts_with(&partial)),
        "no partial image is left"
    );

    // Downloads: whole, and a range across an object boundary.
    assert_eq!(app.download(&id).await.as_ref(), data.as_slice());
    let part = app
        .request(Method::GET, &format!("/v2/images/{id}/file"))
        .header("Range", "bytes=4194000-4194999")
        .send()
        .await
        .expect("ranged download");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.bytes().await.expect("bytes").as_ref(),
        &data[4_194_000..4_195_000]
    );

    // Instances boot from clones of the snapshot, as Nova makes them; deleting the image
    // answers 204 under either clone format and the clone keeps reading the same bytes.
    for format in ["1", "2"] {
        let id = raw_image(&app, &format!("cloned v{format}")).await;
        let data = pattern(3 << 20, format.len() as u32 + 100);
        assert_eq!(
            app.upload(&id, data.clone()).await.status(),
            StatusCode::NO_CONTENT
        );
        let child = format!("vm-{}", uuid::Uuid::new_v4().simple());
        ceph.rbd(&[
            "clone",
            "--rbd-default-clone-format",
            format,
            &format!("images/{id}@snap"),
            &format!("images/{child}"),
        ]);
        assert_eq!(delete(&app, &id).await, StatusCode::NO_CONTENT, "v{format}");
        assert_eq!(
            app.request(Method::GET, &format!("/v2/images/{id}"))
                .send()
                .await
                .expect("get")
                .status(),
            StatusCode::NOT_FOUND
        );
        assert!(!ceph.images("images").contains(&id), "v{format}");
        assert!(
            ceph.trash("images").contains(&id),
            "in the trash (v{format}): {:?}",
            ceph.images("images")
        );
        assert_eq!(
            ceph.export(&format!("images/{child}"), &scratch.0),
            data,
            "the clone reads on (v{format})"
        );
        // The sweep leaves it while the clone exists, and removes it once the clone is gone.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            ceph.trash("images").contains(&id),
            "kept while cloned (v{format})"
        );
        ceph.rbd(&["rm", &format!("images/{child}")]);
        wait_for("the trashed image to be purged", async || {
            !ceph.trash("images").contains(&id)
        })
        .await;
    }

    // Without clones, the image and its snapshot go at once.
    assert_eq!(delete(&app, &id).await, StatusCode::NO_CONTENT);
    assert!(!ceph.images("images").contains(&id));
    assert!(!ceph.trash("images").contains(&id));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbd_uploads_clones_and_deletes_sqlite() {
    uploads_clones_and_deletes(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbd_uploads_clones_and_deletes_postgres() {
    uploads_clones_and_deletes(true).await;
}

/// A cut-off upload and a refused one leave no RBD image behind; the image takes data again;
/// what a killed server left is removed when it starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbd_failed_uploads_leave_nothing() {
    let ceph = ceph();
    let node = node_name();
    let hex: String = node.bytes().map(|b| format!("{b:02x}")).collect();
    let left = format!("glint-partial.{}.{hex}.dead", uuid::Uuid::new_v4());
    ceph.rbd(&["create", "--size", "1M", &format!("images/{left}")]);
    let app = single_rbd_store_named(false, node).await;
    assert!(
        !ceph.images("images").contains(&left),
        "the partial image of this server's previous run is gone"
    );
    let cut = raw_image(&app, "cut").await;
    crate::data::start_then_abandon_upload(&app.base, &cut, 12 << 20, 6 << 20).await;
    crate::data::wait_for_status(&app, &cut, "queued").await;
    let partial = format!("glint-partial.{cut}.");
    wait_for("the partial RBD image to go", async || {
        !ceph
            .images("images")
            .iter()
            .any(|n| n.starts_with(&partial))
    })
    .await;
    assert!(!ceph.images("images").contains(&cut));

    // Refused content: a qcow2 with a backing file.
    let refused = app
        .create(json!({"name": "bad", "disk_format": "qcow2", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let files = TempDir::new("backed");
    let qcow = std::fs::read(crate::inspection::backed_qcow2(&files.0)).expect("read");
    assert_eq!(
        app.upload(&refused, qcow).await.status(),
        StatusCode::BAD_REQUEST
    );
    let partial = format!("glint-partial.{refused}.");
    wait_for("the refused upload's RBD image to go", async || {
        !ceph
            .images("images")
            .iter()
            .any(|n| n.starts_with(&partial))
    })
    .await;
    assert!(!ceph.images("images").contains(&refused));

    let data = pattern(1 << 20, 3);
    assert_eq!(
        app.upload(&cut, data.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.download(&cut).await.as_ref(), data.as_slice());
    assert_eq!(delete(&app, &cut).await, StatusCode::NO_CONTENT);
    app.stop().await;
}

/// A file store and two RBD stores in different pools, one thin-provisioned: the same
/// mostly-zero image uses one object's worth of space thin and all of it thick; copy-image
/// goes from the file store to RBD and back, and Nova's direct snapshot is adopted in place.
async fn stores_side_by_side(postgres: bool) {
    let ceph = ceph();
    let conf = ceph.conf.clone();
    let node = node_name();
    let configure = move |c: &mut glint_server::Config| {
        c.node_name = node;
        c.stores = vec![
            StoreConfig {
                weight: 10,
                ..StoreConfig::new("local", StoreKind::Fs)
            },
            rbd_store("ceph", "images", false, &conf),
            rbd_store("thin", "images2", true, &conf),
        ];
        c.default_store = Some("local".into());
        c.show_multiple_locations = true;
    };
    let app = match postgres {
        true => TestApp::postgres_with(configure).await,
        false => TestApp::sqlite_with(configure).await,
    };
    let fsid = ceph.fsid();
    let scratch = TempDir::new("rbd-multi");

    // Both RBD stores show their pool and the cluster's fsid.
    let (status, detail) = app
        .call(
            Some(("nova", "service")),
            Method::GET,
            "/v2/info/stores/detail",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let store = |id: &str| -> Value {
        detail["stores"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["id"] == id))
            .cloned()
            .expect("listed")
    };
    assert_eq!(store("ceph")["type"], "rbd");
    assert_eq!(store("ceph")["properties"]["fsid"], fsid);
    assert_eq!(store("ceph")["properties"]["pool"], "images");
    assert_eq!(store("ceph")["properties"]["chunk_size"], 4 << 20);
    assert_eq!(store("thin")["properties"]["pool"], "images2");
    assert_eq!(store("thin")["properties"]["thin_provisioning"], true);

    // 32 MiB of which 1 MiB is data: thin, only the object holding it is written.
    let mut sparse = vec![0u8; 32 << 20];
    sparse[(9 << 20)..(10 << 20)].copy_from_slice(&pattern(1 << 20, 9));
    let mut used = Vec::new();
    for target in ["thin", "ceph"] {
        let id = raw_image(&app, &format!("sparse in {target}")).await;
        let r = app
            .request(Method::PUT, &format!("/v2/images/{id}/file"))
            .header("Content-Type", "application/octet-stream")
            .header("X-Image-Meta-Store", target)
            .body(sparse.clone())
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{target}");
        let shown = app.show(&id).await;
        assert_eq!(shown["stores"], target);
        assert_eq!(
            shown["checksum"],
            format!("{:x}", md5::Md5::digest(&sparse)),
            "the zeros count in the checksum"
        );
        let pool = if target == "thin" {
            "images2"
        } else {
            "images"
        };
        used.push(ceph.used(&format!("{pool}/{id}")));
        assert_eq!(app.download(&id).await.as_ref(), sparse.as_slice());
        assert_eq!(delete(&app, &id).await, StatusCode::NO_CONTENT);
    }
    eprintln!(
        "32 MiB image with 1 MiB of data: {} MiB used thin, {} MiB thick",
        used[0] >> 20,
        used[1] >> 20
    );
    assert!(used[0] <= 4 << 20, "thin: one 4 MiB object ({})", used[0]);
    assert!(used[1] >= 32 << 20, "thick: every object ({})", used[1]);

    // copy-image: from the file store into RBD, then the file copy goes, then back.
    let data = pattern(5 << 20, 21);
    let id = raw_image(&app, "travels").await;
    assert_eq!(
        app.upload(&id, data.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.show(&id).await["stores"], "local");
    let copy = |to: &str| json!({"method": {"name": "copy-image"}, "stores": [to]});
    let (status, body) = app
        .call(
            None,
            Method::POST,
            &format!("/v2/images/{id}/import"),
            Some(copy("ceph")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task = app.ended_task(&id, 1).await;
    assert_eq!(task["status"], "success", "{task}");
    assert!(ceph.images("images").contains(&id));
    assert_eq!(ceph.export(&format!("images/{id}@snap"), &scratch.0), data);
    let (status, _) = app
        .call(
            None,
            Method::DELETE,
            &format!("/v2/stores/local/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.show(&id).await["stores"], "ceph");
    assert_eq!(
        app.download(&id).await.as_ref(),
        data.as_slice(),
        "from RBD"
    );
    let (status, body) = app
        .call(
            None,
            Method::POST,
            &format!("/v2/images/{id}/import"),
            Some(copy("local")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task = app.ended_task(&id, 2).await;
    assert_eq!(task["status"], "success", "{task}");
    let (status, _) = app
        .call(None, Method::DELETE, &format!("/v2/stores/ceph/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!ceph.images("images").contains(&id), "gone from RBD");
    assert_eq!(app.show(&id).await["stores"], "local");
    assert_eq!(
        app.download(&id).await.as_ref(),
        data.as_slice(),
        "from the file"
    );

    // Nova's direct snapshot: the snapshot is written in Ceph, then its location is added to
    // a queued image; Glint hashes it where it is and activates the image.
    let snapshot = pattern((2 << 20) + 99, 55);
    let file = scratch.0.join("snapshot.raw");
    std::fs::write(&file, &snapshot).expect("write");
    let name = uuid::Uuid::new_v4().to_string();
    ceph.rbd(&["import", &file.to_string_lossy(), &format!("images/{name}")]);
    ceph.rbd(&["snap", "create", &format!("images/{name}@snap")]);
    ceph.rbd(&["snap", "protect", &format!("images/{name}@snap")]);
    let id = raw_image(&app, "nova snapshot").await;
    let add = |url: String| json!({"url": url});
    let foreign = format!("rbd://00000000-0000-0000-0000-000000000000/images/{name}/snap");
    let (status, body) = app
        .call(
            None,
            Method::POST,
            &format!("/v2/images/{id}/locations"),
            Some(add(foreign)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "another cluster: {body}");
    assert!(
        body.to_string().contains("Ceph clusters and pools"),
        "{body}"
    );
    let url = format!("rbd://{fsid}/images/{name}/snap");
    let (status, body) = app
        .call(
            None,
            Method::POST,
            &format!("/v2/images/{id}/locations"),
            Some(add(url.clone())),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    crate::data::wait_for_status(&app, &id, "active").await;
    let shown = app.show(&id).await;
    assert_eq!(shown["size"], snapshot.len());
    assert_eq!(
        shown["checksum"],
        format!("{:x}", md5::Md5::digest(&snapshot))
    );
    assert_eq!(
        shown["os_hash_value"],
        format!("{:x}", sha2::Sha512::digest(&snapshot))
    );
    assert_eq!(shown["stores"], "ceph", "recorded in the store of its pool");
    assert_eq!(shown["locations"][0]["url"], url);
    assert_eq!(app.download(&id).await.as_ref(), snapshot.as_slice());
    assert!(
        ceph.images("images").contains(&name),
        "not copied: used in place"
    );
    assert_eq!(delete(&app, &id).await, StatusCode::NO_CONTENT);
    assert!(!ceph.images("images").contains(&name));

    // The older way, a locations PATCH: the image is active at once, sized from RBD.
    let name = uuid::Uuid::new_v4().to_string();
    ceph.rbd(&["import", &file.to_string_lossy(), &format!("images/{name}")]);
    ceph.rbd(&["snap", "create", &format!("images/{name}@snap")]);
    ceph.rbd(&["snap", "protect", &format!("images/{name}@snap")]);
    let id = raw_image(&app, "nova snapshot, patched").await;
    let url = format!("rbd://{fsid}/images/{name}/snap");
    let r = app
        .patch(
            &id,
            json!([{"op": "add", "path": "/locations/-", "value": {"url": url, "metadata": {}}}]),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let shown = app.show(&id).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["size"], snapshot.len(), "sized from the RBD snapshot");
    assert_eq!(shown["stores"], "ceph", "the store of its pool");
    assert_eq!(app.download(&id).await.as_ref(), snapshot.as_slice());
    let r = app
        .patch(
            &raw_image(&app, "elsewhere").await,
            json!([{"op": "add", "path": "/locations/-", "value": {
                "url": format!("rbd://00000000-0000-0000-0000-000000000000/images/{name}/snap"),
                "metadata": {}}}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "another cluster");
    assert_eq!(delete(&app, &id).await, StatusCode::NO_CONTENT);
    assert!(!ceph.images("images").contains(&name));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbd_beside_file_stores_sqlite() {
    stores_side_by_side(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbd_beside_file_stores_postgres() {
    stores_side_by_side(true).await;
}

async fn stage(app: &TestApp, id: &str, data: &[u8]) {
    let r = app
        .request(Method::PUT, &format!("/v2/images/{id}/stage"))
        .header("Content-Type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .expect("stage");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

async fn glance_direct(app: &TestApp, id: &str) {
    let (status, body) = app
        .call(
            None,
            Method::POST,
            &format!("/v2/images/{id}/import"),
            Some(json!({"method": {"name": "glance-direct"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

/// The image_conversion import into an RBD store: a qcow2 becomes raw, its checksums and sizes
/// those of the raw data, and a clone of its snapshot reads what `qemu-img convert` of the
/// original gives; an unsafe qcow2 is never converted and leaves the image queued with the
/// reason in its task; the work folder keeps nothing.
async fn imports_are_converted(postgres: bool) {
    let ceph = ceph();
    let settings = ceph.settings("images", false);
    let node = node_name();
    let configure = move |c: &mut glint_server::Config| {
        c.node_name = node;
        c.rbd = Some(settings);
        c.image_conversion_output_format = Some("raw".into());
    };
    let app = match postgres {
        true => TestApp::postgres_with(configure).await,
        false => TestApp::sqlite_with(configure).await,
    };
    let files = TempDir::new("convert");
    // A 6 MiB disk with data in two places, as qcow2; what qemu-img makes of it as raw.
    let mut disk = vec![0u8; 6 << 20];
    disk[..(1 << 20)].copy_from_slice(&pattern(1 << 20, 1));
    disk[(4 << 20)..(5 << 20)].copy_from_slice(&pattern(1 << 20, 2));
    std::fs::write(files.0.join("disk.raw"), &disk).expect("write");
    crate::inspection::qemu_img(
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "qcow2",
            "disk.raw",
            "disk.qcow2",
        ],
        &files.0,
    );
    crate::inspection::qemu_img(
        &[
            "convert",
            "-f",
            "qcow2",
            "-O",
            "raw",
            "disk.qcow2",
            "expected.raw",
        ],
        &files.0,
    );
    let qcow2 = std::fs::read(files.0.join("disk.qcow2")).expect("qcow2");
    let expected = std::fs::read(files.0.join("expected.raw")).expect("raw");
    assert_eq!(expected, disk);
    assert!(qcow2.len() < disk.len());

    let id = app
        .create(json!({"name": "converted", "disk_format": "qcow2", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    stage(&app, &id, &qcow2).await;
    // The dry run says what the import will make of the image, and starts nothing.
    let r = app
        .request(Method::POST, &format!("/v2/images/{id}/import"))
        .header("Prefer", "return=preview")
        .json(&json!({"method": {"name": "glance-direct"}}))
        .send()
        .await
        .expect("dry run");
    assert_eq!(r.status(), StatusCode::OK);
    let plan: Value = r.json().await.expect("json");
    assert_eq!(
        plan["disk_format"],
        json!({"before": "qcow2", "after": "raw"})
    );
    assert_eq!(
        plan["container_format"],
        json!({"before": "bare", "after": "bare"})
    );
    assert_eq!(plan["converted"], true);
    assert_eq!(plan["stores"], json!(["default"]));
    assert_eq!(
        app.show(&id).await["status"],
        "uploading",
        "nothing started"
    );
    glance_direct(&app, &id).await;
    let task = app.ended_task(&id, 1).await;
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(
        task["result"]["converted"],
        json!({"from": "qcow2", "to": "raw"})
    );
    let shown = app.show(&id).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["disk_format"], "raw");
    assert_eq!(shown["container_format"], "bare");
    assert_eq!(shown["size"], expected.len());
    assert_eq!(shown["virtual_size"], expected.len());
    assert_eq!(
        shown["checksum"],
        format!("{:x}", md5::Md5::digest(&expected))
    );
    assert_eq!(
        shown["os_hash_value"],
        format!("{:x}", sha2::Sha512::digest(&expected))
    );
    // Nova's clone of the snapshot reads the converted disk.
    let child = format!("vm-{}", uuid::Uuid::new_v4().simple());
    ceph.rbd(&[
        "clone",
        &format!("images/{id}@snap"),
        &format!("images/{child}"),
    ]);
    assert_eq!(ceph.export(&format!("images/{child}"), &files.0), expected);
    ceph.rbd(&["rm", &format!("images/{child}")]);
    assert_eq!(app.download(&id).await.as_ref(), expected.as_slice());

    // A qcow2 naming a backing file: refused before qemu-img sees it.
    let bad = app
        .create(json!({"name": "backed", "disk_format": "qcow2", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let backed = std::fs::read(crate::inspection::backed_qcow2(&files.0)).expect("read");
    stage(&app, &bad, &backed).await;
    glance_direct(&app, &bad).await;
    let task = app.ended_task(&bad, 1).await;
    assert_eq!(task["status"], "failure", "{task}");
    assert!(
        task["message"]
            .as_str()
            .is_some_and(|m| m.contains("backing")),
        "{task}"
    );
    let shown = app.show(&bad).await;
    assert_eq!(shown["status"], "queued");
    assert_eq!(shown["disk_format"], "qcow2", "unchanged");
    assert!(!ceph.images("images").contains(&bad));

    // Content that is not what it claims (raw bytes declared qcow2) is refused too.
    let liar = app
        .create(json!({"name": "liar", "disk_format": "qcow2", "container_format": "bare"}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    stage(&app, &liar, &disk).await;
    glance_direct(&app, &liar).await;
    let task = app.ended_task(&liar, 1).await;
    assert_eq!(task["status"], "failure", "{task}");
    assert_eq!(app.show(&liar).await["status"], "queued");

    // An image already raw is stored as it is.
    let plain = raw_image(&app, "raw already").await;
    stage(&app, &plain, &disk).await;
    glance_direct(&app, &plain).await;
    let task = app.ended_task(&plain, 1).await;
    assert_eq!(task["status"], "success", "{task}");
    assert!(task["result"]["converted"].is_null(), "{task}");

    let work = app.data.0.join("convert");
    assert!(
        crate::harness::list_files(&work).is_empty(),
        "the work folder keeps nothing: {:?}",
        crate::harness::list_files(&work)
    );
    for id in [&id, &plain] {
        assert_eq!(delete(&app, id).await, StatusCode::NO_CONTENT);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbd_imports_are_converted_sqlite() {
    imports_are_converted(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbd_imports_are_converted_postgres() {
    imports_are_converted(true).await;
}
