//! Accounts and tokens on the real `glint` binary: the first-start admin, logins, the account
//! commands, revocation, expiry, and refusals without a valid token.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Glint, TempDir, http_client};

async fn start(data: &Path, env: &[(&str, &str)]) -> Glint {
    let dir = data.to_string_lossy().into_owned();
    let server = common::serve(&["--bind", "127.0.0.1:0", "--data-dir", &dir], env).await;
    let base = server.base.clone();
    // Ready once the API answers (the admin account is made before serving).
    let http = http_client();
    for _ in 0..200 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    server
}

/// Runs `glint <args>` on the same data folder, with `stdin` as standard input.
fn glint(data: &Path, args: &[&str], stdin: &str) -> (bool, String) {
    let (group, rest) = args.split_first().expect("a command");
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_glint"))
        .arg(group)
        .arg("--data-dir")
        .arg(data)
        .args(rest)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run glint");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("glint ends");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn login(base: &str, user: &str, password: &str) -> reqwest::Response {
    http_client()
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .expect("login")
}

async fn images(base: &str, token: Option<&str>) -> StatusCode {
    let mut req = http_client().get(format!("{base}/v2/images"));
    if let Some(t) = token {
        req = req.header("X-Auth-Token", t);
    }
    req.send().await.expect("list").status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_tokens_and_refusals() {
    let data = TempDir::new("auth");
    let server = start(&data.0, &[("GLINT_ADMIN_PASSWORD", "admin-password-1")]).await;
    let base = server.base.clone();

    // No token, a made-up token: 401 in Glance's error shape. Discovery stays open.
    assert_eq!(images(&base, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        images(&base, Some("glint_nonsense_nonsense")).await,
        StatusCode::UNAUTHORIZED
    );
    let r = http_client()
        .get(format!("{base}/v2/images"))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("list");
    let body: Value = r.json().await.expect("json error");
    assert_eq!(body["code"], "401 Unauthorized");
    assert_eq!(
        reqwest::get(format!("{base}/versions"))
            .await
            .expect("versions")
            .status(),
        StatusCode::OK
    );

    // The admin logs in with the configured password.
    let r = login(&base, "admin", "admin-password-1").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let session: Value = r.json().await.expect("json");
    let admin_token = session["token"].as_str().expect("token").to_string();
    assert_eq!(session["roles"], json!(["admin", "member", "reader"]));
    assert_eq!(images(&base, Some(&admin_token)).await, StatusCode::OK);

    // Accounts made with the command line work at once.
    let (ok, out) = glint(&data.0, &["project", "create", "p1"], "");
    assert!(ok, "{out}");
    let (ok, out) = glint(
        &data.0,
        &[
            "user",
            "create",
            "alice",
            "--project",
            "p1",
            "--password-stdin",
        ],
        "alice-password\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = glint(
        &data.0,
        &[
            "user",
            "create",
            "bob",
            "--project",
            "p1",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!ok && out.contains("at least 8 characters"), "{out}");
    let (ok, out) = glint(
        &data.0,
        &[
            "user",
            "create",
            "bob",
            "--project",
            "p1",
            "--roles",
            "root",
            "--password-stdin",
        ],
        "long-enough\n",
    );
    assert!(!ok && out.contains("Unknown role"), "{out}");
    let session: Value = login(&base, "alice", "alice-password")
        .await
        .json()
        .await
        .expect("json");
    let alice = session["token"].as_str().expect("token").to_string();
    assert_eq!(session["project"]["name"], "p1");
    let who: Value = http_client()
        .get(format!("{base}/auth/whoami"))
        .header("X-Auth-Token", &alice)
        .send()
        .await
        .expect("whoami")
        .json()
        .await
        .expect("json");
    assert_eq!(who["user"]["name"], "alice");
    assert_eq!(who["roles"], json!(["member", "reader"]));
    // Her images belong to her project, whatever headers she sends.
    let image: Value = http_client()
        .post(format!("{base}/v2/images"))
        .header("X-Auth-Token", &alice)
        .header("X-Tenant-Id", "someone-else")
        .header("X-Roles", "admin")
        .json(&json!({"name": "mine"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    assert_eq!(image["owner"], session["project"]["id"]);
    // ...and she cannot make one public: she is not an admin.
    let r = http_client()
        .post(format!("{base}/v2/images"))
        .header("X-Auth-Token", &alice)
        .json(&json!({"name": "public", "visibility": "public"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Logging out revokes the token at once.
    let r = http_client()
        .post(format!("{base}/auth/logout"))
        .header("X-Auth-Token", &alice)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(images(&base, Some(&alice)).await, StatusCode::UNAUTHORIZED);

    // Tokens from the command line; revoked ones and expired ones stop working.
    let (ok, token) = glint(&data.0, &["token", "create", "--user", "alice"], "");
    assert!(ok, "{token}");
    let token = token.trim().to_string();
    let (ok, out) = glint(&data.0, &["token", "revoke", &token], "");
    assert!(ok, "{out}");
    assert_eq!(images(&base, Some(&token)).await, StatusCode::UNAUTHORIZED);
    let (ok, short) = glint(
        &data.0,
        &["token", "create", "--user", "alice", "--ttl", "1"],
        "",
    );
    assert!(ok, "{short}");
    let short = short.trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while images(&base, Some(&short)).await != StatusCode::UNAUTHORIZED {
        assert!(
            Instant::now() < deadline,
            "the one-second token never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A disabled user's tokens stop (once no longer cached).
    let (ok, fresh) = glint(&data.0, &["token", "create", "--user", "alice"], "");
    assert!(ok);
    let (ok, out) = glint(&data.0, &["user", "disable", "alice"], "");
    assert!(ok, "{out}");
    assert_eq!(
        images(&base, Some(fresh.trim())).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&base, "alice", "alice-password").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Wrong passwords, then too many: 429 for that name, even with the right password.
    for _ in 0..5 {
        assert_eq!(
            login(&base, "admin", "wrong-password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&base, "admin", "admin-password-1").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login(&base, "nobody", "whatever-it-is").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The password never reaches the log.
    let log = server.log.lock().expect("log").join("\n");
    assert!(!log.contains("admin-password-1"), "the password is logged");
    assert!(!log.contains(&admin_token), "a token is logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_prints_a_password_once_and_honours_an_admin_token() {
    let data = TempDir::new("auth");
    let server = start(
        &data.0,
        &[("GLINT_ADMIN_TOKEN", "scripted-admin-token-0001")],
    )
    .await;
    let base = server.base.clone();
    assert_eq!(
        images(&base, Some("scripted-admin-token-0001")).await,
        StatusCode::OK
    );
    let log = server.log.lock().expect("log").join("\n");
    let password = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no password printed:\n{log}"))
        .to_string();
    assert_eq!(
        login(&base, "admin", &password).await.status(),
        StatusCode::CREATED
    );
    drop(server);
    // A second start prints nothing new.
    let server = start(&data.0, &[]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.log.lock().expect("log").join("\n");
    assert!(!log.contains("password:"), "{log}");
    assert_eq!(
        login(&server.base, "admin", &password).await.status(),
        StatusCode::CREATED
    );
}

/// Each administration group takes what it needs, where the database is, and not the server's
/// flags.
#[test]
fn administration_commands_take_only_their_own_flags() {
    for group in ["user", "project", "token", "metadefs"] {
        let out = StdCommand::new(env!("CARGO_BIN_EXE_glint"))
            .args([group, "--help"])
            .env("NO_COLOR", "1")
            .output()
            .expect("run glint");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{group}: {help}");
        for own in ["--database-url", "--data-dir", "--config"] {
            assert!(help.contains(own), "{group} --help lacks {own}: {help}");
        }
        for serve in [
            "--bind",
            "--ui-dir",
            "--keystone-url",
            "--s3-bucket",
            "--auth",
        ] {
            assert!(
                !help.contains(serve),
                "{group} --help lists {serve}: {help}"
            );
        }
    }
}
