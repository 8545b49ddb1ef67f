//! The Glance-compatible HTTP API.

mod cache;
mod data;
mod discovery;
pub(crate) mod error;
mod extract;
mod health;
mod history;
mod images;
mod import;
mod linger;
mod list;
mod locations;
mod members;
mod metadefs;
mod session;
mod shared;
mod tasks;
pub(crate) mod ui;
mod v1;
mod wire;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};

pub use error::ApiError;
use error::{ErrorFormat, PendingError};

use crate::db::Db;

/// Shared by every handler.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    /// The image operations (create, update by plan, delete, sharing) and what they need.
    pub(crate) images: crate::images::Images,
    /// The data operations (uploads, imports, tasks, reads) and what they need.
    pub(crate) data: crate::data::Data,
    /// The metadata definitions operations.
    pub(crate) metadefs: crate::metadefs::Metadefs,
    /// Whether this server can do its work (`/healthcheck`).
    pub(crate) health: crate::health::Health,
    /// What `/metrics` shows.
    pub(crate) metrics: crate::metrics::Metrics,
    pub(crate) db: Db,
    pub(crate) stores: Arc<crate::store::Stores>,
    /// Who is calling and the web UI's session: authentication, tokens, the UI's page.
    pub(crate) http: HttpSettings,
}

/// The HTTP side's own settings.
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    pub(crate) auth: Arc<crate::auth::Auth>,
    /// How long tokens issued at login stay valid, in seconds.
    pub(crate) token_ttl: i64,
    /// The web UI's `index.html`, served at `/` to browsers.
    pub(crate) ui_index: Arc<std::path::Path>,
}

impl AppState {
    /// What planning needs for this caller: settings and property protections.
    pub(crate) fn context<'a>(
        &'a self,
        caller: &'a glint_core::Caller,
    ) -> glint_core::PlanContext<'a> {
        self.images.context(caller)
    }

    /// A plan or change record as this caller may see it: properties it may not read are left
    /// out. Every plan shown goes through here.
    pub(crate) fn shown_plan(
        &self,
        caller: &glint_core::Caller,
        plan: &glint_core::Plan,
    ) -> glint_core::Plan {
        glint_core::readable_plan(plan, &self.context(caller))
    }

    /// The image as this caller may see it: properties it may not read are left out.
    pub(crate) fn shown(
        &self,
        caller: &glint_core::Caller,
        image: &glint_core::Image,
    ) -> glint_core::Image {
        let mut shown = glint_core::readable(image, &self.context(caller));
        // Locations are listed heaviest store first (the order reads take).
        shown.locations.sort_by_key(|l| {
            std::cmp::Reverse(self.stores.holding(l).map(|s| s.weight).unwrap_or(0))
        });
        shown
    }
}

/// The request id every response carries (`x-openstack-request-id`).
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// Metadata requests are small; image data goes through the streaming routes, which have no limit.
const METADATA_BODY_LIMIT: usize = 8 * 1024 * 1024;

pub(crate) fn router(state: AppState) -> Router {
    let images = Router::new()
        .route("/images", get(list::list_images).post(images::create))
        .route(
            "/images/{id}",
            get(images::show)
                .patch(images::update)
                .delete(images::delete),
        )
        .route(
            "/images/{id}/file",
            put(data::upload)
                .get(data::download)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/images/{id}/stage",
            put(data::stage).layer(DefaultBodyLimit::disable()),
        )
        .route("/images/{id}/import", post(import::import))
        .route(
            "/images/{id}/locations",
            get(locations::list_locations).post(locations::add_location),
        )
        .route(
            "/images/{id}/tags/{tag}",
            put(images::add_tag).delete(images::delete_tag),
        )
        .route(
            "/images/{id}/members",
            get(members::list).post(members::add),
        )
        .route(
            "/images/{id}/members/{member}",
            get(members::show)
                .put(members::update)
                .delete(members::delete),
        )
        .route("/images/{id}/actions/deactivate", post(images::deactivate))
        .route("/images/{id}/actions/reactivate", post(images::reactivate))
        .route("/images/{id}/tasks", get(tasks::image_tasks))
        .route("/tasks", get(tasks::list).post(tasks::create))
        .route("/tasks/{id}", get(tasks::show).delete(tasks::delete))
        .route("/images/{id}/history", get(history::history))
        .route("/images/{id}/history/restore", post(history::restore))
        .route("/schemas/image", get(discovery::schema_image))
        .route("/schemas/images", get(discovery::schema_images))
        .route("/schemas/member", get(discovery::schema_member))
        .route("/schemas/members", get(discovery::schema_members))
        .route("/schemas/task", get(discovery::schema_task))
        .route("/schemas/tasks", get(discovery::schema_tasks))
        .route("/schemas/metadefs/{name}", get(metadefs::schema))
        .route(
            "/metadefs/namespaces",
            get(metadefs::list_namespaces).post(metadefs::create_namespace),
        )
        .route(
            "/metadefs/namespaces/{ns}",
            get(metadefs::show_namespace)
                .put(metadefs::update_namespace)
                .delete(metadefs::delete_namespace),
        )
        .route(
            "/metadefs/namespaces/{ns}/objects",
            get(metadefs::list_objects)
                .post(metadefs::create_object)
                .delete(metadefs::delete_objects),
        )
        .route(
            "/metadefs/namespaces/{ns}/objects/{object}",
            get(metadefs::show_object)
                .put(metadefs::update_object)
                .delete(metadefs::delete_object),
        )
        .route(
            "/metadefs/namespaces/{ns}/properties",
            get(metadefs::list_properties)
                .post(metadefs::create_property)
                .delete(metadefs::delete_properties),
        )
        .route(
            "/metadefs/namespaces/{ns}/properties/{property}",
            get(metadefs::show_property)
                .put(metadefs::update_property)
                .delete(metadefs::delete_property),
        )
        .route(
            "/metadefs/namespaces/{ns}/tags",
            get(metadefs::list_tags)
                .post(metadefs::create_tags)
                .delete(metadefs::delete_tags),
        )
        .route(
            "/metadefs/namespaces/{ns}/tags/{tag}",
            get(metadefs::show_tag)
                .post(metadefs::create_tag)
                .put(metadefs::update_tag)
                .delete(metadefs::delete_tag),
        )
        .route(
            "/metadefs/namespaces/{ns}/resource_types",
            get(metadefs::list_associations).post(metadefs::create_association),
        )
        .route(
            "/metadefs/namespaces/{ns}/resource_types/{rt}",
            delete(metadefs::delete_association),
        )
        .route(
            "/metadefs/resource_types",
            get(metadefs::list_resource_types),
        )
        .route("/cache", get(cache::list).delete(cache::clear))
        .route("/cache/clean", post(cache::clean))
        .route("/cache/prune", post(cache::prune))
        .route("/cache/{id}", put(cache::queue).delete(cache::delete))
        .route("/info/import", get(discovery::info_import))
        .route("/info/stores", get(discovery::info_stores))
        .route("/info/stores/detail", get(discovery::info_stores_detail))
        .route("/info/usage", get(discovery::info_usage))
        .route("/stores/{store}/{id}", delete(import::delete_from_store))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(METADATA_BODY_LIMIT));
    let legacy = Router::new()
        .route("/images", get(v1::index).post(v1::create))
        .route("/images/detail", get(v1::detail))
        .route(
            "/images/{id}",
            get(v1::download)
                .head(v1::head)
                .put(v1::update)
                .delete(v1::delete),
        )
        .route(
            "/images/{id}/members",
            get(v1::members)
                .put(v1::replace_members)
                .layer(DefaultBodyLimit::max(METADATA_BODY_LIMIT)),
        )
        .route(
            "/images/{id}/members/{member}",
            put(v1::put_member)
                .delete(v1::delete_member)
                .layer(DefaultBodyLimit::max(METADATA_BODY_LIMIT)),
        )
        .route("/shared-images/{member}", get(v1::shared_images))
        .fallback(not_found)
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/", get(discovery::root))
        .nest("/v1", legacy)
        .route("/auth/login", post(session::login))
        .route("/auth/whoami", get(session::whoami))
        .route("/auth/logout", post(session::logout))
        .route("/versions", get(discovery::versions))
        .route("/healthcheck", get(health::healthcheck))
        .route("/metrics", get(health::metrics))
        .nest("/v2", images)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            health::measure,
        ))
        .layer(middleware::from_fn(linger::drain_unread))
        .layer(middleware::from_fn(shape))
        .with_state(state)
}

/// `/metrics` alone, for an address of its own.
pub(crate) fn metrics_only(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(health::metrics))
        .with_state(state)
}

/// Rewrites `/v2.N/...` to `/v2/...` before routing: every v2 minor version is the same API.
pub(crate) fn normalize_version(mut req: Request) -> Request {
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix("/v2.") {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && (rest.len() == digits || rest.as_bytes()[digits] == b'/') {
            let new_path = format!("/v2{}", &rest[digits..]);
            let pq = match req.uri().query() {
                Some(q) => format!("{new_path}?{q}"),
                None => new_path,
            };
            if let Ok(uri) = pq.parse() {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// Per request: a request id, a tracing span, and errors shaped to the request's `Accept`.
async fn shape(mut req: Request, next: Next) -> Response {
    let format = ErrorFormat::from_headers(req.headers());
    let incoming = req
        .headers()
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if incoming.as_ref().is_some_and(|id| id.len() > 64) {
        return error::render(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "x-openstack-request-id is longer than 64 characters.",
            format,
        );
    }
    let id = format!("req-{}", uuid::Uuid::new_v4());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", id = %id);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let mut response = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let status = response.status();
    if let Some(pending) = response.extensions_mut().remove::<PendingError>() {
        let headers = response.headers().clone();
        let mut shaped = error::render(status, &pending.message, format);
        for (name, value) in &headers {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                shaped.headers_mut().insert(name.clone(), value.clone());
            }
        }
        response = shaped;
    } else if status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && is_empty(response.body()))
        || status == StatusCode::PAYLOAD_TOO_LARGE && is_empty(response.body())
    {
        let message = match status {
            StatusCode::METHOD_NOT_ALLOWED => "The method is not allowed for this resource.",
            StatusCode::PAYLOAD_TOO_LARGE => "Request body too large.",
            _ => "The resource could not be found.",
        };
        let headers = response.headers().clone();
        let mut shaped = error::render(status, message, format);
        if let Some(allow) = headers.get(header::ALLOW) {
            shaped.headers_mut().insert(header::ALLOW, allow.clone());
        }
        response = shaped;
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-openstack-request-id", v);
    }
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "{method} {path}"
        );
    });
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound("The resource could not be found.".into())
}

fn is_empty(body: &Body) -> bool {
    use axum::body::HttpBody;
    body.size_hint().exact() == Some(0)
}
