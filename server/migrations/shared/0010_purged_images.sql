-- The ids of images purged from the database: none can be used again, so an id users boot from
-- never names a different image (OSSN-0075).
CREATE TABLE purged_images (
    id        TEXT PRIMARY KEY NOT NULL,
    purged_at BIGINT NOT NULL
);
