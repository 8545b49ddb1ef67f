//! `/v2/images/{id}/members`: sharing an image with other projects (`images::sharing` decides);
//! Glance's bodies and statuses here.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, RawBody, json_body};
use crate::db::Member;
use crate::time;

fn member_json(m: &Member) -> Value {
    json!({
        "member_id": m.member,
        "image_id": m.image_id,
        "status": m.status,
        "created_at": time::format(m.created_at),
        "updated_at": time::format(m.updated_at),
        "schema": "/v2/schemas/member",
    })
}

pub(crate) async fn list(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let members = state.images.members(&identity.actor(), &id).await?;
    let shown: Vec<Value> = members.iter().map(member_json).collect();
    Ok(Json(
        json!({"members": shown, "schema": "/v2/schemas/members"}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    member: String,
}

pub(crate) async fn add(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body: AddBody = json_body(&body, "Expected {\"member\": \"<project id>\"}")?;
    let m = state
        .images
        .add_member(&identity.actor(), &id, &body.member)
        .await?;
    Ok(Json(member_json(&m)))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    identity: Identity,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let m = state.images.member(&identity.actor(), &id, &member).await?;
    Ok(Json(member_json(&m)))
}

/// Clients send more than the status (openstacksdk repeats the member id); only it counts.
#[derive(Debug, Deserialize)]
struct StatusBody {
    status: String,
}

pub(crate) async fn update(
    State(state): State<AppState>,
    identity: Identity,
    Path((id, member)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body: StatusBody = json_body(&body, "Expected {\"status\": \"accepted\"}")?;
    let m = state
        .images
        .answer_share(&identity.actor(), &id, &member, &body.status)
        .await?;
    Ok(Json(member_json(&m)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    identity: Identity,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .images
        .remove_member(&identity.actor(), &id, &member)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
