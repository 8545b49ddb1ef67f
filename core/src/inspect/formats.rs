//! The formats: how each is recognised, sized and judged.

use super::{Capture, Finding, Format, Rule, Verdict};

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).map(|s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_be_bytes(a)
    })
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).map(|s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

fn starts(b: &[u8], at: usize, magic: &[u8]) -> bool {
    b.get(at..at + magic.len()) == Some(magic)
}

/// A GUID as its on-disk bytes (first three fields little-endian).
const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

const VHDX_METADATA_REGION: [u8; 16] = guid(
    0x8B7C_A206,
    0x4790,
    0x4B9A,
    [0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E],
);
const VHDX_VIRTUAL_DISK_SIZE: [u8; 16] = guid(
    0x2FA5_4224,
    0xCD1B,
    0x4876,
    [0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8],
);
const VHDX_PARENT_LOCATOR: [u8; 16] = guid(
    0xA8D3_5F2D,
    0xB30B,
    0x454D,
    [0xAB, 0xF0, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C],
);

const VHDX_REGION_TABLE: u64 = 192 * 1024;
const ISO_DESCRIPTORS: usize = 32 * 1024;

const QCOW2_MAGIC: &[u8] = b"QFI\xfb";
const VMDK_MAGIC: &[u8] = b"KDMV";
const VDI_SIGNATURE: u32 = 0xbeda_107f;

/// Regions beyond the head a format needs, known from the head.
pub(crate) fn wanted(head: &[u8]) -> Vec<(u64, usize)> {
    if starts(head, 0, b"vhdxfile") {
        return vec![(VHDX_REGION_TABLE, 64 * 1024)];
    }
    Vec::new()
}

/// Regions a completed capture points to.
pub(crate) fn wanted_after(head: &[u8], c: &Capture) -> Vec<(u64, usize)> {
    if !starts(head, 0, b"vhdxfile") {
        return Vec::new();
    }
    if c.offset == VHDX_REGION_TABLE {
        // The metadata table (the items it points to come later).
        if let Some((offset, len)) = vhdx_metadata_region(&c.data) {
            return vec![(offset, len.min(64 * 1024))];
        }
    } else if starts(&c.data, 0, b"metadata")
        && let Some(item) = vhdx_item(&c.data, &VHDX_VIRTUAL_DISK_SIZE)
    {
        return vec![(c.offset + item, 8)];
    }
    Vec::new()
}

/// The offset, within the metadata region, of an item of the VHDX metadata table.
fn vhdx_item(table: &[u8], id: &[u8; 16]) -> Option<u64> {
    let count = le16(table, 10)? as usize;
    (0..count.min(2047)).find_map(|i| {
        let at = 32 + i * 32;
        (table.get(at..at + 16)? == id).then(|| le32(table, at + 16).map(u64::from))?
    })
}

fn vhdx_metadata_region(table: &[u8]) -> Option<(u64, usize)> {
    if !starts(table, 0, b"regi") {
        return None;
    }
    let count = le32(table, 8)? as usize;
    for i in 0..count.min(2047) {
        let at = 16 + i * 32;
        if table.get(at..at + 16)? == VHDX_METADATA_REGION {
            let offset = le64(table, at + 16)?;
            let len = le32(table, at + 24)? as usize;
            return Some((offset, len));
        }
    }
    None
}

/// What one format's inspection found.
struct Detection {
    format: Format,
    virtual_size: Option<u64>,
    findings: Vec<Finding>,
}

impl Detection {
    fn new(format: Format, virtual_size: Option<u64>) -> Detection {
        Detection {
            format,
            virtual_size,
            findings: Vec::new(),
        }
    }

    fn refuse(&mut self, rule: Rule, message: impl Into<String>) {
        self.findings.push(Finding {
            rule,
            message: message.into(),
        });
    }
}

pub(crate) fn judge(head: &[u8], tail: &[u8], total: u64, captures: &[Capture]) -> Verdict {
    let mut found: Vec<Detection> = Vec::new();
    if starts(head, 0, QCOW2_MAGIC) {
        found.push(qcow2(head, total));
    }
    if starts(head, 0, VMDK_MAGIC) {
        found.push(vmdk_sparse(head, tail, total));
    } else if starts(head, 0, b"# Disk DescriptorFile") {
        let mut d = Detection::new(Format::Vmdk, None);
        d.refuse(
            Rule::ExternalExtent,
            "a VMDK descriptor file keeps its data in other files",
        );
        found.push(d);
    }
    if let Some(d) = vhd(head, tail, total) {
        found.push(d);
    }
    if starts(head, 0, b"vhdxfile") {
        found.push(vhdx(captures, total));
    }
    if le32(head, 64) == Some(VDI_SIGNATURE) {
        found.push(vdi(head, total));
    }
    if starts(head, 0, b"QED\0") {
        let mut d = Detection::new(Format::Qed, le64(head, 48));
        d.refuse(
            Rule::UnsafeFormat,
            "QED is a retired format that no hypervisor here should open",
        );
        found.push(d);
    }
    if starts(head, 0, b"LUKS\xba\xbe") {
        found.push(Detection::new(Format::Luks, None));
    }
    if let Some(d) = iso(head, total) {
        found.push(d);
    }
    if let Some(d) = gpt(head, total) {
        found.push(d);
    }

    // A hybrid ISO carries a partition table for USB sticks: a known, safe pairing.
    let formats: Vec<Format> = found.iter().map(|d| d.format).collect();
    let hybrid =
        formats.len() == 2 && formats.contains(&Format::Iso) && formats.contains(&Format::Gpt);
    let mut verdict = match found.len() {
        0 => Verdict {
            format: Format::Raw,
            virtual_size: Some(total),
            size: total,
            findings: Vec::new(),
        },
        1 => {
            let d = found.remove(0);
            Verdict {
                format: d.format,
                virtual_size: d.virtual_size,
                size: total,
                findings: d.findings,
            }
        }
        _ if hybrid => {
            let iso_at = found
                .iter()
                .position(|d| d.format == Format::Iso)
                .unwrap_or(0);
            let d = found.remove(iso_at);
            Verdict {
                format: d.format,
                virtual_size: d.virtual_size,
                size: total,
                findings: d.findings,
            }
        }
        _ => {
            let names: Vec<&str> = formats.iter().map(|f| f.as_str()).collect();
            let d = found.remove(0);
            let mut findings = d.findings;
            findings.insert(
                0,
                Finding {
                    rule: Rule::MultipleFormats,
                    message: format!(
                        "the content carries headers of several formats ({}), so different tools would read it differently",
                        names.join(", ")
                    ),
                },
            );
            Verdict {
                format: d.format,
                virtual_size: d.virtual_size,
                size: total,
                findings,
            }
        }
    };
    if let Some(v) = verdict.virtual_size
        && v > (1 << 62)
    {
        verdict.findings.push(Finding {
            rule: Rule::Malformed,
            message: format!("the declared virtual size ({v} bytes) is not plausible"),
        });
    }
    verdict
}

fn qcow2(h: &[u8], total: u64) -> Detection {
    let size = be64(h, 24);
    let mut d = Detection::new(Format::Qcow2, size);
    let (Some(version), Some(backing), Some(cluster_bits), Some(crypt)) =
        (be32(h, 4), be64(h, 8), be32(h, 20), be32(h, 32))
    else {
        d.refuse(Rule::Malformed, "the qcow2 header is truncated");
        return d;
    };
    if !(2..=3).contains(&version) {
        d.refuse(
            Rule::Malformed,
            format!("qcow2 version {version} is not 2 or 3"),
        );
        return d;
    }
    if !(9..=21).contains(&cluster_bits) {
        d.refuse(
            Rule::Malformed,
            format!("qcow2 cluster_bits {cluster_bits} is outside 9 to 21"),
        );
        return d;
    }
    let cluster = 1u64 << cluster_bits;
    if backing != 0 {
        d.refuse(
            Rule::BackingFile,
            "the qcow2 image names a backing file, which would expose another file to the guest",
        );
    }
    if crypt > 2 {
        d.refuse(
            Rule::Malformed,
            format!("unknown qcow2 encryption method {crypt}"),
        );
    }
    for (name, at) in [("L1 table", 40), ("refcount table", 48)] {
        match be64(h, at) {
            Some(o) if o % cluster == 0 && (o == 0 || total == 0 || o < total.max(cluster)) => {}
            Some(o) if o % cluster != 0 => d.refuse(
                Rule::Malformed,
                format!("the qcow2 {name} offset {o} is not aligned to a cluster"),
            ),
            Some(o) => d.refuse(
                Rule::Malformed,
                format!("the qcow2 {name} offset {o} lies beyond the end of the image"),
            ),
            None => d.refuse(Rule::Malformed, "the qcow2 header is truncated"),
        }
    }
    let mut extensions_at = 72usize;
    if version == 3 {
        let (Some(incompatible), Some(header_length)) = (be64(h, 72), be32(h, 100)) else {
            d.refuse(Rule::Malformed, "the qcow2 v3 header is truncated");
            return d;
        };
        if incompatible & (1 << 2) != 0 {
            d.refuse(
                Rule::ExternalDataFile,
                "the qcow2 image keeps its data in an external data file",
            );
        }
        if incompatible & (1 << 1) != 0 {
            d.refuse(Rule::Malformed, "the qcow2 image is marked corrupt");
        }
        let unknown = incompatible & !0b1_1111;
        if unknown != 0 {
            d.refuse(
                Rule::Malformed,
                format!("the qcow2 image needs unknown incompatible features ({unknown:#x})"),
            );
        }
        if header_length < 104 || header_length as u64 > cluster {
            d.refuse(
                Rule::Malformed,
                format!("the qcow2 header length {header_length} is out of range"),
            );
            return d;
        }
        extensions_at = header_length as usize;
    }
    // Header extensions: a list of (type, length, data padded to 8), ended by type 0.
    let mut at = extensions_at;
    for _ in 0..64 {
        let (Some(kind), Some(len)) = (be32(h, at), be32(h, at + 4)) else {
            break;
        };
        if kind == 0 {
            break;
        }
        if kind == 0x4441_5441 {
            d.refuse(
                Rule::ExternalDataFile,
                "the qcow2 image names an external data file",
            );
        }
        // In u64: a length near u32::MAX rounded up would overflow a 32-bit usize (wasm).
        let padded = u64::from(len).div_ceil(8) * 8;
        let next = (at as u64).saturating_add(8).saturating_add(padded);
        if next > cluster {
            d.refuse(
                Rule::Malformed,
                "the qcow2 header extensions run past the first cluster",
            );
            break;
        }
        // Within the first cluster (at most 2 MiB), so it fits any usize.
        at = next as usize;
    }
    d
}

fn vmdk_header(b: &[u8], at: usize) -> Option<(u64, u64, u64, u64)> {
    Some((
        le64(b, at + 12)?,
        le64(b, at + 28)?,
        le64(b, at + 36)?,
        le64(b, at + 56)?,
    ))
}

const MARKER_EOS: u32 = 0;
const MARKER_FOOTER: u32 = 3;

/// A stream-optimized VMDK metadata marker at `at`: its value (when `value` names one), a
/// zero size, the type, and 496 zero bytes.
fn vmdk_marker(b: &[u8], at: usize, value: Option<u64>, kind: u32) -> bool {
    value.is_none_or(|v| le64(b, at) == Some(v))
        && le32(b, at + 8) == Some(0)
        && le32(b, at + 12) == Some(kind)
        && b.get(at + 16..at + 512)
            .is_some_and(|pad| pad.iter().all(|&x| x == 0))
}

fn vmdk_sparse(h: &[u8], tail: &[u8], total: u64) -> Detection {
    let mut d = Detection::new(Format::Vmdk, None);
    let Some((mut capacity, desc_sector, desc_sectors, gd_offset)) = vmdk_header(h, 0) else {
        d.refuse(Rule::Malformed, "the VMDK header is truncated");
        return d;
    };
    // Stream-optimized images may keep the real header in a footer, 1 KiB before the end: a
    // footer marker, the footer (the header again, with the grain directory's place), and the
    // end-of-stream marker. A footer that disagrees with the header, or points to yet another
    // footer, would be read differently by different tools.
    if gd_offset == u64::MAX && tail.len() >= 1536 {
        let footer = tail.len() - 1024;
        match vmdk_header(tail, footer) {
            Some((c, f_desc_sector, f_desc_sectors, f_gd_offset))
                if starts(tail, footer, VMDK_MAGIC) =>
            {
                capacity = c;
                if le32(tail, footer + 4) != le32(h, 4) {
                    d.refuse(
                        Rule::Malformed,
                        "the VMDK footer's version differs from the header's",
                    );
                }
                if (f_desc_sector, f_desc_sectors) != (desc_sector, desc_sectors) {
                    d.refuse(
                        Rule::Malformed,
                        "the VMDK footer names another descriptor than the header",
                    );
                }
                if f_gd_offset == u64::MAX {
                    d.refuse(Rule::Malformed, "the VMDK footer points to another footer");
                }
                if !vmdk_marker(tail, footer - 512, None, MARKER_FOOTER) {
                    d.refuse(Rule::Malformed, "the VMDK footer marker is invalid");
                }
                if !vmdk_marker(tail, footer + 512, Some(0), MARKER_EOS) {
                    d.refuse(Rule::Malformed, "the VMDK end-of-stream marker is invalid");
                }
            }
            _ => d.refuse(
                Rule::Malformed,
                "the VMDK header says its footer holds the grain directory, and there is none",
            ),
        }
    }
    d.virtual_size = capacity.checked_mul(512);
    if d.virtual_size.is_none() {
        d.refuse(Rule::Malformed, "the VMDK capacity overflows");
    }
    if desc_sector == 0 || desc_sectors == 0 {
        d.refuse(Rule::Malformed, "the VMDK has no embedded descriptor");
        return d;
    }
    if desc_sector != 1 {
        d.refuse(
            Rule::Malformed,
            "the VMDK descriptor is not where its header must put it (sector 1)",
        );
        return d;
    }
    let start = desc_sector.saturating_mul(512);
    let len = desc_sectors.saturating_mul(512);
    if start.saturating_add(len) > total {
        d.refuse(
            Rule::Malformed,
            "the VMDK descriptor lies beyond the end of the image",
        );
        return d;
    }
    let (Ok(start), Ok(len)) = (usize::try_from(start), usize::try_from(len)) else {
        d.refuse(
            Rule::Malformed,
            "the VMDK descriptor offset is out of range",
        );
        return d;
    };
    let Some(raw) = h
        .get(start..(start + len).min(h.len()))
        .filter(|r| !r.is_empty())
    else {
        d.refuse(
            Rule::Malformed,
            "the VMDK descriptor is not in the first 64 KiB",
        );
        return d;
    };
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_end_matches('\0');
    let mut create_type = None;
    let mut extents = Vec::new();
    // Each line must be one a descriptor has: blank, a comment, a disk database entry, a
    // `key=value` header field or an extent. Anything else is refused, not skipped.
    for line in text.lines().map(str::trim) {
        let lower = line.to_ascii_lowercase();
        let first = lower.split(' ').next().unwrap_or_default();
        if line.is_empty() || line.starts_with('#') || lower.starts_with("ddb") {
            continue;
        }
        if matches!(first, "rw" | "rdonly" | "noaccess") {
            extents.push(line.to_string());
        } else if let Some((key, value)) = line.split_once('=')
            && !key.contains(' ')
        {
            if key.eq_ignore_ascii_case("createType") {
                create_type = Some(value.trim().trim_matches('"').to_string());
            }
        } else {
            d.refuse(
                Rule::Malformed,
                "the VMDK descriptor has a line no descriptor has",
            );
        }
    }
    match create_type.as_deref() {
        Some("monolithicSparse" | "streamOptimized") => {}
        Some(other) => d.refuse(
            Rule::ExternalExtent,
            format!("VMDK create type {other} is not allowed (only monolithicSparse and streamOptimized)"),
        ),
        None => d.refuse(Rule::Malformed, "the VMDK descriptor has no createType"),
    }
    if extents.len() != 1 {
        d.refuse(
            Rule::ExternalExtent,
            format!(
                "the VMDK descriptor lists {} extents; exactly one, inside the file, is allowed",
                extents.len()
            ),
        );
    }
    for e in &extents {
        let kind = e.split_whitespace().nth(2).unwrap_or_default();
        if kind != "SPARSE" {
            d.refuse(
                Rule::ExternalExtent,
                format!("the VMDK extent '{e}' is of type {kind}, not SPARSE: it would read another file"),
            );
        }
        match extent_file(e) {
            Some(name) if names_the_image_itself(name) => {}
            _ => d.refuse(
                Rule::ExternalExtent,
                format!("the VMDK extent '{e}' names a file elsewhere: a reader would open it"),
            ),
        }
    }
    d
}

/// The file name of a VMDK extent line (`RW 2048 SPARSE "disk.vmdk"`), between its quotes.
fn extent_file(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once('"')?;
    let (name, _) = rest.split_once('"')?;
    Some(name)
}

/// Whether an embedded descriptor's extent can only be the image file itself: a bare file
/// name, as tools write it (a path, or `.`/`..`, reaches other files).
fn names_the_image_itself(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\', '\0']) && name != "." && name != ".."
}

fn vhd_footer(b: &[u8], at: usize) -> Option<(u64, u32)> {
    if !starts(b, at, b"conectix") {
        return None;
    }
    Some((be64(b, at + 48)?, be32(b, at + 60)?))
}

fn vhd(h: &[u8], tail: &[u8], total: u64) -> Option<Detection> {
    let footer = if tail.len() >= 512 {
        vhd_footer(tail, tail.len() - 512)
    } else {
        None
    };
    // Dynamic and differencing VHDs keep a copy of the footer at the start; fixed ones only at
    // the end. (Some writers leave one byte short of a sector: look one byte earlier too.)
    let footer = footer.or_else(|| vhd_footer(h, 0)).or_else(|| {
        (tail.len() >= 511)
            .then(|| vhd_footer(tail, tail.len() - 511))
            .flatten()
    })?;
    let (size, disk_type) = footer;
    let mut d = Detection::new(Format::Vhd, Some(size));
    match disk_type {
        2 | 3 => {}
        4 => d.refuse(
            Rule::BackingFile,
            "the VHD is a differencing disk whose data lives partly in a parent image",
        ),
        other => d.refuse(Rule::Malformed, format!("unknown VHD disk type {other}")),
    }
    if disk_type == 2 && size > total {
        d.refuse(
            Rule::Malformed,
            format!("the fixed VHD says it holds {size} bytes but the file has {total}"),
        );
    }
    Some(d)
}

fn vhdx(captures: &[Capture], total: u64) -> Detection {
    let mut d = Detection::new(Format::Vhdx, None);
    let table = captures.iter().find(|c| c.offset == VHDX_REGION_TABLE);
    let Some((meta_offset, _)) = table.and_then(|t| vhdx_metadata_region(&t.data)) else {
        d.refuse(
            Rule::Malformed,
            "the VHDX region table is missing or malformed",
        );
        return d;
    };
    if meta_offset >= total {
        d.refuse(
            Rule::Malformed,
            "the VHDX metadata region lies beyond the end of the image",
        );
        return d;
    }
    let Some(meta) = captures
        .iter()
        .find(|c| c.offset == meta_offset && c.complete())
    else {
        d.refuse(
            Rule::Malformed,
            "the VHDX metadata region could not be read",
        );
        return d;
    };
    let m = &meta.data;
    if !starts(m, 0, b"metadata") {
        d.refuse(Rule::Malformed, "the VHDX metadata table has no signature");
        return d;
    }
    if vhdx_item(m, &VHDX_PARENT_LOCATOR).is_some() {
        d.refuse(
            Rule::BackingFile,
            "the VHDX is a differencing disk whose data lives partly in a parent image",
        );
    }
    if let Some(item) = vhdx_item(m, &VHDX_VIRTUAL_DISK_SIZE) {
        d.virtual_size = captures
            .iter()
            .find(|c| c.offset == meta_offset + item && c.complete())
            .and_then(|c| le64(&c.data, 0));
    }
    if d.virtual_size.is_none() {
        d.refuse(
            Rule::Malformed,
            "the VHDX metadata has no virtual disk size",
        );
    }
    d
}

fn vdi(h: &[u8], _total: u64) -> Detection {
    let mut d = Detection::new(Format::Vdi, le64(h, 368));
    match le32(h, 76) {
        Some(1 | 2) => {}
        Some(4) => d.refuse(
            Rule::BackingFile,
            "the VDI is a differencing image whose data lives partly in a parent image",
        ),
        Some(other) => d.refuse(Rule::Malformed, format!("unknown VDI image type {other}")),
        None => d.refuse(Rule::Malformed, "the VDI header is truncated"),
    }
    d
}

fn iso(h: &[u8], total: u64) -> Option<Detection> {
    let mut primary = None;
    let mut udf = false;
    for i in 0..16 {
        let at = ISO_DESCRIPTORS + i * 2048;
        let Some(id) = h.get(at + 1..at + 6) else {
            break;
        };
        match id {
            b"CD001" if h.get(at) == Some(&1) && primary.is_none() => {
                let blocks = le32(h, at + 80).map(u64::from);
                let block = le16(h, at + 128).map(u64::from);
                primary = Some(blocks.zip(block).map(|(n, b)| n * b));
            }
            b"BEA01" | b"NSR02" | b"NSR03" | b"TEA01" => udf = true,
            _ => {}
        }
    }
    match (primary, udf) {
        (Some(size), _) => Some(Detection::new(Format::Iso, size)),
        (None, true) => Some(Detection::new(Format::Iso, Some(total))),
        (None, false) => None,
    }
}

fn gpt(h: &[u8], total: u64) -> Option<Detection> {
    let mbr = starts(h, 510, &[0x55, 0xAA]);
    let protective = mbr && (0..4).any(|i| h.get(446 + i * 16 + 4) == Some(&0xEE));
    if protective && starts(h, 512, b"EFI PART") {
        let mut d = Detection::new(Format::Gpt, Some(total));
        check_protective_mbr(h, &mut d);
        return Some(d);
    }
    None
}

/// The protective MBR in front of a GPT: one partition of type 0xEE, first in the table,
/// starting at CHS 0/2/0 and LBA 1, and boot flags of 0 or 0x80. Anything else is a table
/// that tools would read differently (Glance refuses it too).
fn check_protective_mbr(h: &[u8], d: &mut Detection) {
    let mut used = Vec::new();
    for i in 0..4 {
        let at = 446 + i * 16;
        let Some(entry) = h.get(at..at + 16) else {
            d.refuse(Rule::Malformed, "the MBR is truncated");
            return;
        };
        if !matches!(entry[0], 0x00 | 0x80) {
            d.refuse(
                Rule::Malformed,
                format!("MBR partition {i} has an invalid boot flag"),
            );
        }
        if entry[4] != 0 {
            used.push(i);
        }
        if entry[4] == 0xEE {
            if entry[1..4] != [0x00, 0x02, 0x00] {
                d.refuse(
                    Rule::Malformed,
                    "the GPT's protective MBR has an invalid start CHS",
                );
            }
            if le32(entry, 8) != Some(1) {
                d.refuse(
                    Rule::Malformed,
                    "the GPT's protective MBR has an invalid start LBA",
                );
            }
        }
    }
    if used != [0] {
        d.refuse(
            Rule::Malformed,
            "the GPT's protective MBR defines partitions besides the protective one",
        );
    }
}
