//! Task rows: what an asynchronous operation (an import) was asked, and how it ended.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::sql::Sql;
use super::{Db, DbError};
use crate::time;

/// How long a finished task stays listed (Glance's `task_time_to_live`: 48 hours).
const TIME_TO_LIVE: i64 = 48 * 3600 * 1_000_000;

#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) owner: Option<String>,
    pub(crate) image_id: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) input: serde_json::Value,
    pub(crate) result: Option<serde_json::Value>,
    pub(crate) message: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) expires_at: Option<i64>,
}

pub(super) const COLUMNS: &str = "id, type, status, owner, image_id, request_id, user_id, input, result, \
    message, created_at, updated_at, expires_at";

pub(super) fn from_row(r: &AnyRow) -> Result<Task, DbError> {
    let input: String = r.try_get(7)?;
    let result: Option<String> = r.try_get(8)?;
    let parse = |s: &str| serde_json::from_str(s).map_err(|e| DbError::Corrupt(e.to_string()));
    Ok(Task {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        status: r.try_get(2)?,
        owner: r.try_get(3)?,
        image_id: r.try_get(4)?,
        request_id: r.try_get(5)?,
        user_id: r.try_get(6)?,
        input: parse(&input)?,
        result: result.as_deref().map(parse).transpose()?,
        message: r.try_get(9)?,
        created_at: r.try_get(10)?,
        updated_at: r.try_get(11)?,
        expires_at: r.try_get(12)?,
    })
}

impl Db {
    /// Records a task that has started.
    pub(crate) async fn start_task(&self, task: &Task) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO tasks (id, type, status, owner, image_id, request_id, user_id, input, \
             message, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', $9, $9)",
        )
        .bind(&task.id)
        .bind(&task.kind)
        .bind(&task.status)
        .bind(&task.owner)
        .bind(&task.image_id)
        .bind(&task.request_id)
        .bind(&task.user_id)
        .bind(task.input.to_string())
        .bind(task.created_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Records how a task ended: `success` or `failure`, with a message for people.
    pub(crate) async fn finish_task(
        &self,
        id: &str,
        status: &str,
        message: &str,
        result: Option<&serde_json::Value>,
    ) -> Result<(), DbError> {
        let now = time::now_micros();
        sqlx::query(
            "UPDATE tasks SET status = $1, message = $2, result = $3, updated_at = $4, \
             expires_at = $5 WHERE id = $6",
        )
        .bind(status)
        .bind(message)
        .bind(result.map(|r| r.to_string()))
        .bind(now)
        .bind(now + TIME_TO_LIVE)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub(crate) async fn task(&self, id: &str) -> Result<Option<Task>, DbError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tasks WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Tasks of an image, newest first, expired ones left out.
    pub(crate) async fn image_tasks(&self, image_id: &str) -> Result<Vec<Task>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE image_id = $1 \
             AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at DESC"
        ))
        .bind(image_id)
        .bind(time::now_micros())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Tasks visible to a caller (`owner: None` for an administrator: all of them), filtered,
    /// ordered by creation time and paged after `marker`; expired ones are left out.
    pub(crate) async fn tasks(&self, q: &TaskQuery<'_>) -> Result<Vec<Task>, DbError> {
        let now = time::now_micros();
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE (expires_at IS NULL OR expires_at > "
        ));
        sql.int(now).push(")");
        if let Some(o) = q.owner {
            sql.push(" AND owner = ").text(o);
        }
        if let Some(s) = q.status {
            sql.push(" AND status = ").text(s);
        }
        if let Some(k) = q.kind {
            sql.push(" AND type = ").text(k);
        }
        let (cmp, dir) = if q.ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        if let Some(marker) = q.marker {
            sql.push(&format!(" AND (created_at {cmp} "))
                .int(marker.created_at)
                .push(" OR (created_at = ")
                .int(marker.created_at)
                .push(&format!(" AND id {cmp} "))
                .text(marker.id.clone())
                .push("))");
        }
        sql.push(&format!(" ORDER BY created_at {dir}, id {dir} LIMIT "))
            .int(q.limit);
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }
}

/// What `GET /v2/tasks` asks for.
#[derive(Debug)]
pub(crate) struct TaskQuery<'a> {
    pub(crate) owner: Option<&'a str>,
    pub(crate) status: Option<&'a str>,
    pub(crate) kind: Option<&'a str>,
    /// The last task of the previous page.
    pub(crate) marker: Option<&'a Task>,
    pub(crate) ascending: bool,
    pub(crate) limit: i64,
}
