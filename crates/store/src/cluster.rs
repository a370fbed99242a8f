//! What several server nodes share through PostgreSQL, beyond the tables every node reads:
//! single-use websocket tickets, automerge-repo peer-id claims, and two notification channels.
//!
//! - [`CHUNKS_CHANNEL`]: every append notifies, inside its transaction (so the notice is
//!   delivered exactly when the chunk is committed), with the document and its new sequence
//!   number. A node holding that document reads the chunks after the last one it has read
//!   and syncs its own peers: persist-before-broadcast holds on every node, because what it
//!   relays is what it read back from the database.
//! - [`EVENTS_CHANNEL`]: access events (a grant revoked, a session ended), so that a change
//!   made through one node reaches sockets held by every other.
//!
//! Notices are hints, never the data: a node that missed some (its listening connection
//! dropped) is told [`Heard::Lost`] and re-reads everything it holds.

use async_trait::async_trait;
use domain::{Millis, User};
use sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::accounts::UserRow;
use crate::{PostgresStore, Result, Session, System};

/// A redeemed ticket's account and session, as one row.
#[derive(sqlx::FromRow)]
struct Redeemed {
    #[sqlx(flatten)]
    user: UserRow,
    session_id: Uuid,
    session_refresh_hash: String,
    session_created_at: Millis,
    session_expires_at: Millis,
    session_revoked_at: Option<Millis>,
}

/// The channel appends notify.
pub const CHUNKS_CHANNEL: &str = "concordat_chunks";
/// The channel access events travel on.
pub const EVENTS_CHANNEL: &str = "concordat_events";
/// The channel presence (`ephemeral` messages) travels on, so that people connected to
/// different nodes see each other in a document.
pub const PRESENCE_CHANNEL: &str = "concordat_presence";
/// PostgreSQL refuses a notification payload of 8000 bytes or more.
pub const MAX_NOTICE_BYTES: usize = 7900;
/// The first key of every per-document advisory lock (the second is the id's hash), so that
/// they cannot collide with another application's locks in the same database.
pub const DOCUMENT_LOCKS: i32 = 0x436f_6e63; // "Conc"
/// The first key of the per-document import locks ([`Cluster::lock_import`]).
pub const IMPORT_LOCKS: i32 = 0x496d_706f; // "Impo"

/// A document's import lock across nodes, held by a database session of its own: released
/// with [`ImportLock::release`], or, if dropped unreleased (a request that failed or ended),
/// by closing that session, so a lock can outlive neither its import nor its node.
#[derive(Debug)]
pub struct ImportLock {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
    key: String,
}

impl ImportLock {
    /// Unlocks, and returns the session to the pool (closing it if the unlock fails).
    pub async fn release(mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let unlocked = sqlx::query_scalar::<_, bool>("select pg_advisory_unlock($1, hashtext($2))")
            .bind(IMPORT_LOCKS)
            .bind(&self.key)
            .fetch_one(&mut *conn)
            .await;
        if !matches!(unlocked, Ok(true)) {
            drop(conn.detach());
        }
    }
}

impl Drop for ImportLock {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Ends the session, and with it the lock: never back to the pool still locked.
            drop(conn.detach());
        }
    }
}

/// A chunk another node stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The node (process) that stored it.
    pub origin: String,
    /// The document id, as text.
    pub document: String,
    pub seq: i64,
    /// When it was committed (the storing node's clock): relay lag is measured from it.
    pub at: Millis,
}

impl Stored {
    /// Also written by `concordat_append` (migration postgres/0016) for the usual append: the
    /// two must agree (`two_stores_on_one_database` decodes both).
    pub(crate) fn encode(&self) -> String {
        format!("{} {} {} {}", self.origin, self.document, self.seq, self.at)
    }

    fn decode(s: &str) -> Option<Stored> {
        let mut parts = s.split(' ');
        let stored = Stored {
            origin: parts.next()?.to_owned(),
            document: parts.next()?.to_owned(),
            seq: parts.next()?.parse().ok()?,
            at: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(stored)
    }
}

/// What a [`Listener`] heard from another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A chunk was committed.
    Stored(Stored),
    /// An access event, as the publishing node encoded it.
    Event(String),
    /// A presence message, as the publishing node encoded it.
    Presence(String),
    /// The listening connection dropped and has been re-established: notices sent meanwhile
    /// are lost, so everything held must be re-read.
    Lost,
}

/// A subscription to the other nodes' notices.
#[async_trait]
pub trait Listener: Send {
    /// The next notice from another node (this node's own are skipped).
    async fn next(&mut self) -> Heard;
}

/// What server nodes share. Implemented by the PostgreSQL store.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// This process's name in what it publishes.
    fn origin(&self) -> &str;
    /// Stores a ticket's hash for `user`'s `session` until `expires` (and forgets expired ones).
    async fn issue_ticket(
        &self,
        hash: &str,
        user: Uuid,
        session: Uuid,
        expires: Millis,
        now: Millis,
    ) -> Result<()>;
    /// The account and login session an unexpired ticket was issued for, read in the same
    /// statement that uses the ticket up; `None` otherwise. The caller still checks that both
    /// hold (account enabled, session live). One statement, because a connection's set-up is
    /// what many people reconnecting at once (a network blip in a meeting) all pay.
    async fn redeem_ticket(&self, hash: &str, now: Millis) -> Result<Option<(User, Session)>>;
    /// Binds `peer` to `user`'s connection `conn` on this node. False if another user holds it.
    async fn claim_peer(&self, peer: &str, user: Uuid, conn: u64, now: Millis) -> Result<bool>;
    /// Releases `peer` if connection `conn` of this node still holds it.
    async fn release_peer(&self, peer: &str, conn: u64) -> Result<()>;
    /// Forgets peer-id claims made before `before` (a node killed outright never released
    /// its connections' claims) and expired tickets; how many claims went.
    async fn forget_stale(&self, before: Millis, now: Millis) -> Result<u64>;
    /// Sends an access event to every other node.
    async fn publish_event(&self, event: &str) -> Result<()>;
    /// Sends a presence message to every other node (best effort: presence is transient).
    async fn publish_presence(&self, presence: &str) -> Result<()>;
    /// Starts listening to the other nodes' notices.
    async fn listen(&self) -> Result<Box<dyn Listener>>;
    /// Takes the lock on imports into document `doc` for the whole cluster: `None` if an
    /// import on some node holds it.
    async fn lock_import(&self, doc: &str) -> Result<Option<ImportLock>>;
}

#[async_trait]
impl Cluster for PostgresStore {
    fn origin(&self) -> &str {
        &self.origin
    }

    async fn issue_ticket(
        &self,
        hash: &str,
        user: Uuid,
        session: Uuid,
        expires: Millis,
        now: Millis,
    ) -> Result<()> {
        let mut tx = self.system_tx(System::SYNC, true).await?;
        sqlx::query("delete from live_tickets where expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "insert into live_tickets (hash, user_id, session_id, expires_at) values ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(user)
        .bind(session)
        .bind(expires)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn redeem_ticket(&self, hash: &str, now: Millis) -> Result<Option<(User, Session)>> {
        // A data-modifying CTE runs whole whatever the select keeps: an expired ticket is
        // used up too.
        let row: Option<Redeemed> = sqlx::query_as(&format!(
            "with t as (delete from live_tickets where hash = $1 \
                        returning user_id, session_id, expires_at) \
             select {}, s.id as session_id, s.refresh_hash as session_refresh_hash, \
                    s.created_at as session_created_at, s.expires_at as session_expires_at, \
                    s.revoked_at as session_revoked_at \
             from t join users u on u.id = t.user_id \
                    join sessions s on s.id = t.session_id and s.user_id = t.user_id \
             where t.expires_at > $2",
            crate::accounts::USER_COLUMNS_OF_U
        ))
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.system)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let session = Session {
            id: r.session_id,
            user_id: r.user.id,
            refresh_hash: r.session_refresh_hash,
            created_at: r.session_created_at,
            expires_at: r.session_expires_at,
            revoked_at: r.session_revoked_at,
        };
        Ok(Some((r.user.try_into()?, session)))
    }

    async fn claim_peer(&self, peer: &str, user: Uuid, conn: u64, now: Millis) -> Result<bool> {
        let row: Option<(String,)> = sqlx::query_as(
            "insert into live_peers (peer_id, user_id, node, conn, claimed_at) \
             values ($1, $2, $3, $4, $5) \
             on conflict (peer_id) do update set node = excluded.node, conn = excluded.conn, \
                 claimed_at = excluded.claimed_at \
             where live_peers.user_id = excluded.user_id \
             returning peer_id",
        )
        .bind(peer)
        .bind(user)
        .bind(&self.origin)
        .bind(i64::try_from(conn).unwrap_or(i64::MAX))
        .bind(now)
        .fetch_optional(&self.system)
        .await?;
        Ok(row.is_some())
    }

    async fn lock_import(&self, doc: &str) -> Result<Option<ImportLock>> {
        let mut conn = self.system.acquire().await?;
        let locked = sqlx::query_scalar::<_, bool>("select pg_try_advisory_lock($1, hashtext($2))")
            .bind(IMPORT_LOCKS)
            .bind(doc)
            .fetch_one(&mut *conn)
            .await?;
        Ok(locked.then(|| ImportLock {
            conn: Some(conn),
            key: doc.to_owned(),
        }))
    }

    async fn release_peer(&self, peer: &str, conn: u64) -> Result<()> {
        sqlx::query("delete from live_peers where peer_id = $1 and node = $2 and conn = $3")
            .bind(peer)
            .bind(&self.origin)
            .bind(i64::try_from(conn).unwrap_or(i64::MAX))
            .execute(&self.system)
            .await?;
        Ok(())
    }

    async fn forget_stale(&self, before: Millis, now: Millis) -> Result<u64> {
        let mut tx = self.system_tx(System::SYNC, true).await?;
        let claims = sqlx::query("delete from live_peers where claimed_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("delete from live_tickets where expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(claims)
    }

    async fn publish_event(&self, event: &str) -> Result<()> {
        self.notify(EVENTS_CHANNEL, event).await
    }

    async fn publish_presence(&self, presence: &str) -> Result<()> {
        self.notify(PRESENCE_CHANNEL, presence).await
    }

    async fn listen(&self) -> Result<Box<dyn Listener>> {
        // A pool of its own: the listener holds a connection for good, and must neither take
        // one from the system pool nor wait behind it. Two, so that a replacement can connect
        // while a broken one is still being let go.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_lazy_with(self.system.connect_options().as_ref().clone());
        let listener = listening(&pool).await?;
        Ok(Box::new(PgNotices {
            listener,
            pool,
            origin: self.origin.clone(),
        }))
    }
}

/// A listener on every channel, connected and listening when this returns.
async fn listening(pool: &sqlx::PgPool) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([CHUNKS_CHANNEL, EVENTS_CHANNEL, PRESENCE_CHANNEL])
        .await?;
    Ok(listener)
}

impl PostgresStore {
    /// `NOTIFY channel`, with this node's origin before the payload.
    async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        if payload.len() + self.origin.len() + 1 > MAX_NOTICE_BYTES {
            return Err(crate::StoreError::Config(format!(
                "a {channel} notice of {} bytes is over PostgreSQL's limit",
                payload.len()
            )));
        }
        sqlx::query("select pg_notify($1, $2)")
            .bind(channel)
            .bind(format!("{} {payload}", self.origin))
            .execute(&self.system)
            .await?;
        Ok(())
    }
}

struct PgNotices {
    listener: PgListener,
    pool: sqlx::PgPool,
    origin: String,
}

impl PgNotices {
    /// Listens again on a new connection, retrying until the database answers; only then is
    /// the loss reported, so that whatever is re-read afterwards cannot miss a notice sent
    /// while nobody was listening.
    async fn relisten(&mut self) -> Heard {
        loop {
            match listening(&self.pool).await {
                Ok(listener) => {
                    self.listener = listener;
                    return Heard::Lost;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
            }
        }
    }
}

#[async_trait]
impl Listener for PgNotices {
    async fn next(&mut self) -> Heard {
        loop {
            match self.listener.try_recv().await {
                // The connection dropped (notices sent meanwhile are lost).
                Ok(None) => return self.relisten().await,
                Ok(Some(n)) => {
                    let payload = n.payload();
                    match n.channel() {
                        CHUNKS_CHANNEL => match Stored::decode(payload) {
                            Some(s) if s.origin != self.origin => return Heard::Stored(s),
                            // Its own, or not one of ours: nothing to do.
                            _ => {}
                        },
                        channel @ (EVENTS_CHANNEL | PRESENCE_CHANNEL) => {
                            if let Some((origin, body)) = payload.split_once(' ')
                                && origin != self.origin
                            {
                                let body = body.to_owned();
                                return if channel == EVENTS_CHANNEL {
                                    Heard::Event(body)
                                } else {
                                    Heard::Presence(body)
                                };
                            }
                        }
                        _ => {}
                    }
                }
                Err(_) => return self.relisten().await,
            }
        }
    }
}
