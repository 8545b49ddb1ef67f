//! `glint adopt` against a real Glance 33 (from PyPI) on MariaDB and on PostgreSQL: Glance is
//! filled through its API by python-glanceclient (two file stores, members, tags, public,
//! community, deactivated, deleted and imported images, a failed upload, properties removed
//! by PATCH, an operator's metadata definitions) and, for what today's API cannot make, by
//! rows written as older Glances left them (Launchpad #901534's purged properties, a killed
//! image, two thousand images of twenty properties). Then: a dry run, an apply killed halfway
//! with SIGKILL, the apply again and once more, `--verify-data`, and Glint serving the result
//! answers python-glanceclient as Glance did, byte for byte.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use md5::Digest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TempDir, TestApp, glint, postgres_admin_url};
use crate::python;
use crate::s3::S3Server;

const GLANCE: &[&str] = &[
    "glance==33.0.0",
    "PyMySQL==1.1.2",
    "psycopg2-binary==2.9.10",
    "waitress==3.0.2",
    "boto3==1.40.50",
];

/// Images of twenty properties written straight into Glance's database.
const BULK: usize = 2000;

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

fn glance_venv() -> PathBuf {
    python::venv_constrained(GLANCE, Some(&scripts().join("glance-33-constraints.txt")))
}

fn run_python(venv: &Path, args: &[&str]) -> String {
    let out = Command::new(venv.join("bin").join("python"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    MariaDb,
    Postgres,
}

/// A fresh database on the machine's MariaDB or PostgreSQL, dropped at the end.
struct SourceDb {
    engine: Engine,
    name: String,
    venv: PathBuf,
}

impl SourceDb {
    fn create(engine: Engine, venv: &Path) -> SourceDb {
        let db = SourceDb {
            engine,
            name: format!(
                "glance_adopt_{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
            venv: venv.to_path_buf(),
        };
        if let Err(e) = db.admin(&format!("CREATE DATABASE {}", db.name)) {
            panic!("{engine:?} is needed for this test: {e}");
        }
        db
    }

    fn admin(&self, sql: &str) -> Result<(), String> {
        let code = match self.engine {
            Engine::MariaDb => {
                "import pymysql, sys\n\
                 c = pymysql.connect(host='127.0.0.1', port=3306, user='root', password='')\n\
                 c.cursor().execute(sys.argv[1])\nc.commit()\n"
            }
            Engine::Postgres => {
                "import psycopg2, sys\n\
                 c = psycopg2.connect(sys.argv[2])\nc.autocommit = True\n\
                 c.cursor().execute(sys.argv[1])\n"
            }
        };
        let out = Command::new(self.venv.join("bin").join("python"))
            .args(["-c", code, sql, &postgres_admin_url()])
            .output()
            .map_err(|e| e.to_string())?;
        match out.status.success() {
            true => Ok(()),
            false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        }
    }

    /// As Glance's `[database] connection` names it.
    fn url(&self) -> String {
        match self.engine {
            Engine::MariaDb => format!(
                "mysql+pymysql://root@127.0.0.1:3306/{}?charset=utf8",
                self.name
            ),
            Engine::Postgres => {
                let admin = postgres_admin_url();
                let (prefix, _) = admin.rsplit_once('/').expect("a database URL");
                let rest = prefix.split_once("://").map(|(_, r)| r).unwrap_or(prefix);
                format!("postgresql+psycopg2://{rest}/{}", self.name)
            }
        }
    }
}

impl Drop for SourceDb {
    fn drop(&mut self) {
        let sql = match self.engine {
            Engine::MariaDb => format!("DROP DATABASE IF EXISTS {}", self.name),
            Engine::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        };
        let _ = self.admin(&sql);
    }
}

/// A real Glance 33 under waitress, on two file stores, trusting identity headers.
struct Glance {
    dir: TempDir,
    child: Option<Child>,
    url: String,
}

impl Glance {
    fn store(&self, id: &str) -> PathBuf {
        self.dir.0.join(id)
    }

    async fn start(venv: &Path, db: &SourceDb, s3: &S3Server) -> Glance {
        let dir = TempDir::new("glance");
        let d = dir.0.display().to_string();
        for sub in ["etc", "fast", "cheap", "staging", "tasks", "logs"] {
            std::fs::create_dir_all(dir.0.join(sub)).expect("glance folders");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // The shipped pipeline, plus one that takes identity from Glance's `context`
        // middleware (X-Tenant-Id, X-Roles, ...) without Keystone.
        let shipped =
            std::fs::read_to_string(venv.join("etc/glance/glance-api-paste.ini")).expect("paste");
        let mut paste = String::new();
        let mut in_api = false;
        for line in shipped.lines() {
            paste.push_str(line);
            paste.push('\n');
            if line.starts_with('[') {
                in_api = line == "[composite:api]";
            }
            if in_api && line.starts_with("keystone+cachemanagement = ") {
                paste.push_str(
                    "trusted-headers = cors http_proxy_to_wsgi versionnegotiation osprofiler \
                     context rootapp\n",
                );
            }
        }
        paste.push_str(
            "\n[composite:glance-api-trusted-headers]\n\
             paste.composite_factory = glance.api:root_app_factory\n/: api\n\
             /healthcheck: healthcheck\n",
        );
        std::fs::write(dir.0.join("etc/glance-api-paste.ini"), paste).expect("paste ini");
        // python-glanceclient quotes header values, so each identity has one role, and Glance
        // runs its legacy rules (the new ones want `reader` beside `member`).
        let conf = format!(
            "[DEFAULT]\nlog_file = {d}/logs/glance-api.log\n\
             enabled_backends = fast:file, cheap:file, bucket:s3\n\
             enabled_import_methods = [glance-direct]\n\
             worker_self_reference_url = http://127.0.0.1:{port}\n\
             [database]\nconnection = {url}\n\
             [glance_store]\ndefault_backend = fast\n\
             [fast]\nfilesystem_store_datadir = {d}/fast\n\
             [cheap]\nfilesystem_store_datadir = {d}/cheap\n\
             [bucket]\ns3_store_host = {s3_url}\ns3_store_access_key = {access}\n\
             s3_store_secret_key = {secret}\ns3_store_bucket = {bucket}\n\
             s3_store_bucket_url_format = path\n\
             [os_glance_staging_store]\nfilesystem_store_datadir = {d}/staging\n\
             [os_glance_tasks_store]\nfilesystem_store_datadir = {d}/tasks\n\
             [paste_deploy]\nflavor = trusted-headers\n\
             [oslo_policy]\nenforce_new_defaults = false\nenforce_scope = false\n",
            url = db.url(),
            s3_url = s3.url,
            access = s3.settings().access_key,
            secret = s3.settings().secret_key,
            bucket = s3.bucket,
        );
        let conf_file = dir.0.join("etc/glance-api.conf");
        std::fs::write(&conf_file, conf).expect("glance-api.conf");
        let manage = |args: &[&str]| {
            let out = Command::new(venv.join("bin/glance-manage"))
                .arg("--config-file")
                .arg(&conf_file)
                .args(args)
                .output()
                .expect("glance-manage");
            assert!(
                out.status.success(),
                "glance-manage {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        manage(&["db_sync"]);
        let catalogue = venv.join("etc/glance/metadefs");
        manage(&["db_load_metadefs", &catalogue.display().to_string()]);
        let log = std::fs::File::create(dir.0.join("logs/server.out")).expect("log");
        let child = Command::new(venv.join("bin/waitress-serve"))
            .args([
                "--host=127.0.0.1",
                &format!("--port={port}"),
                "--threads=4",
                "glance.wsgi.api:application",
            ])
            .env("OS_GLANCE_CONFIG_DIR", dir.0.join("etc"))
            .current_dir(&dir.0)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start glance");
        let url = format!("http://127.0.0.1:{port}");
        let client = crate::harness::http_client();
        let mut up = false;
        for _ in 0..240 {
            if let Ok(r) = client.get(format!("{url}/versions")).send().await
                && r.status().is_success()
            {
                up = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        let glance = Glance {
            dir,
            child: Some(child),
            url,
        };
        assert!(
            up,
            "Glance did not answer: {}",
            std::fs::read_to_string(glance.dir.0.join("logs/server.out")).unwrap_or_default()
        );
        glance
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Glance {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `glint adopt` with these arguments; its report, failing the test if it fails.
fn adopt(config: &Path, from: &str, args: &[&str]) -> String {
    let out = glint()
        .args(["adopt", "--from", from, "--config"])
        .arg(config)
        .args(args)
        .output()
        .expect("run glint adopt");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "glint adopt {args:?} failed:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// The number a report line starting with `label` ends with.
fn number(report: &str, label: &str) -> u64 {
    report
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no '{label}' line in the report:\n{report}"))
}

/// Starts `glint adopt --apply` and kills it (SIGKILL) once it has written its first page.
fn apply_killed_halfway(config: &Path, from: &str, args: &[&str]) {
    let mut child = glint()
        .args(["adopt", "--apply", "--from", from, "--config"])
        .arg(config)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start glint adopt --apply");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("a line");
        seen.push(line.clone());
        let written = line
            .rsplit_once(", ")
            .and_then(|(_, tail)| tail.strip_suffix(" adopted in this run"))
            .and_then(|n| n.parse::<u64>().ok());
        if written.is_some_and(|n| n > 0) {
            child.kill().expect("SIGKILL");
            break;
        }
    }
    let status = child.wait().expect("wait");
    assert!(
        !status.success(),
        "the adoption ended before it was killed:\n{}",
        seen.join("\n")
    );
}

async fn adopts(engine: Engine) {
    let venv = tokio::task::block_in_place(glance_venv);
    let clients = tokio::task::block_in_place(python::venv);
    let db = tokio::task::block_in_place(|| SourceDb::create(engine, &venv));
    let s3 = S3Server::start().await;
    let mut glance = Glance::start(&venv, &db, &s3).await;
    // With PostgreSQL, Glint names Glance's `cheap` store `archive` (--store-map).
    let cheap_id = match engine {
        Engine::MariaDb => "cheap",
        Engine::Postgres => "archive",
    };
    let map_args: Vec<String> = match engine {
        Engine::MariaDb => Vec::new(),
        Engine::Postgres => vec!["--store-map".into(), "cheap=archive".into()],
    };
    let with_map = |extra: &[&str]| -> Vec<String> {
        map_args
            .iter()
            .cloned()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let populate = scripts().join("glance_populate.py").display().to_string();
    let seed_script = scripts().join("glance_seed.py").display().to_string();
    let before = tokio::task::block_in_place(|| {
        run_python(&clients, &[populate.as_str(), glance.url.as_str()])
    });
    let before: Value = serde_json::from_str(&before).expect("Glance's record");
    // An image Glance's rbd store wrote: format 2, named by the image id, a protected `snap`.
    let ceph = crate::rbd::ceph();
    let rbd_id = uuid::Uuid::new_v4().to_string();
    let rbd_data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let rbd_file = TempDir::new("adopt-rbd");
    let rbd_path = rbd_file.0.join("data");
    std::fs::write(&rbd_path, &rbd_data).expect("rbd data");
    let rbd_spec = format!("{RBD_POOL}/{rbd_id}");
    ceph.rbd(&[
        "import",
        "--image-format",
        "2",
        &rbd_path.display().to_string(),
        &rbd_spec,
    ]);
    ceph.rbd(&["snap", "create", &format!("{rbd_spec}@snap")]);
    ceph.rbd(&["snap", "protect", &format!("{rbd_spec}@snap")]);
    let rbd_seed = json!({
        "id": rbd_id,
        "url": format!("rbd://{}/{RBD_POOL}/{rbd_id}/snap", ceph.fsid()),
        "size": rbd_data.len(),
        "checksum": hex(&md5::Md5::digest(&rbd_data)),
        "os_hash_value": hex(&sha2::Sha512::digest(&rbd_data)),
    })
    .to_string();
    let seeded = tokio::task::block_in_place(|| {
        let sqlalchemy = db.url();
        run_python(
            &venv,
            &[
                seed_script.as_str(),
                sqlalchemy.as_str(),
                &BULK.to_string(),
                rbd_seed.as_str(),
            ],
        )
    });
    let seeded: Value = serde_json::from_str(&seeded).expect("seeded ids");
    glance.stop();
    let fingerprint_script = scripts()
        .join("glance_fingerprint.py")
        .display()
        .to_string();
    let fingerprint = || {
        let url = db.url();
        tokio::task::block_in_place(|| {
            run_python(&venv, &[fingerprint_script.as_str(), url.as_str()])
        })
    };
    let untouched = fingerprint();
    let populated = before["ids"].as_object().expect("ids").len() as u64;
    let total = populated + 4 + BULK as u64;

    // Glint's configuration: its own SQLite database, Glance's two folders and its bucket's
    // root as its stores.
    let work = TempDir::new("adopt");
    let glint_db = work.0.join("glint.db");
    let config = work.0.join("glint.toml");
    let s3_settings = s3.settings();
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\ndatabase_url = \"sqlite:{}\"\ndefault_store = \"fast\"\n\
             store = \"s3\"\ns3_endpoint = \"{}\"\ns3_bucket = \"{}\"\n\
             s3_access_key = \"{}\"\ns3_secret_key = \"{}\"\ns3_path_style = true\n\
             [[stores]]\nid = \"fast\"\nkind = \"fs\"\npath = \"{}\"\n\
             [[stores]]\nid = \"{cheap_id}\"\nkind = \"fs\"\npath = \"{}\"\n\
             [[stores]]\nid = \"bucket\"\nkind = \"s3\"\ns3_prefix = \"\"\n\
             [[stores]]\nid = \"ceph\"\nkind = \"rbd\"\nrbd_store_pool = \"{RBD_POOL}\"\n\
             rbd_store_ceph_conf = \"{}\"\n",
            work.0.join("data").display(),
            glint_db.display(),
            s3.url,
            s3.bucket,
            s3_settings.access_key,
            s3_settings.secret_key,
            glance.store("fast").display(),
            glance.store("cheap").display(),
            ceph.conf.display()
        ),
    )
    .expect("glint.toml");
    let from = db.url();

    // The dry run reports and writes nothing.
    let args = with_map(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = tokio::task::block_in_place(|| adopt(&config, &from, &args));
    assert!(report.contains("Mode: dry run"), "{report}");
    assert_eq!(number(&report, "Images:"), total, "{report}");
    assert_eq!(number(&report, "to adopt:"), total, "{report}");
    assert_eq!(number(&report, "removed without a time"), 2, "{report}");
    assert!(
        report.contains("Members: 3 (accepted 1, pending 1, rejected 1)"),
        "{report}"
    );
    assert_eq!(
        number(&report, &format!("store {cheap_id}:")),
        1,
        "{report}"
    );
    assert_eq!(number(&report, "store bucket:"), 1, "{report}");
    assert_eq!(number(&report, "store ceph:"), 1, "{report}");
    assert!(!report.contains(&s3_settings.secret_key), "{report}");
    assert!(
        report.contains("data checked (size): 10, missing or different: 0"),
        "{report}"
    );
    assert!(report.contains(&seeded["seed"].as_str().expect("seed").to_string()));
    // The Swift location is listed, without its credentials, and kept.
    let swift = seeded["swift"].as_str().expect("swift id");
    assert!(
        report.contains(&format!(
            "{swift}: swift+https://***@swift.example/v1/AUTH_glance/glance/{swift}"
        )),
        "{report}"
    );
    assert!(!report.contains("swift-secret"), "{report}");
    let again = tokio::task::block_in_place(|| adopt(&config, &from, &args));
    assert_eq!(number(&again, "already in Glint"), 0, "{again}");

    // Killed halfway, then run again: it finishes, and a third run finds nothing to do.
    tokio::task::block_in_place(|| apply_killed_halfway(&config, &from, &args));
    let apply = with_map(&["--apply"]);
    let apply: Vec<&str> = apply.iter().map(String::as_str).collect();
    let resumed = tokio::task::block_in_place(|| adopt(&config, &from, &apply));
    let present = number(&resumed, "already in Glint");
    assert!(
        present > 0 && present < total,
        "the killed run left {present} of {total}:\n{resumed}"
    );
    assert_eq!(
        present + number(&resumed, "adopted in this run:"),
        total,
        "{resumed}"
    );
    let third = tokio::task::block_in_place(|| adopt(&config, &from, &apply));
    assert_eq!(number(&third, "already in Glint"), total, "{third}");
    assert_eq!(number(&third, "adopted in this run:"), 0, "{third}");
    assert!(third.contains("Tasks: 1 ("), "{third}");

    // Every image read back through Glint's model; every byte hashed.
    let verify = with_map(&["--verify-data"]);
    let verify: Vec<&str> = verify.iter().map(String::as_str).collect();
    let verified = tokio::task::block_in_place(|| adopt(&config, &from, &verify));
    assert!(
        verified.contains("Verification (metadata and data): 0 differences"),
        "{verified}"
    );

    // Every run only read Glance's database.
    assert_eq!(
        fingerprint(),
        untouched,
        "glint adopt wrote to Glance's database"
    );

    // Glint serving the result answers as Glance did.
    let fast = glance.store("fast");
    let cheap = glance.store("cheap");
    let db_url = format!("sqlite:{}", glint_db.display());
    let settings = s3.settings();
    let ceph_conf = ceph.conf.clone();
    let app = TestApp::sqlite_with(move |c| {
        use glint_server::config::{StoreConfig, StoreKind};
        c.database_url = db_url;
        c.default_store = Some("fast".into());
        c.s3 = Some(settings);
        c.stores = [("fast", fast), (cheap_id, cheap)]
            .into_iter()
            .map(|(id, path)| StoreConfig {
                path: Some(path),
                ..StoreConfig::new(id, StoreKind::Fs)
            })
            .chain([
                StoreConfig {
                    s3_prefix: Some(String::new()),
                    ..StoreConfig::new("bucket", StoreKind::S3)
                },
                StoreConfig {
                    rbd_store_pool: Some(RBD_POOL.into()),
                    rbd_store_ceph_conf: Some(ceph_conf),
                    ..StoreConfig::new("ceph", StoreKind::Rbd)
                },
            ])
            .collect();
    })
    .await;
    let record = work.0.join("glance.json");
    std::fs::write(&record, before.to_string()).expect("record");
    let after = tokio::task::block_in_place(|| {
        let record = record.display().to_string();
        run_python(
            &clients,
            &[
                populate.as_str(),
                app.base.as_str(),
                "dump",
                record.as_str(),
            ],
        )
    });
    let after: Value = serde_json::from_str(&after).expect("Glint's record");
    for (name, entry) in before["images"].as_object().expect("images") {
        let theirs = &entry["image"];
        let ours = &after["images"][name]["image"];
        // Tags are a set: Glance answers them in its set's order.
        let sorted = |v: &Value| {
            let mut tags: Vec<String> = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            tags.sort();
            tags
        };
        for (key, value) in theirs.as_object().expect("an image") {
            match key.as_str() {
                "tags" => assert_eq!(sorted(&ours[key]), sorted(value), "{name}: tags"),
                "stores" if value == "cheap" => assert_eq!(ours[key], cheap_id, "{name}: stores"),
                _ => assert_eq!(
                    &ours[key], value,
                    "{name}: {key}\nGlance: {theirs}\nGlint: {ours}"
                ),
            }
        }
        assert_eq!(
            ours.as_object().map(|o| o.len()),
            theirs.as_object().map(|o| o.len()),
            "{name}: Glance {theirs}\nGlint {ours}"
        );
        for key in ["members", "md5", "sha512"] {
            assert_eq!(after["images"][name][key], entry[key], "{name}: {key}");
        }
    }
    assert_eq!(before["images"]["snapshot"]["image"]["status"], "active");
    assert_eq!(
        before["images"]["shared"]["members"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    for key in ["deleted_visible", "tasks", "namespaces", "namespace"] {
        assert_eq!(after[key], before[key], "{key}");
    }
    assert_eq!(after["deleted_visible"], false);

    // Launchpad #901534's purged properties are in the history, with an unknown time, and
    // come back.
    let seed = seeded["seed"].as_str().expect("seed id");
    let alice = Some(("alice-project", "member"));
    let (status, history) = app
        .call(
            alice,
            Method::GET,
            &format!("/v2/images/{seed}/history"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let row = |h: &Value, name: &str| -> Value {
        h["properties"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let purged = row(&history, "instance_uuid");
    assert_eq!(purged["deleted"], true, "{history}");
    assert_eq!(purged["deleted_at"], Value::Null, "{history}");
    assert_eq!(purged["deleted_at_unknown"], true, "{history}");
    assert_eq!(history["changes"][0]["action"], "adopt", "{history}");
    let (status, restored) = app
        .call(
            alice,
            Method::POST,
            &format!("/v2/images/{seed}/history/restore"),
            Some(json!({"properties": ["instance_uuid"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    let shown = app.show(seed).await;
    assert_eq!(
        shown["instance_uuid"],
        "5f9b0c1e-2011-4b5d-9015-000000901534"
    );
    assert_eq!(shown["image_type"], "snapshot");
    assert!(shown.get("base_image_ref").is_none(), "{shown}");
    // Values removed by PATCH keep their time.
    let trimmed = before["ids"]["trimmed"].as_str().expect("trimmed");
    let (_, history) = app
        .call(
            alice,
            Method::GET,
            &format!("/v2/images/{trimmed}/history"),
            None,
        )
        .await;
    let dropped = row(&history, "drop_one");
    assert_eq!(dropped["deleted"], true, "{history}");
    assert!(dropped["deleted_at"].is_string(), "{history}");
    assert!(dropped.get("deleted_at_unknown").is_none(), "{history}");
    // The Swift location is kept (an administrator reads it where locations are shown).
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", glint_db.display()))
        .await
        .expect("Glint's database");
    let urls: Vec<String> =
        sqlx::query_scalar("SELECT url FROM image_locations WHERE image_id = $1")
            .bind(swift)
            .fetch_all(&pool)
            .await
            .expect("locations");
    pool.close().await;
    assert_eq!(
        urls,
        [format!(
            "swift+https://glance:swift-secret@swift.example/v1/AUTH_glance/glance/{swift}"
        )]
    );
    // The image in Ceph reads in place, byte for byte, and stays Glance's RBD image.
    let in_rbd = app.download(&rbd_id).await;
    assert!(
        in_rbd.as_ref() == rbd_data.as_slice(),
        "the RBD image's data"
    );
    assert_eq!(app.show(&rbd_id).await["stores"], "ceph");
    // The killed image is there, as Glance left it.
    let killed = app.show(seeded["killed"].as_str().expect("killed")).await;
    assert_eq!(killed["status"], "killed");
    app.stop().await;
    ceph.rbd(&["snap", "unprotect", &format!("{rbd_spec}@snap")]);
    ceph.rbd(&["snap", "purge", &rbd_spec]);
    ceph.rbd(&["rm", &rbd_spec]);
}

/// The pool Glance's RBD image is written to.
const RBD_POOL: &str = "images2";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_glance_on_mariadb_is_adopted_with_nothing_lost() {
    adopts(Engine::MariaDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_glance_on_postgresql_is_adopted_with_nothing_lost() {
    adopts(Engine::Postgres).await;
}
