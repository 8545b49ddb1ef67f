//! The test harness: a real server on a loopback port, over a real SQLite file or a fresh
//! PostgreSQL database, and helpers to drive it over HTTP.

use std::path::{Path, PathBuf};
use std::sync::Once;

use glint_server::Config;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

/// The PostgreSQL server the tests use, as an administrator (a database is created per test).
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("GLINT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub(crate) const PATCH_V21: &str = "application/openstack-images-v2.1-json-patch";

/// An HTTP client (the TLS provider chosen first, as the server chooses it).
pub(crate) fn http_client() -> reqwest::Client {
    glint_server::install_tls_provider();
    reqwest::Client::new()
}

/// A folder removed when dropped.
#[derive(Debug)]
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("glint-{tag}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback port (free when asked; nothing else here takes ports at random).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running server with its own data folder and database.
pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) database_url: String,
    pub(crate) data: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pg_database: Option<String>,
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// Creates a fresh PostgreSQL database, or stops the test with a clear message.
pub(crate) async fn create_postgres_database() -> (String, String) {
    install_drivers();
    let admin = postgres_admin_url();
    let pool = match sqlx::AnyPool::connect(&admin).await {
        Ok(p) => p,
        Err(e) => panic!(
            "PostgreSQL is needed for this test and is not reachable at {admin}: {e}. \
             Start it, or point GLINT_TEST_POSTGRES_URL at one."
        ),
    };
    let name = format!("glint_e2e_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create a test database");
    pool.close().await;
    let (prefix, _) = admin.rsplit_once('/').expect("a database URL");
    (name.clone(), format!("{prefix}/{name}"))
}

pub(crate) async fn drop_postgres_database(name: &str) {
    if let Ok(pool) = sqlx::AnyPool::connect(&postgres_admin_url()).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

/// A server's configuration as one of several sharing `shared`'s SQLite database and its
/// `images` folder as their one named store (an NFS export, say), under the name `name`.
pub(crate) fn shared_node(shared: &Path, name: &str) -> impl FnOnce(&mut Config) + use<> {
    let db = format!("sqlite:{}", shared.join("shared.db").display());
    let path = shared.join("images");
    let name = name.to_string();
    move |c: &mut Config| {
        c.database_url = db;
        c.node_name = name;
        c.stores = vec![glint_server::config::StoreConfig {
            id: "shared".into(),
            kind: glint_server::config::StoreKind::Fs,
            path: Some(path),
            description: None,
            weight: 0,
            read_only: false,
            ..glint_server::config::StoreConfig::new("", glint_server::config::StoreKind::Fs)
        }];
    }
}

impl TestApp {
    pub(crate) async fn sqlite() -> TestApp {
        TestApp::sqlite_with(|_| {}).await
    }

    /// A SQLite-backed server with its configuration adjusted.
    pub(crate) async fn sqlite_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let data = TempDir::new("e2e");
        let url = format!("sqlite:{}", data.0.join("glint.db").display());
        TestApp::start(data, url, None, tweak).await
    }

    pub(crate) async fn postgres() -> TestApp {
        TestApp::postgres_with(|_| {}).await
    }

    /// A server on a fresh PostgreSQL database with its configuration adjusted.
    pub(crate) async fn postgres_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let (name, url) = create_postgres_database().await;
        TestApp::start(TempDir::new("e2e"), url, Some(name), tweak).await
    }

    async fn start(
        data: TempDir,
        database_url: String,
        pg_database: Option<String>,
        tweak: impl FnOnce(&mut Config),
    ) -> TestApp {
        install_drivers();
        let mut config = Config::for_data_dir(&data.0);
        config.database_url = database_url.clone();
        config.ui_dir = data.0.join("no-ui");
        // These tests act as many projects and roles through the trusted headers; the accounts
        // and tokens themselves are tested in server/tests/auth.rs.
        config.insecure_noauth = true;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        // Servers sharing a database reach each other here (imports of data staged here).
        config.worker_self_reference_url = Some(base.clone());
        tweak(&mut config);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            glint_server::run(listener, config, async {
                let _ = stopped.await;
            })
            .await
            .expect("the server runs");
        });
        let app = TestApp {
            base,
            client: http_client(),
            database_url,
            data,
            stop: Some(stop),
            task: Some(task),
            pg_database,
        };
        app.wait_ready().await;
        app
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.client.get(self.url("/healthz")).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the server did not become ready at {}", self.base);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request as the administrator (`who: None`), or as `(project, roles)` through the
    /// trusted identity headers; its status and its JSON answer (or its text, as a string).
    pub(crate) async fn call(
        &self,
        who: Option<(&str, &str)>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.request(method, path);
        if let Some((project, roles)) = who {
            r = r.header("X-Tenant-Id", project).header("X-Roles", roles);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("request");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// Waits until `count` of an image's import tasks have ended and returns the newest ended
    /// one.
    pub(crate) async fn ended_task(&self, image_id: &str, count: usize) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (_, tasks) = self
                .call(
                    None,
                    Method::GET,
                    &format!("/v2/images/{image_id}/tasks"),
                    None,
                )
                .await;
            let ended: Vec<&Value> = tasks["tasks"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter(|t| t["status"] != "processing" && t["status"] != "pending")
                        .collect()
                })
                .unwrap_or_default();
            if ended.len() >= count {
                return ended[0].clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the imports of {image_id} never ended: {tasks}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        }
    }

    /// Creates an image and returns its JSON (asserting 201).
    pub(crate) async fn create(&self, body: Value) -> Value {
        let r = self
            .request(Method::POST, "/v2/images")
            .json(&body)
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), StatusCode::CREATED, "create {body}");
        r.json().await.expect("image JSON")
    }

    pub(crate) async fn show(&self, id: &str) -> Value {
        let r = self.get(&format!("/v2/images/{id}")).await;
        assert_eq!(r.status(), StatusCode::OK, "show {id}");
        r.json().await.expect("image JSON")
    }

    /// An image's data, as `GET /v2/images/{id}/file` serves it.
    pub(crate) async fn download(&self, id: &str) -> bytes::Bytes {
        self.get(&format!("/v2/images/{id}/file"))
            .await
            .bytes()
            .await
            .expect("the image's data")
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("GET")
    }

    pub(crate) async fn patch(&self, id: &str, ops: Value) -> Response {
        self.request(Method::PATCH, &format!("/v2/images/{id}"))
            .header("Content-Type", PATCH_V21)
            .body(ops.to_string())
            .send()
            .await
            .expect("PATCH")
    }

    pub(crate) async fn upload(&self, id: &str, data: impl Into<reqwest::Body>) -> Response {
        self.request(Method::PUT, &format!("/v2/images/{id}/file"))
            .header("Content-Type", "application/octet-stream")
            .body(data)
            .send()
            .await
            .expect("PUT file")
    }

    /// Rows from the server's own database, read directly.
    pub(crate) async fn rows(&self, sql: &str, id: &str) -> Vec<sqlx::any::AnyRow> {
        let pool = sqlx::AnyPool::connect(&self.sqlx_url())
            .await
            .expect("connect");
        let rows = sqlx::query(sql)
            .bind(id)
            .fetch_all(&pool)
            .await
            .expect("query");
        pool.close().await;
        rows
    }

    pub(crate) fn sqlx_url(&self) -> String {
        match self.database_url.strip_prefix("sqlite:") {
            Some(path) => format!("sqlite://{path}"),
            None => self.database_url.clone(),
        }
    }

    /// Files in the image store, partial uploads included.
    pub(crate) fn stored_files(&self) -> Vec<PathBuf> {
        list_files(&self.data.0.join("images"))
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the server stops cleanly");
        }
        if let Some(name) = self.pg_database.take() {
            drop_postgres_database(&name).await;
        }
    }
}

pub(crate) fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(list_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Runs each named `async fn(&TestApp)` once on SQLite and once on PostgreSQL.
macro_rules! on_both_databases {
    ($($f:ident),* $(,)?) => {$(
        mod $f {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = crate::harness::TestApp::sqlite().await;
                super::$f(&app).await;
                app.stop().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = crate::harness::TestApp::postgres().await;
                super::$f(&app).await;
                app.stop().await;
            }
        }
    )*};
}
pub(crate) use on_both_databases;

/// The `glint` command: `GLINT_BIN`, else the one built beside this test.
pub(crate) fn glint() -> std::process::Command {
    let bin = match std::env::var_os("GLINT_BIN") {
        Some(b) => std::path::PathBuf::from(b),
        None => {
            let exe = std::env::current_exe().expect("the test's path");
            let dir = exe
                .parent()
                .and_then(std::path::Path::parent)
                .expect("target/<profile>");
            dir.join("glint")
        }
    };
    assert!(
        bin.exists(),
        "{} is missing: build it (cargo build -p glint-server --bin glint) or set GLINT_BIN",
        bin.display()
    );
    let mut cmd = std::process::Command::new(bin);
    cmd.env("GLINT_LOG", "warn");
    cmd
}
