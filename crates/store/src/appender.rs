//! SQLite's usual append on a connection and a thread of our own ([`Appender`]).
//!
//! sqlx runs each SQLite statement on its connection's worker thread and sends back each result
//! and each row over a channel, and a pooled connection is pinged on that thread when it goes
//! back to the pool: at a thousand edits a second those hand-offs and the wake-ups they cause
//! cost as much as SQLite's own work. The appender keeps one connection on one thread for the
//! store's life: a batch crosses to it once and its sequence numbers come back once. sqlx has no
//! way to run a statement on the caller's side, hence rusqlite here (same `libsqlite3-sys`, so
//! one SQLite library in the process).
//!
//! It is a second writer beside the store's sqlx writer, so every write takes SQLite's write
//! lock when it begins, waiting for it under the busy timeout: the sqlx side begins its write
//! transactions with `begin immediate`, and the appender's one statement writes from its first
//! step (SQLite retries a write that begins on a stale snapshot, as it does `begin immediate`).
//! A transaction that read first and then wrote would instead fail when the other had
//! committed in between.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, ffi};
use tokio::sync::oneshot;

use crate::{Result, StoreError};

/// One batch for the appender: the statement, its rows (document, data, checksum; the
/// documents all different) and the time.
struct Job {
    sql: &'static str,
    rows: Vec<(String, Vec<u8>, String)>,
    now: domain::Millis,
    done: oneshot::Sender<Result<Vec<(String, i64)>>>,
}

/// A thread holding a connection of its own that runs append statements; it ends, and closes
/// the connection, when the last handle is dropped.
pub(crate) struct Appender {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender").finish_non_exhaustive()
    }
}

/// How the appender's connection is set up: like the store's sqlx writer.
pub(crate) struct Setup {
    pub busy_timeout: Duration,
    pub checkpoint_pages: u32,
    /// Statements kept prepared (one per batch size).
    pub statements: usize,
}

impl Appender {
    /// Opens the database file at `path` (which must exist, in WAL mode) and starts the thread.
    pub(crate) fn open(path: &Path, setup: &Setup) -> Result<Appender> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        conn.busy_timeout(setup.busy_timeout).map_err(sqlite)?;
        // Per connection, so set here as on the sqlx writer: a commit survives power loss,
        // appends to a document that does not exist are refused.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(sqlite)?;
        conn.pragma_update(None, "wal_autocheckpoint", setup.checkpoint_pages)
            .map_err(sqlite)?;
        let mode: String = conn
            .query_row("pragma journal_mode", [], |r| r.get(0))
            .map_err(sqlite)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Config(format!(
                "the SQLite database is in {mode} mode, not WAL"
            )));
        }
        conn.set_prepared_statement_cache_capacity(setup.statements);
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("concordat-sqlite-append".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    let written = write(&conn, job.sql, &job.rows, job.now).map_err(sqlite);
                    // A caller that stopped waiting still had its batch written whole.
                    let _ = job.done.send(written);
                }
            })
            .map_err(|e| StoreError::Config(format!("starting SQLite's append thread: {e}")))?;
        Ok(Appender { jobs })
    }

    /// Runs `sql` with `$1` = `now` and then each row's three values; the `(document,
    /// sequence number)` rows it returns. The batch is written whole (or not at all) even if
    /// the caller stops waiting.
    pub(crate) async fn append(
        &self,
        sql: &'static str,
        rows: Vec<(String, Vec<u8>, String)>,
        now: domain::Millis,
    ) -> Result<Vec<(String, i64)>> {
        let (done, answer) = oneshot::channel();
        let gone = || StoreError::Config("SQLite's append thread has stopped".into());
        self.jobs
            .send(Job {
                sql,
                rows,
                now,
                done,
            })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

fn write(
    conn: &Connection,
    sql: &str,
    rows: &[(String, Vec<u8>, String)],
    now: domain::Millis,
) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut params: Vec<&dyn ToSql> = Vec::with_capacity(1 + 3 * rows.len());
    params.push(&now);
    for (id, data, sum) in rows {
        params.push(id);
        params.push(data);
        params.push(sum);
    }
    // Collected here, so the statement has stepped to its end (and committed) before it goes
    // back to the cache.
    let numbered: rusqlite::Result<Vec<(String, i64)>> = statement
        .query_map(params.as_slice(), |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect();
    numbered
}

/// The store's classification of a SQLite failure, as for sqlx's.
fn sqlite(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &e {
        match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                return StoreError::Conflict;
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::MissingReference,
            ffi::SQLITE_CONSTRAINT_CHECK | ffi::SQLITE_CONSTRAINT_NOTNULL => {
                return StoreError::Refused;
            }
            _ => {}
        }
    }
    StoreError::Sqlite(e)
}
