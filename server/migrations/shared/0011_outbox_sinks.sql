-- Where a notification goes: `amqp` (the broker) or `webhook:<id>` (one row per destination).
-- Each sink is sent by the holder of its own lease, so one that is down holds up no other.
ALTER TABLE notification_outbox ADD COLUMN sink TEXT NOT NULL DEFAULT 'amqp';
CREATE INDEX notification_outbox_sink ON notification_outbox (sink, id);
