//! The Ceph RBD store, as Glance's: an image's data is an RBD image in a pool, named by the
//! image id, with a protected snapshot `snap` that Nova and Cinder clone for copy-on-write
//! boots; its location is `rbd://<fsid>/<pool>/<image>/snap`.
//!
//! An upload streams into a partial image (`glint-partial.<image>.<server, hex>.<random>`),
//! growing it as data arrives, and is renamed to the image id once its snapshot is made and
//! protected: a failed or cut-off upload leaves nothing under the image's name, and the
//! partial image goes with the writer (or, after a crash, with the next sweep). A delete
//! whose snapshot still has clones (an instance booted from it) moves the image to the pool's
//! trash instead of failing; each sweep removes trashed images whose last clone has gone.

use std::path::PathBuf;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use glint_rbd::{Cluster, Pool, RbdError, errno};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tokio::sync::{mpsc, oneshot};

use super::{ByteStream, Store, StoreError, StoreWriter, Sweep};

/// The snapshot Nova and Cinder clone.
pub(super) const SNAPSHOT: &str = "snap";
const PARTIAL: &str = "glint-partial.";
/// Writes in flight while uploading (each a piece of at most `WRITE_PIECE` bytes, an object
/// or part of one), reads ahead while downloading: what a transfer holds in memory.
const WRITE_DEPTH: usize = 4;
const WRITE_PIECE: usize = 2 << 20;
const READ_DEPTH: usize = 4;
const READ_PIECE: usize = 2 << 20;
/// The most an image grows by at once while its size is unknown (as Glance).
const MAX_GROWTH: u64 = 8 << 30;

/// One RBD store's settings, named as Glance's `rbd_store_*` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbdSettings {
    /// `rbd_store_pool`.
    pub pool: String,
    /// `rbd_store_ceph_conf` (Ceph's own search path when unset).
    pub ceph_conf: Option<PathBuf>,
    /// `rbd_store_user` (`admin` when unset).
    pub user: Option<String>,
    /// `rbd_store_chunk_size`, in bytes: the RBD object size (a power of two).
    pub chunk_size: u64,
    /// `rados_connect_timeout`, in seconds (librados's own when 0).
    pub connect_timeout: u64,
    /// `rbd_thin_provisioning`: runs of zeros are not written.
    pub thin_provisioning: bool,
}

impl Default for RbdSettings {
    fn default() -> RbdSettings {
        RbdSettings {
            pool: "images".into(),
            ceph_conf: None,
            user: None,
            chunk_size: 8 << 20,
            connect_timeout: 0,
            thin_provisioning: false,
        }
    }
}

impl RbdSettings {
    /// The cluster these settings connect to: stores on one cluster share a connection.
    pub fn cluster_key(&self) -> (Option<PathBuf>, Option<String>) {
        (self.ceph_conf.clone(), self.user.clone())
    }
}

fn io(e: RbdError) -> StoreError {
    StoreError::Io(e.into())
}

/// Connects to the cluster the settings name (blocks until it answers or times out).
pub(super) fn connect(settings: &RbdSettings) -> Result<Cluster, StoreError> {
    let mut options = Vec::new();
    if settings.connect_timeout > 0 {
        options.push(("client_mount_timeout", settings.connect_timeout.to_string()));
    }
    Cluster::connect(
        settings.ceph_conf.as_deref(),
        settings.user.as_deref(),
        &options,
    )
    .map_err(|e| {
        StoreError::Io(std::io::Error::other(format!(
            "cannot connect to Ceph ({}): {e}",
            settings
                .ceph_conf
                .as_ref()
                .map_or("the default ceph.conf".into(), |c| c.display().to_string())
        )))
    })
}

/// An RBD image named by a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RbdLocation {
    /// None in the legacy form `rbd://<image>`.
    pub fsid: Option<String>,
    pub pool: Option<String>,
    pub image: String,
    pub snapshot: Option<String>,
}

impl RbdLocation {
    /// Parses `rbd://fsid/pool/image/snap` (parts percent-quoted) or `rbd://image`.
    pub(super) fn parse(url: &str) -> Option<RbdLocation> {
        let rest = url.strip_prefix("rbd://")?;
        let parts: Vec<String> = rest
            .split('/')
            .map(|p| percent_decode_str(p).decode_utf8().map(|s| s.into_owned()))
            .collect::<Result<_, _>>()
            .ok()?;
        if parts.iter().any(String::is_empty) {
            return None;
        }
        match parts.as_slice() {
            [image] => Some(RbdLocation {
                fsid: None,
                pool: None,
                image: image.clone(),
                snapshot: None,
            }),
            [fsid, pool, image, snap] => Some(RbdLocation {
                fsid: Some(fsid.clone()),
                pool: Some(pool.clone()),
                image: image.clone(),
                snapshot: Some(snap.clone()),
            }),
            _ => None,
        }
    }

    pub(super) fn url(fsid: &str, pool: &str, image: &str, snapshot: &str) -> String {
        let q = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        // Glance quotes with safe='': everything but letters, digits and `_.-~`.
        let q = |s: &str| {
            q(s).replace("%5F", "_")
                .replace("%2E", ".")
                .replace("%2D", "-")
                .replace("%7E", "~")
        };
        format!("rbd://{}/{}/{}/{}", q(fsid), q(pool), q(image), q(snapshot))
    }
}

/// Images in one pool of one cluster.
#[derive(Debug, Clone)]
pub struct RbdStore {
    pool: Pool,
    pool_name: String,
    fsid: String,
    order: u8,
    thin: bool,
    /// The writing server's name, hex-encoded, as partial images carry it.
    writer: String,
}

impl RbdStore {
    /// The store on `pool` of a connected cluster, written by the server named `writer`.
    pub fn open(
        cluster: &Cluster,
        settings: &RbdSettings,
        writer: &str,
    ) -> Result<RbdStore, StoreError> {
        if !settings.chunk_size.is_power_of_two() || settings.chunk_size < 4096 {
            return Err(StoreError::Io(std::io::Error::other(format!(
                "rbd_store_chunk_size must be a power of two (in MiB): {} bytes",
                settings.chunk_size
            ))));
        }
        let fsid = cluster.fsid().map_err(io)?;
        let pool = cluster.pool(&settings.pool).map_err(|e| {
            StoreError::Io(std::io::Error::other(format!(
                "pool {}: {e}",
                settings.pool
            )))
        })?;
        Ok(RbdStore {
            pool,
            pool_name: settings.pool.clone(),
            fsid,
            order: settings.chunk_size.trailing_zeros() as u8,
            thin: settings.thin_provisioning,
            writer: crate::hashing::hex(writer.as_bytes()),
        })
    }

    pub fn fsid(&self) -> &str {
        &self.fsid
    }

    fn chunk(&self) -> usize {
        1usize << self.order
    }

    /// The image a location names in this store's pool.
    fn image_of(&self, location: &str) -> Result<RbdLocation, StoreError> {
        let foreign = || StoreError::ForeignLocation(location.to_string());
        let parsed = RbdLocation::parse(location).ok_or_else(foreign)?;
        match (&parsed.fsid, &parsed.pool) {
            (Some(fsid), Some(pool)) if *fsid != self.fsid || *pool != self.pool_name => {
                Err(foreign())
            }
            _ => Ok(parsed),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Pool) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || f(&pool))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
    }
}

/// The server that writes a partial image, from its name.
fn writer_of(name: &str) -> Option<String> {
    let rest = name.strip_prefix(PARTIAL)?;
    let mut parts = rest.rsplitn(3, '.');
    let (_random, writer, _image) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = (0..writer.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(writer.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// Removes an image and its snapshot, as Glance does, except that an image whose snapshot
/// still has clones goes to the trash (under either clone format) instead of staying.
/// Returns whether it went to the trash.
fn remove_image(pool: &Pool, name: &str) -> Result<bool, RbdError> {
    match pool.open(name) {
        Ok(image) => {
            let in_use = match image.snap_unprotect(SNAPSHOT) {
                Ok(()) => false,
                Err(e) if e.is(errno::EINVAL) || e.is(errno::ENOENT) => false,
                // Clone v1: a clone pins the protected snapshot.
                Err(e) if e.is(errno::EBUSY) => true,
                Err(e) => return Err(e),
            };
            if !in_use {
                match image.snap_remove(SNAPSHOT) {
                    Ok(()) => {}
                    Err(e) if e.is(errno::ENOENT) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Err(e) if e.is(errno::ENOENT) => return Ok(false),
        Err(e) => return Err(e),
    }
    match pool.remove(name) {
        Ok(()) => Ok(false),
        Err(e) if e.is(errno::ENOENT) => Ok(false),
        // Snapshots left: the protected one (clone v1) or, under clone v2, the one in the
        // snapshot trash while clones exist; or the image is open elsewhere. The sweep
        // removes it from the trash once neither holds.
        Err(e) if e.is(errno::ENOTEMPTY) || e.is(errno::EBUSY) => {
            pool.trash_move(name)?;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

/// Removes a trashed image whose clones are all gone; false while it is still cloned.
fn purge_trashed(pool: &Pool, id: &str) -> Result<bool, RbdError> {
    {
        let image = pool.open_by_id(id)?;
        match image.snap_unprotect(SNAPSHOT) {
            Ok(()) => {}
            Err(e) if e.is(errno::EINVAL) || e.is(errno::ENOENT) => {}
            Err(e) if e.is(errno::EBUSY) => return Ok(false),
            Err(e) => return Err(e),
        }
        match image.snap_remove(SNAPSHOT) {
            Ok(()) => {}
            Err(e) if e.is(errno::ENOENT) => {}
            Err(e) if e.is(errno::EBUSY) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    match pool.trash_remove(id) {
        Ok(()) => Ok(true),
        Err(e) if e.is(errno::ENOTEMPTY) || e.is(errno::EBUSY) => Ok(false),
        Err(e) => Err(e),
    }
}

enum Message {
    Chunk(Bytes),
    /// All data is here: snapshot, protect, rename (the thread's result says how it went).
    Commit,
}

struct RbdWriter {
    tx: Option<mpsc::Sender<Message>>,
    thread: Option<tokio::task::JoinHandle<Result<(), StoreError>>>,
    location: String,
}

/// What the writing thread does: writes what arrives, then commits or, if the writer goes
/// without committing (or a write fails), removes the partial image.
struct Upload {
    pool: Pool,
    partial: String,
    target: String,
    /// The size of each write, and of the zero runs thin provisioning skips.
    chunk: usize,
    thin: bool,
}

impl Upload {
    fn run(self, mut rx: mpsc::Receiver<Message>) -> Result<(), StoreError> {
        match self.write(&mut rx) {
            Ok(true) => {
                let done = self.commit();
                if done.is_err() {
                    self.discard();
                }
                done
            }
            Ok(false) => {
                // Dropped without a commit: a failed or cut-off upload.
                self.discard();
                Ok(())
            }
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }

    /// Writes every chunk; whether the writer asked for a commit once all arrived (false if
    /// it went without).
    fn write(&self, rx: &mut mpsc::Receiver<Message>) -> Result<bool, StoreError> {
        let image = self.pool.open(&self.partial).map_err(io)?;
        let mut queue = image.write_queue(WRITE_DEPTH);
        let mut size = 0u64;
        let mut offset = 0u64;
        let mut pending = BytesMut::new();
        let mut emit = |piece: Bytes,
                        queue: &mut glint_rbd::WriteQueue<'_>,
                        offset: &mut u64|
         -> Result<(), StoreError> {
            let end = *offset + piece.len() as u64;
            if self.thin && piece.iter().all(|b| *b == 0) {
                *offset = end;
                return Ok(());
            }
            if end > size {
                // The size is not known in advance: grow ahead of the data, doubling.
                let step = size.clamp(8 << 20, MAX_GROWTH);
                let grown = end.max(size + step);
                queue.drain().map_err(io)?;
                image.resize(grown).map_err(io)?;
                size = grown;
            }
            queue.push(*offset, piece).map_err(io)?;
            *offset = end;
            Ok(())
        };
        loop {
            let Some(message) = rx.blocking_recv() else {
                return Ok(false);
            };
            let mut chunk = match message {
                Message::Chunk(c) => c,
                Message::Commit => break,
            };
            while !chunk.is_empty() {
                if pending.is_empty() && chunk.len() >= self.chunk {
                    emit(chunk.split_to(self.chunk), &mut queue, &mut offset)?;
                } else {
                    let take = (self.chunk - pending.len()).min(chunk.len());
                    pending.extend_from_slice(&chunk.split_to(take));
                    if pending.len() == self.chunk {
                        emit(pending.split().freeze(), &mut queue, &mut offset)?;
                    }
                }
            }
        }
        if !pending.is_empty() {
            emit(pending.split().freeze(), &mut queue, &mut offset)?;
        }
        queue.finish().map_err(io)?;
        if size != offset {
            image.resize(offset).map_err(io)?;
        }
        image.flush().map_err(io)?;
        Ok(true)
    }

    fn commit(&self) -> Result<(), StoreError> {
        {
            let image = self.pool.open(&self.partial).map_err(io)?;
            image.snap_create(SNAPSHOT).map_err(io)?;
            image.snap_protect(SNAPSHOT).map_err(io)?;
        }
        self.pool.rename(&self.partial, &self.target).map_err(|e| {
            if e.is(errno::EEXIST) {
                StoreError::Io(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("an RBD image named {} exists already", self.target),
                ))
            } else {
                io(e)
            }
        })
    }

    fn discard(&self) {
        if let Err(e) = remove_image(&self.pool, &self.partial) {
            tracing::warn!("cannot remove the partial RBD image {}: {e}", self.partial);
        }
    }
}

impl Store for RbdStore {
    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.blocking(|pool| {
            // A round trip to the pool's OSDs without touching any image.
            match pool.open_read_only("glint-health-check", None) {
                Err(e) if e.is(errno::ENOENT) => Ok(()),
                Err(e) => Err(io(e)),
                Ok(_) => Ok(()),
            }
        }))
    }

    fn begin<'a>(
        &'a self,
        image_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn StoreWriter>, StoreError>> {
        Box::pin(async move {
            let partial = format!(
                "{PARTIAL}{image_id}.{}.{}",
                self.writer,
                uuid::Uuid::new_v4().simple()
            );
            let order = self.order;
            let name = partial.clone();
            self.blocking(move |pool| pool.create(&name, 0, order).map_err(io))
                .await?;
            let upload = Upload {
                pool: self.pool.clone(),
                partial,
                target: image_id.to_string(),
                chunk: self.chunk().min(WRITE_PIECE),
                thin: self.thin,
            };
            let (tx, rx) = mpsc::channel(4);
            let thread = tokio::task::spawn_blocking(move || upload.run(rx));
            Ok(Box::new(RbdWriter {
                tx: Some(tx),
                thread: Some(thread),
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
            let parsed = self.image_of(location)?;
            let missing = location.to_string();
            let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(2);
            let (opened_tx, opened_rx) = oneshot::channel();
            let pool = self.pool.clone();
            tokio::task::spawn_blocking(move || {
                let image = match pool.open_read_only(&parsed.image, parsed.snapshot.as_deref()) {
                    Ok(image) => image,
                    Err(e) if e.is(errno::ENOENT) => {
                        let _ = opened_tx.send(Err(StoreError::NotFound(missing)));
                        return;
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(io(e)));
                        return;
                    }
                };
                let size = match image.size() {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = opened_tx.send(Err(io(e)));
                        return;
                    }
                };
                if opened_tx.send(Ok(())).is_err() {
                    return;
                }
                let start = offset.min(size);
                let end = offset.saturating_add(len).min(size);
                for piece in image.read_queue(start, end, READ_PIECE, READ_DEPTH) {
                    let item = piece.map(Bytes::from).map_err(std::io::Error::from);
                    let failed = item.is_err();
                    if tx.blocking_send(item).is_err() || failed {
                        return;
                    }
                }
            });
            opened_rx
                .await
                .map_err(|_| StoreError::Io(std::io::Error::other("the RBD reader stopped")))??;
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            Ok(Box::pin(stream) as ByteStream)
        })
    }

    fn delete<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let parsed = self.image_of(location)?;
            let image = parsed.image.clone();
            let trashed = self
                .blocking(move |pool| remove_image(pool, &image).map_err(io))
                .await?;
            if trashed {
                tracing::info!(
                    "RBD image {}/{} has clones: moved to the trash until they are gone",
                    self.pool_name,
                    parsed.image
                );
            }
            Ok(())
        })
    }

    fn location_of(&self, image_id: &str) -> String {
        RbdLocation::url(&self.fsid, &self.pool_name, image_id, SNAPSHOT)
    }

    fn size_of<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let parsed = self.image_of(location)?;
            let missing = location.to_string();
            self.blocking(move |pool| {
                match pool.open_read_only(&parsed.image, parsed.snapshot.as_deref()) {
                    Ok(image) => image.size().map_err(io),
                    Err(e) if e.is(errno::ENOENT) => Err(StoreError::NotFound(missing)),
                    Err(e) => Err(io(e)),
                }
            })
            .await
        })
    }

    fn owns(&self, location: &str) -> bool {
        RbdLocation::parse(location).is_some_and(|l| {
            l.fsid.as_deref() == Some(self.fsid.as_str())
                && l.pool.as_deref() == Some(self.pool_name.as_str())
        })
    }

    fn sweep<'a>(&'a self, rule: &'a Sweep) -> BoxFuture<'a, Result<usize, StoreError>> {
        let rule = rule.clone();
        Box::pin(self.blocking(move |pool| {
            let mut removed = 0;
            for name in pool.list().map_err(io)? {
                if !name.starts_with(PARTIAL) {
                    continue;
                }
                // Partial images always name their writer. One of a server this deployment
                // does not know (another deployment sharing the pool) is never removed here.
                let Some(writer) = writer_of(&name) else {
                    continue;
                };
                if rule.removable(Some(&writer), Duration::ZERO) {
                    match remove_image(pool, &name) {
                        Ok(_) => removed += 1,
                        Err(e) => tracing::warn!("cannot remove partial RBD image {name}: {e}"),
                    }
                }
            }
            let now = crate::time::now_micros() / 1_000_000;
            for entry in pool.trash_list().map_err(io)? {
                // Only what this store put there (an image id, or a partial image that was
                // busy when its upload ended), moved by a user, not deferred.
                let ours =
                    uuid::Uuid::parse_str(&entry.name).is_ok() || entry.name.starts_with(PARTIAL);
                if !ours || !entry.by_user || entry.deferred_until > now {
                    continue;
                }
                match purge_trashed(pool, &entry.id) {
                    Ok(true) => {
                        tracing::info!(
                            "removed RBD image {} from the trash: its clones are gone",
                            entry.name
                        );
                        removed += 1;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!("cannot purge trashed RBD image {}: {e}", entry.name),
                }
            }
            Ok(removed)
        }))
    }
}

impl StoreWriter for RbdWriter {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let sent = match &self.tx {
                Some(tx) => tx.send(Message::Chunk(chunk)).await.is_ok(),
                None => false,
            };
            if sent {
                return Ok(());
            }
            self.tx = None;
            Err(self.stopped().await)
        })
    }

    fn commit(mut self: Box<Self>) -> BoxFuture<'static, Result<String, StoreError>> {
        Box::pin(async move {
            let sent = match self.tx.take() {
                Some(tx) => tx.send(Message::Commit).await.is_ok(),
                None => false,
            };
            // Once the commit is asked for, the thread ends with it: its result is the commit's.
            let thread = self.thread.take();
            match (sent, thread) {
                (true, Some(t)) => match t.await {
                    Ok(Ok(())) => Ok(std::mem::take(&mut self.location)),
                    Ok(Err(e)) => Err(e),
                    Err(e) => Err(StoreError::Io(std::io::Error::other(e))),
                },
                (_, thread) => {
                    self.thread = thread;
                    Err(self.stopped().await)
                }
            }
        })
    }
}

impl RbdWriter {
    /// Why the writing thread stopped.
    async fn stopped(&mut self) -> StoreError {
        match self.thread.take() {
            Some(t) => match t.await {
                Ok(Err(e)) => e,
                Ok(Ok(())) | Err(_) => StoreError::Io(std::io::Error::other("RBD writer stopped")),
            },
            None => StoreError::Io(std::io::Error::other("RBD writer stopped")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_as_glance_writes_them() {
        let url = RbdLocation::url("6d2b-fsid", "images", "0b7e-4c", "snap");
        assert_eq!(url, "rbd://6d2b-fsid/images/0b7e-4c/snap");
        assert_eq!(
            RbdLocation::parse(&url),
            Some(RbdLocation {
                fsid: Some("6d2b-fsid".into()),
                pool: Some("images".into()),
                image: "0b7e-4c".into(),
                snapshot: Some("snap".into()),
            })
        );
        let odd = RbdLocation::url("f", "my pool/x", "a_b.c~d", "snap");
        assert_eq!(odd, "rbd://f/my%20pool%2Fx/a_b.c~d/snap");
        assert_eq!(
            RbdLocation::parse(&odd).and_then(|l| l.pool).as_deref(),
            Some("my pool/x")
        );
        let legacy = RbdLocation::parse("rbd://0b7e-4c").expect("the legacy form");
        assert_eq!((legacy.image.as_str(), legacy.fsid), ("0b7e-4c", None));
        for bad in [
            "rbd://",
            "rbd://a/b",
            "rbd://a/b/c",
            "rbd://a//c/d",
            "file:///x",
            "rbd://a/b/c/d/e",
        ] {
            assert_eq!(RbdLocation::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn partial_names_carry_their_writer() {
        let name = format!("{PARTIAL}0b7e-4c.{}.ffee", crate::hashing::hex(b"node.a/1"));
        assert_eq!(writer_of(&name).as_deref(), Some("node.a/1"));
        assert_eq!(writer_of("0b7e-4c.6e.ffee"), None, "not a partial image");
        assert_eq!(
            writer_of(&format!("{PARTIAL}0b7e.zz.ffee")),
            None,
            "not hex"
        );
    }
}
