//! Reading an image's data: who may, and from where (this server's cache first).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use glint_core::{Caller, Status};

use super::{Data, DataError};
use crate::db::StoredImage;
use crate::events::{By, Event};
use crate::store::ByteStream;

/// What a download finds.
#[derive(Debug)]
pub(crate) enum Readable {
    /// The image has no data to read (not active, or no location).
    Nothing,
    /// The image and the size of its data.
    Data(Box<StoredImage>, u64),
}

impl Data {
    /// An image whose data the caller may download: only administrators read a deactivated
    /// image's data (403 for anyone else).
    pub(crate) async fn open(&self, caller: &Caller, id: &str) -> Result<Readable, DataError> {
        let stored =
            crate::access::load_downloadable(self.db(), &self.images.rules, caller, id).await?;
        let image = &stored.image;
        match image.status {
            Status::Deactivated if !self.images.rules.is_admin(caller) => {
                return Err(DataError::Forbidden(
                    "The requested image has been deactivated. Image data download is forbidden."
                        .into(),
                ));
            }
            Status::Active | Status::Deactivated => {}
            _ => return Ok(Readable::Nothing),
        }
        match image.size.filter(|_| !image.locations.is_empty()) {
            Some(size) => Ok(Readable::Data(Box::new(stored), size)),
            None => Ok(Readable::Nothing),
        }
    }

    /// `len` bytes from `offset` of an image's data, for `by`: from this server's cache when it
    /// holds the image, else from the first of its stores that answers. When the stream ends
    /// (or is dropped, the client gone), what was sent is told (`image.send`).
    pub(crate) async fn read(
        &self,
        image: &glint_core::Image,
        offset: u64,
        len: u64,
        by: &By,
    ) -> Result<ByteStream, DataError> {
        let cached = match &self.cache {
            Some(cache) => cache.read(&image.id, offset, len).await,
            None => None,
        };
        let inner = match cached {
            Some(stream) => stream,
            None => self.stores().read(&image.locations, offset, len).await?,
        };
        let (events, by) = (self.images.events.clone(), by.clone());
        let (image_id, owner) = (image.id.clone(), image.owner.clone());
        let tell = move |bytes_sent| {
            events.emit(&Event::Sent {
                image_id,
                owner,
                bytes_sent,
                expected: len,
                by,
            })
        };
        Ok(Box::pin(Counted {
            inner,
            sent: 0,
            expected: len,
            tell: Some(Box::new(tell)),
        }))
    }
}

/// A stream of image data that tells how much of it was sent, once: as it hands over the last
/// byte asked for (before the client can have it), or when it ends or is dropped short.
struct Counted {
    inner: ByteStream,
    sent: u64,
    expected: u64,
    tell: Option<Box<dyn FnOnce(u64) + Send>>,
}

impl Counted {
    fn told(&mut self) {
        if let Some(tell) = self.tell.take() {
            tell(self.sent);
        }
    }
}

impl Stream for Counted {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) => {
                self.sent += chunk.len() as u64;
                if self.sent >= self.expected {
                    self.told();
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.told(),
            Poll::Pending => {}
        }
        next
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.told();
    }
}
