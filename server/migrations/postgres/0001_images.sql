-- Images and everything that hangs off them. Times are microseconds since the Unix epoch;
-- flags are 0 or 1 (one representation for both databases).
CREATE TABLE images (
    id               TEXT PRIMARY KEY NOT NULL,
    name             TEXT,
    status           TEXT NOT NULL,
    visibility       TEXT NOT NULL,
    protected        BIGINT NOT NULL DEFAULT 0,
    os_hidden        BIGINT NOT NULL DEFAULT 0,
    owner            TEXT,
    disk_format      TEXT,
    container_format TEXT,
    min_disk         BIGINT NOT NULL DEFAULT 0,
    min_ram          BIGINT NOT NULL DEFAULT 0,
    size             BIGINT,
    virtual_size     BIGINT,
    checksum         TEXT,
    os_hash_algo     TEXT,
    os_hash_value    TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    deleted          BIGINT NOT NULL DEFAULT 0,
    deleted_at       BIGINT,
    -- Bumped by every change; the ETag and the guard against lost updates.
    version          BIGINT NOT NULL DEFAULT 1,
    -- While data is being written: which server process writes it, and since when.
    upload_owner     TEXT,
    upload_started   BIGINT
);
CREATE INDEX images_list_created ON images (deleted, created_at, id);
CREATE INDEX images_list_updated ON images (deleted, updated_at, id);
CREATE INDEX images_list_name ON images (deleted, name, id);
CREATE INDEX images_owner ON images (owner, deleted);
CREATE INDEX images_visibility ON images (visibility, deleted);
CREATE INDEX images_status ON images (status);

CREATE TABLE image_properties (
    image_id   TEXT NOT NULL REFERENCES images (id),
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted    BIGINT NOT NULL DEFAULT 0,
    deleted_at BIGINT,
    PRIMARY KEY (image_id, name)
);
CREATE INDEX image_properties_lookup ON image_properties (name, image_id);

CREATE TABLE image_tags (
    image_id   TEXT NOT NULL REFERENCES images (id),
    value      TEXT NOT NULL,
    position   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (image_id, value)
);
CREATE INDEX image_tags_value ON image_tags (value);

CREATE TABLE image_locations (
    image_id   TEXT NOT NULL REFERENCES images (id),
    position   BIGINT NOT NULL,
    url        TEXT NOT NULL,
    metadata   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (image_id, position)
);

CREATE TABLE image_members (
    image_id   TEXT NOT NULL REFERENCES images (id),
    member     TEXT NOT NULL,
    status     TEXT NOT NULL,
    can_share  BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (image_id, member)
);
CREATE INDEX image_members_member ON image_members (member, status);

-- One row per applied plan: who changed which properties, when, through which request.
CREATE TABLE property_changes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    image_id    TEXT NOT NULL REFERENCES images (id),
    changed_at  BIGINT NOT NULL,
    request_id  TEXT NOT NULL,
    user_id     TEXT,
    project_id  TEXT,
    action      TEXT NOT NULL,
    plan        TEXT NOT NULL
);
CREATE INDEX property_changes_image ON property_changes (image_id, id);
