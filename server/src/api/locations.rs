//! API 2.17's locations: `POST /v2/images/{id}/locations` gives a queued image its data at an
//! http(s) URL, hashed and checked in a `location_import` task; `GET` lists an image's
//! locations for services.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use glint_core::{Location, Status};
use serde_json::{Value, json};

use super::AppState;
use super::data::UploadGuard;
use super::error::ApiError;
use super::extract::{Identity, RawBody};
use super::images::{load_visible, load_writable};
use super::import::{TaskOrder, checked_source, fetch_guarded, run_task};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLocation {
    url: String,
    #[serde(default)]
    validation_data: Option<serde_json::Map<String, Value>>,
}

/// `POST /v2/images/{id}/locations` (API 2.17): gives a queued image its data at an http(s)
/// URL. The server fetches it in the background (a `location_import` task), computing its
/// checksum (md5) and secure hash (the algorithm the validation data names, else sha512), and
/// checks them against the validation data; then the image is active. If they do not match,
/// the task fails and the image is queued again, keeping the location.
pub(crate) async fn add_location(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let body: NewLocation = super::extract::json_body(&body, "Invalid location")?;
    if let Some(data) = &body.validation_data {
        glint_core::image::check_validation_data(data)
            .map_err(|e| ApiError::BadRequest(format!("Invalid validation data: {e}")))?;
    }
    let image = load_writable(&state, &identity, &id).await?.image;
    if !(body.url.starts_with("http://") || body.url.starts_with("https://")) {
        return Err(ApiError::BadRequest(format!(
            "Invalid location {}: only http and https locations can be added.",
            body.url
        )));
    }
    let url = checked_source(&state, &body.url).await?;
    if image.status != Status::Queued {
        return Err(ApiError::Conflict(format!(
            "Image {id} must be queued to be given a location: it is {}.",
            image.status
        )));
    }
    let mut metadata = serde_json::Map::new();
    if let Some(store) = state.stores.http_store() {
        metadata.insert("store".into(), Value::String(store.id.clone()));
    }
    let location = Location {
        url: body.url.clone(),
        metadata,
        validation_data: None,
    };
    let owner = format!("{}/{}", state.node, uuid::Uuid::new_v4().simple());
    if !state
        .db
        .claim_with_location(&image.id, &owner, &location)
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "Image {id} must be queued to be given a location."
        )));
    }
    let order = TaskOrder {
        kind: "location_import",
        input: json!({"image_id": image.id, "loc_url": body.url,
            "validation_data": body.validation_data}),
    };
    let task_image = image.clone();
    let started = run_task(&state, &identity, &image, order, move |state, _| {
        Box::pin(async move {
            let image = task_image;
            let guard = UploadGuard::new(&state, &image.id, Status::Importing);
            let result = async {
                let data = body.validation_data.unwrap_or_default();
                let (size, md5, algo, value) = hash_remote(&state, url, &data).await?;
                let text = |k: &str| data.get(k).and_then(Value::as_str);
                if text("checksum").is_some_and(|c| c != md5)
                    || text("os_hash_value").is_some_and(|v| v != value)
                {
                    return Err(ApiError::BadRequest(
                        "The data at the location does not hash as its validation data says."
                            .into(),
                    ));
                }
                let upload = crate::db::Upload {
                    size,
                    checksum: md5,
                    os_hash_algo: algo,
                    os_hash_value: value,
                    virtual_size: None,
                    locations: vec![location],
                };
                match state
                    .db
                    .finish_upload(&image.id, Status::Importing, &owner, &upload)
                    .await?
                {
                    true => Ok(json!({"image_id": image.id})),
                    false => Err(ApiError::Gone(
                        "The image was deleted or changed while its location was checked.".into(),
                    )),
                }
            }
            .await;
            guard.settle(result).await
        })
    })
    .await;
    if started.is_err() {
        let _ = state
            .db
            .transition(&image.id, &[Status::Importing], Status::Queued, None)
            .await;
    }
    started?;
    Ok(StatusCode::ACCEPTED)
}

/// Fetches the data at `url` and returns its size, md5 and secure hash (the algorithm
/// `validation` names, else sha512) as `(size, md5, algorithm, hash)`.
async fn hash_remote(
    state: &AppState,
    url: reqwest::Url,
    validation: &serde_json::Map<String, Value>,
) -> Result<(u64, String, String, String), ApiError> {
    use futures_util::StreamExt;
    use sha2::digest::DynDigest;
    let algo = validation
        .get("os_hash_algo")
        .and_then(Value::as_str)
        .unwrap_or("sha512")
        .to_string();
    let mut secure: Box<dyn DynDigest + Send> = match algo.as_str() {
        "md5" => Box::new(<md5::Md5 as md5::Digest>::new()),
        "sha224" => Box::new(<sha2::Sha224 as sha2::Digest>::new()),
        "sha256" => Box::new(<sha2::Sha256 as sha2::Digest>::new()),
        "sha384" => Box::new(<sha2::Sha384 as sha2::Digest>::new()),
        _ => Box::new(<sha2::Sha512 as sha2::Digest>::new()),
    };
    let mut md5 = <md5::Md5 as md5::Digest>::new();
    let response = fetch_guarded(state, url, "Fetching the location failed").await?;
    let mut size: u64 = 0;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::BadRequest(format!("Fetching the location failed: {e}")))?;
        size += chunk.len() as u64;
        if size > state.image_size_cap {
            return Err(ApiError::PayloadTooLarge(
                "The data at the location exceeds the image size cap.".into(),
            ));
        }
        md5::Digest::update(&mut md5, &chunk);
        secure.update(&chunk);
    }
    let hex = crate::hashing::hex;
    Ok((
        size,
        hex(&md5::Digest::finalize(md5)),
        algo,
        hex(&secure.finalize()),
    ))
}

/// `GET /v2/images/{id}/locations` (API 2.17): the image's locations, for services
/// (administrators and the `service` role).
pub(crate) async fn list_locations(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    if !identity.caller.is_admin() && !identity.caller.has_role("service") {
        return Err(ApiError::Forbidden(
            "You are not authorized to complete fetch_image_location action.".into(),
        ));
    }
    let image = load_visible(&state, &identity, &id).await?.image;
    let list: Vec<Value> = image
        .locations
        .iter()
        .map(|l| json!({"url": l.url, "metadata": l.metadata}))
        .collect();
    Ok(axum::Json(Value::Array(list)))
}
