//! The image model: core attributes and custom properties.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An image's lifecycle state, as Glance names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Saving,
    Uploading,
    Importing,
    Active,
    Deactivated,
    Killed,
    Deleted,
    PendingDelete,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Queued,
        Status::Saving,
        Status::Uploading,
        Status::Importing,
        Status::Active,
        Status::Deactivated,
        Status::Killed,
        Status::Deleted,
        Status::PendingDelete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Saving => "saving",
            Status::Uploading => "uploading",
            Status::Importing => "importing",
            Status::Active => "active",
            Status::Deactivated => "deactivated",
            Status::Killed => "killed",
            Status::Deleted => "deleted",
            Status::PendingDelete => "pending_delete",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Transitions Glance's domain model allows (`Image.valid_state_targets`).
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Queued, Saving | Uploading | Importing | Active | Deleted)
                | (Saving, Active | Killed | Deleted | Queued)
                | (Uploading, Importing | Queued | Deleted)
                | (Importing, Active | Deleted | Queued)
                | (Active, PendingDelete | Deleted | Deactivated)
                | (Killed, Deleted)
                | (PendingDelete, Deleted | Active)
                | (Deactivated, Active | Deleted)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may see an image besides its owner. Always one of four values, never a boolean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Community,
    Shared,
    Private,
}

impl Visibility {
    pub const ALL: [Visibility; 4] = [
        Visibility::Public,
        Visibility::Community,
        Visibility::Shared,
        Visibility::Private,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Community => "community",
            Visibility::Shared => "shared",
            Visibility::Private => "private",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        Visibility::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One place an image's data lives (`locations` in the v2 API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub url: String,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// What a client says the data at `url` hashes to, when it adds the location
    /// (`checksum`, `os_hash_algo`, `os_hash_value`): checked, taken by the image, never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_data: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The hash algorithms a location's `validation_data` may name, with their hex digest lengths.
pub const HASH_ALGORITHMS: [(&str, usize); 5] = [
    ("md5", 32),
    ("sha224", 56),
    ("sha256", 64),
    ("sha384", 96),
    ("sha512", 128),
];

/// Checks a location's `validation_data`: only `checksum` (an md5, 32 hex digits),
/// `os_hash_algo` and `os_hash_value` (together, the value as long as the algorithm's digest).
pub fn check_validation_data(
    data: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), String> {
    let hex = |v: &str, len: usize| v.len() == len && v.bytes().all(|b| b.is_ascii_hexdigit());
    let text = |k: &str| -> Result<Option<&str>, String> {
        match data.get(k) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(format!("'{k}' must be a string, not {other}")),
        }
    };
    if let Some(k) = data
        .keys()
        .find(|k| !["checksum", "os_hash_algo", "os_hash_value"].contains(&k.as_str()))
    {
        return Err(format!("'{k}' is not part of validation data"));
    }
    if let Some(c) = text("checksum")?
        && !hex(c, 32)
    {
        return Err(format!("checksum '{c}' is not an md5 hex digest"));
    }
    match (text("os_hash_algo")?, text("os_hash_value")?) {
        (None, None) => Ok(()),
        (Some(algo), Some(value)) => {
            let len = HASH_ALGORITHMS
                .iter()
                .find(|(a, _)| *a == algo)
                .map(|(_, l)| *l)
                .ok_or_else(|| format!("os_hash_algo '{algo}' is not a supported algorithm"))?;
            match hex(value, len) {
                true => Ok(()),
                false => Err(format!(
                    "os_hash_value is not a {algo} hex digest ({len} hex digits)"
                )),
            }
        }
        _ => Err("os_hash_algo and os_hash_value go together".into()),
    }
}

/// An image: its core attributes and its custom properties.
///
/// Timestamps are RFC 3339 strings as the API shows them; core never reads a clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    pub status: Status,
    pub visibility: Visibility,
    pub protected: bool,
    pub os_hidden: bool,
    pub owner: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: u64,
    pub min_ram: u64,
    pub size: Option<u64>,
    pub virtual_size: Option<u64>,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub tags: Vec<String>,
    pub locations: Vec<Location>,
    pub created_at: String,
    pub updated_at: String,
    pub properties: BTreeMap<String, String>,
}

impl Image {
    /// A freshly registered image, as Glance creates one: queued, `shared`, no data.
    pub fn new(id: impl Into<String>, owner: Option<String>, now: impl Into<String>) -> Image {
        let now = now.into();
        Image {
            id: id.into(),
            name: None,
            status: Status::Queued,
            visibility: Visibility::Shared,
            protected: false,
            os_hidden: false,
            owner,
            disk_format: None,
            container_format: None,
            min_disk: 0,
            min_ram: 0,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            tags: Vec::new(),
            locations: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
            properties: BTreeMap::new(),
        }
    }

    /// Adds or sets one custom property (builder style, handy in tests and fixtures).
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Image {
        self.properties.insert(key.into(), value.into());
        self
    }
}

/// Whether `s` has the shape of a UUID as Glance's schema accepts it (hex groups 8-4-4-4-12).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}
