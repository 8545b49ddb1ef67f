//! Versions, schemas and `/v2/info`.

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::Identity;
use super::shared::import_methods;
use axum::extract::State;

/// The versions document, as Glance builds it: 2.18 (the cache's clean and prune) is current
/// where the image cache is on, 2.17 otherwise; the multi-store versions (2.10 to 2.13) are
/// listed where stores are named.
fn versions_doc(state: &AppState, headers: &HeaderMap) -> Value {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let cache = state.data.cache.is_some();
    let mut versions: Vec<(&str, &str)> = Vec::new();
    if cache {
        versions.extend([
            ("v2.18", "CURRENT"),
            ("v2.17", "SUPPORTED"),
            ("v2.16", "SUPPORTED"),
            ("v2.15", "SUPPORTED"),
            ("v2.14", "SUPPORTED"),
        ]);
    } else {
        versions.push(("v2.15", "SUPPORTED"));
    }
    if state.stores.is_multi() {
        versions.extend([
            ("v2.13", "SUPPORTED"),
            ("v2.12", "SUPPORTED"),
            ("v2.11", "SUPPORTED"),
            ("v2.10", "SUPPORTED"),
            ("v2.9", "SUPPORTED"),
            ("v2.8", "SUPPORTED"),
        ]);
    } else {
        versions.push(("v2.9", "SUPPORTED"));
    }
    if !cache {
        versions.push(("v2.17", "CURRENT"));
    }
    versions.extend([
        ("v2.7", "SUPPORTED"),
        ("v2.6", "SUPPORTED"),
        ("v2.5", "SUPPORTED"),
        ("v2.4", "SUPPORTED"),
        ("v2.3", "SUPPORTED"),
        ("v2.2", "SUPPORTED"),
        ("v2.1", "SUPPORTED"),
        ("v2.0", "SUPPORTED"),
    ]);
    let list: Vec<Value> = versions
        .iter()
        .map(|(id, status)| {
            json!({"id": id, "status": status, "links": [{"rel": "self", "href": format!("http://{host}/v2/")}]})
        })
        .collect();
    json!({ "versions": list })
}

/// `GET /`: a browser (asking for HTML) gets the web UI; API clients get Glance's answer,
/// 300 Multiple Choices with the versions document.
pub(crate) async fn root(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        return super::shared::ui_page(&state.http.ui_index).await;
    }
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(versions_doc(&state, &headers)),
    )
        .into_response()
}

pub(crate) async fn versions(State(state): State<AppState>, headers: HeaderMap) -> Json<Value> {
    Json(versions_doc(&state, &headers))
}

/// The image schema: Glance's base properties, then the deployment's additional ones
/// (`schema-image.json`, `is_base: false`) and its required list.
pub(crate) fn image_schema(settings: &glint_core::Settings) -> Value {
    let formats = |list: &[&str]| {
        let mut v: Vec<Value> = vec![Value::Null];
        v.extend(list.iter().map(|s| Value::from(*s)));
        v
    };
    let mut schema = json!({
        "name": "image",
        "properties": {
            "id": {"type": "string", "description": "An identifier for the image", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "name": {"type": ["null", "string"], "description": "Descriptive name for the image", "maxLength": 255},
            "status": {"type": "string", "readOnly": true, "description": "Status of the image", "enum": ["queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"]},
            "visibility": {"type": "string", "description": "Scope of image accessibility", "enum": ["community", "public", "private", "shared"]},
            "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
            "os_hidden": {"type": "boolean", "description": "If true, image will not appear in default image list response."},
            "checksum": {"type": ["null", "string"], "readOnly": true, "description": "md5 hash of image contents.", "maxLength": 32},
            "os_hash_algo": {"type": ["null", "string"], "readOnly": true, "description": "Algorithm to calculate the os_hash_value", "maxLength": 64},
            "os_hash_value": {"type": ["null", "string"], "readOnly": true, "description": "Hexdigest of the image contents using the algorithm specified by the os_hash_algo", "maxLength": 128},
            "owner": {"type": ["null", "string"], "description": "Owner of the image", "maxLength": 255},
            "size": {"type": ["null", "integer"], "readOnly": true, "description": "Size of image file in bytes"},
            "virtual_size": {"type": ["null", "integer"], "readOnly": true, "description": "Virtual size of image in bytes"},
            "container_format": {"type": ["null", "string"], "description": "Format of the container", "enum": formats(&glint_core::settings::DEFAULT_CONTAINER_FORMATS)},
            "disk_format": {"type": ["null", "string"], "description": "Format of the disk", "enum": formats(&glint_core::settings::DEFAULT_DISK_FORMATS)},
            "created_at": {"type": "string", "readOnly": true, "description": "Date and time of image registration"},
            "updated_at": {"type": "string", "readOnly": true, "description": "Date and time of the last image modification"},
            "tags": {"type": "array", "description": "List of strings related to the image", "items": {"type": "string", "maxLength": 255}},
            "direct_url": {"type": "string", "readOnly": true, "description": "URL to access the image file kept in external store"},
            "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
            "min_disk": {"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
            "self": {"type": "string", "readOnly": true, "description": "An image self url"},
            "file": {"type": "string", "readOnly": true, "description": "An image file url"},
            "stores": {"type": "string", "readOnly": true, "description": "Store in which image data resides.  Only present when the operator has enabled multiple stores."},
            "schema": {"type": "string", "readOnly": true, "description": "An image schema url"},
            "locations": {"type": "array", "description": "A set of URLs to access the image file kept in external store", "items": {"type": "object", "properties": {"url": {"type": "string", "maxLength": 255}, "metadata": {"type": "object"}, "validation_data": {"type": "object"}}, "required": ["url", "metadata"]}}
        },
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    });
    let extra = &settings.image_schema;
    if let Some(properties) = schema["properties"].as_object_mut() {
        for (name, def) in extra.shown() {
            properties.entry(name).or_insert(def);
        }
    }
    if !extra.required.is_empty() {
        schema["required"] = json!(extra.required);
    }
    schema
}

pub(crate) async fn schema_image(State(state): State<AppState>) -> Json<Value> {
    Json(image_schema(&state.images.settings))
}

pub(crate) async fn schema_images(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema(&state.images.settings)},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"}
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    }))
}

fn member_schema() -> Value {
    json!({
        "name": "member",
        "properties": {
            "created_at": {"type": "string", "description": "Date and time of image member creation"},
            "image_id": {"type": "string", "description": "An identifier for the image", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
            "status": {"type": "string", "description": "The status of this image member", "enum": ["pending", "accepted", "rejected"]},
            "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
            "schema": {"readOnly": true, "type": "string"}
        }
    })
}

pub(crate) async fn schema_member() -> Json<Value> {
    Json(member_schema())
}

pub(crate) async fn schema_members() -> Json<Value> {
    Json(json!({
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema()},
            "schema": {"type": "string"}
        },
        "links": [{"rel": "describedby", "href": "{schema}"}]
    }))
}

fn task_schema() -> Value {
    json!({
        "name": "task",
        "properties": {
            "id": {"type": "string", "description": "An identifier for the task", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "type": {"type": "string", "description": "The type of task represented by this content", "enum": ["import", "api_image_import"]},
            "status": {"type": "string", "description": "The current status of this task", "enum": ["pending", "processing", "success", "failure"]},
            "input": {"type": ["null", "object"], "description": "The parameters required by task, JSON blob"},
            "result": {"type": ["null", "object"], "description": "The result of current task, JSON blob"},
            "owner": {"type": ["null", "string"], "description": "An identifier for the owner of this task"},
            "message": {"type": "string", "description": "Human-readable informative message only included when appropriate (usually on failure)"},
            "image_id": {"type": "string", "description": "Image associated with the task"},
            "request_id": {"type": "string", "description": "Request ID associated with the task"},
            "user_id": {"type": "string", "description": "User associated with the task"},
            "expires_at": {"type": ["null", "string"], "description": "Datetime when this resource would be subject to removal"},
            "created_at": {"type": "string", "description": "Datetime when this resource was created"},
            "updated_at": {"type": "string", "description": "Datetime when this resource was updated"},
            "self": {"type": "string"},
            "schema": {"type": "string"}
        }
    })
}

pub(crate) async fn schema_task() -> Json<Value> {
    Json(task_schema())
}

pub(crate) async fn schema_tasks() -> Json<Value> {
    Json(json!({
        "name": "tasks",
        "properties": {
            "tasks": {"type": "array", "items": task_schema()},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"}
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    }))
}

pub(crate) async fn info_import(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "import-methods": {
            "description": "Import methods available.",
            "type": "array",
            "value": import_methods(&state)
        }
    }))
}

/// `GET /v2/info/usage`: the caller's project's limits and usage (Glance's unified limits
/// shape; a limit of -1 is none). A caller without a project has none to show.
pub(crate) async fn info_usage(
    State(state): State<AppState>,
    identity: Identity,
) -> Result<Json<Value>, ApiError> {
    let Some(project) = identity.caller.project_id.as_deref() else {
        return Ok(Json(json!({"usage": {}})));
    };
    let lines = state.images.limits.usage(project).await?;
    let usage: serde_json::Map<String, Value> = lines
        .iter()
        .map(|l| {
            let entry = json!({"limit": l.limit, "usage": l.usage});
            (l.resource.name().to_string(), entry)
        })
        .collect();
    Ok(Json(json!({"usage": usage})))
}

fn no_multi_backend() -> ApiError {
    ApiError::NotFound("Multi backend is not supported at this site.".into())
}

/// `GET /v2/info/stores`: the stores images can be put in.
pub(crate) async fn info_stores(
    State(state): State<AppState>,
    _identity: Identity,
) -> Result<Json<Value>, ApiError> {
    if !state.stores.is_multi() {
        return Err(no_multi_backend());
    }
    Ok(Json(json!({"stores": store_list(&state, false)})))
}

/// `GET /v2/info/stores/detail` (administrators and the `service` role, as Glance 30+):
/// each store with its kind, weight and settings (an RBD store's pool and cluster fsid).
pub(crate) async fn info_stores_detail(
    State(state): State<AppState>,
    identity: Identity,
) -> Result<Json<Value>, ApiError> {
    if !state
        .images
        .rules
        .allows("stores_info_detail", &identity.caller, None)
    {
        return Err(ApiError::Forbidden(
            "You are not authorized to complete stores_info_detail action.".into(),
        ));
    }
    if !state.stores.is_multi() {
        return Err(no_multi_backend());
    }
    Ok(Json(json!({"stores": store_list(&state, true)})))
}

fn store_list(state: &AppState, detail: bool) -> Vec<Value> {
    let default = &state.stores.default_store().id;
    state
        .stores
        .all()
        .iter()
        .map(|s| {
            let mut v = json!({"id": s.id});
            if let Some(d) = &s.description {
                v["description"] = json!(d);
            }
            if &s.id == default {
                v["default"] = json!("true");
            }
            if s.read_only {
                v["read-only"] = json!("true");
            }
            if detail {
                v["type"] = json!(s.kind);
                v["weight"] = json!(s.weight);
                v["properties"] = s.properties.clone();
            }
            v
        })
        .collect()
}
