-- Accounts: projects, users, their roles in projects, and API tokens (stored hashed).
CREATE TABLE projects (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    default_project TEXT NOT NULL REFERENCES projects (id),
    enabled         BIGINT NOT NULL DEFAULT 1,
    created_at      BIGINT NOT NULL
);

-- The roles (comma-separated: admin, member, reader) a user holds in a project.
CREATE TABLE assignments (
    user_id    TEXT NOT NULL REFERENCES users (id),
    project_id TEXT NOT NULL REFERENCES projects (id),
    roles      TEXT NOT NULL,
    PRIMARY KEY (user_id, project_id)
);

CREATE TABLE tokens (
    hash        TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    project_id  TEXT NOT NULL REFERENCES projects (id),
    description TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tokens_user ON tokens (user_id);
