//! v2 JSON patch (`PATCH /v2/images/{id}`), in both of Glance's media types.

use serde_json::{Map, Value, json};

use crate::context::PlanContext;
use crate::error::RequestError;
use crate::image::{Image, Location};
use crate::keys::{self, Attr, KeyClass};
use crate::plan::{Plan, ViolationKind};
use crate::planner::Planner;

/// The draft-10 style media type: `{"op": "add", "path": "/k", "value": "v"}`.
pub const MEDIA_TYPE_V2_1: &str = "application/openstack-images-v2.1-json-patch";
/// The draft-4 style media type: `{"add": "/k", "value": "v"}`.
pub const MEDIA_TYPE_V2_0: &str = "application/openstack-images-v2.0-json-patch";

/// Which of Glance's two patch dialects a request uses. They differ in document shape and in
/// `add` of an existing key (v2.1 overwrites, v2.0 refuses with 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchDialect {
    V2_0,
    V2_1,
}

impl PatchDialect {
    /// Reads a `Content-Type` header value (parameters and case ignored).
    pub fn from_content_type(content_type: &str) -> Result<PatchDialect, RequestError> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            MEDIA_TYPE_V2_1 => Ok(PatchDialect::V2_1),
            MEDIA_TYPE_V2_0 => Ok(PatchDialect::V2_0),
            _ => Err(RequestError::UnsupportedPatchType(content_type.to_string())),
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            PatchDialect::V2_0 => MEDIA_TYPE_V2_0,
            PatchDialect::V2_1 => MEDIA_TYPE_V2_1,
        }
    }
}

/// Where in `locations` an operation applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    At(usize),
    End,
}

/// A patch target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// A top-level name: a core attribute, a read-only or reserved name, or a custom property.
    Key(String),
    /// One entry of `locations` (`/locations/N` or `/locations/-`).
    Location(Index),
}

/// One patch operation.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchOp {
    Add { path: Path, value: Value },
    Replace { path: Path, value: Value },
    Remove { path: Path },
}

/// A parsed patch document.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub dialect: PatchDialect,
    pub ops: Vec<PatchOp>,
}

impl Patch {
    /// Parses a request body given its `Content-Type`.
    pub fn from_body(content_type: &str, body: &[u8]) -> Result<Patch, RequestError> {
        let dialect = PatchDialect::from_content_type(content_type)?;
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| RequestError::BadBody(format!("Malformed JSON in request body: {e}")))?;
        Patch::parse(dialect, &value)
    }

    /// Parses a JSON document in the given dialect.
    pub fn parse(dialect: PatchDialect, doc: &Value) -> Result<Patch, RequestError> {
        let Value::Array(items) = doc else {
            return Err(RequestError::BadBody(
                "Request body must be a JSON array of operation objects.".into(),
            ));
        };
        let ops = items
            .iter()
            .enumerate()
            .map(|(index, item)| parse_op(dialect, index, item))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Patch { dialect, ops })
    }

    /// Renders the patch as a v2.1 document.
    pub fn to_json(&self) -> Value {
        Value::Array(self.ops.iter().map(op_to_json).collect())
    }
}

fn op_to_json(op: &PatchOp) -> Value {
    let path = |p: &Path| match p {
        Path::Key(k) => format!("/{}", escape(k)),
        Path::Location(Index::At(n)) => format!("/locations/{n}"),
        Path::Location(Index::End) => "/locations/-".to_string(),
    };
    match op {
        PatchOp::Add { path: p, value } => json!({"op": "add", "path": path(p), "value": value}),
        PatchOp::Replace { path: p, value } => {
            json!({"op": "replace", "path": path(p), "value": value})
        }
        PatchOp::Remove { path: p } => json!({"op": "remove", "path": path(p)}),
    }
}

/// Escapes a key as one JSON-pointer token (`~` as `~0`, `/` as `~1`).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn parse_op(dialect: PatchDialect, index: usize, item: &Value) -> Result<PatchOp, RequestError> {
    let bad = |reason: &str| RequestError::BadOperation {
        index,
        reason: reason.to_string(),
    };
    let Value::Object(obj) = item else {
        return Err(bad("each operation must be a JSON object"));
    };
    let (op, raw_path) = match dialect {
        PatchDialect::V2_1 => {
            let op = obj
                .get("op")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("'op' must be a string"))?;
            let path = obj
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("'path' must be a string"))?;
            (op, path)
        }
        PatchDialect::V2_0 => {
            let named: Vec<&str> = ["add", "remove", "replace"]
                .into_iter()
                .filter(|k| obj.contains_key(*k))
                .collect();
            let [op] = named.as_slice() else {
                return Err(bad(
                    "exactly one of 'add', 'remove' or 'replace' must be given",
                ));
            };
            let path = obj
                .get(*op)
                .and_then(Value::as_str)
                .ok_or_else(|| bad("the path must be a string"))?;
            (*op, path)
        }
    };
    let tokens = parse_pointer(raw_path)?;
    let path = match tokens.as_slice() {
        [key] => Path::Key(key.clone()),
        [root, idx] if root == "locations" && op != "replace" => match idx.as_str() {
            "-" => Path::Location(Index::End),
            n => match n.parse::<usize>() {
                Ok(n) if n.to_string() == *idx => Path::Location(Index::At(n)),
                _ => return Err(RequestError::PointerNotAllowed(raw_path.to_string())),
            },
        },
        _ => return Err(RequestError::PointerNotAllowed(raw_path.to_string())),
    };
    let value = || {
        obj.get("value")
            .cloned()
            .ok_or_else(|| bad(&format!("'value' is required for '{op}'")))
    };
    match op {
        "add" => Ok(PatchOp::Add {
            path,
            value: value()?,
        }),
        "replace" => Ok(PatchOp::Replace {
            path,
            value: value()?,
        }),
        "remove" => Ok(PatchOp::Remove { path }),
        other => Err(bad(&format!(
            "'{other}' is not one of add, remove, replace"
        ))),
    }
}

/// Splits a JSON pointer into unescaped tokens, with Glance's rules: it starts with `/`, has
/// no empty token and no `~` outside `~0` / `~1`.
pub fn parse_pointer(pointer: &str) -> Result<Vec<String>, RequestError> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(RequestError::BadPointer(format!(
            "Pointer `{pointer}` does not start with \"/\"."
        )));
    };
    if rest.is_empty() || rest.ends_with('/') {
        return Err(RequestError::BadPointer(format!(
            "Pointer `{pointer}` end with \"/\"."
        )));
    }
    let mut tokens = Vec::new();
    for raw in rest.split('/') {
        if raw.is_empty() {
            return Err(RequestError::BadPointer(format!(
                "Pointer `{pointer}` contains adjacent \"/\"."
            )));
        }
        let mut token = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '~' {
                match chars.next() {
                    Some('0') => token.push('~'),
                    Some('1') => token.push('/'),
                    _ => {
                        return Err(RequestError::BadPointer(format!(
                            "Pointer `{pointer}` contains \"~\" not part of a recognized escape sequence."
                        )));
                    }
                }
            } else {
                token.push(c);
            }
        }
        tokens.push(token);
    }
    Ok(tokens)
}

/// Reads a `locations` value: an array of `{"url": "...", "metadata": {...}}`.
pub(crate) fn parse_locations(value: &Value) -> Result<Vec<Location>, String> {
    let Value::Array(items) = value else {
        return Err("expected an array of locations".into());
    };
    items.iter().map(parse_location).collect()
}

fn parse_location(value: &Value) -> Result<Location, String> {
    let obj = value
        .as_object()
        .ok_or("a location must be an object with 'url' and 'metadata'")?;
    let url = obj
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or("a location needs a non-empty 'url' string")?;
    let metadata = match obj.get("metadata") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err("a location's 'metadata' must be an object".into()),
    };
    let validation_data = match obj.get("validation_data") {
        None => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => return Err("a location's 'validation_data' must be an object".into()),
    };
    Ok(Location {
        url: url.to_string(),
        metadata,
        validation_data,
    })
}

pub(crate) fn plan(image: &Image, patch: &Patch, ctx: &PlanContext<'_>) -> Plan {
    let mut p = Planner::new(image, ctx);
    p.typed = true;
    for op in &patch.ops {
        match op {
            PatchOp::Add {
                path: Path::Location(index),
                value,
            } => add_location(&mut p, *index, value),
            PatchOp::Remove {
                path: Path::Location(index),
            } => remove_location(&mut p, *index),
            PatchOp::Replace {
                path: Path::Location(_),
                ..
            } => {
                // The parser never yields this: `replace` only takes `/locations` whole.
                p.violate(
                    ViolationKind::InvalidValue,
                    "locations",
                    "Invalid JSON pointer for this resource: '/locations'",
                );
            }
            PatchOp::Add {
                path: Path::Key(key),
                value,
            } => set_key(&mut p, key, value, Mode::Add(patch.dialect)),
            PatchOp::Replace {
                path: Path::Key(key),
                value,
            } => set_key(&mut p, key, value, Mode::Replace),
            PatchOp::Remove {
                path: Path::Key(key),
            } => remove_key(&mut p, key),
        }
    }
    p.finish()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Add(PatchDialect),
    Replace,
}

fn refuse_non_custom(p: &mut Planner<'_>, key: &str) -> bool {
    match keys::classify(key) {
        KeyClass::ReadOnly => p.violate(
            ViolationKind::ReadOnly,
            key,
            format!("Attribute '{key}' is read-only."),
        ),
        KeyClass::Reserved => p.violate(
            ViolationKind::Reserved,
            key,
            format!("Attribute '{key}' is reserved."),
        ),
        _ => return false,
    }
    true
}

fn locations_hidden(p: &mut Planner<'_>, verb: &str) -> bool {
    if p.ctx.settings.locations_enabled {
        return false;
    }
    p.violate(
        ViolationKind::Forbidden,
        "locations",
        format!("It's not allowed to {verb} locations if locations are invisible."),
    );
    true
}

fn set_key(p: &mut Planner<'_>, key: &str, value: &Value, mode: Mode) {
    if refuse_non_custom(p, key) {
        return;
    }
    match keys::classify(key) {
        KeyClass::Writable(Attr::Locations) => {
            if locations_hidden(p, "update") {
                return;
            }
            if value.as_array().is_some_and(Vec::is_empty) && !p.attrs.locations.is_empty() {
                p.violate(
                    ViolationKind::Forbidden,
                    "locations",
                    "Cannot set locations to empty list.",
                );
                return;
            }
            replace_locations(p, value);
        }
        KeyClass::Writable(attr) => p.set_attr_json(attr, value),
        _ => {
            let exists = p.current(key).is_some();
            match mode {
                Mode::Add(PatchDialect::V2_0) if exists => {
                    p.violate(
                        ViolationKind::AlreadyPresent,
                        key,
                        format!("Property {key} already present."),
                    );
                    return;
                }
                Mode::Replace if !exists => {
                    p.violate(
                        ViolationKind::NoSuchProperty,
                        key,
                        format!("Property {key} does not exist."),
                    );
                    return;
                }
                _ => {}
            }
            p.set_property_json(key, value);
        }
    }
}

/// `replace /locations`: on an image without locations, sets them (each checked as an added
/// one); otherwise only their order and metadata may change, never which URLs there are.
fn replace_locations(p: &mut Planner<'_>, value: &Value) {
    let mut new = match parse_locations(value) {
        Ok(l) => l,
        Err(m) => {
            p.violate(
                ViolationKind::InvalidValue,
                "locations",
                format!("Invalid locations: {m}."),
            );
            return;
        }
    };
    if p.attrs.locations.is_empty() {
        for l in &mut new {
            if !new_location_allowed(p, l) {
                return;
            }
        }
    } else {
        let mut old: Vec<&str> = p.attrs.locations.iter().map(|l| l.url.as_str()).collect();
        let mut wanted: Vec<&str> = new.iter().map(|l| l.url.as_str()).collect();
        old.sort_unstable();
        wanted.sort_unstable();
        if old != wanted {
            p.violate(
                ViolationKind::InvalidValue,
                "locations",
                "Replacing locations may change their order and metadata, not which locations \
                 there are: add or remove locations one by one.",
            );
            return;
        }
        // A location's store stays what it was.
        for l in &mut new {
            if let Some(store) = p
                .attrs
                .locations
                .iter()
                .find(|o| o.url == l.url)
                .and_then(|o| o.metadata.get("store").cloned())
            {
                l.metadata.insert("store".into(), store);
            }
        }
    }
    p.attrs.locations = new;
}

fn remove_key(p: &mut Planner<'_>, key: &str) {
    if refuse_non_custom(p, key) {
        return;
    }
    match keys::classify(key) {
        KeyClass::Writable(Attr::Locations) => {
            if !locations_hidden(p, "remove") {
                p.violate(
                    ViolationKind::NotRemovable,
                    key,
                    format!("Property {key} may not be removed."),
                );
            }
        }
        KeyClass::Writable(_) => p.violate(
            ViolationKind::NotRemovable,
            key,
            format!("Property {key} may not be removed."),
        ),
        _ => {
            if p.current(key).is_some() {
                p.remove_property(key);
            } else {
                p.violate(
                    ViolationKind::NoSuchProperty,
                    key,
                    format!("Property {key} does not exist."),
                );
            }
        }
    }
}

fn add_location(p: &mut Planner<'_>, index: Index, value: &Value) {
    if locations_hidden(p, "add") {
        return;
    }
    let mut location = match parse_location(value) {
        Ok(l) => l,
        Err(m) => {
            p.violate(
                ViolationKind::InvalidValue,
                "locations",
                format!("Invalid location: {m}."),
            );
            return;
        }
    };
    if !new_location_allowed(p, &mut location) {
        return;
    }
    let len = p.attrs.locations.len();
    match index {
        Index::End => p.attrs.locations.push(location),
        Index::At(n) if n <= len => p.attrs.locations.insert(n, location),
        Index::At(n) => p.violate(
            ViolationKind::InvalidValue,
            "locations",
            format!("Invalid location index {n}: the image has {len} locations."),
        ),
    }
}

/// Checks a location a request adds: an http(s) URL (data the server fetches; other schemes
/// would name files or services of the server's own) or, where the deployment has RBD stores,
/// an `rbd://` URL (the server checks that it names one of their clusters and pools), and
/// validation data that agrees with the image's checksums. With several stores an http(s)
/// location goes to the http store.
fn new_location_allowed(p: &mut Planner<'_>, location: &mut Location) -> bool {
    let scheme = location
        .url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    let http = matches!(scheme.as_deref(), Some("http" | "https"));
    let rbd = scheme.as_deref() == Some("rbd") && p.ctx.settings.rbd_locations;
    if !http && !rbd {
        let allowed = if p.ctx.settings.rbd_locations {
            "http, https and rbd"
        } else {
            "http and https"
        };
        p.violate(
            ViolationKind::InvalidValue,
            "locations",
            format!(
                "Invalid location: {}: only {allowed} locations can be added.",
                location.url
            ),
        );
        return false;
    }
    if let Some(data) = &location.validation_data {
        let current = [
            ("checksum", p.attrs.checksum.clone()),
            ("os_hash_algo", p.attrs.os_hash_algo.clone()),
            ("os_hash_value", p.attrs.os_hash_value.clone()),
        ];
        for (key, have) in current {
            if let (Some(have), Some(given)) = (have, data.get(key).and_then(Value::as_str))
                && have != given
            {
                p.violate(
                    ViolationKind::StatusConflict,
                    "locations",
                    format!("The image's {key} does not match the location's validation data."),
                );
                return false;
            }
        }
        if let Err(m) = crate::image::check_validation_data(data) {
            p.violate(
                ViolationKind::InvalidValue,
                "locations",
                format!("Invalid location: {m}."),
            );
            return false;
        }
    }
    if let Some(store) = p.ctx.settings.http_store.as_ref().filter(|_| http) {
        location
            .metadata
            .entry("store")
            .or_insert_with(|| Value::String(store.clone()));
    }
    true
}

fn remove_location(p: &mut Planner<'_>, index: Index) {
    if locations_hidden(p, "remove") {
        return;
    }
    let coded = p.ctx.caller.is_admin();
    if !p.ctx.allows("delete_image_location", p.before, coded) {
        p.violate(
            ViolationKind::Forbidden,
            "locations",
            "You are not authorized to complete delete_image_location action.",
        );
        return;
    }
    let len = p.attrs.locations.len();
    match index {
        Index::At(n) if n < len => {
            if len == 1 {
                p.violate(
                    ViolationKind::Forbidden,
                    "locations",
                    "Cannot remove last location in the image.",
                );
            } else {
                p.attrs.locations.remove(n);
            }
        }
        _ => p.violate(
            ViolationKind::InvalidValue,
            "locations",
            "Invalid location index.",
        ),
    }
}
