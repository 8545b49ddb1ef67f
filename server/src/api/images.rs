//! `/v2/images` and `/v2/images/{id}`: create, show, update, delete, tags, (de)activation.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use glint_core::{Create, Edit, Patch, PatchDialect, Request, Status};
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, RawBody, base_url, no_body, wants_preview};
use super::shared::{
    image_response, import_methods, load_visible, load_writable, modify, outcome_response,
    preview_response,
};

pub(crate) async fn create(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
    uri: Uri,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    // The add_image policy is the plan's first rule.
    let (template, plan) = state
        .images
        .plan_create(&identity.caller, Create::from_body(&body)?);
    if wants_preview(&headers, uri.query()) {
        return Ok(preview_response(&state, &identity, &plan, 0));
    }
    let stored = state
        .images
        .insert_planned(&identity.actor(), &template, &plan, "create")
        .await?;
    let mut response = image_response(&state, &identity, &stored, StatusCode::CREATED);
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}/v2/images/{}",
        base_url(&headers),
        stored.image.id
    )) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&import_methods(&state).join(",")) {
        h.insert("OpenStack-image-import-methods", v);
    }
    if state.stores.is_multi() {
        let ids: Vec<&str> = state
            .stores
            .all()
            .iter()
            .filter(|s| !s.read_only)
            .map(|s| s.id.as_str())
            .collect();
        if let Ok(v) = HeaderValue::from_str(&ids.join(",")) {
            h.insert("OpenStack-image-store-ids", v);
        }
    }
    Ok(response)
}

pub(crate) async fn show(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    no_body(&body)?;
    let stored = load_visible(&state, &identity, &id).await?;
    Ok(image_response(&state, &identity, &stored, StatusCode::OK))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let dialect = PatchDialect::from_content_type(content_type)?;
    let doc: Value = super::extract::json_body(&body, "Malformed JSON in request body")?;
    let patch = Patch::parse(dialect, &doc)?;
    let preview = wants_preview(&headers, uri.query());
    let request = Request::Patch(patch);
    let outcome = modify(&state, &identity, &id, &headers, preview, "patch", |_| {
        Ok(request.clone())
    })
    .await?;
    Ok(outcome_response(&state, &identity, outcome))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    no_body(&body)?;
    state.images.delete(&identity.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn tags_edit(tags: Vec<String>) -> Request {
    Request::Edit(Edit {
        attributes: [("tags".to_string(), Value::from(tags))]
            .into_iter()
            .collect(),
        ..Edit::default()
    })
}

pub(crate) async fn add_tag(
    State(state): State<AppState>,
    identity: Identity,
    Path((id, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    modify(&state, &identity, &id, &headers, false, "tag", |image| {
        let mut tags = image.tags.clone();
        if !tags.contains(&tag) {
            tags.push(tag.clone());
        }
        Ok(tags_edit(tags))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn delete_tag(
    State(state): State<AppState>,
    identity: Identity,
    Path((id, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    modify(&state, &identity, &id, &headers, false, "untag", |image| {
        if !image.tags.contains(&tag) {
            return Err(crate::images::ImageError::NoSuchTag(tag.clone()));
        }
        Ok(tags_edit(
            image.tags.iter().filter(|t| **t != tag).cloned().collect(),
        ))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn deactivate(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    switch_activation(
        &state,
        &identity,
        &id,
        Status::Active,
        Status::Deactivated,
        "deactivate",
    )
    .await
}

pub(crate) async fn reactivate(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    switch_activation(
        &state,
        &identity,
        &id,
        Status::Deactivated,
        Status::Active,
        "reactivate",
    )
    .await
}

/// `from` → `to`; already `to` is fine (204); any other status is refused (403), as Glance does.
async fn switch_activation(
    state: &AppState,
    identity: &Identity,
    id: &str,
    from: Status,
    to: Status,
    verb: &str,
) -> Result<StatusCode, ApiError> {
    let policy = match to {
        Status::Deactivated => "deactivate",
        _ => "reactivate",
    };
    let stored = load_writable(state, identity, id, policy).await?;
    let status = stored.image.status;
    if status == to {
        return Ok(StatusCode::NO_CONTENT);
    }
    if status != from {
        return Err(ApiError::Forbidden(format!(
            "Not allowed to {verb} image in status '{status}'"
        )));
    }
    if state
        .db
        .transition(&stored.image.id, &[from], to, None)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Conflict(
            "The image changed status meanwhile; try again.".into(),
        ))
    }
}
