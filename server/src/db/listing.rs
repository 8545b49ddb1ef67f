//! Listing images: filters, sort keys and keyset paging (Glance's `GET /v2/images` query).

use glint_core::Visibility;
use sqlx::Row;

use super::StoredImage;
use super::images::{from_row, to_i64};
use super::sql::{Arg, Sql};
use super::{Backend, Db, DbError};

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

impl Db {
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
