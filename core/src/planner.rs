//! The one place where property and attribute changes are worked out. Each request kind
//! (v1 headers, JSON patch, editor, create) drives a [`Planner`] step by step; `finish` turns
//! the result into a [`Plan`] and applies every rule that concerns the outcome as a whole.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::context::PlanContext;
use crate::image::{Image, Status, Visibility};
use crate::keys::{self, Attr, KeyClass};
use crate::plan::{AttrChanges, Change, Plan, Violation, ViolationKind};
use crate::protections::Operation;

pub(crate) struct Planner<'a> {
    pub(crate) ctx: &'a PlanContext<'a>,
    pub(crate) before: &'a Image,
    /// Core attributes as the request leaves them (`properties` stays empty).
    pub(crate) attrs: Image,
    sets: BTreeMap<String, String>,
    removes: BTreeSet<String>,
    purge: bool,
    violations: Vec<Violation>,
    /// Values are checked against the image schema (v2 and the editor; not v1).
    pub(crate) typed: bool,
    /// A new image: the schema's required properties must be in it.
    pub(crate) creating: bool,
}

fn attrs_of(image: &Image) -> Image {
    Image {
        id: image.id.clone(),
        name: image.name.clone(),
        status: image.status,
        visibility: image.visibility,
        protected: image.protected,
        os_hidden: image.os_hidden,
        owner: image.owner.clone(),
        disk_format: image.disk_format.clone(),
        container_format: image.container_format.clone(),
        min_disk: image.min_disk,
        min_ram: image.min_ram,
        size: image.size,
        virtual_size: image.virtual_size,
        checksum: image.checksum.clone(),
        os_hash_algo: image.os_hash_algo.clone(),
        os_hash_value: image.os_hash_value.clone(),
        tags: image.tags.clone(),
        locations: image.locations.clone(),
        created_at: image.created_at.clone(),
        updated_at: image.updated_at.clone(),
        properties: BTreeMap::new(),
    }
}

const MAX_INT32: u64 = i32::MAX as u64;

impl<'a> Planner<'a> {
    pub(crate) fn new(before: &'a Image, ctx: &'a PlanContext<'a>) -> Planner<'a> {
        Planner {
            ctx,
            before,
            attrs: attrs_of(before),
            sets: BTreeMap::new(),
            removes: BTreeSet::new(),
            purge: false,
            violations: Vec::new(),
            typed: false,
            creating: false,
        }
    }

    pub(crate) fn violate(
        &mut self,
        kind: ViolationKind,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.violations.push(Violation::new(kind, key, message));
    }

    /// The value the caller sees for `key` before the request: `None` when absent or unreadable.
    fn visible_before(&self, key: &str) -> Option<&'a String> {
        let before: &'a Image = self.before;
        before
            .properties
            .get(key)
            .filter(|_| self.ctx.may(key, Operation::Read))
    }

    /// The property's value as the request has left it so far, as the caller sees it.
    pub(crate) fn current(&self, key: &str) -> Option<&str> {
        if self.removes.contains(key) {
            return None;
        }
        self.sets
            .get(key)
            .or_else(|| self.visible_before(key))
            .map(String::as_str)
    }

    pub(crate) fn set_property(&mut self, key: &str, value: String) {
        self.removes.remove(key);
        self.sets.insert(key.to_string(), value);
    }

    pub(crate) fn remove_property(&mut self, key: &str) {
        self.sets.remove(key);
        if self.visible_before(key).is_some() {
            self.removes.insert(key.to_string());
        }
    }

    /// Replace-all: every visible custom property the request has not set is removed when the
    /// plan is finished. Called after every other step of a request.
    pub(crate) fn purge_unnamed(&mut self) {
        self.purge = true;
    }

    /// The refusal for a name that is not a custom property, or `None` when it is one.
    pub(crate) fn non_custom(name: &str) -> Option<(ViolationKind, String)> {
        match keys::classify(name) {
            KeyClass::Custom => None,
            KeyClass::ReadOnly => Some((
                ViolationKind::ReadOnly,
                format!("Attribute '{name}' is read-only."),
            )),
            KeyClass::Reserved => Some((
                ViolationKind::Reserved,
                format!("Attribute '{name}' is reserved."),
            )),
            KeyClass::Writable(_) => Some((
                ViolationKind::Reserved,
                format!("'{name}' is a core attribute, not a custom property."),
            )),
        }
    }

    /// Sets a custom property from a JSON value: text, or a number or boolean where the image
    /// schema declares that type.
    pub(crate) fn set_property_json(&mut self, key: &str, value: &Value) {
        match self.ctx.settings.image_schema.text_of(key, value) {
            Ok(text) => self.set_property(key, text),
            Err(message) => self.violate(ViolationKind::InvalidValue, key, message),
        }
    }

    /// Sets a core attribute from a JSON value, checking its type and allowed values.
    pub(crate) fn set_attr_json(&mut self, attr: Attr, value: &Value) {
        let name = attr.as_str();
        let s = self.ctx.settings;
        let invalid = |what: &str| {
            Violation::new(
                ViolationKind::InvalidValue,
                name,
                format!("Invalid value for '{name}': {what}."),
            )
        };
        let result: Result<(), Violation> = match attr {
            Attr::Name => match value {
                Value::Null => {
                    self.attrs.name = None;
                    Ok(())
                }
                Value::String(v) if v.chars().count() <= s.max_name_len => {
                    self.attrs.name = Some(v.clone());
                    Ok(())
                }
                Value::String(_) => Err(invalid(&format!(
                    "longer than {} characters",
                    s.max_name_len
                ))),
                _ => Err(invalid("expected a string or null")),
            },
            Attr::Visibility => match value.as_str().and_then(Visibility::parse) {
                Some(v) => {
                    self.attrs.visibility = v;
                    Ok(())
                }
                None => Err(invalid(
                    "expected one of public, community, shared, private",
                )),
            },
            Attr::Protected | Attr::OsHidden => match value {
                Value::Bool(b) => {
                    if attr == Attr::Protected {
                        self.attrs.protected = *b;
                    } else {
                        self.attrs.os_hidden = *b;
                    }
                    Ok(())
                }
                _ => Err(invalid("expected true or false")),
            },
            Attr::Owner => match value {
                Value::Null => {
                    self.attrs.owner = None;
                    Ok(())
                }
                Value::String(v) if v.chars().count() <= s.max_name_len => {
                    self.attrs.owner = Some(v.clone());
                    Ok(())
                }
                _ => Err(invalid(
                    "expected a string of at most 255 characters or null",
                )),
            },
            Attr::DiskFormat | Attr::ContainerFormat => {
                let allowed = if attr == Attr::DiskFormat {
                    &s.disk_formats
                } else {
                    &s.container_formats
                };
                let parsed = match value {
                    Value::Null => Ok(None),
                    Value::String(v) if allowed.iter().any(|a| a == v) => Ok(Some(v.clone())),
                    _ => Err(invalid(&format!("expected one of {}", allowed.join(", ")))),
                };
                parsed.map(|v| {
                    if attr == Attr::DiskFormat {
                        self.attrs.disk_format = v;
                    } else {
                        self.attrs.container_format = v;
                    }
                })
            }
            Attr::MinRam | Attr::MinDisk => match value.as_u64().filter(|n| *n <= MAX_INT32) {
                Some(n) => {
                    if attr == Attr::MinRam {
                        self.attrs.min_ram = n;
                    } else {
                        self.attrs.min_disk = n;
                    }
                    Ok(())
                }
                None => Err(invalid("expected an integer from 0 to 2147483647")),
            },
            Attr::Tags => match value {
                Value::Array(items) => {
                    let mut tags: Vec<String> = Vec::with_capacity(items.len());
                    let mut bad = None;
                    for item in items {
                        match item.as_str() {
                            Some(t) if t.chars().count() <= s.max_name_len => {
                                if !tags.iter().any(|x| x == t) {
                                    tags.push(t.to_string());
                                }
                            }
                            _ => bad = Some(invalid("expected strings of at most 255 characters")),
                        }
                    }
                    match bad {
                        Some(v) => Err(v),
                        None => {
                            self.attrs.tags = tags;
                            Ok(())
                        }
                    }
                }
                _ => Err(invalid("expected an array of strings")),
            },
            Attr::Locations => crate::patch::parse_locations(value)
                .map(|locs| self.attrs.locations = locs)
                .map_err(|m| invalid(&m)),
            Attr::Size | Attr::Checksum | Attr::VirtualSize => Err(Violation::new(
                ViolationKind::ReadOnly,
                name,
                format!("Attribute '{name}' is read-only."),
            )),
        };
        if let Err(v) = result {
            self.violations.push(v);
        }
    }

    pub(crate) fn finish(mut self) -> Plan {
        let ctx = self.ctx;
        let settings = ctx.settings;
        let mut plan = Plan {
            purge: self.purge,
            ..Plan::default()
        };

        // One ordered pass over the image's properties, the keys set and the keys removed
        // (all three sorted), so planning stays linear in the number of properties.
        let sets = std::mem::take(&mut self.sets);
        let removes = std::mem::take(&mut self.removes);
        let mut set_iter = sets.into_iter().peekable();
        let mut remove_iter = removes.into_iter().peekable();
        let mut kept = Vec::new();
        for (key, old) in &self.before.properties {
            // Keys set that the image does not have (yet) sort before this one.
            while let Some((k, _)) = set_iter.peek() {
                if k.as_str() >= key.as_str() {
                    break;
                }
                if let Some((k, v)) = set_iter.next() {
                    plan.added.insert(k, v);
                }
            }
            while remove_iter
                .peek()
                .is_some_and(|k| k.as_str() < key.as_str())
            {
                remove_iter.next();
            }
            let readable = ctx.may(key, Operation::Read);
            if set_iter.peek().is_some_and(|(k, _)| k == key) {
                let Some((_, value)) = set_iter.next() else {
                    continue;
                };
                if !readable {
                    self.violations.push(Violation::new(
                        ViolationKind::Protected,
                        key,
                        format!("Property '{key}' is protected."),
                    ));
                } else if *old == value {
                    kept.push((key.clone(), value));
                } else {
                    plan.changed.insert(
                        key.clone(),
                        Change {
                            old: old.clone(),
                            new: value,
                        },
                    );
                }
            } else if remove_iter.peek().is_some_and(|k| k == key) {
                remove_iter.next();
                if readable {
                    plan.removed.insert(key.clone(), old.clone());
                }
            } else if readable && self.purge && Self::non_custom(key).is_none() {
                plan.removed.insert(key.clone(), old.clone());
            } else if readable {
                kept.push((key.clone(), old.clone()));
            }
        }
        plan.added.extend(set_iter);
        plan.kept = kept.into_iter().collect();

        // Server-owned names are never written or removed by a client.
        let touched = plan
            .added
            .keys()
            .chain(plan.changed.keys())
            .chain(plan.removed.keys());
        for key in touched {
            if let Some((kind, message)) = Self::non_custom(key) {
                self.violations.push(Violation::new(kind, key, message));
            }
        }
        // Names and lengths of what is written.
        for key in plan.added.keys() {
            if Self::non_custom(key).is_some() {
                continue;
            } else if key.is_empty() {
                self.violations.push(Violation::new(
                    ViolationKind::InvalidValue,
                    key,
                    "A property key may not be empty.",
                ));
            } else if key.chars().count() > settings.max_key_len {
                self.violations.push(Violation::new(
                    ViolationKind::KeyTooLong,
                    key,
                    format!(
                        "Property key is longer than {} characters.",
                        settings.max_key_len
                    ),
                ));
            }
        }
        let written = plan
            .added
            .iter()
            .chain(plan.changed.iter().map(|(k, c)| (k, &c.new)));
        for (key, value) in written {
            if value.chars().count() > settings.max_value_len {
                self.violations.push(Violation::new(
                    ViolationKind::ValueTooLong,
                    key,
                    format!(
                        "Value of property '{key}' is longer than {} characters.",
                        settings.max_value_len
                    ),
                ));
            }
        }

        // The image schema: what is written fits its definition (v2 and the editor); what it
        // requires is in a new image and is never removed.
        let schema = &settings.image_schema;
        if self.typed {
            let written = plan
                .added
                .iter()
                .chain(plan.changed.iter().map(|(k, c)| (k, &c.new)));
            for (key, value) in written {
                if let Err(message) = schema.check(key, value) {
                    self.violations
                        .push(Violation::new(ViolationKind::InvalidValue, key, message));
                }
            }
        }
        for key in &schema.required {
            let missing = self.creating
                && !plan.added.contains_key(key)
                && !plan.kept.contains_key(key)
                && !plan.changed.contains_key(key);
            if missing {
                self.violations.push(Violation::new(
                    ViolationKind::InvalidValue,
                    key,
                    format!("'{key}' is a required property."),
                ));
            } else if plan.removed.contains_key(key) {
                self.violations.push(Violation::new(
                    ViolationKind::InvalidValue,
                    key,
                    format!("'{key}' is a required property: it cannot be removed."),
                ));
            }
        }

        // Property protections, judged on the outcome.
        if ctx.protections.is_some() {
            let checks = plan
                .added
                .keys()
                .map(|k| (k, Operation::Create))
                .chain(plan.changed.keys().map(|k| (k, Operation::Update)))
                .chain(plan.removed.keys().map(|k| (k, Operation::Delete)));
            for (key, op) in checks {
                if !ctx.may(key, op) {
                    self.violations.push(Violation::new(
                        ViolationKind::Protected,
                        key,
                        format!("You are not permitted to {op} the property '{key}'."),
                    ));
                }
            }
        }

        // Property quota: checked when keys are added, `os_glance*` keys not counted.
        if let Some(quota) = settings.property_quota
            && !plan.added.is_empty()
        {
            let counted = |k: &String| !keys::is_reserved_prefix(k);
            let total = self.before.properties.keys().filter(|k| counted(k)).count()
                - plan.removed.keys().filter(|k| counted(k)).count()
                + plan.added.keys().filter(|k| counted(k)).count();
            if total > quota {
                self.violations.push(Violation::new(
                    ViolationKind::QuotaExceeded,
                    "properties",
                    format!(
                        "Maximum number of properties exceeded: {total} requested, {quota} allowed."
                    ),
                ));
            }
        }

        plan.attributes = AttrChanges::between(&attrs_of(self.before), &self.attrs);
        self.check_attributes(&plan.attributes);
        plan.violations = self.violations;
        plan
    }

    fn check_attributes(&mut self, changes: &AttrChanges) {
        let ctx = self.ctx;
        let caller = ctx.caller;
        let before = self.before;
        // What Glance's context calls an administrator.
        let admin = ctx.allows("context_is_admin", before, caller.is_admin());
        if let Some(c) = &changes.owner
            && !admin
            && c.new.as_deref() != caller.project_id.as_deref()
        {
            self.violate(
                ViolationKind::Forbidden,
                "owner",
                "Only an administrator may give an image to another project.",
            );
        }
        if let Some(c) = &changes.visibility {
            // Glance's publicize_image and communitize_image, judged on the image as it was.
            let refused = match c.new {
                Visibility::Public => {
                    (!ctx.allows("publicize_image", before, admin)).then_some("publicize_image")
                }
                Visibility::Community => {
                    let coded = admin || caller.owns(before.owner.as_deref());
                    (!ctx.allows("communitize_image", before, coded)).then_some("communitize_image")
                }
                _ => None,
            };
            if let Some(policy) = refused {
                self.violate(
                    ViolationKind::Forbidden,
                    "visibility",
                    format!("You are not authorized to complete {policy} action."),
                );
            }
        }
        let formats_open = matches!(before.status, Status::Queued | Status::Importing);
        for (name, changed) in [
            ("disk_format", changes.disk_format.is_some()),
            ("container_format", changes.container_format.is_some()),
        ] {
            if changed && !formats_open {
                self.violate(
                    ViolationKind::InvalidState,
                    name,
                    format!("Attribute {name} can be only replaced for a queued image."),
                );
            }
        }
        let data_settled = matches!(before.status, Status::Active | Status::Deactivated);
        for (name, changed) in [
            ("size", changes.size.is_some()),
            ("checksum", changes.checksum.is_some()),
            ("virtual_size", changes.virtual_size.is_some()),
        ] {
            if changed && data_settled && !admin {
                self.violate(
                    ViolationKind::Forbidden,
                    name,
                    format!("Forbidden to modify '{name}' of {} image.", before.status),
                );
            }
        }
        let settings = ctx.settings;
        if let (Some(c), Some(quota)) = (&changes.tags, settings.tag_quota)
            && c.new.len() > quota
        {
            self.violate(
                ViolationKind::QuotaExceeded,
                "tags",
                format!(
                    "Maximum number of tags exceeded: {} requested, {quota} allowed.",
                    c.new.len()
                ),
            );
        }
        // Glance's set_image_location: replacing or adding locations through PATCH.
        if changes.locations.is_some() {
            let coded =
                admin || (caller.has_role("member") && caller.owns(before.owner.as_deref()));
            if !ctx.allows("set_image_location", before, coded) {
                self.violate(
                    ViolationKind::Forbidden,
                    "locations",
                    "You are not authorized to complete set_image_location action.",
                );
            }
        }
        if let (Some(c), Some(quota)) = (&changes.locations, settings.location_quota)
            && c.new.len() > quota
        {
            self.violate(
                ViolationKind::QuotaExceeded,
                "locations",
                format!(
                    "Maximum number of locations exceeded: {} requested, {quota} allowed.",
                    c.new.len()
                ),
            );
        }
    }
}
