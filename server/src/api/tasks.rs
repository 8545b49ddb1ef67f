//! Tasks: `GET /v2/tasks`, `GET /v2/tasks/{id}` and `GET /v2/images/{id}/tasks`. Every import
//! makes one; its status and message say how the import went and, if it failed, why.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::Identity;
use super::images::load_visible;
use crate::db::Task;
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
    let tasks = state.db.image_tasks(&stored.image.id).await?;
    Ok(Json(
        json!({"tasks": tasks.iter().map(task_json).collect::<Vec<_>>()}),
    ))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::NotFound(format!("Task with the given identifier {id} not found"));
    let task = state.db.task(&id).await?.ok_or_else(not_found)?;
    if !identity.caller.is_admin() && !identity.caller.owns(task.owner.as_deref()) {
        return Err(not_found());
    }
    Ok(Json(task_json(&task)))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    identity: Identity,
) -> Result<Json<Value>, ApiError> {
    let owner = match identity.caller.is_admin() {
        true => None,
        false => Some(
            identity
                .caller
                .project_id
                .clone()
                .ok_or_else(|| ApiError::Forbidden("Listing tasks needs a project.".into()))?,
        ),
    };
    let tasks = state.db.tasks(owner.as_deref(), 1000).await?;
    Ok(Json(json!({
        "tasks": tasks.iter().map(task_json).collect::<Vec<_>>(),
        "first": "/v2/tasks",
        "schema": "/v2/schemas/tasks",
    })))
}
