//! Tasks: `POST` and `GET /v2/tasks`, `GET /v2/tasks/{id}` and `GET /v2/images/{id}/tasks`. Every import
//! makes one; its status and message say how the import went and, if it failed, why.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, RawBody};
use super::shared::load_visible;
use crate::data::LegacyImport;
use crate::db::{Task, TaskQuery};
use crate::time;

pub(crate) fn task_json(t: &Task) -> Value {
    json!({
        "id": t.id,
        "type": t.kind,
        "status": t.status,
        "owner": t.owner,
        "image_id": t.image_id,
        "request_id": t.request_id,
        "user_id": t.user_id,
        "input": t.input,
        "result": t.result,
        "message": t.message,
        "created_at": time::format(t.created_at),
        "updated_at": time::format(t.updated_at),
        "expires_at": t.expires_at.map(time::format),
        "self": format!("/v2/tasks/{}", t.id),
        "schema": "/v2/schemas/task",
    })
}

pub(crate) async fn image_tasks(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let stored = load_visible(&state, &identity, &id).await?;
    let tasks: Vec<Value> = state
        .db
        .image_tasks(&stored.image.id)
        .await?
        .iter()
        .filter(|t| {
            crate::access::sees_image_task(
                &state.images.rules,
                &identity.caller,
                &stored.image,
                t.owner.as_deref(),
            )
        })
        .map(task_json)
        .collect();
    Ok(Json(json!({ "tasks": tasks })))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    allowed(&state, &identity, "get_task")?;
    let not_found = || ApiError::NotFound(format!("Task with the given identifier {id} not found"));
    let task = state.db.task(&id).await?.ok_or_else(not_found)?;
    if !crate::access::sees_task(&state.images.rules, &identity.caller, task.owner.as_deref()) {
        return Err(not_found());
    }
    Ok(Json(task_json(&task)))
}

/// The tasks API's policies, as Glance checks them: `tasks_api_access` (administrators by
/// default) for every call, then the call's own (`get_task`, `get_tasks`, `add_task`).
fn allowed(state: &AppState, identity: &Identity, policy: &str) -> Result<(), ApiError> {
    for rule in ["tasks_api_access", policy] {
        if !state.images.rules.allows(rule, &identity.caller, None) {
            return Err(crate::access::refused(rule).into());
        }
    }
    Ok(())
}

const DEFAULT_LIMIT: i64 = 25;
const MAX_LIMIT: i64 = 1000;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// `GET /v2/tasks`: filters `status` and `type`, `sort_dir`, `limit` and `marker` paging (by
/// creation time, as Glance sorts by default). An administrator sees every task, anyone else
/// their project's.
pub(crate) async fn list(
    State(state): State<AppState>,
    identity: Identity,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    allowed(&state, &identity, "get_tasks")?;
    let owner = match state.images.rules.is_admin(&identity.caller) {
        true => None,
        false => Some(
            identity
                .caller
                .project_id
                .clone()
                .ok_or_else(|| ApiError::Forbidden("Listing tasks needs a project.".into()))?,
        ),
    };
    let (mut status, mut kind, mut marker_id) = (None, None, None);
    let mut ascending = false;
    let mut limit = DEFAULT_LIMIT;
    let mut passthrough = Vec::new();
    for (key, value) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "status" => {
                if !matches!(
                    value.as_str(),
                    "pending" | "processing" | "success" | "failure"
                ) {
                    return Err(bad(format!("Invalid status value: {value}")));
                }
                status = Some(value.clone());
            }
            "type" => {
                if !matches!(
                    value.as_str(),
                    "import" | "api_image_import" | "location_import"
                ) {
                    return Err(bad(format!("Invalid type value: {value}")));
                }
                kind = Some(value.clone());
            }
            "sort_dir" => match value.as_str() {
                "asc" => ascending = true,
                "desc" => ascending = false,
                _ => return Err(bad(format!("Invalid sort direction: {value}"))),
            },
            "sort_key" => {
                if value != "created_at" {
                    return Err(bad(format!("Invalid sort key: {value}")));
                }
            }
            "limit" => {
                limit = value
                    .parse::<i64>()
                    .map_err(|_| bad("limit param must be an integer"))?;
                if limit < 0 {
                    return Err(bad("limit param must be positive"));
                }
                limit = limit.min(MAX_LIMIT);
                continue;
            }
            "marker" => {
                marker_id = Some(value);
                continue;
            }
            other => return Err(bad(format!("Unknown filter or parameter '{other}'."))),
        }
        passthrough.push((key.into_owned(), value));
    }
    let marker = match &marker_id {
        Some(m) => {
            let found = state.db.task(m).await?.filter(|t| {
                crate::access::sees_task(&state.images.rules, &identity.caller, t.owner.as_deref())
            });
            Some(found.ok_or_else(|| bad(format!("Invalid marker: no task {m}")))?)
        }
        None => None,
    };
    let query = TaskQuery {
        owner: owner.as_deref(),
        status: status.as_deref(),
        kind: kind.as_deref(),
        marker: marker.as_ref(),
        ascending,
        limit,
    };
    let tasks = state.db.tasks(&query).await?;
    let link = |marker: Option<&str>| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &passthrough {
            s.append_pair(k, v);
        }
        if let Some(m) = marker {
            s.append_pair("marker", m);
        }
        match s.finish() {
            q if q.is_empty() => "/v2/tasks".to_string(),
            q => format!("/v2/tasks?{q}"),
        }
    };
    let mut body = json!({
        "tasks": tasks.iter().map(task_summary).collect::<Vec<_>>(),
        "first": link(None),
        "schema": "/v2/schemas/tasks",
    });
    if limit > 0
        && i64::try_from(tasks.len()).unwrap_or(i64::MAX) == limit
        && let Some(last) = tasks.last()
    {
        body["next"] = Value::String(link(Some(&last.id)));
    }
    Ok(Json(body))
}

/// A task as listed: Glance leaves out its input, result and message.
fn task_summary(t: &Task) -> Value {
    let mut v = task_json(t);
    if let Some(o) = v.as_object_mut() {
        for hidden in ["input", "result", "message"] {
            o.remove(hidden);
        }
    }
    v
}

#[derive(Debug, serde::Deserialize)]
struct LegacyImportInput {
    import_from: Option<String>,
    import_from_format: Option<String>,
    image_properties: Option<serde_json::Map<String, Value>>,
}

/// `POST /v2/tasks` (the `tasks_api_access` and `add_task` policies: administrators by
/// default): the legacy `import` task. It creates an image from
/// `image_properties` (`disk_format` defaults to `import_from_format`, `container_format` to
/// `bare`) and fetches `import_from` into it in the background, through the web-download guard,
/// hashing, inspection and quota. The task's result names the image; a failed fetch leaves the
/// image `queued` with the reason in the task.
pub(crate) async fn create(
    State(state): State<AppState>,
    identity: Identity,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    allowed(&state, &identity, "add_task")?;
    let doc: Value = match body.is_empty() {
        true => return Err(bad("Body expected in request.")),
        false => serde_json::from_slice(&body)
            .map_err(|e| bad(format!("Malformed JSON in request body: {e}")))?,
    };
    let Some(doc) = doc.as_object() else {
        return Err(bad("The request body must be a JSON object."));
    };
    for required in ["type", "input"] {
        if !doc.contains_key(required) {
            return Err(bad(format!("Task '{required}' is required")));
        }
    }
    match doc.get("type").and_then(Value::as_str) {
        Some("import") => {}
        Some(t @ ("api_image_import" | "location_import")) => {
            return Err(bad(format!(
                "Tasks of type '{t}' are created by the server, not through this API."
            )));
        }
        _ => {
            return Err(bad(
                "Provided object does not match schema 'task': 'type' must be one of \
                 ['import', 'api_image_import', 'location_import']",
            ));
        }
    }
    let raw_input = doc.get("input").cloned().unwrap_or(Value::Null);
    let input: LegacyImportInput = serde_json::from_value(raw_input.clone())
        .map_err(|e| bad(format!("Invalid task input: {e}")))?;
    let (Some(from), Some(format), Some(mut props)) = (
        input.import_from,
        input.import_from_format,
        input.image_properties,
    ) else {
        let missing = ["import_from", "import_from_format", "image_properties"]
            .into_iter()
            .find(|k| raw_input.get(k).is_none_or(Value::is_null))
            .unwrap_or("input");
        return Err(bad(format!("Input does not contain '{missing}' field")));
    };
    if from.starts_with("file:") || from.starts_with("filesystem:") {
        return Err(bad(
            "File based imports are not allowed. Please use a non-local source of image data.",
        ));
    }
    if !(from.starts_with("http://") || from.starts_with("https://")) {
        return Err(bad(
            "The given uri is not valid. Please specify a valid uri from the following list \
             of supported uri ['http', 'https']",
        ));
    }
    props
        .entry("disk_format")
        .or_insert_with(|| Value::String(format.clone()));
    props
        .entry("container_format")
        .or_insert_with(|| Value::String("bare".into()));
    let create = glint_core::Create::from_body(Value::Object(props).to_string().as_bytes())?;
    let order = LegacyImport {
        from,
        image: create,
        input: raw_input,
    };
    let task = state.data.legacy_import(&identity.actor(), order).await?;
    let mut response = (StatusCode::CREATED, Json(task_json(&task))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/v2/tasks/{}", task.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// `DELETE /v2/tasks/{id}`: tasks expire on their own (after the `tasks_api_access` policy,
/// as Glance).
pub(crate) async fn delete(
    State(state): State<AppState>,
    identity: Identity,
) -> Result<Response, ApiError> {
    if !state
        .images
        .rules
        .allows("tasks_api_access", &identity.caller, None)
    {
        return Err(crate::access::refused("tasks_api_access").into());
    }
    Ok((
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "GET")],
        "This operation is currently not permitted on Glance Tasks. They are auto deleted \
         after reaching the time based on their expires_at property.",
    )
        .into_response())
}
