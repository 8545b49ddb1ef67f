//! Reading an image back from Glance's v2 JSON, as a client (the web UI, a test) receives it.
//!
//! Every top-level name that is not a core attribute, a link or a server field is a custom
//! property; its value is kept as the string the API shows.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::RequestError;
use crate::image::{Image, Location, Status, Visibility};
use crate::keys::{self, KeyClass};

/// Names the v2 JSON carries that are neither attributes nor properties.
const NOT_PROPERTIES: [&str; 2] = ["direct_url", "stores"];

/// The image a `GET /v2/images/{id}` body describes.
pub fn image_from_v2(body: &Value) -> Result<Image, RequestError> {
    let m = body
        .as_object()
        .ok_or_else(|| RequestError::BadBody("An image must be a JSON object.".into()))?;
    let id = text(m, "id")?.ok_or_else(|| bad("id", "is missing"))?;
    let status = match text(m, "status")? {
        Some(s) => Status::parse(&s).ok_or_else(|| bad("status", "is not a Glance status"))?,
        None => Status::Queued,
    };
    let visibility = match text(m, "visibility")? {
        Some(s) => Visibility::parse(&s).ok_or_else(|| bad("visibility", "is not a visibility"))?,
        None => Visibility::Shared,
    };
    let tags = match m.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| t.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("tags", "must be strings"))?,
        Some(_) => return Err(bad("tags", "must be a list")),
    };
    let locations: Vec<Location> = match m.get("locations") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|_| bad("locations", "is malformed"))?
        }
    };
    let mut properties = BTreeMap::new();
    for (k, v) in m {
        if keys::classify(k) != KeyClass::Custom && !keys::is_reserved_prefix(k)
            || NOT_PROPERTIES.contains(&k.as_str())
        {
            continue;
        }
        let value = match v {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        properties.insert(k.clone(), value);
    }
    Ok(Image {
        name: text(m, "name")?,
        status,
        visibility,
        protected: flag(m, "protected")?,
        os_hidden: flag(m, "os_hidden")?,
        owner: text(m, "owner")?,
        disk_format: text(m, "disk_format")?,
        container_format: text(m, "container_format")?,
        min_disk: number(m, "min_disk")?.unwrap_or(0),
        min_ram: number(m, "min_ram")?.unwrap_or(0),
        size: number(m, "size")?,
        virtual_size: number(m, "virtual_size")?,
        checksum: text(m, "checksum")?,
        os_hash_algo: text(m, "os_hash_algo")?,
        os_hash_value: text(m, "os_hash_value")?,
        tags,
        locations,
        created_at: text(m, "created_at")?.unwrap_or_default(),
        updated_at: text(m, "updated_at")?.unwrap_or_default(),
        properties,
        id,
    })
}

fn bad(name: &str, what: &str) -> RequestError {
    RequestError::BadBody(format!("The image's '{name}' {what}."))
}

fn text(m: &Map<String, Value>, name: &str) -> Result<Option<String>, RequestError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(name, "must be a string")),
    }
}

fn flag(m: &Map<String, Value>, name: &str) -> Result<bool, RequestError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(name, "must be true or false")),
    }
}

fn number(m: &Map<String, Value>, name: &str) -> Result<Option<u64>, RequestError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| bad(name, "must be a whole number")),
    }
}
