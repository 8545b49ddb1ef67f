//! Writing images taken over from a Glance database (`glint adopt --apply`): rows as Glance
//! had them, timestamps included, many images per transaction. An image already present is
//! left as it is, so a run that was stopped halfway is finished by running it again.

use std::collections::HashSet;

use glint_core::{Image, Plan};

use super::images::{ATTRIBUTE_COLUMNS, Tx, bind_attributes, corrupt};
use super::sql::Sql;
use super::{Db, DbError, Member, StoredImage, Task};

/// One property row as adopted.
#[derive(Debug, Clone)]
pub(crate) struct AdoptedProperty {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) deleted: bool,
    /// `None` for a removed value whose removal time Glance did not keep.
    pub(crate) deleted_at: Option<i64>,
}

/// An image with everything that hangs off it, ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct AdoptedImage {
    /// The image: its live properties are ignored (`properties` has every row).
    pub(crate) image: Image,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) deleted: bool,
    pub(crate) deleted_at: Option<i64>,
    pub(crate) properties: Vec<AdoptedProperty>,
    pub(crate) members: Vec<Member>,
    /// The change record that shows the adoption in the image's history, if any.
    pub(crate) plan: Option<Plan>,
}

impl Db {
    /// Which of `ids` are images here already (deleted ones included).
    pub(crate) async fn present_images(&self, ids: &[String]) -> Result<HashSet<String>, DbError> {
        self.present("images", ids).await
    }

    /// An image, deleted or not, with its live properties, tags and locations.
    pub(crate) async fn any_image(&self, id: &str) -> Result<Option<StoredImage>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM images WHERE id = $1",
            self.image_columns()
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(super::images::from_row).transpose()
    }

    /// Which of `ids` are tasks here already.
    pub(crate) async fn present_tasks(&self, ids: &[String]) -> Result<HashSet<String>, DbError> {
        self.present("tasks", ids).await
    }

    async fn present(&self, table: &str, ids: &[String]) -> Result<HashSet<String>, DbError> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(500) {
            let mut q = Sql::new(&format!("SELECT id FROM {table} WHERE id IN "));
            q.list(chunk);
            for row in q.query().fetch_all(&self.pool).await? {
                found.insert(sqlx::Row::try_get::<String, _>(&row, 0)?);
            }
        }
        Ok(found)
    }

    /// Writes adopted images in one transaction, skipping any that is already here; returns
    /// how many were written.
    pub(crate) async fn adopt_images(
        &self,
        images: &[AdoptedImage],
        request_id: &str,
        now: i64,
    ) -> Result<usize, DbError> {
        let mut tx = self.writer.begin().await?;
        let mut written = 0;
        for a in images {
            if write_image(&mut tx, a).await? {
                write_children(&mut tx, a, request_id, now).await?;
                written += 1;
            }
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Writes adopted tasks, skipping any already here; returns how many were written.
    pub(crate) async fn adopt_tasks(&self, tasks: &[Task]) -> Result<usize, DbError> {
        let mut tx = self.writer.begin().await?;
        let mut written = 0;
        for t in tasks {
            let done = sqlx::query(
                "INSERT INTO tasks (id, type, status, owner, image_id, request_id, user_id, \
                 input, result, message, created_at, updated_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&t.id)
            .bind(&t.kind)
            .bind(&t.status)
            .bind(&t.owner)
            .bind(&t.image_id)
            .bind(&t.request_id)
            .bind(&t.user_id)
            .bind(t.input.to_string())
            .bind(t.result.as_ref().map(|r| r.to_string()))
            .bind(&t.message)
            .bind(t.created_at)
            .bind(t.updated_at)
            .bind(t.expires_at)
            .execute(&mut *tx)
            .await?;
            written += usize::try_from(done.rows_affected()).unwrap_or_default();
        }
        tx.commit().await?;
        Ok(written)
    }
}

/// Inserts the image row; `false` if the id is taken.
async fn write_image(tx: &mut Tx<'_>, a: &AdoptedImage) -> Result<bool, DbError> {
    let image = &a.image;
    let done = bind_attributes(
        sqlx::query(&format!(
            "INSERT INTO images ({ATTRIBUTE_COLUMNS}, created_at, updated_at, deleted, deleted_at, \
             version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, $20, 1) ON CONFLICT (id) DO NOTHING"
        )),
        image,
    )
    .bind(a.created_at)
    .bind(a.updated_at)
    .bind(i64::from(a.deleted))
    .bind(a.deleted_at)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn write_children(
    tx: &mut Tx<'_>,
    a: &AdoptedImage,
    request_id: &str,
    now: i64,
) -> Result<(), DbError> {
    let id = &a.image.id;
    for chunk in a.properties.chunks(100) {
        let mut q = Sql::new(
            "INSERT INTO image_properties (image_id, name, value, created_at, updated_at, \
             deleted, deleted_at) VALUES ",
        );
        for (i, p) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(")
                .text(id.as_str())
                .push(", ")
                .text(p.name.as_str());
            q.push(", ")
                .text(p.value.as_str())
                .push(", ")
                .int(p.created_at);
            q.push(", ")
                .int(p.updated_at)
                .push(", ")
                .int(i64::from(p.deleted));
            match p.deleted_at {
                Some(t) => q.push(", ").int(t).push(")"),
                None => q.push(", NULL)"),
            };
        }
        q.query().execute(&mut **tx).await?;
    }
    for (i, tag) in a.image.tags.iter().enumerate() {
        sqlx::query(
            "INSERT INTO image_tags (image_id, value, position, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (image_id, value) DO NOTHING",
        )
        .bind(id)
        .bind(tag)
        .bind(i64::try_from(i).unwrap_or(i64::MAX))
        .bind(a.created_at)
        .execute(&mut **tx)
        .await?;
    }
    super::images::write_locations(tx, id, &a.image.locations, a.created_at).await?;
    for m in &a.members {
        sqlx::query(
            "INSERT INTO image_members (image_id, member, status, can_share, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (image_id, member) DO NOTHING",
        )
        .bind(id)
        .bind(&m.member)
        .bind(&m.status)
        .bind(i64::from(m.can_share))
        .bind(m.created_at)
        .bind(m.updated_at)
        .execute(&mut **tx)
        .await?;
    }
    if let Some(plan) = &a.plan {
        sqlx::query(
            "INSERT INTO property_changes (image_id, changed_at, request_id, user_id, project_id, \
             action, plan) VALUES ($1, $2, $3, NULL, NULL, 'adopt', $4)",
        )
        .bind(id)
        .bind(now)
        .bind(request_id)
        .bind(serde_json::to_string(plan).map_err(corrupt)?)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
