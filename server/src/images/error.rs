//! Why an image operation did not happen.

use glint_core::Violation;
use thiserror::Error;

use crate::access::Denied;
use crate::db::DbError;

#[derive(Debug, Error)]
pub(crate) enum ImageError {
    /// Not visible, or visible and not the caller's to change.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The plan breaks a rule; the violation carries Glance's status.
    #[error("{}", .0.message)]
    Refused(Violation),
    /// `If-Match` names another version than the image's.
    #[error("The image has changed: its ETag is {current}, the request expected {expected}.")]
    Stale { current: String, expected: String },
    /// A tag to remove that the image does not have.
    #[error("Tag {0} not found")]
    NoSuchTag(String),
    /// A location that cannot be added (malformed, or refused by the import guard).
    #[error("{0}")]
    InvalidLocation(String),
    #[error("{0}")]
    QuotaExceeded(String),
    /// Over one of the project's limits, or the limits could not be read.
    #[error(transparent)]
    Limits(#[from] crate::limits::LimitError),
    /// A request the operation cannot take (the sentence says why).
    #[error("{0}")]
    Invalid(String),
    /// Members are for shared images.
    #[error("Only shared images have members.")]
    NotShared,
    /// No such membership (or not one the caller may see).
    #[error("{0} is not a member of image {1}")]
    NoSuchMember(String, String),
    /// A protected image cannot be deleted.
    #[error("Image {0} is protected and cannot be deleted.")]
    Protected(String),
    /// Other writers kept changing the image while this change was planned again.
    #[error("The image is being changed by other requests; try again.")]
    Busy,
    #[error(transparent)]
    Db(#[from] DbError),
}
