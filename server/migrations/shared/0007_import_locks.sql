-- One import at a time per image: the task holding the lock and the server running it
-- (`owner` is `<node>/<token>`, so the locks of a server that went quiet can be released).
CREATE TABLE image_import_locks (
    image_id TEXT PRIMARY KEY NOT NULL,
    task_id  TEXT NOT NULL,
    owner    TEXT NOT NULL,
    taken_at BIGINT NOT NULL
);
