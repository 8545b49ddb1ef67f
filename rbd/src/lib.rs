//! A small safe layer over librados and librbd: a cluster connection, a pool, an image, and
//! the calls an image service makes on them (create, write, read, snapshots, trash). The
//! libraries are loaded when first used, so a program using this crate starts (and runs
//! without RBD) on a machine without Ceph's libraries.
//!
//! Every call blocks until the cluster answers: run them on a blocking thread.

mod ffi;
mod handles;

pub use handles::{Cluster, Image, Pool, ReadQueue, TrashEntry, WriteQueue};

use thiserror::Error;

/// What librados or librbd answered.
#[derive(Debug, Clone, Error)]
pub enum RbdError {
    /// The libraries could not be loaded (not installed) or lack a function.
    #[error("{0}")]
    Load(String),
    /// A call failed with this errno.
    #[error("{op}: {}", std::io::Error::from_raw_os_error(*.errno))]
    Call { op: &'static str, errno: i32 },
    /// A name or setting holds a NUL byte.
    #[error("{0} holds a NUL byte")]
    Nul(&'static str),
}

impl RbdError {
    /// The errno of a failed call.
    pub fn errno(&self) -> Option<i32> {
        match self {
            RbdError::Call { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    pub fn is(&self, errno: i32) -> bool {
        self.errno() == Some(errno)
    }
}

impl From<RbdError> for std::io::Error {
    fn from(e: RbdError) -> std::io::Error {
        match e.errno() {
            Some(errno) => std::io::Error::new(
                std::io::Error::from_raw_os_error(errno).kind(),
                e.to_string(),
            ),
            None => std::io::Error::other(e.to_string()),
        }
    }
}

/// Errno values librbd answers with, as the rbd bindings name them.
pub mod errno {
    pub use libc::{EBUSY, EEXIST, EINVAL, ENOENT, ENOSPC, ENOTEMPTY, ERANGE, EROFS};
}

pub type Result<T> = std::result::Result<T, RbdError>;

/// Turns a C return value into a result: negative values are `-errno`.
fn check(op: &'static str, rc: i64) -> Result<u64> {
    if rc < 0 {
        Err(RbdError::Call {
            op,
            errno: i32::try_from(-rc).unwrap_or(i32::MAX),
        })
    } else {
        Ok(rc as u64)
    }
}

fn cstring(what: &'static str, s: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(s).map_err(|_| RbdError::Nul(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_returns_are_errnos() {
        assert_eq!(check("x", 5).ok(), Some(5));
        let e = check("rbd_remove", -i64::from(libc::ENOTEMPTY)).expect_err("an error");
        assert!(e.is(errno::ENOTEMPTY));
        assert!(e.to_string().starts_with("rbd_remove: "), "{e}");
        let io: std::io::Error = check("w", -i64::from(libc::ENOSPC))
            .expect_err("full")
            .into();
        assert_eq!(io.kind(), std::io::ErrorKind::StorageFull);
    }

    #[test]
    fn names_with_nul_bytes_are_refused() {
        assert!(matches!(
            cstring("pool", "a\0b"),
            Err(RbdError::Nul("pool"))
        ));
    }
}
