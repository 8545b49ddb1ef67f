//! Who is calling: API tokens checked against the accounts in the database, or, in the
//! `--insecure-noauth` development mode only, identity headers taken on trust.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use glint_core::Caller;

use crate::accounts::{TokenIdentity, token_hash};
use crate::db::Db;
pub(crate) use crate::identity::Authenticated;
use crate::keystone::Keystone;
use thiserror::Error;

/// How long a validated local token is trusted without asking the database again.
const CACHE_TTL: Duration = Duration::from_secs(10);
/// Failed logins allowed per user name within `LOGIN_WINDOW`.
const LOGIN_FAILURES: u32 = 5;
const LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// Why a request's caller could not be established.
#[derive(Debug, Error)]
pub(crate) enum AuthError {
    /// No token, or one nobody knows (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Too many failed logins for a user (429).
    #[error("{0}")]
    TooManyLogins(String),
    /// Keystone could not be asked (503).
    #[error(transparent)]
    Keystone(#[from] crate::keystone::KeystoneError),
    /// The accounts could not be read.
    #[error(transparent)]
    Accounts(#[from] crate::accounts::AccountError),
}

#[derive(Debug)]
pub(crate) struct Auth {
    insecure_noauth: bool,
    db: Db,
    keystone: Option<std::sync::Arc<Keystone>>,
    /// How long a validated token is trusted without asking again.
    cache_ttl: Duration,
    cache: Mutex<HashMap<String, (Authenticated, Instant)>>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// The cookie the login endpoint sets for downloads from the web UI.
pub(crate) const SESSION_COOKIE: &str = "glint_session";

/// What a request presents to be recognised, as the API read it from its headers.
#[derive(Debug, Default)]
pub(crate) struct Presented {
    /// `X-Auth-Token`.
    pub(crate) token: Option<String>,
    /// The session cookie, where it stands in for a token (downloads from the web UI).
    pub(crate) session: Option<String>,
    /// Glance's trusted headers (`--insecure-noauth` only): `X-Project-Id` / `X-Tenant-Id`,
    /// `X-User-Id`, `X-Roles`.
    pub(crate) project: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) roles: Option<String>,
}

fn local_identity(identity: TokenIdentity) -> Authenticated {
    Authenticated {
        caller: Caller {
            project_id: Some(identity.project_id),
            roles: identity.roles,
        }
        .with_implied_roles(),
        user_id: Some(identity.user_id),
        user_name: Some(identity.user_name),
        project_name: Some(identity.project_name),
        expires_at: Some(identity.expires_at),
    }
}

impl Auth {
    /// Tokens checked against the database, or by `keystone` when given.
    pub(crate) fn new(
        db: Db,
        insecure_noauth: bool,
        keystone: Option<std::sync::Arc<Keystone>>,
    ) -> Auth {
        let cache_ttl = match &keystone {
            Some(k) => Duration::from_secs(k.cache_seconds()),
            None => CACHE_TTL,
        };
        Auth {
            insecure_noauth,
            db,
            keystone,
            cache_ttl,
            cache: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    /// `cookie_allowed` is true only for image downloads, where a browser follows a plain link
    /// and cannot send `X-Auth-Token`: the session cookie set at login stands in for it there.
    pub(crate) async fn authenticate(
        &self,
        presented: &Presented,
    ) -> Result<Authenticated, AuthError> {
        if self.insecure_noauth {
            return Ok(trusted(presented));
        }
        let Some(token) = presented.token.as_deref().or(presented.session.as_deref()) else {
            return Err(AuthError::Unauthorized(
                "This server requires an X-Auth-Token.".into(),
            ));
        };
        // python-glanceclient percent-encodes header values.
        let token = percent_encoding::percent_decode_str(token)
            .decode_utf8()
            .map(|t| t.into_owned())
            .unwrap_or_else(|_| token.to_string());
        let key = token_hash(&token);
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get(&key)
                .filter(|(_, at)| at.elapsed() < self.cache_ttl)
                .map(|(id, _)| id.clone())
        };
        let who = match cached {
            Some(who) => who,
            None => {
                let found = match &self.keystone {
                    Some(keystone) => keystone.validate(&token).await.inspect_err(|e| {
                        tracing::error!("token validation: {e}");
                    })?,
                    None => self.db.token_identity(&token).await?.map(local_identity),
                };
                let Some(who) = found else {
                    return Err(AuthError::Unauthorized(
                        "The token is unknown, expired or revoked.".into(),
                    ));
                };
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() > 10_000 {
                    let ttl = self.cache_ttl;
                    cache.retain(|_, (_, at)| at.elapsed() < ttl);
                }
                cache.insert(key, (who.clone(), Instant::now()));
                who
            }
        };
        if who
            .expires_at
            .is_some_and(|at| at <= crate::time::now_micros())
        {
            return Err(AuthError::Unauthorized("The token has expired.".into()));
        }
        Ok(who)
    }

    /// The Keystone client, in keystone mode.
    pub(crate) fn keystone(&self) -> Option<&Keystone> {
        self.keystone.as_deref()
    }

    /// Forgets a token at once (logout), rather than when the cache would.
    pub(crate) fn forget(&self, token: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.remove(&token_hash(token));
    }

    /// Refuses a login attempt for `name` while it has failed too often recently.
    pub(crate) fn check_login_allowed(&self, name: &str) -> Result<(), AuthError> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.get(name) {
            Some((n, since)) if *n >= LOGIN_FAILURES && since.elapsed() < LOGIN_WINDOW => {
                Err(AuthError::TooManyLogins(
                    "Too many failed logins for this user; wait a minute.".into(),
                ))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn record_login(&self, name: &str, ok: bool) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if ok {
            failures.remove(name);
            return;
        }
        let entry = failures
            .entry(name.to_string())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() >= LOGIN_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        if failures.len() > 10_000 {
            failures.retain(|_, (_, since)| since.elapsed() < LOGIN_WINDOW);
        }
    }
}

/// Development mode: identity from Glance's trusted headers; without `X-Roles` a request acts
/// as an administrator.
fn trusted(presented: &Presented) -> Authenticated {
    let roles: Vec<String> = match &presented.roles {
        Some(r) => r
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect(),
        None => vec!["admin".into(), "member".into(), "reader".into()],
    };
    Authenticated {
        caller: Caller {
            project_id: presented.project.clone(),
            roles,
        }
        .with_implied_roles(),
        user_id: presented.user.clone(),
        user_name: None,
        project_name: None,
        expires_at: None,
    }
}
