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
use sqlx::postgres::{PgPool, PgPoolOptions};
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

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
    pub(crate) system: PgPool,
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
            .connect(&opts.system_url)
            .await?;
        let store = Self {
            pool,
            system,
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

    /// Takes each document's transaction-scoped advisory lock, in the order given (sorted by
    /// the caller, so two nodes locking overlapping batches cannot deadlock): appends and
    /// compactions of one document by several nodes take turns.
    async fn lock_documents(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        ids: &[String],
    ) -> Result<()> {
        for id in ids {
            sqlx::query("select pg_advisory_xact_lock($1, hashtext($2))")
                .bind(crate::cluster::DOCUMENT_LOCKS)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Notifies the chunks channel that `seq` was stored for document `id`; PostgreSQL
    /// delivers it when (and only if) the transaction commits.
    async fn announce(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        id: &str,
        seq: i64,
        now: domain::Millis,
    ) -> Result<()> {
        let notice = crate::cluster::Stored {
            origin: self.origin.clone(),
            document: id.to_owned(),
            seq,
            at: now,
        };
        sqlx::query("select pg_notify($1, $2)")
            .bind(crate::cluster::CHUNKS_CHANNEL)
            .bind(notice.encode())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    fn cluster_handle(&self) -> Option<&dyn crate::Cluster> {
        Some(self)
    }
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

impl_store!(PostgresStore, Postgres);
