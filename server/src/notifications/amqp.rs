//! Sending the outbox to RabbitMQ as oslo.messaging's rabbit driver does: a topic exchange
//! (`glance`), routing key `<topic>.<priority>`, a queue of that name declared and bound so that
//! nothing is lost before a consumer comes, each message confirmed by the broker before its
//! outbox row goes.

use crate::config::{NotificationDriver, NotificationSettings};
use crate::db::Queued;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

/// Why sending stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("the broker: {0}")]
    Broker(#[from] lapin::Error),
    /// The broker answered a publish with a nack.
    #[error("the broker refused a notification")]
    Refused,
    #[error("no broker host could be reached: {0}")]
    Unreachable(String),
}

/// An oslo.messaging `transport_url` (`rabbit://user:pass@host:port[,user:pass@host2:port]/vhost`)
/// as the AMQP URIs of its hosts, tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransportUrl {
    pub(crate) uris: Vec<String>,
}

impl TransportUrl {
    pub(crate) fn parse(url: &str) -> Option<TransportUrl> {
        let rest = url.strip_prefix("rabbit://")?;
        let (hosts, vhost) = match rest.split_once('/') {
            Some((hosts, vhost)) => (hosts, vhost.split('?').next().unwrap_or_default()),
            None => (rest, ""),
        };
        // The default virtual host is `/`, which an AMQP URI writes `%2f`.
        let vhost = match vhost {
            "" => "%2f",
            v => v,
        };
        let uris: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| format!("amqp://{h}/{vhost}"))
            .collect();
        (!uris.is_empty()).then_some(TransportUrl { uris })
    }
}

/// A connection and its confirming channel, with the exchange declared.
struct Link {
    _connection: Connection,
    channel: Channel,
    /// The `<topic>.<priority>` queues declared on this connection.
    declared: std::collections::BTreeSet<String>,
}

async fn connect(url: &TransportUrl, settings: &NotificationSettings) -> Result<Link, SendError> {
    let mut last = String::from("no host");
    for uri in &url.uris {
        let properties =
            ConnectionProperties::default().with_connection_name("glint-notifications".into());
        let connection = match Connection::connect(uri, properties).await {
            Ok(c) => c,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        // As oslo.messaging declares it (not durable, not auto-deleted), so both can.
        channel
            .exchange_declare(
                settings.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await?;
        return Ok(Link {
            _connection: connection,
            channel,
            declared: Default::default(),
        });
    }
    Err(SendError::Unreachable(last))
}

impl Link {
    /// Declares and binds the `<topic>.<priority>` queue once per connection, as oslo.messaging
    /// does before its first notification there.
    async fn declare(
        &mut self,
        settings: &NotificationSettings,
        key: &str,
    ) -> Result<(), SendError> {
        if self.declared.contains(key) {
            return Ok(());
        }
        self.channel
            .queue_declare(
                key.into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.channel
            .queue_bind(
                key.into(),
                settings.exchange.as_str().into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.declared.insert(key.to_string());
        Ok(())
    }

    /// Publishes a batch to every topic, then waits for the broker's confirms; returns the ids
    /// confirmed, a prefix of the batch, and the error that stopped it, if any.
    async fn publish(
        &mut self,
        settings: &NotificationSettings,
        batch: &[Queued],
    ) -> (Vec<i64>, Option<SendError>) {
        let mut pending = Vec::with_capacity(batch.len());
        let mut failed = None;
        'publish: for queued in batch {
            let message = super::message(&queued.outgoing, &settings.publisher_id);
            let body = match settings.driver {
                NotificationDriver::Messaging => message.to_string(),
                _ => serde_json::json!({
                    "oslo.version": "2.0",
                    "oslo.message": message.to_string(),
                })
                .to_string(),
            };
            let priority = queued.outgoing.priority.to_ascii_lowercase();
            let mut confirms = Vec::with_capacity(settings.topics.len());
            for topic in &settings.topics {
                let key = format!("{topic}.{priority}");
                if let Err(e) = self.declare(settings, &key).await {
                    failed = Some(e);
                    break 'publish;
                }
                let published = self
                    .channel
                    .basic_publish(
                        settings.exchange.as_str().into(),
                        key.as_str().into(),
                        BasicPublishOptions::default(),
                        body.as_bytes(),
                        BasicProperties::default()
                            .with_content_type("application/json".into())
                            .with_content_encoding("utf-8".into())
                            .with_delivery_mode(2),
                    )
                    .await;
                match published {
                    Ok(confirm) => confirms.push(confirm),
                    Err(e) => {
                        failed = Some(e.into());
                        break 'publish;
                    }
                }
            }
            pending.push((queued.id, confirms));
        }
        // Confirms come in order; a row counts as sent once every topic confirmed it.
        let mut sent = Vec::with_capacity(pending.len());
        for (id, confirms) in pending {
            for confirm in confirms {
                match confirm.await {
                    Ok(c) if c.is_ack() => {}
                    Ok(_) => return (sent, Some(SendError::Refused)),
                    Err(e) => return (sent, Some(e.into())),
                }
            }
            sent.push(id);
        }
        (sent, failed)
    }
}

/// The broker as a destination of the outbox: one connection, made again after any failure.
pub(super) struct Broker {
    url: TransportUrl,
    settings: NotificationSettings,
    link: Option<Link>,
}

impl Broker {
    /// `None` when the settings' transport URL is not a `rabbit://` URL.
    pub(super) fn new(settings: &NotificationSettings) -> Option<Broker> {
        let url = TransportUrl::parse(settings.transport_url.as_deref()?)?;
        Some(Broker {
            url,
            settings: settings.clone(),
            link: None,
        })
    }
}

impl super::Destination for Broker {
    fn sink(&self) -> &str {
        super::AMQP
    }

    async fn deliver(&mut self, batch: &[Queued]) -> (Vec<i64>, Option<String>) {
        if self.link.is_none() {
            match connect(&self.url, &self.settings).await {
                Ok(l) => {
                    tracing::info!("notifications: connected to the broker");
                    self.link = Some(l);
                }
                Err(e) => return (Vec::new(), Some(format!("cannot reach the broker ({e})"))),
            }
        }
        let (sent, failed) = match self.link.as_mut() {
            Some(l) => l.publish(&self.settings, batch).await,
            None => (Vec::new(), None),
        };
        let failed = failed.map(|e| {
            // The next round connects again.
            self.link = None;
            format!("sending to the broker failed ({e})")
        });
        (sent, failed)
    }

    fn idle(&mut self) {
        self.link = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_urls_are_oslo_messagings() {
        let one = TransportUrl::parse("rabbit://guest:guest@127.0.0.1:5672/").expect("a URL");
        assert_eq!(one.uris, ["amqp://guest:guest@127.0.0.1:5672/%2f"]);
        let two =
            TransportUrl::parse("rabbit://u:p@a:5672,u:p@b:5673/openstack?ssl=0").expect("a URL");
        assert_eq!(
            two.uris,
            ["amqp://u:p@a:5672/openstack", "amqp://u:p@b:5673/openstack"]
        );
        assert_eq!(TransportUrl::parse("kafka://h:9092/"), None);
        assert_eq!(TransportUrl::parse("rabbit:///"), None);
    }
}
