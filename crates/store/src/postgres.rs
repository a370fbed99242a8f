//! PostgreSQL, for larger deployments and for several server nodes sharing one truth.
//!
//! Row-level security is the second wall: every table has `FORCE ROW LEVEL SECURITY`, the
//! application connects as a role that owns no table and lacks `BYPASSRLS`, and each transaction
//! sets its caller with `set_config(..., true)` (transaction-local, so nothing survives on a
//! pooled connection). Migrations run separately, as the owner role.

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
    pub max_connections: u32,
    /// Start even if the role is a superuser, has BYPASSRLS or owns the tables (which would
    /// switch row-level security off for it). For development only.
    pub allow_privileged_role: bool,
}

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
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
        let store = Self { pool };
        if !opts.allow_privileged_role {
            store.check_role().await?;
        }
        Ok(store)
    }

    /// Refuses to run as a role that row-level security would not hold.
    async fn check_role(&self) -> Result<()> {
        let (name, superuser, bypass): (String, bool, bool) = sqlx::query_as(
            "select rolname::text, rolsuper, rolbypassrls from pg_roles where rolname = current_user",
        )
        .fetch_one(&self.pool)
        .await?;
        let owned: i64 = sqlx::query_scalar(
            "select count(*) from pg_tables where schemaname = current_schema() \
             and tableowner = current_user and tablename <> '_sqlx_migrations'",
        )
        .fetch_one(&self.pool)
        .await?;
        if superuser || bypass || owned > 0 {
            return Err(StoreError::Config(format!(
                "the database role {name:?} would bypass row-level security (superuser: {superuser}, \
                 BYPASSRLS: {bypass}, owns {owned} tables); connect as a member of concordat_app \
                 and run migrations with the owner's URL"
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

    async fn user_tx(&self, p: &Principal, _write: bool) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        set_caller(&mut tx, p).await?;
        Ok(tx)
    }

    async fn system_tx(&self, sys: System, _write: bool) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("select set_config('concordat.system', $1, true)")
            .bind(sys.reason())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// Sets the caller for row-level security, for this transaction only.
pub async fn set_caller(tx: &mut Transaction<'static, Postgres>, p: &Principal) -> Result<()> {
    sqlx::query(
        "select set_config('concordat.system', '', true), \
                set_config('concordat.user_id', $1, true), \
                set_config('concordat.org_id', $2, true), \
                set_config('concordat.is_guest', $3, true)",
    )
    .bind(p.user_id.to_string())
    .bind(p.org_id.to_string())
    .bind(p.is_guest.to_string())
    .execute(&mut **tx)
    .await?;
    // Computed under the policies just enabled: a council's own memberships and the caller's
    // own grants are visible to it by the clauses that need no further setting.
    sqlx::query(
        "select set_config('concordat.space_partnerships', \
            case when $1 then '' else coalesce((select string_agg(partnership_id::text, ',') \
                from partnership_members where org_id = $2 and role in ('host', 'member') \
                and left_at is null), '') end, true), \
          set_config('concordat.granted_spaces', coalesce((select string_agg(distinct space_id::text, ',') \
                from grants where user_id = $3 and revoked_at is null \
                and (expires_at is null or expires_at > $4)), ''), true)",
    )
    .bind(p.is_guest)
    .bind(p.org_id)
    .bind(p.user_id)
    .bind(crate::now_millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl_store!(PostgresStore, Postgres);
