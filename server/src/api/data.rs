//! Image data: `PUT` and `GET /v2/images/{id}/file` and `PUT /v2/images/{id}/stage`: the
//! headers (size, store, `Range`) and the response; the data operations do the rest.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::extract::{Identity, declared_size, etag, if_match, store_header};
use crate::data::Readable;

fn require_octet_stream(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.split(';').next().map(str::trim) == Some("application/octet-stream") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type '{content_type}' is not supported for image data: use application/octet-stream."
        )))
    }
}

/// `PUT /v2/images/{id}/file`.
pub(crate) async fn upload(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    require_octet_stream(&headers)?;
    let declared = declared_size(&headers)?;
    let store = store_header(&headers)?;
    state
        .data
        .upload(
            &identity.actor(),
            &id,
            if_match(&headers),
            body.into_data_stream(),
            declared,
            store,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v2/images/{id}/stage`: data for a later `glance-direct` import.
pub(crate) async fn stage(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    require_octet_stream(&headers)?;
    let declared = declared_size(&headers)?;
    let store = store_header(&headers)?;
    state
        .data
        .stage(
            &identity.actor(),
            &id,
            if_match(&headers),
            body.into_data_stream(),
            declared,
            store,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A parsed `Range` (or legacy `Content-Range`) request: `(offset, len)`.
fn range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let unsatisfiable = ApiError::RangeNotSatisfiable { size };
    let spec = if let Some(v) = headers.get(header::RANGE) {
        let v = v.to_str().unwrap_or_default().trim();
        match v.strip_prefix("bytes=") {
            Some(s) => s.to_string(),
            None => return Err(unsatisfiable),
        }
    } else if let Some(v) = headers.get(header::CONTENT_RANGE) {
        let v = v.to_str().unwrap_or_default().trim();
        let s = v
            .strip_prefix("bytes ")
            .ok_or(ApiError::RangeNotSatisfiable { size })?;
        s.split('/').next().unwrap_or_default().to_string()
    } else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Err(unsatisfiable);
    }
    let (a, b) = spec
        .split_once('-')
        .ok_or(ApiError::RangeNotSatisfiable { size })?;
    let num = |s: &str| s.trim().parse::<u64>().ok();
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n = num(suffix)
                .filter(|n| *n > 0)
                .ok_or(ApiError::RangeNotSatisfiable { size })?;
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (start, "") => (
            num(start).ok_or(ApiError::RangeNotSatisfiable { size })?,
            size.saturating_sub(1),
        ),
        (start, end) => {
            let (s, e) = (num(start), num(end));
            match (s, e) {
                (Some(s), Some(e)) if s <= e => (s, e.min(size.saturating_sub(1))),
                _ => return Err(unsatisfiable),
            }
        }
    };
    if size == 0 || start >= size || start > end {
        return Err(ApiError::RangeNotSatisfiable { size });
    }
    Ok(Some((start, end - start + 1)))
}

/// `GET /v2/images/{id}/file`, whole or a `Range` of it.
pub(crate) async fn download(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (stored, size) = match state.data.open(&identity.caller, &id).await? {
        Readable::Data(stored, size) => (stored, size),
        Readable::Nothing => return Ok(StatusCode::NO_CONTENT.into_response()),
    };
    let image = &stored.image;
    let wanted = range(&headers, size)?;
    let (offset, len) = wanted.unwrap_or((0, size));
    let stream = state
        .data
        .read(image, offset, len, &identity.actor().by())
        .await?;
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(md5) = image
        .checksum
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert("Content-MD5", md5);
    }
    if let Ok(v) = HeaderValue::from_str(&etag(stored.version)) {
        h.insert(header::ETAG, v);
    }
    if wanted.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let end = offset + len - 1;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {offset}-{end}/{size}")) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    response
        .headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    Ok(response)
}
