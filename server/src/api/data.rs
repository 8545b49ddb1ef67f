//! Image data: `PUT` and `GET /v2/images/{id}/file`, streamed, hashed on the way in.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use glint_core::{Image, Location, Status};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, check_if_match, etag};
use super::images::load_writable;
use crate::db::Upload;
use crate::hashing::Hashes;
use crate::store::{NamedStore, Store};
use glint_core::inspect::{self, Inspector, Refusal};

/// How much data the hashers and the store are handed at a time.
const BLOCK: usize = 1 << 20;

/// Puts an image back to `queued` if an upload ends any other way than success, including when
/// the request is dropped mid-stream.
pub(super) struct UploadGuard {
    state: AppState,
    id: String,
    /// The status the image is in while the data is written.
    from: Status,
    armed: bool,
}

impl UploadGuard {
    pub(super) fn new(state: &AppState, id: &str, from: Status) -> UploadGuard {
        UploadGuard {
            state: state.clone(),
            id: id.to_string(),
            from,
            armed: true,
        }
    }

    /// Ends the guard with the upload's outcome. On failure the image is queued again before
    /// the outcome is passed on, so whoever sees the error finds the image uploadable.
    pub(super) async fn settle<T>(mut self, result: Result<T, ApiError>) -> Result<T, ApiError> {
        self.armed = false;
        if result.is_err() {
            requeue(
                self.state.db.clone(),
                std::mem::take(&mut self.id),
                self.from,
            )
            .await;
        }
        result
    }
}

async fn requeue(db: crate::db::Db, id: String, from: Status) {
    match db.transition(&id, &[from], Status::Queued, None).await {
        Ok(true) => tracing::info!(image = %id, "upload did not finish; image is queued again"),
        Ok(false) => {}
        Err(e) => tracing::error!(image = %id, "cannot reset a failed upload: {e}"),
    }
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let reset = requeue(
            self.state.db.clone(),
            std::mem::take(&mut self.id),
            self.from,
        );
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
pub(super) async fn claim(state: &AppState, image: &Image, to: Status) -> Result<String, ApiError> {
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
    pub(super) size: u64,
    /// md5 and sha512, when asked for.
    pub(super) digests: Option<(String, String)>,
    /// Where the data went: one location, or one per store it was imported into.
    pub(super) locations: Vec<Location>,
    /// The inspector's virtual size, when the content was inspected.
    pub(super) virtual_size: Option<u64>,
}

/// Where data goes and what is checked on the way.
pub(super) struct Intake<'a> {
    pub(super) store: &'a dyn Store,
    /// The metadata of the location it makes (the store's name, with several stores).
    pub(super) metadata: serde_json::Map<String, serde_json::Value>,
    pub(super) image_id: &'a str,
    /// The size the client announced, if any.
    pub(super) declared: Option<u64>,
    /// Whether to compute md5 and sha512.
    pub(super) hash: bool,
    /// The declared `disk_format` to inspect the content against, if it is to be inspected.
    pub(super) inspect_as: Option<&'a str>,
    /// Bytes the project may still store, under a storage quota.
    pub(super) room: Option<u64>,
}

impl<'a> Intake<'a> {
    /// Data of `image` into a store, hashed and inspected against its `disk_format`.
    pub(super) fn checked(
        state: &AppState,
        store: &'a NamedStore,
        image: &'a Image,
        declared: Option<u64>,
        room: Option<u64>,
    ) -> Intake<'a> {
        Intake {
            store: store.store.as_ref(),
            metadata: state.stores.metadata(store),
            image_id: &image.id,
            declared,
            hash: true,
            inspect_as: image.disk_format.as_deref(),
            room,
        }
    }
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
pub(super) async fn ingest<S, E>(
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
        metadata,
        image_id,
        declared,
        hash,
        inspect_as,
        room,
    } = intake;
    let cap = state.image_size_cap;
    if let Some(n) = declared.filter(|n| *n > cap) {
        return Err(over_cap(n, cap));
    }
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
            if size > cap {
                return Err(over_cap(size, cap));
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
        inspect::check(
            &verdict,
            disk_format,
            state.images.settings.require_format_match,
        )
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
    let url = writer.commit().await?;
    Ok(Ingested {
        size,
        digests,
        locations: vec![Location {
            url,
            metadata,
            validation_data: None,
        }],
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
pub(super) async fn storage_room(
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
pub(super) async fn finish(
    state: &AppState,
    image: &Image,
    from: Status,
    owner: &str,
    data: Ingested,
) -> Result<(), ApiError> {
    let (checksum, sha512) = data
        .digests
        .ok_or_else(|| ApiError::Internal("no digests".into()))?;
    let upload = Upload {
        size: data.size,
        checksum,
        os_hash_algo: "sha512".into(),
        os_hash_value: sha512,
        virtual_size: data.virtual_size,
        locations: data.locations,
    };
    if state
        .db
        .finish_upload(&image.id, from, owner, &upload)
        .await?
    {
        return Ok(());
    }
    // Deleted or reset while we were writing: the data belongs to no image.
    state.stores.delete_all(&upload.locations).await;
    Err(ApiError::Gone(
        "The image was deleted or changed while its data was being written.".into(),
    ))
}

fn over_cap(n: u64, cap: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "Image exceeds the size cap: {n} bytes is more than the {cap} allowed."
    ))
}

pub(crate) fn check_declared(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<u64>, ApiError> {
    let declared = declared_size(headers)?;
    if let Some(n) = declared.filter(|n| *n > state.image_size_cap) {
        return Err(over_cap(n, state.image_size_cap));
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
    let declared = check_declared(&state, &headers)?;
    let store = target_store(&state, store_header(&headers)?)?;
    receive(&state, &stored.image, body, declared, None, store).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `X-Image-Meta-Store` header: the store a client asks for.
pub(super) fn store_header(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get("x-image-meta-store") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| ApiError::BadRequest("Invalid X-Image-Meta-Store header.".into())),
    }
}

/// The store data goes to: the one asked for, or the default. With one store, as Glance
/// without `enabled_backends`, a store asked for is not looked at.
pub(super) fn target_store<'a>(
    state: &'a AppState,
    asked: Option<&str>,
) -> Result<&'a NamedStore, ApiError> {
    let Some(id) = asked.filter(|_| state.stores.is_multi()) else {
        return Ok(state.stores.default_store());
    };
    let store = state
        .stores
        .get(id)
        .ok_or_else(|| ApiError::BadRequest(format!("Store for identifier {id} not found")))?;
    if store.read_only {
        return Err(ApiError::BadRequest(format!(
            "Store {id} is read-only: image data cannot be written to it."
        )));
    }
    Ok(store)
}

/// Takes an image's data: `queued` → `saving` → `active`. When `expected_md5` is given and the
/// data does not match it, nothing is kept (400). Any failure leaves the image `queued`.
pub(crate) async fn receive(
    state: &AppState,
    image: &Image,
    body: Body,
    declared: Option<u64>,
    expected_md5: Option<&str>,
    store: &NamedStore,
) -> Result<(), ApiError> {
    require_formats(image)?;
    let room = storage_room(state, image, declared).await?;
    let owner = claim(state, image, Status::Saving).await?;
    let guard = UploadGuard::new(state, &image.id, Status::Saving);
    let result = async {
        let intake = Intake::checked(state, store, image, declared, room);
        let data = ingest(state, intake, body.into_data_stream()).await?;
        let md5 = data
            .digests
            .as_ref()
            .map(|d| d.0.clone())
            .unwrap_or_default();
        if let Some(expected) = expected_md5
            && !expected.eq_ignore_ascii_case(&md5)
        {
            state.stores.delete_all(&data.locations).await;
            return Err(ApiError::BadRequest(format!(
                "Supplied checksum ({expected}) and checksum generated from uploaded image ({md5}) did not match."
            )));
        }
        finish(state, image, Status::Saving, &owner, data).await
    }
    .await;
    guard.settle(result).await
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
    let declared = check_declared(&state, &headers)?;
    // The store is chosen at import; one asked for here must still exist.
    target_store(&state, store_header(&headers)?)?;
    let owner = claim(&state, image, Status::Uploading).await?;
    let guard = UploadGuard::new(&state, &image.id, Status::Uploading);
    let result = async {
        let intake = Intake {
            store: state.staging.as_ref(),
            metadata: serde_json::Map::new(),
            image_id: &image.id,
            declared,
            hash: false,
            inspect_as: None,
            room: None,
        };
        let data = ingest(&state, intake, body.into_data_stream()).await?;
        if state.db.finish_stage(&image.id, &owner, data.size).await? {
            return Ok(());
        }
        for l in &data.locations {
            let _ = state.staging.delete(&l.url).await;
        }
        Err(ApiError::Gone(
            "The image was deleted or changed while its data was being staged.".into(),
        ))
    }
    .await;
    guard.settle(result).await?;
    // Where the staged data is, for an import asked of another server.
    if let Some(url) = &state.imports.self_url {
        let host = [("os_glance_stage_host".to_string(), url.to_string())];
        state.db.set_server_properties(&image.id, &host).await?;
    }
    Ok(StatusCode::NO_CONTENT)
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
    let stored = crate::access::load_downloadable(&state.db, &identity.caller, &id).await?;
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
    let Some(size) = image.size.filter(|_| !image.locations.is_empty()) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let wanted = range(&headers, size)?;
    let (offset, len) = wanted.unwrap_or((0, size));
    let cached = match &state.cache {
        Some(cache) => cache.read(&image.id, offset, len).await,
        None => None,
    };
    let stream = match cached {
        Some(stream) => stream,
        None => state.stores.read(&image.locations, offset, len).await?,
    };
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
