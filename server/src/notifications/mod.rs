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
mod webhook;

use std::sync::Arc;

use glint_core::{PropertyProtections, Settings};
use tokio::sync::{Notify, mpsc};

use crate::config::{NotificationDriver, NotificationSettings};
use crate::db::{Db, Outgoing, Queued};
use crate::events::{Event, Events};

/// The outbox sink of the RabbitMQ drivers.
const AMQP: &str = "amqp";

/// Turns events into notifications.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    settings: NotificationSettings,
    /// What planning needs, to show a payload's properties as the receiving service may read
    /// them (an administrator's view, under the property protections).
    plan_settings: Arc<Settings>,
    protections: Option<Arc<PropertyProtections>>,
    /// Where each notification goes through the outbox: the broker, each webhook.
    sinks: Vec<String>,
}

/// A webhook's outbox sink: named by a digest of its URL (which may hold credentials).
fn webhook_sink(url: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(url.as_bytes());
    format!("webhook:{}", crate::hashing::hex(&digest[..8]))
}

impl Notifier {
    pub(crate) fn new(
        settings: NotificationSettings,
        plan_settings: Arc<Settings>,
        protections: Option<Arc<PropertyProtections>>,
    ) -> Notifier {
        let broker = settings.driver.uses_broker().then(|| AMQP.to_string());
        let hooks = settings.webhooks.iter().map(|u| webhook_sink(u));
        Notifier {
            sinks: broker.into_iter().chain(hooks).collect(),
            settings,
            plan_settings,
            protections,
        }
    }

    /// Whether notifications go through the outbox (the RabbitMQ drivers, webhooks).
    pub(crate) fn uses_outbox(&self) -> bool {
        !self.sinks.is_empty()
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

    /// The outbox rows of an event's notifications: one per notification and sink, disabled
    /// ones left out.
    pub(crate) fn notifications(&self, event: &Event) -> Vec<Outgoing> {
        if self.sinks.is_empty() {
            return Vec::new();
        }
        let made = self.made(event);
        let mut rows = Vec::with_capacity(made.len() * self.sinks.len());
        for o in made {
            for sink in &self.sinks {
                rows.push(Outgoing {
                    sink: sink.clone(),
                    ..o.clone()
                });
            }
        }
        rows
    }

    /// The notifications an event makes, disabled ones left out.
    fn made(&self, event: &Event) -> Vec<Outgoing> {
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
                sink: String::new(),
            })
            .collect()
    }
}

/// Tells events that have no transaction of their own to join: their notifications (with a
/// notifier that uses the outbox) are written first, in one write, awaited, so they keep their
/// place among the ones before and after; then the events are emitted, in order.
pub(crate) async fn tell(db: &Db, notifier: Option<&Notifier>, events: &Events, told: &[Event]) {
    if let Some(n) = notifier {
        let rows: Vec<Outgoing> = told.iter().flat_map(|e| n.notifications(e)).collect();
        if let Err(e) = db.enqueue(&rows).await {
            tracing::error!(
                events = told.len(),
                "cannot write to the notification outbox: {e}"
            );
        }
    }
    for event in told {
        events.emit(event);
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

/// Starts sending notifications as configured: log lines (`log`), and the outbox with a task
/// per sink that sends it (the broker, each webhook).
pub(crate) fn start(notifier: Notifier, db: Db, node: Arc<str>, events: &Events) {
    let settings = notifier.settings.clone();
    if settings.driver == NotificationDriver::Log {
        let publisher = settings.publisher_id.clone();
        let notifier = notifier.clone();
        events.subscribe(move |event| {
            for o in notifier.made(event) {
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
    if !notifier.uses_outbox() {
        return;
    }
    let mut wakers = Vec::new();
    if settings.driver.uses_broker() {
        match amqp::Broker::new(&settings) {
            Some(broker) => wakers.push(spawn_sender(&db, &node, broker)),
            None => tracing::error!("the notification transport URL is not a rabbit:// URL"),
        }
    }
    if let Some(secret) = &settings.webhook_secret {
        for url in &settings.webhooks {
            match webhook::Hook::new(url, webhook_sink(url), secret, &settings.publisher_id) {
                Ok(hook) => wakers.push(spawn_sender(&db, &node, hook)),
                Err(e) => tracing::error!("notification webhook: {e}"),
            }
        }
    }
    let wakers: Arc<[Arc<Notify>]> = wakers.into();
    let (tx, rx) = mpsc::unbounded_channel::<Vec<Outgoing>>();
    let wake = wakers.clone();
    events.subscribe(move |event| {
        if written_with_the_change(event) {
            // Written and committed: the senders look now rather than at their next round.
            wake.iter().for_each(|w| w.notify_one());
            return;
        }
        let batch = notifier.notifications(event);
        if !batch.is_empty() && tx.send(batch).is_err() {
            tracing::error!("the notification outbox writer has stopped");
        }
    });
    tokio::spawn(write_outbox(db, rx, wakers));
}

/// One destination of the outbox.
trait Destination: Send + 'static {
    /// The sink of its outbox rows.
    fn sink(&self) -> &str;
    /// Sends a batch in order: the ids delivered (a prefix of the batch), and what stopped
    /// it, if anything did.
    fn deliver(
        &mut self,
        batch: &[Queued],
    ) -> impl std::future::Future<Output = (Vec<i64>, Option<String>)> + Send;
    /// Another server sends now: let go of connections.
    fn idle(&mut self) {}
}

/// How many notifications are read from the outbox at a time.
const BATCH: i64 = 200;
/// How long a sending server's lease lasts; it is renewed on every round.
const LEASE: std::time::Duration = std::time::Duration::from_secs(15);

/// Starts the task that sends a destination's outbox; returns what wakes it.
fn spawn_sender(db: &Db, node: &Arc<str>, destination: impl Destination) -> Arc<Notify> {
    let wake = Arc::new(Notify::new());
    tokio::spawn(send_outbox(
        db.clone(),
        node.clone(),
        destination,
        wake.clone(),
    ));
    wake
}

/// Sends a destination's outbox while this server holds its lease: oldest first, each row
/// removed once delivered; on a failure, after a pause that grows, what was not delivered is
/// sent again.
async fn send_outbox(db: Db, node: Arc<str>, mut to: impl Destination, wake: Arc<Notify>) {
    use std::time::Duration;
    // The broker's lease keeps its first name.
    let lease = match to.sink() {
        AMQP => "notifications".to_string(),
        sink => format!("notifications:{sink}"),
    };
    // The node's name: a server restarted under its name takes its lease back at once.
    let holder = node.to_string();
    let mut pause = Duration::from_millis(200);
    loop {
        match db
            .take_lease(&lease, &holder, LEASE.as_micros() as i64)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                // Another server sends; look again before its lease would run out.
                to.idle();
                tokio::time::sleep(LEASE / 3).await;
                continue;
            }
            Err(e) => {
                tracing::warn!("cannot take the {lease} lease: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        let batch = match db.outbox(to.sink(), BATCH).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("cannot read the notification outbox: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            // New rows wake this; other servers' rows are looked for every second.
            let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
            continue;
        }
        let (sent, failed) = to.deliver(&batch).await;
        if let Err(e) = db.sent(&sent).await {
            tracing::warn!("cannot remove sent notifications from the outbox: {e}");
        }
        match failed {
            Some(e) => {
                tracing::warn!(
                    sink = to.sink(),
                    "notifications: {e}; {} wait, trying again in {pause:?}",
                    batch.len() - sent.len()
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
            None => pause = Duration::from_millis(200),
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

/// Writes notifications to the outbox in the order the events came, and wakes the senders.
async fn write_outbox(
    db: Db,
    mut rx: mpsc::UnboundedReceiver<Vec<Outgoing>>,
    wakers: Arc<[Arc<Notify>]>,
) {
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
        wakers.iter().for_each(|w| w.notify_one());
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
                webhooks: Vec::new(),
                webhook_secret: None,
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
        assert_eq!(notifier(&[]).made(&sent(10)).len(), 1);
        assert!(notifier(&["image.send"]).made(&sent(10)).is_empty());
        assert!(notifier(&["image"]).made(&sent(10)).is_empty());
        assert_eq!(notifier(&["image.update", "task"]).made(&sent(10)).len(), 1);
    }

    /// A download cut short is an error, as Glance reports it.
    #[test]
    fn a_short_send_is_an_error() {
        let full = &notifier(&[]).made(&sent(10))[0];
        let short = &notifier(&[]).made(&sent(4))[0];
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
