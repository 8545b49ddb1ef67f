//! Requests that cannot even be read. A request that can be read but breaks a rule is not an
//! error: its plan carries a [`Violation`](crate::Violation).

use thiserror::Error;

/// Why a request could not be read, with the HTTP status Glance gives it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    #[error("Bad header: {0}")]
    BadHeader(String),
    #[error("Header {0} is given more than once.")]
    RepeatedHeader(String),
    #[error(
        "Unsupported Content-Type '{0}' for a PATCH: use application/openstack-images-v2.1-json-patch or application/openstack-images-v2.0-json-patch."
    )]
    UnsupportedPatchType(String),
    #[error("{0}")]
    BadBody(String),
    #[error("Invalid operation at index {index}: {reason}")]
    BadOperation { index: usize, reason: String },
    #[error("{0}")]
    BadPointer(String),
    #[error("Invalid JSON pointer for this resource: '{0}'")]
    PointerNotAllowed(String),
}

impl RequestError {
    /// The HTTP status Glance answers with.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::UnsupportedPatchType(_) => 415,
            _ => 400,
        }
    }
}
