//! The legacy v1 Images API (Glance Essex to Queens), on the same storage and through the same
//! core plans as v2. Metadata travels in `x-image-meta-*` headers; a `PUT` purges the property
//! set only when asked to and never when it carries image data (Launchpad bug 901534).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use glint_core::{Image, Request, V1Update, Visibility};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, declared_size, wants_preview};
use super::shared::{Outcome, load_visible, load_writable, modify, preview_response};
use crate::db::{ImageFilter, ListQuery, SortDir, SortKey, StoredImage};
use crate::time;

/// Characters escaped in header values sent back (headers are ASCII; `%` itself too).
const HEADER_UNSAFE: &AsciiSet = &CONTROLS.add(b'%');

/// The v1 metadata headers of a request, percent-decoded (python-glanceclient encodes them).
fn meta_headers(headers: &HeaderMap) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for (name, value) in headers {
        let n = name.as_str();
        if !(n.starts_with("x-image-meta-") || n == glint_core::v1::PURGE_HEADER) {
            continue;
        }
        let raw = std::str::from_utf8(value.as_bytes())
            .map_err(|_| ApiError::BadRequest(format!("Header {n} is not valid UTF-8.")))?;
        let decoded = percent_decode_str(raw).decode_utf8().map_err(|_| {
            ApiError::BadRequest(format!("Header {n} does not percent-decode to UTF-8."))
        })?;
        out.push((n.to_string(), decoded.into_owned()));
    }
    Ok(out)
}

fn parse_update(headers: &HeaderMap, has_data: bool) -> Result<V1Update, ApiError> {
    for external in ["x-image-meta-location", "x-glance-api-copy-from"] {
        if headers.contains_key(external) {
            return Err(ApiError::BadRequest(format!(
                "{external} is not supported: send the data in the request body, or use the v2 import API."
            )));
        }
    }
    let pairs = meta_headers(headers)?;
    Ok(V1Update::from_headers(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        has_data,
    )?)
}

/// The request's image data, if it carries any: a body of zero bytes (python-glanceclient sends
/// an empty chunked body when it has no data) is no data. Waits for the first bytes to tell.
async fn image_data(body: Body) -> Result<Option<Body>, ApiError> {
    let mut stream = body.into_data_stream();
    loop {
        match stream.next().await {
            None => return Ok(None),
            Some(Err(e)) => {
                return Err(ApiError::BadRequest(format!(
                    "Cannot read the request body: {e}"
                )));
            }
            Some(Ok(chunk)) if chunk.is_empty() => continue,
            Some(Ok(chunk)) => {
                let rest = futures_util::stream::once(async move { Ok(chunk) }).chain(stream);
                return Ok(Some(Body::from_stream(rest)));
            }
        }
    }
}

fn v1_time(micros: i64) -> String {
    let t = time::format(micros);
    format!(
        "{}.{:06}",
        t.trim_end_matches('Z'),
        micros.rem_euclid(1_000_000)
    )
}

fn is_public(image: &Image) -> bool {
    image.visibility == Visibility::Public
}

/// The image as v1 shows it in JSON.
fn image_json(stored: &StoredImage) -> Value {
    let i = &stored.image;
    json!({
        "id": i.id,
        "name": i.name,
        "size": i.size.unwrap_or(0),
        "virtual_size": i.virtual_size,
        "disk_format": i.disk_format,
        "container_format": i.container_format,
        "checksum": i.checksum,
        "status": i.status.as_str(),
        "is_public": is_public(i),
        "protected": i.protected,
        "min_disk": i.min_disk,
        "min_ram": i.min_ram,
        "owner": i.owner,
        "created_at": v1_time(stored.created_micros),
        "updated_at": v1_time(stored.updated_micros),
        "deleted_at": Value::Null,
        "deleted": false,
        "properties": i.properties,
    })
}

fn brief_json(stored: &StoredImage) -> Value {
    let i = &stored.image;
    json!({
        "id": i.id,
        "name": i.name,
        "size": i.size.unwrap_or(0),
        "disk_format": i.disk_format,
        "container_format": i.container_format,
        "checksum": i.checksum,
    })
}

/// The image as v1 shows it in headers.
fn image_headers(stored: &StoredImage) -> HeaderMap {
    let i = &stored.image;
    let py_bool = |b: bool| if b { "True" } else { "False" }.to_string();
    let mut fields: Vec<(String, Option<String>)> = vec![
        ("id".into(), Some(i.id.clone())),
        ("name".into(), i.name.clone()),
        ("status".into(), Some(i.status.as_str().into())),
        ("is_public".into(), Some(py_bool(is_public(i)))),
        ("protected".into(), Some(py_bool(i.protected))),
        ("deleted".into(), Some(py_bool(false))),
        ("size".into(), Some(i.size.unwrap_or(0).to_string())),
        ("virtual_size".into(), i.virtual_size.map(|n| n.to_string())),
        ("disk_format".into(), i.disk_format.clone()),
        ("container_format".into(), i.container_format.clone()),
        ("checksum".into(), i.checksum.clone()),
        ("min_disk".into(), Some(i.min_disk.to_string())),
        ("min_ram".into(), Some(i.min_ram.to_string())),
        ("owner".into(), i.owner.clone()),
        ("created_at".into(), Some(v1_time(stored.created_micros))),
        ("updated_at".into(), Some(v1_time(stored.updated_micros))),
    ];
    for (k, v) in &i.properties {
        fields.push((format!("property-{k}"), Some(v.clone())));
    }
    let mut h = HeaderMap::new();
    for (k, v) in fields {
        let Some(v) = v else { continue };
        let name = HeaderName::from_bytes(format!("x-image-meta-{k}").as_bytes());
        let value = HeaderValue::from_str(&utf8_percent_encode(&v, HEADER_UNSAFE).to_string());
        if let (Ok(name), Ok(value)) = (name, value) {
            h.insert(name, value);
        }
    }
    if let Some(c) = i
        .checksum
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert(header::ETAG, c);
    }
    h
}

/// The image with only the properties the caller may read.
fn shown(state: &AppState, identity: &Identity, stored: &StoredImage) -> StoredImage {
    StoredImage {
        image: state.shown(&identity.caller, &stored.image),
        ..stored.clone()
    }
}

fn image_response(status: StatusCode, stored: &StoredImage) -> Response {
    (status, Json(json!({ "image": image_json(stored) }))).into_response()
}

/// Takes a v1 request's image data, checking `x-image-meta-checksum` when sent, and returns the
/// image as it is afterwards.
async fn take_data(
    state: &AppState,
    identity: &Identity,
    stored: &StoredImage,
    body: Body,
    headers: &HeaderMap,
    update: &V1Update,
) -> Result<StoredImage, ApiError> {
    let expected = update.fields.get(&glint_core::v1::V1Field::Checksum);
    let declared = declared_size(headers)?;
    state
        .data
        .receive(
            &identity.actor(),
            &stored.image,
            body.into_data_stream(),
            declared,
            expected.map(String::as_str),
            state.stores.default_store(),
        )
        .await?;
    state
        .db
        .image(&stored.image.id)
        .await?
        .ok_or_else(|| ApiError::not_found_image(&stored.image.id))
}

/// `POST /v1/images`: registers an image, optionally with its data in the body.
pub(crate) async fn create(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let new = glint_core::Image::new("", identity.caller.project_id.clone(), "");
    if !state
        .images
        .rules
        .allows("add_image", &identity.caller, Some(&new))
    {
        return Err(ApiError::Forbidden(
            "You are not authorized to complete add_image action.".into(),
        ));
    }
    let data = image_data(body).await?;
    let has_data = data.is_some();
    let mut update = parse_update(&headers, has_data)?;
    // A new image has no properties to purge.
    update.purge_header = Some(false);
    if has_data && !content_type_is_octet_stream(&headers) {
        return Err(ApiError::BadRequest(
            "Image data must be sent as application/octet-stream.".into(),
        ));
    }
    let id = match update.fields.get(&glint_core::v1::V1Field::Id) {
        Some(id) if glint_core::image::is_uuid(id.trim()) => id.trim().to_ascii_lowercase(),
        Some(id) => return Err(ApiError::BadRequest(format!("Invalid image id '{id}'."))),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let template = Image::new(id, identity.caller.project_id.clone(), "");
    let policy = state.images.rules.current();
    let ctx = state.context(&identity.caller).with_policy(&policy);
    let plan = glint_core::plan(&template, &Request::V1Update(update.clone()), &ctx);
    if wants_preview(&headers, uri.query()) {
        return Ok(preview_response(&state, &identity, &plan, 0));
    }
    let mut stored = state
        .images
        .insert_planned(&identity.actor(), &template, &plan, "v1_create")
        .await?;
    if let Some(body) = data {
        stored = take_data(&state, &identity, &stored, body, &headers, &update).await?;
    }
    let mut response = image_response(StatusCode::CREATED, &shown(&state, &identity, &stored));
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/images/{}", stored.image.id)) {
        h.insert(header::LOCATION, v);
    }
    if let Some(c) = stored
        .image
        .checksum
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert(header::ETAG, c);
    }
    Ok(response)
}

fn content_type_is_octet_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        == Some("application/octet-stream")
}

/// `HEAD /v1/images/{id}`: every attribute and property as a header.
pub(crate) async fn head(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let stored = load_visible(&state, &identity, &id).await?;
    let mut response = StatusCode::OK.into_response();
    *response.headers_mut() = image_headers(&shown(&state, &identity, &stored));
    Ok(response)
}

/// `GET /v1/images/{id}`: the data, with the metadata headers.
pub(crate) async fn download(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // As v2 downloads, through the data operations: the same access rules, the cache, and
    // `image.send`; v1 answers 404 where v2 answers 204.
    let (stored, size) = match state.data.open(&identity.caller, &id).await? {
        crate::data::Readable::Data(stored, size) => (stored, size),
        crate::data::Readable::Nothing => return Err(ApiError::not_found_image(&id)),
    };
    let stream = state
        .data
        .read(&stored.image, 0, size, &identity.actor().by())
        .await?;
    let mut response = Response::new(Body::from_stream(stream));
    let mut h = image_headers(&shown(&state, &identity, &stored));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    *response.headers_mut() = h;
    Ok(response)
}

/// `PUT /v1/images/{id}`: metadata, and data when the body carries it.
pub(crate) async fn update(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let data = image_data(body).await?;
    let has_data = data.is_some();
    let update = parse_update(&headers, has_data)?;
    if has_data && !content_type_is_octet_stream(&headers) {
        return Err(ApiError::BadRequest(
            "Image data must be sent as application/octet-stream.".into(),
        ));
    }
    let preview = wants_preview(&headers, uri.query());
    let request = Request::V1Update(update.clone());
    let outcome = modify(&state, &identity, &id, &headers, preview, "v1_put", |_| {
        Ok(request.clone())
    })
    .await?;
    let mut stored = match outcome {
        Outcome::Preview(plan, stored) => {
            return Ok(preview_response(&state, &identity, &plan, stored.version));
        }
        Outcome::Applied(stored) => stored,
    };
    if let Some(body) = data {
        stored = take_data(&state, &identity, &stored, body, &headers, &update).await?;
    }
    Ok(image_response(
        StatusCode::OK,
        &shown(&state, &identity, &stored),
    ))
}

/// `DELETE /v1/images/{id}`: 200, as Glance's v1 code answered.
pub(crate) async fn delete(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match state.images.delete(&identity.actor(), &id).await {
        Ok(_) => Ok(StatusCode::OK),
        Err(crate::images::ImageError::Protected(id)) => Err(ApiError::Forbidden(format!(
            "Image with identifier {id} is protected and cannot be deleted."
        ))),
        Err(e) => Err(e.into()),
    }
}

fn v1_list_query(raw: &str, identity: &Identity, admin: bool) -> Result<ListQuery, ApiError> {
    let bad = |m: String| ApiError::BadRequest(m);
    let mut filters = Vec::new();
    let mut limit = 25;
    let mut sort_key = SortKey::CreatedAt;
    let mut sort_dir = SortDir::Desc;
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let (key, value) = (key.into_owned(), value.into_owned());
        let int = |v: &str| {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad(format!("Invalid value '{v}' for {key}.")))
        };
        match key.as_str() {
            "limit" => limit = int(&value)?.min(1000),
            "marker" => {}
            "sort_key" => {
                sort_key = SortKey::parse(&value)
                    .ok_or_else(|| bad("Unsupported sort_key. Acceptable values: name, status, container_format, disk_format, size, id, created_at, updated_at".into()))?
            }
            "sort_dir" => {
                sort_dir = match value.as_str() {
                    "asc" => SortDir::Asc,
                    "desc" => SortDir::Desc,
                    _ => return Err(bad("Unsupported sort_dir. Acceptable values: asc, desc".into())),
                }
            }
            "name" => filters.push(ImageFilter::In("name", vec![value])),
            "status" => filters.push(ImageFilter::In("status", vec![value])),
            "container_format" => filters.push(ImageFilter::In("container_format", vec![value])),
            "disk_format" => filters.push(ImageFilter::In("disk_format", vec![value])),
            "size_min" => filters.push(ImageFilter::Int("size", ">=", int(&value)?)),
            "size_max" => filters.push(ImageFilter::Int("size", "<=", int(&value)?)),
            "min_ram" => filters.push(ImageFilter::Int("min_ram", ">=", int(&value)?)),
            "min_disk" => filters.push(ImageFilter::Int("min_disk", ">=", int(&value)?)),
            "protected" => {
                let v = match value.to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(bad(format!("Invalid value '{value}' for protected."))),
                };
                filters.push(ImageFilter::Flag("protected", v));
            }
            "is_public" => {
                if admin && value != "none" {
                    let public = glint_core::v1::bool_from_string(&value);
                    if public {
                        filters.push(ImageFilter::Visibility(Visibility::Public));
                    }
                }
            }
            "changes-since" => {
                return Err(bad("changes-since is not supported by this server.".into()));
            }
            k => {
                if let Some(prop) = k.strip_prefix("property-") {
                    filters.push(ImageFilter::Property(prop.to_string(), value));
                }
            }
        }
    }
    let mut sort = vec![(sort_key, sort_dir)];
    for tie in [SortKey::CreatedAt, SortKey::Id] {
        if sort_key != tie {
            sort.push((tie, sort_dir));
        }
    }
    Ok(ListQuery {
        filters,
        sort,
        limit,
        marker: None,
        project: identity.caller.project_id.clone(),
        admin,
        member_status: None,
        community: false,
    })
}

async fn list(
    state: &AppState,
    identity: &Identity,
    uri: &Uri,
) -> Result<Vec<StoredImage>, ApiError> {
    let rules = &state.images.rules;
    if !rules.allows_here("get_images", &identity.caller) {
        return Err(crate::access::refused("get_images").into());
    }
    let raw = uri.query().unwrap_or_default();
    let mut query = v1_list_query(raw, identity, rules.is_admin(&identity.caller))?;
    let marker = form_urlencoded::parse(raw.as_bytes())
        .find(|(k, _)| k == "marker")
        .map(|(_, v)| v.into_owned());
    if let Some(m) = marker {
        let found = match glint_core::image::is_uuid(&m) {
            true => state.db.image(&m.to_ascii_lowercase()).await?,
            false => None,
        };
        query.marker = Some(found.ok_or_else(|| ApiError::BadRequest("Invalid marker".into()))?);
    }
    let images = state.db.list_images(&query).await?;
    Ok(crate::access::listed(rules, &identity.caller, images))
}

/// `GET /v1/images`: the brief list.
pub(crate) async fn index(
    State(state): State<AppState>,
    identity: Identity,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let images = list(&state, &identity, &uri).await?;
    Ok(Json(
        json!({"images": images.iter().map(brief_json).collect::<Vec<_>>()}),
    ))
}

/// `GET /v1/images/detail`: the full list.
pub(crate) async fn detail(
    State(state): State<AppState>,
    identity: Identity,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let images = list(&state, &identity, &uri).await?;
    Ok(Json(json!({"images": images
            .iter()
            .map(|s| image_json(&shown(&state, &identity, s)))
            .collect::<Vec<_>>()})))
}

/// `GET /v1/images/{id}/members`: the members the caller may see (as in v2).
pub(crate) async fn members(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let members = state.images.members(&identity.actor(), &id).await?;
    Ok(Json(json!({
        "members": members
            .iter()
            .map(|m| json!({"member_id": m.member, "can_share": m.can_share}))
            .collect::<Vec<_>>()
    })))
}

#[derive(Debug, serde::Deserialize)]
struct Membership {
    member_id: String,
    #[serde(default)]
    can_share: Option<bool>,
}

#[derive(Debug, serde::Deserialize)]
struct Memberships {
    memberships: Vec<Membership>,
}

/// `PUT /v1/images/{id}/members`: replaces the member list.
pub(crate) async fn replace_members(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    super::extract::RawBody(body): super::extract::RawBody,
) -> Result<StatusCode, ApiError> {
    let body: Memberships =
        body_or_access(&state, &identity, &id, &body, "Invalid memberships").await?;
    let list: Vec<(String, Option<bool>)> = body
        .memberships
        .into_iter()
        .map(|m| (m.member_id, m.can_share))
        .collect();
    state
        .images
        .replace_members(&identity.actor(), &id, &list)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, serde::Deserialize)]
struct MemberBody {
    #[serde(default)]
    member: Option<MemberFields>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct MemberFields {
    #[serde(default)]
    can_share: Option<bool>,
}

/// `PUT /v1/images/{id}/members/{member}`: adds a member, or updates `can_share`.
pub(crate) async fn put_member(
    State(state): State<AppState>,
    identity: Identity,
    Path((id, member)): Path<(String, String)>,
    super::extract::RawBody(body): super::extract::RawBody,
) -> Result<StatusCode, ApiError> {
    let body: MemberBody = if body.is_empty() {
        MemberBody::default()
    } else {
        body_or_access(&state, &identity, &id, &body, "Invalid member").await?
    };
    let can_share = body.member.and_then(|m| m.can_share);
    state
        .images
        .put_member(&identity.actor(), &id, &member, can_share)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/images/{id}/members/{member}`.
pub(crate) async fn delete_member(
    State(state): State<AppState>,
    identity: Identity,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    match state
        .images
        .remove_member(&identity.actor(), &id, &member)
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(crate::images::ImageError::Denied(crate::access::Denied::Forbidden(_))) => Err(
            ApiError::Forbidden("You are not authorized to change this image.".into()),
        ),
        Err(e) => Err(e.into()),
    }
}

/// A member request's body, read after the image's access where it is malformed, so that a
/// caller who may not change the image hears 404 or 403 first, as Glance's v1 answered.
async fn body_or_access<T: serde::de::DeserializeOwned>(
    state: &AppState,
    identity: &Identity,
    id: &str,
    body: &[u8],
    expected: &str,
) -> Result<T, ApiError> {
    match super::extract::json_body(body, expected) {
        Ok(parsed) => Ok(parsed),
        Err(malformed) => {
            load_writable(state, identity, id, "modify_image").await?;
            Err(malformed)
        }
    }
}

/// `GET /v1/shared-images/{member}`.
pub(crate) async fn shared_images(
    State(state): State<AppState>,
    identity: Identity,
    Path(member): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = &identity.caller;
    if !state.images.rules.is_admin(caller) && caller.project_id.as_deref() != Some(member.as_str())
    {
        return Err(ApiError::Forbidden(
            "Only an administrator may list another project's shared images.".into(),
        ));
    }
    let shared = state.db.shared_with(&member).await?;
    Ok(Json(json!({
        "shared_images": shared
            .iter()
            .map(|m| json!({"image_id": m.image_id, "can_share": m.can_share}))
            .collect::<Vec<_>>()
    })))
}
