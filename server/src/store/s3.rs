//! The S3 store: one object per image in a bucket (AWS S3, Ceph RGW, Garage, MinIO...), written
//! as a streamed multipart upload and read with ranged GETs, through `object_store`'s S3 client.
//! An upload that does not commit is aborted, so no parts are left behind.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart,
};

use super::{ByteStream, Store, StoreError, StoreWriter};

/// Size of each uploaded part (S3's minimum is 5 MiB).
const PART: usize = 16 << 20;
/// Parts in flight at once: bounds memory to about `PART * (PARALLEL + 1)`.
const PARALLEL: usize = 2;

/// Where and how to reach the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `http(s)://host:port`; empty for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key`.
    pub path_style: bool,
}

/// Images as objects under a prefix of one bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    s3: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
}

fn s3_error(e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { path, .. } => StoreError::NotFound(path),
        other => StoreError::Io(std::io::Error::other(other.to_string())),
    }
}

impl S3Store {
    /// A store of objects under `prefix/` (`images`, `staging`).
    pub fn new(settings: &S3Settings, prefix: &str) -> Result<S3Store, StoreError> {
        crate::install_tls_provider();
        let mut builder = AmazonS3Builder::new()
            .with_region(&settings.region)
            .with_bucket_name(&settings.bucket)
            .with_access_key_id(&settings.access_key)
            .with_secret_access_key(&settings.secret_key)
            .with_virtual_hosted_style_request(!settings.path_style)
            .with_client_options(ClientOptions::new().with_allow_http(true));
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let s3 = builder.build().map_err(s3_error)?;
        Ok(S3Store {
            s3: Arc::new(s3),
            bucket: settings.bucket.clone(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    fn key(&self, image_id: &str) -> Path {
        match self.prefix.as_str() {
            "" => Path::from(image_id),
            prefix => Path::from(format!("{prefix}/{image_id}")),
        }
    }

    /// The object a location names: Glint's `s3://bucket/prefix/name`, or glance_store's
    /// `s3[+http|+https]://[access:secret@]host[:port]/bucket/prefix/name` (an object Glance
    /// wrote, read in place), in this store's bucket and prefix.
    fn path_of(&self, location: &str) -> Result<Path, StoreError> {
        let foreign = || StoreError::ForeignLocation(location.to_string());
        let in_store = |key: &str| -> Option<Path> {
            let name = match self.prefix.as_str() {
                "" => key,
                prefix => key.strip_prefix(prefix)?.strip_prefix('/')?,
            };
            (!name.is_empty() && !name.contains('/')).then(|| self.key(name))
        };
        let glint = location
            .strip_prefix("s3://")
            .and_then(|r| r.strip_prefix(self.bucket.as_str()))
            .and_then(|r| r.strip_prefix('/'))
            .and_then(in_store);
        if let Some(path) = glint {
            return Ok(path);
        }
        let rest = ["s3://", "s3+http://", "s3+https://"]
            .iter()
            .find_map(|scheme| location.strip_prefix(scheme))
            .ok_or_else(foreign)?;
        let (authority_end, _) = rest
            .char_indices()
            .find(|(_, c)| *c == '/')
            .ok_or_else(foreign)?;
        // The credentials may hold '/': the host starts after the last '@' before the path.
        let after_credentials = rest.rfind('@').map(|at| at + 1).unwrap_or(0);
        let path = match after_credentials > authority_end {
            true => rest[after_credentials..].split_once('/').map(|(_, p)| p),
            false => Some(&rest[authority_end + 1..]),
        }
        .ok_or_else(foreign)?;
        path.strip_prefix(self.bucket.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .and_then(in_store)
            .ok_or_else(foreign)
    }
}

struct S3Writer {
    upload: Option<WriteMultipart>,
    location: String,
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // Not committed: abort the multipart upload so its parts do not linger.
        if let Some(upload) = self.upload.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                if let Err(e) = upload.abort().await {
                    tracing::warn!("aborting an unfinished S3 upload failed: {e}");
                }
            });
        }
    }
}

impl StoreWriter for S3Writer {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let upload = self
                .upload
                .as_mut()
                .ok_or_else(|| StoreError::Io(std::io::Error::other("upload already ended")))?;
            upload.wait_for_capacity(PARALLEL).await.map_err(s3_error)?;
            upload.put(chunk);
            Ok(())
        })
    }

    fn commit(mut self: Box<Self>) -> BoxFuture<'static, Result<String, StoreError>> {
        let upload = self.upload.take();
        let location = std::mem::take(&mut self.location);
        Box::pin(async move {
            let upload = upload
                .ok_or_else(|| StoreError::Io(std::io::Error::other("upload already ended")))?;
            upload.finish().await.map_err(s3_error)?;
            Ok(location)
        })
    }
}

impl Store for S3Store {
    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            // An object that is never written: "not found" is the bucket answering.
            match self.s3.head(&self.key(".glint-healthcheck")).await {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(s3_error(e)),
            }
        })
    }

    fn begin<'a>(
        &'a self,
        image_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn StoreWriter>, StoreError>> {
        Box::pin(async move {
            let upload = self
                .s3
                .put_multipart(&self.key(image_id))
                .await
                .map_err(s3_error)?;
            Ok(Box::new(S3Writer {
                upload: Some(WriteMultipart::new_with_chunk_size(upload, PART)),
                location: self.location_of(image_id),
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
            let path = self.path_of(location)?;
            if len == 0 {
                return Ok(Box::pin(futures_util::stream::empty()) as ByteStream);
            }
            let options = GetOptions {
                range: Some(GetRange::Bounded(offset..offset + len)),
                ..GetOptions::default()
            };
            let result = self.s3.get_opts(&path, options).await.map_err(s3_error)?;
            let stream = result
                .into_stream()
                .map(|r| r.map_err(|e| std::io::Error::other(e.to_string())));
            Ok(Box::pin(stream) as ByteStream)
        })
    }

    fn delete<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let path = self.path_of(location)?;
            match self.s3.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(s3_error(e)),
            }
        })
    }

    fn location_of(&self, image_id: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(image_id))
    }

    fn owns(&self, location: &str) -> bool {
        self.path_of(location).is_ok()
    }

    fn size_of<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let path = self.path_of(location)?;
            let meta = self.s3.head(&path).await.map_err(s3_error)?;
            Ok(meta.size)
        })
    }

    /// Unfinished uploads are aborted when their writer drops; one cut short by a crash is
    /// left to the bucket's `AbortIncompleteMultipartUpload` lifecycle rule.
    fn sweep<'a>(&'a self, _rule: &'a super::Sweep) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async { Ok(0) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(prefix: &str) -> S3Store {
        let settings = S3Settings {
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: "us-east-1".into(),
            bucket: "glance".into(),
            access_key: "a".into(),
            secret_key: "s".into(),
            path_style: true,
        };
        S3Store::new(&settings, prefix).expect("a store")
    }

    #[test]
    fn glints_and_glances_urls_name_objects_of_the_bucket() {
        let root = store("");
        let id = "2d8e6c1a-7a61-4c8e-9a4f-0d8f0c9b1f11";
        assert_eq!(root.location_of(id), format!("s3://glance/{id}"));
        for url in [
            format!("s3://glance/{id}"),
            format!("s3://AKIA:se/cr@et@s3.example:8080/glance/{id}"),
            format!("s3+https://AKIA:secret@s3.example/glance/{id}"),
            format!("s3+http://127.0.0.1:9000/glance/{id}"),
        ] {
            assert_eq!(root.path_of(&url).expect(&url).as_ref(), id, "{url}");
            assert!(root.owns(&url));
        }
        for url in [
            format!("s3://other/{id}"),
            format!("s3+https://k:s@host/other/{id}"),
            format!("s3://glance/images/{id}"),
            "s3+https://k:s@host/glance/".to_string(),
            format!("swift://glance/{id}"),
        ] {
            assert!(root.path_of(&url).is_err(), "{url}");
        }
        let images = store("images");
        assert_eq!(images.location_of(id), format!("s3://glance/images/{id}"));
        assert!(images.owns(&format!("s3://glance/images/{id}")));
        assert!(images.owns(&format!("s3+https://k:s@host/glance/images/{id}")));
        assert!(!images.owns(&format!("s3://glance/{id}")));
    }
}
