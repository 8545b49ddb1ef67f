//! md5 and sha512 of a stream, each computed on its own thread so that both keep up with the
//! network: chunks are shared (`Bytes` clones), never copied.

use bytes::Bytes;
use md5::{Digest, Md5};
use sha2::Sha512;
use tokio::sync::mpsc;

const DEPTH: usize = 4;

/// Hashes fed chunk by chunk; `finish` returns (md5 hex, sha512 hex).
#[derive(Debug)]
pub(crate) struct Hashes {
    md5: Option<mpsc::Sender<Bytes>>,
    sha512: Option<mpsc::Sender<Bytes>>,
    md5_thread: tokio::task::JoinHandle<String>,
    sha512_thread: tokio::task::JoinHandle<String>,
}

fn spawn<D: Digest + Send + 'static>(
    mut hasher: D,
) -> (mpsc::Sender<Bytes>, tokio::task::JoinHandle<String>) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(DEPTH);
    let thread = tokio::task::spawn_blocking(move || {
        while let Some(chunk) = rx.blocking_recv() {
            hasher.update(&chunk);
        }
        hex(&hasher.finalize())
    });
    (tx, thread)
}

/// Bytes as lower-case hex, as digests are shown.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

impl Hashes {
    pub(crate) fn start() -> Hashes {
        let (md5, md5_thread) = spawn(Md5::new());
        let (sha512, sha512_thread) = spawn(Sha512::new());
        Hashes {
            md5: Some(md5),
            sha512: Some(sha512),
            md5_thread,
            sha512_thread,
        }
    }

    pub(crate) async fn feed(&self, chunk: &Bytes) {
        if let Some(tx) = &self.md5 {
            let _ = tx.send(chunk.clone()).await;
        }
        if let Some(tx) = &self.sha512 {
            let _ = tx.send(chunk.clone()).await;
        }
    }

    pub(crate) async fn finish(mut self) -> Result<(String, String), tokio::task::JoinError> {
        self.md5 = None;
        self.sha512 = None;
        let md5 = (&mut self.md5_thread).await?;
        let sha512 = (&mut self.sha512_thread).await?;
        Ok((md5, sha512))
    }
}
