//! The image cache API (`/v2/cache`, administrators): what this server has cached and queued,
//! queueing an image, removing one, clearing the cache or the queue.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, RawBody, no_body};
use crate::cache::{ImageCache, Target};

fn cache_for<'a>(
    state: &'a AppState,
    identity: &Identity,
    rule: &str,
) -> Result<&'a ImageCache, ApiError> {
    if !state.images.rules.allows(rule, &identity.caller, None) {
        return Err(ApiError::Forbidden(format!(
            "You are not authorized to complete {rule} action."
        )));
    }
    state
        .data
        .cache
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("The image cache is not enabled on this server.".into()))
}

fn seconds(micros: i64) -> f64 {
    micros as f64 / 1e6
}

/// `GET /v2/cache`.
pub(crate) async fn list(
    State(state): State<AppState>,
    identity: Identity,
) -> Result<Json<Value>, ApiError> {
    let cache = cache_for(&state, &identity, "cache_list")?;
    let (cached, queued) = cache.list();
    Ok(Json(json!({
        "cached_images": cached.iter().map(|(id, c)| json!({
            "image_id": id,
            "hits": c.hits,
            "last_accessed": seconds(c.last_accessed),
            "last_modified": seconds(c.last_modified),
            "size": c.size,
        })).collect::<Vec<_>>(),
        "queued_images": queued,
    })))
}

/// `PUT /v2/cache/{id}`: queues an image with data; it is fetched in the background.
pub(crate) async fn queue(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    no_body(&body)?;
    let cache = cache_for(&state, &identity, "cache_image")?.clone();
    let image = super::shared::load_visible(&state, &identity, &id)
        .await?
        .image;
    let Some(size) = image
        .size
        .filter(|_| matches!(image.status, glint_core::Status::Active))
        .filter(|_| !image.locations.is_empty())
    else {
        return Err(ApiError::BadRequest(format!(
            "Image {id} has no data to cache: it is {}.",
            image.status
        )));
    };
    if cache.queue(&image.id) {
        let stores = state.stores.clone();
        tokio::spawn(async move {
            let result = match stores.read(&image.locations, 0, size).await {
                Ok(stream) => {
                    cache
                        .fill(&image.id, size, image.checksum.as_deref(), stream)
                        .await
                }
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = result {
                tracing::warn!(image = %image.id, "caching failed: {e}");
            }
        });
    }
    Ok(StatusCode::ACCEPTED)
}

/// `DELETE /v2/cache/{id}`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    cache_for(&state, &identity, "cache_delete")?.delete(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v2/cache/clean` (API 2.18): removes what interrupted fills left and the copies of
/// images that no longer exist.
pub(crate) async fn clean(
    State(state): State<AppState>,
    identity: Identity,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    no_body(&body)?;
    let cache = cache_for(&state, &identity, "cache_clean")?;
    let mut gone = Vec::new();
    for (id, _) in cache.list().0 {
        if state.db.image(&id).await?.is_none() {
            gone.push(id);
        }
    }
    let removed = cache.clean(&gone);
    if removed > 0 {
        tracing::info!("the image cache's clean removed {removed} files");
    }
    Ok(StatusCode::OK)
}

/// `POST /v2/cache/prune` (API 2.18): evicts the least recently used copies until the cache is
/// within its size.
pub(crate) async fn prune(
    State(state): State<AppState>,
    identity: Identity,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    no_body(&body)?;
    let (files, bytes) = cache_for(&state, &identity, "cache_prune")?.prune();
    Ok(Json(json!({
        "total_files_pruned": files,
        "total_bytes_pruned": bytes,
    })))
}

/// `DELETE /v2/cache`: the cache and the queue, or the one `x-image-cache-clear-target` names.
pub(crate) async fn clear(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let cache = cache_for(&state, &identity, "cache_delete")?;
    let target = match headers
        .get("x-image-cache-clear-target")
        .map(|v| v.to_str().unwrap_or_default().trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") => Target::Both,
        Some("cache") => Target::Cache,
        Some("queue") => Target::Queue,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "If provided, x-image-cache-clear-target must be 'cache', 'queue' or empty \
                 ('{other}' given)."
            )));
        }
    };
    cache.clear(target);
    Ok(StatusCode::NO_CONTENT)
}
