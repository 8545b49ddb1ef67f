//! Tempest, OpenStack's own acceptance suite: its image v2 tests (`tempest==47.0.0` from PyPI)
//! against Glint in Keystone mode behind a real Keystone, with pre-provisioned credentials, in
//! four profiles: the default deployment (one file store, Glance's default import methods,
//! Glance's catalogue loaded), the full one (several stores, every import method, locations, a
//! loopback source for web-download), the full one with a second Glint server in the catalog
//! as `image_remote`, and the full one with an RBD pool of the test Ceph as the default store
//! (which must pass as many as with file stores). The run prints its counts and the name of
//! every failure.
//!
//! It runs with the other end-to-end tests; `cargo glint tempest` runs it alone and shows its
//! report. A real Glance 33 passes 51 of these entries here configured as devstack configures
//! it by default, 90 fully configured and 93 with `image_remote`.

use std::path::Path;
use std::process::Command;

use glint_server::config::StoreConfig;

use super::harness::{TempDir, TestApp};
use super::keystone::Keystone;
use super::python;

const TEMPEST: &[&str] = &["tempest==47.0.0"];
const PASSWORD: &str = "tempest-pw";

/// A run's counts and the ids of what failed.
#[derive(Debug, Default)]
struct Outcome {
    passed: usize,
    failed: usize,
    skipped: usize,
    failures: Vec<String>,
}

/// Reads `tempest run`'s output: a line per entry (`... ok`, `... SKIPPED: why`,
/// `... FAILED`) and the totals at the end.
fn outcome(output: &str) -> Outcome {
    let mut o = Outcome::default();
    let count = |line: &str, label: &str| -> Option<usize> {
        line.trim()
            .strip_prefix(label)
            .and_then(|n| n.trim().parse().ok())
    };
    for line in output.lines() {
        if let Some(n) = count(line, "- Passed:") {
            o.passed = n;
        } else if let Some(n) = count(line, "- Failed:") {
            o.failed = n;
        } else if let Some(n) = count(line, "- Skipped:") {
            o.skipped = n;
        } else if line.trim_end().ends_with("... FAILED") {
            let name = line
                .split_whitespace()
                .find(|w| {
                    w.starts_with("tempest.")
                        || w.starts_with("glance_tempest_plugin.")
                        || w.starts_with("setUpClass")
                })
                .unwrap_or(line);
            let name = match name {
                "setUpClass" => line.split_whitespace().nth(2).unwrap_or(line),
                n => n,
            };
            o.failures.push(name.to_string());
        }
    }
    o
}

/// Tempest's settings for the default deployment: one store, no locations API, Glance's
/// default import methods, formats checked, the image cache on (as Glint's default).
fn default_conf(ws: &Path, keystone: &str, source: &str) -> String {
    let full = conf(ws, keystone, source, false);
    let features = full
        .find("[image-feature-enabled]")
        .expect("the feature section");
    let volume = full
        .find("[volume-feature-enabled]")
        .expect("the volume section");
    format!(
        "{}[image-feature-enabled]\napi_v2 = true\nimport_image = true\n\
         os_glance_reserved = true\nmanage_locations = false\nimage_conversion = false\n\
         image_format_enforcement = true\ndo_secure_hash = true\nhttp_store_enabled = false\n\
         store_weight_enabled = false\n{}",
        &full[..features],
        &full[volume..]
    )
}

fn conf(ws: &Path, keystone: &str, source: &str, remote: bool) -> String {
    let ws = ws.display();
    let remote = match remote {
        true => "alternate_image_endpoint = image_remote\nalternate_image_endpoint_type = public\n",
        false => "",
    };
    format!(
        "[DEFAULT]\nlog_dir = {ws}/logs\nlog_file = tempest.log\ndebug = true\n\
         [oslo_concurrency]\nlock_path = {ws}/tempest_lock\n\
         [auth]\nuse_dynamic_credentials = false\ntest_accounts_file = {ws}/etc/accounts.yaml\n\
         default_credentials_domain_name = Default\ncreate_isolated_networks = false\n\
         [identity]\nuri_v3 = {keystone}/v3\nauth_version = v3\nregion = RegionOne\n\
         admin_role = admin\nv3_endpoint_type = public\n\
         [identity-feature-enabled]\napi_v2 = false\napi_v3 = true\n\
         [service_available]\nglance = true\nnova = false\ncinder = false\nneutron = false\n\
         swift = false\nhorizon = false\n\
         [enforce_scope]\nglance = true\n\
         [image]\ncatalog_type = image\nendpoint_type = public\n{remote}\
         image_caching_enabled = true\nhttp_image = {source}/small.raw\n\
         http_qcow2_image = {source}/tiny.qcow2\nbuild_timeout = 60\nbuild_interval = 1\n\
         hashing_algorithm = sha512\n\
         [image-feature-enabled]\napi_v2 = true\nimport_image = true\nos_glance_reserved = true\n\
         manage_locations = true\nimage_conversion = false\nimage_format_enforcement = false\n\
         do_secure_hash = true\nhttp_store_enabled = true\nstore_weight_enabled = true\n\
         [volume-feature-enabled]\nenable_volume_image_dep_tests = false\n"
    )
}

fn accounts() -> String {
    [
        ("tempest-admin", "admin", "admin"),
        ("tempest-member", "tempest-a", "member"),
        ("tempest-alt", "tempest-b", "member"),
        ("tempest-reader", "tempest-a", "reader"),
    ]
    .iter()
    .map(|(user, project, role)| {
        format!(
            "- username: {user}\n  password: {PASSWORD}\n  project_name: {project}\n  \
             user_domain_name: Default\n  project_domain_name: Default\n  roles: [{role}]\n"
        )
    })
    .collect()
}

/// Glint as it starts by default, in Keystone mode: one file store, Glance's default import
/// methods; the loopback source allowed for web-download.
async fn default_glint(keystone: &Keystone, source_port: u16, database: &TempDir) -> TestApp {
    let keystone = keystone.glint_config(60);
    let db = format!("sqlite:{}", database.0.join("default.db").display());
    TestApp::sqlite_with(move |c| {
        c.insecure_noauth = false;
        c.database_url = db;
        c.keystone = Some(keystone);
        c.import_filter.exceptions = vec![format!("127.0.0.1:{source_port}")];
    })
    .await
}

/// Loads Glance's metadata definitions catalogue into a database, as an operator does.
async fn load_catalogue(database: &Path) {
    let db = glint_server::db::Db::connect(&format!("sqlite:{}", database.display()))
        .await
        .expect("the database");
    let catalogue = tokio::task::block_in_place(python::glance_catalogue);
    glint_server::catalogue::load_dir(&db, &catalogue, glint_server::catalogue::LoadMode::Skip)
        .await
        .expect("load the catalogue");
    db.close().await;
}

/// Glint as Tempest needs it: Keystone mode, two weighted stores and the http store, locations
/// shown, format matching off (Tempest uploads random bytes as qcow2), every import method,
/// the loopback source allowed for web-download and locations.
async fn glint(name: &str, keystone: &Keystone, source_port: u16, database: &TempDir) -> TestApp {
    glint_with(name, keystone, source_port, database, false).await
}

/// A policy file that restates every default, Glance's and Glint's own, as an operator's
/// `policy.yaml` would (the suites must pass the same with it).
fn restated_policy(dir: &Path) -> std::path::PathBuf {
    let text: String = glint_core::policy::GLANCE_DEFAULTS
        .iter()
        .chain(glint_core::policy::GLINT_DEFAULTS)
        .map(|(name, rule)| format!("\"{name}\": \"{rule}\"\n"))
        .collect();
    let file = dir.join("policy.yaml");
    std::fs::write(&file, format!("# Every default, restated.\n{text}")).expect("policy.yaml");
    file
}

/// As [`glint`]; with `rbd`, the heaviest store (`a`, the default) is an RBD pool of the test
/// cluster instead of a folder, and the policy is a file restating the defaults.
async fn glint_with(
    name: &str,
    keystone: &Keystone,
    source_port: u16,
    database: &TempDir,
    rbd: bool,
) -> TestApp {
    let keystone = keystone.glint_config(60);
    let ceph = rbd.then(|| super::rbd::ceph().conf.clone());
    let policy = rbd.then(|| restated_policy(&database.0));
    let name = name.to_string();
    let db = format!("sqlite:{}", database.0.join("shared.db").display());
    TestApp::sqlite_with(move |c| {
        c.enabled_import_methods
            .push(glint_server::config::ImportMethod::GlanceDownload);
        c.insecure_noauth = false;
        c.database_url = db;
        c.node_name = name;
        c.keystone = Some(keystone);
        let store = |id: &str, weight: i64| StoreConfig {
            id: id.into(),
            kind: glint_server::config::StoreKind::Fs,
            path: Some(database.0.join("stores").join(id)),
            description: Some(format!("store {id}")),
            weight,
            read_only: false,
            ..glint_server::config::StoreConfig::new("", glint_server::config::StoreKind::Fs)
        };
        let web = StoreConfig {
            id: "web".into(),
            kind: glint_server::config::StoreKind::Http,
            path: None,
            description: Some("images at http(s) locations".into()),
            weight: 0,
            read_only: true,
            ..glint_server::config::StoreConfig::new("", glint_server::config::StoreKind::Fs)
        };
        let a = match &ceph {
            Some(conf) => StoreConfig {
                weight: 200,
                ..super::rbd::rbd_store("a", "images", false, conf)
            },
            None => store("a", 200),
        };
        c.stores = vec![a, store("b", 100), web];
        c.show_image_direct_url = rbd;
        c.policy_file = policy;
        c.show_multiple_locations = true;
        c.require_format_match = false;
        c.import_filter.exceptions = vec![format!("127.0.0.1:{source_port}")];
    })
    .await
}

/// Runs the image v2 tests in a fresh Tempest workspace and returns what happened.
fn run_tempest(venv: &Path, dir: &Path, conf_text: &str, title: &str) -> Outcome {
    run_suite(venv, dir, conf_text, title, r"^tempest\.api\.image\.v2\.")
}

/// Runs the tests `regex` selects in a fresh Tempest workspace and returns what happened.
fn run_suite(venv: &Path, dir: &Path, conf_text: &str, title: &str, regex: &str) -> Outcome {
    let ws = dir.join("ws");
    // Tempest keeps a registry of workspaces in ~/.tempest: this run's stays in its folder.
    let status = Command::new(venv.join("bin").join("tempest"))
        .args(["init"])
        .arg(&ws)
        .env("HOME", dir)
        .status()
        .expect("tempest init");
    assert!(status.success(), "tempest init failed");
    std::fs::write(ws.join("etc").join("tempest.conf"), conf_text).expect("tempest.conf");
    std::fs::write(ws.join("etc").join("accounts.yaml"), accounts()).expect("accounts.yaml");
    let out = Command::new(venv.join("bin").join("tempest"))
        .args(["run", "--concurrency", "1", "--regex", regex])
        .current_dir(&ws)
        .env(
            "PATH",
            format!(
                "{}:{}",
                venv.join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .expect("tempest run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    // Kept after the run, with Tempest's own log, for reading the failures.
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tempest");
    std::fs::create_dir_all(&kept).expect("output folder");
    std::fs::write(
        kept.join(format!("{title}.txt")),
        format!("{text}\n{errors}"),
    )
    .expect("keep the output");
    let _ = std::fs::copy(
        ws.join("logs").join("tempest.log"),
        kept.join(format!("{title}.log")),
    );
    let o = outcome(&text);
    assert!(
        o.passed + o.failed + o.skipped > 0,
        "tempest ran nothing: {}",
        errors.lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
    o
}

/// glance-tempest-plugin's access (RBAC) tests: every persona (project admin, member and reader,
/// another project's, a system-scoped admin) against every image API, with Tempest creating
/// its users and projects as Keystone's admin. A real Glance 33 passes 186 of 186 here.
const RBAC: &[&str] = &["tempest==47.0.0", "glance-tempest-plugin==0.17.0"];

fn rbac_conf(ws: &Path, keystone: &str) -> String {
    let ws = ws.display();
    format!(
        "[DEFAULT]\nlog_dir = {ws}/logs\nlog_file = tempest.log\ndebug = true\n\
         [oslo_concurrency]\nlock_path = {ws}/tempest_lock\n\
         [auth]\nuse_dynamic_credentials = true\nadmin_username = admin\n\
         admin_password = {admin_password}\nadmin_project_name = admin\n\
         admin_domain_name = Default\nadmin_system = all\n\
         default_credentials_domain_name = Default\ncreate_isolated_networks = false\n\
         [identity]\nuri_v3 = {keystone}/v3\nauth_version = v3\nregion = RegionOne\n\
         admin_role = admin\nv3_endpoint_type = public\n\
         [identity-feature-enabled]\napi_v2 = false\napi_v3 = true\n\
         [service_available]\nglance = true\nnova = false\ncinder = false\nneutron = false\n\
         swift = false\nhorizon = false\n\
         [enforce_scope]\nglance = true\nkeystone = false\n\
         [glance_api]\nsystem_scope_supported = false\n\
         [image]\ncatalog_type = image\nendpoint_type = public\n\
         [image-feature-enabled]\napi_v2 = true\nimport_image = true\nos_glance_reserved = true\n",
        admin_password = super::keystone::ADMIN_PASSWORD,
    )
}

/// What a run needs: its summary file (cleared), a venv with `packages`, and a Keystone with
/// Glint's service user.
async fn setup(
    summary: &str,
    packages: &[&str],
) -> (std::path::PathBuf, std::path::PathBuf, Keystone) {
    let summary_file = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tempest")
        .join(summary);
    let _ = std::fs::remove_file(&summary_file);
    let venv = tokio::task::block_in_place(|| python::venv_with(packages));
    let keystone = Keystone::start().await;
    let service = keystone.project("service").await;
    keystone
        .user("glint", "glint-pw", &service, "service")
        .await;
    (summary_file, venv, keystone)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glance_rbac_tests() {
    let (summary_file, venv, keystone) = setup("rbac-summary.txt", RBAC).await;
    // Glint as it starts by default in Keystone mode, on SQLite, then on PostgreSQL.
    let mut summary = String::new();
    let mut outcomes = Vec::new();
    // On PostgreSQL, with a policy file restating every default.
    let policies = TempDir::new("tempest-rbac-policy");
    for database in ["SQLite", "PostgreSQL"] {
        let glint = keystone.glint_config(60);
        let policy = (database == "PostgreSQL").then(|| restated_policy(&policies.0));
        let tweak = move |c: &mut glint_server::Config| {
            c.insecure_noauth = false;
            c.keystone = Some(glint);
            c.policy_file = policy;
        };
        let app = match database {
            "SQLite" => TestApp::sqlite_with(tweak).await,
            _ => TestApp::postgres_with(tweak).await,
        };
        keystone.catalog("glance", "image", &app.base).await;
        let dir = TempDir::new("tempest-rbac");
        let text = rbac_conf(&dir.0.join("ws"), &keystone.url);
        let title = format!("rbac-{}", database.to_lowercase());
        let rbac = tokio::task::block_in_place(|| {
            run_suite(
                &venv,
                &dir.0,
                &text,
                &title,
                r"^glance_tempest_plugin\.tests\.rbac\.",
            )
        });
        let with = match database {
            "PostgreSQL" => "PostgreSQL, a policy file restating the defaults",
            _ => database,
        };
        summary.push_str(&report(
            &format!("glance-tempest-plugin 0.17.0 RBAC ({with})"),
            &rbac,
        ));
        outcomes.push((database, rbac));
        app.stop().await;
        keystone.uncatalog("glance").await;
    }
    std::fs::write(&summary_file, &summary).expect("keep the summary");
    for (database, rbac) in outcomes {
        assert!(
            rbac.failed == 0 && rbac.passed >= 186,
            "RBAC on {database}: {} passed, {} failed: {:?}",
            rbac.passed,
            rbac.failed,
            rbac.failures
        );
    }
}

/// Tempest's unified limits tests (`ImageQuotaTest`): Glint reads its limits from Keystone,
/// which the tests change for their project as a system administrator, once the operator has
/// registered them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tempest_unified_limits() {
    let (summary_file, venv, keystone) = setup("limits-summary.txt", TEMPEST).await;
    let glint_user = keystone
        .admin(reqwest::Method::GET, "/users?name=glint", None)
        .await["users"][0]["id"]
        .as_str()
        .expect("Glint's user")
        .to_string();
    let reader = keystone.role("reader").await;
    keystone
        .admin(
            reqwest::Method::PUT,
            &format!("/system/users/{glint_user}/roles/{reader}"),
            None,
        )
        .await;
    let glint = keystone.glint_config(60);
    let app = TestApp::sqlite_with(move |c| {
        c.insecure_noauth = false;
        c.keystone = Some(glint);
        c.keystone_limits = Some(glint_server::config::KeystoneLimitsConfig {
            endpoint_id: None,
            service_type: "image".into(),
            service_name: None,
            region_name: None,
            interface: "public".into(),
            cache_seconds: 0,
        });
    })
    .await;
    keystone.catalog("glance", "image", &app.base).await;
    let services = keystone
        .admin(reqwest::Method::GET, "/services?name=glance", None)
        .await;
    let service_id = services["services"][0]["id"].as_str().expect("glance");
    for resource in [
        "image_size_total",
        "image_stage_total",
        "image_count_total",
        "image_count_uploading",
    ] {
        keystone
            .admin(
                reqwest::Method::POST,
                "/registered_limits",
                Some(
                    serde_json::json!({"registered_limits": [{"service_id": service_id,
                    "region_id": "RegionOne", "resource_name": resource,
                    "default_limit": 1000}]}),
                ),
            )
            .await;
    }
    let dir = TempDir::new("tempest-limits");
    let text = rbac_conf(&dir.0.join("ws"), &keystone.url);
    let limits = tokio::task::block_in_place(|| {
        run_suite(
            &venv,
            &dir.0,
            &text,
            "unified-limits",
            r"\.ImageQuotaTest\.",
        )
    });
    let summary = report("Tempest unified limits (ImageQuotaTest)", &limits);
    app.stop().await;
    std::fs::write(&summary_file, &summary).expect("keep the summary");
    assert!(
        limits.failed == 0 && limits.skipped == 0 && limits.passed == 4,
        "unified limits: {} passed, {} failed, {} skipped: {:?}",
        limits.passed,
        limits.failed,
        limits.skipped,
        limits.failures
    );
}

/// The run's report: counts and the name of every failure, printed and kept in
/// `<target>/tmp/tempest/summary.txt` (which `cargo glint test` shows after the tests).
fn report(title: &str, o: &Outcome) -> String {
    let mut text = format!(
        "{title}: {} passed, {} failed, {} skipped\n",
        o.passed, o.failed, o.skipped
    );
    for f in &o.failures {
        text.push_str(&format!("  FAILED {f}\n"));
    }
    eprint!("\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tempest_image_v2() {
    let (summary_file, venv, keystone) = setup("summary.txt", TEMPEST).await;
    let a = keystone.project("tempest-a").await;
    let b = keystone.project("tempest-b").await;
    let admin_project = keystone
        .admin(reqwest::Method::GET, "/projects?name=admin", None)
        .await["projects"][0]["id"]
        .as_str()
        .expect("the admin project")
        .to_string();
    keystone
        .user("tempest-admin", PASSWORD, &admin_project, "admin")
        .await;
    keystone
        .user("tempest-member", PASSWORD, &a, "member")
        .await;
    keystone.user("tempest-alt", PASSWORD, &b, "member").await;
    keystone
        .user("tempest-reader", PASSWORD, &a, "reader")
        .await;

    // The web-download source: a small valid qcow2 and a small raw file.
    let files = TempDir::new("tempest-source");
    super::inspection::qemu_img(&["create", "-f", "qcow2", "tiny.qcow2", "1M"], &files.0);
    let qcow2 = std::fs::read(files.0.join("tiny.qcow2")).expect("qcow2");
    let raw: Vec<u8> = (0..1_048_576u32).map(|i| (i % 256) as u8).collect();
    let port = super::webdownload::source(vec![("/tiny.qcow2", qcow2), ("/small.raw", raw)]).await;
    let source = format!("http://127.0.0.1:{port}");

    // The default deployment first.
    let shared = TempDir::new("tempest-glint");
    let app = default_glint(&keystone, port, &shared).await;
    load_catalogue(&shared.0.join("default.db")).await;
    keystone.catalog("glance", "image", &app.base).await;
    let dir = TempDir::new("tempest-default");
    let text = default_conf(&dir.0.join("ws"), &keystone.url, &source);
    let default = tokio::task::block_in_place(|| run_tempest(&venv, &dir.0, &text, "default"));
    let mut summary = report("Tempest image v2 (default deployment)", &default);
    app.stop().await;
    keystone.uncatalog("glance").await;

    let app = glint("glint-a", &keystone, port, &shared).await;
    keystone.catalog("glance", "image", &app.base).await;
    load_catalogue(&shared.0.join("shared.db")).await;

    let dir = TempDir::new("tempest");
    let text = conf(&dir.0.join("ws"), &keystone.url, &source, false);
    let one = tokio::task::block_in_place(|| run_tempest(&venv, &dir.0, &text, "one-server"));
    summary.push_str(&report("Tempest image v2 (one server)", &one));

    // A second server on the same database and stores, as image_remote.
    let remote = glint("glint-b", &keystone, port, &shared).await;
    keystone
        .catalog("glance-remote", "image_remote", &remote.base)
        .await;
    let dir2 = TempDir::new("tempest-remote");
    let text = conf(&dir2.0.join("ws"), &keystone.url, &source, true);
    let two = tokio::task::block_in_place(|| run_tempest(&venv, &dir2.0, &text, "image-remote"));
    summary.push_str(&report("Tempest image v2 (with image_remote)", &two));
    remote.stop().await;
    app.stop().await;
    keystone.uncatalog("glance-remote").await;
    keystone.uncatalog("glance").await;

    // The one-server profile again with an RBD pool as the default store.
    let ceph_db = TempDir::new("tempest-rbd");
    let app = glint_with("glint-rbd", &keystone, port, &ceph_db, true).await;
    keystone.catalog("glance", "image", &app.base).await;
    load_catalogue(&ceph_db.0.join("shared.db")).await;
    let dir3 = TempDir::new("tempest-rbd-run");
    let text = conf(&dir3.0.join("ws"), &keystone.url, &source, false);
    let rbd = tokio::task::block_in_place(|| run_tempest(&venv, &dir3.0, &text, "rbd"));
    summary.push_str(&report(
        "Tempest image v2 (one server, RBD default store, a policy file restating the defaults)",
        &rbd,
    ));
    std::fs::write(&summary_file, &summary).expect("keep the summary");
    app.stop().await;

    assert!(
        default.failed == 0 && default.passed >= 51,
        "default deployment: {} passed, {} failed: {:?}",
        default.passed,
        default.failed,
        default.failures
    );
    assert!(
        one.failed == 0 && one.passed >= 90,
        "one server: {} passed, {} failed: {:?}",
        one.passed,
        one.failed,
        one.failures
    );
    assert!(
        two.failed == 0 && two.passed >= 93,
        "with image_remote: {} passed, {} failed: {:?}",
        two.passed,
        two.failed,
        two.failures
    );
    assert!(
        rbd.failed == 0 && rbd.passed == one.passed,
        "RBD default store: {} passed, {} failed (file stores: {} passed): {:?}",
        rbd.passed,
        rbd.failed,
        one.passed,
        rbd.failures
    );
}

#[test]
fn tempest_output_is_read() {
    let text = "{0} tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_delete_image[id-1] [0.5s] ... ok\n\
        {0} tempest.api.image.v2.test_images.ListUserImagesTest.test_list[id-2] [0.1s] ... FAILED\n\
        {0} setUpClass (tempest.api.image.v2.admin.test_image_caching.ImageCachingTest) ... FAILED\n\
        ======\nTotals\n======\nRan: 3 tests in 1.0 sec.\n - Passed: 1\n - Skipped: 0\n\
         - Expected Fail: 0\n - Unexpected Success: 0\n - Failed: 2\n";
    let o = outcome(text);
    assert_eq!((o.passed, o.failed, o.skipped), (1, 2, 0));
    assert_eq!(
        o.failures,
        [
            "tempest.api.image.v2.test_images.ListUserImagesTest.test_list[id-2]",
            "(tempest.api.image.v2.admin.test_image_caching.ImageCachingTest)"
        ]
    );
}
