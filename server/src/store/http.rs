//! The http store: read-only, for image data at http(s) locations (Glance's http store). Reads
//! go through the import guard's client, so a location cannot reach what web-download cannot.

use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;

use super::{ByteStream, Store, StoreError, StoreWriter};

/// Data at http(s) URLs.
#[derive(Debug, Clone)]
pub struct HttpStore {
    client: reqwest::Client,
}

impl HttpStore {
    pub fn new(client: reqwest::Client) -> HttpStore {
        HttpStore { client }
    }

    /// The size of the data at `url`, from a `HEAD` request's `Content-Length`.
    pub async fn size(&self, url: &str) -> Option<u64> {
        let r = self.client.head(url).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(std::io::Error::other(e.to_string()))
}

impl Store for HttpStore {
    fn begin<'a>(
        &'a self,
        _image_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn StoreWriter>, StoreError>> {
        Box::pin(async { Err(io("the http store is read-only")) })
    }

    fn read<'a>(
        &'a self,
        location: &'a str,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, Result<ByteStream, StoreError>> {
        Box::pin(async move {
            if !(location.starts_with("http://") || location.starts_with("https://")) {
                return Err(StoreError::ForeignLocation(location.to_string()));
            }
            let mut request = self.client.get(location);
            if offset > 0 || len != u64::MAX {
                let end = offset.saturating_add(len).saturating_sub(1);
                request = request.header(reqwest::header::RANGE, format!("bytes={offset}-{end}"));
            }
            let response = request.send().await.map_err(io)?;
            match response.status() {
                s if s == reqwest::StatusCode::NOT_FOUND => {
                    Err(StoreError::NotFound(location.to_string()))
                }
                s if s.is_success() => {
                    let stream = response.bytes_stream().map_err(std::io::Error::other);
                    Ok(Box::pin(stream) as ByteStream)
                }
                s => Err(io(format!("{location} answered {s}"))),
            }
        })
    }

    /// The data belongs to whoever serves it: removing a location leaves it there.
    fn delete<'a>(&'a self, _location: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn location_of(&self, _image_id: &str) -> String {
        String::new()
    }

    fn sweep<'a>(&'a self, _rule: &'a super::Sweep) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async { Ok(0) })
    }
}
