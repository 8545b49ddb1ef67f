//! Keystone mode: tokens are validated by a Keystone v3 service, as keystonemiddleware does for
//! Glance: `GET /v3/auth/tokens` with the caller's token in `X-Subject-Token`, authenticated
//! with a token of Glint's own service user. The caller's project and roles come from the token.

use serde_json::{Value, json};
use thiserror::Error;
use tokio::sync::Mutex;

use crate::config::KeystoneConfig;
use crate::identity::Authenticated;

/// What can go wrong talking to Keystone (not a caller's bad token, which is `Ok(None)`).
#[derive(Debug, Error)]
pub enum KeystoneError {
    #[error("Keystone cannot be reached: {0}")]
    Unreachable(String),
    #[error("Keystone refused Glint's service credentials ({0})")]
    ServiceAuth(String),
    #[error("Keystone answered {0}")]
    Unexpected(String),
}

/// A client of one Keystone service.
#[derive(Debug)]
pub(crate) struct Keystone {
    http: reqwest::Client,
    config: KeystoneConfig,
    /// Glint's own token and when it expires (microseconds).
    service: Mutex<Option<(String, i64)>>,
    /// The service user's system-scoped token (for reading limits) and when it expires.
    system: Mutex<Option<(String, i64)>>,
}

/// What a token of Glint's service user is scoped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Its project: validating tokens, reading catalogs.
    Project,
    /// The system (`--system all`): reading every project's limits.
    System,
}

fn unreachable(e: reqwest::Error) -> KeystoneError {
    KeystoneError::Unreachable(e.to_string())
}

impl Keystone {
    pub(crate) fn new(config: KeystoneConfig) -> Result<Keystone, KeystoneError> {
        crate::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(unreachable)?;
        Ok(Keystone {
            http,
            config,
            service: Mutex::new(None),
            system: Mutex::new(None),
        })
    }

    pub(crate) fn cache_seconds(&self) -> u64 {
        self.config.cache_seconds
    }

    /// Whether Keystone answers (`GET /v3`, its version document).
    pub(crate) async fn check(&self) -> Result<(), KeystoneError> {
        let url = format!("{}/v3", self.config.url.trim_end_matches('/'));
        let r = self.http.get(url).send().await.map_err(unreachable)?;
        match r.status().is_success() {
            true => Ok(()),
            false => Err(KeystoneError::Unexpected(format!(
                "GET /v3 answered {}",
                r.status()
            ))),
        }
    }

    /// The endpoint of a service (`kind`, such as `image`) in `region` at `interface`, from the
    /// service catalog of a caller's token (`GET /v3/auth/catalog`); `None` if it lists none.
    pub(crate) async fn endpoint(
        &self,
        token: &str,
        kind: &str,
        region: &str,
        interface: &str,
    ) -> Result<Option<String>, KeystoneError> {
        let url = format!("{}/v3/auth/catalog", self.config.url.trim_end_matches('/'));
        let r = self
            .http
            .get(url)
            .header("X-Auth-Token", token)
            .send()
            .await
            .map_err(unreachable)?;
        if !r.status().is_success() {
            return Ok(None);
        }
        let body: serde_json::Value = r
            .json()
            .await
            .map_err(|e| KeystoneError::Unexpected(e.to_string()))?;
        let found = body["catalog"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["type"] == kind)
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .find(|e| {
                e["interface"] == interface && (e["region"] == region || e["region_id"] == region)
            })
            .and_then(|e| e["url"].as_str().map(str::to_string));
        Ok(found)
    }

    fn tokens_url(&self) -> String {
        format!("{}/v3/auth/tokens", self.config.url.trim_end_matches('/'))
    }

    /// Password authentication scoped to a project; `None` when Keystone refuses the
    /// credentials. Returns the token and its body.
    async fn password_token(
        &self,
        user: &str,
        password: &str,
        user_domain: &str,
        scope: Option<Value>,
    ) -> Result<Option<(String, Value)>, KeystoneError> {
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": password, "domain": {"name": user_domain},
        }}}});
        if let Some(scope) = scope {
            auth["scope"] = scope;
        }
        let response = self
            .http
            .post(self.tokens_url())
            .json(&json!({"auth": auth}))
            .send()
            .await
            .map_err(unreachable)?;
        match response.status().as_u16() {
            201 | 200 => {
                let token = response
                    .headers()
                    .get("x-subject-token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        KeystoneError::Unexpected("a token without X-Subject-Token".into())
                    })?;
                let body: Value = response.json().await.map_err(unreachable)?;
                Ok(Some((token, body)))
            }
            400 | 401 | 403 | 404 => Ok(None),
            other => Err(KeystoneError::Unexpected(format!(
                "HTTP {other} to a login"
            ))),
        }
    }

    /// A token of Glint's service user with `scope`, from the cache or fresh.
    async fn service_token(&self, scope: Scope, fresh: bool) -> Result<String, KeystoneError> {
        let mut cached = match scope {
            Scope::Project => self.service.lock().await,
            Scope::System => self.system.lock().await,
        };
        if !fresh
            && let Some((token, expires)) = cached.as_ref()
            && *expires > crate::time::now_micros() + 60_000_000
        {
            return Ok(token.clone());
        }
        let c = &self.config;
        let scope_json = match scope {
            Scope::Project => json!({"project": {"name": c.project,
                "domain": {"name": c.project_domain}}}),
            Scope::System => json!({"system": {"all": true}}),
        };
        let (token, body) = self
            .password_token(&c.username, &c.password, &c.user_domain, Some(scope_json))
            .await?
            .ok_or_else(|| match scope {
                Scope::Project => KeystoneError::ServiceAuth(format!("user {}", c.username)),
                Scope::System => KeystoneError::ServiceAuth(format!(
                    "user {} has no role on the system, which reading limits needs \
                     (openstack role add --user {} --system all reader)",
                    c.username, c.username
                )),
            })?;
        let expires = body["token"]["expires_at"]
            .as_str()
            .and_then(crate::time::parse)
            .unwrap_or_else(|| crate::time::now_micros() + 600_000_000);
        *cached = Some((token.clone(), expires));
        Ok(token)
    }

    /// A read of Keystone's API (`path` such as `/v3/limits`) as Glint's service user.
    pub(crate) async fn get(
        &self,
        scope: Scope,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, KeystoneError> {
        let url = format!("{}{path}", self.config.url.trim_end_matches('/'));
        for attempt in 0..2 {
            let service = self.service_token(scope, attempt > 0).await?;
            let response = self
                .http
                .get(&url)
                .query(query)
                .header("X-Auth-Token", &service)
                .send()
                .await
                .map_err(unreachable)?;
            match response.status().as_u16() {
                200 => {
                    return response
                        .json()
                        .await
                        .map_err(|e| KeystoneError::Unexpected(e.to_string()));
                }
                401 if attempt == 0 => continue,
                401 | 403 => {
                    return Err(KeystoneError::ServiceAuth(format!(
                        "user {} may not read {path}",
                        self.config.username
                    )));
                }
                other => {
                    return Err(KeystoneError::Unexpected(format!(
                        "HTTP {other} to GET {path}"
                    )));
                }
            }
        }
        Err(KeystoneError::ServiceAuth(self.config.username.clone()))
    }

    /// Who a caller's token speaks for, or `None` when Keystone does not know it (unknown,
    /// expired or revoked).
    pub(crate) async fn validate(
        &self,
        token: &str,
    ) -> Result<Option<Authenticated>, KeystoneError> {
        for attempt in 0..2 {
            let service = self.service_token(Scope::Project, attempt > 0).await?;
            let response = self
                .http
                .get(self.tokens_url())
                .header("X-Auth-Token", &service)
                .header("X-Subject-Token", token)
                .send()
                .await
                .map_err(unreachable)?;
            match response.status().as_u16() {
                200 => {
                    let body: Value = response.json().await.map_err(unreachable)?;
                    return identity(&body).map(Some);
                }
                404 => return Ok(None),
                // Our own token expired or was revoked: get another once.
                401 if attempt == 0 => continue,
                401 | 403 => {
                    return Err(KeystoneError::ServiceAuth(format!(
                        "user {} may not validate tokens: give it the service role",
                        self.config.username
                    )));
                }
                other => {
                    return Err(KeystoneError::Unexpected(format!(
                        "HTTP {other} to a token validation"
                    )));
                }
            }
        }
        Err(KeystoneError::ServiceAuth(self.config.username.clone()))
    }

    /// A login through Keystone (the web UI's): a token scoped to `project` (or the user's
    /// default project), and who it speaks for.
    pub(crate) async fn login(
        &self,
        user: &str,
        password: &str,
        project: Option<&str>,
    ) -> Result<Option<(String, Authenticated)>, KeystoneError> {
        let domain = self.config.user_domain.as_str();
        let scope = project.map(
            |p| json!({"project": {"name": p, "domain": {"name": self.config.project_domain}}}),
        );
        match self.password_token(user, password, domain, scope).await? {
            Some((token, body)) => Ok(Some((token, identity(&body)?))),
            None => Ok(None),
        }
    }
}

/// The caller a Keystone token body describes.
fn identity(body: &Value) -> Result<Authenticated, KeystoneError> {
    let token = &body["token"];
    let text = |v: &Value| v.as_str().map(str::to_string);
    let user_id = text(&token["user"]["id"])
        .ok_or_else(|| KeystoneError::Unexpected("a token without a user".into()))?;
    // The image API's rules are project-scoped (Glance's policies with enforce_scope): a token
    // scoped to the system or a domain holds no role here, whatever roles it lists.
    let project_scoped = token["project"]["id"].is_string();
    let roles = match project_scoped {
        true => token["roles"]
            .as_array()
            .map(|roles| roles.iter().filter_map(|r| text(&r["name"])).collect())
            .unwrap_or_default(),
        false => Vec::new(),
    };
    Ok(Authenticated {
        caller: glint_core::Caller {
            project_id: text(&token["project"]["id"]),
            roles,
        },
        user_id: Some(user_id),
        user_name: text(&token["user"]["name"]),
        project_name: text(&token["project"]["name"]),
        expires_at: token["expires_at"].as_str().and_then(crate::time::parse),
    })
}
