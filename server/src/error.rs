//! Errors that stop the server from starting or running.

use thiserror::Error;

/// Why `glint serve` could not start or stopped.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("configuration: {message}")]
    Config { message: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Serve(#[from] std::io::Error),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
