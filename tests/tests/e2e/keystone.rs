//! Keystone mode against a real Keystone (the `keystone` package from PyPI, on SQLite, served
//! by waitress on loopback): tokens issued by Keystone authenticate Glint's API, project and
//! roles come from the token, bad and revoked tokens are refused, the UI's login goes through
//! Keystone, python-glanceclient works with Keystone credentials, and an unreachable Keystone
//! answers 503.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use glint_server::config::KeystoneConfig;
use reqwest::Method;
use serde_json::{Value, json};

use super::harness::{TempDir, TestApp};
use super::python;

const PACKAGES: &[&str] = &["keystone==30.0.0", "waitress==3.0.2"];
pub(crate) const ADMIN_PASSWORD: &str = "keystone-admin-pw";
const SERVE: &str = r#"
import sys
port = int(sys.argv[1])
sys.argv = sys.argv[:1]
from keystone.wsgi.api import application
import waitress
waitress.serve(application, host="127.0.0.1", port=port, threads=4, _quiet=True)
"#;

/// A running Keystone; dropped, it stops.
pub(crate) struct Keystone {
    pub(crate) url: String,
    process: Child,
    http: reqwest::Client,
    admin: String,
    _dir: TempDir,
}

impl Drop for Keystone {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn manage(venv: &Path, conf: &Path, args: &[&str]) {
    let out = Command::new(venv.join("bin").join("keystone-manage"))
        .arg("--config-file")
        .arg(conf)
        .args(args)
        .output()
        .expect("run keystone-manage");
    assert!(
        out.status.success(),
        "keystone-manage {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Keystone {
    pub(crate) async fn start() -> Keystone {
        let venv = tokio::task::block_in_place(|| python::venv_with(PACKAGES));
        let dir = TempDir::new("keystone");
        let d = &dir.0;
        for sub in ["fernet", "credential"] {
            std::fs::create_dir_all(d.join(sub)).expect("key folder");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let url = format!("http://127.0.0.1:{port}");
        let conf = d.join("keystone.conf");
        std::fs::write(
            &conf,
            format!(
                "[DEFAULT]\nlog_file = {d}/keystone.log\n[database]\nconnection = sqlite:///{d}/keystone.db\n\
                 [fernet_tokens]\nkey_repository = {d}/fernet\n[credential]\nkey_repository = {d}/credential\n\
                 [identity]\npassword_hash_rounds = 4\n",
                d = d.display()
            ),
        )
        .expect("keystone.conf");
        tokio::task::block_in_place(|| {
            manage(&venv, &conf, &["db_sync"]);
            let user = ["--keystone-user", "root", "--keystone-group", "root"];
            let me = std::env::var("USER").unwrap_or_else(|_| "root".into());
            let owner = [
                "--keystone-user",
                me.as_str(),
                "--keystone-group",
                me.as_str(),
            ];
            let who: &[&str] = if me == "root" { &user } else { &owner };
            manage(&venv, &conf, &[&["fernet_setup"][..], who].concat());
            manage(&venv, &conf, &[&["credential_setup"][..], who].concat());
            let v3 = format!("{url}/v3");
            manage(
                &venv,
                &conf,
                &[
                    "bootstrap",
                    "--bootstrap-password",
                    ADMIN_PASSWORD,
                    "--bootstrap-admin-url",
                    &v3,
                    "--bootstrap-public-url",
                    &v3,
                    "--bootstrap-internal-url",
                    &v3,
                    "--bootstrap-region-id",
                    "RegionOne",
                ],
            );
        });
        std::fs::write(d.join("serve.py"), SERVE).expect("serve.py");
        let process = Command::new(venv.join("bin").join("python"))
            .arg(d.join("serve.py"))
            .arg(port.to_string())
            .env("OS_KEYSTONE_CONFIG_FILES", &conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start keystone");
        let http = super::harness::http_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let up = http
                .get(format!("{url}/v3"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                break;
            }
            assert!(Instant::now() < deadline, "Keystone did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut k = Keystone {
            url,
            process,
            http,
            admin: String::new(),
            _dir: dir,
        };
        k.admin = k
            .token("admin", ADMIN_PASSWORD, "admin")
            .await
            .expect("the bootstrap admin logs in");
        k
    }

    pub(crate) async fn token(&self, user: &str, password: &str, project: &str) -> Option<String> {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "password": password, "domain": {"name": "Default"}}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }});
        let r = self
            .http
            .post(format!("{}/v3/auth/tokens", self.url))
            .json(&body)
            .send()
            .await
            .expect("Keystone login");
        if r.status().as_u16() != 201 {
            return None;
        }
        r.headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub(crate) async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self
            .http
            .request(method, format!("{}/v3{path}", self.url))
            .header("X-Auth-Token", &self.admin);
        if let Some(body) = body {
            r = r.json(&body);
        }
        let r = r.send().await.expect("Keystone admin call");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    pub(crate) async fn project(&self, name: &str) -> String {
        let v = self
            .admin(
                Method::POST,
                "/projects",
                Some(json!({"project": {"name": name, "domain_id": "default"}})),
            )
            .await;
        v["project"]["id"].as_str().expect("project id").to_string()
    }

    pub(crate) async fn role(&self, name: &str) -> String {
        let found = self
            .admin(Method::GET, &format!("/roles?name={name}"), None)
            .await;
        if let Some(id) = found["roles"][0]["id"].as_str() {
            return id.to_string();
        }
        let v = self
            .admin(
                Method::POST,
                "/roles",
                Some(json!({"role": {"name": name}})),
            )
            .await;
        v["role"]["id"].as_str().expect("role id").to_string()
    }

    /// Creates a user with a role in a project; returns its id.
    pub(crate) async fn user(
        &self,
        name: &str,
        password: &str,
        project: &str,
        role: &str,
    ) -> String {
        let v = self
            .admin(
                Method::POST,
                "/users",
                Some(json!({"user": {"name": name, "password": password, "domain_id": "default"}})),
            )
            .await;
        let user = v["user"]["id"].as_str().expect("user id").to_string();
        self.grant(project, &user, role).await;
        user
    }

    /// Gives a user (by id) a role in a project.
    pub(crate) async fn grant(&self, project: &str, user: &str, role: &str) {
        let role = self.role(role).await;
        self.admin(
            Method::PUT,
            &format!("/projects/{project}/users/{user}/roles/{role}"),
            None,
        )
        .await;
    }

    /// How Glint signs in as its service user `glint` (made with `user("glint", "glint-pw",
    /// <service project>, "service")`), trusting a validated token for `cache_seconds`.
    pub(crate) fn glint_config(&self, cache_seconds: u64) -> KeystoneConfig {
        KeystoneConfig {
            url: self.url.clone(),
            username: "glint".into(),
            password: "glint-pw".into(),
            project: "service".into(),
            user_domain: "Default".into(),
            project_domain: "Default".into(),
            cache_seconds,
        }
    }

    /// Puts a service of `kind` (such as `image`) at `url` in the catalog (public, internal and
    /// admin endpoints in RegionOne).
    /// Removes a service named `name` from the catalog, its endpoints with it.
    pub(crate) async fn uncatalog(&self, name: &str) {
        let v = self
            .admin(Method::GET, &format!("/services?name={name}"), None)
            .await;
        for service in v["services"].as_array().expect("services") {
            let id = service["id"].as_str().expect("service id");
            self.admin(Method::DELETE, &format!("/services/{id}"), None)
                .await;
        }
    }

    pub(crate) async fn catalog(&self, name: &str, kind: &str, url: &str) {
        let v = self
            .admin(
                Method::POST,
                "/services",
                Some(json!({"service": {"name": name, "type": kind}})),
            )
            .await;
        let service = v["service"]["id"].as_str().expect("service id").to_string();
        for interface in ["public", "internal", "admin"] {
            self.admin(
                Method::POST,
                "/endpoints",
                Some(
                    json!({"endpoint": {"service_id": service, "interface": interface,
                    "url": url, "region_id": "RegionOne"}}),
                ),
            )
            .await;
        }
    }
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = app
        .request(method, path)
        .header("Accept", "application/json");
    if let Some(t) = token {
        r = r.header("X-Auth-Token", t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("Glint call");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_tokens_authenticate_against_a_real_keystone() {
    let keystone = Keystone::start().await;
    let service = keystone.project("service").await;
    let demo = keystone.project("demo").await;
    let other = keystone.project("other").await;
    keystone
        .user("glint", "glint-pw", &service, "service")
        .await;
    keystone.user("alice", "alice-pw", &demo, "member").await;
    keystone.user("carol", "carol-pw", &demo, "reader").await;
    keystone.user("bob", "bob-pw", &other, "member").await;

    let glint = keystone.glint_config(1);
    let app = TestApp::sqlite_with(move |c| {
        c.insecure_noauth = false;
        c.keystone = Some(glint);
    })
    .await;
    let alice = keystone
        .token("alice", "alice-pw", "demo")
        .await
        .expect("alice");
    let carol = keystone
        .token("carol", "carol-pw", "demo")
        .await
        .expect("carol");
    let bob = keystone.token("bob", "bob-pw", "other").await.expect("bob");

    // No token, a made-up token: 401.
    assert_eq!(
        call(&app, None, Method::GET, "/v2/images", None).await.0,
        401
    );
    assert_eq!(
        call(
            &app,
            Some("gAAAA-not-a-token"),
            Method::GET,
            "/v2/images",
            None
        )
        .await
        .0,
        401
    );

    // Project and roles come from the token.
    let (status, me) = call(&app, Some(&alice), Method::GET, "/auth/whoami", None).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["name"], "alice");
    assert_eq!(me["project"]["id"], demo.as_str());
    assert_eq!(me["project"]["name"], "demo");
    let roles: Vec<&str> = me["roles"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        roles.contains(&"member") && !roles.contains(&"admin"),
        "{roles:?}"
    );
    let (status, image) = call(
        &app,
        Some(&alice),
        Method::POST,
        "/v2/images",
        Some(json!({"name": "ks-one", "visibility": "private"})),
    )
    .await;
    assert_eq!(status, 201, "{image}");
    assert_eq!(image["owner"], demo.as_str());
    let id = image["id"].as_str().expect("id").to_string();

    // A reader of the same project sees it and may not change it; another project sees nothing.
    let path = format!("/v2/images/{id}");
    assert_eq!(
        call(&app, Some(&carol), Method::GET, &path, None).await.0,
        200
    );
    let (status, _) = call(
        &app,
        Some(&carol),
        Method::POST,
        "/v2/images",
        Some(json!({"name": "no"})),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        call(&app, Some(&bob), Method::GET, &path, None).await.0,
        404
    );
    let (_, list) = call(&app, Some(&bob), Method::GET, "/v2/images", None).await;
    assert_eq!(list["images"], json!([]));

    // Logging in through Glint (the web UI's way) gives a Keystone token.
    let (status, login) = call(
        &app,
        None,
        Method::POST,
        "/auth/login",
        Some(json!({"username": "alice", "password": "alice-pw", "project": "demo"})),
    )
    .await;
    assert_eq!(status, 201, "{login}");
    let ui_token = login["token"].as_str().expect("token").to_string();
    assert_eq!(login["project"]["id"], demo.as_str());
    assert_eq!(
        call(&app, Some(&ui_token), Method::GET, &path, None)
            .await
            .0,
        200
    );
    let (status, _) = call(
        &app,
        None,
        Method::POST,
        "/auth/login",
        Some(json!({"username": "alice", "password": "wrong", "project": "demo"})),
    )
    .await;
    assert_eq!(status, 401);

    // python-glanceclient with Keystone credentials and Glint as the image endpoint.
    let venv = tokio::task::block_in_place(python::venv);
    let auth_url = format!("{}/v3", keystone.url);
    let (ok, out) = tokio::task::block_in_place(|| {
        python::try_tool(
            &venv,
            "glance",
            &[
                "--os-auth-url",
                &auth_url,
                "--os-username",
                "alice",
                "--os-password",
                "alice-pw",
                "--os-project-name",
                "demo",
                "--os-user-domain-name",
                "Default",
                "--os-project-domain-name",
                "Default",
                "--os-image-url",
                &app.base,
                "image-list",
            ],
        )
    });
    assert!(ok, "glance image-list with Keystone credentials: {out}");
    assert!(out.contains(&id), "the client lists alice's image: {out}");

    // A revoked token stops working once the cache forgets it.
    keystone
        .http
        .delete(format!("{}/v3/auth/tokens", keystone.url))
        .header("X-Auth-Token", &keystone.admin)
        .header("X-Subject-Token", &alice)
        .send()
        .await
        .expect("revoke");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = call(&app, Some(&alice), Method::GET, &path, None).await.0;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(Instant::now() < deadline, "a revoked token keeps working");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Keystone gone: tokens cannot be checked, which is 503, not 401 and not a pass.
    let unchecked = keystone
        .token("bob", "bob-pw", "other")
        .await
        .expect("bob again");
    drop(keystone);
    let (status, body) = call(&app, Some(&unchecked), Method::GET, "/v2/images", None).await;
    assert_eq!(status, 503, "{body}");
    app.stop().await;
}

/// glance-download: an image of the image service the caller's token's catalog lists (here
/// Glint itself), its formats and chosen properties copied, its data fetched with the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glance_download_imports_from_the_catalog() {
    let keystone = Keystone::start().await;
    let service = keystone.project("service").await;
    let demo = keystone.project("demo").await;
    keystone
        .user("glint", "glint-pw", &service, "service")
        .await;
    keystone.user("alice", "alice-pw", &demo, "member").await;
    let glint = keystone.glint_config(60);
    let app = TestApp::sqlite_with(move |c| {
        c.insecure_noauth = false;
        c.keystone = Some(glint);
        c.enabled_import_methods
            .push(glint_server::config::ImportMethod::GlanceDownload);
    })
    .await;
    keystone.catalog("glance", "image", &app.base).await;
    let alice = keystone
        .token("alice", "alice-pw", "demo")
        .await
        .expect("alice");
    let (_, info) = call(&app, Some(&alice), Method::GET, "/v2/info/import", None).await;
    assert!(
        info.to_string().contains("glance-download"),
        "offered where enabled: {info}"
    );
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 211) as u8).collect();
    let (_, src) = call(
        &app,
        Some(&alice),
        Method::POST,
        "/v2/images",
        Some(
            json!({"name": "src", "disk_format": "raw", "container_format": "bare",
            "hw_cpu_cores": "5", "trait:STORAGE_DISK_SSD": "required", "os_distro": "rhel",
            "speed": "88mph"}),
        ),
    )
    .await;
    let src = src["id"].as_str().expect("id").to_string();
    let r = app
        .request(Method::PUT, &format!("/v2/images/{src}/file"))
        .header("X-Auth-Token", &alice)
        .header("Content-Type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .expect("upload");
    assert!(r.status().is_success());
    let new_dst = || async {
        let (_, dst) = call(
            &app,
            Some(&alice),
            Method::POST,
            "/v2/images",
            Some(
                json!({"name": "dst", "disk_format": "iso", "container_format": "ovf",
                "hw_cpu_cores": "1", "os_distro": "windows"}),
            ),
        )
        .await;
        dst["id"].as_str().expect("id").to_string()
    };
    let import = |dst: String, body: Value| {
        let app = &app;
        let alice = alice.clone();
        async move {
            call(
                app,
                Some(&alice),
                Method::POST,
                &format!("/v2/images/{dst}/import"),
                Some(body),
            )
            .await
        }
    };
    let ended = |dst: String| {
        let app = &app;
        let alice = alice.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let (_, tasks) = call(
                    app,
                    Some(&alice),
                    Method::GET,
                    &format!("/v2/images/{dst}/tasks"),
                    None,
                )
                .await;
                let t = tasks["tasks"][0].clone();
                if t["status"] == "success" || t["status"] == "failure" {
                    return t;
                }
                assert!(std::time::Instant::now() < deadline, "{tasks}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let method = |image: &str, region: &str| {
        json!({"method": {"name": "glance-download", "glance_image_id": image,
            "glance_region": region, "glance_service_interface": "public"}})
    };

    let dst = new_dst().await;
    let (status, body) = import(dst.clone(), method(&src, "RegionOne")).await;
    assert_eq!(status, 202, "{body}");
    let task = ended(dst.clone()).await;
    assert_eq!(task["status"], "success", "{task}");
    let (_, image) = call(
        &app,
        Some(&alice),
        Method::GET,
        &format!("/v2/images/{dst}"),
        None,
    )
    .await;
    assert_eq!(image["status"], "active");
    assert_eq!(
        (
            image["disk_format"].as_str(),
            image["container_format"].as_str()
        ),
        (Some("raw"), Some("bare"))
    );
    assert_eq!(image["hw_cpu_cores"], "5");
    assert_eq!(image["trait:STORAGE_DISK_SSD"], "required");
    assert_eq!(image["os_distro"], "rhel");
    assert!(image.get("speed").is_none(), "{image}");
    assert_eq!(image["size"], data.len());

    // A bad id is refused at once; an unknown region or image fails the task, queued again.
    let dst = new_dst().await;
    let (status, body) = import(dst.clone(), method("foo", "RegionOne")).await;
    assert_eq!(status, 400);
    assert!(
        body.to_string()
            .contains("image id does not look like a UUID"),
        "{body}"
    );
    let (status, _) = import(dst.clone(), method(&src, "not a region")).await;
    assert_eq!(status, 202);
    assert_eq!(ended(dst.clone()).await["status"], "failure");
    let (_, image) = call(
        &app,
        Some(&alice),
        Method::GET,
        &format!("/v2/images/{dst}"),
        None,
    )
    .await;
    assert_eq!(image["status"], "queued");
    assert_eq!(image["os_distro"], "windows", "untouched");
    let dst = new_dst().await;
    let missing = "1f0b1a52-0000-4000-8000-000000000000";
    let (status, _) = import(dst.clone(), method(missing, "RegionOne")).await;
    assert_eq!(status, 202);
    assert_eq!(ended(dst.clone()).await["status"], "failure");
    app.stop().await;
}
