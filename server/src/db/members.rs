//! Image members: the projects an image is shared with and their answers.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::sql::Sql;
use super::{Db, DbError, is_unique_violation};
use crate::time;

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
    /// Whether `project` is a member of the image (any member status).
    pub(crate) async fn is_member(&self, image_id: &str, project: &str) -> Result<bool, DbError> {
        let row = sqlx::query("SELECT 1 FROM image_members WHERE image_id = $1 AND member = $2")
            .bind(image_id)
            .bind(project)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

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
