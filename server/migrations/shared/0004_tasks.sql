-- Tasks: one per import, so its progress and the reason it failed can be read back.
CREATE TABLE tasks (
    id         TEXT PRIMARY KEY NOT NULL,
    type       TEXT NOT NULL,
    status     TEXT NOT NULL,
    owner      TEXT,
    image_id   TEXT,
    request_id TEXT,
    user_id    TEXT,
    input      TEXT NOT NULL,
    result     TEXT,
    message    TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX tasks_image ON tasks (image_id, created_at);
CREATE INDEX tasks_owner ON tasks (owner, created_at);
