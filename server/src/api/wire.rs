//! Images as Glance's v2 API shows them.

use glint_core::Image;
use serde_json::{Map, Value, json};

/// Properties the server keeps to itself.
const HIDDEN: [&str; 2] = ["os_glance_stage_host", "os_glance_hash_op_host"];

pub(crate) fn image_json(image: &Image, settings: &glint_core::Settings) -> Value {
    let show_locations = settings.locations_enabled;
    let mut m = Map::new();
    for (k, v) in &image.properties {
        if !HIDDEN.contains(&k.as_str()) {
            m.insert(k.clone(), Value::String(v.clone()));
        }
    }
    let core = json!({
        "id": image.id,
        "name": image.name,
        "status": image.status.as_str(),
        "visibility": image.visibility.as_str(),
        "protected": image.protected,
        "os_hidden": image.os_hidden,
        "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "container_format": image.container_format,
        "disk_format": image.disk_format,
        "min_ram": image.min_ram,
        "min_disk": image.min_disk,
        "owner": image.owner,
        "created_at": image.created_at,
        "updated_at": image.updated_at,
        "tags": image.tags,
        "self": format!("/v2/images/{}", image.id),
        "file": format!("/v2/images/{}/file", image.id),
        "schema": "/v2/schemas/image",
    });
    if let Value::Object(core) = core {
        m.extend(core);
    }
    // With several stores, each location names its store; `stores` lists them.
    let stores: Vec<&str> = image
        .locations
        .iter()
        .filter_map(|l| l.metadata.get("store").and_then(Value::as_str))
        .collect();
    if !stores.is_empty() {
        m.insert("stores".into(), Value::String(stores.join(",")));
    }
    if settings.direct_url_shown
        && let Some(first) = image.locations.first()
    {
        m.insert("direct_url".into(), Value::String(first.url.clone()));
    }
    if show_locations {
        m.insert(
            "locations".into(),
            serde_json::to_value(&image.locations).unwrap_or(Value::Array(Vec::new())),
        );
    }
    Value::Object(m)
}
