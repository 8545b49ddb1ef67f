//! The pipeline every byte of image data goes through, and the two ways a client hands data
//! over itself: an upload (`queued` → `saving` → `active`) and staging for a later
//! `glance-direct` import (`queued` → `uploading`).

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use glint_core::inspect::{self, Inspector, Refusal};
use glint_core::{Image, Location, Status};

use super::{Data, DataError};
use crate::blocks::BLOCK;
use crate::db::{Announce, Db, StoredImage, Upload};
use crate::events::{By, Event};
use crate::hashing::Hashes;
use crate::images::{Actor, ImageError, check_version};
use crate::limits::{Resource, mib};
use crate::store::{NamedStore, Store};

/// Hands a block to the hashers and the inspector.
async fn feed(hashes: &Option<Hashes>, inspector: &mut Option<Inspector>, block: &Bytes) {
    if let Some(h) = hashes {
        h.feed(block).await;
    }
    if let Some(i) = inspector {
        i.feed(block);
    }
}

/// Puts an image back to `queued` if its data does not arrive whole, including when the
/// request or task carrying it is dropped mid-stream.
pub(super) struct UploadGuard {
    db: Db,
    id: String,
    /// The status the image is in while the data is written.
    from: Status,
    armed: bool,
}

impl UploadGuard {
    pub(super) fn new(db: &Db, id: &str, from: Status) -> UploadGuard {
        UploadGuard {
            db: db.clone(),
            id: id.to_string(),
            from,
            armed: true,
        }
    }

    /// Ends the guard with the outcome. On failure the image is queued again before the
    /// outcome is passed on, so whoever sees the error finds the image uploadable.
    pub(super) async fn settle<T>(mut self, result: Result<T, DataError>) -> Result<T, DataError> {
        self.armed = false;
        if result.is_err() {
            requeue(self.db.clone(), std::mem::take(&mut self.id), self.from).await;
        }
        result
    }
}

async fn requeue(db: Db, id: String, from: Status) {
    match db.transition(&id, &[from], Status::Queued, None).await {
        Ok(true) => tracing::info!(image = %id, "upload did not finish; image is queued again"),
        Ok(false) => {}
        Err(e) => tracing::error!(image = %id, "cannot reset a failed upload: {e}"),
    }
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let reset = requeue(self.db.clone(), std::mem::take(&mut self.id), self.from);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(reset);
        }
    }
}

/// What `ingest` stored.
pub(super) struct Ingested {
    pub(super) size: u64,
    /// md5 and the secure hash, when asked for.
    pub(super) digests: Option<(String, String)>,
    /// The secure hash's algorithm.
    pub(super) hash_algo: crate::hashing::Algorithm,
    /// Where the data went: one location, or one per store it was imported into.
    pub(super) locations: Vec<Location>,
    /// The inspector's virtual size, when the content was inspected.
    pub(super) virtual_size: Option<u64>,
    /// The formats it was converted from and to, when an import converted it.
    pub(super) converted: Option<super::convert::Converted>,
    /// What an import's data was compressed with, when it was decompressed.
    pub(super) decompressed: Option<super::decompress::Compression>,
}

/// Where data goes and what is checked on the way.
pub(super) struct Intake<'a> {
    pub(super) store: &'a dyn Store,
    /// The metadata of the location it makes (the store's name, with several stores).
    pub(super) metadata: serde_json::Map<String, serde_json::Value>,
    pub(super) image_id: &'a str,
    /// The size the client announced, if any.
    pub(super) declared: Option<u64>,
    /// Whether to compute md5 and the secure hash, and the secure hash's algorithm.
    pub(super) hash: bool,
    pub(super) hash_algo: crate::hashing::Algorithm,
    /// The declared `disk_format` to inspect the content against, if it is to be inspected.
    pub(super) inspect_as: Option<&'a str>,
    /// Bytes the project may still store, under a storage quota.
    pub(super) room: Option<u64>,
}

/// Refuses content the inspector finds unsafe (400), or whose format is not the declared one
/// (415, as Glance answers).
fn refuse(refusal: Refusal) -> DataError {
    match refusal.rule {
        Some(_) => DataError::Invalid(refusal.message),
        None => DataError::WrongFormat(refusal.message),
    }
}

fn over_quota(room: u64) -> DataError {
    DataError::TooLarge(format!(
        "Image exceeds the project's storage quota: {room} bytes are left."
    ))
}

fn over_cap(n: u64, cap: u64) -> DataError {
    DataError::TooLarge(format!(
        "Image exceeds the size cap: {n} bytes is more than the {cap} allowed."
    ))
}

fn require_formats(image: &Image) -> Result<(), DataError> {
    if image.disk_format.is_none() || image.container_format.is_none() {
        return Err(DataError::Invalid(
            "Properties disk_format, container_format must be set prior to saving data.".into(),
        ));
    }
    Ok(())
}

impl Data {
    /// Data of `image` into a store, hashed and inspected against its `disk_format`.
    pub(super) fn checked_intake<'a>(
        &self,
        store: &'a NamedStore,
        image: &'a Image,
        declared: Option<u64>,
        room: Option<u64>,
    ) -> Intake<'a> {
        Intake {
            store: store.store.as_ref(),
            metadata: self.stores().metadata(store),
            image_id: &image.id,
            declared,
            hash: true,
            hash_algo: self.hashing,
            inspect_as: image.disk_format.as_deref(),
            room,
        }
    }

    /// Refuses a declared size beyond the size cap before any data is taken (413).
    pub(crate) fn check_declared(&self, declared: Option<u64>) -> Result<(), DataError> {
        match declared.filter(|n| *n > self.size_cap) {
            Some(n) => Err(over_cap(n, self.size_cap)),
            None => Ok(()),
        }
    }

    /// Moves an image from `queued` to `to` on behalf of a new writer, or says why not (409).
    pub(super) async fn claim(&self, image: &Image, to: Status) -> Result<String, DataError> {
        let owner = self.new_owner();
        if image.status == Status::Queued
            && self
                .db()
                .transition(&image.id, &[Status::Queued], to, Some(&owner))
                .await?
        {
            return Ok(owner);
        }
        let now = self
            .db()
            .image(&image.id)
            .await?
            .map(|s| s.image.status)
            .unwrap_or(image.status);
        Err(DataError::Conflict(format!(
            "Image status transition from {now} to {to} is not allowed"
        )))
    }

    /// Streams data into a store, hashing and inspecting it on the way, and commits it only
    /// once it is whole and accepted.
    pub(super) async fn ingest<S, E>(
        &self,
        intake: Intake<'_>,
        mut stream: S,
    ) -> Result<Ingested, DataError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let Intake {
            store,
            metadata,
            image_id,
            declared,
            hash,
            hash_algo,
            inspect_as,
            room,
        } = intake;
        let cap = self.size_cap;
        if let Some(n) = declared.filter(|n| *n > cap) {
            return Err(over_cap(n, cap));
        }
        let mut writer = store.begin(image_id).await?;
        let hashes = hash.then(|| Hashes::start(hash_algo));
        let mut inspector = inspect_as.map(|_| Inspector::new());
        let mut size: u64 = 0;
        // The network hands over small pieces; the hashers and the store get large ones.
        let mut pending = crate::blocks::take();
        loop {
            let next = stream.next().await;
            let done = next.is_none();
            if let Some(chunk) = next {
                let chunk = chunk
                    .map_err(|e| DataError::Invalid(format!("The upload was interrupted: {e}")))?;
                size += chunk.len() as u64;
                if size > cap {
                    return Err(over_cap(size, cap));
                }
                if let Some(room) = room
                    && size > room
                {
                    return Err(over_quota(room));
                }
                if declared.is_some_and(|d| size > d) {
                    return Err(DataError::Invalid(
                        "Size mismatch: more data than declared.".into(),
                    ));
                }
                // A piece that crosses the block's end fills it; the rest starts the next.
                let mut chunk = &chunk[..];
                while pending.len() + chunk.len() > BLOCK {
                    let (head, tail) = chunk.split_at(BLOCK - pending.len());
                    pending.extend_from_slice(head);
                    chunk = tail;
                    let block = crate::blocks::freeze(std::mem::replace(
                        &mut pending,
                        crate::blocks::take(),
                    ));
                    feed(&hashes, &mut inspector, &block).await;
                    writer.write(block).await?;
                }
                pending.extend_from_slice(chunk);
            }
            if pending.len() >= BLOCK || (done && !pending.is_empty()) {
                let block =
                    crate::blocks::freeze(std::mem::replace(&mut pending, crate::blocks::take()));
                feed(&hashes, &mut inspector, &block).await;
                writer.write(block).await?;
            }
            if done {
                break;
            }
        }
        if let Some(d) = declared
            && d != size
        {
            return Err(DataError::Invalid(format!(
                "Size mismatch: {size} bytes received, {d} declared."
            )));
        }
        let mut virtual_size = None;
        if let (Some(i), Some(disk_format)) = (inspector, inspect_as) {
            let verdict = i.finish();
            inspect::check(
                &verdict,
                disk_format,
                self.images.settings.require_format_match,
            )
            .map_err(refuse)?;
            virtual_size = verdict.virtual_size;
        }
        let digests = match hashes {
            Some(h) => Some(
                h.finish()
                    .await
                    .map_err(|e| DataError::Internal(format!("hashing: {e}")))?,
            ),
            None => None,
        };
        let url = writer.commit().await?;
        Ok(Ingested {
            size,
            digests,
            hash_algo,
            locations: vec![Location {
                url,
                metadata,
                validation_data: None,
            }],
            virtual_size,
            converted: None,
            decompressed: None,
        })
    }

    /// Refuses (413) an operation on `image` that would take its project over a limit: each
    /// entry names a resource and what the operation adds to it. Returns how many bytes the
    /// project may still store, where its storage limit holds while data streams, refusing a
    /// `declared` size beyond it before any data is taken.
    pub(super) async fn within_limits(
        &self,
        image: &Image,
        adds: &[(Resource, u64)],
        declared: Option<u64>,
    ) -> Result<Option<u64>, DataError> {
        let Some(owner) = image.owner.as_deref() else {
            return Ok(None);
        };
        let limits = &self.images.limits;
        let room = limits
            .enforce(owner, adds)
            .await
            .map_err(ImageError::from)?;
        if let (Some(room), Some(d)) = (room, declared)
            && d > room
        {
            return Err(over_quota(room));
        }
        Ok(room)
    }

    /// Records data that made it into the store, and tells it (`image.upload`, then
    /// `image.activate`); removes it again if the image went away meanwhile.
    pub(super) async fn finish(
        &self,
        image: &Image,
        from: Status,
        owner: &str,
        data: Ingested,
        by: &By,
    ) -> Result<(), DataError> {
        let (checksum, os_hash) = data
            .digests
            .ok_or_else(|| DataError::Internal("no digests".into()))?;
        let upload = Upload {
            size: data.size,
            checksum,
            os_hash_algo: data.hash_algo.name().into(),
            os_hash_value: os_hash,
            virtual_size: data.virtual_size,
            locations: data.locations,
            formats: data.converted.map(|c| (c.to, "bare".to_string())),
        };
        self.record(image, from, owner, &upload, by).await
    }

    /// Makes `upload` the image's data (`from` → `active`) under `owner`, with its
    /// notifications in the same transaction, and tells it; `false` if the image went away or
    /// changed meanwhile.
    pub(super) async fn activate(
        &self,
        image: &Image,
        from: Status,
        owner: &str,
        upload: &Upload,
        by: &By,
    ) -> Result<bool, DataError> {
        let announce = |written: &StoredImage| self.activation_notifications(written, by);
        let outbox: Option<Announce<'_>> = match self.images.notifier {
            Some(_) => Some(&announce),
            None => None,
        };
        let written = self
            .db()
            .finish_upload(&image.id, from, owner, upload, outbox)
            .await?;
        match written {
            Some(written) => {
                self.tell_activated(written, by);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Makes `upload` the image's data (`from` → `active`) and tells it; removes the data if
    /// the image went away meanwhile.
    pub(super) async fn record(
        &self,
        image: &Image,
        from: Status,
        owner: &str,
        upload: &Upload,
        by: &By,
    ) -> Result<(), DataError> {
        if self.activate(image, from, owner, upload, by).await? {
            return Ok(());
        }
        // Deleted or reset while we were writing: the data belongs to no image.
        self.stores().delete_all(&upload.locations).await;
        Err(DataError::Gone(
            "The image was deleted or changed while its data was being written.".into(),
        ))
    }

    /// The notifications of an image that got its data and is active (`image.upload`, then
    /// `image.activate`), from the image as written.
    fn activation_notifications(&self, written: &StoredImage, by: &By) -> Vec<crate::db::Outgoing> {
        let image = Box::new(written.image.clone());
        let mut out = self.images.outgoing(&Event::Uploaded {
            image: image.clone(),
            by: by.clone(),
        });
        out.extend(self.images.outgoing(&Event::Activated {
            image,
            by: by.clone(),
        }));
        out
    }

    /// Tells that an image has its data and is active, as written.
    fn tell_activated(&self, written: StoredImage, by: &By) {
        let image = Box::new(written.image);
        self.images.events.emit(&Event::Uploaded {
            image: image.clone(),
            by: by.clone(),
        });
        self.images.events.emit(&Event::Activated {
            image,
            by: by.clone(),
        });
    }

    /// Tells that data for an image starts to arrive, for `stores`: its notification is in
    /// the outbox before any data is taken, so it comes before the upload's.
    pub(super) async fn tell_prepared(&self, image: &Image, stores: &[String], by: &By) {
        let event = Event::Prepared {
            image: Box::new(image.clone()),
            stores: stores.to_vec(),
            by: by.clone(),
        };
        self.images.tell(event).await;
    }

    /// An upload: the caller's data for an image it may change (`If-Match` naming its
    /// version), into the store asked for or the default.
    pub(crate) async fn upload<S, E>(
        &self,
        actor: &Actor,
        id: &str,
        if_match: Option<&str>,
        body: S,
        declared: Option<u64>,
        store: Option<&str>,
    ) -> Result<(), DataError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let stored = self
            .images
            .load_writable(&actor.caller, id, "upload_image")
            .await?;
        check_version(if_match, stored.version)?;
        self.check_declared(declared)?;
        let store = self.target_store(store)?;
        self.receive(actor, &stored.image, body, declared, None, store)
            .await
    }

    /// Takes an image's data: `queued` → `saving` → `active`. When `expected_md5` is given and
    /// the data does not match it, nothing is kept (400). Any failure leaves the image `queued`.
    pub(crate) async fn receive<S, E>(
        &self,
        actor: &Actor,
        image: &Image,
        body: S,
        declared: Option<u64>,
        expected_md5: Option<&str>,
        store: &NamedStore,
    ) -> Result<(), DataError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.check_declared(declared)?;
        require_formats(image)?;
        let adds = [
            (Resource::SizeTotal, declared.map_or(0, mib)),
            (Resource::CountUploading, 1),
        ];
        let room = self.within_limits(image, &adds, declared).await?;
        let owner = self.claim(image, Status::Saving).await?;
        let _counted = self.metrics.upload();
        let guard = UploadGuard::new(self.db(), &image.id, Status::Saving);
        let by = actor.by();
        self.tell_prepared(image, std::slice::from_ref(&store.id), &by)
            .await;
        let result = async {
            let intake = self.checked_intake(store, image, declared, room);
            let data = self.ingest(intake, body).await?;
            let md5 = data
                .digests
                .as_ref()
                .map(|d| d.0.clone())
                .unwrap_or_default();
            if let Some(expected) = expected_md5
                && !expected.eq_ignore_ascii_case(&md5)
            {
                self.stores().delete_all(&data.locations).await;
                return Err(DataError::Invalid(format!(
                    "Supplied checksum ({expected}) and checksum generated from uploaded image ({md5}) did not match."
                )));
            }
            self.finish(image, Status::Saving, &owner, data, &by).await
        }
        .await;
        guard.settle(result).await
    }

    /// Staging: data for a later `glance-direct` import, kept in the staging area
    /// (`queued` → `uploading`). A store asked for must exist; the import chooses it.
    pub(crate) async fn stage<S, E>(
        &self,
        actor: &Actor,
        id: &str,
        if_match: Option<&str>,
        body: S,
        declared: Option<u64>,
        store: Option<&str>,
    ) -> Result<(), DataError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let stored = self
            .images
            .load_writable(&actor.caller, id, "upload_image")
            .await?;
        check_version(if_match, stored.version)?;
        let image = &stored.image;
        self.check_declared(declared)?;
        self.target_store(store)?;
        let adds = [
            (Resource::StageTotal, declared.map_or(0, mib)),
            (Resource::CountUploading, 1),
        ];
        self.within_limits(image, &adds, None).await?;
        let owner = self.claim(image, Status::Uploading).await?;
        let _counted = self.metrics.upload();
        let guard = UploadGuard::new(self.db(), &image.id, Status::Uploading);
        let result = async {
            let intake = Intake {
                store: self.staging.as_ref(),
                metadata: serde_json::Map::new(),
                image_id: &image.id,
                declared,
                hash: false,
                hash_algo: self.hashing,
                inspect_as: None,
                room: None,
            };
            let data = self.ingest(intake, body).await?;
            if self.db().finish_stage(&image.id, &owner, data.size).await? {
                return Ok(());
            }
            for l in &data.locations {
                let _ = self.staging.delete(&l.url).await;
            }
            Err(DataError::Gone(
                "The image was deleted or changed while its data was being staged.".into(),
            ))
        }
        .await;
        guard.settle(result).await?;
        // Where the staged data is, for an import asked of another server.
        if let Some(url) = &self.imports.self_url {
            let host = [("os_glance_stage_host".to_string(), url.to_string())];
            self.db().set_server_properties(&image.id, &host).await?;
        }
        Ok(())
    }
}
