//! What an image really is: a streaming, pure inspector of disk image content.
//!
//! Fed the bytes in order ([`Inspector::feed`]), it keeps a bounded amount of them (the head, the
//! tail and a few regions some formats point into) and at the end ([`Inspector::finish`]) says
//! which format the content is in, its virtual size where the format defines one, and every
//! reason to refuse it. It never seeks back and never allocates in proportion to the image.

mod formats;

use serde::{Deserialize, Serialize};

/// How many bytes of the start are kept: enough for every header and ISO descriptors.
pub const HEAD: usize = 64 * 1024;
/// How many bytes of the end are kept: a VHD footer, a stream-optimized VMDK footer.
pub const TAIL: usize = 1536;
/// The most a format may ask to capture further in (VHDX region and metadata tables).
const MAX_CAPTURE: usize = 64 * 1024;

/// A format the inspector recognises, named as Glance's `disk_format` values name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Raw,
    Qcow2,
    Vmdk,
    Vhd,
    Vhdx,
    Vdi,
    Iso,
    Gpt,
    Qed,
    Luks,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Vmdk => "vmdk",
            Format::Vhd => "vhd",
            Format::Vhdx => "vhdx",
            Format::Vdi => "vdi",
            Format::Iso => "iso",
            Format::Gpt => "gpt",
            Format::Qed => "qed",
            Format::Luks => "luks",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an image is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The image refers to a backing (parent) image elsewhere.
    BackingFile,
    /// The image keeps its data in another file.
    ExternalDataFile,
    /// A VMDK descriptor names extents outside the file, or a kind not allowed.
    ExternalExtent,
    /// The format is one no hypervisor here should open.
    UnsafeFormat,
    /// The content carries headers of more than one format.
    MultipleFormats,
    /// A header is malformed or inconsistent (sizes, offsets, tables out of range).
    Malformed,
}

/// One reason to refuse an image, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: Rule,
    pub message: String,
}

/// What the inspector concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The detected format.
    pub format: Format,
    /// The size of the disk the image describes, in bytes, where known.
    pub virtual_size: Option<u64>,
    /// The number of bytes inspected.
    pub size: u64,
    /// Reasons to refuse the image; empty when it is safe.
    pub findings: Vec<Finding>,
}

impl Verdict {
    pub fn is_safe(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Why an upload is refused: its content is unsafe, or does not match its `disk_format`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
    /// The safety rule broken, or `None` for a format mismatch.
    pub rule: Option<Rule>,
}

/// Disk formats whose content Glint does not inspect: kernel and ramdisk images of AMI-style
/// bundles are raw data, whatever they declare.
pub const NOT_INSPECTED: [&str; 4] = ["ami", "aki", "ari", "ploop"];

/// Decides whether content may be stored under `disk_format`. The safety findings always count;
/// `require_match` (Glance's `require_image_format_match`) decides whether a mismatch between
/// the declared and the detected format counts too.
pub fn check(verdict: &Verdict, disk_format: &str, require_match: bool) -> Result<(), Refusal> {
    if let Some(f) = verdict.findings.first() {
        return Err(Refusal {
            message: format!(
                "Image content is {} and is refused: {}",
                verdict.format, f.message
            ),
            rule: Some(f.rule),
        });
    }
    if !require_match || NOT_INSPECTED.contains(&disk_format) {
        return Ok(());
    }
    let detected = verdict.format.as_str();
    // A GPT disk is also a valid raw disk.
    let matches =
        detected == disk_format || (disk_format == "raw" && verdict.format == Format::Gpt);
    if matches {
        Ok(())
    } else {
        Err(Refusal {
            message: format!(
                "Image disk_format {disk_format} does not match stream data {detected}"
            ),
            rule: None,
        })
    }
}

/// A range a format asked to see, filled as the bytes pass by.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    pub(crate) offset: u64,
    pub(crate) data: Vec<u8>,
    pub(crate) len: usize,
}

impl Capture {
    pub(crate) fn complete(&self) -> bool {
        self.data.len() == self.len
    }
}

/// The streaming inspector.
#[derive(Debug, Clone, Default)]
pub struct Inspector {
    head: Vec<u8>,
    tail: Vec<u8>,
    total: u64,
    captures: Vec<Capture>,
    /// Whether the head has been examined for further captures.
    planned: bool,
}

impl Inspector {
    pub fn new() -> Inspector {
        Inspector::default()
    }

    /// Bytes seen so far.
    pub fn seen(&self) -> u64 {
        self.total
    }

    /// Feeds the next bytes of the image.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        let start = self.total;
        self.total += chunk.len() as u64;
        // Head.
        if self.head.len() < HEAD {
            let take = (HEAD - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        // Captures.
        for c in &mut self.captures {
            fill(c, start, chunk);
        }
        if !self.planned && self.head.len() >= HEAD {
            self.planned = true;
            for (offset, len) in formats::wanted(&self.head) {
                let mut c = Capture {
                    offset,
                    data: Vec::new(),
                    len: len.min(MAX_CAPTURE),
                };
                fill(&mut c, start, chunk);
                self.captures.push(c);
            }
        }
        // Captures asked for by other captures (VHDX: the region table points to the metadata
        // table, which points to the items), possibly all within this chunk.
        for _ in 0..4 {
            let mut more = Vec::new();
            for c in &self.captures {
                if c.complete() {
                    more.extend(formats::wanted_after(&self.head, c));
                }
            }
            more.retain(|(offset, _)| !self.captures.iter().any(|c| c.offset == *offset));
            if more.is_empty() {
                break;
            }
            for (offset, len) in more {
                let mut c = Capture {
                    offset,
                    data: Vec::new(),
                    len: len.min(MAX_CAPTURE),
                };
                fill(&mut c, start, chunk);
                self.captures.push(c);
            }
        }
        // Tail.
        if chunk.len() >= TAIL {
            chunk = &chunk[chunk.len() - TAIL..];
            self.tail.clear();
        }
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > TAIL {
            let excess = self.tail.len() - TAIL;
            self.tail.drain(..excess);
        }
    }

    /// For a reader that can seek (a browser's `File.slice`): the next range `(offset, length)`
    /// of an image of `size` bytes the inspector needs, or `None` once it has all it uses: the
    /// head, the regions its headers point to, then the last [`TAIL`] bytes. Read the range,
    /// then [`skip_to`](Inspector::skip_to) its offset and [`feed`](Inspector::feed) it. The
    /// verdict is the one streaming every byte gives.
    pub fn next_read(&self, size: u64) -> Option<(u64, u64)> {
        let wanted = if self.head.len() < HEAD {
            Some((self.total, (HEAD - self.head.len()) as u64))
        } else {
            self.captures
                .iter()
                .filter(|c| !c.complete())
                .map(|c| {
                    (
                        c.offset + c.data.len() as u64,
                        (c.len - c.data.len()) as u64,
                    )
                })
                .filter(|(offset, _)| *offset >= self.total && *offset < size)
                .min()
        };
        if let Some((offset, len)) = wanted {
            let len = len.min(size - offset);
            if len > 0 {
                return Some((offset, len));
            }
        }
        if self.total < size {
            let start = size.saturating_sub(TAIL as u64).max(self.total);
            return Some((start, size - start));
        }
        None
    }

    /// Moves forward to `offset` without seeing the bytes in between (never back).
    pub fn skip_to(&mut self, offset: u64) {
        if offset > self.total {
            self.total = offset;
            self.tail.clear();
        }
    }

    /// The verdict on everything fed.
    pub fn finish(mut self) -> Verdict {
        if !self.planned {
            // A small image: plan on what there is; its captures (if any) lie beyond its end.
            for (offset, len) in formats::wanted(&self.head) {
                self.captures.push(Capture {
                    offset,
                    data: Vec::new(),
                    len,
                });
            }
        }
        formats::judge(&self.head, &self.tail, self.total, &self.captures)
    }

    /// Inspects a whole image in memory.
    pub fn inspect(bytes: &[u8]) -> Verdict {
        let mut i = Inspector::new();
        i.feed(bytes);
        i.finish()
    }
}

/// Copies into `c` the part of `chunk` (which starts at stream offset `start`) that it wants.
fn fill(c: &mut Capture, start: u64, chunk: &[u8]) {
    if c.complete() {
        return;
    }
    let want_from = c.offset + c.data.len() as u64;
    let end = start + chunk.len() as u64;
    if want_from < start || want_from >= end {
        return;
    }
    let from = usize::try_from(want_from - start).unwrap_or(usize::MAX);
    let take = (c.len - c.data.len()).min(chunk.len().saturating_sub(from));
    c.data.extend_from_slice(&chunk[from..from + take]);
}
