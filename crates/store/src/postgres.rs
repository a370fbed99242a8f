//! PostgreSQL, for larger deployments and for several server nodes sharing one truth.
//!
//! Row-level security is the second wall: every table has `FORCE ROW LEVEL SECURITY`, and the
//! application role owns no table, lacks `BYPASSRLS` and is a member of neither the owner nor
//! `concordat_system` (all checked at start-up). A user's transaction begins with
//! `concordat_begin(session)`, a definer function that derives the caller from the live
//! session inside the database; the application cannot set the caller any other way. System
//! operations run on a second pool, as a member of `concordat_system` (see
//! `migrations/postgres/0005_tenant_wall.sql`). Migrations run separately, as the owner role.

use domain::access::Principal;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::sql::impl_store;
use crate::{Backend, Result, StoreError, System};

/// How to open the PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The application role's URL.
    pub url: String,
    /// The URL of a member of `concordat_system` (or the tables' owner), for system operations.
    pub system_url: String,
    pub max_connections: u32,
    /// Start even if the role is a superuser, has BYPASSRLS or owns the tables (which would
    /// switch row-level security off for it). For development only.
    pub allow_privileged_role: bool,
}

/// `url`'s connections with PostgreSQL's generic plans for every prepared statement. System
/// work is point lookups and writes by key, the same statement again and again; under
/// PostgreSQL's default it planned each execution afresh (every table's row-level-security
/// policy expands into sub-plans, so the planner priced a plan for the parameters given below
/// a generic one), about 0.6 ms an append on this machine against 0.5 ms to execute it. The
/// application role's pool keeps the default: its listings and searches filter on optional
/// parameters, where a plan for the values given can use an index a generic one cannot.
fn generic_plans(url: &str) -> Result<PgConnectOptions> {
    Ok(PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("PostgreSQL URL: {e}")))?
        .options([("plan_cache_mode", "force_generic_plan")]))
}

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
    pub(crate) system: PgPool,
    /// One connection for appends of changes alone (the sync runtime's group commit).
    pub(crate) commits: PgPool,
    /// This process's name in the notifications it sends (`crate::cluster`), so that it can
    /// tell its own from other nodes'.
    pub(crate) origin: String,
}

impl PostgresStore {
    /// Runs the migrations over a connection to `owner_url` (the role that owns the tables).
    pub async fn migrate(owner_url: &str) -> Result<()> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(owner_url)
            .await?;
        sqlx::migrate!("../../migrations/postgres")
            .run(&pool)
            .await?;
        pool.close().await;
        Ok(())
    }

    pub async fn open(opts: &PgOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .connect(&opts.url)
            .await?;
        // System work (logins, the sync runtime's appends) is a fraction of the traffic.
        let system = PgPoolOptions::new()
            .max_connections(opts.max_connections.div_ceil(2).max(1))
            .connect_with(generic_plans(&opts.system_url)?)
            .await?;
        // The committer's own connection: a burst of other system work (a thousand connections
        // closing, each releasing its claim) must not queue the write path behind it.
        let commits = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(generic_plans(&opts.system_url)?)
            .await?;
        let store = Self {
            pool,
            system,
            commits,
            origin: uuid::Uuid::new_v4().simple().to_string(),
        };
        if !opts.allow_privileged_role {
            store.check_roles().await?;
        }
        Ok(store)
    }

    /// Refuses to run as an application role that row-level security would not hold, or
    /// with a system role that is not one.
    async fn check_roles(&self) -> Result<()> {
        let (name, superuser, bypass, via_bypass, owner, system): (
            String,
            bool,
            bool,
            bool,
            bool,
            bool,
        ) = sqlx::query_as(
            "select r.rolname::text, r.rolsuper, r.rolbypassrls,                exists (select 1 from pg_roles b where (b.rolbypassrls or b.rolsuper)                        and b.rolname <> current_user and pg_has_role(current_user, b.oid, 'member')),                pg_has_role(current_user, (select relowner from pg_class                                           where oid = 'public.documents'::regclass), 'member'),                pg_has_role(current_user, 'concordat_system', 'member')              from pg_roles r where r.rolname = current_user",
        )
        .fetch_one(&self.pool)
        .await?;
        if superuser || bypass || via_bypass || owner || system {
            return Err(StoreError::Config(format!(
                "the database role {name:?} would bypass row-level security (superuser: {superuser}, \
                 BYPASSRLS: {bypass}, member of a superuser or BYPASSRLS role: {via_bypass}, \
                 member of the tables' owner: {owner}, member of concordat_system: {system}); \
                 connect as a plain member of concordat_app and run migrations with the owner's URL"
            )));
        }
        let (sys_name, is_system): (String, bool) =
            sqlx::query_as("select current_user::text, concordat_is_system()")
                .fetch_one(&self.system)
                .await?;
        if !is_system {
            return Err(StoreError::Config(format!(
                "the system database role {sys_name:?} is not a member of concordat_system \
                 (CONCORDAT_SYSTEM_DATABASE_URL)"
            )));
        }
        Ok(())
    }

    /// The underlying pool (tests inspect the role and policies through it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn backend_kind(&self) -> Backend {
        Backend::Postgres
    }

    fn read_pool(&self) -> &PgPool {
        &self.pool
    }

    /// Reads that are system work (a room loading its document), outside a transaction.
    fn system_reads(&self) -> &PgPool {
        &self.system
    }

    async fn checkpoint_log(&self) -> Result<()> {
        Ok(())
    }

    async fn backup_into(&self, _to: &std::path::Path) -> Result<()> {
        Err(StoreError::Config(
            "a PostgreSQL database is backed up with pg_dump and restored with pg_restore \
             (README, \"Backups\"), not by concordat backup"
                .into(),
        ))
    }

    async fn user_tx(&self, p: &Principal, _write: bool) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        begin_as(&mut tx, p).await?;
        Ok(tx)
    }

    pub(crate) async fn system_tx(
        &self,
        _sys: System,
        _write: bool,
    ) -> Result<Transaction<'static, Postgres>> {
        Ok(self.system.begin().await?)
    }

    /// The transaction that appends changes: on the committer's own connection.
    async fn append_tx(&self, _sys: System) -> Result<Transaction<'static, Postgres>> {
        Ok(self.commits.begin().await?)
    }

    /// A caller's access to one document as one call of `concordat_document_access`
    /// (migrations 0017 and 0021), outside any transaction of ours: the call is its own
    /// read-only transaction, which derives the caller from the session as `concordat_begin`
    /// does and reads each table as its policy shows that caller. One round trip where the
    /// general path takes six; the same statements, the same filter, the policies' conditions.
    async fn document_access_at_once(
        &self,
        p: &Principal,
        id: domain::DocumentId,
        now: domain::Millis,
    ) -> Result<Option<Option<(crate::DocumentRow, crate::CallerContext)>>> {
        let (found,): (Option<String>,) =
            sqlx::query_as("select concordat_document_access($1, $2, $3, $4, $5, $6)")
                .bind_visible(p, now)
                .bind(id.to_string())
                .bind(p.session_id)
                .fetch_one(&self.pool)
                .await?;
        let Some(found) = found else {
            return Ok(Some(None));
        };
        let found: DocumentAccess = serde_json::from_str(&found)
            .map_err(|e| StoreError::Corrupt(format!("access to document {id}: {e}")))?;
        Ok(Some(Some((
            found.document.try_into()?,
            crate::CallerContext {
                memberships: crate::sql::convert(found.memberships)?,
                grants: crate::sql::convert(found.grants)?,
            },
        ))))
    }

    /// The usual append — no actor new to any document of the batch — as one call of
    /// `concordat_append` (migration 0016) on the committer's connection, its own transaction:
    /// the documents' locks, the numbered insert and the notices the general path makes in five
    /// round trips. `None` for a batch binding actors, which takes the general path.
    async fn append_at_once(
        &self,
        batch: &[crate::Append],
        now: domain::Millis,
    ) -> Result<Option<Vec<i64>>> {
        if batch.is_empty() || batch.iter().any(|a| !a.actors.is_empty()) {
            return Ok(None);
        }
        let ids: Vec<String> = batch.iter().map(|a| a.id.to_string()).collect();
        let mut locks = ids.clone();
        locks.sort_unstable();
        locks.dedup();
        let data: Vec<&[u8]> = batch.iter().map(|a| a.data.as_slice()).collect();
        let sums: Vec<String> = batch.iter().map(|a| crate::checksum(&a.data)).collect();
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "select stored_document, stored_seq \
             from concordat_append($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(crate::cluster::DOCUMENT_LOCKS)
        .bind(&locks)
        .bind(crate::cluster::CHUNKS_CHANNEL)
        .bind(&self.origin)
        .bind(&ids)
        .bind(&data)
        .bind(&sums)
        .bind(now)
        .fetch_all(&self.commits)
        .await?;
        seqs_in_order(&ids, rows).map(Some)
    }

    /// Takes each document's transaction-scoped advisory lock, in the order given (sorted by
    /// the caller, so two nodes locking overlapping batches cannot deadlock): appends and
    /// compactions of one document by several nodes take turns. One statement for the whole
    /// batch: a function scan yields the array in order, and a round trip per document was
    /// what limited one committer to ~1000 documents a second.
    async fn lock_documents(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        ids: &[String],
    ) -> Result<()> {
        sqlx::query(
            "select count(pg_advisory_xact_lock($1, hashtext(id))) from unnest($2::text[]) as id",
        )
        .bind(crate::cluster::DOCUMENT_LOCKS)
        .bind(ids)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Every append of the batch in one statement (one round trip, not one per document): each
    /// row numbered after its document's last stored chunk, in the batch's order.
    async fn insert_increments(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        batch: &[crate::Append],
        now: domain::Millis,
    ) -> Result<Vec<i64>> {
        let ids: Vec<String> = batch.iter().map(|a| a.id.to_string()).collect();
        let data: Vec<&[u8]> = batch.iter().map(|a| a.data.as_slice()).collect();
        let sums: Vec<String> = batch.iter().map(|a| crate::checksum(&a.data)).collect();
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "with input as (\
                select doc, data, sum, ord \
                from unnest($1::text[], $2::bytea[], $3::text[]) with ordinality as t(doc, data, sum, ord)), \
             numbered as (\
                select i.doc, i.data, i.sum, \
                       coalesce((select max(c.seq) from doc_chunks c where c.document_id = i.doc), 0) \
                         + row_number() over (partition by i.doc order by i.ord) as seq \
                from input i) \
             insert into doc_chunks (document_id, seq, kind, data, checksum, created_at) \
             select doc, seq, 'incremental', data, sum, $4 from numbered \
             returning document_id, seq",
        )
        .bind(&ids)
        .bind(&data)
        .bind(&sums)
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
        seqs_in_order(&ids, rows)
    }

    /// Binds each `(document, actor, user)` in two statements for the whole batch. Another
    /// node may have bound an actor first (its room could not know): the binding that is
    /// stored is the one that counts, and a different user there is a
    /// [`StoreError::Conflict`].
    async fn bind_actors(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        actors: &[(String, &[u8], uuid::Uuid)],
        now: domain::Millis,
    ) -> Result<()> {
        let ids: Vec<&str> = actors.iter().map(|a| a.0.as_str()).collect();
        let keys: Vec<&[u8]> = actors.iter().map(|a| a.1).collect();
        let users: Vec<uuid::Uuid> = actors.iter().map(|a| a.2).collect();
        sqlx::query(
            "insert into doc_actors (document_id, actor_id, user_id, created_at) \
             select d, a, u, $4 from unnest($1::text[], $2::bytea[], $3::uuid[]) as t(d, a, u) \
             on conflict (document_id, actor_id) do nothing",
        )
        .bind(&ids)
        .bind(&keys)
        .bind(&users)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let (others,): (i64,) = sqlx::query_as(
            "select count(*) from unnest($1::text[], $2::bytea[], $3::uuid[]) as t(d, a, u) \
             join doc_actors x on x.document_id = t.d and x.actor_id = t.a where x.user_id <> t.u",
        )
        .bind(&ids)
        .bind(&keys)
        .bind(&users)
        .fetch_one(&mut **tx)
        .await?;
        if others > 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    /// Notifies the chunks channel of each `(document, seq)` stored; PostgreSQL delivers them
    /// when (and only if) the transaction commits.
    async fn announce(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        stored: &[(String, i64)],
        now: domain::Millis,
    ) -> Result<()> {
        let notices: Vec<String> = stored
            .iter()
            .map(|(id, seq)| {
                crate::cluster::Stored {
                    origin: self.origin.clone(),
                    document: id.clone(),
                    seq: *seq,
                    at: now,
                }
                .encode()
            })
            .collect();
        sqlx::query("select count(pg_notify($1, n)) from unnest($2::text[]) as n")
            .bind(crate::cluster::CHUNKS_CHANNEL)
            .bind(&notices)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    fn cluster_handle(&self) -> Option<&dyn crate::Cluster> {
        Some(self)
    }
}

/// What `concordat_document_access` returns: the rows the general path reads, as JSON.
#[derive(serde::Deserialize)]
struct DocumentAccess {
    document: crate::documents::DocRow,
    memberships: Vec<crate::workspace::MembershipRow>,
    grants: Vec<crate::sharing::GrantRow>,
}

/// Sets the caller for row-level security, for this transaction only, from the principal's
/// session: the database looks the session up and derives everything else itself. A session
/// that is not live sets nobody, and every policy is then false.
pub async fn begin_as(tx: &mut Transaction<'static, Postgres>, p: &Principal) -> Result<()> {
    sqlx::query("select concordat_begin($1)")
        .bind(p.session_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The sequence number of each append in `ids` (the batch's documents, in order, possibly
/// repeated) from the inserted `(document, seq)` rows, which come back in no promised order: a
/// document's appends were numbered in batch order, so its k-th append has its k-th smallest
/// sequence number.
fn seqs_in_order(ids: &[String], mut rows: Vec<(String, i64)>) -> Result<Vec<i64>> {
    if rows.len() != ids.len() {
        return Err(StoreError::Corrupt(format!(
            "{} chunks inserted for {} appends",
            rows.len(),
            ids.len()
        )));
    }
    // Descending, so each document's smallest number is popped first.
    rows.sort_unstable_by(|a, b| (&a.0, b.1).cmp(&(&b.0, a.1)));
    let mut by_doc: std::collections::HashMap<String, Vec<i64>> = std::collections::HashMap::new();
    for (doc, seq) in rows {
        by_doc.entry(doc).or_default().push(seq);
    }
    ids.iter()
        .map(|id| {
            by_doc
                .get_mut(id)
                .and_then(Vec::pop)
                .ok_or_else(|| StoreError::Corrupt(format!("no chunk inserted for {id}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::seqs_in_order;

    /// `concordat_document_access` (migration 0021) reads what the general path reads: the
    /// document with `visible_doc!`'s filter, the memberships and the grants with the same
    /// columns and keys. A column left out would not fail to decode (an absent optional field
    /// is read as null), so the texts themselves are compared.
    #[test]
    fn the_access_call_reads_with_the_stores_own_text() {
        let sql =
            include_str!("../../../migrations/postgres/0021_access_decided_by_the_session.sql");
        let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        for part in [
            format!(
                "select {} from documents d join spaces s on s.id = d.space_id where \
                 -- visible_doc!() of crates/store/src/sql.rs, verbatim: {} and d.id = $5",
                crate::documents::DOC_COLUMNS,
                crate::sql::visible_doc!()
            ),
            format!(
                "select {} from partnership_members where org_id = $1",
                crate::workspace::MEMBERSHIP_COLUMNS
            ),
            format!(
                "select {} from grants where user_id = $3",
                crate::sharing::GRANT_COLUMNS
            ),
        ] {
            assert!(sql.contains(&part), "migration 0021 lacks {part:?}");
        }
    }

    #[test]
    fn each_append_gets_its_own_documents_numbers_in_batch_order() {
        let ids: Vec<String> = ["b", "a", "b", "c", "b"].map(String::from).to_vec();
        let rows = vec![
            ("b".to_owned(), 9),
            ("c".to_owned(), 1),
            ("a".to_owned(), 4),
            ("b".to_owned(), 7),
            ("b".to_owned(), 8),
        ];
        assert_eq!(seqs_in_order(&ids, rows).unwrap(), vec![7, 4, 8, 1, 9]);
        assert!(seqs_in_order(&ids[..2], vec![("b".to_owned(), 1)]).is_err());
        assert!(seqs_in_order(&ids[..1], vec![("a".to_owned(), 1)]).is_err());
    }
}

impl_store!(PostgresStore, Postgres);
