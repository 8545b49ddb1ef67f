//! Where image data lives. The server streams data through a [`Store`]; nothing above this
//! module knows whether it is a file or an object.

mod fs;
mod s3;

use std::fmt::Debug;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;
use thiserror::Error;

pub use fs::FsStore;
pub use s3::{S3Settings, S3Store};

/// A stream of image data.
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Why the store could not do what was asked.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("no data at {0}")]
    NotFound(String),
    #[error("location {0} does not belong to this store")]
    ForeignLocation(String),
}

/// A place to keep image data.
pub trait Store: Send + Sync + Debug {
    /// Starts writing the data of an image. Nothing is visible until the writer commits.
    fn begin<'a>(
        &'a self,
        image_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn StoreWriter>, StoreError>>;

    /// Reads `len` bytes from `offset` of the data at `location`.
    fn read<'a>(
        &'a self,
        location: &'a str,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, Result<ByteStream, StoreError>>;

    /// Removes the data at `location` (no error if it is already gone).
    fn delete<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Where `begin(image_id)` puts committed data.
    fn location_of(&self, image_id: &str) -> String;

    /// Removes data that writers left behind (after a crash); called at start-up.
    fn sweep(&self) -> BoxFuture<'_, Result<usize, StoreError>>;
}

/// Data being written. Dropping it without `commit` discards what was written.
pub trait StoreWriter: Send {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Makes the data durable and visible; returns its location.
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<String, StoreError>>;
}
