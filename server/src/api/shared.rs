//! What several handlers share: loading an image for the caller, changing it by plan with the
//! request's `If-Match`, the image and plan responses, the import methods offered, and the
//! web UI's entry page.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use glint_core::{Image, Plan, Request};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, etag};
use super::wire::image_json;
use crate::db::StoredImage;

/// An image as `GET /v2/images/{id}` answers it (the caller's view, its `ETag`).
pub(crate) fn image_response(
    state: &AppState,
    identity: &Identity,
    stored: &StoredImage,
    status: StatusCode,
) -> Response {
    let mut response = (
        status,
        Json(image_json(
            &state.shown(&identity.caller, &stored.image),
            &state.images.settings,
        )),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(stored.version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// Loads an image the caller may see; 404 otherwise.
pub(crate) async fn load_visible(
    state: &AppState,
    identity: &Identity,
    id: &str,
) -> Result<StoredImage, ApiError> {
    Ok(crate::access::load_visible(&state.db, &state.images.rules, &identity.caller, id).await?)
}

/// Loads an image the caller may change as `policy` says: 404 if they cannot see it, 403 if
/// they only can see it.
pub(crate) async fn load_writable(
    state: &AppState,
    identity: &Identity,
    id: &str,
    policy: &str,
) -> Result<StoredImage, ApiError> {
    Ok(state
        .images
        .load_writable(&identity.caller, id, policy)
        .await?)
}

pub(crate) use crate::images::Outcome;

/// The answer to an update: the image, or the plan a preview asked for.
pub(crate) fn outcome_response(
    state: &AppState,
    identity: &Identity,
    outcome: Outcome,
) -> Response {
    match outcome {
        Outcome::Applied(stored) => image_response(state, identity, &stored, StatusCode::OK),
        Outcome::Preview(plan, stored) => preview_response(state, identity, &plan, stored.version),
    }
}

/// A plan answered instead of applied (`Prefer: return=preview`), as the caller may see it.
pub(crate) fn preview_response(
    state: &AppState,
    identity: &Identity,
    plan: &Plan,
    version: i64,
) -> Response {
    let shown = state.shown_plan(&identity.caller, plan);
    let mut response = (StatusCode::OK, Json(shown)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response.headers_mut().insert(
        "Preference-Applied",
        HeaderValue::from_static("return=preview"),
    );
    response
}

/// Plans and applies a metadata change as the caller (`Images::update`), with the request's
/// `If-Match`.
pub(crate) async fn modify(
    state: &AppState,
    identity: &Identity,
    id: &str,
    headers: &HeaderMap,
    preview: bool,
    action: &str,
    build: impl FnMut(&Image) -> Result<Request, crate::images::ImageError>,
) -> Result<Outcome, ApiError> {
    Ok(state
        .images
        .update(
            &identity.actor(),
            id,
            super::extract::if_match(headers),
            preview,
            action,
            build,
        )
        .await?)
}

/// The import methods this deployment offers (Glance's `enabled_import_methods`).
pub(crate) fn import_methods(state: &AppState) -> Vec<&'static str> {
    state
        .data
        .import_methods()
        .iter()
        .map(|m| m.name())
        .collect()
}

/// The UI's entry page, or a note saying how to build it.
pub(crate) async fn ui_page(index: &std::path::Path) -> axum::response::Response {
    match tokio::fs::read_to_string(index).await {
        Ok(page) => Html(page).into_response(),
        Err(_) => ui_missing().await.into_response(),
    }
}

pub(crate) async fn ui_missing() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Html(
            "<!doctype html><title>Glint</title><p>The web UI is not built. \
             Start Glint with <code>cargo glint run</code>, which builds it.</p>",
        ),
    )
}
