//! The filesystem store: one file per image under a folder. Data is written to a temporary
//! name by a dedicated thread, synced, and renamed into place on commit.

use std::fs::File;
use std::io::{SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use super::{ByteStream, Store, StoreError, StoreWriter};

const PARTIAL: &str = ".partial";
const READ_CHUNK: usize = 256 * 1024;

/// Image files in one folder.
#[derive(Debug, Clone)]
pub struct FsStore {
    dir: PathBuf,
}

impl FsStore {
    pub fn new(dir: impl Into<PathBuf>) -> Result<FsStore, StoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join(PARTIAL))?;
        let dir = dir.canonicalize()?;
        Ok(FsStore { dir })
    }

    fn path_of(&self, location: &str) -> Result<PathBuf, StoreError> {
        let path = location
            .strip_prefix("file://")
            .map(PathBuf::from)
            .ok_or_else(|| StoreError::ForeignLocation(location.to_string()))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| StoreError::ForeignLocation(location.to_string()))?;
        if path.parent() != Some(self.dir.as_path()) || name.starts_with('.') {
            return Err(StoreError::ForeignLocation(location.to_string()));
        }
        Ok(path)
    }
}

struct FsWriter {
    chunks: Option<mpsc::Sender<Bytes>>,
    thread: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    partial: PathBuf,
    target: PathBuf,
}

/// Data is flushed to disk as it goes, so the final sync does not wait for all of it at once.
const SYNC_EVERY: usize = 64 << 20;

fn write_all(mut file: File, mut chunks: mpsc::Receiver<Bytes>) -> std::io::Result<()> {
    let mut unsynced = 0;
    while let Some(chunk) = chunks.blocking_recv() {
        file.write_all(&chunk)?;
        unsynced += chunk.len();
        if unsynced >= SYNC_EVERY {
            file.sync_data()?;
            unsynced = 0;
        }
    }
    file.sync_all()
}

impl Store for FsStore {
    fn begin<'a>(
        &'a self,
        image_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn StoreWriter>, StoreError>> {
        Box::pin(async move {
            let partial = self
                .dir
                .join(PARTIAL)
                .join(format!("{image_id}.{}", uuid::Uuid::new_v4().simple()));
            let file = File::create(&partial)?;
            let (tx, rx) = mpsc::channel::<Bytes>(4);
            let thread = tokio::task::spawn_blocking(move || write_all(file, rx));
            Ok(Box::new(FsWriter {
                chunks: Some(tx),
                thread: Some(thread),
                partial,
                target: self.dir.join(image_id),
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
            let mut file = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StoreError::NotFound(location.to_string()));
                }
                Err(e) => return Err(e.into()),
            };
            if offset > 0 {
                file.seek(SeekFrom::Start(offset)).await?;
            }
            let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), READ_CHUNK);
            Ok(Box::pin(stream) as ByteStream)
        })
    }

    fn delete<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let path = self.path_of(location)?;
            match tokio::fs::remove_file(&path).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            }
        })
    }

    fn location_of(&self, image_id: &str) -> String {
        format!("file://{}", self.dir.join(image_id).display())
    }

    fn sweep(&self) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async move {
            let mut removed = 0;
            let mut entries = tokio::fs::read_dir(self.dir.join(PARTIAL)).await?;
            while let Some(entry) = entries.next_entry().await? {
                tokio::fs::remove_file(entry.path()).await?;
                removed += 1;
            }
            Ok(removed)
        })
    }
}

impl StoreWriter for FsWriter {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let sent = match &self.chunks {
                Some(tx) => tx.send(chunk).await.is_ok(),
                None => false,
            };
            if sent {
                return Ok(());
            }
            // The writing thread stopped: report its error.
            self.chunks = None;
            match self.thread.take() {
                Some(t) => match t.await {
                    Ok(Err(e)) => Err(e.into()),
                    Ok(Ok(())) | Err(_) => {
                        Err(std::io::Error::other("store writer stopped").into())
                    }
                },
                None => Err(std::io::Error::other("store writer stopped").into()),
            }
        })
    }

    fn commit(mut self: Box<Self>) -> BoxFuture<'static, Result<String, StoreError>> {
        Box::pin(async move {
            self.chunks = None;
            let thread = self
                .thread
                .take()
                .ok_or_else(|| std::io::Error::other("store writer stopped"))?;
            thread.await.map_err(std::io::Error::other)??;
            tokio::fs::rename(&self.partial, &self.target).await?;
            Ok(format!("file://{}", self.target.display()))
        })
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        // Not committed (or the commit failed): the partial file goes. Removing it while the
        // writing thread still holds it open is fine; the thread ends when the channel closes.
        if self.thread.is_some() || self.partial.exists() {
            remove_quietly(&self.partial);
        }
    }
}

fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("cannot remove {}: {e}", path.display());
    }
}
