//! Persistence for Concordat behind one trait, [`Store`], with two implementations: SQLite
//! (the embedded default) and PostgreSQL (for larger deployments, with row-level security).
//!
//! Tenant-scoped by construction: every method that reads or writes tenant data takes the
//! caller — a [`Principal`] — and its SQL filters by it; on PostgreSQL the same caller is also
//! set inside the transaction for row-level security. The few operations that must act before
//! anyone is authenticated (login, invitation acceptance, provisioning) take a [`System`] value
//! that names why, and nothing else can reach them.
//!
//! Both implementations share one body of SQL (`sql.rs`): the queries are written once, in the
//! subset of SQL both databases accept.

mod error;
mod postgres;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use domain::{
    DocumentId, DocumentKind, Grant, Invitation, Membership, Millis, Organisation, Partnership,
    Space, SpaceOwner, User, Version, access::Principal,
};
use uuid::Uuid;

pub use error::StoreError;
pub use postgres::{PgOptions, PostgresStore, begin_as};
pub use sqlite::{SqliteOptions, SqliteStore};

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

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// The token was live: this session now holds the new hash.
    Rotated(Session),
    /// The token had been exchanged before: this session is now revoked.
    Reused(Uuid),
    /// No live session holds it and none ever did (or its session has ended).
    Unknown,
}

/// A login session: the refresh token's hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub refresh_hash: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
}

impl Session {
    pub fn is_live(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A document with the owner of its space: what an access decision needs about the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRow {
    pub document: Document,
    pub owner: SpaceOwner,
}

pub use domain::Document;

/// What the caller brings to every access decision: their organisation's memberships and their
/// own grants (live or not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerContext {
    pub memberships: Vec<Membership>,
    pub grants: Vec<Grant>,
}

impl CallerContext {
    /// The caller organisation's membership of `partnership_id`, if it ever had one.
    pub fn membership(&self, org_id: Uuid, partnership_id: Uuid) -> Option<&Membership> {
        self.memberships
            .iter()
            .find(|m| m.partnership_id == partnership_id && m.org_id == org_id)
    }

    /// The caller's grants on one document.
    pub fn grants_on(&self, id: DocumentId) -> Vec<Grant> {
        self.grants
            .iter()
            .filter(|g| g.document_id == id)
            .cloned()
            .collect()
    }
}

/// Which documents to list.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    pub space_id: Option<Uuid>,
    pub kind: Option<DocumentKind>,
    pub include_archived: bool,
}

/// A position in a listing ordered by (created_at, id): list what comes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: Millis,
    pub id: String,
}

/// A user being created, with the hash of their password (none: cannot log in by password).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user: User,
    pub password_hash: Option<String>,
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// The grants were made to this user (new or existing).
    Accepted { user: User, created: bool },
    /// No usable invitation has this token (unknown, used, expired or revoked).
    NotUsable,
    /// The invited address has no account yet and no password was given to create one:
    /// nothing was changed, the invitation is still usable.
    NeedsAccount,
    /// The invited address has an account and the acceptor is not signed in as it: nothing
    /// was changed, the invitation is still usable.
    SignInRequired,
}

/// One stored piece of a document's automerge content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub seq: i64,
    pub snapshot: bool,
    pub data: Vec<u8>,
}

/// A document's stored automerge content, ready to load: the latest snapshot and the
/// incremental chunks after it (checksums verified), and its actor bindings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    /// The document's kind (`None` only for content built by hand in tests).
    pub kind: Option<domain::DocumentKind>,
    pub chunks: Vec<Chunk>,
    /// (automerge actor id bytes, user id); the nil user is the server itself.
    pub actors: Vec<(Vec<u8>, Uuid)>,
}

impl Content {
    /// Bytes held in incremental chunks (compaction pays off once they outweigh the snapshot).
    pub fn incremental_bytes(&self) -> usize {
        self.chunks
            .iter()
            .filter(|c| !c.snapshot)
            .map(|c| c.data.len())
            .sum()
    }
    pub fn snapshot_bytes(&self) -> usize {
        self.chunks
            .iter()
            .filter(|c| c.snapshot)
            .map(|c| c.data.len())
            .sum()
    }
    pub fn last_seq(&self) -> i64 {
        self.chunks.last().map(|c| c.seq).unwrap_or(0)
    }
}

/// The SHA-256 of a chunk, hex: stored beside it and checked when it is read.
pub fn checksum(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Changes to append to one document: raw automerge change bytes, concatenated, and the actor
/// ids first seen in them with the user each is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Append {
    pub id: DocumentId,
    pub data: Vec<u8>,
    pub actors: Vec<(Vec<u8>, Uuid)>,
}

/// The user behind an automerge actor id, as the audit trail names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub actor: Vec<u8>,
    /// The nil id for the server's own actor (schema upgrades).
    pub user_id: Uuid,
    pub display_name: String,
    pub org_id: Option<Uuid>,
    pub org_name: Option<String>,
}

/// The person a grant was made to, as the document's administrators see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grantee {
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub org_name: Option<String>,
}

/// Everything Concordat persists. See the crate docs for the scoping rule.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    fn backend(&self) -> Backend;

    /// A round trip to the database (readiness).
    async fn ping(&self) -> Result<()>;

    // --- provisioning (system) ---
    /// Creates an organisation and its private space.
    async fn create_organisation(
        &self,
        sys: System,
        org: &Organisation,
        space: &Space,
    ) -> Result<()>;
    async fn organisation_by_name(&self, sys: System, name: &str) -> Result<Option<Organisation>>;
    async fn create_user(&self, sys: System, user: &NewUser) -> Result<()>;
    /// Creates a partnership, its shared space and its first (host) membership.
    async fn create_partnership(
        &self,
        sys: System,
        partnership: &Partnership,
        host: &Membership,
        space: &Space,
    ) -> Result<()>;

    // --- authentication ---
    /// The account with this e-mail address and its password hash.
    async fn login_lookup(
        &self,
        sys: System,
        email: &str,
    ) -> Result<Option<(User, Option<String>)>>;
    async fn create_session(&self, sys: System, session: &Session) -> Result<()>;
    /// Exchanges a refresh token's hash for a new one, once: the old hash is remembered as spent.
    /// Presenting a spent hash again revokes its whole session (the token was copied).
    async fn refresh_session(
        &self,
        sys: System,
        old_hash: &str,
        new_hash: &str,
        now: Millis,
    ) -> Result<Refresh>;
    /// The caller's own user and session, if both still hold: checked on every request.
    async fn authenticate(
        &self,
        p: &Principal,
        session_id: Uuid,
    ) -> Result<Option<(User, Session)>>;
    async fn revoke_session(&self, p: &Principal, session_id: Uuid, now: Millis) -> Result<()>;

    // --- organisations and users ---
    async fn list_organisations(&self, p: &Principal) -> Result<Vec<Organisation>>;
    async fn get_organisation(&self, p: &Principal, id: Uuid) -> Result<Option<Organisation>>;
    async fn get_user(&self, p: &Principal, id: Uuid) -> Result<Option<User>>;
    async fn list_users(&self, p: &Principal) -> Result<Vec<User>>;
    /// An org admin adds a (non-guest) user to their own organisation, with an address in one
    /// of its verified domains; [`StoreError::Refused`] otherwise.
    async fn add_user(&self, p: &Principal, user: &NewUser) -> Result<()>;

    // --- partnerships and spaces ---
    async fn list_partnerships(&self, p: &Principal) -> Result<Vec<Partnership>>;
    async fn get_partnership(
        &self,
        p: &Principal,
        id: Uuid,
    ) -> Result<Option<(Partnership, Vec<Membership>)>>;
    /// Adds an organisation to a partnership, or rejoins one that left (clearing `left_at`).
    async fn put_membership(&self, p: &Principal, m: &Membership) -> Result<()>;
    /// Marks a membership as ended. False if there was no active one.
    async fn end_membership(
        &self,
        p: &Principal,
        partnership_id: Uuid,
        org_id: Uuid,
        now: Millis,
    ) -> Result<bool>;
    async fn list_spaces(&self, p: &Principal) -> Result<Vec<Space>>;
    async fn get_space(&self, p: &Principal, id: Uuid) -> Result<Option<Space>>;

    // --- documents ---
    async fn caller_context(&self, p: &Principal) -> Result<CallerContext>;
    async fn create_document(&self, p: &Principal, doc: &Document, content: &[u8]) -> Result<()>;
    async fn get_document(&self, p: &Principal, id: DocumentId) -> Result<Option<DocumentRow>>;
    async fn list_documents(
        &self,
        p: &Principal,
        filter: &DocumentFilter,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<DocumentRow>>;
    async fn update_document(
        &self,
        p: &Principal,
        id: DocumentId,
        title: Option<&str>,
        archived: Option<bool>,
        now: Millis,
    ) -> Result<bool>;
    /// The document's stored automerge chunks from the latest snapshot on, in order, checksums
    /// verified (a corrupt chunk is an error). Empty if the caller may not see the document.
    async fn load_chunks(&self, p: &Principal, id: DocumentId) -> Result<Vec<Chunk>>;
    /// Who authored with each of the document's automerge actors, with their names and
    /// councils: the audit trail of a shared document names every council's editors to anyone
    /// who may see the document (and only to them). Empty if the caller may not see it.
    async fn document_authors(&self, p: &Principal, id: DocumentId) -> Result<Vec<Author>>;
    /// The people granted access to a document (guests of other organisations, whom the
    /// caller's row-level security does not show), with their names, addresses and
    /// organisations. Empty if the caller may not see the document; the handler shows them to
    /// its administrators only.
    async fn document_grantees(&self, p: &Principal, id: DocumentId) -> Result<Vec<Grantee>>;

    // --- named versions ---
    /// Records a named version of a document the caller may see; false if they may not.
    async fn create_version(&self, p: &Principal, v: &Version) -> Result<bool>;
    /// The document's named versions, oldest first.
    async fn list_versions(&self, p: &Principal, id: DocumentId) -> Result<Vec<Version>>;
    async fn get_version(&self, p: &Principal, id: Uuid) -> Result<Option<Version>>;

    // --- live sync ---
    /// The document's content; `None` if there is no such document. A chunk whose checksum
    /// does not match is an error ([`StoreError::Corrupt`]), never skipped.
    async fn load_content(&self, sys: System, id: DocumentId) -> Result<Option<Content>>;
    /// Durably appends each document's changes (raw automerge change bytes) and actor
    /// bindings, all in one transaction: one commit for many documents (group commit across
    /// documents), all or nothing.
    async fn append_changes(&self, sys: System, batch: &[Append], now: Millis) -> Result<()>;
    /// Replaces every stored chunk by `snapshot`, in one transaction (the snapshot is written
    /// before the chunks go, so a crash leaves one or the other). Only the document's one
    /// writer (its room) may call this.
    async fn compact(
        &self,
        sys: System,
        id: DocumentId,
        snapshot: &[u8],
        now: Millis,
    ) -> Result<()>;

    // --- grants and invitations ---
    async fn create_grant(&self, p: &Principal, grant: &Grant) -> Result<()>;
    async fn list_grants(&self, p: &Principal, document: DocumentId) -> Result<Vec<Grant>>;
    async fn get_grant(&self, p: &Principal, id: Uuid) -> Result<Option<Grant>>;
    async fn revoke_grant(&self, p: &Principal, id: Uuid, now: Millis) -> Result<bool>;
    /// Refused unless the guest organisation is a partner body and the address is in no
    /// other organisation's verified domain.
    async fn create_invitation(
        &self,
        p: &Principal,
        inv: &Invitation,
        token_hash: &str,
    ) -> Result<()>;
    async fn list_invitations(&self, p: &Principal) -> Result<Vec<Invitation>>;
    async fn revoke_invitation(&self, p: &Principal, id: Uuid, now: Millis) -> Result<bool>;
    /// Accepts the invitation whose token hashes to `token_hash`: attaches its grants to the
    /// account with the invited e-mail if `acceptor` (the signed-in user) is that account, or
    /// creates a guest account from `new_user` (whose e-mail, organisation and id are taken from
    /// the invitation) in the invitation's partner organisation. One transaction: all or nothing.
    async fn accept_invitation(
        &self,
        sys: System,
        token_hash: &str,
        acceptor: Option<Uuid>,
        new_user: &NewUser,
        now: Millis,
    ) -> Result<Acceptance>;
}

/// A principal for acting as `user` outside a request (provisioning, the CLI, tests): opens a
/// short session for it, since the store proves every caller by a live session. End it with
/// [`Store::revoke_session`] when done; it expires after `ttl_ms` regardless.
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
