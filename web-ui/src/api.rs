//! Every HTTP call the UI makes. Components call these functions; they never build requests.
//!
//! The token issued at login is kept in the browser's local storage and sent as
//! `X-Auth-Token`, as OpenStack clients do. Errors come back in the server's JSON error shape
//! and are turned into [`ApiError`] with the server's own message.

use std::cell::RefCell;
use std::rc::Rc;

use glint_core::{Caller, Image, Plan, PropertyProtections, Settings};
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

const TOKEN_KEY: &str = "glint.token";

/// A failed call: the HTTP status (0 when the server could not be reached) and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} (HTTP {})", self.message, self.status)
        }
    }
}

type Result<T> = std::result::Result<T, ApiError>;

fn unreachable_server(e: impl std::fmt::Display) -> ApiError {
    ApiError {
        status: 0,
        message: format!("The server cannot be reached: {e}"),
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

pub(crate) fn token() -> Option<String> {
    storage()?.get_item(TOKEN_KEY).ok().flatten()
}

fn set_token(token: Option<&str>) {
    if let Some(s) = storage() {
        let _ = match token {
            Some(t) => s.set_item(TOKEN_KEY, t),
            None => s.remove_item(TOKEN_KEY),
        };
    }
}

fn authed(builder: RequestBuilder) -> RequestBuilder {
    let builder = builder.header("Accept", "application/json");
    match token() {
        Some(t) => builder.header("X-Auth-Token", &t),
        None => builder,
    }
}

/// The server's message from an error response, or the status line when it has none.
async fn error_of(response: Response) -> ApiError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| {
            if text.trim().is_empty() {
                response.status_text()
            } else {
                text
            }
        });
    ApiError { status, message }
}

thread_local! {
    /// What the app does when the server says the session is over.
    static SESSION_ENDED: std::cell::RefCell<Option<std::rc::Rc<dyn Fn()>>> =
        const { std::cell::RefCell::new(None) };
}

/// Sets what happens when a request that carried a token is answered 401 (the token expired
/// or was revoked): one place for every call the UI makes.
pub(crate) fn on_session_end(then: impl Fn() + 'static) {
    SESSION_ENDED.with(|s| *s.borrow_mut() = Some(std::rc::Rc::new(then)));
}

async fn send(request: std::result::Result<Request, gloo_net::Error>) -> Result<Response> {
    let request = request.map_err(unreachable_server)?;
    let response = request.send().await.map_err(unreachable_server)?;
    if response.ok() {
        return Ok(response);
    }
    let error = error_of(response).await;
    if error.status == 401 && token().is_some() {
        set_token(None);
        if let Some(then) = SESSION_ENDED.with(|s| s.borrow().clone()) {
            then();
        }
    }
    Err(error)
}

async fn json_of<T: for<'de> Deserialize<'de>>(response: Response) -> Result<T> {
    let status = response.status();
    response.json::<T>().await.map_err(|e| ApiError {
        status,
        message: format!("The server's answer cannot be read: {e}"),
    })
}

fn image_of(value: &Value) -> Result<Image> {
    glint_core::image_from_v2(value).map_err(|e| ApiError {
        status: 200,
        message: e.to_string(),
    })
}

// ---------------------------------------------------------------------------------------------
// Session

/// Who is logged in, and what planning needs to know about the deployment.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) user: String,
    pub(crate) project_id: Option<String>,
    pub(crate) project: String,
    pub(crate) roles: Vec<String>,
    pub(crate) settings: Settings,
    pub(crate) protections: Option<PropertyProtections>,
    /// The deployment's policy rules: Glance's defaults with the operator's file over them.
    pub(crate) policy: glint_core::policy::Policy,
}

impl Session {
    pub(crate) fn caller(&self) -> Caller {
        let roles: Vec<&str> = self.roles.iter().map(String::as_str).collect();
        Caller::new(self.project_id.as_deref(), &roles)
    }

    /// The plan the server will make for `request` on `image`, made here with the same code,
    /// settings and protections.
    pub(crate) fn plan(&self, image: &Image, request: &glint_core::Request) -> Plan {
        let caller = self.caller();
        let mut ctx =
            glint_core::PlanContext::new(&caller, &self.settings).with_policy(&self.policy);
        if let Some(p) = &self.protections {
            ctx = ctx.with_protections(p);
        }
        glint_core::plan(image, request, &ctx)
    }

    /// Whether the policy `name` lets this session act on `image`, as the server decides.
    pub(crate) fn allows(&self, name: &str, image: &Image) -> bool {
        let caller = self.caller();
        glint_core::PlanContext::new(&caller, &self.settings)
            .with_policy(&self.policy)
            .allows(name, image, false)
    }
}

#[derive(Deserialize)]
struct Named {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Planning {
    #[serde(default)]
    settings: Settings,
    #[serde(default)]
    property_protections: Option<String>,
    /// The operator's policy rules, `(name, rule)`.
    #[serde(default)]
    policy: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct WhoAmI {
    user: Named,
    project: Named,
    #[serde(default)]
    roles: Vec<String>,
    planning: Option<Planning>,
}

/// Logs in and keeps the token.
pub(crate) async fn login(username: &str, password: &str) -> Result<Session> {
    let body = json!({"username": username, "password": password});
    let response = send(Request::post("/auth/login").json(&body)).await?;
    let issued: Value = json_of(response).await?;
    let token = issued
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError {
            status: 201,
            message: "The login answer carries no token.".into(),
        })?;
    set_token(Some(token));
    whoami().await
}

/// The session the stored token speaks for.
pub(crate) async fn whoami() -> Result<Session> {
    let response = send(authed(Request::get("/auth/whoami")).build()).await?;
    let me: WhoAmI = json_of(response).await?;
    let planning = me.planning.unwrap_or(Planning {
        settings: Settings::default(),
        property_protections: None,
        policy: Vec::new(),
    });
    let protections = match planning.property_protections {
        Some(text) => Some(PropertyProtections::parse(&text).map_err(|e| ApiError {
            status: 200,
            message: format!("The server's property protections cannot be read: {e}"),
        })?),
        None => None,
    };
    let policy = glint_core::policy::Policy::glance_defaults()
        .overridden(&planning.policy)
        .map_err(|e| ApiError {
            status: 200,
            message: format!("The server's policy rules cannot be read: {e}"),
        })?;
    Ok(Session {
        user: me.user.name.or(me.user.id).unwrap_or_else(|| "?".into()),
        project: me
            .project
            .name
            .or_else(|| me.project.id.clone())
            .unwrap_or_else(|| "no project".into()),
        project_id: me.project.id,
        roles: me.roles,
        settings: planning.settings,
        protections,
        policy,
    })
}

/// Revokes the token (the server also clears the download cookie) and forgets it.
pub(crate) async fn logout() {
    let _ = send(authed(Request::post("/auth/logout")).build()).await;
    set_token(None);
}

// ---------------------------------------------------------------------------------------------
// Images

/// One page of the image list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    pub(crate) images: Vec<Image>,
    /// The marker of the next page, when there is one.
    pub(crate) next: Option<String>,
}

/// `GET /v2/images` with the given query pairs.
pub(crate) async fn list_images(query: &[(String, String)]) -> Result<Page> {
    let mut url = String::from("/v2/images");
    if !query.is_empty() {
        url.push('?');
        url.push_str(&crate::route::encode_query(query));
    }
    let response = send(authed(Request::get(&url)).build()).await?;
    let body: Value = json_of(response).await?;
    let images = body
        .get("images")
        .and_then(Value::as_array)
        .map(|items| items.iter().map(image_of).collect::<Result<Vec<_>>>())
        .transpose()?
        .unwrap_or_default();
    let next = body
        .get("next")
        .and_then(Value::as_str)
        .and_then(|next| {
            next.split_once('?')
                .map(|(_, q)| crate::route::decode_query(q))
        })
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "marker"))
        .map(|(_, v)| v);
    Ok(Page { images, next })
}

/// An image and the version (`ETag`) it was read at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Versioned {
    pub(crate) image: Image,
    pub(crate) etag: Option<String>,
}

pub(crate) async fn get_image(id: &str) -> Result<Versioned> {
    let response = send(authed(Request::get(&format!("/v2/images/{id}"))).build()).await?;
    let etag = response.headers().get("etag");
    let body: Value = json_of(response).await?;
    Ok(Versioned {
        image: image_of(&body)?,
        etag,
    })
}

pub(crate) async fn create_image(body: &Value) -> Result<Image> {
    let response = send(authed(Request::post("/v2/images")).json(body)).await?;
    image_of(&json_of::<Value>(response).await?)
}

/// What a `PATCH` ended with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Patched {
    Done(Box<Versioned>),
    /// The image changed since `If-Match`'s version (412): nothing was written.
    Stale(String),
}

/// Sends a JSON patch guarded by `If-Match`.
pub(crate) async fn patch_image(id: &str, patch: &Value, etag: Option<&str>) -> Result<Patched> {
    let mut builder = authed(Request::patch(&format!("/v2/images/{id}"))).header(
        "Content-Type",
        "application/openstack-images-v2.1-json-patch",
    );
    if let Some(etag) = etag {
        builder = builder.header("If-Match", etag);
    }
    patched(send(builder.body(patch.to_string())).await).await
}

/// The outcome of a write guarded by `If-Match`: the image as it now is, or 412.
async fn patched(sent: Result<Response>) -> Result<Patched> {
    match sent {
        Ok(response) => {
            let etag = response.headers().get("etag");
            let body: Value = json_of(response).await?;
            Ok(Patched::Done(Box::new(Versioned {
                image: image_of(&body)?,
                etag,
            })))
        }
        Err(e) if e.status == 412 => Ok(Patched::Stale(e.message)),
        Err(e) => Err(e),
    }
}

pub(crate) async fn delete_image(id: &str) -> Result<()> {
    send(authed(Request::delete(&format!("/v2/images/{id}"))).build())
        .await
        .map(|_| ())
}

/// `deactivate` or `reactivate`.
pub(crate) async fn image_action(id: &str, action: &str) -> Result<()> {
    send(authed(Request::post(&format!("/v2/images/{id}/actions/{action}"))).build())
        .await
        .map(|_| ())
}

pub(crate) async fn add_tag(id: &str, tag: &str) -> Result<()> {
    let tag = crate::route::encode(tag);
    send(authed(Request::put(&format!("/v2/images/{id}/tags/{tag}"))).build())
        .await
        .map(|_| ())
}

pub(crate) async fn remove_tag(id: &str, tag: &str) -> Result<()> {
    let tag = crate::route::encode(tag);
    send(authed(Request::delete(&format!("/v2/images/{id}/tags/{tag}"))).build())
        .await
        .map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// Members

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Member {
    pub(crate) member_id: String,
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) updated_at: Option<String>,
}

pub(crate) async fn members(id: &str) -> Result<Vec<Member>> {
    #[derive(Deserialize)]
    struct Members {
        members: Vec<Member>,
    }
    let response = send(authed(Request::get(&format!("/v2/images/{id}/members"))).build()).await?;
    Ok(json_of::<Members>(response).await?.members)
}

pub(crate) async fn add_member(id: &str, project: &str) -> Result<()> {
    let body = json!({"member": project});
    send(authed(Request::post(&format!("/v2/images/{id}/members"))).json(&body))
        .await
        .map(|_| ())
}

pub(crate) async fn remove_member(id: &str, project: &str) -> Result<()> {
    let project = crate::route::encode(project);
    send(
        authed(Request::delete(&format!(
            "/v2/images/{id}/members/{project}"
        )))
        .build(),
    )
    .await
    .map(|_| ())
}

pub(crate) async fn set_member_status(id: &str, project: &str, status: &str) -> Result<()> {
    let project = crate::route::encode(project);
    let body = json!({"status": status});
    send(authed(Request::put(&format!("/v2/images/{id}/members/{project}"))).json(&body))
        .await
        .map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// History

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct ChangeRecord {
    pub(crate) id: i64,
    pub(crate) changed_at: String,
    #[serde(default)]
    pub(crate) user_id: Option<String>,
    #[serde(default)]
    pub(crate) project_id: Option<String>,
    pub(crate) action: String,
    #[serde(default)]
    pub(crate) added: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) changed: std::collections::BTreeMap<String, glint_core::Change<String>>,
    #[serde(default)]
    pub(crate) removed: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) purge: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct PropertyRow {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) deleted: bool,
    #[serde(default)]
    pub(crate) deleted_at: Option<String>,
    /// Removed at a time nobody recorded (rows adopted from an old Glance).
    #[serde(default)]
    pub(crate) deleted_at_unknown: bool,
    pub(crate) updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct History {
    pub(crate) changes: Vec<ChangeRecord>,
    pub(crate) properties: Vec<PropertyRow>,
}

pub(crate) async fn history(id: &str) -> Result<History> {
    let response = send(authed(Request::get(&format!("/v2/images/{id}/history"))).build()).await?;
    json_of(response).await
}

/// The server's plan for restoring these keys, and the version it was computed at.
pub(crate) async fn preview_restore(id: &str, keys: &[String]) -> Result<(Plan, Option<String>)> {
    let body = json!({"properties": keys});
    let response = send(
        authed(Request::post(&format!("/v2/images/{id}/history/restore")))
            .header("Prefer", "return=preview")
            .json(&body),
    )
    .await?;
    let etag = response.headers().get("etag");
    Ok((json_of(response).await?, etag))
}

/// Restores these keys, if the image is still at `etag`.
pub(crate) async fn restore(id: &str, keys: &[String], etag: Option<&str>) -> Result<Patched> {
    let body = json!({"properties": keys});
    let mut builder = authed(Request::post(&format!("/v2/images/{id}/history/restore")));
    if let Some(etag) = etag {
        builder = builder.header("If-Match", etag);
    }
    patched(send(builder.json(&body)).await).await
}

// ---------------------------------------------------------------------------------------------
// Upload, with progress (fetch cannot report upload progress; XMLHttpRequest can)

/// How far an upload has come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Progress {
    pub(crate) sent: f64,
    pub(crate) total: f64,
}

/// An upload in flight; dropping it after the end releases its callbacks.
pub(crate) struct Upload {
    xhr: web_sys::XmlHttpRequest,
    _callbacks: Vec<Closure<dyn FnMut(web_sys::ProgressEvent)>>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upload")
    }
}

impl Upload {
    /// Stops the upload; the server puts the image back to `queued`.
    pub(crate) fn cancel(&self) {
        let _ = self.xhr.abort();
    }
}

/// How an upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UploadEnd {
    Done,
    Cancelled,
    Failed(ApiError),
}

type OnEnd = Box<dyn FnOnce(UploadEnd)>;

/// Reads what core's inspector asks for of a file (its head, the regions its headers point to,
/// its end) with `File.slice`, so a file of any size is judged in a few small reads, with the
/// same verdict as reading it all. Nothing is sent.
pub(crate) async fn inspect_file(file: &web_sys::File) -> Result<glint_core::inspect::Verdict> {
    let unreadable = |e: wasm_bindgen::JsValue| ApiError {
        status: 0,
        message: format!("The file cannot be read: {e:?}"),
    };
    let size = file.size() as u64;
    let mut inspector = glint_core::inspect::Inspector::new();
    while let Some((at, len)) = inspector.next_read(size) {
        let piece = file
            .slice_with_f64_and_f64(at as f64, (at + len) as f64)
            .map_err(unreadable)?;
        let buffer = wasm_bindgen_futures::JsFuture::from(piece.array_buffer())
            .await
            .map_err(unreadable)?;
        inspector.skip_to(at);
        inspector.feed(&js_sys::Uint8Array::new(&buffer).to_vec());
    }
    Ok(inspector.finish())
}

/// Starts `PUT /v2/images/{id}/file` with the file's bytes. `progress` is called as bytes go
/// out, `done` once at the end.
pub(crate) fn upload(
    id: &str,
    file: &web_sys::File,
    progress: impl Fn(Progress) + 'static,
    done: impl FnOnce(UploadEnd) + 'static,
) -> Result<Upload> {
    send_file(&format!("/v2/images/{id}/file"), file, progress, done)
}

/// Stages a file for a glance-direct import (`PUT /v2/images/{id}/stage`), as [`upload`].
pub(crate) fn stage(
    id: &str,
    file: &web_sys::File,
    progress: impl Fn(Progress) + 'static,
    done: impl FnOnce(UploadEnd) + 'static,
) -> Result<Upload> {
    send_file(&format!("/v2/images/{id}/stage"), file, progress, done)
}

/// Waits `ms` milliseconds.
pub(crate) async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Starts the glance-direct import of staged data.
pub(crate) async fn import_staged(id: &str) -> Result<()> {
    let body = serde_json::json!({"method": {"name": "glance-direct"}});
    send(authed(Request::post(&format!("/v2/images/{id}/import"))).json(&body))
        .await
        .map(|_| ())
}

/// The message of the image's last failed task, if any.
pub(crate) async fn last_task_failure(id: &str) -> Result<Option<String>> {
    let response = send(authed(Request::get(&format!("/v2/images/{id}/tasks"))).build()).await?;
    let body: Value = json_of(response).await?;
    Ok(body["tasks"].as_array().and_then(|tasks| {
        tasks
            .iter()
            .filter(|t| t["status"] == "failure")
            .max_by(|a, b| {
                a["updated_at"]
                    .as_str()
                    .unwrap_or_default()
                    .cmp(b["updated_at"].as_str().unwrap_or_default())
            })
            .and_then(|t| t["message"].as_str().map(str::to_string))
    }))
}

/// `PUT`s a file to `path` with progress events.
fn send_file(
    path: &str,
    file: &web_sys::File,
    progress: impl Fn(Progress) + 'static,
    done: impl FnOnce(UploadEnd) + 'static,
) -> Result<Upload> {
    let fail = |e: wasm_bindgen::JsValue| ApiError {
        status: 0,
        message: format!("The upload cannot start: {e:?}"),
    };
    let xhr = web_sys::XmlHttpRequest::new().map_err(fail)?;
    xhr.open_with_async("PUT", path, true).map_err(fail)?;
    xhr.set_request_header("Content-Type", "application/octet-stream")
        .map_err(fail)?;
    xhr.set_request_header("Accept", "application/json")
        .map_err(fail)?;
    if let Some(t) = token() {
        xhr.set_request_header("X-Auth-Token", &t).map_err(fail)?;
    }
    let done: Rc<RefCell<Option<OnEnd>>> = Rc::new(RefCell::new(Some(Box::new(done))));
    let finish = {
        let done = done.clone();
        move |end: UploadEnd| {
            if let Some(f) = done.borrow_mut().take() {
                f(end);
            }
        }
    };
    let on_progress =
        Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |e: web_sys::ProgressEvent| {
            if e.length_computable() {
                progress(Progress {
                    sent: e.loaded(),
                    total: e.total(),
                });
            }
        });
    let on_load = {
        let xhr = xhr.clone();
        let finish = finish.clone();
        Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |_| {
            let status = xhr.status().unwrap_or(0);
            if (200..300).contains(&status) {
                finish(UploadEnd::Done);
            } else {
                let text = xhr.response_text().ok().flatten().unwrap_or_default();
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or(text);
                finish(UploadEnd::Failed(ApiError { status, message }));
            }
        })
    };
    let on_error = {
        let finish = finish.clone();
        Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |_| {
            finish(UploadEnd::Failed(ApiError {
                status: 0,
                message: "The connection broke during the upload.".into(),
            }));
        })
    };
    let on_abort = Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |_| {
        finish(UploadEnd::Cancelled);
    });
    if let Ok(target) = xhr.upload() {
        target.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    }
    xhr.set_onload(Some(on_load.as_ref().unchecked_ref()));
    xhr.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    xhr.set_onabort(Some(on_abort.as_ref().unchecked_ref()));
    xhr.send_with_opt_blob(Some(file)).map_err(fail)?;
    Ok(Upload {
        xhr,
        _callbacks: vec![on_progress, on_load, on_error, on_abort],
    })
}

/// The resource type whose metadata definitions describe image properties.
const IMAGE_RESOURCE_TYPE: &str = "OS::Glance::Image";

/// The metadata definitions of image properties (every namespace associated with images that
/// the caller can read), keyed by property key with the association's prefix. A catalogue
/// that cannot be read gives none: the editor then offers plain text inputs.
pub(crate) async fn image_definitions()
-> Result<std::collections::BTreeMap<String, glint_core::metadefs::Definition>> {
    #[derive(Deserialize)]
    struct Listed {
        namespace: String,
    }
    #[derive(Deserialize)]
    struct Page {
        namespaces: Vec<Listed>,
        next: Option<String>,
    }
    let mut names = Vec::new();
    let mut next = Some(format!(
        "/v2/metadefs/namespaces?limit=1000&resource_types={}",
        String::from(js_sys::encode_uri_component(IMAGE_RESOURCE_TYPE))
    ));
    while let Some(path) = next.take() {
        let page: Page = json_of(send(authed(Request::get(&path)).build()).await?).await?;
        names.extend(page.namespaces.into_iter().map(|n| n.namespace));
        next = page.next;
    }
    let mut found = std::collections::BTreeMap::new();
    for name in names {
        let path = format!(
            "/v2/metadefs/namespaces/{}",
            String::from(js_sys::encode_uri_component(&name))
        );
        let doc: Value = json_of(send(authed(Request::get(&path)).build()).await?).await?;
        for d in
            glint_core::metadefs::definitions_for(&doc, IMAGE_RESOURCE_TYPE).unwrap_or_default()
        {
            found.entry(d.key.clone()).or_insert(d);
        }
    }
    Ok(found)
}
