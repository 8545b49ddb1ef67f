//! The `image_conversion` import step, as Glance's plugin: an image imported (glance-direct,
//! web-download, glance-download) in another format than the deployment's output format is
//! converted with `qemu-img convert` before it is stored, so an RBD store holds raw images
//! that Nova can clone. `copy-image` copies data as it is (as Glance, which runs no import
//! plugin on it: converting one copy would leave the image's copies in two formats).
//!
//! The input is written to a local work folder while the inspector reads it; it must be what
//! its `disk_format` says and safe, or qemu-img never sees it. `qemu-img info` then checks it
//! again (no backing file, no external data file, an allowed VMDK type) and gives its virtual
//! size, which must fit the image size cap when the output is raw. `qemu-img convert` runs
//! under an address-space and CPU-time limit (`prlimit`) and a wall-clock timeout; its output
//! is inspected in turn and must be exactly the output format. Then the output streams into
//! the store like any import, hashed: the image's `disk_format`, `size`, `virtual_size` and
//! checksums are the stored result's. Both files go whatever happens.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use glint_core::Image;
use glint_core::inspect::{self, Inspector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::upload::{Ingested, Intake};
use super::{Data, DataError};

/// The formats Glance's plugin converts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    Raw,
    Qcow2,
    Vmdk,
}

impl OutputFormat {
    pub(crate) fn parse(s: &str) -> Option<OutputFormat> {
        match s {
            "raw" => Some(OutputFormat::Raw),
            "qcow2" => Some(OutputFormat::Qcow2),
            "vmdk" => Some(OutputFormat::Vmdk),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Raw => "raw",
            OutputFormat::Qcow2 => "qcow2",
            OutputFormat::Vmdk => "vmdk",
        }
    }
}

/// How imports are converted (Glance's `[image_conversion]`), when they are.
#[derive(Debug, Clone)]
pub(crate) struct Conversion {
    pub(crate) output: OutputFormat,
    /// The local folder input and output are written to.
    pub(crate) work_dir: PathBuf,
    /// Longest a conversion may run.
    pub(crate) timeout: Duration,
    /// qemu-img's address space, in bytes.
    pub(crate) memory: u64,
}

/// What a conversion did, for the image and the task's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Converted {
    pub(crate) from: String,
    pub(crate) to: String,
}

/// The VMDK kinds qemu-img may read (Glance's `vmdk_allowed_types` default).
const VMDK_ALLOWED: [&str; 2] = ["streamOptimized", "monolithicSparse"];

/// `qemu-img info`'s limits, as Glance's (`QEMU_IMG_PROC_LIMITS`).
const INFO_MEMORY: u64 = 1 << 30;
const INFO_CPU_SECONDS: u64 = 2;

/// Input and output files, removed when dropped.
struct WorkFiles {
    input: PathBuf,
    output: PathBuf,
}

impl Drop for WorkFiles {
    fn drop(&mut self) {
        for f in [&self.input, &self.output] {
            if let Err(e) = std::fs::remove_file(f)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("cannot remove conversion file {}: {e}", f.display());
            }
        }
    }
}

fn failed(message: impl std::fmt::Display) -> DataError {
    DataError::Invalid(format!("Image conversion failed: {message}"))
}

impl Conversion {
    /// Whether an image declared as `disk_format` is converted (an ISO stays an ISO, as in
    /// Glance; an image already in the output format is stored as it is).
    pub(crate) fn applies_to(&self, disk_format: Option<&str>) -> bool {
        glint_core::settings::conversion_target(Some(self.output.as_str()), disk_format).is_some()
    }

    /// Removes what conversions cut off by a stop left behind.
    pub(crate) fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.work_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Data {
    /// An import's data into its first store: decompressed first when the deployment
    /// decompresses imports and the data is compressed, then converted when the deployment
    /// converts imports and the image is in another format, as it is otherwise.
    pub(super) async fn ingest_import<S, E>(
        &self,
        intake: Intake<'_>,
        stream: S,
        image: &Image,
    ) -> Result<Ingested, DataError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        if !self.imports.decompression || image.container_format.as_deref() == Some("compressed") {
            return self.ingest_or_convert(intake, stream, image).await;
        }
        // The first bytes tell whether the data is compressed; they go on with the rest.
        let mut stream = stream;
        let mut head: Vec<Bytes> = Vec::new();
        let mut seen = 0;
        while seen < super::decompress::HEADER {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    seen += chunk.len();
                    head.push(chunk);
                }
                Some(Err(e)) => {
                    return Err(DataError::Invalid(format!(
                        "The import was interrupted: {e}"
                    )));
                }
                None => break,
            }
        }
        let start: Vec<u8> = head
            .iter()
            .flat_map(|c| c.iter().copied())
            .take(16)
            .collect();
        let whole = futures_util::stream::iter(head.into_iter().map(Ok::<Bytes, E>)).chain(stream);
        let Some(kind) = super::decompress::detect(&start)? else {
            return self.ingest_or_convert(intake, whole, image).await;
        };
        tracing::info!(image = %image.id, "decompressing {} data", kind.as_str());
        // What went wrong decompressing is the import's error as it is (not "interrupted").
        let failure = std::sync::Arc::new(std::sync::Mutex::new(None));
        let slot = failure.clone();
        let plain = super::decompress::decompressed(whole, kind, self.size_cap).map(move |r| {
            r.map_err(|e| {
                let text = e.to_string();
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(e);
                }
                text
            })
        });
        let intake = Intake {
            declared: None,
            ..intake
        };
        match self.ingest_or_convert(intake, plain, image).await {
            Ok(mut ingested) => {
                ingested.decompressed = Some(kind);
                Ok(ingested)
            }
            Err(e) => Err(failure.lock().ok().and_then(|mut f| f.take()).unwrap_or(e)),
        }
    }

    /// An import's (plain) data into its first store, converted when the deployment converts
    /// imports and the image is in another format.
    async fn ingest_or_convert<S, E>(
        &self,
        intake: Intake<'_>,
        stream: S,
        image: &Image,
    ) -> Result<Ingested, DataError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let Some(conversion) = self
            .imports
            .conversion
            .as_ref()
            .filter(|c| c.applies_to(image.disk_format.as_deref()))
        else {
            return self.ingest(intake, stream).await;
        };
        let from = image.disk_format.clone().unwrap_or_default();
        let to = conversion.output.as_str();
        let started = std::time::Instant::now();
        let files = self.convert(conversion, &image.id, &from, stream).await;
        self.metrics
            .conversion(&from, to, files.is_ok(), started.elapsed());
        let (files, virtual_size) = files?;
        let size = tokio::fs::metadata(&files.output)
            .await
            .map_err(|e| DataError::Internal(format!("conversion output: {e}")))?
            .len();
        let file = tokio::fs::File::open(&files.output)
            .await
            .map_err(|e| DataError::Internal(format!("conversion output: {e}")))?;
        let reader = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
        let intake = Intake {
            declared: Some(size),
            inspect_as: Some(to),
            ..intake
        };
        let mut ingested = self.ingest(intake, reader).await?;
        drop(files);
        ingested.virtual_size = ingested.virtual_size.or(Some(virtual_size));
        ingested.converted = Some(Converted {
            from,
            to: to.to_string(),
        });
        Ok(ingested)
    }

    /// Writes the input to the work folder, checks it, converts it; the files and the
    /// virtual size.
    async fn convert<S, E>(
        &self,
        conversion: &Conversion,
        image_id: &str,
        from: &str,
        mut stream: S,
    ) -> Result<(WorkFiles, u64), DataError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        tokio::fs::create_dir_all(&conversion.work_dir)
            .await
            .map_err(|e| DataError::Internal(format!("conversion folder: {e}")))?;
        let stem = format!("{image_id}.{}", uuid::Uuid::new_v4().simple());
        let files = WorkFiles {
            input: conversion.work_dir.join(format!("{stem}.{from}")),
            output: conversion
                .work_dir
                .join(format!("{stem}.{}", conversion.output.as_str())),
        };
        // The input, inspected as it is written: qemu-img never opens what the inspector
        // refuses or what is not the format it claims.
        let mut file = tokio::fs::File::create(&files.input)
            .await
            .map_err(|e| DataError::Internal(format!("conversion input: {e}")))?;
        let mut inspector = Inspector::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| DataError::Invalid(format!("The import was interrupted: {e}")))?;
            size += chunk.len() as u64;
            if size > self.size_cap {
                return Err(DataError::TooLarge(format!(
                    "Image exceeds the image size cap of {} bytes.",
                    self.size_cap
                )));
            }
            inspector.feed(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| DataError::Internal(format!("conversion input: {e}")))?;
        }
        file.flush()
            .await
            .map_err(|e| DataError::Internal(format!("conversion input: {e}")))?;
        drop(file);
        let verdict = inspector.finish();
        inspect::check(&verdict, from, true).map_err(|r| DataError::Invalid(r.message))?;

        let info = qemu_img_info(&files.input, from).await?;
        let virtual_size = info["virtual-size"]
            .as_u64()
            .ok_or_else(|| failed("qemu-img did not report a virtual size"))?;
        if info["format"].as_str() != Some(from) {
            return Err(failed(format!(
                "qemu-img reads the image as {}, not {from}",
                info["format"].as_str().unwrap_or("unknown")
            )));
        }
        if info.get("backing-filename").is_some() {
            return Err(failed("QCOW images with backing files are not allowed"));
        }
        if !info["format-specific"]["data"]["data-file"].is_null() {
            return Err(failed("QCOW images with data-file set are not allowed"));
        }
        if from == "vmdk" {
            let kind = info["format-specific"]["data"]["create-type"]
                .as_str()
                .unwrap_or_default();
            if !VMDK_ALLOWED.contains(&kind) {
                return Err(failed(format!("VMDK create-type {kind:?} is not allowed")));
            }
        }
        if conversion.output == OutputFormat::Raw && virtual_size > self.size_cap {
            return Err(DataError::TooLarge(format!(
                "Image would be {virtual_size} bytes once converted to raw, over the image \
                 size cap of {} bytes.",
                self.size_cap
            )));
        }

        let mut command = tokio::process::Command::new("prlimit");
        command
            .arg(format!("--as={}", conversion.memory))
            .arg(format!("--cpu={}", conversion.timeout.as_secs().max(1)))
            .args(["qemu-img", "convert", "-f", from, "-O"])
            .arg(conversion.output.as_str())
            .arg(&files.input)
            .arg(&files.output)
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let child = command
            .spawn()
            .map_err(|e| DataError::Internal(format!("cannot run qemu-img: {e}")))?;
        let out = match tokio::time::timeout(conversion.timeout, child.wait_with_output()).await {
            Ok(out) => out.map_err(|e| DataError::Internal(format!("qemu-img: {e}")))?,
            Err(_) => {
                return Err(failed(format!(
                    "qemu-img did not finish within {} seconds",
                    conversion.timeout.as_secs()
                )));
            }
        };
        if !out.status.success() {
            return Err(failed(qemu_said(
                &out.stderr,
                &[
                    (&files.input, "the image"),
                    (&files.output, "the converted image"),
                ],
            )));
        }
        // The output must be exactly the format asked for: nothing hidden in it.
        let verdict = inspect_file(&files.output).await?;
        inspect::check(&verdict, conversion.output.as_str(), true)
            .map_err(|r| failed(format!("the converted image is refused: {}", r.message)))?;
        Ok((files, virtual_size))
    }
}

/// `qemu-img info --output=json` of a file read as `format`, under Glance's limits.
async fn qemu_img_info(path: &Path, format: &str) -> Result<serde_json::Value, DataError> {
    let out = tokio::process::Command::new("prlimit")
        .arg(format!("--as={INFO_MEMORY}"))
        .arg(format!("--cpu={INFO_CPU_SECONDS}"))
        .args(["qemu-img", "info", "-f", format, "--output=json"])
        .arg(path)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .map_err(|_| failed("qemu-img info did not answer"))?
        .map_err(|e| DataError::Internal(format!("cannot run qemu-img: {e}")))?;
    if !out.status.success() {
        return Err(failed(qemu_said(&out.stderr, &[(path, "the image")])));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| failed(format!("qemu-img info: {e}")))
}

/// What qemu-img printed, with the server's work file paths named for what they are (a task's
/// message is shown to the image's owner).
fn qemu_said(stderr: &[u8], files: &[(&Path, &str)]) -> String {
    let mut text = String::from_utf8_lossy(stderr).trim().to_string();
    for (path, name) in files {
        text = text.replace(path.to_string_lossy().as_ref(), name);
    }
    text
}

async fn inspect_file(path: &Path) -> Result<inspect::Verdict, DataError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| DataError::Internal(format!("conversion output: {e}")))?;
    let mut inspector = Inspector::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| DataError::Internal(format!("conversion output: {e}")))?;
        if n == 0 {
            break;
        }
        inspector.feed(&buf[..n]);
    }
    Ok(inspector.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversion(output: OutputFormat) -> Conversion {
        Conversion {
            output,
            work_dir: PathBuf::from("/nonexistent"),
            timeout: Duration::from_secs(1),
            memory: 1 << 30,
        }
    }

    #[test]
    fn qemu_img_messages_do_not_show_work_paths() {
        let said = qemu_said(
            b"qemu-img: Could not open '/srv/glint/convert/x.1.qcow2': Invalid\n",
            &[(Path::new("/srv/glint/convert/x.1.qcow2"), "the image")],
        );
        assert_eq!(said, "qemu-img: Could not open 'the image': Invalid");
    }

    #[test]
    fn what_is_converted() {
        let raw = conversion(OutputFormat::Raw);
        assert!(raw.applies_to(Some("qcow2")));
        assert!(raw.applies_to(Some("vmdk")));
        assert!(!raw.applies_to(Some("raw")), "already raw");
        assert!(!raw.applies_to(Some("iso")), "an ISO stays an ISO");
        assert!(!raw.applies_to(None));
        assert!(conversion(OutputFormat::Qcow2).applies_to(Some("raw")));
        assert_eq!(OutputFormat::parse("vmdk"), Some(OutputFormat::Vmdk));
        assert_eq!(OutputFormat::parse("vhd"), None);
    }
}
