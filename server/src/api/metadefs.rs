//! The metadata definitions catalogue (`/v2/metadefs/...`, `/v2/schemas/metadefs/*`):
//! namespaces with their properties, objects and tags, resource types and associations.
//!
//! The rules and refusals are `metadefs`'s. As in Glance: reading needs the reader (or member) role and sees public namespaces and the
//! caller's project's; writing is for administrators (a non-administrator gets 403 on a
//! namespace it can see, 404 on one it cannot); a protected namespace and its parts cannot be
//! deleted. Where Glance answers 500 (a rename onto a taken name, a non-integer limit, odd
//! bodies), Glint answers 400 or 409 with the reason.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, RawBody, base_url, no_body};
use crate::db::metadefs::{Association, Entry, Kind, Namespace, NamespaceSort};
use crate::metadefs::{
    Contents, ListNamespaces, READ_ONLY, TIMESTAMPS, association_from, namespace_doc, object_from,
    only_keys, property_from, tag_from,
};
use crate::time;
use glint_core::metadefs::DefinitionError;

const NS_PATH: &str = "/v2/metadefs/namespaces";

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

fn schema_error(schema: &str, e: DefinitionError) -> ApiError {
    bad(format!(
        "Provided object does not match schema '{schema}': {e}"
    ))
}

fn time_field(o: &mut Map<String, Value>, key: &str, micros: Option<i64>) {
    if let Some(t) = micros {
        o.insert(key.into(), Value::String(time::format(t)));
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies.

/// A JSON object body, with Glance's errors for a missing or malformed one and 403 for the
/// attributes the server sets.
fn object_body(body: &[u8], read_only: &[&str]) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Err(bad("Body expected in request."));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|_| bad("Malformed JSON in request body."))?;
    let Value::Object(map) = value else {
        return Err(bad("The request body must be a JSON object."));
    };
    if let Some(k) = read_only.iter().find(|k| map.contains_key(**k)) {
        return Err(ApiError::Forbidden(format!(
            "Attribute '{k}' is read-only."
        )));
    }
    Ok(map)
}

// ---------------------------------------------------------------------------------------------
// Responses.

fn namespace_json(ns: &Namespace) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("namespace".into(), json!(ns.namespace));
    if let Some(d) = &ns.display_name {
        o.insert("display_name".into(), json!(d));
    }
    if let Some(d) = &ns.description {
        o.insert("description".into(), json!(d));
    }
    o.insert("visibility".into(), json!(ns.visibility));
    o.insert("protected".into(), json!(ns.protected));
    if let Some(owner) = &ns.owner {
        o.insert("owner".into(), json!(owner));
    }
    time_field(&mut o, "created_at", Some(ns.created_at));
    time_field(&mut o, "updated_at", ns.updated_at);
    o.insert("self".into(), json!(format!("{NS_PATH}/{}", ns.namespace)));
    o.insert("schema".into(), json!("/v2/schemas/metadefs/namespace"));
    o
}

/// A namespace's own fields with its resource type associations, when it has any.
fn namespace_with(ns: &Namespace, associations: &[Association]) -> Map<String, Value> {
    let mut o = namespace_json(ns);
    if !associations.is_empty() {
        o.insert(
            "resource_type_associations".into(),
            associations
                .iter()
                .map(|a| association_json(a, true))
                .collect(),
        );
    }
    o
}

fn association_json(a: &Association, with_target: bool) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), json!(a.name));
    if with_target {
        if let Some(p) = &a.prefix {
            o.insert("prefix".into(), json!(p));
        }
        if let Some(t) = &a.properties_target {
            o.insert("properties_target".into(), json!(t));
        }
    }
    time_field(&mut o, "created_at", Some(a.created_at));
    time_field(&mut o, "updated_at", a.updated_at);
    Value::Object(o)
}

fn object_json(ns: &str, e: &Entry, prefix: &str) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), json!(e.name));
    let required: Vec<Value> = e.body["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(|k| json!(format!("{prefix}{k}")))
                .collect()
        })
        .unwrap_or_default();
    o.insert("required".into(), Value::Array(required));
    if let Some(d) = e.body.get("description") {
        o.insert("description".into(), d.clone());
    }
    let properties: Map<String, Value> = e.body["properties"]
        .as_object()
        .map(|p| {
            p.iter()
                .map(|(k, v)| (format!("{prefix}{k}"), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    o.insert("properties".into(), Value::Object(properties));
    time_field(&mut o, "created_at", Some(e.created_at));
    time_field(&mut o, "updated_at", e.updated_at);
    o.insert(
        "self".into(),
        json!(format!("{NS_PATH}/{ns}/objects/{}", e.name)),
    );
    o.insert("schema".into(), json!("/v2/schemas/metadefs/object"));
    Value::Object(o)
}

fn property_json(e: &Entry, name: &str) -> Value {
    let mut o = Map::new();
    if let Some(def) = e.body.as_object() {
        o.extend(def.clone());
    }
    // The name asked for (with a resource type's prefix) over the one the body was stored with.
    o.insert("name".into(), json!(name));
    Value::Object(o)
}

fn tag_json(e: &Entry) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), json!(e.name));
    time_field(&mut o, "created_at", Some(e.created_at));
    time_field(&mut o, "updated_at", e.updated_at);
    Value::Object(o)
}

fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// The query string's pairs.
fn pairs(uri: &Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn limit_of(value: &str, zero_ok: bool) -> Result<i64, ApiError> {
    let n: i64 = value
        .parse()
        .map_err(|_| bad("limit param must be an integer"))?;
    if n < 0 || (n == 0 && !zero_ok) {
        return Err(bad("limit param must be positive"));
    }
    Ok(n.min(1000))
}

fn sort_dir(value: &str) -> Result<bool, ApiError> {
    match value {
        "asc" => Ok(true),
        "desc" => Ok(false),
        other => Err(bad(format!("Invalid sort direction: {other}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Namespaces.

/// `GET /v2/metadefs/namespaces`.
pub(crate) async fn list_namespaces(
    State(state): State<AppState>,
    identity: Identity,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    state
        .metadefs
        .check_browse(&identity.caller, "get_metadef_namespaces")?;
    let query = pairs(&uri);
    let mut limit = 25;
    let (mut marker_name, mut visibility) = (None, None);
    let (mut sort_key, mut ascending) = (NamespaceSort::CreatedAt, false);
    let mut resource_types = Vec::new();
    for (k, v) in &query {
        match k.as_str() {
            "limit" => limit = limit_of(v, true)?,
            "marker" => marker_name = Some(v.clone()),
            "sort_key" => {
                sort_key =
                    NamespaceSort::parse(v).ok_or_else(|| bad(format!("Invalid sort key: {v}")))?;
            }
            "sort_dir" => ascending = sort_dir(v)?,
            "visibility" => match v.as_str() {
                "public" | "private" => visibility = Some(v.clone()),
                _ => return Err(bad(format!("Invalid visibility value: {v}"))),
            },
            "resource_types" => {
                resource_types.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
            }
            _ => {}
        }
    }
    let list = ListNamespaces {
        visibility,
        resource_types,
        sort_key,
        ascending,
        marker: marker_name,
        limit,
    };
    let found = state
        .metadefs
        .list_namespaces(&identity.caller, &list)
        .await?;
    let namespaces: Vec<Value> = found
        .iter()
        .map(|(ns, associations)| Value::Object(namespace_with(ns, associations)))
        .collect();
    let link = |marker: Option<&str>| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in query.iter().filter(|(k, _)| k != "marker") {
            s.append_pair(k, v);
        }
        if let Some(m) = marker {
            s.append_pair("marker", m);
        }
        match s.finish() {
            q if q.is_empty() => NS_PATH.to_string(),
            q => format!("{NS_PATH}?{q}"),
        }
    };
    let mut body = json!({
        "namespaces": namespaces,
        "first": link(None),
        "schema": "/v2/schemas/metadefs/namespaces",
    });
    if limit > 0
        && found.len() as i64 == limit
        && let Some((last, _)) = found.last()
    {
        body["next"] = json!(link(Some(&last.namespace)));
    }
    Ok(Json(body))
}

/// `POST /v2/metadefs/namespaces`: a namespace with, optionally, its associations,
/// properties, objects and tags, all or nothing.
pub(crate) async fn create_namespace(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let creator = state
        .metadefs
        .may_create(&identity.actor(), "add_metadef_namespace")?;
    let map = object_body(&body, &READ_ONLY)?;
    let doc = namespace_doc(&map, identity.caller.project_id.clone(), false)
        .map_err(|e| schema_error("namespace", e))?;
    state.metadefs.create_namespace(&creator, &doc).await?;
    let ns = &doc.namespace;
    let mut o = namespace_with(ns, &doc.associations);
    if !doc.properties.is_empty() {
        o.insert(
            "properties".into(),
            Value::Object(
                doc.properties
                    .iter()
                    .map(|p| (p.name.clone(), p.body.clone()))
                    .collect(),
            ),
        );
    }
    if !doc.objects.is_empty() {
        o.insert(
            "objects".into(),
            doc.objects
                .iter()
                .map(|e| object_json(&ns.namespace, e, ""))
                .collect(),
        );
    }
    if !doc.tags.is_empty() {
        o.insert(
            "tags".into(),
            doc.tags.iter().map(|t| json!({"name": t.name})).collect(),
        );
    }
    let mut response = created(Value::Object(o));
    if let Ok(v) =
        HeaderValue::from_str(&format!("{}{NS_PATH}/{}", base_url(&headers), ns.namespace))
    {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// `GET /v2/metadefs/namespaces/{ns}`: the namespace with everything in it; with
/// `?resource_type=`, property keys and required names carry that association's prefix.
pub(crate) async fn show_namespace(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
    uri: Uri,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    no_body(&body)?;
    let ns = state
        .metadefs
        .readable(&identity.caller, &name, "get_metadef_namespace")
        .await?;
    let mut resource_type = None;
    for (k, v) in pairs(&uri) {
        match k.as_str() {
            "resource_type" => resource_type = Some(v),
            "visibility" if !matches!(v.as_str(), "public" | "private") => {
                return Err(bad(format!("Invalid visibility value: {v}")));
            }
            _ => {}
        }
    }
    let contents = state
        .metadefs
        .contents(&ns, resource_type.as_deref())
        .await?;
    Ok(Json(full_namespace(&ns, &contents)))
}

/// A namespace as `GET` shows it, property keys and required names with `contents.prefix`.
fn full_namespace(ns: &Namespace, contents: &Contents) -> Value {
    let Contents {
        associations,
        properties,
        objects,
        tags,
        prefix,
    } = contents;
    let mut o = namespace_with(ns, associations);
    if !properties.is_empty() {
        o.insert(
            "properties".into(),
            Value::Object(
                properties
                    .iter()
                    .map(|p| (format!("{prefix}{}", p.name), p.body.clone()))
                    .collect(),
            ),
        );
    }
    if !objects.is_empty() {
        o.insert(
            "objects".into(),
            objects
                .iter()
                .map(|e| object_json(&ns.namespace, e, prefix))
                .collect(),
        );
    }
    if !tags.is_empty() {
        o.insert(
            "tags".into(),
            tags.iter().map(|t| json!({"name": t.name})).collect(),
        );
    }
    Value::Object(o)
}

/// `PUT /v2/metadefs/namespaces/{ns}`: replaces the namespace's own fields (what the body
/// leaves out goes back to its default; the owner to the caller's project); a new `namespace`
/// renames it. Its parts are changed through their own calls.
pub(crate) async fn update_namespace(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let old = state
        .metadefs
        .changeable(&identity.actor(), &name, "modify_metadef_namespace")
        .await?;
    let map = object_body(&body, &READ_ONLY)?;
    let doc = namespace_doc(&map, identity.caller.project_id.clone(), false)
        .map_err(|e| schema_error("namespace", e))?;
    let new = state.metadefs.update_namespace(&old, doc).await?;
    Ok(Json(Value::Object(namespace_json(&new))))
}

/// `DELETE /v2/metadefs/namespaces/{ns}`: the namespace and everything in it.
pub(crate) async fn delete_namespace(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    no_body(&body)?;
    let ns = state
        .metadefs
        .changeable(&identity.actor(), &name, "delete_metadef_namespace")
        .await?;
    state.metadefs.delete_namespace(&ns).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v2/metadefs/namespaces/{ns}/{objects,properties,tags}`: every one of a kind.
async fn delete_all(
    state: AppState,
    identity: Identity,
    name: String,
    kind: Kind,
) -> Result<StatusCode, ApiError> {
    let ns = state
        .metadefs
        .changeable(&identity.actor(), &name, "delete_metadef_namespace")
        .await?;
    state.metadefs.delete_all(&ns, kind).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn delete_objects(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_all(state, identity, name, Kind::Object).await
}

pub(crate) async fn delete_properties(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_all(state, identity, name, Kind::Property).await
}

pub(crate) async fn delete_tags(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_all(state, identity, name, Kind::Tag).await
}

// ---------------------------------------------------------------------------------------------
// Objects.

pub(crate) async fn list_objects(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let ns = state
        .metadefs
        .readable(&identity.caller, &name, "get_metadef_objects")
        .await?;
    for (k, v) in pairs(&uri) {
        match k.as_str() {
            "limit" => {
                limit_of(&v, false)?;
            }
            "sort_dir" => {
                sort_dir(&v)?;
            }
            _ => {}
        }
    }
    let objects = state.metadefs.entries(&ns, Kind::Object).await?;
    Ok(Json(json!({
        "objects": objects.iter().map(|e| object_json(&ns.namespace, e, "")).collect::<Vec<_>>(),
        "schema": "/v2/schemas/metadefs/objects",
    })))
}

pub(crate) async fn create_object(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let ns = state
        .metadefs
        .changeable(&identity.actor(), &name, "add_metadef_object")
        .await?;
    let map = object_body(&body, &READ_ONLY)?;
    let entry = object_from(&Value::Object(map)).map_err(|e| schema_error("object", e))?;
    state.metadefs.add_entry(&ns, Kind::Object, &entry).await?;
    Ok(created(object_json(&ns.namespace, &entry, "")))
}

pub(crate) async fn show_object(
    State(state): State<AppState>,
    identity: Identity,
    Path((name, object)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    no_body(&body)?;
    let ns = state
        .metadefs
        .readable(&identity.caller, &name, "get_metadef_object")
        .await?;
    let entry = state.metadefs.entry(&ns, Kind::Object, &object).await?;
    Ok(Json(object_json(&ns.namespace, &entry, "")))
}

pub(crate) async fn update_object(
    State(state): State<AppState>,
    identity: Identity,
    Path((name, object)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let ns = state
        .metadefs
        .changeable(&identity.actor(), &name, "modify_metadef_object")
        .await?;
    let map = object_body(&body, &READ_ONLY)?;
    let mut entry = object_from(&Value::Object(map)).map_err(|e| schema_error("object", e))?;
    state
        .metadefs
        .replace_entry(&ns, Kind::Object, &object, &mut entry)
        .await?;
    Ok(Json(object_json(&ns.namespace, &entry, "")))
}

/// Deletes one entry of a namespace.
async fn delete_one(
    state: &AppState,
    identity: &Identity,
    name: &str,
    kind: Kind,
    entry: &str,
) -> Result<StatusCode, ApiError> {
    state
        .metadefs
        .delete_entry(&identity.actor(), name, kind, entry)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn delete_object(
    State(state): State<AppState>,
    identity: Identity,
    Path((name, object)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    no_body(&body)?;
    delete_one(&state, &identity, &name, Kind::Object, &object).await
}

// ---------------------------------------------------------------------------------------------
// Properties.

pub(crate) async fn list_properties(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ns = state
        .metadefs
        .readable(&identity.caller, &name, "get_metadef_properties")
        .await?;
    let properties = state.metadefs.entries(&ns, Kind::Property).await?;
    Ok(Json(json!({
        "properties": properties
            .iter()
            .map(|p| (p.name.clone(), property_json(p, &p.name)))
            .collect::<Map<String, Value>>(),
    })))
}

fn property_body(body: &[u8]) -> Result<Entry, ApiError> {
    let map = object_body(body, &TIMESTAMPS)?;
    let value = Value::Object(map);
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    property_from(&name, &value, true).map_err(|e| schema_error("property", e))
}

pub(crate) async fn create_property(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let ns = state
        .metadefs
        .changeable(&identity.actor(), &name, "add_metadef_property")
        .await?;
    let entry = property_body(&body)?;
    state
        .metadefs
        .add_entry(&ns, Kind::Property, &entry)
        .await?;
    Ok(created(property_json(&entry, &entry.name)))
}

/// `GET .../properties/{p}`; with `?resource_type=`, `{p}` carries that association's prefix,
/// which the answer's name leaves out.
pub(crate) async fn show_property(
    State(state): State<AppState>,
    identity: Identity,
    Path((name, property)): Path<(String, String)>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let ns = state
        .metadefs
        .readable(&identity.caller, &name, "get_metadef_property")
        .await?;
    let resource_type = pairs(&uri)
        .into_iter()
        .find(|(k, _)| k == "resource_type")
        .map(|(_, v)| v);
    let entry = state
        .metadefs
        .property(&ns, &property, resource_type.as_deref())
        .await?;
    Ok(Json(property_json(&entry, &entry.name)))
}

pub(crate) async fn update_property(
    State(state): State<AppState>,
    identity: Identity,
    Path((name, property)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let ns = state
        .metadefs
        .changeable(&identity.actor(), &name, "modify_metadef_property")
        .await?;
    let mut entry = property_body(&body)?;
    state
        .metadefs
        .replace_entry(&ns, Kind::Property, &property, &mut entry)
        .await?;
    Ok(Json(property_json(&entry, &entry.name)))
}

pub(crate) async fn delete_property(
    State(state): State<AppState>,
    identity: Identity,
    Path((name, property)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    delete_one(&state, &identity, &name, Kind::Property, &property).await
}

// ---------------------------------------------------------------------------------------------
// Tags.

/// `GET .../tags`: `limit`, `marker` (a tag name), `sort_key` (`name`, `created_at`,
/// `updated_at`) and `sort_dir`.
pub(crate) async fn list_tags(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let ns = state
        .metadefs
        .readable(&identity.caller, &name, "get_metadef_tags")
        .await?;
    let (mut limit, mut sort_key, mut ascending, mut marker) =
        (1000, "created_at".to_string(), false, None);
    for (k, v) in pairs(&uri) {
        match k.as_str() {
            "limit" => limit = limit_of(&v, true)?,
            "sort_key" => match v.as_str() {
                "name" | "created_at" | "updated_at" => sort_key = v,
                _ => return Err(bad(format!("Invalid sort key: {v}"))),
            },
            "sort_dir" => ascending = sort_dir(&v)?,
            "marker" => marker = Some(v),
            _ => {}
        }
    }
    let tags = state
        .metadefs
        .tags(&ns, &sort_key, ascending, marker.as_deref(), limit)
        .await?;
    Ok(Json(json!({
        "tags": tags.iter().map(|t| json!({"name": t.name})).collect::<Vec<_>>(),
    })))
}

/// `POST .../tags`: `{"tags": [{"name": ...}, ...]}` replaces every tag, or with
/// `X-Openstack-Append: true` adds to them; all or nothing. An empty list changes nothing.
pub(crate) async fn create_tags(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let ns = state
        .metadefs
        .changeable(&identity.actor(), &name, "add_metadef_tags")
        .await?;
    let map = object_body(&body, &[])?;
    let parsed = (|| {
        only_keys(&map, &["tags"])?;
        match map.get("tags") {
            Some(Value::Array(items)) => items.iter().map(tag_from).collect(),
            Some(other) => Err(DefinitionError(format!(
                "'tags': {other} is not of type 'array'"
            ))),
            None => Err(DefinitionError("'tags' is a required property".into())),
        }
    })();
    let tags: Vec<Entry> = parsed.map_err(|e| schema_error("tags", e))?;
    if !tags.is_empty() {
        let append = headers
            .get("x-openstack-append")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "true" | "1" | "yes" | "y" | "on" | "t"
                )
            });
        state.metadefs.put_tags(&ns, &tags, append).await?;
    }
    Ok(created(json!({
        "tags": tags.iter().map(|t| json!({"name": t.name})).collect::<Vec<_>>(),
    })))
}

/// `POST .../tags/{tag}` (no body): one tag.
pub(crate) async fn create_tag(
    State(state): State<AppState>,
    identity: Identity,
    Path((name, tag)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    no_body(&body)?;
    let ns = state
        .metadefs
        .changeable(&identity.actor(), &name, "add_metadef_tag")
        .await?;
    let entry = tag_from(&json!({"name": tag})).map_err(|e| schema_error("tag", e))?;
    state.metadefs.add_entry(&ns, Kind::Tag, &entry).await?;
    Ok(created(tag_json(&entry)))
}

pub(crate) async fn show_tag(
    State(state): State<AppState>,
    identity: Identity,
    Path((name, tag)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    no_body(&body)?;
    let ns = state
        .metadefs
        .readable(&identity.caller, &name, "get_metadef_tag")
        .await?;
    let entry = state.metadefs.entry(&ns, Kind::Tag, &tag).await?;
    Ok(Json(tag_json(&entry)))
}

/// `PUT .../tags/{tag}` with `{"name": new}`: renames the tag.
pub(crate) async fn update_tag(
    State(state): State<AppState>,
    identity: Identity,
    Path((name, tag)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let ns = state
        .metadefs
        .changeable(&identity.actor(), &name, "modify_metadef_tag")
        .await?;
    let map = object_body(&body, &TIMESTAMPS)?;
    let mut entry = tag_from(&Value::Object(map)).map_err(|e| schema_error("tag", e))?;
    state
        .metadefs
        .replace_entry(&ns, Kind::Tag, &tag, &mut entry)
        .await?;
    Ok(Json(tag_json(&entry)))
}

pub(crate) async fn delete_tag(
    State(state): State<AppState>,
    identity: Identity,
    Path((name, tag)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    no_body(&body)?;
    delete_one(&state, &identity, &name, Kind::Tag, &tag).await
}

// ---------------------------------------------------------------------------------------------
// Resource types.

/// `GET /v2/metadefs/resource_types`: every resource type.
pub(crate) async fn list_resource_types(
    State(state): State<AppState>,
    identity: Identity,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    no_body(&body)?;
    let types = state.metadefs.resource_types(&identity.caller).await?;
    Ok(Json(json!({
        "resource_types": types.iter().map(|t| association_json(t, false)).collect::<Vec<_>>(),
    })))
}

pub(crate) async fn list_associations(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    no_body(&body)?;
    let ns = state
        .metadefs
        .readable(&identity.caller, &name, "list_metadef_resource_types")
        .await?;
    let associations = state
        .metadefs
        .associations_shown(&identity.caller, &ns)
        .await?;
    Ok(Json(json!({
        "resource_type_associations": associations
            .iter()
            .map(|a| association_json(a, true))
            .collect::<Vec<_>>(),
    })))
}

pub(crate) async fn create_association(
    State(state): State<AppState>,
    identity: Identity,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let ns = state
        .metadefs
        .changeable(
            &identity.actor(),
            &name,
            "add_metadef_resource_type_association",
        )
        .await?;
    let map = object_body(&body, &TIMESTAMPS)?;
    let a = association_from(&Value::Object(map))
        .map_err(|e| schema_error("resource_type_association", e))?;
    state.metadefs.add_association(&ns, &a).await?;
    Ok(created(association_json(&a, true)))
}

pub(crate) async fn delete_association(
    State(state): State<AppState>,
    identity: Identity,
    Path((name, rt)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    no_body(&body)?;
    state
        .metadefs
        .delete_association(&identity.actor(), &name, &rt)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Schemas.

/// `GET /v2/schemas/metadefs/{name}`.
pub(crate) async fn schema(
    _identity: Identity,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    no_body(&body)?;
    let text = match name.as_str() {
        "namespace" => include_str!("metadef_schemas/namespace.json"),
        "namespaces" => include_str!("metadef_schemas/namespaces.json"),
        "object" => include_str!("metadef_schemas/object.json"),
        "objects" => include_str!("metadef_schemas/objects.json"),
        "property" => include_str!("metadef_schemas/property.json"),
        "properties" => include_str!("metadef_schemas/properties.json"),
        "resource_type" => include_str!("metadef_schemas/resource_type.json"),
        "resource_types" => include_str!("metadef_schemas/resource_types.json"),
        "tag" => include_str!("metadef_schemas/tag.json"),
        "tags" => include_str!("metadef_schemas/tags.json"),
        _ => {
            return Err(ApiError::NotFound(
                "The resource could not be found.".into(),
            ));
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}
