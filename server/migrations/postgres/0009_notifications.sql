-- Notifications waiting to be sent, in the order they happened; a row goes once the broker
-- confirms it. One server at a time sends them: the holder of the `notifications` lease.
CREATE TABLE notification_outbox (
    id         BIGSERIAL PRIMARY KEY,
    event_type TEXT NOT NULL,
    priority   TEXT NOT NULL,
    payload    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
