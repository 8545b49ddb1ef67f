//! `POST /v2/images/{id}/import` and `DELETE /v2/stores/{store}/{image}`: the request read,
//! the data operations asked, and a glance-direct import whose data another server staged sent
//! on to that server (Glance's distributed import).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, RawBody, store_header, wants_preview};
use crate::data::{ImportRequest, Started};

/// `POST /v2/images/{id}/import`; with `Prefer: return=preview` (or `?dry_run=true`), what
/// the import would do (its stores, the formats the image would end with), checked as the
/// import is but not started (200).
pub(crate) async fn import(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    RawBody(raw): RawBody,
) -> Result<Response, ApiError> {
    let body: ImportRequest = super::extract::json_body(&raw, "Invalid import request")?;
    let header = store_header(&headers)?;
    if wants_preview(&headers, uri.query()) {
        let plan = state
            .data
            .plan_import(&identity.actor(), &id, &body, header)
            .await?;
        return Ok((StatusCode::OK, Json(plan)).into_response());
    }
    let token = headers.get("x-auth-token").and_then(|v| v.to_str().ok());
    match state
        .data
        .import(&identity.actor(), &id, &body, header, token)
        .await?
    {
        Started::Here => Ok(StatusCode::ACCEPTED.into_response()),
        Started::StagedOn(host) => forward_import(&state, &host, &id, &headers, raw)
            .await
            .map(IntoResponse::into_response),
    }
}

/// Sends a glance-direct import to the server that holds the staged data (Glance's
/// distributed import), with the caller's token, and answers what it answers.
async fn forward_import(
    state: &AppState,
    host: &str,
    id: &str,
    headers: &HeaderMap,
    body: bytes::Bytes,
) -> Result<StatusCode, ApiError> {
    let mut request = state
        .data
        .imports
        .peers
        .post(format!("{host}/v2/images/{id}/import"))
        .header("Content-Type", "application/json")
        .body(body);
    for name in [
        "x-auth-token",
        "x-image-meta-store",
        "x-openstack-request-id",
    ] {
        if let Some(v) = headers.get(name) {
            request = request.header(name, v.clone());
        }
    }
    let response = request.send().await.map_err(|e| {
        ApiError::Conflict(format!(
            "The data of image {id} was staged on {host}, which cannot be reached: {e}"
        ))
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::ACCEPTED));
    }
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or(text);
    Err(match status.as_u16() {
        400 => ApiError::BadRequest(message),
        403 => ApiError::Forbidden(message),
        404 => ApiError::NotFound(message),
        409 => ApiError::Conflict(message),
        _ => ApiError::Internal(format!("the staging server answered {status}: {message}")),
    })
}

/// `DELETE /v2/stores/{store}/{image}` (administrators): removes an image's data from one
/// store, as long as another store keeps a copy.
pub(crate) async fn delete_from_store(
    State(state): State<AppState>,
    identity: Identity,
    Path((store_id, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .data
        .delete_from_store(&identity.actor(), &store_id, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
