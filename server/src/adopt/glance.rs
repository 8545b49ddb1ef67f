//! Reading a Glance database: MariaDB/MySQL, PostgreSQL or SQLite, at any schema from the
//! `is_public` days to Glance 33. Columns are looked up before they are read, so a column a
//! release had not yet added reads as its later default. Nothing is ever written: SQLite is
//! opened read-only and every query is a `SELECT`.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::AdoptError;
use crate::time;

/// Which SQL the source speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Mysql,
    Postgres,
    Sqlite,
}

/// An open Glance database and the columns its tables have.
#[derive(Debug)]
pub(crate) struct Source {
    pool: AnyPool,
    pub(crate) dialect: Dialect,
    columns: HashMap<String, HashSet<String>>,
    /// Alembic's revision (`alembic_version`), or sqlalchemy-migrate's version before it.
    pub(crate) schema: String,
}

/// A row of `images`.
#[derive(Debug, Clone)]
pub(crate) struct GlanceImage {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) size: Option<i64>,
    pub(crate) virtual_size: Option<i64>,
    pub(crate) status: String,
    pub(crate) visibility: String,
    pub(crate) protected: bool,
    pub(crate) os_hidden: bool,
    pub(crate) checksum: Option<String>,
    pub(crate) os_hash_algo: Option<String>,
    pub(crate) os_hash_value: Option<String>,
    pub(crate) owner: Option<String>,
    pub(crate) min_disk: i64,
    pub(crate) min_ram: i64,
    pub(crate) disk_format: Option<String>,
    pub(crate) container_format: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) deleted_at: Option<i64>,
    pub(crate) deleted: bool,
}

/// A row of `image_properties`, live or soft-deleted.
#[derive(Debug, Clone)]
pub(crate) struct GlanceProperty {
    pub(crate) name: String,
    /// `None` where Glance stored NULL.
    pub(crate) value: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) deleted: bool,
    pub(crate) deleted_at: Option<i64>,
}

/// A row of `image_locations`.
#[derive(Debug, Clone)]
pub(crate) struct GlanceLocation {
    pub(crate) url: String,
    pub(crate) metadata: serde_json::Map<String, serde_json::Value>,
    /// `active`, `pending_delete` or `deleted` (`active` before the column existed).
    pub(crate) status: String,
    pub(crate) deleted: bool,
}

/// A row of `image_members`.
#[derive(Debug, Clone)]
pub(crate) struct GlanceMember {
    pub(crate) member: String,
    pub(crate) can_share: bool,
    pub(crate) status: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) deleted: bool,
}

/// A row of `image_tags`.
#[derive(Debug, Clone)]
pub(crate) struct GlanceTag {
    pub(crate) value: String,
    pub(crate) deleted: bool,
}

/// Everything that hangs off one image.
#[derive(Debug, Clone, Default)]
pub(crate) struct Details {
    pub(crate) properties: Vec<GlanceProperty>,
    pub(crate) locations: Vec<GlanceLocation>,
    pub(crate) members: Vec<GlanceMember>,
    pub(crate) tags: Vec<GlanceTag>,
}

/// A row of `tasks` with its `task_info`.
#[derive(Debug, Clone)]
pub(crate) struct GlanceTask {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) owner: Option<String>,
    pub(crate) image_id: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) input: Option<String>,
    pub(crate) result: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) deleted: bool,
}

/// A metadata definition namespace with its contents, as Glance's catalogue files write it.
#[derive(Debug, Clone)]
pub(crate) struct GlanceNamespace {
    pub(crate) name: String,
    pub(crate) owner: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: Option<i64>,
    /// When each property, object, tag and resource type association was made and last
    /// changed, by kind and name.
    pub(crate) times: HashMap<(&'static str, String), (i64, Option<i64>)>,
    /// The namespace as a catalogue document (`namespace`, `properties`, `objects`, `tags`,
    /// `resource_type_associations`, ...).
    pub(crate) document: serde_json::Map<String, serde_json::Value>,
}

/// The URL sqlx understands for a Glance `[database] connection` string:
/// `mysql+pymysql://` is `mysql://`, `postgresql+psycopg2://` is `postgres://`, SQLAlchemy's
/// `sqlite:////abs/path` is the file `/abs/path`. Query options meant for the Python driver
/// (`charset=utf8`) are dropped.
pub(crate) fn source_url(url: &str) -> Result<(Dialect, String), AdoptError> {
    let (scheme, rest) = url
        .split_once(':')
        .ok_or_else(|| AdoptError::Source(format!("'{url}' is not a database URL")))?;
    let base = scheme.split('+').next().unwrap_or(scheme);
    let without_query = |r: &str| r.split('?').next().unwrap_or(r).to_string();
    match base {
        "mysql" | "mariadb" => Ok((Dialect::Mysql, format!("mysql:{}", without_query(rest)))),
        "postgres" | "postgresql" => Ok((
            Dialect::Postgres,
            format!("postgres:{}", without_query(rest)),
        )),
        "sqlite" => {
            // SQLAlchemy: three slashes then a relative path, four for an absolute one.
            let path = without_query(rest);
            let path = path.strip_prefix("///").unwrap_or(path.as_str());
            if path.is_empty() || path == ":memory:" {
                return Err(AdoptError::Source(format!(
                    "'{url}' names no database file"
                )));
            }
            if !std::path::Path::new(path).exists() {
                return Err(AdoptError::Source(format!("{path}: no such database file")));
            }
            Ok((Dialect::Sqlite, format!("sqlite://{path}?mode=ro")))
        }
        other => Err(AdoptError::Source(format!(
            "'{other}' databases are not read: use mysql://, postgresql:// or sqlite://"
        ))),
    }
}

/// Glance's times (`DATETIME`, naive UTC) as microseconds.
fn micros(text: Option<String>) -> Option<i64> {
    text.as_deref().and_then(time::parse)
}

fn text_at(row: &AnyRow, i: usize) -> Result<Option<String>, AdoptError> {
    // MySQL hands `TEXT` columns over as blobs with a character set.
    match row.try_get::<Option<String>, _>(i) {
        Ok(v) => Ok(v),
        Err(_) => Ok(row
            .try_get::<Option<Vec<u8>>, _>(i)?
            .map(|b| String::from_utf8_lossy(&b).into_owned())),
    }
}

fn int_at(row: &AnyRow, i: usize) -> Result<Option<i64>, AdoptError> {
    Ok(row.try_get::<Option<i64>, _>(i)?)
}

impl Source {
    pub(crate) async fn open(url: &str) -> Result<Source, AdoptError> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = source_url(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .map_err(|e| AdoptError::Source(format!("cannot connect: {e}")))?;
        let listing = match dialect {
            Dialect::Mysql => {
                "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR) \
                 FROM information_schema.columns WHERE table_schema = DATABASE()"
            }
            Dialect::Postgres => {
                "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) \
                 FROM information_schema.columns WHERE table_schema = current_schema()"
            }
            Dialect::Sqlite => {
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table'"
            }
        };
        let mut columns: HashMap<String, HashSet<String>> = HashMap::new();
        for row in sqlx::query(listing).fetch_all(&pool).await? {
            let table = text_at(&row, 0)?.unwrap_or_default().to_lowercase();
            let column = text_at(&row, 1)?.unwrap_or_default().to_lowercase();
            columns.entry(table).or_default().insert(column);
        }
        let mut source = Source {
            pool,
            dialect,
            columns,
            schema: String::new(),
        };
        for table in [
            "images",
            "image_properties",
            "image_locations",
            "image_members",
        ] {
            if !source.columns.contains_key(table) {
                return Err(AdoptError::Source(format!(
                    "no `{table}` table: this is not a Glance database"
                )));
            }
        }
        source.schema = if source.has_table("alembic_version") {
            let row = sqlx::query(&format!(
                "SELECT {} FROM alembic_version",
                source.text("version_num")
            ))
            .fetch_optional(&source.pool)
            .await?;
            match row {
                Some(r) => text_at(&r, 0)?.unwrap_or_default(),
                None => String::new(),
            }
        } else if source.has_table("migrate_version") {
            let row = sqlx::query(&format!(
                "SELECT {} FROM migrate_version",
                source.int("version")
            ))
            .fetch_optional(&source.pool)
            .await?;
            match row {
                Some(r) => format!("sqlalchemy-migrate {}", int_at(&r, 0)?.unwrap_or_default()),
                None => String::new(),
            }
        } else {
            String::new()
        };
        Ok(source)
    }

    pub(crate) async fn close(self) {
        self.pool.close().await;
    }

    pub(crate) fn has_table(&self, table: &str) -> bool {
        self.columns.contains_key(table)
    }

    pub(crate) fn has(&self, table: &str, column: &str) -> bool {
        self.columns.get(table).is_some_and(|c| c.contains(column))
    }

    /// `column` as text.
    fn text(&self, column: &str) -> String {
        match self.dialect {
            Dialect::Mysql => format!("CAST({column} AS CHAR)"),
            _ => format!("CAST({column} AS TEXT)"),
        }
    }

    /// `column` as a 64-bit integer.
    fn int(&self, column: &str) -> String {
        match self.dialect {
            Dialect::Mysql => format!("CAST({column} AS SIGNED)"),
            Dialect::Postgres => format!("CAST({column} AS BIGINT)"),
            Dialect::Sqlite => format!("CAST({column} AS INTEGER)"),
        }
    }

    /// A boolean column as 0 or 1.
    fn flag(&self, column: &str) -> String {
        self.int(&format!("CASE WHEN {column} THEN 1 ELSE 0 END"))
    }

    /// `column` of `table` as text, or NULL where the schema predates it.
    fn text_or_null(&self, table: &str, column: &str) -> String {
        if self.has(table, column) {
            self.text(column)
        } else {
            "NULL".into()
        }
    }

    /// How many rows of `table` match `filter` (a `WHERE` clause or empty).
    pub(crate) async fn count(&self, table: &str, filter: &str) -> Result<u64, AdoptError> {
        if !self.has_table(table) {
            return Ok(0);
        }
        let row = sqlx::query(&format!(
            "SELECT {} FROM {table} {filter}",
            self.int("COUNT(*)")
        ))
        .fetch_one(&self.pool)
        .await?;
        Ok(int_at(&row, 0)?.unwrap_or_default().max(0) as u64)
    }

    /// Up to `limit` images with ids after `after`, by id.
    pub(crate) async fn images(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GlanceImage>, AdoptError> {
        let t = "images";
        let visibility = if self.has(t, "visibility") {
            self.text("visibility")
        } else {
            // Before Ocata: `is_public`; a private image with members became `shared`.
            format!(
                "CASE WHEN is_public THEN 'public' WHEN EXISTS (SELECT 1 FROM image_members m \
                 WHERE m.image_id = images.id AND {}) THEN 'shared' ELSE 'private' END",
                self.not_deleted("m.deleted")
            )
        };
        let os_hidden = if self.has(t, "os_hidden") {
            self.flag("os_hidden")
        } else {
            "0".into()
        };
        let virtual_size = if self.has(t, "virtual_size") {
            self.int("virtual_size")
        } else {
            "NULL".into()
        };
        let sql = format!(
            "SELECT {id}, {name}, {size}, {virtual_size}, {status}, {visibility}, {protected}, \
             {os_hidden}, {checksum}, {algo}, {value}, {owner}, {min_disk}, {min_ram}, \
             {disk}, {container}, {created}, {updated}, {deleted_at}, {deleted} \
             FROM images {filter} ORDER BY id LIMIT {limit}",
            id = self.text("id"),
            name = self.text("name"),
            size = self.int("size"),
            status = self.text("status"),
            protected = self.flag("protected"),
            checksum = self.text("checksum"),
            algo = self.text_or_null(t, "os_hash_algo"),
            value = self.text_or_null(t, "os_hash_value"),
            owner = self.text("owner"),
            min_disk = self.int("min_disk"),
            min_ram = self.int("min_ram"),
            disk = self.text("disk_format"),
            container = self.text("container_format"),
            created = self.text("created_at"),
            updated = self.text("updated_at"),
            deleted_at = self.text("deleted_at"),
            deleted = self.flag("deleted"),
            filter = match after {
                Some(_) => format!("WHERE id > {}", self.param(1)),
                None => String::new(),
            },
        );
        let mut q = sqlx::query(&sql);
        if let Some(after) = after {
            q = q.bind(after.to_string());
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id = text_at(r, 0)?.unwrap_or_default();
            let created_at = micros(text_at(r, 16)?).unwrap_or_default();
            out.push(GlanceImage {
                name: text_at(r, 1)?,
                size: int_at(r, 2)?,
                virtual_size: int_at(r, 3)?,
                status: text_at(r, 4)?.unwrap_or_default(),
                visibility: text_at(r, 5)?.unwrap_or_else(|| "shared".into()),
                protected: int_at(r, 6)? == Some(1),
                os_hidden: int_at(r, 7)? == Some(1),
                checksum: text_at(r, 8)?,
                os_hash_algo: text_at(r, 9)?,
                os_hash_value: text_at(r, 10)?,
                owner: text_at(r, 11)?,
                min_disk: int_at(r, 12)?.unwrap_or_default(),
                min_ram: int_at(r, 13)?.unwrap_or_default(),
                disk_format: text_at(r, 14)?,
                container_format: text_at(r, 15)?,
                created_at,
                updated_at: micros(text_at(r, 17)?).unwrap_or(created_at),
                deleted_at: micros(text_at(r, 18)?),
                deleted: int_at(r, 19)? == Some(1),
                id,
            });
        }
        Ok(out)
    }

    fn not_deleted(&self, column: &str) -> String {
        format!("{} = 0", self.flag(column))
    }

    /// The `i`th (from 1) bind parameter: `?` for MySQL, `$i` elsewhere.
    fn param(&self, i: usize) -> String {
        match self.dialect {
            Dialect::Mysql => "?".into(),
            _ => format!("${i}"),
        }
    }

    /// `($1, $2, ...)` for the ids of a page.
    fn placeholders(&self, n: usize) -> String {
        let list: Vec<String> = (1..=n).map(|i| self.param(i)).collect();
        format!("({})", list.join(", "))
    }

    async fn rows_of(&self, sql: &str, ids: &[String]) -> Result<Vec<AnyRow>, AdoptError> {
        let mut q = sqlx::query(sql);
        for id in ids {
            q = q.bind(id.clone());
        }
        Ok(q.fetch_all(&self.pool).await?)
    }

    /// The properties, locations, members and tags of these images, deleted rows included.
    pub(crate) async fn details(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Details>, AdoptError> {
        let mut out: HashMap<String, Details> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let within = self.placeholders(ids.len());
        let sql = format!(
            "SELECT {}, {}, {}, {}, {}, {}, {} FROM image_properties \
             WHERE image_id IN {within} ORDER BY image_id, id",
            self.text("image_id"),
            self.text("name"),
            self.text("value"),
            self.text("created_at"),
            self.text("updated_at"),
            self.flag("deleted"),
            self.text("deleted_at"),
        );
        for r in self.rows_of(&sql, ids).await? {
            let created_at = micros(text_at(&r, 3)?).unwrap_or_default();
            out.entry(text_at(&r, 0)?.unwrap_or_default())
                .or_default()
                .properties
                .push(GlanceProperty {
                    name: text_at(&r, 1)?.unwrap_or_default(),
                    value: text_at(&r, 2)?,
                    created_at,
                    updated_at: micros(text_at(&r, 4)?).unwrap_or(created_at),
                    deleted: int_at(&r, 5)? == Some(1),
                    deleted_at: micros(text_at(&r, 6)?),
                });
        }
        let t = "image_locations";
        let sql = format!(
            "SELECT {}, {}, {}, {}, {} FROM image_locations \
             WHERE image_id IN {within} ORDER BY image_id, id",
            self.text("image_id"),
            self.text("value"),
            self.text_or_null(t, "meta_data"),
            self.text_or_null(t, "status"),
            self.flag("deleted"),
        );
        for r in self.rows_of(&sql, ids).await? {
            let metadata = match text_at(&r, 2)? {
                Some(text) => match serde_json::from_str(&text) {
                    Ok(serde_json::Value::Object(m)) => m,
                    _ => serde_json::Map::new(),
                },
                None => serde_json::Map::new(),
            };
            out.entry(text_at(&r, 0)?.unwrap_or_default())
                .or_default()
                .locations
                .push(GlanceLocation {
                    url: text_at(&r, 1)?.unwrap_or_default(),
                    metadata,
                    status: text_at(&r, 3)?.unwrap_or_else(|| "active".into()),
                    deleted: int_at(&r, 4)? == Some(1),
                });
        }
        let t = "image_members";
        let sql = format!(
            "SELECT {}, {}, {}, {}, {}, {}, {} FROM image_members \
             WHERE image_id IN {within} ORDER BY image_id, id",
            self.text("image_id"),
            self.text("member"),
            self.flag("can_share"),
            self.text_or_null(t, "status"),
            self.text("created_at"),
            self.text("updated_at"),
            self.flag("deleted"),
        );
        for r in self.rows_of(&sql, ids).await? {
            let created_at = micros(text_at(&r, 4)?).unwrap_or_default();
            out.entry(text_at(&r, 0)?.unwrap_or_default())
                .or_default()
                .members
                .push(GlanceMember {
                    member: text_at(&r, 1)?.unwrap_or_default(),
                    can_share: int_at(&r, 2)? == Some(1),
                    // Before Havana every membership was in effect.
                    status: text_at(&r, 3)?.unwrap_or_else(|| "accepted".into()),
                    created_at,
                    updated_at: micros(text_at(&r, 5)?).unwrap_or(created_at),
                    deleted: int_at(&r, 6)? == Some(1),
                });
        }
        if self.has_table("image_tags") {
            let sql = format!(
                "SELECT {}, {}, {} FROM image_tags WHERE image_id IN {within} \
                 ORDER BY image_id, id",
                self.text("image_id"),
                self.text("value"),
                self.flag("deleted"),
            );
            for r in self.rows_of(&sql, ids).await? {
                out.entry(text_at(&r, 0)?.unwrap_or_default())
                    .or_default()
                    .tags
                    .push(GlanceTag {
                        value: text_at(&r, 1)?.unwrap_or_default(),
                        deleted: int_at(&r, 2)? == Some(1),
                    });
            }
        }
        Ok(out)
    }

    /// Every task with its `task_info`.
    pub(crate) async fn tasks(&self) -> Result<Vec<GlanceTask>, AdoptError> {
        if !self.has_table("tasks") {
            return Ok(Vec::new());
        }
        let t = "tasks";
        let info = self.has_table("task_info");
        let from_info = |c: &str| {
            if info {
                self.text(&format!("i.{c}"))
            } else {
                "NULL".into()
            }
        };
        let sql = format!(
            "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {} FROM tasks t {} \
             ORDER BY t.created_at, t.id",
            self.text("t.id"),
            self.text("t.type"),
            self.text("t.status"),
            self.text("t.owner"),
            if self.has(t, "image_id") {
                self.text("t.image_id")
            } else {
                "NULL".into()
            },
            if self.has(t, "request_id") {
                self.text("t.request_id")
            } else {
                "NULL".into()
            },
            if self.has(t, "user_id") {
                self.text("t.user_id")
            } else {
                "NULL".into()
            },
            from_info("input"),
            from_info("result"),
            from_info("message"),
            self.text("t.created_at"),
            self.text("t.updated_at"),
            self.text("t.expires_at"),
            self.flag("t.deleted"),
            if info {
                "LEFT JOIN task_info i ON i.task_id = t.id"
            } else {
                ""
            },
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let created_at = micros(text_at(r, 10)?).unwrap_or_default();
            out.push(GlanceTask {
                id: text_at(r, 0)?.unwrap_or_default(),
                kind: text_at(r, 1)?.unwrap_or_default(),
                status: text_at(r, 2)?.unwrap_or_default(),
                owner: text_at(r, 3)?,
                image_id: text_at(r, 4)?,
                request_id: text_at(r, 5)?,
                user_id: text_at(r, 6)?,
                input: text_at(r, 7)?,
                result: text_at(r, 8)?,
                message: text_at(r, 9)?,
                created_at,
                updated_at: micros(text_at(r, 11)?).unwrap_or(created_at),
                expires_at: micros(text_at(r, 12)?),
                deleted: int_at(r, 13)? == Some(1),
            });
        }
        Ok(out)
    }

    /// Every metadata definition namespace, as a catalogue document.
    pub(crate) async fn namespaces(&self) -> Result<Vec<GlanceNamespace>, AdoptError> {
        use serde_json::{Map, Value, json};
        if !self.has_table("metadef_namespaces") {
            return Ok(Vec::new());
        }
        let parse = |text: Option<String>| -> Value {
            text.and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null)
        };
        let sql = format!(
            "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {} FROM metadef_namespaces ORDER BY id",
            self.int("id"),
            self.text("namespace"),
            self.text("display_name"),
            self.text("description"),
            self.text("visibility"),
            self.flag("protected"),
            self.text("owner"),
            self.text("created_at"),
            self.text("updated_at"),
        );
        let mut by_id: BTreeMap<i64, GlanceNamespace> = BTreeMap::new();
        for r in sqlx::query(&sql).fetch_all(&self.pool).await? {
            let id = int_at(&r, 0)?.unwrap_or_default();
            let name = text_at(&r, 1)?.unwrap_or_default();
            let owner = text_at(&r, 6)?;
            let mut doc = Map::new();
            doc.insert("namespace".into(), name.clone().into());
            for (key, i) in [("display_name", 2), ("description", 3)] {
                if let Some(v) = text_at(&r, i)? {
                    doc.insert(key.into(), v.into());
                }
            }
            doc.insert(
                "visibility".into(),
                text_at(&r, 4)?.unwrap_or_else(|| "private".into()).into(),
            );
            doc.insert("protected".into(), (int_at(&r, 5)? == Some(1)).into());
            if let Some(o) = &owner {
                doc.insert("owner".into(), o.clone().into());
            }
            doc.insert("properties".into(), Value::Object(Map::new()));
            for key in ["objects", "tags", "resource_type_associations"] {
                doc.insert(key.into(), Value::Array(Vec::new()));
            }
            by_id.insert(
                id,
                GlanceNamespace {
                    name,
                    owner,
                    created_at: micros(text_at(&r, 7)?).unwrap_or_default(),
                    updated_at: micros(text_at(&r, 8)?),
                    times: HashMap::new(),
                    document: doc,
                },
            );
        }
        let mut push = |id: i64,
                        key: &'static str,
                        item: Value,
                        name: Option<String>,
                        times: (Option<i64>, Option<i64>)| {
            if let Some(ns) = by_id.get_mut(&id) {
                let entry_name = name
                    .clone()
                    .or_else(|| item.get("name").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_default();
                ns.times.insert(
                    (key, entry_name),
                    (times.0.unwrap_or(ns.created_at), times.1),
                );
                match (ns.document.get_mut(key), name) {
                    (Some(Value::Object(map)), Some(name)) => {
                        map.insert(name, item);
                    }
                    (Some(Value::Array(list)), _) => list.push(item),
                    _ => {}
                }
            }
        };
        if self.has_table("metadef_properties") {
            let sql = format!(
                "SELECT {}, {}, {}, {}, {} FROM metadef_properties ORDER BY id",
                self.int("namespace_id"),
                self.text("name"),
                self.text("json_schema"),
                self.text("created_at"),
                self.text("updated_at"),
            );
            for r in sqlx::query(&sql).fetch_all(&self.pool).await? {
                let schema = parse(text_at(&r, 2)?);
                push(
                    int_at(&r, 0)?.unwrap_or_default(),
                    "properties",
                    schema,
                    text_at(&r, 1)?,
                    (micros(text_at(&r, 3)?), micros(text_at(&r, 4)?)),
                );
            }
        }
        if self.has_table("metadef_objects") {
            let sql = format!(
                "SELECT {}, {}, {}, {}, {}, {}, {} FROM metadef_objects ORDER BY id",
                self.int("namespace_id"),
                self.text("name"),
                self.text("description"),
                self.text("required"),
                self.text("json_schema"),
                self.text("created_at"),
                self.text("updated_at"),
            );
            for r in sqlx::query(&sql).fetch_all(&self.pool).await? {
                let mut object = Map::new();
                object.insert("name".into(), text_at(&r, 1)?.unwrap_or_default().into());
                if let Some(d) = text_at(&r, 2)? {
                    object.insert("description".into(), d.into());
                }
                // Glance keeps `required` as the names joined by commas.
                if let Some(required) = text_at(&r, 3)?.filter(|t| !t.is_empty()) {
                    let names: Vec<Value> = match serde_json::from_str::<Value>(&required) {
                        Ok(Value::Array(list)) => list,
                        _ => required.split(',').map(|n| Value::from(n.trim())).collect(),
                    };
                    object.insert("required".into(), Value::Array(names));
                }
                if let Value::Object(properties) = parse(text_at(&r, 4)?) {
                    object.insert("properties".into(), Value::Object(properties));
                }
                push(
                    int_at(&r, 0)?.unwrap_or_default(),
                    "objects",
                    Value::Object(object),
                    None,
                    (micros(text_at(&r, 5)?), micros(text_at(&r, 6)?)),
                );
            }
        }
        if self.has_table("metadef_tags") {
            let sql = format!(
                "SELECT {}, {}, {}, {} FROM metadef_tags ORDER BY id",
                self.int("namespace_id"),
                self.text("name"),
                self.text("created_at"),
                self.text("updated_at"),
            );
            for r in sqlx::query(&sql).fetch_all(&self.pool).await? {
                let name = text_at(&r, 1)?.unwrap_or_default();
                push(
                    int_at(&r, 0)?.unwrap_or_default(),
                    "tags",
                    json!({ "name": name }),
                    None,
                    (micros(text_at(&r, 2)?), micros(text_at(&r, 3)?)),
                );
            }
        }
        if self.has_table("metadef_namespace_resource_types")
            && self.has_table("metadef_resource_types")
        {
            let sql = format!(
                "SELECT {}, {}, {}, {}, {}, {} FROM metadef_namespace_resource_types a \
                 JOIN metadef_resource_types r ON r.id = a.resource_type_id \
                 ORDER BY a.namespace_id, r.name",
                self.int("a.namespace_id"),
                self.text("r.name"),
                self.text("a.prefix"),
                self.text("a.properties_target"),
                self.text("a.created_at"),
                self.text("a.updated_at"),
            );
            for r in sqlx::query(&sql).fetch_all(&self.pool).await? {
                let mut association = Map::new();
                association.insert("name".into(), text_at(&r, 1)?.unwrap_or_default().into());
                if let Some(p) = text_at(&r, 2)? {
                    association.insert("prefix".into(), p.into());
                }
                if let Some(t) = text_at(&r, 3)? {
                    association.insert("properties_target".into(), t.into());
                }
                push(
                    int_at(&r, 0)?.unwrap_or_default(),
                    "resource_type_associations",
                    Value::Object(association),
                    None,
                    (micros(text_at(&r, 4)?), micros(text_at(&r, 5)?)),
                );
            }
        }
        Ok(by_id.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glance_connection_strings_become_urls_sqlx_reads() {
        let (d, u) =
            source_url("mysql+pymysql://root:pw@db:3306/glance?charset=utf8").expect("mysql");
        assert_eq!(
            (d, u.as_str()),
            (Dialect::Mysql, "mysql://root:pw@db:3306/glance")
        );
        let (d, u) = source_url("postgresql+psycopg2://glance@127.0.0.1/glance").expect("pg");
        assert_eq!(
            (d, u.as_str()),
            (Dialect::Postgres, "postgres://glance@127.0.0.1/glance")
        );
        assert!(source_url("sqlite:////nowhere/glance.sqlite").is_err());
        assert!(source_url("oracle://x").is_err());
        assert!(source_url("no-scheme").is_err());
    }

    #[tokio::test]
    async fn a_sqlite_glance_of_the_is_public_days_reads_with_later_defaults() {
        let dir = std::env::temp_dir().join(format!("glint-adopt-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("glance.sqlite");
        {
            sqlx::any::install_default_drivers();
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .connect(&format!("sqlite://{}?mode=rwc", file.display()))
                .await
                .expect("create");
            for sql in [
                "CREATE TABLE images (id VARCHAR(36) PRIMARY KEY, name VARCHAR(255), \
                 disk_format VARCHAR(20), container_format VARCHAR(20), size BIGINT, \
                 status VARCHAR(30) NOT NULL, is_public BOOLEAN NOT NULL, checksum VARCHAR(32), \
                 min_disk INTEGER NOT NULL, min_ram INTEGER NOT NULL, owner VARCHAR(255), \
                 protected BOOLEAN NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME, \
                 deleted_at DATETIME, deleted BOOLEAN NOT NULL)",
                "CREATE TABLE image_properties (id INTEGER PRIMARY KEY, image_id VARCHAR(36), \
                 name VARCHAR(255), value TEXT, created_at DATETIME NOT NULL, updated_at DATETIME, \
                 deleted_at DATETIME, deleted BOOLEAN NOT NULL)",
                "CREATE TABLE image_locations (id INTEGER PRIMARY KEY, image_id VARCHAR(36), \
                 value TEXT, created_at DATETIME NOT NULL, updated_at DATETIME, \
                 deleted_at DATETIME, deleted BOOLEAN NOT NULL)",
                "CREATE TABLE image_members (id INTEGER PRIMARY KEY, image_id VARCHAR(36), \
                 member VARCHAR(255), can_share BOOLEAN NOT NULL, created_at DATETIME NOT NULL, \
                 updated_at DATETIME, deleted_at DATETIME, deleted BOOLEAN NOT NULL)",
                "INSERT INTO images VALUES ('a', 'old', 'raw', 'bare', 3, 'active', 1, 'c', 0, 0, \
                 'p', 0, '2011-12-08 10:00:00', NULL, NULL, 0)",
                "INSERT INTO images VALUES ('b', 'shared', 'raw', 'bare', 3, 'active', 0, NULL, 0, \
                 0, 'p', 0, '2011-12-08 10:00:00.250000', NULL, NULL, 0)",
                "INSERT INTO image_members VALUES (1, 'b', 'q', 0, '2011-12-08 10:00:00', NULL, \
                 NULL, 0)",
                "INSERT INTO image_properties VALUES (1, 'a', 'kernel_id', 'k', \
                 '2011-12-08 10:00:00', NULL, NULL, 1)",
                "INSERT INTO image_locations VALUES (1, 'a', 'file:///var/lib/glance/images/a', \
                 '2011-12-08 10:00:00', NULL, NULL, 0)",
            ] {
                sqlx::query(sql).execute(&pool).await.expect(sql);
            }
            pool.close().await;
        }
        let source = Source::open(&format!("sqlite:///{}", file.display()))
            .await
            .expect("open");
        let images = source.images(None, 10).await.expect("images");
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].visibility, "public");
        assert_eq!(images[1].visibility, "shared");
        assert!(!images[0].os_hidden);
        assert_eq!(images[0].os_hash_algo, None);
        assert_eq!(images[1].created_at - images[0].created_at, 250_000);
        assert_eq!(images[0].updated_at, images[0].created_at);
        let after = source.images(Some("a"), 10).await.expect("page");
        assert_eq!(after.len(), 1);
        let details = source
            .details(&["a".to_string(), "b".to_string()])
            .await
            .expect("details");
        let a = &details["a"];
        assert!(a.properties[0].deleted && a.properties[0].deleted_at.is_none());
        assert_eq!(a.locations[0].status, "active");
        assert_eq!(details["b"].members[0].status, "accepted");
        assert!(source.tasks().await.expect("tasks").is_empty());
        source.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
