//! Metadata definitions: namespaces, their properties, objects and tags (one `metadef_entries`
//! table, told apart by `kind`), resource types and namespace associations.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::sql::Sql;
use super::{Db, DbError, is_unique_violation};
use crate::time;

/// A namespace's own fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Namespace {
    pub(crate) id: String,
    pub(crate) namespace: String,
    pub(crate) display_name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) visibility: String,
    pub(crate) protected: bool,
    pub(crate) owner: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: Option<i64>,
}

/// What an entry of a namespace is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Property,
    Object,
    Tag,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Property => "property",
            Kind::Object => "object",
            Kind::Tag => "tag",
        }
    }
}

/// A property, object or tag of a namespace; `body` is its definition as JSON.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) body: serde_json::Value,
    pub(crate) created_at: i64,
    pub(crate) updated_at: Option<i64>,
}

impl Entry {
    pub(crate) fn new(name: &str, body: serde_json::Value) -> Entry {
        Entry {
            name: name.to_string(),
            body,
            created_at: time::now_micros(),
            updated_at: None,
        }
    }
}

/// A resource type, or (with `prefix` and `properties_target`) a namespace's association with
/// one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Association {
    pub(crate) name: String,
    pub(crate) prefix: Option<String>,
    pub(crate) properties_target: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: Option<i64>,
}

/// A namespace with everything in it, as it is created or loaded.
#[derive(Debug, Clone)]
pub(crate) struct NamespaceDoc {
    pub(crate) namespace: Namespace,
    pub(crate) associations: Vec<Association>,
    pub(crate) properties: Vec<Entry>,
    pub(crate) objects: Vec<Entry>,
    pub(crate) tags: Vec<Entry>,
}

/// How namespaces are listed.
#[derive(Debug)]
pub(crate) struct NamespaceQuery<'a> {
    /// `None` for an administrator (everything); otherwise the caller's project, which sees
    /// its own namespaces and public ones.
    pub(crate) visible_to: Option<Option<&'a str>>,
    pub(crate) visibility: Option<&'a str>,
    /// Namespaces associated with any of these.
    pub(crate) resource_types: &'a [String],
    pub(crate) sort_key: NamespaceSort,
    pub(crate) ascending: bool,
    pub(crate) marker: Option<&'a Namespace>,
    pub(crate) limit: i64,
}

/// The columns namespaces can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamespaceSort {
    CreatedAt,
    UpdatedAt,
    Namespace,
    DisplayName,
}

impl NamespaceSort {
    pub(crate) fn parse(s: &str) -> Option<NamespaceSort> {
        Some(match s {
            "created_at" => NamespaceSort::CreatedAt,
            "updated_at" => NamespaceSort::UpdatedAt,
            "namespace" => NamespaceSort::Namespace,
            "display_name" => NamespaceSort::DisplayName,
            _ => return None,
        })
    }
}

const NS_COLUMNS: &str = "id, namespace, display_name, description, visibility, protected, owner, created_at, updated_at";

fn namespace_from_row(r: &AnyRow) -> Result<Namespace, DbError> {
    Ok(Namespace {
        id: r.try_get(0)?,
        namespace: r.try_get(1)?,
        display_name: r.try_get(2)?,
        description: r.try_get(3)?,
        visibility: r.try_get(4)?,
        protected: r.try_get::<i64, _>(5)? != 0,
        owner: r.try_get(6)?,
        created_at: r.try_get(7)?,
        updated_at: r.try_get(8)?,
    })
}

fn entry_from_row(r: &AnyRow) -> Result<Entry, DbError> {
    let body: String = r.try_get(1)?;
    Ok(Entry {
        name: r.try_get(0)?,
        body: serde_json::from_str(&body)
            .map_err(|e| DbError::Corrupt(format!("metadef entry body: {e}")))?,
        created_at: r.try_get(2)?,
        updated_at: r.try_get(3)?,
    })
}

fn association_from_row(r: &AnyRow) -> Result<Association, DbError> {
    Ok(Association {
        name: r.try_get(0)?,
        prefix: r.try_get(1)?,
        properties_target: r.try_get(2)?,
        created_at: r.try_get(3)?,
        updated_at: r.try_get(4)?,
    })
}

/// `Err(Duplicate(what))` for a unique violation, the error itself otherwise.
fn unique<T>(r: Result<T, sqlx::Error>, what: impl FnOnce() -> String) -> Result<T, DbError> {
    match r {
        Err(e) if is_unique_violation(&e) => Err(DbError::Duplicate(what())),
        other => Ok(other?),
    }
}

async fn insert_entry(
    tx: &mut Transaction<'_, Any>,
    namespace_id: &str,
    kind: Kind,
    e: &Entry,
) -> Result<(), DbError> {
    let inserted = sqlx::query(
        "INSERT INTO metadef_entries (namespace_id, kind, name, body, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(namespace_id)
    .bind(kind.as_str())
    .bind(&e.name)
    .bind(e.body.to_string())
    .bind(e.created_at)
    .bind(e.updated_at)
    .execute(&mut **tx)
    .await;
    unique(inserted, || e.name.clone())?;
    Ok(())
}

/// Makes sure a resource type exists.
async fn ensure_resource_type(
    tx: &mut Transaction<'_, Any>,
    name: &str,
    protected: bool,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO metadef_resource_types (name, protected, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(i64::from(protected))
    .bind(time::now_micros())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_association(
    tx: &mut Transaction<'_, Any>,
    namespace_id: &str,
    a: &Association,
    protected_type: bool,
) -> Result<(), DbError> {
    ensure_resource_type(tx, &a.name, protected_type).await?;
    let inserted = sqlx::query(
        "INSERT INTO metadef_associations \
         (namespace_id, resource_type, prefix, properties_target, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(namespace_id)
    .bind(&a.name)
    .bind(&a.prefix)
    .bind(&a.properties_target)
    .bind(a.created_at)
    .bind(a.updated_at)
    .execute(&mut **tx)
    .await;
    unique(inserted, || a.name.clone())?;
    Ok(())
}

/// Which part of a namespace a duplicate was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Clash {
    Namespace,
    Entry(Kind, String),
    Association(String),
}

async fn insert_doc(
    tx: &mut Transaction<'_, Any>,
    doc: &NamespaceDoc,
    protected_types: bool,
) -> Result<(), (Clash, DbError)> {
    let ns = &doc.namespace;
    let inserted = sqlx::query(&format!(
        "INSERT INTO metadef_namespaces ({NS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&ns.id)
    .bind(&ns.namespace)
    .bind(&ns.display_name)
    .bind(&ns.description)
    .bind(&ns.visibility)
    .bind(i64::from(ns.protected))
    .bind(&ns.owner)
    .bind(ns.created_at)
    .bind(ns.updated_at)
    .execute(&mut **tx)
    .await;
    unique(inserted, || ns.namespace.clone()).map_err(|e| (Clash::Namespace, e))?;
    for a in &doc.associations {
        insert_association(tx, &ns.id, a, protected_types)
            .await
            .map_err(|e| (Clash::Association(a.name.clone()), e))?;
    }
    for (kind, entries) in [
        (Kind::Property, &doc.properties),
        (Kind::Object, &doc.objects),
        (Kind::Tag, &doc.tags),
    ] {
        for e in entries {
            insert_entry(tx, &ns.id, kind, e)
                .await
                .map_err(|err| (Clash::Entry(kind, e.name.clone()), err))?;
        }
    }
    Ok(())
}

impl Db {
    /// Creates a namespace with its entries and associations, all or nothing. Resource types
    /// it names are created when missing. A duplicate says where it was found.
    pub(crate) async fn insert_namespace(
        &self,
        doc: &NamespaceDoc,
    ) -> Result<(), (Clash, DbError)> {
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(|e| (Clash::Namespace, e.into()))?;
        insert_doc(&mut tx, doc, false).await?;
        tx.commit()
            .await
            .map_err(|e| (Clash::Namespace, e.into()))?;
        Ok(())
    }

    pub(crate) async fn namespace(&self, name: &str) -> Result<Option<Namespace>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {NS_COLUMNS} FROM metadef_namespaces WHERE namespace = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(namespace_from_row).transpose()
    }

    pub(crate) async fn namespaces(
        &self,
        q: &NamespaceQuery<'_>,
    ) -> Result<Vec<Namespace>, DbError> {
        let mut sql = Sql::new(&format!(
            "SELECT {NS_COLUMNS} FROM metadef_namespaces n WHERE 1 = 1"
        ));
        if let Some(project) = q.visible_to {
            sql.push(" AND (visibility = 'public'");
            if let Some(p) = project {
                sql.push(" OR owner = ").text(p);
            }
            sql.push(")");
        }
        if let Some(v) = q.visibility {
            sql.push(" AND visibility = ").text(v);
        }
        if !q.resource_types.is_empty() {
            sql.push(
                " AND EXISTS (SELECT 1 FROM metadef_associations a \
                 WHERE a.namespace_id = n.id AND a.resource_type IN ",
            )
            .list(q.resource_types)
            .push(")");
        }
        let (cmp, dir) = if q.ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        // Keyset paging over (key, created_at, id); NULL keys (display name, updated time) sort
        // as the empty string or 0.
        let key = match q.sort_key {
            NamespaceSort::CreatedAt => "created_at",
            NamespaceSort::UpdatedAt => "COALESCE(updated_at, 0)",
            NamespaceSort::Namespace => "namespace",
            NamespaceSort::DisplayName => "COALESCE(display_name, '')",
        };
        if let Some(m) = q.marker {
            sql.push(&format!(" AND ({key}, created_at, id) {cmp} ("));
            match q.sort_key {
                NamespaceSort::CreatedAt => sql.int(m.created_at),
                NamespaceSort::UpdatedAt => sql.int(m.updated_at.unwrap_or(0)),
                NamespaceSort::Namespace => sql.text(m.namespace.clone()),
                NamespaceSort::DisplayName => sql.text(m.display_name.clone().unwrap_or_default()),
            };
            sql.push(", ")
                .int(m.created_at)
                .push(", ")
                .text(m.id.clone())
                .push(")");
        }
        sql.push(&format!(
            " ORDER BY {key} {dir}, created_at {dir}, id {dir} LIMIT "
        ))
        .int(q.limit);
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(namespace_from_row).collect()
    }

    /// Replaces a namespace's own fields (a rename included); `Duplicate` if the new name is
    /// taken.
    pub(crate) async fn update_namespace(&self, ns: &Namespace) -> Result<(), DbError> {
        let updated = sqlx::query(
            "UPDATE metadef_namespaces SET namespace = $1, display_name = $2, description = $3, \
             visibility = $4, protected = $5, owner = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(&ns.namespace)
        .bind(&ns.display_name)
        .bind(&ns.description)
        .bind(&ns.visibility)
        .bind(i64::from(ns.protected))
        .bind(&ns.owner)
        .bind(ns.updated_at)
        .bind(&ns.id)
        .execute(&self.writer)
        .await;
        unique(updated, || ns.namespace.clone())?;
        Ok(())
    }

    /// Deletes a namespace and everything in it (resource types stay).
    pub(crate) async fn delete_namespace(&self, id: &str) -> Result<(), DbError> {
        let mut tx = self.writer.begin().await?;
        delete_namespace_rows(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn entries(
        &self,
        namespace_id: &str,
        kind: Kind,
    ) -> Result<Vec<Entry>, DbError> {
        let rows = sqlx::query(
            "SELECT name, body, created_at, updated_at FROM metadef_entries \
             WHERE namespace_id = $1 AND kind = $2 ORDER BY name",
        )
        .bind(namespace_id)
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Tags in Glance's order: by `sort_key` (`name`, `created_at` or `updated_at`), then
    /// creation time and name, after `marker`.
    pub(crate) async fn tags(
        &self,
        namespace_id: &str,
        sort_key: &str,
        ascending: bool,
        marker: Option<&Entry>,
        limit: i64,
    ) -> Result<Vec<Entry>, DbError> {
        let mut sql = Sql::new(
            "SELECT name, body, created_at, updated_at FROM metadef_entries WHERE namespace_id = ",
        );
        sql.text(namespace_id).push(" AND kind = 'tag'");
        let (cmp, dir) = if ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        let key = match sort_key {
            "name" => "name",
            "updated_at" => "COALESCE(updated_at, 0)",
            _ => "created_at",
        };
        if let Some(m) = marker {
            sql.push(&format!(" AND ({key}, created_at, name) {cmp} ("));
            match sort_key {
                "name" => sql.text(m.name.clone()),
                "updated_at" => sql.int(m.updated_at.unwrap_or(0)),
                _ => sql.int(m.created_at),
            };
            sql.push(", ")
                .int(m.created_at)
                .push(", ")
                .text(m.name.clone())
                .push(")");
        }
        sql.push(&format!(
            " ORDER BY {key} {dir}, created_at {dir}, name {dir} LIMIT "
        ))
        .int(limit);
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(entry_from_row).collect()
    }

    pub(crate) async fn entry(
        &self,
        namespace_id: &str,
        kind: Kind,
        name: &str,
    ) -> Result<Option<Entry>, DbError> {
        let row = sqlx::query(
            "SELECT name, body, created_at, updated_at FROM metadef_entries \
             WHERE namespace_id = $1 AND kind = $2 AND name = $3",
        )
        .bind(namespace_id)
        .bind(kind.as_str())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(entry_from_row).transpose()
    }

    /// Adds an entry; `Duplicate` if the name is taken.
    pub(crate) async fn add_entry(
        &self,
        namespace_id: &str,
        kind: Kind,
        entry: &Entry,
    ) -> Result<(), DbError> {
        let mut tx = self.writer.begin().await?;
        insert_entry(&mut tx, namespace_id, kind, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces an entry, renaming it when `entry.name` differs from `old_name`; `Duplicate`
    /// if the new name is taken. `false` if there was no such entry.
    pub(crate) async fn replace_entry(
        &self,
        namespace_id: &str,
        kind: Kind,
        old_name: &str,
        entry: &Entry,
    ) -> Result<bool, DbError> {
        let updated = sqlx::query(
            "UPDATE metadef_entries SET name = $1, body = $2, updated_at = $3 \
             WHERE namespace_id = $4 AND kind = $5 AND name = $6",
        )
        .bind(&entry.name)
        .bind(entry.body.to_string())
        .bind(entry.updated_at)
        .bind(namespace_id)
        .bind(kind.as_str())
        .bind(old_name)
        .execute(&self.writer)
        .await;
        Ok(unique(updated, || entry.name.clone())?.rows_affected() > 0)
    }

    /// Deletes one entry (`false` if there was none), or with `name: None` every entry of the
    /// kind.
    pub(crate) async fn delete_entries(
        &self,
        namespace_id: &str,
        kind: Kind,
        name: Option<&str>,
    ) -> Result<bool, DbError> {
        let mut sql = Sql::new("DELETE FROM metadef_entries WHERE namespace_id = ");
        sql.text(namespace_id)
            .push(" AND kind = ")
            .text(kind.as_str());
        if let Some(n) = name {
            sql.push(" AND name = ").text(n);
        }
        Ok(sql.query().execute(&self.writer).await?.rows_affected() > 0)
    }

    /// Adds tags, after removing every existing one unless `append`; all or nothing
    /// (`Duplicate` names the clashing tag).
    pub(crate) async fn put_tags(
        &self,
        namespace_id: &str,
        tags: &[Entry],
        append: bool,
    ) -> Result<(), DbError> {
        let mut tx = self.writer.begin().await?;
        if !append {
            sqlx::query("DELETE FROM metadef_entries WHERE namespace_id = $1 AND kind = 'tag'")
                .bind(namespace_id)
                .execute(&mut *tx)
                .await?;
        }
        for t in tags {
            insert_entry(&mut tx, namespace_id, Kind::Tag, t).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every resource type, in the order they were made.
    pub(crate) async fn resource_types(&self) -> Result<Vec<Association>, DbError> {
        let rows = sqlx::query(
            "SELECT name, NULL, NULL, created_at, updated_at FROM metadef_resource_types \
             ORDER BY created_at, name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(association_from_row).collect()
    }

    /// The associations of the given namespaces, keyed by namespace id.
    pub(crate) async fn associations(
        &self,
        namespace_ids: &[String],
    ) -> Result<Vec<(String, Association)>, DbError> {
        if namespace_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new(
            "SELECT resource_type, prefix, properties_target, created_at, updated_at, \
             namespace_id FROM metadef_associations WHERE namespace_id IN ",
        );
        sql.list(namespace_ids)
            .push(" ORDER BY created_at, resource_type");
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(5)?, association_from_row(r)?)))
            .collect()
    }

    /// Associates a namespace with a resource type (made if missing); `Duplicate` if it is
    /// already.
    pub(crate) async fn add_association(
        &self,
        namespace_id: &str,
        a: &Association,
    ) -> Result<(), DbError> {
        let mut tx = self.writer.begin().await?;
        insert_association(&mut tx, namespace_id, a, false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `false` if there was no such association.
    pub(crate) async fn delete_association(
        &self,
        namespace_id: &str,
        resource_type: &str,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "DELETE FROM metadef_associations WHERE namespace_id = $1 AND resource_type = $2",
        )
        .bind(namespace_id)
        .bind(resource_type)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Loads a catalogue namespace (`glint metadefs load`): created when missing; otherwise
    /// left alone, or merged (missing parts added; with `prefer_new` existing ones replaced
    /// too), or overwritten (deleted and made anew). Says what it did.
    pub(crate) async fn load_namespace(
        &self,
        doc: &NamespaceDoc,
        mode: LoadMode,
    ) -> Result<Loaded, DbError> {
        let mut tx = self.writer.begin().await?;
        let existing = sqlx::query(&format!(
            "SELECT {NS_COLUMNS} FROM metadef_namespaces WHERE namespace = $1"
        ))
        .bind(&doc.namespace.namespace)
        .fetch_optional(&mut *tx)
        .await?;
        let existing = existing.as_ref().map(namespace_from_row).transpose()?;
        let outcome = match (existing, mode) {
            (None, _) => {
                insert_doc(&mut tx, doc, true).await.map_err(|(_, e)| e)?;
                Loaded::Created
            }
            (Some(_), LoadMode::Skip) => Loaded::Skipped,
            (Some(old), LoadMode::Overwrite) => {
                delete_namespace_rows(&mut tx, &old.id).await?;
                insert_doc(&mut tx, doc, true).await.map_err(|(_, e)| e)?;
                Loaded::Overwritten
            }
            (Some(old), LoadMode::Merge { prefer_new }) => {
                merge(&mut tx, &old, doc, prefer_new).await?;
                Loaded::Merged
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }
}

async fn delete_namespace_rows(tx: &mut Transaction<'_, Any>, id: &str) -> Result<(), DbError> {
    for table in ["metadef_entries", "metadef_associations"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE namespace_id = $1"))
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("DELETE FROM metadef_namespaces WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Adds what the file has and the database does not; with `prefer_new`, the file's version
/// of what both have (the namespace's own fields included) replaces the database's.
async fn merge(
    tx: &mut Transaction<'_, Any>,
    old: &Namespace,
    doc: &NamespaceDoc,
    prefer_new: bool,
) -> Result<(), DbError> {
    let now = time::now_micros();
    if prefer_new {
        let n = &doc.namespace;
        sqlx::query(
            "UPDATE metadef_namespaces SET display_name = $1, description = $2, visibility = $3, \
             protected = $4, owner = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(&n.display_name)
        .bind(&n.description)
        .bind(&n.visibility)
        .bind(i64::from(n.protected))
        .bind(&n.owner)
        .bind(now)
        .bind(&old.id)
        .execute(&mut **tx)
        .await?;
    }
    for a in &doc.associations {
        ensure_resource_type(tx, &a.name, true).await?;
        let sql = format!(
            "INSERT INTO metadef_associations \
             (namespace_id, resource_type, prefix, properties_target, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (namespace_id, resource_type) {}",
            match prefer_new {
                true =>
                    "DO UPDATE SET prefix = excluded.prefix, \
                         properties_target = excluded.properties_target, \
                         updated_at = excluded.created_at",
                false => "DO NOTHING",
            }
        );
        sqlx::query(&sql)
            .bind(&old.id)
            .bind(&a.name)
            .bind(&a.prefix)
            .bind(&a.properties_target)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    for (kind, entries) in [
        (Kind::Property, &doc.properties),
        (Kind::Object, &doc.objects),
        (Kind::Tag, &doc.tags),
    ] {
        for e in entries {
            let sql = format!(
                "INSERT INTO metadef_entries \
                 (namespace_id, kind, name, body, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (namespace_id, kind, name) {}",
                match prefer_new {
                    true => "DO UPDATE SET body = excluded.body, updated_at = excluded.created_at",
                    false => "DO NOTHING",
                }
            );
            sqlx::query(&sql)
                .bind(&old.id)
                .bind(kind.as_str())
                .bind(&e.name)
                .bind(e.body.to_string())
                .bind(now)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// What `glint metadefs load` does with a namespace that exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    Skip,
    Merge { prefer_new: bool },
    Overwrite,
}

/// What loading did with one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    Created,
    Skipped,
    Merged,
    Overwritten,
}
