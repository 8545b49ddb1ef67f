//! Property history: every applied plan, every soft-deleted value, and restoring them.
//!
//! History holds values that an image's owner removed so that they would no longer travel
//! with it: only callers who may change the image (its owner project's members,
//! administrators) read or restore it; others get 404 where they cannot see the image and 403
//! where they can. Properties the caller may not read (property protections) are left out of
//! every change record and row, and cannot be restored by name.
//!
//! `GET /v2/images/{id}/history` lists the change records (oldest first) and every property row,
//! removed ones with their `deleted_at`. `POST /v2/images/{id}/history/restore` with
//! `{"properties": ["k1", ...]}` brings back the last removed value of each key, or with
//! `{"change": N}` the values change N removed. A restore is planned like any other update
//! (`Prefer: return=preview` shows the plan first) and recorded as a change of its own.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::Uri;
use axum::response::Response;
use glint_core::{Edit, Request};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, RawBody, wants_preview};
use super::shared::modify;
use crate::time;

pub(crate) async fn history(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let stored = state
        .images
        .load_writable(&identity.caller, &id, "get_image_history")
        .await?;
    let changes = state.db.changes(&stored.image.id).await?;
    let readable = state.context(&identity.caller);
    let rows: Vec<_> = state
        .db
        .property_rows(&stored.image.id)
        .await?
        .into_iter()
        .filter(|r| readable.may(&r.name, glint_core::Operation::Read))
        .collect();
    Ok(Json(json!({
        "image_id": stored.image.id,
        "changes": changes.iter().map(|c| {
            let plan = state.shown_plan(&identity.caller, &c.plan);
            json!({
                "id": c.id,
                "changed_at": time::format(c.changed_at),
                "request_id": c.request_id,
                "user_id": c.user_id,
                "project_id": c.project_id,
                "action": c.action,
                "added": plan.added,
                "changed": plan.changed,
                "removed": plan.removed,
                "attributes": plan.attributes,
                "purge": plan.purge,
            })
        }).collect::<Vec<_>>(),
        "properties": rows.iter().map(|r| {
            let mut row = json!({
                "name": r.name,
                "value": r.value,
                "deleted": r.deleted,
                "deleted_at": r.deleted_at.map(time::format),
                "updated_at": time::format(r.updated_at),
            });
            // Removed before Glance kept the time (Launchpad #901534), adopted as such.
            if r.deleted && r.deleted_at.is_none() {
                row["deleted_at_unknown"] = json!(true);
            }
            row
        }).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    #[serde(default)]
    properties: Option<Vec<String>>,
    #[serde(default)]
    change: Option<i64>,
}

pub(crate) async fn restore(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body: RestoreBody = super::extract::json_body(
        &body,
        "Expected {\"properties\": [names]} or {\"change\": id}",
    )?;
    let stored = state
        .images
        .load_writable(&identity.caller, &id, "restore_image_history")
        .await?;
    let readable = state.context(&identity.caller);
    let may_read = |k: &str| readable.may(k, glint_core::Operation::Read);
    let values: Vec<(String, String)> = match (body.properties, body.change) {
        (Some(names), None) => {
            let rows = state.db.property_rows(&stored.image.id).await?;
            let mut values = Vec::new();
            for name in names {
                match rows.iter().find(|r| r.name == name && may_read(&r.name)) {
                    Some(r) if r.deleted => values.push((name, r.value.clone())),
                    Some(_) => {
                        return Err(ApiError::Conflict(format!(
                            "Property {name} is not removed; there is nothing to restore."
                        )));
                    }
                    None => {
                        return Err(ApiError::NotFound(format!(
                            "Property {name} has never been set on this image."
                        )));
                    }
                }
            }
            values
        }
        (None, Some(change)) => {
            let changes = state.db.changes(&stored.image.id).await?;
            let record = changes
                .iter()
                .find(|c| c.id == change)
                .ok_or_else(|| ApiError::NotFound(format!("No change {change} for this image.")))?;
            // What the caller may not read stays removed: restoring it would pass a value it
            // cannot see through the plan.
            record
                .plan
                .removed
                .iter()
                .filter(|(k, _)| may_read(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
        _ => {
            return Err(ApiError::BadRequest(
                "Give exactly one of 'properties' or 'change'.".into(),
            ));
        }
    };
    let edit = Request::Edit(Edit {
        properties: values.into_iter().collect(),
        ..Edit::default()
    });
    let preview = wants_preview(&headers, uri.query());
    let outcome = modify(&state, &identity, &id, &headers, preview, "restore", |_| {
        Ok(edit.clone())
    })
    .await?;
    Ok(super::shared::outcome_response(&state, &identity, outcome))
}
