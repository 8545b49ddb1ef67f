//! Extractors whose rejections come out as Glance errors, and small request helpers.

use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use glint_core::Caller;

use super::error::ApiError;
use super::{AppState, RequestId};

/// Who is calling, as the server's authentication decided (see `auth`).
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) caller: Caller,
    pub(crate) user_id: Option<String>,
    pub(crate) user_name: Option<String>,
    pub(crate) project_name: Option<String>,
    pub(crate) expires_at: Option<i64>,
    pub(crate) request_id: String,
}

impl Identity {
    /// The caller as the image operations know it.
    pub(crate) fn actor(&self) -> crate::images::Actor {
        crate::images::Actor {
            caller: self.caller.clone(),
            user_id: self.user_id.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// What a request presents to be recognised; the session cookie only where it may stand in
/// for a token (`cookie_allowed`: image downloads, which a browser follows as plain links).
fn presented(headers: &HeaderMap, cookie_allowed: bool) -> crate::auth::Presented {
    let session = cookie_allowed
        .then(|| {
            headers
                .get_all(axum::http::header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| *name == crate::auth::SESSION_COOKIE)
                .map(|(_, value)| value.to_string())
                .filter(|v| !v.is_empty())
        })
        .flatten();
    crate::auth::Presented {
        token: header(headers, "x-auth-token"),
        session,
        project: header(headers, "x-project-id").or_else(|| header(headers, "x-tenant-id")),
        user: header(headers, "x-user-id"),
        roles: header(headers, "x-roles"),
    }
}

impl FromRequestParts<AppState> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let download = matches!(parts.method, Method::GET | Method::HEAD)
            && parts.uri.path().contains("images/")
            && parts.uri.path().ends_with("/file");
        let who = state
            .http
            .auth
            .authenticate(&presented(&parts.headers, download))
            .await?;
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        Ok(Identity {
            caller: who.caller,
            user_id: who.user_id,
            user_name: who.user_name,
            project_name: who.project_name,
            expires_at: who.expires_at,
            request_id,
        })
    }
}

/// The caller when the request presents credentials that check out; `None` otherwise (no
/// token, a bad one, the identity service unreachable): for the calls anyone may make, which
/// show more to some.
impl OptionalFromRequestParts<AppState> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        Ok(
            <Identity as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

/// A request body read whole (metadata requests), with Glance's errors for what is wrong.
#[derive(Debug)]
pub(crate) struct RawBody(pub(crate) bytes::Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match bytes::Bytes::from_request(req, state).await {
            Ok(b) => Ok(RawBody(b)),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge("Request body too large.".into()))
            }
            Err(e) => Err(ApiError::BadRequest(format!(
                "Cannot read the request body: {e}"
            ))),
        }
    }
}

/// Refuses a body on requests that take none (Glance's `body_reject`).
pub(crate) fn no_body(body: &[u8]) -> Result<(), ApiError> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "A body is not expected with this request.".into(),
        ))
    }
}

/// The ETag of an image version.
pub(crate) fn etag(version: i64) -> String {
    crate::images::etag(version)
}

/// A JSON request body read into `T`; what is wrong with it is a 400 that starts with
/// `expected` (what the body should have been).
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    expected: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("{expected}: {e}")))
}

/// The request's `If-Match`, if it has one.
pub(crate) fn if_match(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("if-match")
        .map(|v| v.to_str().unwrap_or_default())
}

/// Whether the client asks for a dry run: `Prefer: return=preview` or `?dry_run=true`.
pub(crate) fn wants_preview(headers: &HeaderMap, query: Option<&str>) -> bool {
    let prefer = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("return=preview"));
    let query = query.is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.eq_ignore_ascii_case("dry_run=true") || kv == "dry_run=1")
    });
    prefer || query
}

/// The size a client declares for image data (`x-openstack-image-size`, else `Content-Length`).
pub(crate) fn declared_size(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    for name in ["x-openstack-image-size", "content-length"] {
        if let Some(v) = headers.get(name) {
            let n = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::BadRequest(format!("Invalid {name} header.")))?;
            return Ok(Some(n));
        }
    }
    Ok(None)
}

/// The `X-Image-Meta-Store` header: the store a client asks for.
pub(crate) fn store_header(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get("x-image-meta-store") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| ApiError::BadRequest("Invalid X-Image-Meta-Store header.".into())),
    }
}

/// The URL the client called this server at.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}
