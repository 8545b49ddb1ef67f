//! The plan: what a request does to an image, computed before anything is written.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::image::{Image, Location, Visibility};
use crate::keys::Attr;

/// An old value and the value that replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change<T> {
    pub old: T,
    pub new: T,
}

/// Changes to core attributes. A field is present only when its value changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttrChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Change<Option<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Change<Visibility>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected: Option<Change<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_hidden: Option<Change<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Change<Option<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_format: Option<Change<Option<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_format: Option<Change<Option<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_ram: Option<Change<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_disk: Option<Change<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Change<Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locations: Option<Change<Vec<Location>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<Change<Option<u64>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Change<Option<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_size: Option<Change<Option<u64>>>,
}

/// Calls `$m!(field, Attr)` for every field of [`AttrChanges`].
macro_rules! for_each_attr {
    ($m:ident) => {
        $m!(name, Name);
        $m!(visibility, Visibility);
        $m!(protected, Protected);
        $m!(os_hidden, OsHidden);
        $m!(owner, Owner);
        $m!(disk_format, DiskFormat);
        $m!(container_format, ContainerFormat);
        $m!(min_ram, MinRam);
        $m!(min_disk, MinDisk);
        $m!(tags, Tags);
        $m!(locations, Locations);
        $m!(size, Size);
        $m!(checksum, Checksum);
        $m!(virtual_size, VirtualSize);
    };
}
pub(crate) use for_each_attr;

impl AttrChanges {
    /// The differences between two images' core attributes.
    pub fn between(before: &Image, after: &Image) -> AttrChanges {
        let mut changes = AttrChanges::default();
        macro_rules! diff {
            ($field:ident, $attr:ident) => {
                if before.$field != after.$field {
                    changes.$field = Some(Change {
                        old: before.$field.clone(),
                        new: after.$field.clone(),
                    });
                }
            };
        }
        for_each_attr!(diff);
        changes
    }

    pub fn is_empty(&self) -> bool {
        self.changed().is_empty()
    }

    /// The attributes that change, in a fixed order.
    pub fn changed(&self) -> Vec<Attr> {
        let mut out = Vec::new();
        macro_rules! collect {
            ($field:ident, $attr:ident) => {
                if self.$field.is_some() {
                    out.push(Attr::$attr);
                }
            };
        }
        for_each_attr!(collect);
        out
    }

    fn apply_to(&self, image: &mut Image) {
        macro_rules! set {
            ($field:ident, $attr:ident) => {
                if let Some(change) = &self.$field {
                    image.$field = change.new.clone();
                }
            };
        }
        for_each_attr!(set);
    }

    fn render(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        macro_rules! line {
            ($field:ident, $attr:ident) => {
                if let Some(change) = &self.$field {
                    writeln!(
                        out,
                        "* {}: {} -> {}",
                        stringify!($field),
                        json(&change.old),
                        json(&change.new)
                    )?;
                }
            };
        }
        for_each_attr!(line);
        Ok(())
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "?".into())
}

/// What kind of rule a request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// The server alone writes this attribute.
    ReadOnly,
    /// The name is reserved (`os_glance*`, `location`, `deleted`, `deleted_at`).
    Reserved,
    /// A core attribute cannot be removed.
    NotRemovable,
    /// `replace` or `remove` of a property the image does not have.
    NoSuchProperty,
    /// `add` of an existing property through the v2.0 patch media type.
    AlreadyPresent,
    /// A property key longer than the limit.
    KeyTooLong,
    /// A property value longer than the limit.
    ValueTooLong,
    /// A value of the wrong type or outside its allowed set.
    InvalidValue,
    /// The image would carry more properties, tags or locations than allowed.
    QuotaExceeded,
    /// A property protection rule forbids the caller this operation.
    Protected,
    /// The caller's role or project does not allow this change.
    Forbidden,
    /// The image's state does not allow this change.
    InvalidState,
    /// The image's state conflicts with the request (an upload to an image that is not queued).
    StatusConflict,
}

impl ViolationKind {
    /// The HTTP status Glance answers with for this kind of violation.
    pub fn status(self) -> u16 {
        match self {
            ViolationKind::ReadOnly
            | ViolationKind::Reserved
            | ViolationKind::NotRemovable
            | ViolationKind::Protected
            | ViolationKind::Forbidden
            | ViolationKind::InvalidState => 403,
            ViolationKind::NoSuchProperty
            | ViolationKind::AlreadyPresent
            | ViolationKind::StatusConflict => 409,
            ViolationKind::KeyTooLong
            | ViolationKind::ValueTooLong
            | ViolationKind::InvalidValue => 400,
            ViolationKind::QuotaExceeded => 413,
        }
    }
}

/// One rule a request broke. A plan with violations must not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The attribute or property key concerned.
    pub key: String,
    /// The HTTP status the API answers with.
    pub status: u16,
    /// A sentence for the user.
    pub message: String,
}

impl Violation {
    pub fn new(kind: ViolationKind, key: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            kind,
            key: key.into(),
            status: kind.status(),
            message: message.into(),
        }
    }
}

/// What a request does to an image's properties and attributes.
///
/// `added`, `changed`, `removed` and `kept` are disjoint and together cover every property the
/// caller may read, before and after. Properties the caller may not read are never listed and
/// always kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Plan {
    /// New keys and their values.
    pub added: BTreeMap<String, String>,
    /// Keys whose value changes.
    pub changed: BTreeMap<String, Change<String>>,
    /// Keys that go away, with the value they had.
    pub removed: BTreeMap<String, String>,
    /// Keys that stay as they are, with their value.
    pub kept: BTreeMap<String, String>,
    /// Core attribute changes.
    pub attributes: AttrChanges,
    /// Whether the request replaces the whole property set (v1 purge, "replace all").
    pub purge: bool,
    /// Rules the request breaks; empty when it may be applied.
    pub violations: Vec<Violation>,
}

impl Plan {
    /// Whether the plan may be applied.
    pub fn is_allowed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Whether applying the plan changes nothing.
    pub fn is_noop(&self) -> bool {
        self.added.is_empty()
            && self.changed.is_empty()
            && self.removed.is_empty()
            && self.attributes.is_empty()
    }

    /// The violation the API reports when it refuses the request: the first one with the
    /// most severe status, in the order Glance checks (403 before 409 before 413 before 400).
    pub fn first_violation(&self) -> Option<&Violation> {
        let rank = |v: &Violation| match v.status {
            403 => 0,
            409 => 1,
            413 => 2,
            _ => 3,
        };
        self.violations.iter().min_by_key(|v| rank(v))
    }

    /// Renders the plan as plain text, one line per entry, for tests and logs.
    pub fn render(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.purge {
            writeln!(f, "purge")?;
        }
        for (k, v) in &self.added {
            writeln!(f, "+ {k} = {}", json(v))?;
        }
        for (k, c) in &self.changed {
            writeln!(f, "~ {k}: {} -> {}", json(&c.old), json(&c.new))?;
        }
        for (k, v) in &self.removed {
            writeln!(f, "- {k} (was {})", json(v))?;
        }
        for (k, v) in &self.kept {
            writeln!(f, "= {k} = {}", json(v))?;
        }
        self.attributes.render(f)?;
        for v in &self.violations {
            writeln!(f, "! {} {:?} {}: {}", v.status, v.kind, v.key, v.message)?;
        }
        Ok(())
    }
}

/// Applies a plan's changes to an image and returns the result.
///
/// The result is the image with `removed` keys taken out, `added` and `changed` keys set to their
/// new values and the attribute changes made; nothing else changes. It does not look at
/// violations: callers refuse a plan that is not [`Plan::is_allowed`] before applying it.
pub fn apply(plan: &Plan, image: &Image) -> Image {
    let mut out = image.clone();
    for key in plan.removed.keys() {
        out.properties.remove(key);
    }
    for (key, value) in &plan.added {
        out.properties.insert(key.clone(), value.clone());
    }
    for (key, change) in &plan.changed {
        out.properties.insert(key.clone(), change.new.clone());
    }
    plan.attributes.apply_to(&mut out);
    out
}
