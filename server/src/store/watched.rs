//! A store whose failures are counted: every operation that fails, and every data stream that
//! breaks, is told to a callback with the operation's name (`metrics` counts them by store).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use super::{ByteStream, Store, StoreError, StoreWriter, Sweep};

/// What is told of a failure: the operation (`write`, `read`, `delete`, ...).
pub type OnError = Arc<dyn Fn(&'static str) + Send + Sync>;

/// `inner`, with its failures told to `on_error`.
pub struct Watched {
    inner: Arc<dyn Store>,
    on_error: OnError,
}

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl Watched {
    pub fn new(inner: Arc<dyn Store>, on_error: OnError) -> Watched {
        Watched { inner, on_error }
    }

    fn told<T>(&self, op: &'static str, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if r.is_err() {
            (self.on_error)(op);
        }
        r
    }
}

struct WatchedWriter {
    inner: Box<dyn StoreWriter>,
    on_error: OnError,
}

impl StoreWriter for WatchedWriter {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let r = self.inner.write(chunk).await;
            if r.is_err() {
                (self.on_error)("write");
            }
            r
        })
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<String, StoreError>> {
        let on_error = self.on_error.clone();
        let commit = self.inner.commit();
        Box::pin(async move {
            let r = commit.await;
            if r.is_err() {
                on_error("commit");
            }
            r
        })
    }
}

impl Store for Watched {
    fn begin<'a>(
        &'a self,
        image_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn StoreWriter>, StoreError>> {
        Box::pin(async move {
            let writer = self.told("begin", self.inner.begin(image_id).await)?;
            Ok(Box::new(WatchedWriter {
                inner: writer,
                on_error: self.on_error.clone(),
            }) as Box<dyn StoreWriter>)
        })
    }

    fn read<'a>(
        &'a self,
        location: &'a str,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, Result<ByteStream, StoreError>> {
        Box::pin(async move {
            let stream = self.told("read", self.inner.read(location, offset, len).await)?;
            let on_error = self.on_error.clone();
            let watched = stream.inspect(move |chunk| {
                if chunk.is_err() {
                    on_error("read");
                }
            });
            Ok(Box::pin(watched) as ByteStream)
        })
    }

    fn delete<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.told("delete", self.inner.delete(location).await) })
    }

    fn location_of(&self, image_id: &str) -> String {
        self.inner.location_of(image_id)
    }

    fn owns(&self, location: &str) -> bool {
        self.inner.owns(location)
    }

    fn size_of<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let r = self.inner.size_of(location).await;
            match r {
                Err(StoreError::NotFound(_)) => r,
                _ => self.told("size", r),
            }
        })
    }

    fn sweep<'a>(&'a self, rule: &'a Sweep) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move { self.told("sweep", self.inner.sweep(rule).await) })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.told("check", self.inner.check().await) })
    }
}
