//! The `image_decompression` import step, as Glance's plugin: imported data that starts with a
//! gzip or single-file zip header (and, beyond Glance, xz or zstd) is decompressed before it is
//! inspected, converted and stored; the image's size is the decompressed size. An image whose
//! `container_format` is `compressed` is meant to be compressed and is left as it is, as in
//! Glance. A zip archive must hold exactly one file (Glance's rule); LHA archives, which
//! Glance reads only with an optional library, are refused.
//!
//! Decompression streams: a blocking thread reads the compressed stream and hands on the
//! decompressed data a MiB at a time, stopping as soon as it passes the image size cap (a
//! small archive cannot make a huge image). Nothing is written to disk.

use std::io::{BufRead, Read, Write};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::DataError;

/// What the data is compressed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    Gzip,
    Zip,
    Xz,
    Zstd,
}

impl Compression {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zip => "zip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }
}

/// The most bytes [`detect`] needs to see.
pub(crate) const HEADER: usize = 6;

/// What a header says the data is compressed with; refuses LHA archives. `Ok(None)` for data
/// that is not compressed (as far as its first bytes tell).
pub(crate) fn detect(head: &[u8]) -> Result<Option<Compression>, DataError> {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        return Ok(Some(Compression::Gzip));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Ok(Some(Compression::Zip));
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return Ok(Some(Compression::Xz));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Ok(Some(Compression::Zstd));
    }
    if head.len() >= 5 && &head[2..5] == b"-lh" {
        return Err(DataError::Invalid(
            "Image decompression failed: LHA archives are not supported.".into(),
        ));
    }
    Ok(None)
}

fn failed(message: impl std::fmt::Display) -> DataError {
    DataError::Invalid(format!("Image decompression failed: {message}"))
}

const CHUNK: usize = 1 << 20;

/// Hands decompressed data on a chunk at a time; an error once more than `cap` bytes came out
/// or the receiver went away.
struct Sender {
    tx: mpsc::Sender<Result<Bytes, DataError>>,
    pending: Vec<u8>,
    total: u64,
    cap: u64,
}

impl Write for Sender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.total += buf.len() as u64;
        if self.total > self.cap {
            return Err(std::io::Error::other(CapExceeded));
        }
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= CHUNK {
            self.flush()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.pending,
            Vec::with_capacity(CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the import stopped reading"))
    }
}

/// The error a [`Sender`] gives when the cap is passed.
#[derive(Debug)]
struct CapExceeded;

impl std::fmt::Display for CapExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("over the cap")
    }
}

impl std::error::Error for CapExceeded {}

/// `stream` decompressed as `kind`, at most `cap` bytes of it.
pub(crate) fn decompressed<S, E>(
    stream: S,
    kind: Compression,
    cap: u64,
) -> impl Stream<Item = Result<Bytes, DataError>> + Unpin + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
    E: std::fmt::Display,
{
    let (tx, rx) = mpsc::channel(2);
    let source = stream.map(|r| r.map_err(|e| std::io::Error::other(e.to_string())));
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(source));
    tokio::task::spawn_blocking(move || {
        let mut reader = std::io::BufReader::with_capacity(CHUNK, reader);
        let mut out = Sender {
            tx: tx.clone(),
            pending: Vec::with_capacity(CHUNK),
            total: 0,
            cap,
        };
        let result = decode(kind, &mut reader, &mut out).and_then(|()| out.flush());
        if let Err(e) = result {
            let error = match e.get_ref().is_some_and(|i| i.is::<CapExceeded>()) {
                true => DataError::TooLarge(format!(
                    "Image exceeds the image size cap of {cap} bytes once decompressed."
                )),
                false => failed(format!("{} data: {e}", kind.as_str())),
            };
            let _ = tx.blocking_send(Err(error));
        }
    });
    tokio_stream_of(rx)
}

fn tokio_stream_of(
    mut rx: mpsc::Receiver<Result<Bytes, DataError>>,
) -> impl Stream<Item = Result<Bytes, DataError>> + Unpin + Send + 'static {
    Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

fn decode(kind: Compression, reader: &mut impl BufRead, out: &mut Sender) -> std::io::Result<()> {
    match kind {
        Compression::Gzip => {
            std::io::copy(&mut flate2::bufread::MultiGzDecoder::new(reader), out)?;
        }
        Compression::Zip => unzip_one(reader, out)?,
        Compression::Xz => {
            lzma_rs::xz_decompress(reader, out).map_err(|e| match e {
                lzma_rs::error::Error::IoError(io) => io,
                other => std::io::Error::other(other.to_string()),
            })?;
        }
        Compression::Zstd => {
            // One frame after another until the data ends.
            while !reader.fill_buf()?.is_empty() {
                let mut frame = ruzstd::decoding::StreamingDecoder::new(&mut *reader)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                std::io::copy(&mut frame, out)?;
            }
        }
    }
    Ok(())
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;

/// The one file of a zip archive, read front to back: its local header, its data (stored or
/// deflated), checked against its CRC-32, and then the central directory must follow (a second
/// file is refused, as Glance refuses it).
fn unzip_one(reader: &mut impl BufRead, out: &mut Sender) -> std::io::Result<()> {
    let mut header = [0u8; 30];
    reader.read_exact(&mut header)?;
    if u32_at(&header, 0) != LOCAL_HEADER {
        return Err(invalid("not a zip archive"));
    }
    let flags = u16_at(&header, 6);
    let method = u16_at(&header, 8);
    let mut crc = u32_at(&header, 14);
    let compressed = u64::from(u32_at(&header, 18));
    let skip = u64::from(u16_at(&header, 26)) + u64::from(u16_at(&header, 28));
    std::io::copy(&mut reader.by_ref().take(skip), &mut std::io::sink())?;
    if flags & 0x0001 != 0 {
        return Err(invalid("the archive is encrypted"));
    }
    let described = flags & 0x0008 != 0;
    let mut check = Crc32 {
        out,
        hasher: crc32fast::Hasher::new(),
    };
    match method {
        8 => {
            let mut inflate = flate2::bufread::DeflateDecoder::new(&mut *reader);
            std::io::copy(&mut inflate, &mut check)?;
        }
        0 if !described => {
            std::io::copy(&mut reader.by_ref().take(compressed), &mut check)?;
        }
        _ => {
            return Err(invalid(
                "the file is compressed with a method other than deflate",
            ));
        }
    }
    let computed = check.hasher.finalize();
    let mut word = [0u8; 4];
    reader.read_exact(&mut word)?;
    if described {
        // crc-32, then the sizes (4 + 4, or 8 + 8 in zip64), the signature optional.
        if u32::from_le_bytes(word) == DATA_DESCRIPTOR {
            reader.read_exact(&mut word)?;
        }
        crc = u32::from_le_bytes(word);
        let mut sizes = [0u8; 8];
        reader.read_exact(&mut sizes)?;
        reader.read_exact(&mut word)?;
        if !matches!(u32::from_le_bytes(word), LOCAL_HEADER | CENTRAL_HEADER) {
            // Zip64 sizes (8 + 8): `word` was the first half of the second.
            reader.read_exact(&mut word)?;
            reader.read_exact(&mut word)?;
        }
    }
    if computed != crc {
        return Err(invalid("the file's CRC-32 does not match its data"));
    }
    match u32::from_le_bytes(word) {
        CENTRAL_HEADER => Ok(()),
        LOCAL_HEADER => Err(invalid("Archive contains more than one file.")),
        _ => Err(invalid("the archive is malformed after its first file")),
    }
}

/// Passes data on and computes its CRC-32.
struct Crc32<'a> {
    out: &'a mut Sender,
    hasher: crc32fast::Hasher,
}

impl Write for Crc32<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(data: Vec<u8>, cap: u64) -> Result<Vec<u8>, DataError> {
        let kind = detect(&data)?.expect("compressed");
        let chunks: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(7)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let mut out = decompressed(futures_util::stream::iter(chunks), kind, cap);
        let mut all = Vec::new();
        while let Some(chunk) = out.next().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(all)
    }

    fn payload() -> Vec<u8> {
        (0..300_000u32).map(|i| (i % 251) as u8).collect()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    }

    /// A zip archive of `files`, deflated, sizes in a data descriptor when `streamed`.
    fn zip(files: &[(&str, &[u8])], streamed: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in files {
            let offset = out.len() as u32;
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).expect("deflate");
            let deflated = e.finish().expect("deflate");
            let crc = crc32fast::hash(data);
            let flags: u16 = if streamed { 8 } else { 0 };
            let (h_crc, h_c, h_u) = match streamed {
                true => (0, 0, 0),
                false => (crc, deflated.len() as u32, data.len() as u32),
            };
            out.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&8u16.to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            for v in [h_crc, h_c, h_u] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&deflated);
            if streamed {
                out.extend_from_slice(&DATA_DESCRIPTOR.to_le_bytes());
                for v in [crc, deflated.len() as u32, data.len() as u32] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            central.extend_from_slice(&CENTRAL_HEADER.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0]);
            central.extend_from_slice(&flags.to_le_bytes());
            central.extend_from_slice(&8u16.to_le_bytes());
            central.extend_from_slice(&[0; 4]);
            for v in [crc, deflated.len() as u32, data.len() as u32] {
                central.extend_from_slice(&v.to_le_bytes());
            }
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let at = out.len() as u32;
        let size = central.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&at.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    #[tokio::test]
    async fn gzip_and_single_file_zips_come_out_whole() {
        let data = payload();
        assert_eq!(run(gzip(&data), u64::MAX).await.expect("gzip"), data);
        for streamed in [false, true] {
            let archive = zip(&[("disk.raw", &data)], streamed);
            assert_eq!(run(archive, u64::MAX).await.expect("zip"), data);
        }
    }

    #[tokio::test]
    async fn two_files_a_bad_crc_and_a_bomb_are_refused() {
        let data = payload();
        let two = zip(&[("a", &data), ("b", &data)], false);
        let err = run(two, u64::MAX).await.expect_err("two files");
        assert!(err.to_string().contains("more than one file"), "{err}");
        let mut bad = zip(&[("a", &data)], false);
        bad[14] ^= 0xff;
        let err = run(bad, u64::MAX).await.expect_err("crc");
        assert!(err.to_string().contains("CRC-32"), "{err}");
        // 300,000 bytes may not come out of an archive when the cap is 100,000.
        let err = run(gzip(&data), 100_000).await.expect_err("cap");
        assert!(matches!(err, DataError::TooLarge(_)), "{err}");
        let err = detect(b"\x00\x00-lh5-").expect_err("lha");
        assert!(err.to_string().contains("LHA"), "{err}");
        assert!(detect(b"QFI\xfb\x00\x00").expect("qcow2").is_none());
    }
}
