//! What the tests that run the `glint` binary share: temporary folders, an HTTP client, and
//! starting `glint serve` and reading the address it listens on from its log.
#![allow(
    dead_code,
    reason = "every test binary includes this module and uses a part of it"
)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A folder removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("glint-{tag}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An HTTP client (the TLS provider chosen first, as the server chooses it).
pub(crate) fn http_client() -> reqwest::Client {
    glint_server::install_tls_provider();
    reqwest::Client::new()
}

/// A running `glint serve` and every line it has logged.
pub(crate) struct Glint {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) log: Arc<Mutex<Vec<String>>>,
}

/// `glint serve` with `args` and `env` (and none of the scripted set-up variables the test's
/// own environment may carry), once it says where it listens.
pub(crate) async fn serve(args: &[&str], env: &[(&str, &str)]) -> Glint {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_glint"));
    cmd.arg("serve")
        .args(args)
        .env("NO_COLOR", "1")
        .env("GLINT_LOG", "info")
        .env_remove("GLINT_ADMIN_PASSWORD")
        .env_remove("GLINT_ADMIN_TOKEN")
        .env_remove("GLINT_INSECURE_NOAUTH")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start glint");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let log = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let base = loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .expect("glint printed its address in time")
            .expect("read stderr")
            .expect("glint exited before listening");
        log.lock().expect("log").push(line.clone());
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().expect("address").to_string();
        }
    };
    // Keep draining the log so the process never blocks on a full pipe.
    let sink = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().expect("log").push(line);
        }
    });
    Glint { child, base, log }
}
