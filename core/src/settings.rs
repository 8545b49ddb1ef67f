//! Deployment settings that change what a plan allows: limits, quotas and format lists.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Limits and lists that planning checks against. The defaults are Glance's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Longest custom property key, in characters.
    pub max_key_len: usize,
    /// Longest custom property value, in characters.
    pub max_value_len: usize,
    /// Longest image name, tag or owner, in characters.
    pub max_name_len: usize,
    /// Most custom properties an image may carry (`os_glance*` keys are not counted); `None` is unlimited.
    pub property_quota: Option<usize>,
    /// Most tags an image may carry; `None` is unlimited.
    pub tag_quota: Option<usize>,
    /// Most locations an image may carry; `None` is unlimited.
    pub location_quota: Option<usize>,
    /// Allowed `disk_format` values.
    pub disk_formats: Vec<String>,
    /// Allowed `container_format` values.
    pub container_formats: Vec<String>,
    /// Whether `locations` may be read and changed through the API (Glance's `show_multiple_locations`).
    pub locations_enabled: bool,
    /// Whether images show `direct_url`, their first location's URL (Glance's
    /// `show_image_direct_url`: how Nova and Cinder find an RBD image to clone).
    pub direct_url_shown: bool,
    /// The format imports are converted to (Glance's `image_conversion` plugin), if any.
    pub conversion_output_format: Option<String>,
    /// Whether `rbd://` locations may be added (the deployment has RBD stores; the server
    /// checks that a location names one of their clusters and pools).
    pub rbd_locations: bool,
    /// The store that http(s) locations added through the API belong to, with several stores
    /// (its id goes in the location's metadata).
    pub http_store: Option<String>,
    /// Whether uploaded content must match the image's `disk_format` (Glance's
    /// `[image_format] require_image_format_match`). Safety rules apply either way.
    pub require_format_match: bool,
    /// The image schema's additional properties and the required ones (Glance's
    /// `schema-image.json`).
    #[serde(default)]
    pub image_schema: crate::schema::ImageSchema,
    /// Properties set on images that callers without one of `inject_ignore_roles` import
    /// (Glance's `inject_image_metadata` plugin: `[inject_metadata_properties] inject`).
    #[serde(default)]
    pub inject: BTreeMap<String, String>,
    /// Roles whose imports are left as they are (`ignore_user_roles`).
    #[serde(default)]
    pub inject_ignore_roles: Vec<String>,
}

/// Glance's default `disk_formats`.
pub const DEFAULT_DISK_FORMATS: [&str; 12] = [
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop", "gpt",
];

/// Glance's default `container_formats`.
pub const DEFAULT_CONTAINER_FORMATS: [&str; 8] = [
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_key_len: 255,
            max_value_len: 65_535,
            max_name_len: 255,
            property_quota: Some(128),
            tag_quota: Some(128),
            location_quota: Some(10),
            disk_formats: DEFAULT_DISK_FORMATS.iter().map(|s| s.to_string()).collect(),
            container_formats: DEFAULT_CONTAINER_FORMATS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            locations_enabled: false,
            direct_url_shown: false,
            conversion_output_format: None,
            rbd_locations: false,
            http_store: None,
            require_format_match: true,
            image_schema: crate::schema::ImageSchema::glance_default(),
            inject: BTreeMap::new(),
            inject_ignore_roles: vec!["admin".into()],
        }
    }
}

impl Settings {
    /// The properties an import by `caller` gets (none for a caller with an ignored role).
    pub fn injected_for(&self, caller: &crate::Caller) -> BTreeMap<String, String> {
        match caller
            .roles
            .iter()
            .any(|r| self.inject_ignore_roles.contains(r))
        {
            true => BTreeMap::new(),
            false => self.inject.clone(),
        }
    }

    /// The format an import of an image declared `disk_format` converts it to, when it does:
    /// the deployment's output format, unless the image is in it already or is an ISO (which
    /// stays an ISO, as in Glance). Uploads (`PUT .../file`) and `copy-image` never convert.
    pub fn conversion_of(&self, disk_format: Option<&str>) -> Option<&str> {
        conversion_target(self.conversion_output_format.as_deref(), disk_format)
    }
}

/// [`Settings::conversion_of`] for an output format given apart.
pub fn conversion_target<'a>(
    output: Option<&'a str>,
    disk_format: Option<&str>,
) -> Option<&'a str> {
    match (output, disk_format) {
        (Some(out), Some(from)) if from != out && from != "iso" => Some(out),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_convert_to_the_output_format_unless_already_there_or_iso() {
        let mut s = Settings::default();
        assert_eq!(
            s.conversion_of(Some("qcow2")),
            None,
            "no conversion configured"
        );
        s.conversion_output_format = Some("raw".into());
        assert_eq!(s.conversion_of(Some("qcow2")), Some("raw"));
        assert_eq!(s.conversion_of(Some("vmdk")), Some("raw"));
        assert_eq!(s.conversion_of(Some("raw")), None);
        assert_eq!(s.conversion_of(Some("iso")), None);
        assert_eq!(s.conversion_of(None), None);
    }
}
