//! The API's errors and the one place they become HTTP responses, in Glance's error shape.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use glint_core::{RequestError, Violation};
use thiserror::Error;

use crate::db::DbError;
use crate::store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    PatchMediaType { message: String },
    #[error("Requested range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    #[error("{0}")]
    HeaderTooLarge(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("The server is shutting down or overloaded; try again.")]
    Unavailable,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The identity service failed (not the caller's token: that is `Unauthorized`).
    #[error(transparent)]
    Keystone(#[from] crate::keystone::KeystoneError),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) | ApiError::PatchMediaType { .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::HeaderTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::Keystone(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Db(DbError::Duplicate(_)) => StatusCode::CONFLICT,
            ApiError::Db(_) | ApiError::Store(_) | ApiError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    pub(crate) fn not_found_image(id: &str) -> ApiError {
        ApiError::NotFound(format!("No image found with ID {id}"))
    }

    /// The refusal for a plan's first violation.
    pub(crate) fn from_violation(v: &Violation) -> ApiError {
        let m = v.message.clone();
        match v.status {
            403 => ApiError::Forbidden(m),
            409 => ApiError::Conflict(m),
            413 => ApiError::PayloadTooLarge(m),
            _ => ApiError::BadRequest(m),
        }
    }

    /// What the client is told. Internal details are logged, never sent.
    fn public_message(&self) -> String {
        match self {
            ApiError::Db(DbError::Duplicate(what)) => format!("{what} already exists."),
            ApiError::Db(_) | ApiError::Store(_) | ApiError::Internal(_) => {
                "The server failed to handle the request; the error is in its log.".into()
            }
            // Keystone's answers name its URL, Glint's service user and ids.
            ApiError::Keystone(_) => {
                "The identity service could not answer; the error is in the server's log.".into()
            }
            other => other.to_string(),
        }
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> ApiError {
        use crate::auth::AuthError;
        match e {
            AuthError::Unauthorized(m) => ApiError::Unauthorized(m),
            AuthError::TooManyLogins(m) => ApiError::TooManyRequests(m),
            AuthError::Keystone(e) => ApiError::Keystone(e),
            AuthError::Accounts(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<crate::limits::LimitError> for ApiError {
    fn from(e: crate::limits::LimitError) -> ApiError {
        use crate::limits::LimitError;
        match e {
            LimitError::Over(m) => ApiError::PayloadTooLarge(m),
            LimitError::Keystone(e) => ApiError::Keystone(e),
            LimitError::Db(e) => ApiError::Db(e),
        }
    }
}

impl From<crate::images::ImageError> for ApiError {
    fn from(e: crate::images::ImageError) -> ApiError {
        use crate::images::ImageError;
        match e {
            ImageError::Denied(d) => d.into(),
            ImageError::Refused(v) => ApiError::from_violation(&v),
            e @ ImageError::Stale { .. } => ApiError::PreconditionFailed(e.to_string()),
            e @ ImageError::NoSuchTag(_) => ApiError::NotFound(e.to_string()),
            ImageError::InvalidLocation(m) => ApiError::BadRequest(m),
            ImageError::QuotaExceeded(m) => ApiError::PayloadTooLarge(m),
            ImageError::Limits(e) => e.into(),
            e @ ImageError::Protected(_) => ApiError::Forbidden(e.to_string()),
            ImageError::Invalid(m) => ApiError::BadRequest(m),
            e @ ImageError::NotShared => ApiError::Forbidden(e.to_string()),
            e @ ImageError::NoSuchMember(..) => ApiError::NotFound(e.to_string()),
            e @ ImageError::Busy => ApiError::Conflict(e.to_string()),
            ImageError::Db(e) => ApiError::Db(e),
        }
    }
}

impl From<crate::data::DataError> for ApiError {
    fn from(e: crate::data::DataError) -> ApiError {
        use crate::data::DataError;
        match e {
            DataError::Image(e) => e.into(),
            DataError::Invalid(m) => ApiError::BadRequest(m),
            DataError::WrongFormat(m) => ApiError::UnsupportedMediaType(m),
            DataError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            DataError::Forbidden(m) => ApiError::Forbidden(m),
            DataError::NotFound(m) => ApiError::NotFound(m),
            DataError::Conflict(m) => ApiError::Conflict(m),
            DataError::Gone(m) => ApiError::Gone(m),
            DataError::NoToken(m) => ApiError::Unauthorized(m),
            DataError::Keystone(e) => ApiError::Keystone(e),
            DataError::Store(e) => ApiError::Store(e),
            DataError::Db(e) => ApiError::Db(e),
            DataError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<crate::metadefs::MetadefError> for ApiError {
    fn from(e: crate::metadefs::MetadefError) -> ApiError {
        use crate::metadefs::MetadefError;
        match e {
            MetadefError::NotFound(m) => ApiError::NotFound(m),
            MetadefError::Forbidden(m) => ApiError::Forbidden(m),
            MetadefError::Conflict(m) => ApiError::Conflict(m),
            MetadefError::Db(e) => ApiError::Db(e),
        }
    }
}

impl From<crate::access::Denied> for ApiError {
    fn from(e: crate::access::Denied) -> ApiError {
        match e {
            crate::access::Denied::NotFound(id) => ApiError::not_found_image(&id),
            crate::access::Denied::Forbidden(m) => ApiError::Forbidden(m),
            crate::access::Denied::Db(e) => ApiError::Db(e),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> ApiError {
        match e.status() {
            415 => ApiError::PatchMediaType {
                message: e.to_string(),
            },
            _ => ApiError::BadRequest(e.to_string()),
        }
    }
}

/// The `Accept` header of the request being answered, kept so errors can be shaped to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorFormat {
    Json,
    Html,
    Text,
}

impl ErrorFormat {
    pub(crate) fn from_headers(headers: &HeaderMap) -> ErrorFormat {
        match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
            None => ErrorFormat::Text,
            Some(a) if a.contains("application/json") => ErrorFormat::Json,
            Some(a) if a.contains("text/plain") && !a.contains("html") => ErrorFormat::Text,
            Some(_) => ErrorFormat::Html,
        }
    }
}

/// Renders an error body the way Glance's webob errors look for each `Accept`.
pub(crate) fn render(status: StatusCode, message: &str, format: ErrorFormat) -> Response {
    let code = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let title = status.canonical_reason().unwrap_or("Error");
    let (content_type, body) = match format {
        ErrorFormat::Json => (
            "application/json",
            serde_json::json!({"message": message, "code": code, "title": title}).to_string(),
        ),
        ErrorFormat::Html => (
            "text/html; charset=UTF-8",
            format!(
                "<html>\n <head>\n  <title>{code}</title>\n </head>\n <body>\n  <h1>{code}</h1>\n  {}<br /><br />\n\n\n\n </body>\n</html>",
                html_escape(message)
            ),
        ),
        ErrorFormat::Text => (
            "text/plain; charset=UTF-8",
            format!("{code}\n\n{message}\n\n   "),
        ),
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An error on its way out; the response middleware shapes its body to the request's `Accept`.
#[derive(Debug, Clone)]
pub(crate) struct PendingError {
    pub(crate) message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let message = self.public_message();
        let mut response = render(status, &message, ErrorFormat::Json);
        match &self {
            ApiError::PatchMediaType { .. } => {
                response.headers_mut().insert(
                    "Accept-Patch",
                    HeaderValue::from_static(
                        "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch",
                    ),
                );
            }
            ApiError::RangeNotSatisfiable { size } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, v);
                }
            }
            _ => {}
        }
        response.extensions_mut().insert(PendingError { message });
        response
    }
}
