//! Against a real cluster: `CEPH_CONF` names its configuration (`cargo glint test` starts one;
//! `cargo glint ceph start` starts one by hand). Without it these tests say so and pass,
//! unless `GLINT_REQUIRE_CEPH` is set, as the test runner sets it.

use std::path::PathBuf;
use std::process::Command;

use bytes::Bytes;
use glint_rbd::{Cluster, errno};

fn conf() -> Option<PathBuf> {
    match std::env::var_os("CEPH_CONF") {
        Some(c) => Some(PathBuf::from(c)),
        None if std::env::var_os("GLINT_REQUIRE_CEPH").is_some() => {
            panic!("GLINT_REQUIRE_CEPH is set but CEPH_CONF is not")
        }
        None => {
            eprintln!("no CEPH_CONF: start a cluster with `cargo glint ceph start`");
            None
        }
    }
}

fn rbd(conf: &PathBuf, args: &[&str]) -> std::process::Output {
    Command::new("rbd")
        .arg("--conf")
        .arg(conf)
        .args(args)
        .output()
        .expect("rbd runs")
}

#[test]
fn images_snapshots_clones_and_the_trash() {
    let Some(conf) = conf() else { return };
    let cluster = Cluster::connect(Some(&conf), Some("admin"), &[]).expect("connects");
    let fsid = cluster.fsid().expect("fsid");
    assert_eq!(fsid.len(), 36, "a uuid: {fsid}");
    let pool = cluster.pool("images").expect("the images pool");
    let name = format!("crate-{}", std::process::id());
    pool.create(&name, 0, 22).expect("created");
    assert!(
        pool.create(&name, 0, 22)
            .expect_err("twice")
            .is(errno::EEXIST)
    );
    assert!(pool.list().expect("list").contains(&name));
    {
        let image = pool.open(&name).expect("open");
        let piece = 1 << 22;
        image.resize(3 * piece as u64 + 5).expect("grown");
        let mut queue = image.write_queue(2);
        for i in 0..3u8 {
            queue
                .push(u64::from(i) * piece as u64, Bytes::from(vec![i + 1; piece]))
                .expect("queued");
        }
        queue
            .push(3 * piece as u64, Bytes::from_static(b"tail!"))
            .expect("tail");
        queue.finish().expect("written");
        assert_eq!(image.size().expect("size"), 3 * piece as u64 + 5);
        image.snap_create("snap").expect("snapshot");
        image.snap_protect("snap").expect("protected");
    }
    let image = pool
        .open_read_only(&name, Some("snap"))
        .expect("at the snapshot");
    let read: Vec<u8> = image
        .read_queue(0, image.size().expect("size"), 1 << 20, 3)
        .map(|b| b.expect("read"))
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(read.len(), 3 * (1 << 22) + 5);
    assert_eq!(&read[..2], &[1, 1]);
    assert_eq!(&read[(2 << 22)..(2 << 22) + 2], &[3, 3]);
    assert!(read.ends_with(b"tail!"));
    let mut buf = [0u8; 5];
    assert_eq!(image.read(3 * (1 << 22), &mut buf).expect("read"), 5);
    assert_eq!(&buf, b"tail!");

    // A clone of the snapshot, as Nova makes one (clone v1).
    let child = format!("{name}-child");
    let out = rbd(
        &conf,
        &[
            "clone",
            "--rbd-default-clone-format",
            "1",
            &format!("images/{name}@snap"),
            &format!("images/{child}"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        image.children().expect("children"),
        vec![format!("images/{child}")]
    );
    drop(image);
    let writable = pool.open(&name).expect("open");
    assert!(
        writable
            .snap_unprotect("snap")
            .expect_err("clones")
            .is(errno::EBUSY)
    );
    drop(writable);
    assert!(
        pool.remove(&name)
            .expect_err("snapshots")
            .is(errno::ENOTEMPTY)
    );
    pool.trash_move(&name).expect("to the trash");
    let entry = pool
        .trash_list()
        .expect("trash")
        .into_iter()
        .find(|e| e.name == name)
        .expect("in the trash");
    assert!(entry.by_user);
    let trashed = pool.open_by_id(&entry.id).expect("open by id");
    assert!(
        trashed
            .snap_unprotect("snap")
            .expect_err("still cloned")
            .is(errno::EBUSY)
    );
    drop(trashed);
    assert!(pool.trash_remove(&entry.id).is_err(), "a parent stays");
    assert!(
        rbd(&conf, &["rm", &format!("images/{child}")])
            .status
            .success()
    );
    let trashed = pool.open_by_id(&entry.id).expect("open by id");
    trashed.snap_unprotect("snap").expect("no clones now");
    trashed.snap_remove("snap").expect("snapshot gone");
    drop(trashed);
    pool.trash_remove(&entry.id).expect("gone");
    assert!(
        pool.open_read_only(&name, None)
            .expect_err("gone")
            .is(errno::ENOENT)
    );
}
