//! An image's data through its life: uploads and stages claimed and finished, locations
//! added and removed, the import lock, and the liveness of the servers that hold them.

use glint_core::{Location, Status};
use sqlx::Row;

use super::images::{corrupt, replace_locations, to_i64};
use super::{Db, DbError};
use super::{StoredImage, Upload};
use crate::time;

impl Db {
    /// Records finished data: size, checksums and location, and makes the image active, if
    /// this process is still the one writing it; the image as written, or `None` if it went
    /// away or changed meanwhile. `announce`'s notifications go in the same transaction.
    pub(crate) async fn finish_upload(
        &self,
        id: &str,
        from: Status,
        upload_owner: &str,
        upload: &Upload,
        announce: Option<super::images::Announce<'_>>,
    ) -> Result<Option<StoredImage>, DbError> {
        let now = time::now_micros();
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE images SET status = 'active', size = $1, virtual_size = $2, checksum = $3, \
             os_hash_algo = $4, os_hash_value = $5, updated_at = $6, version = version + 1, \
             upload_owner = NULL, upload_started = NULL, \
             disk_format = COALESCE($10, disk_format), \
             container_format = COALESCE($11, container_format) \
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
        .bind(upload.formats.as_ref().map(|f| f.0.as_str()))
        .bind(upload.formats.as_ref().map(|f| f.1.as_str()))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        replace_locations(&mut tx, id, &upload.locations, now).await?;
        // The image as it is now, read in the transaction that made it so.
        let row = sqlx::query(&format!(
            "SELECT {} FROM images WHERE id = $1",
            self.image_columns()
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let stored = super::images::from_row(&row)?;
        if let Some(announce) = announce {
            super::notifications::write_outbox(&mut tx, &announce(&stored)).await?;
        }
        tx.commit().await?;
        Ok(Some(stored))
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

    /// Every server this database has heard from, alive or not.
    pub(crate) async fn known_nodes(&self) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query("SELECT name FROM nodes")
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
}
