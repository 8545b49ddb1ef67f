//! Why a data operation did not happen.

use thiserror::Error;

use crate::access::Denied;
use crate::db::DbError;
use crate::images::ImageError;
use crate::store::StoreError;

#[derive(Debug, Error)]
pub(crate) enum DataError {
    /// Refused by the image operations (access, a plan's violation, ...).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A request the operation cannot take (the sentence says why).
    #[error("{0}")]
    Invalid(String),
    /// The data is not of the declared format (Glance answers 415).
    #[error("{0}")]
    WrongFormat(String),
    /// Beyond the size cap or the project's storage quota.
    #[error("{0}")]
    TooLarge(String),
    /// Not allowed to this caller, or not now (a deactivated image's data).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The image is not in a state the operation needs (another writer has it, say).
    #[error("{0}")]
    Conflict(String),
    /// The image went away while its data was written; nothing was kept.
    #[error("{0}")]
    Gone(String),
    /// A call that acts with the caller's token elsewhere was made without one.
    #[error("{0}")]
    NoToken(String),
    #[error(transparent)]
    Keystone(#[from] crate::keystone::KeystoneError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

impl From<Denied> for DataError {
    fn from(d: Denied) -> DataError {
        DataError::Image(ImageError::Denied(d))
    }
}

impl DataError {
    /// What a task that ended with this error says: internal details only in the log.
    pub(crate) fn task_message(&self) -> String {
        match self {
            DataError::Db(DbError::Duplicate(what))
            | DataError::Image(ImageError::Db(DbError::Duplicate(what))) => {
                format!("{what} already exists.")
            }
            DataError::Db(_)
            | DataError::Store(_)
            | DataError::Internal(_)
            | DataError::Image(ImageError::Db(_))
            | DataError::Image(ImageError::Denied(Denied::Db(_))) => {
                "The import failed in the server (its storage or database); the server's log \
                 has the details."
                    .into()
            }
            other => other.to_string(),
        }
    }
}
