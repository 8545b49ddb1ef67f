//! What a top-level name on an image means: a writable core attribute, a read-only one, a
//! reserved one, or a custom property.

use serde::{Deserialize, Serialize};

/// A core attribute a request may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attr {
    Name,
    Visibility,
    Protected,
    OsHidden,
    Owner,
    DiskFormat,
    ContainerFormat,
    MinRam,
    MinDisk,
    Tags,
    Locations,
    /// Settable only through v1, and only before data arrives.
    Size,
    /// Settable only through v1, and only before data arrives.
    Checksum,
    /// Settable only through v1.
    VirtualSize,
}

impl Attr {
    pub fn as_str(self) -> &'static str {
        match self {
            Attr::Name => "name",
            Attr::Visibility => "visibility",
            Attr::Protected => "protected",
            Attr::OsHidden => "os_hidden",
            Attr::Owner => "owner",
            Attr::DiskFormat => "disk_format",
            Attr::ContainerFormat => "container_format",
            Attr::MinRam => "min_ram",
            Attr::MinDisk => "min_disk",
            Attr::Tags => "tags",
            Attr::Locations => "locations",
            Attr::Size => "size",
            Attr::Checksum => "checksum",
            Attr::VirtualSize => "virtual_size",
        }
    }
}

/// How a name is treated when a request names it at the top level of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClass {
    /// A core attribute that v2 requests may set (but never remove).
    Writable(Attr),
    /// Shown by the API, set only by the server (`status`, `checksum`, `size`, ...).
    ReadOnly,
    /// Never settable by a client: `location`, `deleted`, `deleted_at` and every `os_glance*` key.
    Reserved,
    /// A custom property.
    Custom,
}

/// Names the server alone writes (Glance's read-only attributes plus the link attributes).
pub const READ_ONLY: [&str; 14] = [
    "id",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "created_at",
    "updated_at",
    "direct_url",
    "self",
    "file",
    "schema",
    "os_hash_algo",
    "os_hash_value",
    "stores",
];

/// Names no client may set.
pub const RESERVED: [&str; 3] = ["location", "deleted", "deleted_at"];

/// The prefix of keys reserved for the server's own bookkeeping.
pub const RESERVED_PREFIX: &str = "os_glance";

/// Whether a custom-property key is reserved for the server (`os_glance*`).
pub fn is_reserved_prefix(key: &str) -> bool {
    key.starts_with(RESERVED_PREFIX)
}

/// Classifies a top-level name as a v2 request sees it.
pub fn classify(name: &str) -> KeyClass {
    let writable = match name {
        "name" => Some(Attr::Name),
        "visibility" => Some(Attr::Visibility),
        "protected" => Some(Attr::Protected),
        "os_hidden" => Some(Attr::OsHidden),
        "owner" => Some(Attr::Owner),
        "disk_format" => Some(Attr::DiskFormat),
        "container_format" => Some(Attr::ContainerFormat),
        "min_ram" => Some(Attr::MinRam),
        "min_disk" => Some(Attr::MinDisk),
        "tags" => Some(Attr::Tags),
        "locations" => Some(Attr::Locations),
        _ => None,
    };
    if let Some(attr) = writable {
        KeyClass::Writable(attr)
    } else if READ_ONLY.contains(&name) {
        KeyClass::ReadOnly
    } else if RESERVED.contains(&name) || is_reserved_prefix(name) {
        KeyClass::Reserved
    } else {
        KeyClass::Custom
    }
}
