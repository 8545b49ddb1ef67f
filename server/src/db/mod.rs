//! The database: SQLite (embedded default) or PostgreSQL, through one sqlx `Any` pool and one
//! set of queries. Schema migrations for both live in `server/migrations/`.

pub(crate) mod adopt;
mod images;
mod listing;
mod members;
pub mod metadefs;
mod notifications;
mod purge;
mod sql;
mod tasks;
mod uploads;
mod writer;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{Connection, Executor, Row};
use thiserror::Error;

pub(crate) use images::{Announce, ChangeRecord, ProjectUsage, StoredImage, Upload};
pub(crate) use listing::{ImageFilter, ListQuery, SortDir, SortKey};
pub(crate) use members::Member;
pub(crate) use notifications::{Outgoing, Queued};
pub use purge::{Purge, Purged};
pub(crate) use tasks::{Task, TaskQuery};

/// Why a database operation failed.
#[derive(Debug, Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration {version} ({name}): {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
    #[error("unsupported database URL '{0}': use sqlite:PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("{0} already exists")]
    Duplicate(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The SQLite writer thread could not write (its transaction failed, or it has stopped).
    #[error("database writer: {0}")]
    Writer(String),
}

/// Every SQLite connection's settings (sqlx's and the writer thread's): the log (WAL) with
/// syncs at checkpoints, foreign keys, a 30 s wait for a lock, a 1 MiB page cache.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
    PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000; PRAGMA cache_size = -1024;";

/// A writing SQLite connection's too: statement journals (multi-row writes) in memory, not
/// temporary files; checkpoints left to the checkpointing thread (`writer`), a connection
/// checkpointing by itself only past 10,000 pages (40 MB) of log, as a backstop.
const SQLITE_WRITER_PRAGMAS: &str =
    "PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 10000;";

/// Which database the pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "images",
        sqlite: include_str!("../../migrations/sqlite/0001_images.sql"),
        postgres: include_str!("../../migrations/postgres/0001_images.sql"),
    },
    Migration {
        version: 2,
        name: "property_values",
        sqlite: include_str!("../../migrations/sqlite/0002_property_values.sql"),
        postgres: include_str!("../../migrations/postgres/0002_property_values.sql"),
    },
    Migration {
        version: 3,
        name: "identity",
        sqlite: include_str!("../../migrations/shared/0003_identity.sql"),
        postgres: include_str!("../../migrations/shared/0003_identity.sql"),
    },
    Migration {
        version: 4,
        name: "tasks",
        sqlite: include_str!("../../migrations/shared/0004_tasks.sql"),
        postgres: include_str!("../../migrations/shared/0004_tasks.sql"),
    },
    Migration {
        version: 5,
        name: "nodes",
        sqlite: include_str!("../../migrations/shared/0005_nodes.sql"),
        postgres: include_str!("../../migrations/shared/0005_nodes.sql"),
    },
    Migration {
        version: 6,
        name: "metadefs",
        sqlite: include_str!("../../migrations/shared/0006_metadefs.sql"),
        postgres: include_str!("../../migrations/shared/0006_metadefs.sql"),
    },
    Migration {
        version: 7,
        name: "import_locks",
        sqlite: include_str!("../../migrations/shared/0007_import_locks.sql"),
        postgres: include_str!("../../migrations/shared/0007_import_locks.sql"),
    },
    Migration {
        version: 8,
        name: "list_indexes",
        sqlite: include_str!("../../migrations/sqlite/0008_list_indexes.sql"),
        postgres: include_str!("../../migrations/postgres/0008_list_indexes.sql"),
    },
    Migration {
        version: 9,
        name: "notifications",
        sqlite: include_str!("../../migrations/sqlite/0009_notifications.sql"),
        postgres: include_str!("../../migrations/postgres/0009_notifications.sql"),
    },
    Migration {
        version: 10,
        name: "purged_images",
        sqlite: include_str!("../../migrations/shared/0010_purged_images.sql"),
        postgres: include_str!("../../migrations/shared/0010_purged_images.sql"),
    },
    Migration {
        version: 11,
        name: "outbox_sinks",
        sqlite: include_str!("../../migrations/shared/0011_outbox_sinks.sql"),
        postgres: include_str!("../../migrations/shared/0011_outbox_sinks.sql"),
    },
    Migration {
        version: 12,
        name: "project_limits",
        sqlite: include_str!("../../migrations/shared/0012_project_limits.sql"),
        postgres: include_str!("../../migrations/shared/0012_project_limits.sql"),
    },
    Migration {
        version: 13,
        name: "property_lookup",
        sqlite: include_str!("../../migrations/shared/0013_property_lookup.sql"),
        postgres: include_str!("../../migrations/shared/0013_property_lookup.sql"),
    },
];

/// A connection pool and the backend behind it.
#[derive(Debug, Clone)]
pub struct Db {
    /// Reads.
    pub(crate) pool: AnyPool,
    /// Writes. With SQLite, one connection: writers queue here, in order, rather than meet
    /// SQLite's lock and sleep in its busy handler. With PostgreSQL, the same pool as reads.
    pub(crate) writer: AnyPool,
    pub(crate) backend: Backend,
    /// With SQLite, the writer thread creates go through: a whole create in one hand-off, and
    /// creates that arrive together committed together.
    pub(crate) sqlite: Option<writer::Writer>,
}

impl Db {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let mut sqlite_file = None;
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            let file = path.split('?').next().unwrap_or(path);
            sqlite_file = Some(std::path::PathBuf::from(file));
            if let Some(parent) = std::path::Path::new(file).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    DbError::Sqlx(sqlx::Error::Configuration(
                        format!("cannot create {}: {e}", parent.display()).into(),
                    ))
                })?;
            }
            let sep = if path.contains('?') { '&' } else { '?' };
            (Backend::Sqlite, format!("sqlite://{path}{sep}mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(DbError::UnsupportedUrl(url.to_string()));
        };
        let sqlite = backend == Backend::Sqlite;
        let options = |writer: bool| {
            AnyPoolOptions::new().after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        conn.execute(SQLITE_PRAGMAS).await?;
                        conn.execute("PRAGMA optimize = 0x10002;").await?;
                        if writer {
                            conn.execute(SQLITE_WRITER_PRAGMAS).await?;
                        }
                    }
                    Ok(())
                })
            })
        };
        // SQLite readers: two a core (each is a thread of its own, with its own page cache).
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let readers = if sqlite {
            u32::try_from(cores * 2).unwrap_or(16).clamp(4, 16)
        } else {
            16
        };
        // An SQLite connection is a thread in this process: no need to test it before use.
        let pool = options(false)
            .test_before_acquire(!sqlite)
            .max_connections(readers)
            .min_connections(1)
            .connect(&url)
            .await?;
        let writer = if sqlite {
            options(true)
                .test_before_acquire(false)
                .max_connections(1)
                .min_connections(1)
                .connect(&url)
                .await?
        } else {
            pool.clone()
        };
        let mut db = Db {
            pool,
            writer,
            backend,
            sqlite: None,
        };
        db.migrate().await?;
        if let Some(file) = sqlite_file {
            db.sqlite = Some(writer::Writer::start(&file, db.writer.clone())?);
        }
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), DbError> {
        let mut conn = self.writer.acquire().await?;
        let postgres = self.backend == Backend::Postgres;
        if postgres {
            // Several servers may start at once against one database.
            sqlx::query("SELECT pg_advisory_lock(7402201)")
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS glint_migrations (
                version BIGINT PRIMARY KEY NOT NULL,
                name TEXT NOT NULL,
                applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *conn)
        .await?;
        let rows = sqlx::query("SELECT version FROM glint_migrations")
            .fetch_all(&mut *conn)
            .await?;
        let mut applied = Vec::with_capacity(rows.len());
        for row in &rows {
            applied.push(row.try_get::<i64, _>(0)?);
        }
        for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
            let sql = match self.backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
            };
            apply_migration(&mut conn, m, sql)
                .await
                .map_err(|source| DbError::Migration {
                    version: m.version,
                    name: m.name,
                    source,
                })?;
            tracing::info!(version = m.version, name = m.name, "applied migration");
        }
        if postgres {
            sqlx::query("SELECT pg_advisory_unlock(7402201)")
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Keeps the query planner's statistics fresh as tables grow. SQLite: `PRAGMA optimize`,
    /// which analyzes what needs it. PostgreSQL: the tables changed by more than a tenth (and 500
    /// rows) since their last analysis are analyzed, so plans stay good where autovacuum is off
    /// or has not come round yet.
    pub(crate) async fn optimize(&self) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::query("PRAGMA optimize").execute(&self.writer).await?;
            }
            Backend::Postgres => {
                let stale = sqlx::query(
                    "SELECT CAST(relname AS TEXT) FROM pg_stat_user_tables \
                     WHERE schemaname = current_schema() \
                     AND n_mod_since_analyze > 500 + n_live_tup / 10",
                )
                .fetch_all(&self.pool)
                .await?;
                for row in &stale {
                    let table: String = row.try_get(0)?;
                    let plain = table
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                    if plain {
                        sqlx::query(&format!("ANALYZE {table}"))
                            .execute(&self.writer)
                            .await?;
                        tracing::debug!(table, "analyzed");
                    }
                }
            }
        }
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// Applies one migration and records it, in one transaction.
fn apply_migration<'c>(
    conn: &'c mut sqlx::pool::PoolConnection<sqlx::Any>,
    m: &'static Migration,
    sql: &'static str,
) -> futures_util::future::BoxFuture<'c, Result<(), sqlx::Error>> {
    Box::pin(async move {
        let mut tx = conn.begin().await?;
        tx.execute(sql).await?;
        sqlx::query("INSERT INTO glint_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(crate::time::now_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })
}

/// Whether an error is a unique-key violation, in SQLite's or PostgreSQL's words.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            matches!(d.code().as_deref(), Some("23505" | "2067" | "1555"))
                || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh PostgreSQL database (on the server the tests use) and a way to drop it.
    async fn postgres_database() -> (String, String, sqlx::AnyPool) {
        sqlx::any::install_default_drivers();
        let admin = std::env::var("GLINT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let pool = sqlx::AnyPool::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is needed at {admin}: {e}"));
        let name = format!("glint_db_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .expect("create a test database");
        let (prefix, _) = admin.rsplit_once('/').expect("a database URL");
        (name.clone(), format!("{prefix}/{name}"), pool)
    }

    /// PostgreSQL's statistics are refreshed where a table grew by more than a tenth and 500
    /// rows since its last analysis, and not before.
    #[tokio::test]
    async fn postgres_statistics_follow_growth() {
        let (name, url, admin) = postgres_database().await;
        let db = Db::connect(&url).await.expect("the database");
        // Autovacuum off for it: only `optimize` analyzes it.
        sqlx::query("CREATE TABLE growth (n BIGINT) WITH (autovacuum_enabled = false)")
            .execute(&db.writer)
            .await
            .expect("a table");
        let analyzed = || async {
            let row = sqlx::query(
                "SELECT CAST(COUNT(last_analyze) AS BIGINT) FROM pg_stat_user_tables \
                 WHERE relname = 'growth'",
            )
            .fetch_one(&db.pool)
            .await
            .expect("statistics view");
            row.try_get::<i64, _>(0).expect("count") == 1
        };
        // Counts reach the statistics views a little after the writes: flush them at once.
        let insert = |rows: i64| {
            let writer = db.writer.clone();
            async move {
                let mut conn = writer.acquire().await.expect("a connection");
                sqlx::query("SELECT pg_stat_force_next_flush()")
                    .execute(&mut *conn)
                    .await
                    .expect("flush");
                sqlx::query("INSERT INTO growth SELECT generate_series(1, $1)")
                    .bind(rows)
                    .execute(&mut *conn)
                    .await
                    .expect("insert");
            }
        };
        let modified = || async {
            let row = sqlx::query(
                "SELECT CAST(n_mod_since_analyze AS BIGINT) FROM pg_stat_user_tables \
                 WHERE relname = 'growth'",
            )
            .fetch_one(&db.pool)
            .await
            .expect("statistics view");
            row.try_get::<i64, _>(0).expect("count")
        };
        insert(5).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while modified().await < 5 {
            assert!(std::time::Instant::now() < deadline, "no statistics");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        db.optimize().await.expect("optimize");
        assert!(!analyzed().await, "five rows are not worth an analysis");
        insert(600).await;
        while modified().await < 605 {
            assert!(std::time::Instant::now() < deadline, "no statistics");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        db.optimize().await.expect("optimize");
        assert!(analyzed().await, "600 more rows are analyzed");
        db.close().await;
        let _ = sqlx::query(&format!("DROP DATABASE {name}"))
            .execute(&admin)
            .await;
        admin.close().await;
    }
}
