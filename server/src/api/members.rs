//! `/v2/images/{id}/members`: sharing an image with other projects.
//!
//! Only `shared` images have members. The owner adds and removes them; each member accepts,
//! rejects or leaves pending its own membership; a pending or rejected member can still fetch the
//! image by id, but sees it listed only once accepted.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use glint_core::Visibility;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, RawBody};
use super::images::{load_visible, load_writable};
use crate::db::Member;
use crate::time;

/// Glance's `image_member_quota`.
const MEMBER_QUOTA: usize = 128;

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

fn owner_or_admin(identity: &Identity, owner: Option<&str>) -> bool {
    identity.caller.may_write(owner)
}

/// Glance's `get_member(s)`: administrators and the owner project (readers included) see
/// every member; a member project sees its own membership.
fn sees_member(identity: &Identity, owner: Option<&str>, member: &str) -> bool {
    identity.caller.is_admin()
        || identity.caller.owns(owner)
        || identity.caller.project_id.as_deref() == Some(member)
}

pub(crate) async fn list(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let stored = load_visible(&state, &identity, &id).await?;
    let all = state.db.members(&stored.image.id).await?;
    let shown: Vec<Value> = all
        .iter()
        .filter(|m| sees_member(&identity, stored.image.owner.as_deref(), &m.member))
        .map(member_json)
        .collect();
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
    let body: AddBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!("Expected {{\"member\": \"<project id>\"}}: {e}"))
    })?;
    let member = body.member.trim();
    if member.is_empty() || member.chars().count() > 255 {
        return Err(ApiError::BadRequest(
            "A member id must be 1 to 255 characters.".into(),
        ));
    }
    let stored = load_writable(&state, &identity, &id).await?;
    if stored.image.visibility != Visibility::Shared {
        return Err(ApiError::Forbidden(
            "Only shared images have members.".into(),
        ));
    }
    if state.db.members(&stored.image.id).await?.len() >= MEMBER_QUOTA {
        return Err(ApiError::PayloadTooLarge(format!(
            "Maximum number of members exceeded: {MEMBER_QUOTA} allowed."
        )));
    }
    let m = state.db.add_member(&stored.image.id, member).await?;
    Ok(Json(member_json(&m)))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    identity: Identity,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let stored = load_visible(&state, &identity, &id).await?;
    let may_see = sees_member(&identity, stored.image.owner.as_deref(), &member);
    match state.db.member(&stored.image.id, &member).await? {
        Some(m) if may_see => Ok(Json(member_json(&m))),
        _ => Err(ApiError::NotFound(format!(
            "{member} is not a member of image {}",
            stored.image.id
        ))),
    }
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
    let body: StatusBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("Expected {{\"status\": \"accepted\"}}: {e}")))?;
    if !matches!(body.status.as_str(), "pending" | "accepted" | "rejected") {
        return Err(ApiError::BadRequest(format!(
            "Invalid status '{}': expected pending, accepted or rejected.",
            body.status
        )));
    }
    let stored = load_visible(&state, &identity, &id).await?;
    if state.db.member(&stored.image.id, &member).await?.is_none() {
        return Err(ApiError::NotFound(format!(
            "{member} is not a member of image {}",
            stored.image.id
        )));
    }
    if !identity.caller.may_answer_share(&member) {
        return Err(ApiError::Forbidden(
            "Only a member of the member project may change its membership status.".into(),
        ));
    }
    let m = state
        .db
        .set_member_status(&stored.image.id, &member, &body.status)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{member} is no longer a member")))?;
    Ok(Json(member_json(&m)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    identity: Identity,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let stored = load_visible(&state, &identity, &id).await?;
    if !owner_or_admin(&identity, stored.image.owner.as_deref()) {
        return Err(ApiError::Forbidden(
            "Only the owner may remove a member.".into(),
        ));
    }
    if state.db.delete_member(&stored.image.id, &member).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "{member} is not a member of image {}",
            stored.image.id
        )))
    }
}
