//! The editor request: "this is what I want the properties to be", from a form.
//!
//! A removal happens only for a key the caller marks removed, never because a key is missing
//! from the form, unless the caller asks for "replace all", which removes every absent key (what
//! a v1 purge does) and is shown as such in the plan.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::PlanContext;
use crate::image::Image;
use crate::keys::{self, KeyClass};
use crate::plan::{Plan, ViolationKind};
use crate::planner::Planner;

/// What an editor wants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Edit {
    /// Properties to have, with their values (new or changed; unchanged ones may be included).
    pub properties: BTreeMap<String, String>,
    /// Keys the caller explicitly removes.
    pub removed: BTreeSet<String>,
    /// Remove every property not in `properties` (the v1 purge, shown to the user first).
    pub replace_all: bool,
    /// Core attributes to set, by name, as JSON values (`name`, `visibility`, `min_ram`, ...).
    pub attributes: BTreeMap<String, Value>,
}

pub(crate) fn plan(image: &Image, edit: &Edit, ctx: &PlanContext<'_>) -> Plan {
    let mut p = Planner::new(image, ctx);
    p.typed = true;
    for (name, value) in &edit.attributes {
        match keys::classify(name) {
            KeyClass::Writable(attr) => p.set_attr_json(attr, value),
            _ => p.violate(
                ViolationKind::InvalidValue,
                name,
                format!("'{name}' is not a core attribute a request may set."),
            ),
        }
    }
    for (key, value) in &edit.properties {
        if edit.removed.contains(key) {
            p.violate(
                ViolationKind::InvalidValue,
                key,
                format!("Property '{key}' is both set and removed."),
            );
            continue;
        }
        p.set_property(key, value.clone());
    }
    for key in &edit.removed {
        if !edit.properties.contains_key(key) {
            p.remove_property(key);
        }
    }
    if edit.replace_all {
        p.purge_unnamed();
    }
    p.finish()
}
