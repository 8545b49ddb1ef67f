//! The real python-glanceclient against Glint.

use serde_json::Value;

use crate::harness::TestApp;
use crate::python::{tool, venv};

/// Launchpad bug 901534 through the legacy v1 client, as Nova's tooling drove it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_v1_client_snapshot_flow() {
    let venv = venv();
    let app = TestApp::sqlite().await;
    let base = app.base.clone();
    let glance = |args: &[&str]| {
        let mut all = vec![
            "--os-image-url",
            base.as_str(),
            "--os-auth-token",
            "glint-test-token",
            "--os-image-api-version",
            "1",
        ];
        all.extend_from_slice(args);
        tool(&venv, "glance", &all)
    };
    let created = tokio::task::block_in_place(|| {
        glance(&[
            "image-create",
            "--name",
            "image12345",
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--property",
            "backup_type=daily",
            "--property",
            "image_type=snapshot",
            "--property",
            "instance_ref=http://nova/servers/42",
            "--property",
            "instance_uuid=0a1b2c3d-0000-4000-8000-000000000042",
            "--property",
            "user_id=u42",
            "--property",
            "key1=value1",
            "--property",
            "key2=value2",
        ])
    });
    let id = created
        .lines()
        .find_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 2 && cells[1] == "id").then(|| cells[2].to_string())
        })
        .unwrap_or_else(|| panic!("no id in:\n{created}"));

    let file = app.data.0.join("snapshot.raw");
    std::fs::write(&file, vec![42u8; 300_000]).expect("snapshot file");
    let file = file.to_string_lossy().into_owned();
    tokio::task::block_in_place(|| {
        glance(&[
            "image-update",
            &id,
            "--file",
            &file,
            "--property",
            "image_location=snapshot",
            "--property",
            "image_state=available",
            "--property",
            "kernel_id=6b8e1f0a-7c3d-4f2e-9a1b-2c3d4e5f0001",
            "--property",
            "ramdisk_id=6b8e1f0a-7c3d-4f2e-9a1b-2c3d4e5f0002",
            "--property",
            "owner_id=p1",
        ])
    });
    let image = app.show(&id).await;
    assert_eq!(image["status"], "active");
    assert_eq!(image["size"], 300_000);
    for key in [
        "backup_type",
        "image_type",
        "instance_ref",
        "instance_uuid",
        "user_id",
        "key1",
        "key2",
        "image_location",
        "image_state",
        "kernel_id",
        "ramdisk_id",
        "owner_id",
    ] {
        assert!(
            image[key].is_string(),
            "{key} is missing after the upload: {image}"
        );
    }
    let shown = tokio::task::block_in_place(|| glance(&["image-show", &id]));
    assert!(shown.contains("Property 'instance_uuid'"), "{shown}");

    // Without --purge-props the client sends purge false: a metadata update merges.
    tokio::task::block_in_place(|| glance(&["image-update", &id, "--property", "key3=value3"]));
    let image = app.show(&id).await;
    assert_eq!(image["key3"], "value3");
    assert_eq!(
        image["instance_uuid"],
        "0a1b2c3d-0000-4000-8000-000000000042"
    );

    // With --purge-props, the others go (soft-deleted, restorable).
    tokio::task::block_in_place(|| {
        glance(&[
            "image-update",
            &id,
            "--purge-props",
            "--property",
            "key1=value1",
        ])
    });
    let image = app.show(&id).await;
    assert!(image.get("instance_uuid").is_none(), "{image}");
    assert_eq!(image["key1"], "value1");
    let history: Value = app
        .get(&format!("/v2/images/{id}/history"))
        .await
        .json()
        .await
        .expect("history");
    let removed = history["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .filter(|p| p["deleted"] == true && p["deleted_at"].is_string())
        .count();
    assert_eq!(removed, 12, "every purged property is kept, soft-deleted");
    app.stop().await;
}
