-- Metadata definitions: namespaces with their properties, objects and tags, resource types and
-- the namespaces associated with them.
CREATE TABLE metadef_namespaces (
    id           TEXT PRIMARY KEY NOT NULL,
    namespace    TEXT NOT NULL UNIQUE,
    display_name TEXT,
    description  TEXT,
    visibility   TEXT NOT NULL,
    protected    BIGINT NOT NULL DEFAULT 0,
    owner        TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT
);
CREATE INDEX metadef_namespaces_owner ON metadef_namespaces (owner);

-- Properties, objects and tags of a namespace: `kind` says which, `body` holds the definition
-- as JSON (a property's schema, an object's description, required list and properties).
CREATE TABLE metadef_entries (
    namespace_id TEXT NOT NULL REFERENCES metadef_namespaces (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT,
    PRIMARY KEY (namespace_id, kind, name)
);

CREATE TABLE metadef_resource_types (
    name       TEXT PRIMARY KEY NOT NULL,
    protected  BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);

CREATE TABLE metadef_associations (
    namespace_id      TEXT NOT NULL REFERENCES metadef_namespaces (id) ON DELETE CASCADE,
    resource_type     TEXT NOT NULL REFERENCES metadef_resource_types (name),
    prefix            TEXT,
    properties_target TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT,
    PRIMARY KEY (namespace_id, resource_type)
);
CREATE INDEX metadef_associations_type ON metadef_associations (resource_type);
