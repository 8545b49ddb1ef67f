//! Logging in and out: `POST /auth/login` issues a token for a user name and password,
//! `GET /auth/whoami` tells who a token speaks for, `POST /auth/logout` revokes it.

use axum::Json;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, RawBody};
use crate::accounts::AccountError;
use crate::auth::SESSION_COOKIE;
use crate::time;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
    #[serde(default)]
    project: Option<String>,
}

fn account_error(e: AccountError) -> ApiError {
    match e {
        AccountError::NotFound(m) => ApiError::Unauthorized(format!("{m}.")),
        AccountError::Invalid(m) => ApiError::Forbidden(m),
        other => ApiError::Internal(other.to_string()),
    }
}

fn session_cookie(token: &str, max_age: i64) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/v2/images; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    )
}

pub(crate) async fn login(
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, [(HeaderName, String); 1], Json<Value>), ApiError> {
    let login: Login = super::extract::json_body(
        &body,
        "Expected {\"username\": ..., \"password\": ..., \"project\": optional}",
    )?;
    state.http.auth.check_login_allowed(&login.username)?;
    if let Some(keystone) = state.http.auth.keystone() {
        let found = keystone
            .login(&login.username, &login.password, login.project.as_deref())
            .await?;
        state
            .http
            .auth
            .record_login(&login.username, found.is_some());
        let Some((token, who)) = found else {
            return Err(ApiError::Unauthorized(
                "Keystone refused the user name, password or project.".into(),
            ));
        };
        let max_age = who
            .expires_at
            .map(|at| (at - time::now_micros()) / 1_000_000)
            .unwrap_or(state.http.token_ttl)
            .max(0);
        return Ok((
            StatusCode::CREATED,
            [(SET_COOKIE, session_cookie(&token, max_age))],
            Json(json!({
                "token": token,
                "expires_at": who.expires_at.map(time::format),
                "user": {"id": who.user_id, "name": who.user_name},
                "project": {"id": who.caller.project_id, "name": who.project_name},
                "roles": who.caller.roles,
            })),
        ));
    }
    let user = state
        .db
        .check_password(&login.username, &login.password)
        .await
        .map_err(account_error)?;
    state
        .http
        .auth
        .record_login(&login.username, user.is_some());
    let Some(user) = user else {
        return Err(ApiError::Unauthorized(
            "The user name or password is wrong.".into(),
        ));
    };
    let issued = state
        .db
        .issue_token(
            &user.id,
            login.project.as_deref(),
            state.http.token_ttl,
            Some("login"),
            None,
        )
        .await
        .map_err(account_error)?;
    let id = issued.identity;
    // Downloads from the web UI are plain links; this cookie authenticates only those.
    Ok((
        StatusCode::CREATED,
        [(
            SET_COOKIE,
            session_cookie(&issued.secret, state.http.token_ttl),
        )],
        Json(json!({
            "token": issued.secret,
            "expires_at": time::format(id.expires_at),
            "user": {"id": id.user_id, "name": id.user_name},
            "project": {"id": id.project_id, "name": id.project_name},
            "roles": id.roles,
        })),
    ))
}

/// Who the token speaks for, and what a client needs to plan changes exactly as the server
/// will: the deployment's limits and formats, and its property protections.
pub(crate) async fn whoami(State(state): State<AppState>, identity: Identity) -> Json<Value> {
    // Of the injected properties, those this caller's imports get and it may read.
    let mut settings = (*state.images.settings).clone();
    settings.inject = state.images.injected_shown_to(&identity.caller);
    Json(json!({
        "user": {"id": identity.user_id, "name": identity.user_name},
        "project": {"id": identity.caller.project_id, "name": identity.project_name},
        "roles": identity.caller.roles,
        "expires_at": identity.expires_at.map(time::format),
        "planning": {
            "settings": settings,
            "property_protections": state.images.protections.as_ref().map(|p| p.source()),
            "policy": state.images.rules.planning_rules(),
        },
    }))
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    _identity: Identity,
    headers: HeaderMap,
) -> Result<(StatusCode, [(HeaderName, String); 1]), ApiError> {
    if let Some(token) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        if state.http.auth.keystone().is_none() {
            state
                .db
                .revoke_token(token.trim())
                .await
                .map_err(account_error)?;
        }
        state.http.auth.forget(token.trim());
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(
            SET_COOKIE,
            format!("{SESSION_COOKIE}=; Path=/v2/images; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
    ))
}
