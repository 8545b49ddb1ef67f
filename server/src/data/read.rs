//! Reading an image's data: who may, and from where (this server's cache first).

use glint_core::{Caller, Status};

use super::{Data, DataError};
use crate::db::StoredImage;
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
        let stored = crate::access::load_downloadable(self.db(), caller, id).await?;
        let image = &stored.image;
        match image.status {
            Status::Deactivated if !caller.is_admin() => {
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

    /// `len` bytes from `offset` of an image's data: from this server's cache when it holds
    /// the image, else from the first of its stores that answers.
    pub(crate) async fn read(
        &self,
        image: &glint_core::Image,
        offset: u64,
        len: u64,
    ) -> Result<ByteStream, DataError> {
        if let Some(cache) = &self.cache
            && let Some(stream) = cache.read(&image.id, offset, len).await
        {
            return Ok(stream);
        }
        Ok(self.stores().read(&image.locations, offset, len).await?)
    }
}
