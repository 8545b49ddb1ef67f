//! The image cache of one API server (Glance's image cache): copies of image data in a local
//! folder, bounded in size, the least recently used evicted first. Administrators queue images
//! (`PUT /v2/cache/{id}`); a queued image is fetched from its store in the background, its md5
//! checked, and from then on downloads on this server are served from the copy, whatever store
//! (S3, http) holds the image. Files: `<dir>/<image id>`; `<dir>/.incomplete/` while fetching.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use md5::Digest;
use tokio::io::AsyncWriteExt;

/// One cached image.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cached {
    pub(crate) size: u64,
    pub(crate) hits: u64,
    /// Microseconds since the epoch.
    pub(crate) last_accessed: i64,
    pub(crate) last_modified: i64,
}

#[derive(Debug, Default)]
struct State {
    cached: BTreeMap<String, Cached>,
    queued: BTreeSet<String>,
    /// Bytes set aside for fills under way.
    reserved: u64,
    /// Images being fetched now.
    filling: BTreeSet<String>,
}

impl State {
    /// The bytes the cache holds or has promised.
    fn total(&self) -> u64 {
        self.cached.values().map(|c| c.size).sum::<u64>() + self.reserved
    }
}

/// The cache; cloning shares it.
#[derive(Debug, Clone)]
pub(crate) struct ImageCache {
    dir: PathBuf,
    max_size: u64,
    state: Arc<Mutex<State>>,
    /// Reads the cached files.
    files: crate::store::FsStore,
    metrics: crate::metrics::CacheMetrics,
}

/// What `DELETE /v2/cache` clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Cache,
    Queue,
    Both,
}

fn now() -> i64 {
    crate::time::now_micros()
}

impl ImageCache {
    /// Opens the cache in `dir`, taking in what a previous run left complete and dropping what
    /// it left incomplete.
    pub(crate) fn open(
        dir: &Path,
        max_size: u64,
        metrics: crate::metrics::CacheMetrics,
    ) -> std::io::Result<ImageCache> {
        let incomplete = dir.join(".incomplete");
        let _ = std::fs::remove_dir_all(&incomplete);
        std::fs::create_dir_all(&incomplete)?;
        let files = crate::store::FsStore::new(dir, "cache").map_err(std::io::Error::other)?;
        let dir = &dir.canonicalize()?;
        let mut state = State::default();
        for entry in std::fs::read_dir(dir)?.flatten() {
            let meta = entry.metadata()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !meta.is_file() || name.starts_with('.') {
                continue;
            }
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_micros() as i64)
                .unwrap_or_else(now);
            state.cached.insert(
                name,
                Cached {
                    size: meta.len(),
                    hits: 0,
                    last_accessed: modified,
                    last_modified: modified,
                },
            );
        }
        metrics.size.set(state.total() as i64);
        Ok(ImageCache {
            dir: dir.to_path_buf(),
            max_size,
            state: Arc::new(Mutex::new(state)),
            metrics,
            files,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Shows the cache's size as it is in `s`.
    fn measured(&self, s: &State) {
        self.metrics.size.set(s.total() as i64);
    }

    /// What is cached and what is queued.
    pub(crate) fn list(&self) -> (Vec<(String, Cached)>, Vec<String>) {
        let s = self.lock();
        (
            s.cached
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            s.queued.iter().cloned().collect(),
        )
    }

    /// `len` bytes from `offset` of an image's cached copy, if there is one (counted as a hit).
    pub(crate) async fn read(
        &self,
        id: &str,
        offset: u64,
        len: u64,
    ) -> Option<crate::store::ByteStream> {
        {
            let mut s = self.lock();
            let Some(entry) = s.cached.get_mut(id) else {
                self.metrics.misses.inc();
                return None;
            };
            entry.hits += 1;
            entry.last_accessed = now();
            self.metrics.hits.inc();
        }
        use crate::store::Store;
        let location = self.files.location_of(id);
        self.files.read(&location, offset, len).await.ok()
    }

    /// Queues an image; `false` if it is cached or queued already.
    pub(crate) fn queue(&self, id: &str) -> bool {
        let mut s = self.lock();
        !s.cached.contains_key(id) && s.queued.insert(id.to_string())
    }

    /// Removes an image from the cache and the queue.
    pub(crate) fn delete(&self, id: &str) {
        let mut s = self.lock();
        s.queued.remove(id);
        if s.cached.remove(id).is_some() {
            let _ = std::fs::remove_file(self.dir.join(id));
        }
        self.measured(&s);
    }

    pub(crate) fn clear(&self, target: Target) {
        let mut s = self.lock();
        if target != Target::Cache {
            s.queued.clear();
        }
        if target != Target::Queue {
            for id in std::mem::take(&mut s.cached).into_keys() {
                let _ = std::fs::remove_file(self.dir.join(id));
            }
        }
        self.measured(&s);
    }

    /// Evicts the least recently used copies until the cache is within its bound (Glance's
    /// prune); returns how many files and bytes went.
    pub(crate) fn prune(&self) -> (u64, u64) {
        let mut s = self.lock();
        let (mut files, mut bytes) = (0, 0);
        while s.total() > self.max_size {
            let Some((oldest, size)) = s
                .cached
                .iter()
                .min_by_key(|(_, c)| c.last_accessed)
                .map(|(k, c)| (k.clone(), c.size))
            else {
                break;
            };
            s.cached.remove(&oldest);
            let _ = std::fs::remove_file(self.dir.join(&oldest));
            files += 1;
            bytes += size;
            self.metrics.evictions.inc();
        }
        self.measured(&s);
        (files, bytes)
    }

    /// Removes what no fill is writing any more from the incomplete folder, and the copies of
    /// images `gone` says no longer exist (Glance's clean); returns how many files went.
    pub(crate) fn clean(&self, gone: &[String]) -> u64 {
        let mut removed = 0;
        let s = self.lock();
        if let Ok(entries) = std::fs::read_dir(self.dir.join(".incomplete")) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !s.filling.contains(&name) && std::fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        drop(s);
        for id in gone {
            if self.lock().cached.contains_key(id) {
                self.delete(id);
                removed += 1;
            }
        }
        removed
    }

    /// Makes room for `size` bytes, evicting the least recently used, and reserves it (it
    /// counts in the total from now on, so fills running together stay within the bound);
    /// `false` if the image cannot fit at all.
    fn reserve(&self, size: u64) -> bool {
        if size > self.max_size {
            return false;
        }
        let mut s = self.lock();
        while s.total() + size > self.max_size {
            let Some(oldest) = s
                .cached
                .iter()
                .min_by_key(|(_, c)| c.last_accessed)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if s.cached.remove(&oldest).is_some() {
                let _ = std::fs::remove_file(self.dir.join(&oldest));
                tracing::info!(image = %oldest, "evicted from the image cache");
                self.metrics.evictions.inc();
            }
        }
        s.reserved += size;
        self.measured(&s);
        true
    }

    /// Fetches a queued image into the cache: its data from `stream`, checked against `md5`.
    /// An image dequeued meanwhile is dropped.
    pub(crate) async fn fill(
        &self,
        id: &str,
        size: u64,
        md5: Option<&str>,
        mut stream: crate::store::ByteStream,
    ) -> Result<(), String> {
        if !self.reserve(size) {
            self.lock().queued.remove(id);
            return Err(format!("{size} bytes do not fit in the cache"));
        }
        self.lock().filling.insert(id.to_string());
        let result = async {
            let partial = self.dir.join(".incomplete").join(id);
            let mut file = tokio::fs::File::create(&partial)
                .await
                .map_err(|e| e.to_string())?;
            let mut hasher = md5::Md5::new();
            let mut written = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                hasher.update(&chunk);
                written += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(|e| e.to_string())?;
            }
            file.sync_all().await.map_err(|e| e.to_string())?;
            let digest = crate::hashing::hex(&hasher.finalize());
            if written != size || md5.is_some_and(|m| m != digest) {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err("the data read does not match the image's size or checksum".into());
            }
            let mut s = self.lock();
            if !s.queued.remove(id) {
                // Dequeued meanwhile: the copy is not wanted.
                let _ = std::fs::remove_file(&partial);
                return Ok(());
            }
            std::fs::rename(&partial, self.dir.join(id)).map_err(|e| e.to_string())?;
            let t = now();
            s.cached.insert(
                id.to_string(),
                Cached {
                    size,
                    hits: 0,
                    last_accessed: t,
                    last_modified: t,
                },
            );
            Ok(())
        }
        .await;
        let mut s = self.lock();
        s.reserved = s.reserved.saturating_sub(size);
        s.filling.remove(id);
        if result.is_err() {
            s.queued.remove(id);
        }
        self.measured(&s);
        result
    }
}
