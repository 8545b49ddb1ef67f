//! API 2.17's locations: `POST /v2/images/{id}/locations` gives a queued image its data at an
//! http(s) URL, hashed and checked in a `location_import` task; `GET` lists an image's
//! locations for services.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, RawBody};
use super::shared::load_visible;
use crate::data::NewLocation;

/// `POST /v2/images/{id}/locations` (API 2.17): gives a queued image its data at an http(s)
/// URL, checked in the background (a `location_import` task).
pub(crate) async fn add_location(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let body: NewLocation = super::extract::json_body(&body, "Invalid location")?;
    state
        .data
        .add_location(&identity.actor(), &id, body)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// `GET /v2/images/{id}/locations` (API 2.17): the image's locations, for services
/// (administrators and the `service` role).
pub(crate) async fn list_locations(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let image = load_visible(&state, &identity, &id).await?.image;
    if !state
        .images
        .rules
        .allows("fetch_image_location", &identity.caller, Some(&image))
    {
        return Err(ApiError::Forbidden(
            "You are not authorized to complete fetch_image_location action.".into(),
        ));
    }
    let list: Vec<Value> = image
        .locations
        .iter()
        .map(|l| json!({"url": l.url, "metadata": l.metadata}))
        .collect();
    Ok(axum::Json(Value::Array(list)))
}
