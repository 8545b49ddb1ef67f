//! A small W3C WebDriver client: drives Debian's Chromium through `chromedriver` over HTTP.
//! Every wait is on a condition in the page, polled until a deadline; a failed wait saves a
//! screenshot and says what the page showed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const WAIT: Duration = Duration::from_secs(20);

fn find_tool(names: &[&str]) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&paths).chain([PathBuf::from("/usr/bin")]) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A browser session; dropped, it ends the session and stops chromedriver.
pub(crate) struct Browser {
    http: reqwest::Client,
    session: String,
    driver_url: String,
    driver: tokio::process::Child,
    shots: PathBuf,
    profile: super::harness::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium; screenshots go to `shots`.
    pub(crate) async fn start(shots: &Path) -> Browser {
        let chromium = find_tool(&["chromium", "chromium-browser"]).unwrap_or_else(|| {
            panic!("Chromium is needed for the UI tests: `cargo glint test` installs Debian's chromium and chromium-driver")
        });
        let chromedriver = find_tool(&["chromedriver"]).unwrap_or_else(|| {
            panic!("chromedriver is needed for the UI tests: `cargo glint test` installs Debian's chromium-driver")
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port for chromedriver");
        let driver = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let driver_url = format!("http://127.0.0.1:{port}");
        let http = super::harness::http_client();
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = http
                .get(format!("{driver_url}/status"))
                .send()
                .await
                .ok()
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = super::harness::TempDir::new("chromium");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", profile.0.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created: Value = http
            .post(format!("{driver_url}/session"))
            .json(&caps)
            .send()
            .await
            .expect("create a browser session")
            .json()
            .await
            .expect("session answer");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_string();
        std::fs::create_dir_all(shots).expect("screenshot folder");
        Browser {
            http,
            session,
            driver_url,
            driver,
            shots: shots.to_path_buf(),
            profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.driver_url, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("talk to chromedriver")
            .json()
            .await
            .expect("chromedriver's answer");
        answer["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    /// Runs a script in the page and returns its result.
    pub(crate) async fn js(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    async fn find(&self, css: &str) -> Result<String, Value> {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v.get(ELEMENT)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or(v)
    }

    /// Waits until `script` (run in the page) returns a truthy value, and returns it.
    pub(crate) async fn wait_js(&self, what: &str, script: &str, args: Value) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.js(script, args.clone()).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::Object(_) => v.get("error").is_none(),
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                self.screenshot("failed-wait").await;
                let text = self.js("return document.body.innerText", json!([])).await;
                let console = self.post("/se/log", json!({"type": "browser"})).await;
                panic!(
                    "timed out waiting for {what}; the page shows:\n{text}\nbrowser console: {console}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for an element and returns its id.
    pub(crate) async fn wait_for(&self, css: &str) -> String {
        self.wait_js(
            &format!("element {css}"),
            "return document.querySelector(arguments[0]) !== null",
            json!([css]),
        )
        .await;
        match self.find(css).await {
            Ok(id) => id,
            Err(e) => panic!("cannot reach {css}: {e}"),
        }
    }

    /// Waits until an element's text contains `text`.
    pub(crate) async fn wait_text(&self, css: &str, text: &str) {
        self.wait_js(
            &format!("{css} to contain {text:?}"),
            "const e = document.querySelector(arguments[0]); return !!e && e.textContent.includes(arguments[1])",
            json!([css, text]),
        )
        .await;
    }

    pub(crate) async fn click(&self, css: &str) {
        let id = self.wait_for(css).await;
        self.wait_js(
            &format!("{css} to be enabled"),
            "const e = document.querySelector(arguments[0]); return !!e && !e.disabled",
            json!([css]),
        )
        .await;
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    /// Replaces an input's text, as a user typing would.
    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let id = self.wait_for(css).await;
        self.post(&format!("/element/{id}/clear"), json!({})).await;
        self.post(&format!("/element/{id}/value"), json!({"text": text}))
            .await;
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        let id = self.wait_for(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// `data-key` of every element matching `css`, in page order.
    pub(crate) async fn keys(&self, css: &str) -> Vec<String> {
        let v = self
            .js(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.dataset.key)",
                json!([css]),
            )
            .await;
        serde_json::from_value(v).unwrap_or_default()
    }

    pub(crate) async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub(crate) async fn set_window(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await;
    }

    /// Saves a PNG of the viewport as `<name>.png` among the test's artefacts.
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = decode_base64(v.as_str().unwrap_or_default());
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write a screenshot");
        path
    }
}

impl Browser {
    /// Ends the session (Chromium exits) and stops chromedriver.
    pub(crate) async fn quit(mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.driver_url, self.session))
            .send()
            .await;
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After a failed test the session never ended: stop chromedriver, and the Chromium it
        // started (found by its profile folder, which is this session's alone).
        let _ = self.driver.start_kill();
        let _ = std::process::Command::new("pkill")
            .arg("-f")
            .arg(format!("user-data-dir={}", self.profile.0.display()))
            .status();
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
