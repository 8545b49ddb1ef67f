//! `glint db purge`: removes images deleted long ago with every row that hangs off them, old
//! finished tasks, and (when asked) old history of live images; in batches, each its own short
//! transaction, so the API is never held up long. A purged image's id is kept (a tombstone) and
//! never accepted again.

use sqlx::Row;

use super::notifications::write_outbox;
use super::{Db, DbError, Outgoing, Task};

/// The notifications a purge writes for a task it removes (in the transaction that removes it).
pub(crate) type TaskGone<'a> = &'a (dyn Fn(&Task) -> Vec<Outgoing> + Sync);

/// Images purged in one transaction.
const BATCH: usize = 100;

/// What to purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purge {
    /// Images deleted before this time (microseconds), and tasks finished before it.
    pub deleted_before: i64,
    /// The history of live images (change records, removed values) from before this time.
    pub history_before: Option<i64>,
    /// Most images purged in this run.
    pub max_images: Option<u64>,
    /// Whether to remove anything; without it, only count.
    pub apply: bool,
}

/// What a purge removed (or, in a dry run, would remove), by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    pub images: u64,
    pub properties: u64,
    pub tags: u64,
    pub locations: u64,
    pub members: u64,
    pub changes: u64,
    pub tasks: u64,
    /// Change records and removed values of live images.
    pub history: u64,
}

/// Where a purge counts the rows of one table.
type Tally = fn(&mut Purged) -> &mut u64;

/// The tables that hang off an image, and how a purge counts them.
const CHILDREN: [(&str, Tally); 5] = [
    ("image_properties", |p| &mut p.properties),
    ("image_tags", |p| &mut p.tags),
    ("image_locations", |p| &mut p.locations),
    ("image_members", |p| &mut p.members),
    ("property_changes", |p| &mut p.changes),
];

fn placeholders(n: usize, from: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Db {
    /// Purges as `what` says (or counts, without `apply`).
    pub async fn purge(&self, what: &Purge) -> Result<Purged, DbError> {
        self.purge_telling(what, &|_| Vec::new()).await
    }

    /// Purges as `what` says, telling each task removed as `gone` words it.
    pub(crate) async fn purge_telling(
        &self,
        what: &Purge,
        gone: TaskGone<'_>,
    ) -> Result<Purged, DbError> {
        let mut done = Purged::default();
        let mut skip = 0usize;
        loop {
            let room = match what.max_images {
                Some(m) => (m.saturating_sub(done.images) as usize).min(BATCH),
                None => BATCH,
            };
            if room == 0 {
                break;
            }
            // A dry run removes nothing, so it pages on.
            let rows = sqlx::query(
                "SELECT id FROM images WHERE deleted = 1 AND deleted_at < $1 \
                 ORDER BY deleted_at, id LIMIT $2 OFFSET $3",
            )
            .bind(what.deleted_before)
            .bind(room as i64)
            .bind(skip as i64)
            .fetch_all(&self.pool)
            .await?;
            let ids: Vec<String> = rows
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            if ids.is_empty() {
                break;
            }
            self.purge_images(&ids, what.apply, &mut done).await?;
            if !what.apply {
                skip += ids.len();
            }
        }
        done.tasks = self
            .purge_tasks(what.deleted_before, what.apply, gone)
            .await?;
        if let Some(before) = what.history_before {
            done.history = self
                .counted(
                    "property_changes WHERE changed_at < $1 AND image_id IN \
                     (SELECT id FROM images WHERE deleted = 0)",
                    before,
                    what.apply,
                )
                .await?
                + self
                    .counted(
                        "image_properties WHERE deleted = 1 AND deleted_at < $1 AND image_id IN \
                         (SELECT id FROM images WHERE deleted = 0)",
                        before,
                        what.apply,
                    )
                    .await?;
        }
        Ok(done)
    }

    /// Removes finished tasks last changed before `before` (or counts them), a batch per
    /// transaction with the notifications that tell it.
    async fn purge_tasks(
        &self,
        before: i64,
        apply: bool,
        gone: TaskGone<'_>,
    ) -> Result<u64, DbError> {
        const FINISHED: &str = "status IN ('success', 'failure') AND updated_at < $1";
        if !apply {
            return self
                .counted(&format!("tasks WHERE {FINISHED}"), before, false)
                .await;
        }
        let mut removed = 0;
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {} FROM tasks WHERE {FINISHED} ORDER BY updated_at, id LIMIT {BATCH}",
                super::tasks::COLUMNS
            ))
            .bind(before)
            .fetch_all(&self.writer)
            .await?;
            if rows.is_empty() {
                return Ok(removed);
            }
            let tasks: Vec<Task> = rows
                .iter()
                .map(super::tasks::from_row)
                .collect::<Result<_, _>>()?;
            let told: Vec<Outgoing> = tasks.iter().flat_map(gone).collect();
            let mut tx = self.writer.begin().await?;
            write_outbox(&mut tx, &told).await?;
            let sql = format!(
                "DELETE FROM tasks WHERE id IN ({})",
                placeholders(tasks.len(), 1)
            );
            let mut query = sqlx::query(&sql);
            for t in &tasks {
                query = query.bind(&t.id);
            }
            removed += query.execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
        }
    }

    /// Counts the rows of `from` (a table and its condition on `$1`), and removes them with
    /// `apply`.
    async fn counted(&self, from: &str, before: i64, apply: bool) -> Result<u64, DbError> {
        if apply {
            let gone = sqlx::query(&format!("DELETE FROM {from}"))
                .bind(before)
                .execute(&self.writer)
                .await?;
            return Ok(gone.rows_affected());
        }
        let row = sqlx::query(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {from}"))
            .bind(before)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)? as u64)
    }

    /// One batch: the images' rows, their children's and a tombstone for each, in one
    /// transaction (or only counted).
    async fn purge_images(
        &self,
        ids: &[String],
        apply: bool,
        done: &mut Purged,
    ) -> Result<(), DbError> {
        let list = placeholders(ids.len(), 1);
        let mut tx = self.writer.begin().await?;
        for (table, count) in CHILDREN {
            let n = match apply {
                true => {
                    let sql = format!("DELETE FROM {table} WHERE image_id IN ({list})");
                    let mut q = sqlx::query(&sql);
                    for id in ids {
                        q = q.bind(id);
                    }
                    q.execute(&mut *tx).await?.rows_affected()
                }
                false => {
                    let sql = format!(
                        "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE image_id IN ({list})"
                    );
                    let mut q = sqlx::query(&sql);
                    for id in ids {
                        q = q.bind(id);
                    }
                    q.fetch_one(&mut *tx).await?.try_get::<i64, _>(0)? as u64
                }
            };
            *count(done) += n;
        }
        if apply {
            let now = crate::time::now_micros();
            for id in ids {
                sqlx::query("INSERT INTO purged_images (id, purged_at) VALUES ($1, $2)")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            let sql = format!("DELETE FROM images WHERE deleted = 1 AND id IN ({list})");
            let mut q = sqlx::query(&sql);
            for id in ids {
                q = q.bind(id);
            }
            q.execute(&mut *tx).await?;
            tx.commit().await?;
        }
        done.images += ids.len() as u64;
        Ok(())
    }
}
