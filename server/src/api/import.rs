//! Imports: `POST /v2/images/{id}/import` with `glance-direct` (staged data; forwarded to the
//! server that staged it when that is another one), `web-download` (a URI the server fetches),
//! `copy-image` (an active image's data into more stores) and `glance-download` (an image of
//! an image service in the caller's catalog), and the legacy import task. Each runs in the
//! background under a task, which records its outcome, and under the image's import lock: one
//! import at a time per image (409 otherwise).
//!
//! With several stores, an import goes to the stores the request names (`stores`,
//! `all_stores`, or the `X-Image-Meta-Store` header; the default store otherwise): the data is
//! written to the first and copied from there to the others, each copy hashed and inspected
//! again. With `all_stores_must_succeed` (the default) one failed store fails the import and
//! leaves nothing behind; without it the import succeeds where it could and the task names the
//! stores that failed.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use futures_util::future::BoxFuture;
use glint_core::{Image, Location, Status};
use serde_json::{Value, json};

use super::AppState;
use super::data::{
    Ingested, Intake, UploadGuard, finish, ingest, storage_room, store_header, target_store,
};
use super::error::ApiError;
use super::extract::{Identity, RawBody};
use super::images::{load_visible, load_writable};
use crate::config::ImportMethod as Method;

#[derive(Debug, serde::Deserialize)]
struct ImportMethod {
    name: String,
    /// The `web-download` source.
    #[serde(default)]
    uri: Option<String>,
    /// The `glance-download` source: an image of another region's image service.
    #[serde(default)]
    glance_image_id: Option<String>,
    #[serde(default)]
    glance_region: Option<String>,
    #[serde(default)]
    glance_service_interface: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct ImportBody {
    method: ImportMethod,
    #[serde(default)]
    stores: Option<Vec<String>>,
    #[serde(default)]
    all_stores: Option<bool>,
    #[serde(default)]
    all_stores_must_succeed: Option<bool>,
}

/// The stores an import writes to, first one first.
#[derive(Debug, Clone)]
pub(crate) struct Targets {
    pub(crate) stores: Vec<String>,
    pub(crate) must_succeed: bool,
}

impl Targets {
    /// The default store (or the one the header names), nothing else.
    pub(crate) fn default_for(state: &AppState, header: Option<&str>) -> Result<Targets, ApiError> {
        Ok(Targets {
            stores: vec![target_store(state, header)?.id.clone()],
            must_succeed: true,
        })
    }
}

/// Reads the target stores of an import request. With one store, as Glance without
/// `enabled_backends`, `stores` and `all_stores` are not looked at: the data goes to the one
/// store. So is `all_stores_must_succeed`, which one store cannot make matter (Glance refuses
/// `false` there, but python-openstackclient sends `false` unless told otherwise and
/// openstacksdk does not check the answer, so `openstack image import` would do nothing).
fn targets(state: &AppState, body: &ImportBody, header: Option<&str>) -> Result<Targets, ApiError> {
    if !state.stores.is_multi() {
        return Targets::default_for(state, None);
    }
    let all = body.all_stores.unwrap_or(false);
    let must_succeed = body.all_stores_must_succeed.unwrap_or(true);
    let listed = body.stores.as_deref().filter(|s| !s.is_empty());
    let stores = match (all, listed) {
        (true, Some(_)) => {
            return Err(ApiError::BadRequest(
                "'stores' and 'all_stores' cannot be given together.".into(),
            ));
        }
        (true, None) => state
            .stores
            .all()
            .iter()
            .filter(|s| !s.read_only)
            .map(|s| s.id.clone())
            .collect(),
        (false, Some(ids)) => {
            let mut out: Vec<String> = Vec::with_capacity(ids.len());
            for id in ids {
                let store = target_store(state, Some(id))?;
                if !out.contains(&store.id) {
                    out.push(store.id.clone());
                }
            }
            out
        }
        (false, None) => vec![target_store(state, header)?.id.clone()],
    };
    Ok(Targets {
        stores,
        must_succeed,
    })
}

/// `POST /v2/images/{id}/import`.
pub(crate) async fn import(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Result<StatusCode, ApiError> {
    let body: ImportBody = super::extract::json_body(&raw, "Invalid import request")?;
    let header = store_header(&headers)?;
    let method = Method::parse(&body.method.name)
        .filter(|m| state.imports.methods.contains(m))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Unknown import method name '{}'.",
                body.method.name
            ))
        })?;
    match method {
        Method::GlanceDirect | Method::WebDownload => {}
        Method::CopyImage => return copy_image(state, identity, &id, &body, header).await,
        Method::GlanceDownload => {
            return glance_download(state, identity, &id, &body, &headers).await;
        }
    }
    let image = load_writable(&state, &identity, &id).await?.image;
    if body.method.name == "glance-direct"
        && let Some(host) = image.properties.get("os_glance_stage_host")
        && state.imports.self_url.as_deref() != Some(host.as_str())
    {
        return forward_import(&state, host, &id, &headers, raw).await;
    }
    let targets = targets(&state, &body, header)?;
    if body.method.name == "web-download" {
        let uri =
            body.method.uri.clone().ok_or_else(|| {
                ApiError::BadRequest("The web-download method needs a 'uri'.".into())
            })?;
        let url = checked_source(&state, &uri).await?;
        let owner = claim_for_import(&state, &image, Status::Queued).await?;
        let method = json!({"method": {"name": "web-download", "uri": uri}});
        let order = TaskOrder::image_import(&image, method, &targets);
        start_import(
            state,
            &identity,
            image,
            owner,
            Status::Queued,
            order,
            targets,
            move |state, image, store| Box::pin(fetch_into(state, image, url, store)),
        )
        .await?;
        return Ok(StatusCode::ACCEPTED);
    }
    let owner = claim_for_import(&state, &image, Status::Uploading).await?;
    let staged = state.staging.location_of(&image.id);
    let method = json!({"method": {"name": "glance-direct"}});
    let order = TaskOrder::image_import(&image, method, &targets);
    start_import(
        state,
        &identity,
        image,
        owner,
        Status::Uploading,
        order,
        targets,
        move |state, image, store| {
            Box::pin(async move {
                let result = async {
                    let room = storage_room(&state, &image, image.size).await?;
                    let stream = state.staging.read(&staged, 0, u64::MAX).await?;
                    let intake =
                        Intake::checked(&state, named(&state, &store), &image, image.size, room);
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

/// The properties `glance-download` copies from the source image (Glance's default
/// `[glance_download_properties] extra_properties`, `hw_*` and `trait:*` by prefix).
const DOWNLOADED_PROPERTIES: [&str; 5] =
    ["hw_", "trait:", "os_distro", "os_secure_boot", "os_type"];

fn copied_property(key: &str) -> bool {
    DOWNLOADED_PROPERTIES
        .iter()
        .any(|p| key == *p || (p.ends_with(['_', ':']) && key.starts_with(p)))
}

/// `glance-download` (Keystone mode): imports an image of another region's image service (or
/// this one's), found in the service catalog of the caller's token. In the background, under
/// a task: the source's formats and its `hw_*`, `trait:*`, `os_distro`, `os_secure_boot` and
/// `os_type` properties go to the image, then its data is fetched with the caller's token,
/// hashed and inspected. A failure leaves the image queued.
async fn glance_download(
    state: AppState,
    identity: Identity,
    id: &str,
    body: &ImportBody,
    headers: &HeaderMap,
) -> Result<StatusCode, ApiError> {
    if state.http.auth.keystone().is_none() {
        return Err(ApiError::NotFound(
            "Import method glance-download needs Keystone (--auth keystone).".into(),
        ));
    }
    let source = body.method.glance_image_id.clone().unwrap_or_default();
    if uuid::Uuid::parse_str(&source).is_err() {
        return Err(ApiError::BadRequest(format!(
            "Invalid glance_image_id '{source}': image id does not look like a UUID."
        )));
    }
    let region =
        body.method.glance_region.clone().ok_or_else(|| {
            ApiError::BadRequest("glance-download needs a 'glance_region'.".into())
        })?;
    let interface = body
        .method
        .glance_service_interface
        .clone()
        .unwrap_or_else(|| "public".into());
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| ApiError::Unauthorized("glance-download needs a token.".into()))?;
    let image = load_writable(&state, &identity, id).await?.image;
    if image.status != Status::Queued {
        return Err(ApiError::Conflict(format!(
            "Image {id} must be queued for glance-download: it is {}.",
            image.status
        )));
    }
    let targets = targets(&state, body, store_header(headers)?)?;
    let method = json!({"method": {"name": "glance-download", "glance_image_id": source,
        "glance_region": region, "glance_service_interface": interface}});
    let order = TaskOrder::image_import(&image, method, &targets);
    let who = identity.clone();
    let image_id = image.id.clone();
    run_task(&state, &identity, &image, order, move |state, _| {
        Box::pin(async move {
            let from = Remote {
                token,
                region,
                interface,
                image: source,
            };
            download_from_glance(&state, &who, &image_id, &from, &targets).await
        })
    })
    .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Where a glance-download takes its image from.
struct Remote {
    token: String,
    region: String,
    interface: String,
    image: String,
}

async fn download_from_glance(
    state: &AppState,
    identity: &Identity,
    id: &str,
    from: &Remote,
    targets: &Targets,
) -> Result<Value, ApiError> {
    let keystone = state
        .http
        .auth
        .keystone()
        .ok_or_else(|| ApiError::Internal("Keystone mode ended".into()))?;
    let endpoint = keystone
        .endpoint(&from.token, "image", &from.region, &from.interface)
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "No image service in region '{}' at interface '{}' in the token's catalog.",
                from.region, from.interface
            ))
        })?;
    let base = endpoint
        .trim_end_matches('/')
        .trim_end_matches("/v2")
        .to_string();
    let fetch = |path: String| {
        state
            .imports
            .peers
            .get(format!("{base}{path}"))
            .header("X-Auth-Token", &from.token)
            .send()
    };
    let unreachable = |e: reqwest::Error| {
        ApiError::BadRequest(format!(
            "The image service at {base} cannot be reached: {e}"
        ))
    };
    let r = fetch(format!("/v2/images/{}", from.image))
        .await
        .map_err(unreachable)?;
    if !r.status().is_success() {
        return Err(ApiError::BadRequest(format!(
            "The source image {} answered {} at {base}.",
            from.image,
            r.status()
        )));
    }
    let source: Value = r.json().await.map_err(unreachable)?;
    if source["status"] != "active" {
        return Err(ApiError::BadRequest(format!(
            "The source image {} is {}, not active.",
            from.image, source["status"]
        )));
    }
    // The source's formats and chosen properties, while the image is still queued.
    let mut edit = glint_core::Edit::default();
    for attr in ["disk_format", "container_format"] {
        if let Some(v) = source.get(attr).filter(|v| v.is_string()) {
            edit.attributes.insert(attr.into(), v.clone());
        }
    }
    for (k, v) in source.as_object().into_iter().flatten() {
        if copied_property(k)
            && let Some(v) = v.as_str()
        {
            edit.properties.insert(k.clone(), v.to_string());
        }
    }
    let request = glint_core::Request::Edit(edit);
    let edited = super::images::modify(
        state,
        identity,
        id,
        &HeaderMap::new(),
        false,
        "glance-download",
        |_| Ok(request.clone()),
    )
    .await?;
    let image = match edited {
        super::images::Outcome::Applied(stored) => stored.image,
        super::images::Outcome::Preview(_, stored) => stored.image,
    };
    let owner = claim_for_import(state, &image, Status::Queued).await?;
    let data = async {
        let r = fetch(format!("/v2/images/{}/file", from.image))
            .await
            .map_err(unreachable)?;
        if !r.status().is_success() {
            return Err(ApiError::BadRequest(format!(
                "The source image's data answered {}.",
                r.status()
            )));
        }
        let declared = r.content_length();
        let room = storage_room(state, &image, declared).await?;
        let store = named(state, &targets.stores[0]);
        let intake = Intake::checked(state, store, &image, declared, room);
        ingest(state, intake, Box::pin(r.bytes_stream())).await
    };
    import_data(state, &image, &owner, targets, data).await
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

/// What a task records about the request that started it.
pub(crate) struct TaskOrder {
    /// `api_image_import` for `POST /v2/images/{id}/import`, `import` for `POST /v2/tasks`.
    pub(crate) kind: &'static str,
    pub(crate) input: Value,
}

impl TaskOrder {
    fn image_import(image: &Image, import_req: Value, targets: &Targets) -> TaskOrder {
        TaskOrder {
            kind: "api_image_import",
            input: json!({
                "image_id": image.id,
                "import_req": import_req,
                "backend": targets.stores,
            }),
        }
    }
}

/// Records a task for an import of `image`, takes the image's import lock for it (409 if
/// another import holds it), and runs `work` in the background; the task records its outcome
/// (`work`'s result, or the reason it failed) and the lock is released after.
pub(crate) async fn run_task(
    state: &AppState,
    identity: &Identity,
    image: &Image,
    order: TaskOrder,
    work: impl FnOnce(AppState, String) -> BoxFuture<'static, Result<Value, ApiError>> + Send + 'static,
) -> Result<crate::db::Task, ApiError> {
    let now = crate::time::now_micros();
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
        created_at: now,
        updated_at: now,
        expires_at: None,
    };
    let lock_owner = format!("{}/{}", state.node, task.id);
    if let Some(holder) = state
        .db
        .take_import_lock(&image.id, &task.id, &lock_owner)
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "Image {} has an import in progress (task {holder}); try again when it ends.",
            image.id
        )));
    }
    if let Err(e) = state.db.start_task(&task).await {
        let _ = state.db.release_import_lock(&image.id, &task.id).await;
        return Err(e.into());
    }
    let (state, task_id, image_id) = (state.clone(), task.id.clone(), image.id.clone());
    tokio::spawn(async move {
        let result = work(state.clone(), task_id.clone()).await;
        let (status, message, outcome) = match result {
            Ok(outcome) => ("success", String::new(), outcome),
            Err(e) => {
                tracing::warn!(image = %image_id, "import failed: {e}");
                ("failure", e.task_message(), json!({"image_id": image_id}))
            }
        };
        if let Err(e) = state
            .db
            .finish_task(&task_id, status, &message, Some(&outcome))
            .await
        {
            tracing::error!(task = %task_id, "cannot record the import's outcome: {e}");
        }
        if let Err(e) = state.db.release_import_lock(&image_id, &task_id).await {
            tracing::error!(image = %image_id, "cannot release the import lock: {e}");
        }
    });
    Ok(task)
}

/// Runs an import of data into an image already `importing` under `owner` (from `was`):
/// `work` writes the data to the first target store; it is then copied to the others, and
/// becomes the image's (`active`). A failure puts the image back to `queued`. If the task
/// cannot start, the image goes back to `was`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start_import(
    state: AppState,
    identity: &Identity,
    image: Image,
    owner: String,
    was: Status,
    order: TaskOrder,
    targets: Targets,
    work: impl FnOnce(AppState, Image, String) -> BoxFuture<'static, Result<Ingested, ApiError>>
    + Send
    + 'static,
) -> Result<crate::db::Task, ApiError> {
    let image_id = image.id.clone();
    let started = run_task(&state, identity, &image.clone(), order, move |state, _| {
        Box::pin(async move {
            let first = targets.stores[0].clone();
            let data = work(state.clone(), image.clone(), first);
            import_data(&state, &image, &owner, &targets, data).await
        })
    })
    .await;
    if started.is_err() {
        let _ = state
            .db
            .transition(&image_id, &[Status::Importing], was, None)
            .await;
    }
    started
}

/// The end of an import into an image `importing` under `owner`: `data` writes it to the first
/// target store; it is copied to the others, and becomes the image's (`active`), the progress
/// shown on the image as it goes. Any failure puts the image back to `queued`.
async fn import_data(
    state: &AppState,
    image: &Image,
    owner: &str,
    targets: &Targets,
    data: impl std::future::Future<Output = Result<Ingested, ApiError>>,
) -> Result<Value, ApiError> {
    let guard = UploadGuard::new(state, &image.id, Status::Importing);
    let first = &targets.stores[0];
    let mut progress = Progress::start(state, &image.id, &targets.stores).await;
    let result = async {
        let mut data = data.await?;
        let copies = copy_everywhere(
            state,
            image,
            &data,
            &targets.stores[1..],
            targets,
            &mut progress,
        )
        .await?;
        data.locations.extend(copies);
        finish(state, image, Status::Importing, owner, data).await?;
        progress.store_done(first, true).await;
        Ok(outcome(state, image, targets, &progress.failed))
    }
    .await;
    if result.is_err() {
        progress.fail_rest().await;
    }
    guard.settle(result).await
}

/// An import's progress as Glance shows it on the image (with several stores):
/// `os_glance_importing_to_stores` lists the stores still to do, `os_glance_failed_import` the
/// ones that failed.
struct Progress {
    state: AppState,
    image_id: String,
    importing: Vec<String>,
    failed: Vec<String>,
}

impl Progress {
    async fn start(state: &AppState, image_id: &str, stores: &[String]) -> Progress {
        let p = Progress {
            state: state.clone(),
            image_id: image_id.to_string(),
            importing: stores.to_vec(),
            failed: Vec::new(),
        };
        p.write().await;
        p
    }

    async fn write(&self) {
        if !self.state.stores.is_multi() {
            return;
        }
        let properties = [
            (
                "os_glance_importing_to_stores".to_string(),
                self.importing.join(","),
            ),
            ("os_glance_failed_import".to_string(), self.failed.join(",")),
        ];
        if let Err(e) = self
            .state
            .db
            .set_server_properties(&self.image_id, &properties)
            .await
        {
            tracing::warn!(image = %self.image_id, "cannot record the import's progress: {e}");
        }
    }

    /// A store is done, well or not.
    async fn store_done(&mut self, store: &str, ok: bool) {
        self.importing.retain(|s| s != store);
        if !ok {
            self.failed.push(store.to_string());
        }
        self.write().await;
    }

    /// The import ended in failure: every store not done has failed.
    async fn fail_rest(&mut self) {
        let rest = std::mem::take(&mut self.importing);
        self.failed.extend(rest);
        self.write().await;
    }
}

/// A finished import's task result.
fn outcome(state: &AppState, image: &Image, targets: &Targets, failed: &[String]) -> Value {
    let mut v = json!({"image_id": image.id});
    if state.stores.is_multi() {
        let done: Vec<&String> = targets
            .stores
            .iter()
            .filter(|s| !failed.contains(s))
            .collect();
        v["stores"] = json!(done);
        v["failed_stores"] = json!(failed);
    }
    v
}

/// Copies data just written (`data`, not yet the image's) into `stores`. With
/// `must_succeed`, the first failure removes every copy and the data itself and fails;
/// otherwise failed stores are listed.
async fn copy_everywhere(
    state: &AppState,
    image: &Image,
    data: &Ingested,
    stores: &[String],
    targets: &Targets,
    progress: &mut Progress,
) -> Result<Vec<Location>, ApiError> {
    let (md5, sha512) = data
        .digests
        .clone()
        .ok_or_else(|| ApiError::Internal("no digests".into()))?;
    let source = Source {
        locations: data.locations.clone(),
        size: data.size,
        md5,
        sha512,
    };
    let mut copies = Vec::new();
    for id in stores {
        match copy_to(state, image, &source, id).await {
            Ok(location) => {
                copies.push(location);
                progress.store_done(id, true).await;
            }
            Err(e) if targets.must_succeed => {
                state.stores.delete_all(&copies).await;
                state.stores.delete_all(&data.locations).await;
                return Err(ApiError::BadRequest(format!(
                    "Import to store {id} failed: {e}"
                )));
            }
            Err(e) => {
                tracing::warn!(image = %image.id, store = %id, "import to this store failed: {e}");
                progress.store_done(id, false).await;
            }
        }
    }
    Ok(copies)
}

/// Data to copy: where it is and what it must hash to.
struct Source {
    locations: Vec<Location>,
    size: u64,
    md5: String,
    sha512: String,
}

/// Copies an image's data into store `id`, hashed and inspected again; a copy whose digests
/// differ from the source's is removed and refused.
async fn copy_to(
    state: &AppState,
    image: &Image,
    source: &Source,
    id: &str,
) -> Result<Location, ApiError> {
    let stream = state.stores.read(&source.locations, 0, source.size).await?;
    let intake = Intake::checked(state, named(state, id), image, Some(source.size), None);
    let copied = ingest(state, intake, stream).await?;
    let location = copied
        .locations
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("a copy without a location".into()))?;
    if copied.digests != Some((source.md5.clone(), source.sha512.clone())) {
        state
            .stores
            .delete_all(std::slice::from_ref(&location))
            .await;
        return Err(ApiError::Internal(format!(
            "the copy in store {id} does not hash as the image's data"
        )));
    }
    Ok(location)
}

/// `copy-image`: an administrator copies an active image's data into more stores. The image
/// stays active meanwhile; each copy is added as a location when the task ends.
async fn copy_image(
    state: AppState,
    identity: Identity,
    id: &str,
    body: &ImportBody,
    header: Option<&str>,
) -> Result<StatusCode, ApiError> {
    let stored = load_visible(&state, &identity, id).await?;
    if !identity.caller.is_admin() {
        return Err(ApiError::Forbidden(
            "You are not authorized to complete copy_image action.".into(),
        ));
    }
    let image = stored.image;
    if image.status != Status::Active {
        return Err(ApiError::Conflict(format!(
            "Image {} must be active to be copied: it is {}.",
            image.id, image.status
        )));
    }
    if !state.stores.is_multi() {
        // The one store holds the data already.
        return Err(ApiError::Conflict(format!(
            "Image {} is already in every store.",
            image.id
        )));
    }
    let (Some(size), Some(md5), Some(sha512)) = (
        image.size,
        image.checksum.clone(),
        image.os_hash_value.clone(),
    ) else {
        return Err(ApiError::Conflict(format!(
            "Image {} has no data to copy.",
            image.id
        )));
    };
    let mut targets = targets(&state, body, header)?;
    let held: Vec<String> = image
        .locations
        .iter()
        .filter_map(|l| state.stores.holding(l).map(|s| s.id.clone()))
        .collect();
    if body.stores.is_some() {
        if let Some(already) = targets.stores.iter().find(|s| held.contains(s)) {
            return Err(ApiError::Conflict(format!(
                "Image {} is already present in store {already}.",
                image.id
            )));
        }
    } else {
        targets.stores.retain(|s| !held.contains(s));
    }
    if targets.stores.is_empty() {
        return Err(ApiError::Conflict(format!(
            "Image {} is already in every store.",
            image.id
        )));
    }
    let source = Source {
        locations: image.locations.clone(),
        size,
        md5,
        sha512,
    };
    let method = json!({"method": {"name": "copy-image"}});
    let order = TaskOrder::image_import(&image, method, &targets);
    let task_image = image.clone();
    run_task(&state, &identity, &image, order, move |state, _| {
        Box::pin(async move {
            let image = task_image;
            let mut progress = Progress::start(&state, &image.id, &targets.stores).await;
            let result = copy_image_to(&state, &image, &source, &targets, &mut progress).await;
            if result.is_err() {
                progress.fail_rest().await;
            }
            result
        })
    })
    .await?;
    Ok(StatusCode::ACCEPTED)
}

/// A store chosen when the import was asked for (checked then), by id.
fn named<'a>(state: &'a AppState, id: &str) -> &'a crate::store::NamedStore {
    state
        .stores
        .get(id)
        .unwrap_or_else(|| state.stores.default_store())
}

/// Copies an active image's data into each target store and adds the copies as locations.
async fn copy_image_to(
    state: &AppState,
    image: &Image,
    source: &Source,
    targets: &Targets,
    progress: &mut Progress,
) -> Result<Value, ApiError> {
    for id in &targets.stores {
        let copied = match copy_to(state, image, source, id).await {
            Ok(location) => location,
            Err(e) if targets.must_succeed => {
                return Err(ApiError::BadRequest(format!(
                    "Copying to store {id} failed: {e}"
                )));
            }
            Err(e) => {
                tracing::warn!(image = %image.id, store = %id, "copy failed: {e}");
                progress.store_done(id, false).await;
                continue;
            }
        };
        if !state.db.add_location(&image.id, &copied).await? {
            state.stores.delete_all(std::slice::from_ref(&copied)).await;
            return Err(ApiError::Gone(
                "The image was deleted or deactivated while it was being copied.".into(),
            ));
        }
        progress.store_done(id, true).await;
    }
    Ok(outcome(state, image, targets, &progress.failed))
}

/// Parses and checks a URI the server is asked to fetch: it must pass the guard's filtering
/// (scheme, port, allowed hosts); resolved addresses and redirects are checked as it is fetched.
pub(crate) async fn checked_source(state: &AppState, uri: &str) -> Result<reqwest::Url, ApiError> {
    let url = reqwest::Url::parse(uri)
        .map_err(|e| ApiError::BadRequest(format!("Invalid URI for web-download: {e}")))?;
    state
        .imports
        .guard
        .check_resolving(&url)
        .await
        .map_err(|why| {
            ApiError::BadRequest(format!(
                "URI for web-download does not pass filtering: {why}"
            ))
        })?;
    Ok(url)
}

/// Moves an image from `from` (`queued` for web-download, `uploading` for glance-direct) to
/// `importing` under a fresh owner token, or says why it cannot (409).
pub(crate) async fn claim_for_import(
    state: &AppState,
    image: &Image,
    from: Status,
) -> Result<String, ApiError> {
    if image.disk_format.is_none() || image.container_format.is_none() {
        return Err(ApiError::Conflict(
            "'disk_format' and 'container_format' must be set before import.".into(),
        ));
    }
    let owner = format!("{}/{}", state.node, uuid::Uuid::new_v4().simple());
    if image.status != from
        || !state
            .db
            .transition(&image.id, &[from], Status::Importing, Some(&owner))
            .await?
    {
        return Err(ApiError::Conflict(format!(
            "Image {} must be {from} for this import: it is {}.",
            image.id, image.status
        )));
    }
    Ok(owner)
}

/// `GET url` through the import guard; `failed` starts the message when it does not answer
/// with success.
pub(crate) async fn fetch_guarded(
    state: &AppState,
    url: reqwest::Url,
    failed: &str,
) -> Result<reqwest::Response, ApiError> {
    let response = state
        .imports
        .client
        .get(url)
        .send()
        .await
        .map_err(|e| ApiError::BadRequest(format!("{failed}: {e}")))?;
    if !response.status().is_success() {
        return Err(ApiError::BadRequest(format!(
            "{failed}: the source answered {}",
            response.status()
        )));
    }
    Ok(response)
}

/// Streams `url` into the image's data in `store` through hashing, inspection and the quota.
pub(crate) async fn fetch_into(
    state: AppState,
    image: Image,
    url: reqwest::Url,
    store: String,
) -> Result<Ingested, ApiError> {
    let response = fetch_guarded(&state, url, "web-download failed").await?;
    let declared = response.content_length();
    let room = storage_room(&state, &image, declared).await?;
    let intake = Intake::checked(&state, named(&state, &store), &image, declared, room);
    ingest(&state, intake, Box::pin(response.bytes_stream())).await
}

/// `DELETE /v2/stores/{store}/{image}` (administrators): removes an image's data from one
/// store, as long as another store keeps a copy.
pub(crate) async fn delete_from_store(
    State(state): State<AppState>,
    identity: Identity,
    Path((store_id, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if !state.stores.is_multi() {
        return Err(ApiError::NotFound(
            "Multi backend is not supported at this site.".into(),
        ));
    }
    if !identity.caller.is_admin() {
        return Err(ApiError::Forbidden(
            "You are not authorized to complete delete_image_location action.".into(),
        ));
    }
    let store = state
        .stores
        .get(&store_id)
        .ok_or_else(|| ApiError::NotFound(format!("Unknown store {store_id}.")))?;
    let image = load_visible(&state, &identity, &id).await?.image;
    if image.status != Status::Active {
        return Err(ApiError::Conflict(format!(
            "Image {id} must be active to be deleted from a store: it is {}.",
            image.status
        )));
    }
    let Some(location) = image
        .locations
        .iter()
        .find(|l| state.stores.holding(l).is_some_and(|s| s.id == store.id))
    else {
        return Err(ApiError::NotFound(format!(
            "Image {id} is not present in store {store_id}."
        )));
    };
    if store.read_only {
        return Err(ApiError::Conflict(format!(
            "Store {store_id} is read-only: its data cannot be deleted."
        )));
    }
    if !state.db.remove_location(&id, &location.url).await? {
        return Err(ApiError::Conflict(format!(
            "Store {store_id} holds the only copy of image {id}; delete the image instead."
        )));
    }
    state
        .stores
        .delete_all(std::slice::from_ref(location))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
