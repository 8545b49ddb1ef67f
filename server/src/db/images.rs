//! Image rows, their properties, tags and locations, and the record of property changes.

use std::collections::BTreeMap;

use glint_core::{Image, Location, Plan, Status, Visibility};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::sql::{Arg, Sql};
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
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChangeRecord<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) user_id: Option<&'a str>,
    pub(crate) project_id: Option<&'a str>,
    pub(crate) action: &'a str,
}

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
}

/// A list filter.
#[derive(Debug, Clone)]
pub(crate) enum ImageFilter {
    /// Column equals one of the values (`name`, `id`, `status`, formats, `owner`, `checksum`, ...).
    In(&'static str, Vec<String>),
    /// A boolean column.
    Flag(&'static str, bool),
    /// An integer column compared with `op` (`>=`, `<=`, `=`).
    Int(&'static str, &'static str, i64),
    /// A time column (`created_at`, `updated_at`) compared with `op`.
    Time(&'static str, &'static str, i64),
    /// A time column outside `[from, to)`.
    TimeOutside(&'static str, i64, i64),
    /// Carries this tag.
    Tag(String),
    /// Has this custom property with this value.
    Property(String, String),
    /// Visibility equals.
    Visibility(Visibility),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortKey {
    Name,
    Status,
    ContainerFormat,
    DiskFormat,
    Size,
    Id,
    CreatedAt,
    UpdatedAt,
}

impl SortKey {
    pub(crate) fn parse(s: &str) -> Option<SortKey> {
        Some(match s {
            "name" => SortKey::Name,
            "status" => SortKey::Status,
            "container_format" => SortKey::ContainerFormat,
            "disk_format" => SortKey::DiskFormat,
            "size" => SortKey::Size,
            "id" => SortKey::Id,
            "created_at" => SortKey::CreatedAt,
            "updated_at" => SortKey::UpdatedAt,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Status => "status",
            SortKey::ContainerFormat => "container_format",
            SortKey::DiskFormat => "disk_format",
            SortKey::Size => "size",
            SortKey::Id => "id",
            SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
        }
    }

    /// Whether the column is never NULL.
    fn never_null(self) -> bool {
        matches!(
            self,
            SortKey::Status | SortKey::Id | SortKey::CreatedAt | SortKey::UpdatedAt
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortDir {
    Asc,
    Desc,
}

/// Who is listing, which images they may see, and how to page.
#[derive(Debug, Clone)]
pub(crate) struct ListQuery {
    pub(crate) filters: Vec<ImageFilter>,
    pub(crate) sort: Vec<(SortKey, SortDir)>,
    pub(crate) limit: i64,
    pub(crate) marker: Option<StoredImage>,
    pub(crate) project: Option<String>,
    pub(crate) admin: bool,
    /// Member status a shared image must have for the caller to see it listed (`None`: any).
    pub(crate) member_status: Option<String>,
    /// Whether the caller asked for community images explicitly.
    pub(crate) community: bool,
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

fn corrupt(what: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(what.to_string())
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_row(row: &AnyRow) -> Result<StoredImage, DbError> {
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
    fn image_columns(&self) -> &'static str {
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
        let mut tx = self.writer.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO images (id, name, status, visibility, protected, os_hidden, owner, \
             disk_format, container_format, min_disk, min_ram, size, virtual_size, checksum, \
             os_hash_algo, os_hash_value, created_at, updated_at, deleted, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, 0, 1)",
        )
        .bind(&image.id)
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
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(DbError::Duplicate(format!(
                    "Image with identifier {}",
                    image.id
                )));
            }
            other => other?,
        };
        upsert_properties(&mut tx, &image.id, image.properties.iter(), now).await?;
        write_tags(&mut tx, &image.id, &image.tags, now).await?;
        write_locations(&mut tx, &image.id, &image.locations, now).await?;
        record_change(&mut tx, &image.id, plan, record, now).await?;
        tx.commit().await?;
        let mut image = image.clone();
        image.created_at = time::format(now);
        image.updated_at = image.created_at.clone();
        Ok(StoredImage {
            image,
            version: 1,
            created_micros: now,
            updated_micros: now,
        })
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
        record_change(&mut tx, &after.id, plan, record, now).await?;
        tx.commit().await?;
        let mut image = after.clone();
        image.updated_at = time::format(now);
        Ok(Some(StoredImage {
            image,
            version: before.version + 1,
            created_micros: before.created_micros,
            updated_micros: now,
        }))
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

    /// Records finished data: size, checksums and location, and makes the image active, if
    /// this process is still the one writing it.
    pub(crate) async fn finish_upload(
        &self,
        id: &str,
        from: Status,
        upload_owner: &str,
        upload: &Upload,
    ) -> Result<bool, DbError> {
        let now = time::now_micros();
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE images SET status = 'active', size = $1, virtual_size = $2, checksum = $3, \
             os_hash_algo = $4, os_hash_value = $5, updated_at = $6, version = version + 1, \
             upload_owner = NULL, upload_started = NULL \
             WHERE id = $7 AND status = $9 AND upload_owner = $8 AND deleted = 0",
        )
        .bind(to_i64(upload.size))
        .bind(upload.virtual_size.map(to_i64))
        .bind(&upload.checksum)
        .bind(&upload.os_hash_algo)
        .bind(&upload.os_hash_value)
        .bind(now)
        .bind(id)
        .bind(upload_owner)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        replace_locations(&mut tx, id, &upload.locations, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Moves a queued image to `importing` under `owner` with `location` as its only location
    /// (the location import); `false` if it was not queued.
    pub(crate) async fn claim_with_location(
        &self,
        id: &str,
        owner: &str,
        location: &Location,
    ) -> Result<bool, DbError> {
        let now = time::now_micros();
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE images SET status = 'importing', upload_owner = $1, upload_started = $2, \
             updated_at = $2, version = version + 1 \
             WHERE id = $3 AND status = 'queued' AND deleted = 0",
        )
        .bind(owner)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        replace_locations(&mut tx, id, std::slice::from_ref(location), now).await?;
        tx.commit().await?;
        Ok(true)
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

    /// Adds a location to an active image (a copy in another store). `false` if the image is
    /// no longer active or was deleted.
    pub(crate) async fn add_location(
        &self,
        id: &str,
        location: &Location,
    ) -> Result<bool, DbError> {
        let now = time::now_micros();
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE images SET updated_at = $1, version = version + 1 \
             WHERE id = $2 AND status IN ('active', 'deactivated') AND deleted = 0",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO image_locations (image_id, position, url, metadata, created_at) \
             SELECT $1, COALESCE(MAX(position), -1) + 1, $2, $3, $4 FROM image_locations \
             WHERE image_id = $1",
        )
        .bind(id)
        .bind(&location.url)
        .bind(serde_json::Value::Object(location.metadata.clone()).to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes one location of an image (by URL), keeping at least one. `false` if it was the
    /// last or is gone.
    pub(crate) async fn remove_location(&self, id: &str, url: &str) -> Result<bool, DbError> {
        let now = time::now_micros();
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "DELETE FROM image_locations WHERE image_id = $1 AND url = $2 \
             AND (SELECT COUNT(*) FROM image_locations WHERE image_id = $1) > 1",
        )
        .bind(id)
        .bind(url)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE images SET updated_at = $1, version = version + 1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Takes the image's import lock for a task, unless another import holds it; `owner` is
    /// `<node>/<token>` like an upload's.
    pub(crate) async fn take_import_lock(
        &self,
        image_id: &str,
        task_id: &str,
        owner: &str,
    ) -> Result<Option<String>, DbError> {
        let taken = sqlx::query(
            "INSERT INTO image_import_locks (image_id, task_id, owner, taken_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (image_id) DO NOTHING",
        )
        .bind(image_id)
        .bind(task_id)
        .bind(owner)
        .bind(time::now_micros())
        .execute(&self.writer)
        .await?;
        if taken.rows_affected() == 1 {
            return Ok(None);
        }
        let holder = sqlx::query("SELECT task_id FROM image_import_locks WHERE image_id = $1")
            .bind(image_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(Some(match holder {
            Some(r) => r.try_get(0)?,
            None => String::new(),
        }))
    }

    pub(crate) async fn release_import_lock(
        &self,
        image_id: &str,
        task_id: &str,
    ) -> Result<(), DbError> {
        sqlx::query("DELETE FROM image_import_locks WHERE image_id = $1 AND task_id = $2")
            .bind(image_id)
            .bind(task_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Releases the import locks whose owner starts with `prefix` (a server's, at its start).
    pub(crate) async fn release_import_locks(&self, prefix: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM image_import_locks WHERE owner LIKE $1 || '%'")
            .bind(prefix)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Releases the import locks of servers not heard from since `alive_since`.
    pub(crate) async fn release_orphaned_import_locks(
        &self,
        alive_since: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "DELETE FROM image_import_locks WHERE NOT EXISTS (SELECT 1 FROM nodes \
             WHERE nodes.seen_at >= $1 AND image_import_locks.owner LIKE nodes.name || '/%')",
        )
        .bind(alive_since)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The servers heard from since `alive_since` (microseconds).
    pub(crate) async fn alive_nodes(&self, alive_since: i64) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query("SELECT name FROM nodes WHERE seen_at >= $1")
            .bind(alive_since)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(DbError::from))
            .collect()
    }

    /// Records that `node` is alive now.
    pub(crate) async fn heartbeat(&self, node: &str) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO nodes (name, seen_at) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(node)
        .bind(time::now_micros())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Puts back to `queued` the uploads, stages and imports owned by servers not seen alive
    /// since `alive_since` (microseconds), and returns those images.
    pub(crate) async fn requeue_orphans(&self, alive_since: i64) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT id, status, upload_owner FROM images WHERE deleted = 0 \
             AND upload_owner IS NOT NULL AND status IN ('saving', 'importing', 'uploading') \
             AND NOT EXISTS (SELECT 1 FROM nodes WHERE nodes.seen_at >= $1 \
                             AND images.upload_owner LIKE nodes.name || '/%')",
        )
        .bind(alive_since)
        .fetch_all(&self.pool)
        .await?;
        let mut requeued = Vec::new();
        for r in &rows {
            let (id, status, owner): (String, String, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let done = sqlx::query(
                "UPDATE images SET status = 'queued', version = version + 1, updated_at = $1, \
                 upload_owner = NULL, upload_started = NULL, size = NULL, virtual_size = NULL, \
                 checksum = NULL, os_hash_algo = NULL, os_hash_value = NULL \
                 WHERE id = $2 AND status = $3 AND upload_owner = $4 AND deleted = 0",
            )
            .bind(time::now_micros())
            .bind(&id)
            .bind(&status)
            .bind(&owner)
            .execute(&self.writer)
            .await?;
            if done.rows_affected() == 1 {
                requeued.push(id);
            }
        }
        Ok(requeued)
    }

    /// Images whose data a writer that is gone was saving, staging or importing: those owned
    /// by `owner_prefix` (this process's earlier life), or by no one.
    pub(crate) async fn stale_uploads(
        &self,
        owner_prefix: &str,
    ) -> Result<Vec<(String, Status)>, DbError> {
        let rows = sqlx::query(
            "SELECT id, status FROM images WHERE deleted = 0 \
             AND (status IN ('saving', 'importing') OR (status = 'uploading' AND upload_owner IS NOT NULL)) \
             AND (upload_owner LIKE $1 OR upload_owner IS NULL)",
        )
        .bind(format!("{owner_prefix}%"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get(1)?;
                let status = Status::parse(&status).ok_or_else(|| corrupt(&status))?;
                Ok((r.try_get(0)?, status))
            })
            .collect()
    }

    /// Records staged data: the image stays `uploading`, with its size, ready for import.
    pub(crate) async fn finish_stage(
        &self,
        id: &str,
        upload_owner: &str,
        size: u64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE images SET size = $1, updated_at = $2, version = version + 1, \
             upload_owner = NULL, upload_started = NULL \
             WHERE id = $3 AND status = 'uploading' AND upload_owner = $4 AND deleted = 0",
        )
        .bind(to_i64(size))
        .bind(time::now_micros())
        .bind(id)
        .bind(upload_owner)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Soft-deletes an image.
    pub(crate) async fn delete_image(&self, id: &str) -> Result<bool, DbError> {
        let now = time::now_micros();
        let done = sqlx::query(
            "UPDATE images SET deleted = 1, deleted_at = $1, status = 'deleted', \
             updated_at = $1, version = version + 1 WHERE id = $2 AND deleted = 0",
        )
        .bind(now)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
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

    /// One page of images.
    pub(crate) async fn list_images(&self, q: &ListQuery) -> Result<Vec<StoredImage>, DbError> {
        // A property filter that few images match is best answered from the property index; one
        // that many match, by walking images in the requested order until the page is full.
        // Which is which is measured (with a bounded count), not guessed.
        // Few: not many more than a page's worth, so reading them all costs less than walking
        // past the images that do not match.
        let few = q.limit.saturating_mul(5).saturating_add(50);
        let mut selective = Vec::new();
        for f in &q.filters {
            if let ImageFilter::Property(name, value) = f {
                selective.push(self.few_match(name, value, few).await?);
            }
        }
        let mut selective = selective.into_iter();
        // The page's ids first; the full rows (with their aggregated properties) only for them.
        let mut sql = Sql::new(&format!(
            "SELECT {} FROM images WHERE id IN (\
             SELECT id FROM images WHERE deleted = 0 AND status <> 'killed'",
            self.image_columns()
        ));
        // Who may see what.
        if !q.admin {
            sql.push(" AND (visibility = 'public'");
            if q.community {
                sql.push(" OR visibility = 'community'");
            }
            if let Some(project) = &q.project {
                sql.push(" OR owner = ").text(project.clone());
                sql.push(
                    " OR (visibility = 'shared' AND EXISTS (SELECT 1 FROM image_members m \
                     WHERE m.image_id = images.id AND m.member = ",
                )
                .text(project.clone());
                if let Some(status) = &q.member_status {
                    sql.push(" AND m.status = ").text(status.clone());
                }
                sql.push("))");
            }
            sql.push(")");
        } else if !q.community {
            sql.push(" AND (visibility <> 'community'");
            if let Some(project) = &q.project {
                sql.push(" OR owner = ").text(project.clone());
            }
            sql.push(")");
        }
        for f in &q.filters {
            match f {
                ImageFilter::In(col, values) => {
                    sql.push(" AND ").push(col).push(" IN ").list(values);
                }
                ImageFilter::Flag(col, v) => {
                    sql.push(" AND ").push(col).push(" = ").int(i64::from(*v));
                }
                ImageFilter::Int(col, op, v) | ImageFilter::Time(col, op, v) => {
                    sql.push(" AND ")
                        .push(col)
                        .push(" ")
                        .push(op)
                        .push(" ")
                        .int(*v);
                }
                ImageFilter::TimeOutside(col, from, to) => {
                    sql.push(" AND (").push(col).push(" < ").int(*from);
                    sql.push(" OR ").push(col).push(" >= ").int(*to).push(")");
                }
                ImageFilter::Tag(tag) => {
                    sql.push(
                        " AND EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = images.id AND t.value = ",
                    )
                    .text(tag.clone())
                    .push(")");
                }
                ImageFilter::Property(name, value) => {
                    if selective.next().unwrap_or(false) {
                        sql.push(
                            " AND id IN (SELECT p.image_id FROM image_properties p \
                             WHERE p.deleted = 0 AND p.name = ",
                        );
                    } else {
                        sql.push(
                            " AND EXISTS (SELECT 1 FROM image_properties p \
                             WHERE p.image_id = images.id AND p.deleted = 0 AND p.name = ",
                        );
                    }
                    sql.text(name.clone())
                        .push(" AND p.value = ")
                        .text(value.clone());
                    if self.backend == Backend::Postgres {
                        // What PostgreSQL's index on (name, md5(value)) answers.
                        sql.push(" AND md5(p.value) = md5(")
                            .text(value.clone())
                            .push(")");
                    }
                    sql.push(")");
                }
                ImageFilter::Visibility(v) => {
                    sql.push(" AND visibility = ").text(v.as_str());
                }
            }
        }
        // Keyset paging: rows strictly after the marker in the sort order.
        if let Some(marker) = &q.marker {
            keyset(&mut sql, &q.sort, marker);
        }
        let order = order_by(&q.sort);
        sql.push(&order).push(" LIMIT ").int(q.limit);
        sql.push(")").push(&order);
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }
}

impl Db {
    /// Whether at most `few` live properties have this name and value (a bounded count).
    async fn few_match(&self, name: &str, value: &str, few: i64) -> Result<bool, DbError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM (SELECT 1 FROM image_properties \
                 WHERE name = $1 AND value = $2 AND deleted = 0 LIMIT $3) AS found"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM (SELECT 1 FROM image_properties \
                 WHERE name = $1 AND md5(value) = md5($2) AND value = $2 AND deleted = 0 \
                 LIMIT $3) AS found"
            }
        };
        let row = sqlx::query(sql)
            .bind(name)
            .bind(value)
            .bind(few + 1)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)? <= few)
    }
}

/// ` ORDER BY ...` for a sort spec. NULLs come first in ascending order and last in descending
/// order in both databases: SQLite's own order, and that of the PostgreSQL indexes on nullable
/// sort columns (made `NULLS FIRST`). A column that is never NULL gets no `NULLS` clause, so
/// PostgreSQL also reads its index backwards for a descending sort.
fn order_by(sort: &[(SortKey, SortDir)]) -> String {
    let mut out = String::from(" ORDER BY ");
    for (i, (key, dir)) in sort.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let dir = match (dir, key.never_null()) {
            (SortDir::Asc, true) => "ASC",
            (SortDir::Desc, true) => "DESC",
            (SortDir::Asc, false) => "ASC NULLS FIRST",
            (SortDir::Desc, false) => "DESC NULLS LAST",
        };
        out.push_str(&format!("{} {dir}", key.column()));
    }
    out
}

/// A sort key's value on the marker image (`None` for NULL).
fn marker_value(key: SortKey, marker: &StoredImage) -> Option<Arg> {
    let m = &marker.image;
    match key {
        SortKey::Name => m.name.clone().map(Arg::Text),
        SortKey::Status => Some(Arg::Text(m.status.as_str().into())),
        SortKey::ContainerFormat => m.container_format.clone().map(Arg::Text),
        SortKey::DiskFormat => m.disk_format.clone().map(Arg::Text),
        SortKey::Size => m.size.map(|n| Arg::Int(to_i64(n))),
        SortKey::Id => Some(Arg::Text(m.id.clone())),
        SortKey::CreatedAt => Some(Arg::Int(marker.created_micros)),
        SortKey::UpdatedAt => Some(Arg::Int(marker.updated_micros)),
    }
}

/// Appends ` AND <rows after the marker in this order>`.
fn keyset(sql: &mut Sql, sort: &[(SortKey, SortDir)], marker: &StoredImage) {
    let values: Vec<Option<Arg>> = sort.iter().map(|(k, _)| marker_value(*k, marker)).collect();
    // One direction over columns that are never NULL: a row-value comparison, which both
    // databases answer from an index range.
    let same_dir = sort.iter().all(|(_, d)| *d == sort[0].1);
    let never_null = sort.iter().all(|(k, _)| k.never_null());
    if same_dir && never_null {
        let columns: Vec<&str> = sort.iter().map(|(k, _)| k.column()).collect();
        let op = if sort[0].1 == SortDir::Asc { ">" } else { "<" };
        sql.push(&format!(" AND ({}) {op} (", columns.join(", ")));
        for (i, v) in values.into_iter().flatten().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.arg(v);
        }
        sql.push(")");
        return;
    }
    sql.push(" AND (");
    for i in 0..sort.len() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("(");
        for (j, (key, dir)) in sort.iter().enumerate().take(i + 1) {
            if j > 0 {
                sql.push(" AND ");
            }
            let col = key.column();
            match (&values[j], j < i, dir) {
                (Some(v), true, _) => {
                    sql.push(&format!("{col} = ")).arg(v.clone());
                }
                (None, true, _) => {
                    sql.push(&format!("{col} IS NULL"));
                }
                (Some(v), false, SortDir::Asc) => {
                    sql.push(&format!("{col} > ")).arg(v.clone());
                }
                (None, false, SortDir::Asc) => {
                    sql.push(&format!("{col} IS NOT NULL"));
                }
                (Some(v), false, SortDir::Desc) => {
                    sql.push(&format!("({col} < ")).arg(v.clone());
                    sql.push(&format!(" OR {col} IS NULL)"));
                }
                (None, false, SortDir::Desc) => {
                    sql.push("1 = 0");
                }
            }
        }
        sql.push(")");
    }
    sql.push(")");
}

type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

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
async fn replace_locations(
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

async fn write_locations(
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

async fn record_change(
    tx: &mut Tx<'_>,
    image_id: &str,
    plan: &Plan,
    record: ChangeRecord<'_>,
    now: i64,
) -> Result<(), DbError> {
    if plan.is_noop() {
        return Ok(());
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
    .bind(serde_json::to_string(&stored).map_err(corrupt)?)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// Whether `project` is a member of the image (any member status).
    pub(crate) async fn is_member(&self, image_id: &str, project: &str) -> Result<bool, DbError> {
        let row = sqlx::query("SELECT 1 FROM image_members WHERE image_id = $1 AND member = $2")
            .bind(image_id)
            .bind(project)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}

/// One membership of a shared image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) image_id: String,
    pub(crate) member: String,
    pub(crate) status: String,
    pub(crate) can_share: bool,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

fn member_from_row(r: &AnyRow) -> Result<Member, DbError> {
    Ok(Member {
        image_id: r.try_get(0)?,
        member: r.try_get(1)?,
        status: r.try_get(2)?,
        can_share: r.try_get::<i64, _>(3)? != 0,
        created_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
    })
}

/// Adds a pending member, or touches an existing one (and sets `can_share` when given).
fn member_upsert(image_id: &str, member: &str, can_share: Option<bool>, now: i64) -> Sql {
    let mut q = Sql::new(
        "INSERT INTO image_members (image_id, member, status, can_share, created_at, updated_at) VALUES (",
    );
    q.text(image_id)
        .push(", ")
        .text(member)
        .push(", 'pending', ");
    q.int(i64::from(can_share.unwrap_or(false)))
        .push(", ")
        .int(now)
        .push(", ")
        .int(now);
    q.push(") ON CONFLICT (image_id, member) DO UPDATE SET updated_at = excluded.updated_at");
    if can_share.is_some() {
        q.push(", can_share = excluded.can_share");
    }
    q
}

const MEMBER_COLUMNS: &str = "image_id, member, status, can_share, created_at, updated_at";

impl Db {
    /// The members of an image.
    pub(crate) async fn members(&self, image_id: &str) -> Result<Vec<Member>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM image_members WHERE image_id = $1 ORDER BY created_at, member"
        ))
        .bind(image_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(member_from_row).collect()
    }

    /// Images shared with a project.
    pub(crate) async fn shared_with(&self, member: &str) -> Result<Vec<Member>, DbError> {
        let rows = sqlx::query(
            "SELECT m.image_id, m.member, m.status, m.can_share, m.created_at, m.updated_at \
             FROM image_members m JOIN images i ON i.id = m.image_id \
             WHERE m.member = $1 AND i.deleted = 0 ORDER BY m.created_at",
        )
        .bind(member)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(member_from_row).collect()
    }

    /// Adds a member, or updates `can_share` of an existing one when `can_share` is given.
    pub(crate) async fn put_member(
        &self,
        image_id: &str,
        member: &str,
        can_share: Option<bool>,
    ) -> Result<(), DbError> {
        member_upsert(image_id, member, can_share, time::now_micros())
            .query()
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Removes a member; returns whether there was one.
    pub(crate) async fn delete_member(
        &self,
        image_id: &str,
        member: &str,
    ) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM image_members WHERE image_id = $1 AND member = $2")
            .bind(image_id)
            .bind(member)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces the whole member list (v1 `PUT /members`).
    pub(crate) async fn replace_members(
        &self,
        image_id: &str,
        members: &[(String, Option<bool>)],
    ) -> Result<(), DbError> {
        let now = time::now_micros();
        let mut tx = self.writer.begin().await?;
        let keep: Vec<String> = members.iter().map(|(m, _)| m.clone()).collect();
        let mut q = Sql::new("DELETE FROM image_members WHERE image_id = ");
        q.text(image_id);
        if !keep.is_empty() {
            q.push(" AND member NOT IN ").list(&keep);
        }
        q.query().execute(&mut *tx).await?;
        for (member, can_share) in members {
            member_upsert(image_id, member, *can_share, now)
                .query()
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Db {
    /// Adds a member (pending); `DbError::Duplicate` if it is one already.
    pub(crate) async fn add_member(&self, image_id: &str, member: &str) -> Result<Member, DbError> {
        let now = time::now_micros();
        let inserted = sqlx::query(
            "INSERT INTO image_members (image_id, member, status, can_share, created_at, updated_at) \
             VALUES ($1, $2, 'pending', 0, $3, $3)",
        )
        .bind(image_id)
        .bind(member)
        .bind(now)
        .execute(&self.writer)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => Err(DbError::Duplicate(format!(
                "Member {member} of image {image_id}"
            ))),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(Member {
                image_id: image_id.to_string(),
                member: member.to_string(),
                status: "pending".into(),
                can_share: false,
                created_at: now,
                updated_at: now,
            }),
        }
    }

    /// One membership.
    pub(crate) async fn member(
        &self,
        image_id: &str,
        member: &str,
    ) -> Result<Option<Member>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM image_members WHERE image_id = $1 AND member = $2"
        ))
        .bind(image_id)
        .bind(member)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(member_from_row).transpose()
    }

    /// Sets a member's status; returns the updated membership.
    pub(crate) async fn set_member_status(
        &self,
        image_id: &str,
        member: &str,
        status: &str,
    ) -> Result<Option<Member>, DbError> {
        sqlx::query(
            "UPDATE image_members SET status = $1, updated_at = $2 WHERE image_id = $3 AND member = $4",
        )
        .bind(status)
        .bind(time::now_micros())
        .bind(image_id)
        .bind(member)
        .execute(&self.writer)
        .await?;
        self.member(image_id, member).await
    }
}

impl Db {
    /// Images a project owns, deleted ones not counted.
    pub(crate) async fn count_images(&self, owner: &str) -> Result<u64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) FROM images WHERE owner = $1 AND deleted = 0")
            .bind(owner)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or_default())
    }

    /// Bytes of image data a project stores, leaving out one image (the one being written).
    pub(crate) async fn storage_used(&self, owner: &str, except: &str) -> Result<u64, DbError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM images \
             WHERE owner = $1 AND deleted = 0 AND id <> $2 AND size IS NOT NULL",
        )
        .bind(owner)
        .bind(except)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or_default())
    }
}
