//! md5 and the secure hash (`os_hash_value`, sha512 unless the deployment chose another
//! algorithm, as Glance's `hashing_algorithm`) of a stream, each computed on its own thread so
//! that both keep up with the network: chunks are shared (`Bytes` clones), never copied.

use bytes::Bytes;
use md5::{Digest, Md5};
use sha2::digest::DynDigest;
use tokio::sync::mpsc;

const DEPTH: usize = 4;

/// The algorithms of `os_hash_algo` Glint computes, named as Python's hashlib (and so Glance's
/// `hashing_algorithm`) names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    Sha224,
    Sha256,
    Sha384,
    #[default]
    Sha512,
    /// BLAKE2b with its full 64-byte digest, as hashlib's `blake2b`.
    Blake2b,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Sha224,
        Algorithm::Sha256,
        Algorithm::Sha384,
        Algorithm::Sha512,
        Algorithm::Blake2b,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha224 => "sha224",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
            Algorithm::Blake2b => "blake2b",
        }
    }

    pub fn parse(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    pub(crate) fn hasher(self) -> Box<dyn DynDigest + Send> {
        match self {
            Algorithm::Sha224 => Box::new(<sha2::Sha224 as Digest>::new()),
            Algorithm::Sha256 => Box::new(<sha2::Sha256 as Digest>::new()),
            Algorithm::Sha384 => Box::new(<sha2::Sha384 as Digest>::new()),
            Algorithm::Sha512 => Box::new(<sha2::Sha512 as Digest>::new()),
            Algorithm::Blake2b => Box::new(<blake2::Blake2b512 as Digest>::new()),
        }
    }
}

/// Hashes fed chunk by chunk; `finish` returns (md5 hex, secure hash hex).
#[derive(Debug)]
pub(crate) struct Hashes {
    md5: Option<mpsc::Sender<Bytes>>,
    secure: Option<mpsc::Sender<Bytes>>,
    md5_thread: tokio::task::JoinHandle<String>,
    secure_thread: tokio::task::JoinHandle<String>,
}

fn spawn(
    mut hasher: Box<dyn DynDigest + Send>,
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
    pub(crate) fn start(secure: Algorithm) -> Hashes {
        let (md5, md5_thread) = spawn(Box::new(Md5::new()));
        let (secure, secure_thread) = spawn(secure.hasher());
        Hashes {
            md5: Some(md5),
            secure: Some(secure),
            md5_thread,
            secure_thread,
        }
    }

    pub(crate) async fn feed(&self, chunk: &Bytes) {
        if let Some(tx) = &self.md5 {
            let _ = tx.send(chunk.clone()).await;
        }
        if let Some(tx) = &self.secure {
            let _ = tx.send(chunk.clone()).await;
        }
    }

    pub(crate) async fn finish(mut self) -> Result<(String, String), tokio::task::JoinError> {
        self.md5 = None;
        self.secure = None;
        let md5 = (&mut self.md5_thread).await?;
        let secure = (&mut self.secure_thread).await?;
        Ok((md5, secure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn digests_are_hashlibs() {
        // hashlib.new(name, b"glint").hexdigest(), from Python 3.11.
        let known = [
            (
                Algorithm::Sha224,
                "9be95c8928fc510c160722e81ef447eb2a5ec39c1747860b7771c0b8",
            ),
            (
                Algorithm::Sha256,
                "00cf4f1616c9a31c272130a87a222988a798b4b6240f28e953c3877473331487",
            ),
            (
                Algorithm::Sha384,
                "bb133a5ff30b54b3888491b77983b6b2a1d3e0b1a13eb8c58ba8c329e25c6d6e065561f9b13ccd97859d99eb21a188c0",
            ),
            (
                Algorithm::Sha512,
                "3d1d01d13e488da8e51fd831fae28b022de1c79dfe81438748e0b3a4a840027114627b014e11fad058f7720817d762d5cf20292a2f16ca694406f634bc5ec855",
            ),
            (
                Algorithm::Blake2b,
                "b609a3c9d74b5d39ffcfd4f90d23af83ea4f60facc0e9cfaf0a26c2f8dd731551e807bb1fcca554827e7c34b9ffd48286cc33bda6b0d922f777ac7b28d0277a1",
            ),
        ];
        for (algo, digest) in known {
            assert_eq!(Algorithm::parse(algo.name()), Some(algo));
            let h = Hashes::start(algo);
            h.feed(&Bytes::from_static(b"gl")).await;
            h.feed(&Bytes::from_static(b"int")).await;
            let (md5, secure) = h.finish().await.expect("hashed");
            assert_eq!(md5, "7dad88162da9f0d8fd0107ff9e62e6d4");
            assert_eq!(secure, digest, "{}", algo.name());
        }
        assert_eq!(Algorithm::parse("md5"), None);
    }
}
