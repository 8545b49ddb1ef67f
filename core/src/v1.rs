//! The legacy v1 `PUT /v1/images/{id}`: `x-image-meta-*` headers, and purge resolved as Glance
//! resolves it since the fix for Launchpad bug 901534.

use std::collections::BTreeMap;

use crate::context::PlanContext;
use crate::error::RequestError;
use crate::image::{Image, Status, Visibility};
use crate::keys::Attr;
use crate::plan::{Plan, ViolationKind};
use crate::planner::Planner;

/// The prefix of every v1 metadata header.
pub const META_PREFIX: &str = "x-image-meta-";
/// The prefix of v1 custom-property headers.
pub const PROPERTY_PREFIX: &str = "x-image-meta-property-";
/// The header that asks for the property set to be replaced (purged) rather than merged.
pub const PURGE_HEADER: &str = "x-glance-registry-purge-props";

/// A core field a v1 request may name as `x-image-meta-<field>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum V1Field {
    Name,
    DiskFormat,
    ContainerFormat,
    Size,
    VirtualSize,
    Checksum,
    IsPublic,
    Protected,
    MinRam,
    MinDisk,
    Owner,
    Status,
    Id,
    Location,
    CopyFrom,
    Store,
    Uri,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
    Deleted,
}

impl V1Field {
    fn parse(name: &str) -> Option<V1Field> {
        Some(match name {
            "name" => V1Field::Name,
            "disk_format" => V1Field::DiskFormat,
            "container_format" => V1Field::ContainerFormat,
            "size" => V1Field::Size,
            "virtual_size" => V1Field::VirtualSize,
            "checksum" => V1Field::Checksum,
            "is_public" => V1Field::IsPublic,
            "protected" => V1Field::Protected,
            "min_ram" => V1Field::MinRam,
            "min_disk" => V1Field::MinDisk,
            "owner" => V1Field::Owner,
            "status" => V1Field::Status,
            "id" => V1Field::Id,
            "location" => V1Field::Location,
            "copy_from" => V1Field::CopyFrom,
            "store" => V1Field::Store,
            "uri" => V1Field::Uri,
            "created_at" => V1Field::CreatedAt,
            "updated_at" => V1Field::UpdatedAt,
            "deleted_at" => V1Field::DeletedAt,
            "deleted" => V1Field::Deleted,
            _ => return None,
        })
    }
}

/// Glance's `bool_from_string` (non-strict): true for 1, t, true, on, y, yes; false otherwise.
pub fn bool_from_string(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes"
    )
}

/// A v1 metadata update, read from its headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V1Update {
    /// Core fields named by the request, with their raw values.
    pub fields: BTreeMap<V1Field, String>,
    /// Custom properties named by the request (keys lower-cased, `-` turned into `_`).
    pub properties: BTreeMap<String, String>,
    /// The `X-Glance-Registry-Purge-Props` header, if sent.
    pub purge_header: Option<bool>,
    /// Whether the request body carries image data.
    pub has_data: bool,
}

impl V1Update {
    /// Reads a request's headers. Headers that are not v1 metadata are ignored; an unknown
    /// `x-image-meta-*` header or a repeated one is refused.
    pub fn from_headers<'h>(
        headers: impl IntoIterator<Item = (&'h str, &'h str)>,
        has_data: bool,
    ) -> Result<V1Update, RequestError> {
        let mut update = V1Update {
            has_data,
            ..V1Update::default()
        };
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            if lower == PURGE_HEADER {
                if update.purge_header.is_some() {
                    return Err(RequestError::RepeatedHeader(name.to_string()));
                }
                update.purge_header = Some(bool_from_string(value));
            } else if let Some(key) = lower.strip_prefix(PROPERTY_PREFIX) {
                let key = key.replace('-', "_");
                if key.is_empty() {
                    return Err(RequestError::BadHeader(name.to_string()));
                }
                if update.properties.contains_key(&key) {
                    return Err(RequestError::RepeatedHeader(name.to_string()));
                }
                update.properties.insert(key, value.to_string());
            } else if let Some(field) = lower.strip_prefix(META_PREFIX) {
                let field = V1Field::parse(&field.replace('-', "_"))
                    .ok_or_else(|| RequestError::BadHeader(name.to_string()))?;
                if update.fields.contains_key(&field) {
                    return Err(RequestError::RepeatedHeader(name.to_string()));
                }
                update.fields.insert(field, value.to_string());
            }
        }
        Ok(update)
    }

    /// Whether the update replaces the property set: the purge header (default true) unless
    /// the request carries image data, which never purges.
    pub fn purges(&self) -> bool {
        self.purge_header.unwrap_or(true) && !self.has_data
    }
}

fn empty_to_none(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_string())
}

pub(crate) fn plan(image: &Image, update: &V1Update, ctx: &PlanContext<'_>) -> Plan {
    let mut p = Planner::new(image, ctx);
    let settings = ctx.settings;
    if image.status == Status::Deleted {
        p.violate(
            ViolationKind::Forbidden,
            "status",
            "Forbidden to update deleted image.",
        );
    }
    if update.has_data && image.status != Status::Queued {
        p.violate(
            ViolationKind::StatusConflict,
            "status",
            "Cannot upload to an unqueued image",
        );
    }
    for (field, raw) in &update.fields {
        let value = raw.trim();
        let bad = |what: &str| format!("Invalid value '{raw}' for {what}.");
        match field {
            V1Field::Name => {
                if value.chars().count() > settings.max_name_len {
                    p.violate(
                        ViolationKind::InvalidValue,
                        "name",
                        "Image name too long: maximum is 255 characters.",
                    );
                } else {
                    p.attrs.name = empty_to_none(raw);
                }
            }
            V1Field::DiskFormat | V1Field::ContainerFormat => {
                let (name, list) = if *field == V1Field::DiskFormat {
                    ("disk_format", &settings.disk_formats)
                } else {
                    ("container_format", &settings.container_formats)
                };
                let parsed = empty_to_none(value);
                match parsed {
                    Some(v) if !list.contains(&v) => p.violate(
                        ViolationKind::InvalidValue,
                        name,
                        format!("Invalid {} '{v}' for image.", name.replace('_', " ")),
                    ),
                    v if *field == V1Field::DiskFormat => p.attrs.disk_format = v,
                    v => p.attrs.container_format = v,
                }
            }
            V1Field::Size | V1Field::VirtualSize => {
                let name = if *field == V1Field::Size {
                    "size"
                } else {
                    "virtual_size"
                };
                let parsed = if value.is_empty() || value == "None" {
                    Ok(None)
                } else {
                    value.parse::<u64>().map(Some)
                };
                match parsed {
                    Ok(v) if *field == V1Field::Size => p.attrs.size = v,
                    Ok(v) => p.attrs.virtual_size = v,
                    Err(_) => {
                        p.violate(ViolationKind::InvalidValue, name, bad(name));
                    }
                }
            }
            V1Field::Checksum => {
                if value.chars().count() > 32 {
                    p.violate(
                        ViolationKind::InvalidValue,
                        "checksum",
                        "Image checksum too long: maximum is 32 characters.",
                    );
                } else {
                    p.attrs.checksum = empty_to_none(value);
                }
            }
            V1Field::IsPublic => {
                if bool_from_string(value) {
                    p.attrs.visibility = Visibility::Public;
                } else if p.attrs.visibility == Visibility::Public {
                    p.attrs.visibility = Visibility::Shared;
                }
            }
            V1Field::Protected => p.attrs.protected = bool_from_string(value),
            V1Field::MinRam | V1Field::MinDisk => {
                let name = if *field == V1Field::MinRam {
                    "min_ram"
                } else {
                    "min_disk"
                };
                match value.parse::<i64>() {
                    Ok(n) if (0..=i64::from(i32::MAX)).contains(&n) => {
                        let n = n.unsigned_abs();
                        if *field == V1Field::MinRam {
                            p.attrs.min_ram = n;
                        } else {
                            p.attrs.min_disk = n;
                        }
                    }
                    Ok(_) => p.violate(
                        ViolationKind::InvalidValue,
                        name,
                        format!("'{name}' value out of range"),
                    ),
                    Err(_) => p.violate(ViolationKind::InvalidValue, name, bad(name)),
                }
            }
            V1Field::Owner => p.attrs.owner = empty_to_none(value),
            V1Field::Status => {
                if Status::parse(&value.to_ascii_lowercase()) != Some(image.status) {
                    p.violate(
                        ViolationKind::Forbidden,
                        "status",
                        "Forbidden to modify 'status' of image.",
                    );
                }
            }
            V1Field::Id => {
                if value != image.id {
                    p.violate(
                        ViolationKind::Forbidden,
                        "id",
                        "Forbidden to modify 'id' of image.",
                    );
                }
            }
            V1Field::Location | V1Field::CopyFrom => {
                if image.status != Status::Queued {
                    p.violate(
                        ViolationKind::InvalidValue,
                        "location",
                        "Location or copy-from may be given only for a queued image.",
                    );
                }
            }
            // Accepted and ignored, as Glance's registry ignores them.
            V1Field::Store
            | V1Field::Uri
            | V1Field::CreatedAt
            | V1Field::UpdatedAt
            | V1Field::DeletedAt
            | V1Field::Deleted => {}
        }
    }
    // aki/ari/ami images need matching disk and container formats.
    let amazon = ["aki", "ari", "ami"];
    let is_amazon = |v: &Option<String>| v.as_deref().is_some_and(|v| amazon.contains(&v));
    if is_amazon(&p.attrs.disk_format) || is_amazon(&p.attrs.container_format) {
        if p.attrs.container_format.is_none() {
            p.attrs.container_format = p.attrs.disk_format.clone();
        }
        if p.attrs.disk_format.is_none() {
            p.attrs.disk_format = p.attrs.container_format.clone();
        }
        if p.attrs.disk_format != p.attrs.container_format {
            p.violate(
                ViolationKind::InvalidValue,
                Attr::DiskFormat.as_str(),
                "Invalid mix of disk and container formats. When setting a disk or container format to one of 'aki', 'ari', or 'ami', the container and disk formats must match.",
            );
        }
    }
    for (key, value) in &update.properties {
        p.set_property(key, value.clone());
    }
    if update.purges() {
        p.purge_unnamed();
    }
    p.finish()
}
