//! SQLite, the embedded default: one file, WAL, `synchronous=FULL` (a committed write survives
//! power loss), foreign keys on. Two writer connections: a one-connection sqlx pool for every
//! write transaction (each begins immediate, taking the write lock at once) and the appender's
//! own connection and thread for the usual append of live changes (`appender.rs`); reads use a
//! separate pool and run concurrently under WAL.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use domain::access::Principal;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::appender::{Appender, Setup};
use crate::sql::impl_store;
use crate::{Backend, Result, StoreError, System};

/// How to open the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `sqlite:path/to/file.db`; the file is created if missing.
    pub url: String,
    /// Connections for concurrent reads.
    pub max_readers: u32,
}

/// How long a write waits for SQLite's write lock (held by the other writer connection).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Pages of write-ahead log (4 KiB each) past which the writer checkpoints in the foreground:
/// 16 times SQLite's default, reached only if periodic checkpoints stop.
const WRITER_CHECKPOINT_PAGES: u32 = 16_000;

/// Batches of at most this many appends are written in one hand-off (`append_at_once`); each
/// size is its own cached statement, so their number is bounded (sqlx caches 100 a connection).
const AT_ONCE: usize = 32;

/// `AT_ONCE_SQL[n - 1]` appends `n` different documents' changes in one statement (so in one
/// transaction of its own, all or nothing): `$1` is the time, then each document's id, data and
/// checksum. Each chunk is numbered after its document's last; SQLite reads what the `select`
/// needs before inserting any row, which is why the documents must differ. It returns each
/// document's id with its number (`returning` keeps no order).
static AT_ONCE_SQL: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    (1..=AT_ONCE)
        .map(|n| {
            let rows: Vec<String> = (0..n)
                .map(|i| format!("(${}, ${}, ${})", 2 + 3 * i, 3 + 3 * i, 4 + 3 * i))
                .collect();
            format!(
                "insert into doc_chunks (document_id, seq, kind, data, checksum, created_at) \
                 select v.column1, coalesce((select max(c.seq) from doc_chunks c \
                 where c.document_id = v.column1), 0) + 1, 'incremental', v.column2, v.column3, $1 \
                 from (values {}) v returning document_id, seq",
                rows.join(", ")
            )
        })
        .collect()
});

/// The sequence numbers, in the order of `ids`, from what an `AT_ONCE_SQL` statement returned.
fn in_order(ids: &[String], numbered: &[(String, i64)]) -> Result<Vec<i64>> {
    let seqs: Option<Vec<i64>> = ids
        .iter()
        .map(|id| numbered.iter().find(|(d, _)| d == id).map(|(_, seq)| *seq))
        .collect();
    match seqs {
        Some(seqs) if numbered.len() == ids.len() => Ok(seqs),
        _ => Err(StoreError::Corrupt(format!(
            "an append of {} documents returned {} sequence numbers",
            ids.len(),
            numbered.len()
        ))),
    }
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    /// The usual appends' own connection and thread; `None` for a database with no file (in
    /// memory), whose appends all take the writer.
    appender: Option<Arc<Appender>>,
}

impl SqliteStore {
    pub async fn open(opts: &SqliteOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::from_str(&opts.url)
            .map_err(|e| StoreError::Config(format!("SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // The writer checkpoints on its own only past WRITER_CHECKPOINT_PAGES (a backstop
        // should nobody call `checkpoint`); below that the log is folded in by `checkpoint`,
        // off the commit path.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(
                connect
                    .clone()
                    .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES.to_string()),
            )
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(opts.max_readers.max(1))
            .test_before_acquire(false)
            .connect_with(connect.clone().read_only(false))
            .await?;
        // The file as SQLite resolved it ("" for a database in memory).
        let (file,): (String,) =
            sqlx::query_as("select file from pragma_database_list where name = 'main'")
                .fetch_one(&writer)
                .await?;
        let appender = if file.is_empty() {
            None
        } else {
            let setup = Setup {
                busy_timeout: BUSY_TIMEOUT,
                checkpoint_pages: WRITER_CHECKPOINT_PAGES,
                statements: AT_ONCE,
            };
            Some(Arc::new(Appender::open(
                std::path::Path::new(&file),
                &setup,
            )?))
        };
        Ok(Self {
            reader,
            writer,
            appender,
        })
    }

    /// Creates or upgrades the schema.
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("../../migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    async fn checkpoint_log(&self) -> Result<()> {
        sqlx::query("pragma wal_checkpoint(passive)")
            .execute(&self.reader)
            .await?;
        Ok(())
    }

    fn backend_kind(&self) -> Backend {
        Backend::Sqlite
    }

    fn read_pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// Reads that are system work (a room loading its document), outside a transaction.
    fn system_reads(&self) -> &SqlitePool {
        &self.reader
    }

    async fn backup_into(&self, to: &std::path::Path) -> Result<()> {
        if to.exists() {
            return Err(StoreError::Config(format!(
                "{} already exists: a backup never overwrites a file",
                to.display()
            )));
        }
        let path = to
            .to_str()
            .ok_or_else(|| StoreError::Config(format!("{} is not UTF-8", to.display())))?;
        // A reader: the copy is one read transaction, which under WAL neither waits for the
        // writer nor holds it up.
        sqlx::query("vacuum into $1")
            .bind(path)
            .execute(&self.reader)
            .await?;
        Ok(())
    }

    /// A transaction on the reader pool, or on the writer holding SQLite's write lock from its
    /// start: the appender writes beside it (see `appender.rs`), and a transaction that read
    /// before taking the lock would fail, not wait, once the appender had committed meanwhile.
    async fn begin(&self, write: bool) -> Result<Transaction<'static, Sqlite>> {
        Ok(if write {
            self.writer.begin_with("begin immediate").await?
        } else {
            self.reader.begin().await?
        })
    }

    /// SQLite has no row-level security: the caller is carried by each statement's own filter.
    async fn user_tx(&self, _p: &Principal, write: bool) -> Result<Transaction<'static, Sqlite>> {
        self.begin(write).await
    }

    async fn system_tx(&self, _sys: System, write: bool) -> Result<Transaction<'static, Sqlite>> {
        self.begin(write).await
    }

    /// The transaction that appends changes: the writer's, like every write.
    async fn append_tx(&self, _sys: System) -> Result<Transaction<'static, Sqlite>> {
        self.begin(true).await
    }

    /// SQLite's access decision is the general path's transaction: in process, no round trips
    /// to save.
    async fn document_access_at_once(
        &self,
        _p: &Principal,
        _id: domain::DocumentId,
        _now: domain::Millis,
    ) -> Result<Option<Option<(crate::DocumentRow, crate::CallerContext)>>> {
        Ok(None)
    }

    /// The usual append — a few different documents, none with an actor new to it — as one
    /// statement on the appender's connection and thread: one hand-off there and one back,
    /// where sqlx's worker thread would take one per statement result and per row, and a
    /// round trip more when the pooled connection is returned. `None` for any other batch (or
    /// a database in memory), which takes the general path.
    ///
    /// The statement runs to its end on that thread, so a caller that stops listening does
    /// not leave a write half-done: it is committed whole, as if the caller had waited.
    async fn append_at_once(
        &self,
        batch: &[crate::Append],
        now: domain::Millis,
    ) -> Result<Option<Vec<i64>>> {
        let distinct = batch
            .iter()
            .enumerate()
            .all(|(i, a)| batch[..i].iter().all(|b| b.id != a.id));
        let Some(appender) = &self.appender else {
            return Ok(None);
        };
        if batch.is_empty()
            || batch.len() > AT_ONCE
            || !distinct
            || batch.iter().any(|a| !a.actors.is_empty())
        {
            return Ok(None);
        }
        let ids: Vec<String> = batch.iter().map(|a| a.id.to_string()).collect();
        let rows: Vec<(String, Vec<u8>, String)> = batch
            .iter()
            .zip(&ids)
            .map(|(a, id)| (id.clone(), a.data.clone(), crate::checksum(&a.data)))
            .collect();
        let numbered = appender
            .append(&AT_ONCE_SQL[batch.len() - 1], rows, now)
            .await?;
        in_order(&ids, &numbered).map(Some)
    }

    /// Nothing to do: every write holds SQLite's write lock from its start, so appends never
    /// interleave.
    async fn lock_documents(
        &self,
        _tx: &mut Transaction<'static, Sqlite>,
        _ids: &[String],
    ) -> Result<()> {
        Ok(())
    }

    /// One statement per append: SQLite runs in this process, so a statement costs no round
    /// trip.
    async fn insert_increments(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        batch: &[crate::Append],
        now: domain::Millis,
    ) -> Result<Vec<i64>> {
        let mut seqs = Vec::with_capacity(batch.len());
        for append in batch {
            let (seq,): (i64,) = sqlx::query_as(
                "insert into doc_chunks (document_id, seq, kind, data, checksum, created_at) \
                 select $1, coalesce(max(seq), 0) + 1, 'incremental', $2, $3, $4 \
                 from doc_chunks where document_id = $1 returning seq",
            )
            .bind(append.id.to_string())
            .bind(append.data.as_slice())
            .bind(crate::checksum(&append.data))
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
            seqs.push(seq);
        }
        Ok(seqs)
    }

    /// Binds each `(document, actor, user)`; an actor already bound to another user is a
    /// [`StoreError::Conflict`](crate::StoreError::Conflict).
    async fn bind_actors(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        actors: &[(String, &[u8], uuid::Uuid)],
        now: domain::Millis,
    ) -> Result<()> {
        for (id, actor, user) in actors {
            sqlx::query(
                "insert into doc_actors (document_id, actor_id, user_id, created_at) \
                 values ($1, $2, $3, $4) on conflict (document_id, actor_id) do nothing",
            )
            .bind(id)
            .bind(*actor)
            .bind(user)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            let (owner,): (uuid::Uuid,) = sqlx::query_as(
                "select user_id from doc_actors where document_id = $1 and actor_id = $2",
            )
            .bind(id)
            .bind(*actor)
            .fetch_one(&mut **tx)
            .await?;
            if owner != *user {
                return Err(crate::StoreError::Conflict);
            }
        }
        Ok(())
    }

    /// Nothing to announce: SQLite serves one node.
    async fn announce(
        &self,
        _tx: &mut Transaction<'static, Sqlite>,
        _stored: &[(String, i64)],
        _now: domain::Millis,
    ) -> Result<()> {
        Ok(())
    }

    fn cluster_handle(&self) -> Option<&dyn crate::Cluster> {
        None
    }
}

impl_store!(SqliteStore, Sqlite);
