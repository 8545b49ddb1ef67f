//! Notifications as Glance sends them, for the services that watch and bill an image service
//! (Ceilometer's `image.size`, `image.download` and `image.serve` meters come from them).
//!
//! A subscriber to the domain's events turns each event into Glance's event types and payloads
//! (`payload`), leaves out the disabled ones (`disabled_notifications`: types or groups), and
//! either logs them (`log`) or writes them, in order, to the outbox table: an image's create,
//! update, delete and new data in the change's own transaction (the image operations ask for
//! them), sharing and tasks awaited where they happen, downloads as their stream ends; one
//! server at a time
//! (the holder of the `notifications` lease) sends the outbox to RabbitMQ and removes what the
//! broker confirmed (`amqp`). A broker that is down or drops the connection loses nothing: the
//! rows wait, and what was sent but not confirmed is sent again (consumers tell repeats by
//! `message_id`).

mod amqp;
mod payload;

use std::sync::Arc;

use glint_core::{PropertyProtections, Settings};
use tokio::sync::{Notify, mpsc};

use crate::config::{NotificationDriver, NotificationSettings};
use crate::db::{Db, Outgoing};
use crate::events::{Event, Events};

/// Turns events into notifications.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    settings: NotificationSettings,
    /// What planning needs, to show a payload's properties as the receiving service may read
    /// them (an administrator's view, under the property protections).
    plan_settings: Arc<Settings>,
    protections: Option<Arc<PropertyProtections>>,
}

impl Notifier {
    pub(crate) fn new(
        settings: NotificationSettings,
        plan_settings: Arc<Settings>,
        protections: Option<Arc<PropertyProtections>>,
    ) -> Notifier {
        Notifier {
            settings,
            plan_settings,
            protections,
        }
    }

    /// Whether notifications go through the outbox (the RabbitMQ drivers).
    pub(crate) fn uses_outbox(&self) -> bool {
        self.settings.driver.uses_broker()
    }

    /// Whether an event type is sent: neither it nor its group (`image` of `image.update`) is
    /// disabled.
    fn enabled(&self, event_type: &str) -> bool {
        let group = event_type.split('.').next().unwrap_or(event_type);
        !self
            .settings
            .disabled
            .iter()
            .any(|d| d == event_type || d == group)
    }

    /// The notifications an event makes, disabled ones left out.
    pub(crate) fn notifications(&self, event: &Event) -> Vec<Outgoing> {
        let receiver = crate::access::notification_receiver();
        let ctx = glint_core::PlanContext::new(&receiver, &self.plan_settings);
        let ctx = match &self.protections {
            Some(p) => ctx.with_protections(p),
            None => ctx,
        };
        let now = crate::time::now_micros();
        payload::for_event(event, &ctx, now)
            .into_iter()
            .filter(|(event_type, _, _)| self.enabled(event_type))
            .map(|(event_type, priority, payload)| Outgoing {
                event_type: event_type.to_string(),
                priority: priority.to_string(),
                payload,
                message_id: uuid::Uuid::new_v4().to_string(),
                created_at: now,
            })
            .collect()
    }
}

/// The oslo.messaging message of a notification: what the `messaging` driver sends as the
/// body, and the `messagingv2` driver wraps.
pub(crate) fn message(o: &Outgoing, publisher_id: &str) -> serde_json::Value {
    serde_json::json!({
        "message_id": o.message_id,
        "publisher_id": publisher_id,
        "event_type": o.event_type,
        "priority": o.priority,
        "payload": o.payload,
        "timestamp": crate::time::format_oslo(o.created_at),
    })
}

/// Starts sending notifications as configured: nothing (`noop`), log lines, or the outbox and
/// the task that sends it to RabbitMQ.
pub(crate) fn start(notifier: Notifier, db: Db, node: Arc<str>, events: &Events) {
    let settings = notifier.settings.clone();
    match settings.driver {
        NotificationDriver::Noop => {}
        NotificationDriver::Log => {
            let publisher = settings.publisher_id.clone();
            events.subscribe(move |event| {
                for o in notifier.notifications(event) {
                    tracing::info!(
                        target: "glint::notifications",
                        event_type = %o.event_type,
                        priority = %o.priority,
                        "{}",
                        message(&o, &publisher)
                    );
                }
            });
        }
        NotificationDriver::Messagingv2 | NotificationDriver::Messaging => {
            let (tx, rx) = mpsc::unbounded_channel::<Vec<Outgoing>>();
            events.subscribe(move |event| {
                if written_with_the_change(event) {
                    return;
                }
                let batch = notifier.notifications(event);
                if !batch.is_empty() && tx.send(batch).is_err() {
                    tracing::error!("the notification outbox writer has stopped");
                }
            });
            let wake = Arc::new(Notify::new());
            tokio::spawn(write_outbox(db.clone(), rx, wake.clone()));
            tokio::spawn(amqp::send_outbox(db, node, settings, wake));
        }
    }
}

/// The events whose notifications the image and data operations write to the outbox themselves:
/// in the transaction of the change they tell (a create, an update, a delete, data that became
/// the image's), or awaited where they happen (sharing, tasks, `image.prepare`); every one but
/// a download's `image.send`, which a stream tells as it ends.
fn written_with_the_change(event: &Event) -> bool {
    !matches!(event, Event::Sent { .. })
}

/// Writes notifications to the outbox in the order the events came, and wakes the sender.
async fn write_outbox(db: Db, mut rx: mpsc::UnboundedReceiver<Vec<Outgoing>>, wake: Arc<Notify>) {
    while let Some(mut batch) = rx.recv().await {
        // What came meanwhile goes in the same transaction.
        while let Ok(more) = rx.try_recv() {
            batch.extend(more);
        }
        let mut delay = std::time::Duration::from_millis(100);
        while let Err(e) = db.enqueue(&batch).await {
            tracing::error!("cannot write notifications to the outbox (trying again): {e}");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(10));
        }
        wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::By;

    fn notifier(disabled: &[&str]) -> Notifier {
        Notifier::new(
            NotificationSettings {
                driver: NotificationDriver::Log,
                transport_url: None,
                topics: vec!["notifications".into()],
                exchange: "glance".into(),
                disabled: disabled.iter().map(|d| d.to_string()).collect(),
                publisher_id: "image.test".into(),
            },
            Arc::new(Settings::default()),
            None,
        )
    }

    fn sent(bytes_sent: u64) -> Event {
        Event::Sent {
            image_id: "i".into(),
            owner: Some("p1".into()),
            bytes_sent,
            expected: 10,
            by: By {
                project_id: Some("p2".into()),
                user_id: Some("u2".into()),
                request_id: "r".into(),
            },
        }
    }

    /// `disabled_notifications` names event types or their groups, as Glance reads it.
    #[test]
    fn disabled_types_and_groups_are_not_sent() {
        assert_eq!(notifier(&[]).notifications(&sent(10)).len(), 1);
        assert!(
            notifier(&["image.send"])
                .notifications(&sent(10))
                .is_empty()
        );
        assert!(notifier(&["image"]).notifications(&sent(10)).is_empty());
        assert_eq!(
            notifier(&["image.update", "task"])
                .notifications(&sent(10))
                .len(),
            1
        );
    }

    /// A download cut short is an error, as Glance reports it.
    #[test]
    fn a_short_send_is_an_error() {
        let full = &notifier(&[]).notifications(&sent(10))[0];
        let short = &notifier(&[]).notifications(&sent(4))[0];
        assert_eq!(
            (full.priority.as_str(), short.priority.as_str()),
            ("INFO", "ERROR")
        );
        assert_eq!(short.payload["bytes_sent"], 4);
        assert_eq!(short.payload["receiver_tenant_id"], "p2");
        let message = message(short, "image.test");
        assert_eq!(message["publisher_id"], "image.test");
        let stamp = message["timestamp"].as_str().unwrap_or_default();
        assert_eq!(
            (stamp.len(), &stamp[10..11], &stamp[19..20]),
            (26, " ", ".")
        );
    }
}
