//! End-to-end tests: the real server on a loopback port, driven over real HTTP.

use std::path::PathBuf;

use glint_server::Config;
use tokio::sync::oneshot;

/// A running server on its own port with its own data folder.
struct TestApp {
    base: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _data: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestApp {
    async fn start() -> TestApp {
        let data = std::env::temp_dir().join(format!(
            "glint-e2e-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&data).expect("data dir");
        let mut config = Config::for_data_dir(&data);
        config.ui_dir = data.join("no-ui");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            glint_server::run(listener, config, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        TestApp {
            base,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task,
            _data: TempDir(data),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.expect("server task ends cleanly");
    }
}

#[tokio::test]
async fn health_and_ui_placeholder() {
    let app = TestApp::start().await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("body"), "ok");

    let ui = app
        .client
        .get(app.url("/"))
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("request");
    assert_eq!(ui.status(), 404);
    assert!(ui.text().await.expect("body").contains("cargo glint run"));
    app.stop().await;
}
