//! SQLite's writer thread: one connection on a thread of its own, running a whole write (every
//! statement of a create) in one hand-off instead of one per statement.
//!
//! Writes that arrive while a transaction runs wait, and then share the next one: each runs in
//! a savepoint of its own (one that fails is rolled back alone), and one commit ends them all
//! (group commit). A writer is answered only after that commit, so what it is told is as
//! durable as a commit of its own; a commit that fails fails every write in it.
//!
//! The thread holds the sqlx writer connection while its transaction runs, so writes through
//! either never meet SQLite's lock (whose busy handler sleeps).

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;
use sqlx::AnyPool;
use tokio::sync::oneshot;

use super::DbError;

/// At most this many writes share a transaction.
const MAX_BATCH: usize = 64;

/// One write waiting for the writer thread.
trait Job: Send {
    /// Runs the write; `false` when it failed (its savepoint is then rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the writer once the transaction has ended: `ended` is the commit's outcome.
    fn finish(self: Box<Self>, ended: Result<(), &str>);
}

struct Pending<T, F> {
    write: Option<F>,
    out: Option<Result<T, DbError>>,
    reply: oneshot::Sender<Result<T, DbError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, DbError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(write) = self.write.take() else {
            return false;
        };
        let out = std::panic::catch_unwind(AssertUnwindSafe(|| write(conn)))
            .unwrap_or_else(|_| Err(DbError::Writer("the write panicked".into())));
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn finish(self: Box<Self>, ended: Result<(), &str>) {
        let answer = match (self.out, ended) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (_, Err(why)) => Err(DbError::Writer(why.to_string())),
            (None, Ok(())) => Err(DbError::Writer("the write did not run".into())),
        };
        let _ = self.reply.send(answer);
    }
}

/// The handle writes are sent through; the thread ends when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// Opens `file` (already created and migrated) and starts the thread. `gate` is the sqlx
    /// writer pool, held for each transaction.
    pub(crate) fn start(file: &Path, gate: AnyPool) -> Result<Writer, DbError> {
        let conn = Connection::open(file)?;
        conn.execute_batch(super::SQLITE_PRAGMAS)?;
        // Checkpoints (copying the log back into the database and syncing both) run on a
        // thread of their own, so a write never waits for one.
        conn.execute_batch(super::SQLITE_WRITER_PRAGMAS)?;
        conn.set_prepared_statement_cache_capacity(64);
        let nudge = checkpointer(file)?;
        let runtime = tokio::runtime::Handle::current();
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let _context = runtime.enter();
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    match runtime.block_on(gate.acquire()) {
                        Ok(held) => {
                            run_batch(&conn, batch);
                            drop(held);
                            let _ = nudge.try_send(());
                        }
                        Err(e) => {
                            let why = e.to_string();
                            for job in batch {
                                job.finish(Err(&why));
                            }
                        }
                    }
                }
            })
            .map_err(|e| DbError::Writer(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { jobs })
    }

    /// Runs `write` on the writer's connection inside a transaction, and answers once that
    /// transaction has committed.
    pub(crate) async fn write<T, F>(&self, write: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            write: Some(write),
            out: None,
            reply,
        });
        self.jobs
            .send(job)
            .map_err(|_| DbError::Writer("the writer thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| DbError::Writer("the writer thread has stopped".into()))?
    }
}

/// Starts the checkpointing thread: after writes (a nudge from the writer thread) or at least
/// once a second (writes through the sqlx writer), a passive checkpoint, which copies what no
/// reader needs from the log into the database without holding up any writer; then a short
/// pause, so that checkpoints (two syncs each) come at most twenty times a second.
fn checkpointer(file: &Path) -> Result<mpsc::SyncSender<()>, DbError> {
    let conn = Connection::open(file)?;
    conn.execute_batch("PRAGMA busy_timeout = 30000; PRAGMA cache_size = -256;")?;
    let (nudge, nudged) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while let Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) =
                nudged.recv_timeout(Duration::from_secs(1))
            {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "checkpoint");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
        .map_err(|e| DbError::Writer(format!("cannot start the checkpointing thread: {e}")))?;
    Ok(nudge)
}

/// One transaction: every job in a savepoint of its own, then one commit.
fn run_batch(conn: &Connection, mut batch: Vec<Box<dyn Job>>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let why = e.to_string();
        for job in batch {
            job.finish(Err(&why));
        }
        return;
    }
    let mut broken = None;
    for job in &mut batch {
        if let Err(e) = conn.execute_batch("SAVEPOINT write") {
            broken = Some(e.to_string());
            break;
        }
        let ok = job.run(conn);
        if conn.is_autocommit() {
            // The failure ended the whole transaction (SQLite does so on I/O errors, a full
            // disk, ...): nothing in it is kept.
            broken = Some("the transaction was rolled back".into());
            break;
        }
        let end = if ok {
            "RELEASE write"
        } else {
            "ROLLBACK TO write; RELEASE write"
        };
        if let Err(e) = conn.execute_batch(end) {
            broken = Some(e.to_string());
            break;
        }
    }
    let ended = match broken {
        Some(why) => Err(why),
        None => conn.execute_batch("COMMIT").map_err(|e| e.to_string()),
    };
    if ended.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let ended = ended.as_ref().map(|_| ()).map_err(String::as_str);
    for job in batch {
        job.finish(ended);
    }
}

/// Whether a rusqlite error is a unique-key violation.
pub(crate) fn is_unique(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == 2067 || f.extended_code == 1555
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder removed when dropped.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn writer() -> (Scratch, Writer, AnyPool) {
        let dir =
            Scratch(std::env::temp_dir().join(format!("glint-writer-{}", uuid::Uuid::new_v4())));
        std::fs::create_dir_all(&dir.0).expect("a scratch folder");
        let file = dir.0.join("w.db");
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let gate = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("pool");
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&gate)
            .await
            .expect("wal");
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            .execute(&gate)
            .await
            .expect("table");
        let w = Writer::start(&file, gate.clone()).expect("writer");
        (dir, w, gate)
    }

    fn insert(k: &str) -> impl FnOnce(&Connection) -> Result<usize, DbError> + Send + 'static {
        let k = k.to_string();
        move |c: &Connection| {
            c.execute("INSERT INTO t (k, v) VALUES (?1, 'v')", [&k])
                .map_err(|e| match is_unique(&e) {
                    true => DbError::Duplicate(k.clone()),
                    false => e.into(),
                })
        }
    }

    /// Writes sent together commit together, and one that fails takes none of the others with
    /// it: its savepoint alone is rolled back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_in_a_batch_is_rolled_back_alone() {
        let (_dir, w, gate) = writer().await;
        w.write(insert("a")).await.expect("first");
        let mut handles = Vec::new();
        for k in ["b", "a", "c", "d", "c"] {
            let w = w.clone();
            handles.push(tokio::spawn(async move { w.write(insert(k)).await }));
        }
        let mut outcomes = Vec::new();
        for h in handles {
            outcomes.push(h.await.expect("task"));
        }
        let failed: Vec<_> = outcomes
            .iter()
            .filter_map(|o| match o {
                Err(DbError::Duplicate(k)) => Some(k.clone()),
                Err(e) => panic!("unexpected {e}"),
                Ok(_) => None,
            })
            .collect();
        // "a" existed; one of the two "c" writes came second.
        assert_eq!(failed.len(), 2, "{outcomes:?}");
        assert!(failed.contains(&"a".to_string()));
        let keys: Vec<String> = sqlx::query_scalar("SELECT k FROM t ORDER BY k")
            .fetch_all(&gate)
            .await
            .expect("read back");
        assert_eq!(keys, ["a", "b", "c", "d"]);
    }

    /// A write that panics is answered with an error, and the thread goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_is_an_error_and_the_writer_goes_on() {
        let (_dir, w, gate) = writer().await;
        let bad = w
            .write(|c: &Connection| -> Result<(), DbError> {
                c.execute("INSERT INTO t (k, v) VALUES ('x', 'v')", [])?;
                panic!("a bug")
            })
            .await;
        assert!(matches!(bad, Err(DbError::Writer(_))), "{bad:?}");
        w.write(insert("y")).await.expect("the writer still writes");
        let keys: Vec<String> = sqlx::query_scalar("SELECT k FROM t ORDER BY k")
            .fetch_all(&gate)
            .await
            .expect("read back");
        assert_eq!(keys, ["y"], "the panicking write's row was rolled back");
    }

    /// While another writer holds the sqlx writer connection, the thread waits for it rather
    /// than meeting SQLite's lock.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_thread_waits_for_the_sqlx_writer() {
        let (_dir, w, gate) = writer().await;
        let mut held = gate.acquire().await.expect("the writer connection");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *held)
            .await
            .expect("begin");
        sqlx::query("INSERT INTO t (k, v) VALUES ('held', 'v')")
            .execute(&mut *held)
            .await
            .expect("insert");
        let pending = tokio::spawn({
            let w = w.clone();
            async move { w.write(insert("after")).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!pending.is_finished(), "the thread did not wait");
        sqlx::query("COMMIT")
            .execute(&mut *held)
            .await
            .expect("commit");
        // SQLite's lock is free now: a thread waiting in SQLite's busy handler (which naps at
        // most 100 ms) would write within this pause; one waiting for the connection does not.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !pending.is_finished(),
            "the thread did not wait for the connection"
        );
        drop(held);
        pending.await.expect("task").expect("written after");
        let keys: Vec<String> = sqlx::query_scalar("SELECT k FROM t ORDER BY k")
            .fetch_all(&gate)
            .await
            .expect("read back");
        assert_eq!(keys, ["after", "held"]);
    }
}
