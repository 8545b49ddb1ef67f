//! Image data: `PUT` and `GET /v2/images/{id}/file`, streamed, hashed on the way in.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use glint_core::{Image, Status};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, RawBody, check_if_match, etag};
use super::images::{load_visible, load_writable};
use crate::db::Upload;
use crate::hashing::Hashes;
use crate::store::Store;
use glint_core::inspect::{self, Inspector, Refusal};

/// How much data the hashers and the store are handed at a time.
const BLOCK: usize = 1 << 20;

/// Glance's `image_size_cap`: 1 TiB.
pub(crate) const IMAGE_SIZE_CAP: u64 = 1 << 40;

/// Puts an image back to `queued` if an upload ends any other way than success, including when
/// the request is dropped mid-stream.
struct UploadGuard {
    state: AppState,
    id: String,
    /// The status the image is in while the data is written.
    from: Status,
    armed: bool,
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let db = self.state.db.clone();
        let id = std::mem::take(&mut self.id);
        let from = self.from;
        let reset = async move {
            match db.transition(&id, &[from], Status::Queued, None).await {
                Ok(true) => {
                    tracing::info!(image = %id, "upload did not finish; image is queued again")
                }
                Ok(false) => {}
                Err(e) => tracing::error!(image = %id, "cannot reset a failed upload: {e}"),
            }
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(reset);
        }
    }
}

fn declared_size(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
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

fn require_octet_stream(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.split(';').next().map(str::trim) == Some("application/octet-stream") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type '{content_type}' is not supported for image data: use application/octet-stream."
        )))
    }
}

/// Moves an image from `queued` to `to` on behalf of a new writer, or says why not (409).
async fn claim(state: &AppState, image: &Image, to: Status) -> Result<String, ApiError> {
    let owner = format!("{}/{}", state.node, uuid::Uuid::new_v4().simple());
    if image.status == Status::Queued
        && state
            .db
            .transition(&image.id, &[Status::Queued], to, Some(&owner))
            .await?
    {
        return Ok(owner);
    }
    let now = state
        .db
        .image(&image.id)
        .await?
        .map(|s| s.image.status)
        .unwrap_or(image.status);
    Err(ApiError::Conflict(format!(
        "Image status transition from {now} to {to} is not allowed"
    )))
}

/// What `ingest` stored.
pub(crate) struct Ingested {
    size: u64,
    /// md5 and sha512, when asked for.
    digests: Option<(String, String)>,
    location: String,
    /// The inspector's virtual size, when the content was inspected.
    virtual_size: Option<u64>,
}

/// Where data goes and what is checked on the way.
struct Intake<'a> {
    store: &'a dyn Store,
    image_id: &'a str,
    /// The size the client announced, if any.
    declared: Option<u64>,
    /// Whether to compute md5 and sha512.
    hash: bool,
    /// The declared `disk_format` to inspect the content against, if it is to be inspected.
    inspect_as: Option<&'a str>,
    /// Bytes the project may still store, under a storage quota.
    room: Option<u64>,
}

/// Refuses content the inspector finds unsafe (400), or whose format is not the declared one
/// (415, as Glance answers).
fn refuse(refusal: Refusal) -> ApiError {
    match refusal.rule {
        Some(_) => ApiError::BadRequest(refusal.message),
        None => ApiError::UnsupportedMediaType(refusal.message),
    }
}

/// Streams data into a store, hashing and inspecting it on the way, and commits it only once it
/// is whole and accepted. `inspect_as` is the declared `disk_format` to check the content against.
async fn ingest<S, E>(
    state: &AppState,
    intake: Intake<'_>,
    mut stream: S,
) -> Result<Ingested, ApiError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let Intake {
        store,
        image_id,
        declared,
        hash,
        inspect_as,
        room,
    } = intake;
    let mut writer = store.begin(image_id).await?;
    let hashes = hash.then(Hashes::start);
    let mut inspector = inspect_as.map(|_| Inspector::new());
    let mut size: u64 = 0;
    // The network hands over small pieces; the hashers and the store get large ones.
    let mut pending = bytes::BytesMut::with_capacity(BLOCK);
    loop {
        let next = stream.next().await;
        let done = next.is_none();
        if let Some(chunk) = next {
            let chunk = chunk
                .map_err(|e| ApiError::BadRequest(format!("The upload was interrupted: {e}")))?;
            size += chunk.len() as u64;
            if size > IMAGE_SIZE_CAP {
                return Err(ApiError::PayloadTooLarge(
                    "Image exceeds the size cap.".into(),
                ));
            }
            if let Some(room) = room
                && size > room
            {
                return Err(over_quota(room));
            }
            if declared.is_some_and(|d| size > d) {
                return Err(ApiError::BadRequest(
                    "Size mismatch: more data than declared.".into(),
                ));
            }
            pending.extend_from_slice(&chunk);
        }
        if pending.len() >= BLOCK || (done && !pending.is_empty()) {
            let block =
                std::mem::replace(&mut pending, bytes::BytesMut::with_capacity(BLOCK)).freeze();
            if let Some(h) = &hashes {
                h.feed(&block).await;
            }
            if let Some(i) = &mut inspector {
                i.feed(&block);
            }
            writer.write(block).await?;
        }
        if done {
            break;
        }
    }
    if let Some(d) = declared
        && d != size
    {
        return Err(ApiError::BadRequest(format!(
            "Size mismatch: {size} bytes received, {d} declared."
        )));
    }
    let mut virtual_size = None;
    if let (Some(i), Some(disk_format)) = (inspector, inspect_as) {
        let verdict = i.finish();
        inspect::check(&verdict, disk_format, state.settings.require_format_match)
            .map_err(refuse)?;
        virtual_size = verdict.virtual_size;
    }
    let digests = match hashes {
        Some(h) => Some(
            h.finish()
                .await
                .map_err(|e| ApiError::Internal(format!("hashing: {e}")))?,
        ),
        None => None,
    };
    let location = writer.commit().await?;
    Ok(Ingested {
        size,
        digests,
        location,
        virtual_size,
    })
}

fn over_quota(room: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "Image exceeds the project's storage quota: {room} bytes are left."
    ))
}

/// How many bytes the image's project may still store, when it has a storage quota; refuses
/// (413) a declared size beyond it before any data is taken.
async fn storage_room(
    state: &AppState,
    image: &Image,
    declared: Option<u64>,
) -> Result<Option<u64>, ApiError> {
    let (Some(quota), Some(owner)) = (state.storage_quota, image.owner.as_deref()) else {
        return Ok(None);
    };
    let room = quota.saturating_sub(state.db.storage_used(owner, &image.id).await?);
    if declared.is_some_and(|d| d > room) {
        return Err(over_quota(room));
    }
    Ok(Some(room))
}

/// Records data that made it into the store; removes it again if the image went away meanwhile.
async fn finish(
    state: &AppState,
    image: &Image,
    from: Status,
    owner: &str,
    data: Ingested,
) -> Result<(), ApiError> {
    let (checksum, sha512) = data
        .digests
        .ok_or_else(|| ApiError::Internal("no digests".into()))?;
    let location = data.location;
    let upload = Upload {
        size: data.size,
        checksum,
        os_hash_algo: "sha512".into(),
        os_hash_value: sha512,
        virtual_size: data.virtual_size,
        location: location.clone(),
    };
    if state
        .db
        .finish_upload(&image.id, from, owner, &upload)
        .await?
    {
        return Ok(());
    }
    // Deleted or reset while we were writing: the data belongs to no image.
    if let Err(e) = state.store.delete(&location).await {
        tracing::warn!("cannot remove orphaned data {location}: {e}");
    }
    Err(ApiError::Gone(
        "The image was deleted or changed while its data was being written.".into(),
    ))
}

pub(crate) fn check_declared(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let declared = declared_size(headers)?;
    if let Some(n) = declared.filter(|n| *n > IMAGE_SIZE_CAP) {
        return Err(ApiError::PayloadTooLarge(format!(
            "Image exceeds the storage quota: {n} bytes is more than the {IMAGE_SIZE_CAP} allowed."
        )));
    }
    Ok(declared)
}

fn require_formats(image: &Image) -> Result<(), ApiError> {
    if image.disk_format.is_none() || image.container_format.is_none() {
        return Err(ApiError::BadRequest(
            "Properties disk_format, container_format must be set prior to saving data.".into(),
        ));
    }
    Ok(())
}

pub(crate) async fn upload(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    require_octet_stream(&headers)?;
    let stored = load_writable(&state, &identity, &id).await?;
    check_if_match(&headers, stored.version)?;
    let declared = check_declared(&headers)?;
    receive(&state, &stored.image, body, declared, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes an image's data: `queued` → `saving` → `active`. When `expected_md5` is given and the
/// data does not match it, nothing is kept (400). Any failure leaves the image `queued`.
pub(crate) async fn receive(
    state: &AppState,
    image: &Image,
    body: Body,
    declared: Option<u64>,
    expected_md5: Option<&str>,
) -> Result<(), ApiError> {
    require_formats(image)?;
    let room = storage_room(state, image, declared).await?;
    let owner = claim(state, image, Status::Saving).await?;
    let mut guard = UploadGuard {
        state: state.clone(),
        id: image.id.clone(),
        from: Status::Saving,
        armed: true,
    };
    let intake = Intake {
        store: state.store.as_ref(),
        image_id: &image.id,
        declared,
        hash: true,
        inspect_as: image.disk_format.as_deref(),
        room,
    };
    let data = ingest(state, intake, body.into_data_stream()).await?;
    let md5 = data
        .digests
        .as_ref()
        .map(|d| d.0.clone())
        .unwrap_or_default();
    if let Some(expected) = expected_md5
        && !expected.eq_ignore_ascii_case(&md5)
    {
        if let Err(e) = state.store.delete(&data.location).await {
            tracing::warn!("cannot remove rejected data {}: {e}", data.location);
        }
        return Err(ApiError::BadRequest(format!(
            "Supplied checksum ({expected}) and checksum generated from uploaded image ({md5}) did not match."
        )));
    }
    let result = finish(state, image, Status::Saving, &owner, data).await;
    guard.armed = false;
    result
}

/// `PUT /v2/images/{id}/stage`: data for a later `glance-direct` import.
pub(crate) async fn stage(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    require_octet_stream(&headers)?;
    let stored = load_writable(&state, &identity, &id).await?;
    check_if_match(&headers, stored.version)?;
    let image = &stored.image;
    let declared = check_declared(&headers)?;
    let owner = claim(&state, image, Status::Uploading).await?;
    let mut guard = UploadGuard {
        state: state.clone(),
        id: image.id.clone(),
        from: Status::Uploading,
        armed: true,
    };
    let intake = Intake {
        store: state.staging.as_ref(),
        image_id: &image.id,
        declared,
        hash: false,
        inspect_as: None,
        room: None,
    };
    let data = ingest(&state, intake, body.into_data_stream()).await?;
    if !state.db.finish_stage(&image.id, &owner, data.size).await? {
        let _ = state.staging.delete(&data.location).await;
        guard.armed = false;
        return Err(ApiError::Gone(
            "The image was deleted or changed while its data was being staged.".into(),
        ));
    }
    guard.armed = false;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, serde::Deserialize)]
struct ImportMethod {
    name: String,
    /// The `web-download` source.
    #[serde(default)]
    uri: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct ImportBody {
    method: ImportMethod,
}

/// `POST /v2/images/{id}/import`: `glance-direct` moves staged data into the store, hashing it,
/// in the background; the image is `importing` meanwhile and `active` (or `queued` again) after.
pub(crate) async fn import(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let body: ImportBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid import request: {e}")))?;
    let stored = load_writable(&state, &identity, &id).await?;
    let image = stored.image;
    match body.method.name.as_str() {
        "glance-direct" => {}
        "web-download" => {
            return web_download(state, identity, image, body.method.uri).await;
        }
        "copy-image" | "glance-download" => {
            return Err(ApiError::NotFound(format!(
                "Import method {} is not enabled at this site.",
                body.method.name
            )));
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "Unknown import method name '{other}'."
            )));
        }
    }
    if image.disk_format.is_none() || image.container_format.is_none() {
        return Err(ApiError::Conflict(
            "'disk_format' and 'container_format' must be set before import.".into(),
        ));
    }
    if image.status != Status::Uploading {
        return Err(ApiError::Conflict(format!(
            "Image {} is not in the uploading state: it is {}.",
            image.id, image.status
        )));
    }
    let owner = format!("{}/{}", state.node, uuid::Uuid::new_v4().simple());
    if !state
        .db
        .transition(
            &image.id,
            &[Status::Uploading],
            Status::Importing,
            Some(&owner),
        )
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "Image {} is already being imported.",
            image.id
        )));
    }
    let staged = state.staging.location_of(&image.id);
    let method = serde_json::json!({"method": {"name": body.method.name}});
    let order = TaskOrder::image_import(&image, method);
    start_import(
        state,
        &identity,
        image,
        owner,
        order,
        move |state, image| {
            Box::pin(async move {
                let result = async {
                    let room = storage_room(&state, &image, image.size).await?;
                    let stream = state.staging.read(&staged, 0, u64::MAX).await?;
                    let intake = Intake {
                        store: state.store.as_ref(),
                        image_id: &image.id,
                        declared: image.size,
                        hash: true,
                        inspect_as: image.disk_format.as_deref(),
                        room,
                    };
                    ingest(&state, intake, stream).await
                }
                .await;
                if let Err(e) = state.staging.delete(&staged).await {
                    tracing::warn!(image = %image.id, "cannot remove staged data: {e}");
                }
                result
            })
        },
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Records an `api_image_import` task for an image already `importing` under `owner`, then
/// runs `work` in the background: its data becomes the image's (`active`), any failure puts the
/// image back to `queued`; the task records the outcome either way.
/// What a task records about the request that started it.
pub(crate) struct TaskOrder {
    /// `api_image_import` for `POST /v2/images/{id}/import`, `import` for `POST /v2/tasks`.
    pub(crate) kind: &'static str,
    pub(crate) input: serde_json::Value,
}

impl TaskOrder {
    fn image_import(image: &Image, import_req: serde_json::Value) -> TaskOrder {
        TaskOrder {
            kind: "api_image_import",
            input: serde_json::json!({
                "image_id": image.id,
                "import_req": import_req,
                "backend": null,
            }),
        }
    }
}

pub(crate) async fn start_import(
    state: AppState,
    identity: &Identity,
    image: Image,
    owner: String,
    order: TaskOrder,
    work: impl FnOnce(AppState, Image) -> BoxFuture<'static, Result<Ingested, ApiError>>
    + Send
    + 'static,
) -> Result<crate::db::Task, ApiError> {
    let task = crate::db::Task {
        id: uuid::Uuid::new_v4().to_string(),
        kind: order.kind.into(),
        status: "processing".into(),
        owner: image.owner.clone(),
        image_id: Some(image.id.clone()),
        request_id: Some(identity.request_id.clone()),
        user_id: identity.user_id.clone(),
        input: order.input,
        result: None,
        message: String::new(),
        created_at: crate::time::now_micros(),
        updated_at: crate::time::now_micros(),
        expires_at: None,
    };
    state.db.start_task(&task).await?;
    let task_id = task.id.clone();
    tokio::spawn(async move {
        let mut guard = UploadGuard {
            state: state.clone(),
            id: image.id.clone(),
            from: Status::Importing,
            armed: true,
        };
        let result = match work(state.clone(), image.clone()).await {
            Ok(data) => finish(&state, &image, Status::Importing, &owner, data).await,
            Err(e) => Err(e),
        };
        guard.armed = result.is_err();
        let (status, message) = match &result {
            Ok(()) => ("success", String::new()),
            Err(e) => {
                tracing::warn!(image = %image.id, "import failed: {e}");
                ("failure", e.to_string())
            }
        };
        let outcome = serde_json::json!({"image_id": image.id});
        if let Err(e) = state
            .db
            .finish_task(&task_id, status, &message, Some(&outcome))
            .await
        {
            tracing::error!(task = %task_id, "cannot record the import's outcome: {e}");
        }
        drop(guard);
    });
    Ok(task)
}

/// Parses and checks a URI the server is asked to fetch: it must pass the guard's filtering
/// (scheme, port, allowed hosts); resolved addresses and redirects are checked as it is fetched.
pub(crate) fn checked_source(state: &AppState, uri: &str) -> Result<reqwest::Url, ApiError> {
    let url = reqwest::Url::parse(uri)
        .map_err(|e| ApiError::BadRequest(format!("Invalid URI for web-download: {e}")))?;
    state.web_guard.check(&url).map_err(|why| {
        ApiError::BadRequest(format!(
            "URI for web-download does not pass filtering: {why}"
        ))
    })?;
    Ok(url)
}

/// Moves a `queued` image to `importing` under a fresh owner token, or says why it cannot.
pub(crate) async fn claim_queued_for_import(
    state: &AppState,
    image: &Image,
) -> Result<String, ApiError> {
    if image.disk_format.is_none() || image.container_format.is_none() {
        return Err(ApiError::Conflict(
            "'disk_format' and 'container_format' must be set before import.".into(),
        ));
    }
    let owner = format!("{}/{}", state.node, uuid::Uuid::new_v4().simple());
    if image.status != Status::Queued
        || !state
            .db
            .transition(
                &image.id,
                &[Status::Queued],
                Status::Importing,
                Some(&owner),
            )
            .await?
    {
        return Err(ApiError::Conflict(format!(
            "Image {} must be queued for web-download: it is {}.",
            image.id, image.status
        )));
    }
    Ok(owner)
}

/// `web-download`: the server fetches the image from a URI (checked by the guard, on every
/// redirect and on the addresses it resolves to), streaming it through the same hashing,
/// inspection and quota checks as an upload. The image is `importing` meanwhile; a task records
/// the outcome, and a failure leaves the image `queued`.
async fn web_download(
    state: AppState,
    identity: Identity,
    image: Image,
    uri: Option<String>,
) -> Result<StatusCode, ApiError> {
    let uri =
        uri.ok_or_else(|| ApiError::BadRequest("The web-download method needs a 'uri'.".into()))?;
    let url = checked_source(&state, &uri)?;
    let owner = claim_queued_for_import(&state, &image).await?;
    let method = serde_json::json!({"method": {"name": "web-download", "uri": uri}});
    let order = TaskOrder::image_import(&image, method);
    start_import(
        state,
        &identity,
        image,
        owner,
        order,
        move |state, image| Box::pin(fetch_into(state, image, url)),
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Streams `url` into the image's store location through hashing, inspection and the quota.
pub(crate) async fn fetch_into(
    state: AppState,
    image: Image,
    url: reqwest::Url,
) -> Result<Ingested, ApiError> {
    let response = state
        .web_client
        .get(url)
        .send()
        .await
        .map_err(|e| ApiError::BadRequest(format!("web-download failed: {e}")))?;
    if !response.status().is_success() {
        return Err(ApiError::BadRequest(format!(
            "web-download failed: the source answered {}",
            response.status()
        )));
    }
    let declared = response.content_length();
    let room = storage_room(&state, &image, declared).await?;
    let intake = Intake {
        store: state.store.as_ref(),
        image_id: &image.id,
        declared,
        hash: true,
        inspect_as: image.disk_format.as_deref(),
        room,
    };
    ingest(&state, intake, Box::pin(response.bytes_stream())).await
}

/// A parsed `Range` (or legacy `Content-Range`) request: `(offset, len)`.
fn range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let unsatisfiable = ApiError::RangeNotSatisfiable { size };
    let spec = if let Some(v) = headers.get(header::RANGE) {
        let v = v.to_str().unwrap_or_default().trim();
        match v.strip_prefix("bytes=") {
            Some(s) => s.to_string(),
            None => return Err(unsatisfiable),
        }
    } else if let Some(v) = headers.get(header::CONTENT_RANGE) {
        let v = v.to_str().unwrap_or_default().trim();
        let s = v
            .strip_prefix("bytes ")
            .ok_or(ApiError::RangeNotSatisfiable { size })?;
        s.split('/').next().unwrap_or_default().to_string()
    } else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Err(unsatisfiable);
    }
    let (a, b) = spec
        .split_once('-')
        .ok_or(ApiError::RangeNotSatisfiable { size })?;
    let num = |s: &str| s.trim().parse::<u64>().ok();
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n = num(suffix)
                .filter(|n| *n > 0)
                .ok_or(ApiError::RangeNotSatisfiable { size })?;
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (start, "") => (
            num(start).ok_or(ApiError::RangeNotSatisfiable { size })?,
            size.saturating_sub(1),
        ),
        (start, end) => {
            let (s, e) = (num(start), num(end));
            match (s, e) {
                (Some(s), Some(e)) if s <= e => (s, e.min(size.saturating_sub(1))),
                _ => return Err(unsatisfiable),
            }
        }
    };
    if size == 0 || start >= size || start > end {
        return Err(ApiError::RangeNotSatisfiable { size });
    }
    Ok(Some((start, end - start + 1)))
}

pub(crate) async fn download(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let stored = load_visible(&state, &identity, &id).await?;
    let image = &stored.image;
    match image.status {
        Status::Deactivated if !identity.caller.is_admin() => {
            return Err(ApiError::Forbidden(
                "The requested image has been deactivated. Image data download is forbidden."
                    .into(),
            ));
        }
        Status::Active | Status::Deactivated => {}
        _ => return Ok(StatusCode::NO_CONTENT.into_response()),
    }
    let (Some(size), Some(location)) = (image.size, image.locations.first()) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let wanted = range(&headers, size)?;
    let (offset, len) = wanted.unwrap_or((0, size));
    let stream = state.store.read(&location.url, offset, len).await?;
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(md5) = image
        .checksum
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert("Content-MD5", md5);
    }
    if let Ok(v) = HeaderValue::from_str(&etag(stored.version)) {
        h.insert(header::ETAG, v);
    }
    if wanted.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let end = offset + len - 1;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {offset}-{end}/{size}")) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    response
        .headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    Ok(response)
}
