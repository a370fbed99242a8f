//! Persistence for Concordat behind one trait, [`Store`], with two implementations: SQLite
//! (the embedded default) and PostgreSQL (for larger deployments, with row-level security).
//!
//! Tenant-scoped by construction: every method that reads or writes tenant data takes the
//! caller — a [`Principal`] — and its SQL filters by it; on PostgreSQL the same caller is also
//! set inside the transaction for row-level security. The few operations that must act before
//! anyone is authenticated (login, invitation acceptance, provisioning) take a [`System`] value
//! that names why, and nothing else can reach them. The store never reads the clock: every
//! decision that depends on time (a grant's expiry, a session's) is made for the `now` passed in.
//!
//! [`Store`] is the sum of five areas, each a trait in its own module with its own SQL:
//! [`Accounts`] (users, sessions), [`Workspace`] (organisations, partnerships, spaces),
//! [`Documents`] (rows, listings, versions, authors), [`Chunks`] (stored automerge content) and
//! [`Sharing`] (grants, invitations). Both backends share one body of SQL per area (`sql.rs`
//! says how): the queries are written once, in the subset of SQL both databases accept.

mod accounts;
mod appender;
mod chunks;
mod cluster;
mod documents;
mod error;
mod postgres;
mod sharing;
mod sql;
mod sqlite;
mod sso;
mod workspace;

use std::sync::Arc;

use async_trait::async_trait;
use domain::{Millis, User, access::Principal};
use uuid::Uuid;

pub use accounts::{Accounts, NewUser, Refresh, Session};
pub use chunks::{Append, Chunk, Chunks, Content, checksum};
pub use cluster::{
    CHUNKS_CHANNEL, Cluster, EVENTS_CHANNEL, Heard, ImportLock, Listener, MAX_NOTICE_BYTES,
    PRESENCE_CHANNEL, Stored,
};
pub use documents::{Author, Cursor, DocumentFilter, DocumentRow, Documents, Grantee};
pub use domain::Document;
pub use error::StoreError;
pub use postgres::{PgOptions, PostgresStore, begin_as};
pub use sharing::{Acceptance, Sharing};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use sso::{Sso, SsoConfig, SsoLogin};
pub use workspace::{CallerContext, ExitExport, Workspace};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A named system operation, acting before or outside any user's authority.
#[derive(Debug, Clone, Copy)]
pub struct System(&'static str);

impl System {
    /// Checking a password: looks up one account by e-mail.
    pub const LOGIN: System = System("login");
    /// Exchanging a refresh token: looks up one session by the token's hash.
    pub const REFRESH: System = System("refresh");
    /// Accepting an invitation: looks it up by the token's hash, creates the guest account.
    pub const INVITATION: System = System("invitation");
    /// Creating organisations, first users and partnerships (CLI, demo, org admins' requests the
    /// server has already authorised).
    pub const PROVISION: System = System("provision");
    /// The live-sync runtime loading and appending document content. It authorises every
    /// peer's message itself before anything reaches here.
    pub const SYNC: System = System("sync");
    /// A one-time link to choose a password (the operator's, an organisation's first
    /// administrator's): looks the link up by its token's hash, sets the password.
    pub const ACCOUNT_SETUP: System = System("account-setup");
    /// The readiness probe's heartbeat write.
    pub const READINESS: System = System("readiness");
    /// Single sign-on: an organisation's identity provider, sign-ins in progress, hand-offs.
    pub const SSO: System = System("sso");
    /// Naming a document's authors (users of other councils, whom row-level security would
    /// hide) for a caller the same statement has checked may see the document.
    pub const AUDIT: System = System("audit");

    pub fn reason(self) -> &'static str {
        self.0
    }
}

/// The database backend in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Everything Concordat persists. See the crate docs for the scoping rule; each area's trait
/// says what it holds. Callers hold an `Arc<dyn Store>` and call any area's methods on it.
#[async_trait]
pub trait Store:
    Accounts + Workspace + Documents + Chunks + Sharing + Sso + std::fmt::Debug + 'static
{
    fn backend(&self) -> Backend;

    /// A round trip to the database (readiness).
    async fn ping(&self) -> Result<()>;

    /// Proves a write commits: upserts this node's heartbeat row (`node_heartbeats`), as system
    /// work, in its own transaction (readiness: a database that answers reads but refuses
    /// writes — read-only, full — is not ready).
    async fn probe_write(&self, node: &str, now: Millis) -> Result<()>;

    /// Writes a consistent copy of the whole database to a new file `to`, while the server
    /// runs. SQLite: `VACUUM INTO`, one read transaction, so the copy is the database as it
    /// stood at one instant however much is written meanwhile; it never overwrites a file.
    /// PostgreSQL is backed up with its own tools (`pg_dump`, as the README says):
    /// [`StoreError::Config`] here.
    async fn backup(&self, to: &std::path::Path) -> Result<()>;

    /// What several server nodes share through this database (PostgreSQL); `None` for a
    /// database that serves one node (SQLite).
    fn cluster(&self) -> Option<&dyn Cluster>;

    /// Folds what was committed into the database file, off the write path. SQLite: a passive
    /// checkpoint of the write-ahead log on a reader connection, which waits for nobody; the
    /// writer's own automatic checkpoints start only far beyond what this keeps up with, so a
    /// commit does not pay for copying and syncing the database file. The server calls it
    /// periodically. PostgreSQL checkpoints itself: nothing to do.
    async fn checkpoint(&self) -> Result<()>;
}

/// A principal for acting as `user` outside a request (provisioning, the CLI, tests): opens a
/// short session for it, since the store proves every caller by a live session. End it with
/// [`Accounts::revoke_session`] when done; it expires after `ttl_ms` regardless.
pub async fn act_as(store: &dyn Store, user: &User, ttl_ms: Millis) -> Result<Principal> {
    let now = now_millis();
    let session = Session {
        id: Uuid::new_v4(),
        user_id: user.id,
        // No refresh token exists for this session: the stored value is no token's hash.
        refresh_hash: format!("no-refresh:{}", Uuid::new_v4()),
        created_at: now,
        expires_at: now.saturating_add(ttl_ms),
        revoked_at: None,
    };
    store.create_session(System::PROVISION, &session).await?;
    Ok(Principal {
        user_id: user.id,
        org_id: user.org_id,
        role: user.role,
        is_guest: user.is_guest,
        session_id: session.id,
    })
}

/// The current time in milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `sqlite:path/to/file.db` or `postgres://…`.
    pub url: String,
    /// PostgreSQL only: the owner role's URL used for migrations (default: `url`).
    pub migrate_url: Option<String>,
    /// PostgreSQL only: the URL of a member of `concordat_system`, for system operations
    /// (default: the migration URL, i.e. the tables' owner).
    pub system_url: Option<String>,
    pub max_connections: u32,
    /// PostgreSQL only: start even if the application role could bypass row-level security.
    pub allow_privileged_role: bool,
}

/// Connects to the database named by `opts.url`, runs migrations, and returns the store.
pub async fn connect(opts: &ConnectOptions) -> Result<Arc<dyn Store>> {
    if opts.url.starts_with("sqlite:") {
        let store = SqliteStore::open(&SqliteOptions {
            url: opts.url.clone(),
            max_readers: opts.max_connections,
        })
        .await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    } else if opts.url.starts_with("postgres://") || opts.url.starts_with("postgresql://") {
        PostgresStore::migrate(opts.migrate_url.as_deref().unwrap_or(&opts.url)).await?;
        let store = PostgresStore::open(&PgOptions {
            url: opts.url.clone(),
            system_url: opts
                .system_url
                .clone()
                .or_else(|| opts.migrate_url.clone())
                .unwrap_or_else(|| opts.url.clone()),
            max_connections: opts.max_connections,
            allow_privileged_role: opts.allow_privileged_role,
        })
        .await?;
        Ok(Arc::new(store))
    } else {
        Err(StoreError::Config(
            "database URL must start with sqlite: or postgres://".into(),
        ))
    }
}
