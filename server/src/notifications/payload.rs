//! Glance's notification payloads, field for field (`glance/notifier.py`), from the domain's
//! events. An image's payload never has its locations, and shows its properties as the
//! receiving service may read them. Beyond Glance, `image.update` carries the keys its plan
//! added, changed and removed.

use glint_core::{Image, Plan, PlanContext};
use serde_json::{Value, json};

use crate::db::{Member, Task};
use crate::events::Event;
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
    }
}
