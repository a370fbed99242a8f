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
use domain::Millis;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::{PostgresStore, Result, System};

/// The channel appends notify.
pub const CHUNKS_CHANNEL: &str = "concordat_chunks";
/// The channel access events travel on.
pub const EVENTS_CHANNEL: &str = "concordat_events";
/// The first key of every per-document advisory lock (the second is the id's hash), so that
/// they cannot collide with another application's locks in the same database.
pub const DOCUMENT_LOCKS: i32 = 0x436f_6e63; // "Conc"

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
    /// The (user, session) of an unexpired ticket, which is used up; `None` otherwise.
    async fn redeem_ticket(&self, hash: &str, now: Millis) -> Result<Option<(Uuid, Uuid)>>;
    /// Binds `peer` to `user`'s connection `conn` on this node. False if another user holds it.
    async fn claim_peer(&self, peer: &str, user: Uuid, conn: u64, now: Millis) -> Result<bool>;
    /// Releases `peer` if connection `conn` of this node still holds it.
    async fn release_peer(&self, peer: &str, conn: u64) -> Result<()>;
    /// Sends an access event to every other node.
    async fn publish_event(&self, event: &str) -> Result<()>;
    /// Starts listening to the other nodes' notices.
    async fn listen(&self) -> Result<Box<dyn Listener>>;
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

    async fn redeem_ticket(&self, hash: &str, now: Millis) -> Result<Option<(Uuid, Uuid)>> {
        let row: Option<(Uuid, Uuid, Millis)> = sqlx::query_as(
            "delete from live_tickets where hash = $1 returning user_id, session_id, expires_at",
        )
        .bind(hash)
        .fetch_optional(&self.system)
        .await?;
        Ok(row.and_then(|(user, session, expires)| (expires > now).then_some((user, session))))
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

    async fn release_peer(&self, peer: &str, conn: u64) -> Result<()> {
        sqlx::query("delete from live_peers where peer_id = $1 and node = $2 and conn = $3")
            .bind(peer)
            .bind(&self.origin)
            .bind(i64::try_from(conn).unwrap_or(i64::MAX))
            .execute(&self.system)
            .await?;
        Ok(())
    }

    async fn publish_event(&self, event: &str) -> Result<()> {
        sqlx::query("select pg_notify($1, $2)")
            .bind(EVENTS_CHANNEL)
            .bind(format!("{} {event}", self.origin))
            .execute(&self.system)
            .await?;
        Ok(())
    }

    async fn listen(&self) -> Result<Box<dyn Listener>> {
        let mut listener = PgListener::connect_with(&self.system).await?;
        listener
            .listen_all([CHUNKS_CHANNEL, EVENTS_CHANNEL])
            .await?;
        Ok(Box::new(PgNotices {
            listener,
            origin: self.origin.clone(),
        }))
    }
}

struct PgNotices {
    listener: PgListener,
    origin: String,
}

#[async_trait]
impl Listener for PgNotices {
    async fn next(&mut self) -> Heard {
        loop {
            match self.listener.try_recv().await {
                // The connection dropped; the next call reconnects and listens again.
                Ok(None) => return Heard::Lost,
                Ok(Some(n)) => {
                    let payload = n.payload();
                    match n.channel() {
                        CHUNKS_CHANNEL => match Stored::decode(payload) {
                            Some(s) if s.origin != self.origin => return Heard::Stored(s),
                            // Its own, or not one of ours: nothing to do.
                            _ => {}
                        },
                        EVENTS_CHANNEL => {
                            if let Some((origin, event)) = payload.split_once(' ')
                                && origin != self.origin
                            {
                                return Heard::Event(event.to_owned());
                            }
                        }
                        _ => {}
                    }
                }
                Err(_) => {
                    // Reconnecting failed (the database is down): wait, then say notices may
                    // have been missed; the next call tries to reconnect again.
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    return Heard::Lost;
                }
            }
        }
    }
}
