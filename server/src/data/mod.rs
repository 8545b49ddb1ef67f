//! Image data below the HTTP API: uploads and staging, the imports (glance-direct,
//! web-download, copy-image, glance-download, the legacy import task and locations given by
//! URL), the tasks that run them in the background, reads, and removing data from one store.
//!
//! Every way data comes in goes through one pipeline: the image is claimed (`queued` to
//! `saving` or `importing`, under an owner token only this writer holds), the bytes are hashed,
//! inspected against the declared `disk_format` and counted against the size cap and the
//! project's storage quota on their way into a store, and the data becomes the image's only
//! once it is whole and accepted. Anything else puts the image back to `queued` and removes
//! what was written. Nothing here knows HTTP: the API translates requests into these calls and
//! `DataError` into Glance's responses.

mod convert;
mod decompress;
mod error;
mod imports;
mod read;
mod tasks;
mod upload;

use std::sync::Arc;

pub(crate) use convert::{Conversion, OutputFormat};
pub(crate) use error::DataError;
pub(crate) use imports::{ImportRequest, LegacyImport, NewLocation, Started};
pub(crate) use read::Readable;

use crate::db::Db;
use crate::images::Images;
use crate::store::{NamedStore, Store, Stores};

/// The data operations and what they need.
#[derive(Debug, Clone)]
pub(crate) struct Data {
    /// The image operations (a glance-download sets the image's formats through them) and the
    /// database, stores and events they hold.
    pub(crate) images: Images,
    /// Where `stage` keeps data until it is imported.
    pub(crate) staging: Arc<dyn Store>,
    /// This process's name in upload ownership records.
    pub(crate) node: Arc<str>,
    /// The largest image accepted, in bytes (Glance's `image_size_cap`).
    pub(crate) size_cap: u64,
    /// The algorithm of new data's `os_hash_value` (Glance's `hashing_algorithm`).
    pub(crate) hashing: crate::hashing::Algorithm,
    /// This server's image cache, when enabled: reads are served from it first.
    pub(crate) cache: Option<crate::cache::ImageCache>,
    /// What imports need beyond the pipeline.
    pub(crate) imports: Imports,
    /// Counts uploads in flight.
    pub(crate) metrics: crate::metrics::Metrics,
}

/// What imports need beyond the pipeline.
#[derive(Debug, Clone)]
pub(crate) struct Imports {
    /// The import methods offered and accepted (Glance's `enabled_import_methods`).
    pub(crate) methods: Arc<[crate::config::ImportMethod]>,
    /// The guard for every fetch made on a user's behalf, and its HTTP client.
    pub(crate) guard: crate::webdownload::Guard,
    pub(crate) client: reqwest::Client,
    /// Where other servers reach this one (imports of data staged here are sent to it).
    pub(crate) self_url: Option<Arc<str>>,
    /// How imported images are converted (Glance's `image_conversion`), when they are.
    pub(crate) conversion: Option<Conversion>,
    /// Whether imported data is decompressed first (Glance's `image_decompression`).
    pub(crate) decompression: bool,
    /// For requests to other servers of the deployment.
    pub(crate) peers: reqwest::Client,
    /// The identity service, in Keystone mode: glance-download finds its source in the
    /// caller's catalog.
    pub(crate) keystone: Option<Arc<crate::keystone::Keystone>>,
}

impl Data {
    fn db(&self) -> &Db {
        &self.images.db
    }

    fn stores(&self) -> &Stores {
        &self.images.stores
    }

    /// A new owner token for a writer on this server.
    fn new_owner(&self) -> String {
        format!("{}/{}", self.node, uuid::Uuid::new_v4().simple())
    }

    /// A store chosen when an import was asked for (checked then), by id.
    fn named(&self, id: &str) -> &NamedStore {
        self.stores()
            .get(id)
            .unwrap_or_else(|| self.stores().default_store())
    }

    /// The store data goes to: the one asked for, or the default. With one store, as Glance
    /// without `enabled_backends`, a store asked for is not looked at.
    pub(crate) fn target_store(&self, asked: Option<&str>) -> Result<&NamedStore, DataError> {
        let Some(id) = asked.filter(|_| self.stores().is_multi()) else {
            return Ok(self.stores().default_store());
        };
        let store = self
            .stores()
            .get(id)
            .ok_or_else(|| DataError::Invalid(format!("Store for identifier {id} not found")))?;
        if store.read_only {
            return Err(DataError::Invalid(format!(
                "Store {id} is read-only: image data cannot be written to it."
            )));
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use glint_core::{Caller, Create, Status};

    use super::*;
    use crate::images::Actor;
    use crate::store::FsStore;

    async fn data(dir: &std::path::Path) -> Data {
        let images = crate::images::tests::images(dir).await;
        let guard = images.guard.clone();
        Data {
            images,
            staging: Arc::new(FsStore::new(dir.join("staging"), "test").expect("staging")),
            node: Arc::from("test"),
            size_cap: 1 << 30,
            hashing: crate::hashing::Algorithm::Sha512,
            cache: None,
            imports: Imports {
                methods: Arc::from(crate::config::ImportMethod::DEFAULT.as_slice()),
                client: guard.client().expect("a client"),
                guard,
                self_url: None,
                peers: reqwest::Client::new(),
                conversion: None,
                decompression: false,
                keystone: None,
            },
            metrics: crate::metrics::Metrics::default(),
        }
    }

    fn body(bytes: &'static [u8]) -> impl futures_util::Stream<Item = Result<Bytes, String>> {
        futures_util::stream::iter([Ok(Bytes::from_static(bytes))])
    }

    fn recorder(data: &Data) -> Arc<Mutex<Vec<String>>> {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        data.images
            .events
            .subscribe(move |e| log.lock().expect("the log").push(e.name().to_string()));
        seen
    }

    fn names(seen: &Mutex<Vec<String>>) -> Vec<String> {
        seen.lock().expect("the log").clone()
    }

    /// An upload tells that data starts to arrive, that it was written and that the image is
    /// active; one that fails tells only the start, and leaves the image queued.
    #[tokio::test]
    async fn uploads_tell_what_happened() {
        let dir = std::env::temp_dir().join(format!("glint-data-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a folder");
        let data = data(&dir).await;
        let actor = Actor {
            caller: Caller::new(Some("p1"), &["member", "reader"]),
            user_id: Some("u1".into()),
            request_id: "req-1".into(),
        };
        let create = |name: &str| {
            Create::from_body(
                format!(
                    r#"{{"name": "{name}", "disk_format": "raw", "container_format": "bare"}}"#
                )
                .as_bytes(),
            )
            .expect("a create")
        };
        let image = data
            .images
            .create(&actor, create("a"))
            .await
            .expect("created");
        let seen = recorder(&data);
        data.upload(
            &actor,
            &image.image.id,
            None,
            body(b"0123456789"),
            Some(10),
            None,
        )
        .await
        .expect("uploaded");
        assert_eq!(
            names(&seen),
            ["image.prepare", "image.upload", "image.activate"]
        );
        let after = data
            .db()
            .image(&image.image.id)
            .await
            .expect("read")
            .expect("there");
        assert_eq!(after.image.status, Status::Active);
        assert_eq!(after.image.size, Some(10));

        let short = data
            .images
            .create(&actor, create("b"))
            .await
            .expect("created");
        seen.lock().expect("the log").clear();
        let cut = data
            .upload(
                &actor,
                &short.image.id,
                None,
                body(b"01234"),
                Some(10),
                None,
            )
            .await;
        assert!(matches!(cut, Err(DataError::Invalid(_))), "{cut:?}");
        assert_eq!(names(&seen), ["image.prepare"]);
        let after = data
            .db()
            .image(&short.image.id)
            .await
            .expect("read")
            .expect("there");
        assert_eq!(after.image.status, Status::Queued);
        assert!(after.image.locations.is_empty());

        // An outsider is refused before anything is told.
        seen.lock().expect("the log").clear();
        let outsider = Actor {
            caller: Caller::new(Some("p2"), &["member", "reader"]),
            ..actor.clone()
        };
        let denied = data
            .upload(
                &outsider,
                &short.image.id,
                None,
                body(b"0123456789"),
                None,
                None,
            )
            .await;
        assert!(matches!(denied, Err(DataError::Image(_))), "{denied:?}");
        assert!(names(&seen).is_empty());
        data.db().close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A glance-direct import tells its task's start, the data's arrival, the image's
    /// activation and the task's success, in that order.
    #[tokio::test]
    async fn imports_tell_their_task_and_the_data() {
        let dir = std::env::temp_dir().join(format!("glint-data-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a folder");
        let data = data(&dir).await;
        let actor = Actor {
            caller: Caller::new(Some("p1"), &["member", "reader"]),
            user_id: None,
            request_id: "req-2".into(),
        };
        let create = Create::from_body(
            br#"{"name": "i", "disk_format": "raw", "container_format": "bare"}"#,
        )
        .expect("a create");
        let id = data
            .images
            .create(&actor, create)
            .await
            .expect("created")
            .image
            .id;
        data.stage(&actor, &id, None, body(b"staged data"), None, None)
            .await
            .expect("staged");
        let seen = recorder(&data);
        let request: ImportRequest =
            serde_json::from_str(r#"{"method": {"name": "glance-direct"}}"#).expect("a request");
        let started = data.import(&actor, &id, &request, None, None).await;
        assert_eq!(started.expect("started"), Started::Here);
        let mut waited = 0;
        while !names(&seen).iter().any(|n| n.starts_with("task.s")) {
            assert!(waited < 500, "the task did not end: {:?}", names(&seen));
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            waited += 1;
        }
        assert_eq!(
            names(&seen),
            [
                "task.create",
                "image.prepare",
                "image.upload",
                "image.activate",
                "task.success"
            ]
        );
        let after = data.db().image(&id).await.expect("read").expect("there");
        assert_eq!(after.image.status, Status::Active);
        assert_eq!(after.image.size, Some(11));
        data.db().close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
