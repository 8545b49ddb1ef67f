-- The servers sharing this database, and when each last said it was alive. An upload owned by a
-- server that has gone quiet is put back to `queued` by the others.
CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
