//! The notification outbox, and the leases that let one server of several do a job (sending
//! the outbox).

use sqlx::Row;

use super::{Db, DbError};

/// A notification waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    /// Glance's event type: `image.create`, `image.send`, `task.success`, ...
    pub(crate) event_type: String,
    /// `INFO`, `WARN` or `ERROR`.
    pub(crate) priority: String,
    pub(crate) payload: serde_json::Value,
    /// Unique per notification: a consumer can tell a notification sent again from a new one.
    pub(crate) message_id: String,
    /// When it happened (microseconds).
    pub(crate) created_at: i64,
    /// Where it goes: `amqp` (the broker) or `webhook:<id>`; each sink is sent on its own.
    pub(crate) sink: String,
}

/// A notification in the outbox, with its place in the order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Queued {
    pub(crate) id: i64,
    pub(crate) outgoing: Outgoing,
}

/// Adds notifications to the outbox in `tx`: they are sent only if the change they tell commits.
pub(super) async fn write_outbox(
    tx: &mut super::images::Tx<'_>,
    items: &[Outgoing],
) -> Result<(), DbError> {
    for o in items {
        sqlx::query(
            "INSERT INTO notification_outbox (event_type, priority, payload, message_id, \
             created_at, sink) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&o.event_type)
        .bind(&o.priority)
        .bind(o.payload.to_string())
        .bind(&o.message_id)
        .bind(o.created_at)
        .bind(&o.sink)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// [`write_outbox`] on SQLite's writer thread.
pub(super) fn write_outbox_sqlite(
    conn: &rusqlite::Connection,
    items: &[Outgoing],
) -> Result<(), DbError> {
    if items.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO notification_outbox (event_type, priority, payload, message_id, \
         created_at, sink) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for o in items {
        insert.execute(rusqlite::params![
            o.event_type,
            o.priority,
            o.payload.to_string(),
            o.message_id,
            o.created_at,
            o.sink
        ])?;
    }
    Ok(())
}

impl Db {
    /// Adds notifications to the outbox, in order, all or none.
    pub(crate) async fn enqueue(&self, items: &[Outgoing]) -> Result<(), DbError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        write_outbox(&mut tx, items).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The oldest `limit` notifications not yet sent to `sink`, oldest first.
    pub(crate) async fn outbox(&self, sink: &str, limit: i64) -> Result<Vec<Queued>, DbError> {
        let rows = sqlx::query(
            "SELECT id, event_type, priority, payload, message_id, created_at, sink \
             FROM notification_outbox WHERE sink = $1 ORDER BY id LIMIT $2",
        )
        .bind(sink)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let payload: String = r.try_get(3)?;
                Ok(Queued {
                    id: r.try_get(0)?,
                    outgoing: Outgoing {
                        event_type: r.try_get(1)?,
                        priority: r.try_get(2)?,
                        payload: serde_json::from_str(&payload).map_err(|e| {
                            DbError::Corrupt(format!("outbox payload {payload}: {e}"))
                        })?,
                        message_id: r.try_get(4)?,
                        created_at: r.try_get(5)?,
                        sink: r.try_get(6)?,
                    },
                })
            })
            .collect()
    }

    /// Removes notifications the broker has confirmed (by id: a row another server wrote with
    /// an id among them, not yet visible when the batch was read, stays).
    pub(crate) async fn sent(&self, ids: &[i64]) -> Result<(), DbError> {
        for chunk in ids.chunks(100) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "DELETE FROM notification_outbox WHERE id IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            query.execute(&self.writer).await?;
        }
        Ok(())
    }

    /// How many notifications wait to be sent, and when the oldest was made (microseconds).
    pub(crate) async fn outbox_waiting(&self) -> Result<(i64, Option<i64>), DbError> {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT), MIN(created_at) FROM notification_outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Each pool's connections: its name, how many are open, and how many of them are idle.
    pub(crate) fn pool_connections(&self) -> [(&'static str, u32, usize); 2] {
        [
            ("reader", self.pool.size(), self.pool.num_idle()),
            ("writer", self.writer.size(), self.writer.num_idle()),
        ]
    }

    /// Whether the database answers.
    pub(crate) async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Takes or keeps the lease `name` for `holder` until `now + ttl`; `false` while another
    /// holder's lease runs.
    pub(crate) async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_micros: i64,
    ) -> Result<bool, DbError> {
        let now = crate::time::now_micros();
        let taken = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
        )
        .bind(name)
        .bind(holder)
        .bind(now + ttl_micros)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(taken.rows_affected() == 1)
    }
}
