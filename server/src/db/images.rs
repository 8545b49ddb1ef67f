//! Image rows, their properties, tags and locations, and the record of property changes.

use std::collections::BTreeMap;

use glint_core::{Image, Location, Plan, Status, Visibility};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::sql::Sql;
use super::{Backend, Db, DbError, is_unique_violation};
use crate::time;

/// An image as stored, with its concurrency version.
#[derive(Debug, Clone)]
pub(crate) struct StoredImage {
    pub(crate) image: Image,
    /// Bumped by every write; the ETag.
    pub(crate) version: i64,
    pub(crate) created_micros: i64,
    pub(crate) updated_micros: i64,
}

/// Who made a change, and through which request.
#[derive(Clone, Copy)]
pub(crate) struct ChangeRecord<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) user_id: Option<&'a str>,
    pub(crate) project_id: Option<&'a str>,
    pub(crate) action: &'a str,
    /// The notifications the change makes, from the image as written: they go to the outbox
    /// in the change's own transaction.
    pub(crate) announce: Option<Announce<'a>>,
}

impl std::fmt::Debug for ChangeRecord<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeRecord")
            .field("request_id", &self.request_id)
            .field("user_id", &self.user_id)
            .field("project_id", &self.project_id)
            .field("action", &self.action)
            .field("announce", &self.announce.is_some())
            .finish()
    }
}

/// Makes a change's notifications from the image as written.
pub(crate) type Announce<'a> = &'a (dyn Fn(&StoredImage) -> Vec<super::Outgoing> + Send + Sync);

/// One property row, live or soft-deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PropertyRow {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) deleted: bool,
    pub(crate) deleted_at: Option<i64>,
    pub(crate) updated_at: i64,
}

/// One stored change record.
#[derive(Debug, Clone)]
pub(crate) struct ChangeRow {
    pub(crate) id: i64,
    pub(crate) changed_at: i64,
    pub(crate) request_id: String,
    pub(crate) user_id: Option<String>,
    pub(crate) project_id: Option<String>,
    pub(crate) action: String,
    pub(crate) plan: Plan,
}

/// What a finished upload sets.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub(crate) size: u64,
    pub(crate) checksum: String,
    pub(crate) os_hash_algo: String,
    pub(crate) os_hash_value: String,
    pub(crate) virtual_size: Option<u64>,
    /// Where the data was written: one location per store.
    pub(crate) locations: Vec<Location>,
    /// The `disk_format` and `container_format` the data has when an import converted it.
    pub(crate) formats: Option<(String, String)>,
}

const SQLITE_IMAGE_COLUMNS: &str = "id, name, status, visibility, protected, os_hidden, owner, \
    disk_format, container_format, min_disk, min_ram, size, virtual_size, checksum, \
    os_hash_algo, os_hash_value, created_at, updated_at, version, \
    (SELECT json_group_object(p.name, p.value) FROM image_properties p \
        WHERE p.image_id = images.id AND p.deleted = 0) AS properties_json, \
    (SELECT json_group_array(t.value) FROM (SELECT value FROM image_tags \
        WHERE image_id = images.id ORDER BY position) t) AS tags_json, \
    (SELECT json_group_array(json_object('url', l.url, 'metadata', json(l.metadata))) \
        FROM (SELECT url, metadata FROM image_locations WHERE image_id = images.id \
        ORDER BY position) l) AS locations_json";

const POSTGRES_IMAGE_COLUMNS: &str = "id, name, status, visibility, protected, os_hidden, owner, \
    disk_format, container_format, min_disk, min_ram, size, virtual_size, checksum, \
    os_hash_algo, os_hash_value, created_at, updated_at, version, \
    (SELECT CAST(COALESCE(json_object_agg(p.name, p.value), '{}') AS TEXT) \
        FROM image_properties p WHERE p.image_id = images.id AND p.deleted = 0) AS properties_json, \
    (SELECT CAST(COALESCE(json_agg(t.value ORDER BY t.position), '[]') AS TEXT) \
        FROM image_tags t WHERE t.image_id = images.id) AS tags_json, \
    (SELECT CAST(COALESCE(json_agg(json_build_object('url', l.url, 'metadata', \
        CAST(l.metadata AS JSON)) ORDER BY l.position), '[]') AS TEXT) \
        FROM image_locations l WHERE l.image_id = images.id) AS locations_json";

/// A create on PostgreSQL in one statement: the image (unless its id is a purged image's), its
/// properties ($18, a JSON object), tags ($19, an array), locations ($20, an array of `url` and
/// `metadata` as text), the change record ($21 to $25, none when $21 is NULL) and the outbox
/// rows ($26). Answers how many images it wrote (0: the id was purged).
const POSTGRES_CREATE: &str = "WITH img AS (\
    INSERT INTO images (id, name, status, visibility, protected, os_hidden, owner, disk_format, \
        container_format, min_disk, min_ram, size, virtual_size, checksum, os_hash_algo, \
        os_hash_value, created_at, updated_at, deleted, version) \
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, 0, 1 \
    WHERE NOT EXISTS (SELECT 1 FROM purged_images WHERE id = $1) RETURNING id), \
props AS (INSERT INTO image_properties (image_id, name, value, created_at, updated_at, deleted) \
    SELECT img.id, p.key, p.value, $17, $17, 0 FROM img, json_each_text(CAST($18 AS JSON)) p), \
tags AS (INSERT INTO image_tags (image_id, value, position, created_at) \
    SELECT img.id, t.value, t.n - 1, $17 \
    FROM img, json_array_elements_text(CAST($19 AS JSON)) WITH ORDINALITY AS t(value, n)), \
locs AS (INSERT INTO image_locations (image_id, position, url, metadata, created_at) \
    SELECT img.id, l.n - 1, l.item ->> 'url', l.item ->> 'metadata', $17 \
    FROM img, json_array_elements(CAST($20 AS JSON)) WITH ORDINALITY AS l(item, n)), \
change AS (INSERT INTO property_changes (image_id, changed_at, request_id, user_id, \
        project_id, action, plan) \
    SELECT img.id, $17, $22, $23, $24, $25, $21 FROM img WHERE $21 IS NOT NULL), \
outbox AS (INSERT INTO notification_outbox (event_type, priority, payload, message_id, \
        created_at, sink) \
    SELECT o.item ->> 'event_type', o.item ->> 'priority', o.item ->> 'payload', \
        o.item ->> 'message_id', CAST(o.item ->> 'created_at' AS BIGINT), o.item ->> 'sink' \
    FROM img, json_array_elements(CAST($26 AS JSON)) WITH ORDINALITY AS o(item, n) ORDER BY o.n) \
SELECT CAST(COUNT(*) AS BIGINT) FROM img";

/// The columns of an image's own attributes, in the order [`bind_attributes`] binds them.
pub(super) const ATTRIBUTE_COLUMNS: &str = "id, name, status, visibility, protected, os_hidden, \
    owner, disk_format, container_format, min_disk, min_ram, size, virtual_size, checksum, \
    os_hash_algo, os_hash_value";

/// Binds an image's attributes as parameters $1 to $16 (`ATTRIBUTE_COLUMNS`).
pub(super) fn bind_attributes<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    image: &'q Image,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(&image.id)
        .bind(&image.name)
        .bind(image.status.as_str())
        .bind(image.visibility.as_str())
        .bind(i64::from(image.protected))
        .bind(i64::from(image.os_hidden))
        .bind(&image.owner)
        .bind(&image.disk_format)
        .bind(&image.container_format)
        .bind(to_i64(image.min_disk))
        .bind(to_i64(image.min_ram))
        .bind(image.size.map(to_i64))
        .bind(image.virtual_size.map(to_i64))
        .bind(&image.checksum)
        .bind(&image.os_hash_algo)
        .bind(&image.os_hash_value)
}

/// What a project uses (`Db::project_usage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ProjectUsage {
    pub(crate) stored_bytes: u64,
    pub(crate) staged_bytes: u64,
    pub(crate) images: u64,
    pub(crate) uploading: u64,
}

pub(super) fn corrupt(what: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(what.to_string())
}

pub(super) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn from_row(row: &AnyRow) -> Result<StoredImage, DbError> {
    let status: String = row.try_get("status")?;
    let visibility: String = row.try_get("visibility")?;
    let created: i64 = row.try_get("created_at")?;
    let updated: i64 = row.try_get("updated_at")?;
    let u = |n: Option<i64>| n.map(|n| u64::try_from(n).unwrap_or_default());
    let json = |col: &str| -> Result<serde_json::Value, DbError> {
        let text: Option<String> = row.try_get(col)?;
        match text {
            Some(t) => serde_json::from_str(&t).map_err(corrupt),
            None => Ok(serde_json::Value::Null),
        }
    };
    let properties = match json("properties_json")? {
        serde_json::Value::Null => BTreeMap::new(),
        v => serde_json::from_value(v).map_err(corrupt)?,
    };
    let tags = match json("tags_json")? {
        serde_json::Value::Null => Vec::new(),
        v => serde_json::from_value(v).map_err(corrupt)?,
    };
    let locations = match json("locations_json")? {
        serde_json::Value::Null => Vec::new(),
        v => serde_json::from_value(v).map_err(corrupt)?,
    };
    let image = Image {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        status: Status::parse(&status).ok_or_else(|| corrupt(format!("status {status}")))?,
        visibility: Visibility::parse(&visibility)
            .ok_or_else(|| corrupt(format!("visibility {visibility}")))?,
        protected: row.try_get::<i64, _>("protected")? != 0,
        os_hidden: row.try_get::<i64, _>("os_hidden")? != 0,
        owner: row.try_get("owner")?,
        disk_format: row.try_get("disk_format")?,
        container_format: row.try_get("container_format")?,
        min_disk: u(Some(row.try_get("min_disk")?)).unwrap_or_default(),
        min_ram: u(Some(row.try_get("min_ram")?)).unwrap_or_default(),
        size: u(row.try_get("size")?),
        virtual_size: u(row.try_get("virtual_size")?),
        checksum: row.try_get("checksum")?,
        os_hash_algo: row.try_get("os_hash_algo")?,
        os_hash_value: row.try_get("os_hash_value")?,
        tags,
        locations,
        created_at: time::format(created),
        updated_at: time::format(updated),
        properties,
    };
    Ok(StoredImage {
        image,
        version: row.try_get("version")?,
        created_micros: created,
        updated_micros: updated,
    })
}

impl Db {
    /// The columns of an image row, with its live properties, tags and locations aggregated as
    /// JSON, so that an image (or a page of them) is one query.
    pub(super) fn image_columns(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => SQLITE_IMAGE_COLUMNS,
            Backend::Postgres => POSTGRES_IMAGE_COLUMNS,
        }
    }

    /// A live (not deleted) image with its properties, tags and locations.
    pub(crate) async fn image(&self, id: &str) -> Result<Option<StoredImage>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM images WHERE id = $1 AND deleted = 0",
            self.image_columns()
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Stores a new image, and the plan that gave it its properties.
    pub(crate) async fn insert_image(
        &self,
        image: &Image,
        plan: &Plan,
        record: ChangeRecord<'_>,
    ) -> Result<StoredImage, DbError> {
        let now = time::now_micros();
        let mut written = image.clone();
        written.created_at = time::format(now);
        written.updated_at = written.created_at.clone();
        let stored = StoredImage {
            image: written,
            version: 1,
            created_micros: now,
            updated_micros: now,
        };
        let outbox = record
            .announce
            .map(|announce| announce(&stored))
            .unwrap_or_default();
        if let Some(writer) = &self.sqlite {
            let row = NewImage {
                stored,
                change: stored_plan(plan)?,
                request_id: record.request_id.to_string(),
                user_id: record.user_id.map(str::to_string),
                project_id: record.project_id.map(str::to_string),
                action: record.action.to_string(),
                outbox,
            };
            return writer
                .write(move |conn| {
                    row.insert(conn)?;
                    Ok(row.stored)
                })
                .await;
        }
        // PostgreSQL: one statement (one round trip), its rows from JSON the statement unpacks.
        let properties = serde_json::to_string(&image.properties).map_err(corrupt)?;
        let tags = serde_json::to_string(&image.tags).map_err(corrupt)?;
        let locations: Vec<serde_json::Value> = image
            .locations
            .iter()
            .map(|l| {
                serde_json::json!({
                    "url": l.url,
                    "metadata": serde_json::Value::Object(l.metadata.clone()).to_string(),
                })
            })
            .collect();
        let outbox: Vec<serde_json::Value> = outbox
            .iter()
            .map(|o| {
                serde_json::json!({
                    "event_type": o.event_type,
                    "priority": o.priority,
                    "payload": o.payload.to_string(),
                    "message_id": o.message_id,
                    "created_at": o.created_at,
                    "sink": o.sink,
                })
            })
            .collect();
        let inserted = bind_attributes(sqlx::query(POSTGRES_CREATE), image)
            .bind(now)
            .bind(properties)
            .bind(tags)
            .bind(serde_json::Value::Array(locations).to_string())
            .bind(stored_plan(plan)?)
            .bind(record.request_id)
            .bind(record.user_id)
            .bind(record.project_id)
            .bind(record.action)
            .bind(serde_json::Value::Array(outbox).to_string())
            .fetch_one(&self.writer)
            .await;
        let rows: i64 = match inserted {
            Err(e) if is_unique_violation(&e) => return Err(duplicate_image(&image.id)),
            other => other?.try_get(0)?,
        };
        // None written: the id is a purged image's, never used again (OSSN-0075).
        if rows == 0 {
            return Err(duplicate_image(&image.id));
        }
        Ok(stored)
    }

    /// Writes an applied plan if the image is still at `before`'s version. `Ok(None)` means another
    /// writer got there first: the caller plans again against the fresh image.
    pub(crate) async fn update_image(
        &self,
        before: &StoredImage,
        plan: &Plan,
        after: &Image,
        record: ChangeRecord<'_>,
    ) -> Result<Option<StoredImage>, DbError> {
        let now = time::now_micros();
        let mut tx = self.writer.begin().await?;
        let updated = sqlx::query(
            "UPDATE images SET name = $1, visibility = $2, protected = $3, os_hidden = $4, \
             owner = $5, disk_format = $6, container_format = $7, min_disk = $8, min_ram = $9, \
             size = $10, virtual_size = $11, checksum = $12, updated_at = $13, \
             status = $16, os_hash_algo = $17, os_hash_value = $18, version = version + 1 \
             WHERE id = $14 AND version = $15 AND deleted = 0",
        )
        .bind(&after.name)
        .bind(after.visibility.as_str())
        .bind(i64::from(after.protected))
        .bind(i64::from(after.os_hidden))
        .bind(&after.owner)
        .bind(&after.disk_format)
        .bind(&after.container_format)
        .bind(to_i64(after.min_disk))
        .bind(to_i64(after.min_ram))
        .bind(after.size.map(to_i64))
        .bind(after.virtual_size.map(to_i64))
        .bind(&after.checksum)
        .bind(now)
        .bind(&after.id)
        .bind(before.version)
        .bind(after.status.as_str())
        .bind(&after.os_hash_algo)
        .bind(&after.os_hash_value)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        let written = plan
            .added
            .iter()
            .chain(plan.changed.iter().map(|(k, c)| (k, &c.new)));
        upsert_properties(&mut tx, &after.id, written, now).await?;
        for name in plan.removed.keys() {
            sqlx::query(
                "UPDATE image_properties SET deleted = 1, deleted_at = $1, updated_at = $1 \
                 WHERE image_id = $2 AND name = $3 AND deleted = 0",
            )
            .bind(now)
            .bind(&after.id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        if plan.attributes.tags.is_some() {
            sqlx::query("DELETE FROM image_tags WHERE image_id = $1")
                .bind(&after.id)
                .execute(&mut *tx)
                .await?;
            write_tags(&mut tx, &after.id, &after.tags, now).await?;
        }
        if plan.attributes.locations.is_some() {
            replace_locations(&mut tx, &after.id, &after.locations, now).await?;
        }
        let announce = record.announce;
        record_change(&mut tx, &after.id, plan, record, now).await?;
        let mut image = after.clone();
        image.updated_at = time::format(now);
        let stored = StoredImage {
            image,
            version: before.version + 1,
            created_micros: before.created_micros,
            updated_micros: now,
        };
        if let Some(announce) = announce {
            super::notifications::write_outbox(&mut tx, &announce(&stored)).await?;
        }
        tx.commit().await?;
        Ok(Some(stored))
    }

    /// Moves an image from one of `from` to `to`, if it is in one of them. Returns whether it did.
    pub(crate) async fn transition(
        &self,
        id: &str,
        from: &[Status],
        to: Status,
        upload_owner: Option<&str>,
    ) -> Result<bool, DbError> {
        let mut q = Sql::new("UPDATE images SET status = ");
        q.text(to.as_str())
            .push(", version = version + 1, updated_at = ")
            .int(time::now_micros())
            .push(", upload_owner = ");
        match upload_owner {
            Some(o) => q.text(o),
            None => q.push("NULL"),
        };
        q.push(", upload_started = ");
        match upload_owner {
            Some(_) => q.int(time::now_micros()),
            None => q.push("NULL"),
        };
        if to == Status::Queued {
            q.push(", size = NULL, virtual_size = NULL, checksum = NULL, os_hash_algo = NULL, os_hash_value = NULL");
        }
        q.push(" WHERE id = ")
            .text(id)
            .push(" AND deleted = 0 AND status IN ");
        let from: Vec<String> = from.iter().map(|s| s.as_str().to_string()).collect();
        q.list(&from);
        Ok(q.query().execute(&self.writer).await?.rows_affected() == 1)
    }

    /// Sets properties the server keeps itself (an import's progress, `os_glance_*`), outside
    /// any plan: bookkeeping, not metadata someone changed.
    pub(crate) async fn set_server_properties(
        &self,
        id: &str,
        properties: &[(String, String)],
    ) -> Result<(), DbError> {
        let now = time::now_micros();
        let mut tx = self.writer.begin().await?;
        let touched = sqlx::query(
            "UPDATE images SET updated_at = $1, version = version + 1 WHERE id = $2 AND deleted = 0",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if touched.rows_affected() == 1 {
            upsert_properties(&mut tx, id, properties.iter().map(|(k, v)| (k, v)), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Soft-deletes an image, with the notifications that tell it (in the same transaction).
    pub(crate) async fn delete_image(
        &self,
        id: &str,
        outbox: &[super::Outgoing],
    ) -> Result<bool, DbError> {
        let now = time::now_micros();
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE images SET deleted = 1, deleted_at = $1, status = 'deleted', \
             updated_at = $1, version = version + 1 WHERE id = $2 AND deleted = 0",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        super::notifications::write_outbox(&mut tx, outbox).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every property row of an image, soft-deleted ones included.
    pub(crate) async fn property_rows(&self, id: &str) -> Result<Vec<PropertyRow>, DbError> {
        let rows = sqlx::query(
            "SELECT name, value, deleted, deleted_at, updated_at FROM image_properties \
             WHERE image_id = $1 ORDER BY name",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PropertyRow {
                    name: r.try_get(0)?,
                    value: r.try_get(1)?,
                    deleted: r.try_get::<i64, _>(2)? != 0,
                    deleted_at: r.try_get(3)?,
                    updated_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// The change records of an image, oldest first.
    pub(crate) async fn changes(&self, id: &str) -> Result<Vec<ChangeRow>, DbError> {
        let rows = sqlx::query(
            "SELECT id, changed_at, request_id, user_id, project_id, action, plan \
             FROM property_changes WHERE image_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let plan: String = r.try_get(6)?;
                Ok(ChangeRow {
                    id: r.try_get(0)?,
                    changed_at: r.try_get(1)?,
                    request_id: r.try_get(2)?,
                    user_id: r.try_get(3)?,
                    project_id: r.try_get(4)?,
                    action: r.try_get(5)?,
                    plan: serde_json::from_str(&plan).map_err(corrupt)?,
                })
            })
            .collect()
    }
}

pub(super) type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// Inserts or revives property rows, many per statement.
async fn upsert_properties<'a>(
    tx: &mut Tx<'_>,
    image_id: &str,
    properties: impl Iterator<Item = (&'a String, &'a String)>,
    now: i64,
) -> Result<(), DbError> {
    const ROWS: usize = 200;
    let properties: Vec<(&String, &String)> = properties.collect();
    for batch in properties.chunks(ROWS) {
        let mut q = Sql::new(
            "INSERT INTO image_properties (image_id, name, value, created_at, updated_at, deleted) VALUES ",
        );
        for (i, (name, value)) in batch.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(").text(image_id).push(", ").text(name.as_str());
            q.push(", ").text(value.as_str()).push(", ").int(now);
            q.push(", ").int(now).push(", 0)");
        }
        q.push(
            " ON CONFLICT (image_id, name) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at, deleted = 0, deleted_at = NULL",
        );
        q.query().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn write_tags(
    tx: &mut Tx<'_>,
    image_id: &str,
    tags: &[String],
    now: i64,
) -> Result<(), DbError> {
    for (i, tag) in tags.iter().enumerate() {
        sqlx::query(
            "INSERT INTO image_tags (image_id, value, position, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(image_id)
        .bind(tag)
        .bind(i64::try_from(i).unwrap_or(i64::MAX))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// An image's locations, all replaced by `locations`.
pub(super) async fn replace_locations(
    tx: &mut Tx<'_>,
    image_id: &str,
    locations: &[Location],
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM image_locations WHERE image_id = $1")
        .bind(image_id)
        .execute(&mut **tx)
        .await?;
    write_locations(tx, image_id, locations, now).await
}

pub(super) async fn write_locations(
    tx: &mut Tx<'_>,
    image_id: &str,
    locations: &[Location],
    now: i64,
) -> Result<(), DbError> {
    for (i, l) in locations.iter().enumerate() {
        sqlx::query(
            "INSERT INTO image_locations (image_id, position, url, metadata, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(image_id)
        .bind(i64::try_from(i).unwrap_or(i64::MAX))
        .bind(&l.url)
        .bind(serde_json::Value::Object(l.metadata.clone()).to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub(super) async fn record_change(
    tx: &mut Tx<'_>,
    image_id: &str,
    plan: &Plan,
    record: ChangeRecord<'_>,
    now: i64,
) -> Result<(), DbError> {
    let Some(stored) = stored_plan(plan)? else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO property_changes (image_id, changed_at, request_id, user_id, project_id, action, plan) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(image_id)
    .bind(now)
    .bind(record.request_id)
    .bind(record.user_id)
    .bind(record.project_id)
    .bind(record.action)
    .bind(stored)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A plan as its change record keeps it (JSON), or `None` for a plan that changes nothing.
fn stored_plan(plan: &Plan) -> Result<Option<String>, DbError> {
    if plan.is_noop() {
        return Ok(None);
    }
    // `kept` is derivable from the image and would make every record as large as the image.
    let stored = Plan {
        added: plan.added.clone(),
        changed: plan.changed.clone(),
        removed: plan.removed.clone(),
        kept: BTreeMap::new(),
        attributes: plan.attributes.clone(),
        purge: plan.purge,
        violations: Vec::new(),
    };
    serde_json::to_string(&stored).map(Some).map_err(corrupt)
}

fn duplicate_image(id: &str) -> DbError {
    DbError::Duplicate(format!("Image with identifier {id}"))
}

/// An image row as SQLite's writer thread inserts it (`ATTRIBUTE_COLUMNS`, then the time).
static SQLITE_INSERT_IMAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO images ({ATTRIBUTE_COLUMNS}, created_at, updated_at, deleted, version) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
         ?17, ?17, 0, 1)"
    )
});

/// A create as SQLite's writer thread writes it: every row in one call.
struct NewImage {
    /// The image as it is answered (its time is the rows' time).
    stored: StoredImage,
    change: Option<String>,
    request_id: String,
    user_id: Option<String>,
    project_id: Option<String>,
    action: String,
    outbox: Vec<super::Outgoing>,
}

impl NewImage {
    fn insert(&self, conn: &rusqlite::Connection) -> Result<(), DbError> {
        use rusqlite::params;
        let (image, now) = (&self.stored.image, self.stored.created_micros);
        let inserted = conn.prepare_cached(&SQLITE_INSERT_IMAGE)?.execute(params![
            image.id,
            image.name,
            image.status.as_str(),
            image.visibility.as_str(),
            i64::from(image.protected),
            i64::from(image.os_hidden),
            image.owner,
            image.disk_format,
            image.container_format,
            to_i64(image.min_disk),
            to_i64(image.min_ram),
            image.size.map(to_i64),
            image.virtual_size.map(to_i64),
            image.checksum,
            image.os_hash_algo,
            image.os_hash_value,
            now,
        ]);
        match inserted {
            Err(e) if super::writer::is_unique(&e) => return Err(duplicate_image(&image.id)),
            other => other?,
        };
        // A purged image's id is never used again (OSSN-0075).
        let purged = conn
            .prepare_cached("SELECT 1 FROM purged_images WHERE id = ?1")?
            .exists([&image.id])?;
        if purged {
            return Err(duplicate_image(&image.id));
        }
        let mut property = conn.prepare_cached(
            "INSERT INTO image_properties (image_id, name, value, created_at, updated_at, deleted) \
             VALUES (?1, ?2, ?3, ?4, ?4, 0) ON CONFLICT (image_id, name) DO UPDATE SET \
             value = excluded.value, updated_at = excluded.updated_at, deleted = 0, \
             deleted_at = NULL",
        )?;
        for (name, value) in &image.properties {
            property.execute(params![image.id, name, value, now])?;
        }
        let mut tag = conn.prepare_cached(
            "INSERT INTO image_tags (image_id, value, position, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (i, value) in image.tags.iter().enumerate() {
            tag.execute(params![image.id, value, to_i64(i as u64), now])?;
        }
        let mut location = conn.prepare_cached(
            "INSERT INTO image_locations (image_id, position, url, metadata, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (i, l) in image.locations.iter().enumerate() {
            let metadata = serde_json::Value::Object(l.metadata.clone()).to_string();
            location.execute(params![image.id, to_i64(i as u64), l.url, metadata, now])?;
        }
        if let Some(change) = &self.change {
            conn.prepare_cached(
                "INSERT INTO property_changes (image_id, changed_at, request_id, user_id, \
                 project_id, action, plan) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                image.id,
                now,
                self.request_id,
                self.user_id,
                self.project_id,
                self.action,
                change
            ])?;
        }
        super::notifications::write_outbox_sqlite(conn, &self.outbox)
    }
}

impl Db {
    /// What a project uses, counted as Glance counts it for its limits: bytes in stores (each
    /// copy of a live image counts, so an image being written, which has no location yet, adds
    /// nothing), bytes staged or being imported, live images (not killed or deleted), and
    /// images taking data (saving, uploading, importing, or being copied to stores).
    pub(crate) async fn project_usage(&self, owner: &str) -> Result<ProjectUsage, DbError> {
        const DEAD: &str = "('killed', 'deleted', 'pending_delete')";
        let row = sqlx::query(&format!(
            "SELECT \
             CAST(COALESCE(SUM(CASE WHEN size > 0 AND status NOT IN {DEAD} \
               THEN size * copies ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN size > 0 AND (status IN ('uploading', 'importing') \
               OR (importing > 0 AND status NOT IN {DEAD})) THEN size ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN status NOT IN {DEAD} THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN status IN ('saving', 'uploading', 'importing') \
               OR (importing > 0 AND status NOT IN {DEAD}) THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM (SELECT i.status, i.size, \
               (SELECT COUNT(*) FROM image_locations l WHERE l.image_id = i.id) AS copies, \
               (SELECT COUNT(*) FROM image_properties p WHERE p.image_id = i.id \
                 AND p.name = 'os_glance_importing_to_stores' AND p.deleted = 0 \
                 AND p.value <> '') AS importing \
               FROM images i WHERE i.owner = $1 AND i.deleted = 0) u"
        ))
        .bind(owner)
        .fetch_one(&self.pool)
        .await?;
        let n = |i: usize| -> Result<u64, DbError> {
            Ok(u64::try_from(row.try_get::<i64, _>(i)?).unwrap_or_default())
        };
        Ok(ProjectUsage {
            stored_bytes: n(0)?,
            staged_bytes: n(1)?,
            images: n(2)?,
            uploading: n(3)?,
        })
    }

    /// A project's own limits (local mode), by resource name; -1 is no limit.
    pub async fn project_limits(&self, project: &str) -> Result<Vec<(String, i64)>, DbError> {
        let rows = sqlx::query(
            "SELECT resource, value FROM project_limits WHERE project_id = $1 ORDER BY resource",
        )
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Sets a project's own limit of a resource, or (`None`) removes it: the deployment's
    /// applies again.
    pub async fn set_project_limit(
        &self,
        project: &str,
        resource: &str,
        value: Option<i64>,
    ) -> Result<(), DbError> {
        let query = match value {
            Some(_) => {
                "INSERT INTO project_limits (project_id, resource, value, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, resource) \
                 DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
            }
            None => "DELETE FROM project_limits WHERE project_id = $1 AND resource = $2",
        };
        let mut q = sqlx::query(query).bind(project).bind(resource);
        if let Some(v) = value {
            q = q.bind(v).bind(time::now_micros());
        }
        q.execute(&self.writer).await?;
        Ok(())
    }
}
