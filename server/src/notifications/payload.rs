//! Glance's notification payloads, field for field (`glance/notifier.py`), from the domain's
//! events. An image's payload never has its locations, and shows its properties as the
//! receiving service may read them. Beyond Glance, `image.update` carries the keys its plan
//! added, changed and removed.

use glint_core::{Image, Plan, PlanContext};
use serde_json::{Value, json};

use crate::db::metadefs::Kind;
use crate::db::{Member, Task};
use crate::events::{Definition, DefinitionChange, Event};
use crate::time;

/// `INFO`, as oslo.messaging writes a priority in a message.
const INFO: &str = "INFO";
const ERROR: &str = "ERROR";

/// Glance's `format_image_notification`.
fn image(image: &Image, ctx: &PlanContext<'_>) -> Value {
    let shown = glint_core::readable(image, ctx);
    json!({
        "id": shown.id,
        "name": shown.name,
        "status": shown.status.as_str(),
        "created_at": shown.created_at,
        "updated_at": shown.updated_at,
        "min_disk": shown.min_disk,
        "min_ram": shown.min_ram,
        "protected": shown.protected,
        "checksum": shown.checksum,
        "owner": shown.owner,
        "disk_format": shown.disk_format,
        "container_format": shown.container_format,
        "size": shown.size,
        "virtual_size": shown.virtual_size,
        "is_public": shown.visibility.as_str() == "public",
        "visibility": shown.visibility.as_str(),
        "properties": shown.properties,
        "tags": shown.tags,
        "deleted": false,
        "deleted_at": null,
    })
}

/// The keys a plan added, changed and removed, as the receiver may read them.
fn plan_keys(plan: &Plan, ctx: &PlanContext<'_>) -> Value {
    let shown = glint_core::readable_plan(plan, ctx);
    json!({
        "added": shown.added.keys().collect::<Vec<_>>(),
        "changed": shown.changed.keys().collect::<Vec<_>>(),
        "removed": shown.removed.keys().collect::<Vec<_>>(),
    })
}

/// Glance's `format_image_member_notification`.
fn member(m: &Member) -> Value {
    json!({
        "image_id": m.image_id,
        "member_id": m.member,
        "status": m.status,
        "created_at": time::format(m.created_at),
        "updated_at": time::format(m.updated_at),
        "deleted": false,
        "deleted_at": null,
    })
}

/// Glance's `format_task_notification` (its result and message are not sent).
fn task(t: &Task) -> Value {
    json!({
        "id": t.id,
        "type": t.kind,
        "status": t.status,
        "result": null,
        "owner": t.owner,
        "message": null,
        "expires_at": t.expires_at.map(time::format),
        "created_at": time::format(t.created_at),
        "updated_at": time::format(t.updated_at),
        "deleted": false,
        "deleted_at": null,
    })
}

/// The fields of a property schema a metadata definition notification names.
const SCHEMA_FIELDS: [&str; 15] = [
    "type",
    "title",
    "description",
    "default",
    "minimum",
    "maximum",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "confidential",
    "items",
    "uniqueItems",
    "minItems",
    "maxItems",
];

/// A property schema's fields (and `additionalItems`), each `null` when the schema has none.
fn schema_fields(out: &mut serde_json::Map<String, Value>, schema: &Value) {
    for field in SCHEMA_FIELDS.iter().chain(&["additionalItems"]) {
        out.insert(
            field.to_string(),
            schema.get(field).cloned().unwrap_or(Value::Null),
        );
    }
}

/// Glance's `format_metadef_*_notification`: the definition, with its old name (the same but
/// for a rename) beside its name.
fn definition(d: &Definition, old_name: &str) -> Value {
    let stamp = |t: Option<i64>| t.map(time::format);
    let mut o = serde_json::Map::new();
    match d {
        Definition::Namespace(ns) => {
            o.insert("namespace".into(), json!(ns.namespace));
            o.insert("namespace_old".into(), json!(old_name));
            o.insert("display_name".into(), json!(ns.display_name));
            o.insert("protected".into(), json!(ns.protected));
            o.insert("visibility".into(), json!(ns.visibility));
            o.insert("owner".into(), json!(ns.owner));
            o.insert("description".into(), json!(ns.description));
            o.insert("created_at".into(), json!(time::format(ns.created_at)));
            o.insert("updated_at".into(), json!(stamp(ns.updated_at)));
        }
        Definition::Entry {
            namespace,
            kind,
            entry,
        } => {
            o.insert("namespace".into(), json!(namespace));
            o.insert("name".into(), json!(entry.name));
            o.insert("name_old".into(), json!(old_name));
            match kind {
                Kind::Property => schema_fields(&mut o, &entry.body),
                Kind::Object => {
                    let properties: Vec<Value> = entry
                        .body
                        .get("properties")
                        .and_then(Value::as_object)
                        .map(|props| {
                            props
                                .iter()
                                .map(|(name, schema)| {
                                    let mut p = serde_json::Map::new();
                                    p.insert("name".into(), json!(name));
                                    schema_fields(&mut p, schema);
                                    Value::Object(p)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    o.insert("properties".into(), Value::Array(properties));
                    let field = |k: &str| entry.body.get(k).cloned().unwrap_or(Value::Null);
                    o.insert("required".into(), field("required"));
                    o.insert("description".into(), field("description"));
                }
                Kind::Tag => {}
            }
            // A property's notification has no times in Glance's either.
            if *kind != Kind::Property {
                o.insert("created_at".into(), json!(time::format(entry.created_at)));
                o.insert("updated_at".into(), json!(stamp(entry.updated_at)));
            }
        }
        Definition::ResourceType {
            namespace,
            association,
        } => {
            o.insert("namespace".into(), json!(namespace));
            o.insert("name".into(), json!(association.name));
            o.insert("name_old".into(), json!(old_name));
            o.insert("prefix".into(), json!(association.prefix));
            o.insert(
                "properties_target".into(),
                json!(association.properties_target),
            );
            o.insert(
                "created_at".into(),
                json!(time::format(association.created_at)),
            );
            o.insert("updated_at".into(), json!(stamp(association.updated_at)));
        }
    }
    o.insert("deleted".into(), json!(false));
    o.insert("deleted_at".into(), Value::Null);
    Value::Object(o)
}

fn deleted(mut payload: Value, now: i64) -> Value {
    payload["deleted"] = json!(true);
    payload["deleted_at"] = json!(time::format(now));
    payload
}

/// The notifications of an event: event type, priority and payload, in the order Glance
/// sends them.
pub(super) fn for_event(
    event: &Event,
    ctx: &PlanContext<'_>,
    now: i64,
) -> Vec<(&'static str, &'static str, Value)> {
    let one = |event_type, payload| vec![(event_type, INFO, payload)];
    match event {
        Event::Created { image: i, .. } => one("image.create", image(i, ctx)),
        Event::Updated {
            after,
            plan,
            action,
            ..
        } => {
            let mut payload = image(after, ctx);
            payload["changes"] = plan_keys(plan, ctx);
            payload["changes"]["action"] = json!(action);
            one("image.update", payload)
        }
        Event::Deleted { image: i, .. } => {
            let mut gone = (**i).clone();
            gone.status = glint_core::Status::Deleted;
            one("image.delete", deleted(image(&gone, ctx), now))
        }
        Event::Prepared {
            image: i, stores, ..
        } => {
            let mut payload = image(i, ctx);
            let listed = |key: &str| -> Vec<String> {
                i.properties
                    .get(key)
                    .map(|v| {
                        v.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            payload["os_glance_importing_to_stores"] =
                json!(listed("os_glance_importing_to_stores"));
            payload["os_glance_failed_import"] = json!(listed("os_glance_failed_import"));
            if let Some(first) = stores.first() {
                payload["backend"] = json!(first);
            }
            one("image.prepare", payload)
        }
        Event::Uploaded { image: i, .. } => one("image.upload", image(i, ctx)),
        Event::Activated { image: i, .. } => one("image.activate", image(i, ctx)),
        Event::Sent {
            image_id,
            owner,
            bytes_sent,
            expected,
            by,
        } => {
            let priority = if bytes_sent < expected { ERROR } else { INFO };
            vec![(
                "image.send",
                priority,
                json!({
                    "bytes_sent": bytes_sent,
                    "image_id": image_id,
                    "owner_id": owner,
                    "receiver_tenant_id": by.project_id,
                    "receiver_user_id": by.user_id,
                }),
            )]
        }
        Event::MemberCreated { member: m, .. } => one("image.member.create", member(m)),
        Event::MemberUpdated { member: m, .. } => one("image.member.update", member(m)),
        Event::MemberDeleted { member: m, .. } => {
            one("image.member.delete", deleted(member(m), now))
        }
        Event::TaskCreated { task: t, .. } => {
            let payload = task(t);
            vec![
                ("task.create", INFO, payload.clone()),
                ("task.run", INFO, payload.clone()),
                ("task.processing", INFO, payload),
            ]
        }
        Event::TaskEnded { task: t, .. } => match t.status.as_str() {
            "success" => one("task.success", task(t)),
            _ => one("task.failure", task(t)),
        },
        Event::TaskDeleted { task: t, .. } => one("task.delete", deleted(task(t), now)),
        Event::Metadef {
            definition: d,
            change,
            ..
        } => {
            let old_name = match change {
                DefinitionChange::Updated { old_name } => old_name.as_str(),
                _ => d.name(),
            };
            let payload = definition(d, old_name);
            let payload = match change {
                DefinitionChange::Deleted => deleted(payload, now),
                _ => payload,
            };
            one(event.name(), payload)
        }
    }
}
