//! The filesystem store: one file per image under a folder. Data is written to a temporary
//! name by a dedicated thread, synced, and renamed into place on commit. The temporary name
//! (`.partial/<image>.<server, hex>.<random>`) records which server writes it, so servers
//! sharing the folder (an NFS export) never remove each other's writes in progress.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use super::{ByteStream, Store, StoreError, StoreWriter, Sweep};

const PARTIAL: &str = ".partial";
const READ_CHUNK: usize = crate::blocks::BLOCK;

/// How many pieces a read keeps ready ahead of the one being sent.
const READ_AHEAD: usize = 2;

/// `len` bytes of `file` from where it stands (fewer where it ends first), read a piece ahead
/// of the client: each piece is read on the blocking pool straight into the buffer the
/// response sends (no copy between the file and the body), and the next is read while one is
/// being sent. No thread is held between pieces (a slow client holds only its queued pieces),
/// and the reading stops when the stream is dropped (the client gone).
fn read_ahead(file: File, len: u64) -> ByteStream {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(READ_AHEAD);
    tokio::spawn(async move {
        let mut file = Some(file);
        let mut left = len;
        while left > 0 {
            let Some(mut f) = file.take() else { break };
            let want = left.min(READ_CHUNK as u64);
            let read = tokio::task::spawn_blocking(move || {
                let mut piece = crate::blocks::take();
                let n = (&mut f).take(want).read_to_end(&mut piece);
                (f, n.map(|n| (n, piece)))
            })
            .await;
            let item = match read {
                // The end of the file: callers may ask for more than there is.
                Ok((_, Ok((0, _)))) => break,
                Ok((f, Ok((n, piece)))) => {
                    file = Some(f);
                    left -= n as u64;
                    Ok(crate::blocks::freeze(piece))
                }
                Ok((_, Err(e))) => Err(e),
                Err(e) => Err(std::io::Error::other(e)),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Image files in one folder.
#[derive(Debug, Clone)]
pub struct FsStore {
    dir: PathBuf,
    /// The writing server's name, hex-encoded, as partial files carry it.
    writer: String,
}

fn hex(text: &str) -> String {
    crate::hashing::hex(text.as_bytes())
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// The server that writes a partial file, from its name (`None` for names without one).
fn writer_of(name: &str) -> Option<String> {
    let mut parts = name.rsplitn(3, '.');
    let (_random, writer, _image) = (parts.next()?, parts.next()?, parts.next()?);
    unhex(writer)
}

impl FsStore {
    /// The store in `dir`, written by the server named `writer`.
    pub fn new(dir: impl Into<PathBuf>, writer: &str) -> Result<FsStore, StoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join(PARTIAL))?;
        let dir = dir.canonicalize()?;
        Ok(FsStore {
            dir,
            writer: hex(writer),
        })
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

/// Data is flushed to disk behind the writer: each time this much more has been written, a
/// sync of the file starts on a thread of its own while writing goes on, so the disk works
/// while data still arrives and the sync before the commit finds little left to write.
const SYNC_EVERY: u64 = 32 << 20;

/// Writes the chunks to `file` and syncs it; the syncs behind the writer run on their own
/// thread (one at a time: a sync asked for while one runs is taken by that one's successor).
/// Any sync's failure fails the write, since a later sync can no longer vouch for the data.
fn write_all(mut file: File, mut chunks: mpsc::Receiver<Bytes>) -> std::io::Result<()> {
    let behind = file.try_clone()?;
    let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
    let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failing = failed.clone();
    let syncer = std::thread::Builder::new()
        .name("glint-flush".into())
        .spawn(move || -> std::io::Result<()> {
            while asked.recv().is_ok() {
                if let Err(e) = behind.sync_data() {
                    failing.store(true, std::sync::atomic::Ordering::Release);
                    return Err(e);
                }
            }
            Ok(())
        })?;
    let mut unsynced = 0;
    let written = (|| {
        while let Some(chunk) = chunks.blocking_recv() {
            // A failed sync ends the write now: the upload is refused without taking the rest.
            if failed.load(std::sync::atomic::Ordering::Acquire) {
                break;
            }
            file.write_all(&chunk)?;
            unsynced += chunk.len() as u64;
            if unsynced >= SYNC_EVERY {
                // Full means a sync is already asked for and will cover this data too.
                let _ = ask.try_send(());
                unsynced = 0;
            }
        }
        Ok::<(), std::io::Error>(())
    })();
    drop(ask);
    let behind = syncer
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the flushing thread failed")));
    written?;
    behind?;
    file.sync_all()
}

impl Store for FsStore {
    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            match tokio::fs::metadata(&self.dir).await?.is_dir() {
                true => Ok(()),
                false => Err(StoreError::NotFound(self.dir.display().to_string())),
            }
        })
    }

    fn begin<'a>(
        &'a self,
        image_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn StoreWriter>, StoreError>> {
        Box::pin(async move {
            let partial = self.dir.join(PARTIAL).join(format!(
                "{image_id}.{}.{}",
                self.writer,
                uuid::Uuid::new_v4().simple()
            ));
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
            let opened = tokio::task::spawn_blocking(move || {
                let mut file = File::open(&path)?;
                if offset > 0 {
                    file.seek(SeekFrom::Start(offset))?;
                }
                Ok::<File, std::io::Error>(file)
            })
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?;
            let file = match opened {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StoreError::NotFound(location.to_string()));
                }
                Err(e) => return Err(e.into()),
            };
            Ok(read_ahead(file, len))
        })
    }

    /// A `file://` URL of a file in this store's folder (Glance's file store writes the same
    /// URLs, so a folder Glance wrote is read in place).
    fn owns(&self, location: &str) -> bool {
        self.path_of(location).is_ok()
    }

    fn size_of<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let path = self.path_of(location)?;
            match tokio::fs::metadata(&path).await {
                Ok(m) if m.is_file() => Ok(m.len()),
                Ok(_) => Err(StoreError::NotFound(location.to_string())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(StoreError::NotFound(location.to_string()))
                }
                Err(e) => Err(e.into()),
            }
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

    fn sweep<'a>(&'a self, rule: &'a Sweep) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move {
            let mut removed = 0;
            let mut entries = tokio::fs::read_dir(self.dir.join(PARTIAL)).await?;
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name().to_string_lossy().into_owned();
                let age = match entry.metadata().await {
                    Ok(m) => m
                        .modified()
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .unwrap_or_default(),
                    // Removed meanwhile (committed or dropped by its writer).
                    Err(_) => continue,
                };
                if !rule.removable(writer_of(&name).as_deref(), age) {
                    continue;
                }
                match tokio::fs::remove_file(entry.path()).await {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
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
            // The rename is durable once the folder is synced; if it cannot be, the file goes
            // rather than stay where no image points.
            let target = self.target.clone();
            let synced = tokio::task::spawn_blocking(move || match target.parent() {
                Some(dir) => File::open(dir).and_then(|d| d.sync_all()),
                None => Ok(()),
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
            if let Err(e) = synced {
                remove_quietly(&self.target);
                return Err(e.into());
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names_carry_their_writer() {
        let name = format!("{}.{}.{}", "0b7e-4c", hex("node.a/1"), "ffee");
        assert_eq!(writer_of(&name).as_deref(), Some("node.a/1"));
        assert_eq!(writer_of("0b7e-4c.ffee"), None, "a name without a writer");
        assert_eq!(writer_of("0b7e-4c.zz.ffee"), None, "not hex");
        assert_eq!(writer_of("0b7e-4c.abc.ffee"), None, "odd length");
    }

    /// Written past several flushes behind the writer and read back across pieces: every range
    /// is the bytes asked for, a range past the end stops at it, and a reader dropped early
    /// stops reading.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_is_written_reads_back_in_ranges() {
        use futures_util::StreamExt;
        let dir = std::env::temp_dir().join(format!("glint-fs-read-{}", uuid::Uuid::new_v4()));
        let store = FsStore::new(&dir, "a").expect("store");
        let data: Vec<u8> = (0..(SYNC_EVERY as usize * 2 + 3 * READ_CHUNK + 5))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut w = store.begin("img").await.expect("begin");
        for piece in data.chunks(700_001) {
            w.write(Bytes::copy_from_slice(piece)).await.expect("write");
        }
        let url = w.commit().await.expect("commit");
        let read = |offset: u64, len: u64| {
            let (store, url) = (&store, &url);
            async move {
                let mut stream = store.read(url, offset, len).await.expect("read");
                let mut got = Vec::new();
                while let Some(piece) = stream.next().await {
                    got.extend_from_slice(&piece.expect("piece"));
                }
                got
            }
        };
        assert_eq!(read(0, data.len() as u64).await, data);
        let at = READ_CHUNK as u64 - 3;
        assert_eq!(
            read(at, 2 * READ_CHUNK as u64).await,
            data[at as usize..at as usize + 2 * READ_CHUNK]
        );
        let tail = data.len() as u64 - 10;
        assert_eq!(
            read(tail, u64::MAX).await,
            data[tail as usize..],
            "stops at the end"
        );
        let mut early = store.read(&url, 0, data.len() as u64).await.expect("read");
        assert_eq!(
            early.next().await.expect("a piece").expect("ok").len(),
            READ_CHUNK
        );
        drop(early);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_sweep_removes_only_what_gone_writers_left() {
        let dir = std::env::temp_dir().join(format!("glint-fs-sweep-{}", uuid::Uuid::new_v4()));
        let a = FsStore::new(&dir, "a").expect("store a");
        let b = FsStore::new(&dir, "b").expect("store b");
        let c = FsStore::new(&dir, "c").expect("store c");
        let mut wa = a.begin("img-a").await.expect("a writes");
        wa.write(Bytes::from_static(b"aa")).await.expect("write");
        let mut wb = b.begin("img-b").await.expect("b writes");
        wb.write(Bytes::from_static(b"bb")).await.expect("write");
        let mut wc = c.begin("img-c").await.expect("c writes");
        wc.write(Bytes::from_static(b"cc")).await.expect("write");
        std::fs::write(dir.join(PARTIAL).join("img-old.0123"), b"old").expect("legacy");
        let partials = || {
            std::fs::read_dir(dir.join(PARTIAL))
                .expect("partials")
                .count()
        };
        assert_eq!(partials(), 4);
        // Another deployment's server writes into the same folder.
        let d = FsStore::new(&dir, "d").expect("store d");
        let mut wd = d.begin("img-d").await.expect("d writes");
        wd.write(Bytes::from_static(b"dd")).await.expect("write");
        assert_eq!(partials(), 5);
        // a restarts; b is alive, c has gone quiet; d is not this deployment's; the legacy
        // file is fresh.
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect();
        let rule = Sweep {
            own: Some("a".into()),
            alive: names(&["a", "b"]),
            known: names(&["a", "b", "c"]),
            untouched: std::time::Duration::from_secs(3600),
        };
        assert_eq!(a.sweep(&rule).await.expect("sweep"), 2, "a's own and c's");
        assert_eq!(partials(), 3);
        drop(wd);
        // b's write goes on and lands.
        wb.write(Bytes::from_static(b"b2"))
            .await
            .expect("b writes on");
        let location = wb.commit().await.expect("b commits");
        assert_eq!(
            std::fs::read(location.strip_prefix("file://").expect("a file")).expect("read"),
            b"bbb2"
        );
        // A legacy file goes once untouched for long enough.
        let rule = Sweep {
            untouched: std::time::Duration::ZERO,
            alive: rule.alive,
            known: rule.known,
            own: None,
        };
        assert_eq!(b.sweep(&rule).await.expect("sweep"), 1);
        assert_eq!(partials(), 0);
        drop((wa, wc));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
