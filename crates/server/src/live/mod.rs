//! The live-sync runtime: the tokio shell around the sans-IO `sync` crate.
//!
//! - [`conn`]: one task per websocket connection — handshake, per-document authorisation
//!   through `domain::decide`, presence limits, ping/pong, a bounded outbound queue.
//! - [`room`]: one task per loaded document — owns the `sync::Room`, performs its effects,
//!   persists before anything is broadcast, unloads (and compacts) when idle.
//! - [`commit`]: one task that commits every room's batch, many documents per transaction.
//! - [`Hub`]: finds or starts a document's room task; issues single-use websocket tickets;
//!   carries access events so that revocations reach live connections.
//! - [`relay`]: with several nodes on one PostgreSQL, hears the other nodes' commits and
//!   access events and hands them to this node's rooms and connections.

pub mod commit;
pub mod conn;
pub mod relay;
pub mod room;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::DocumentId;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;

/// The live runtime's limits and timings: the `sync_*` settings and the documents' own limits,
/// as the runtime uses them (see `Config::sync_limits`).
#[derive(Debug, Clone)]
pub struct SyncLimits {
    /// Frames queued for one connection before it counts as too slow and is disconnected.
    pub outbound_queue: usize,
    /// Presence messages per second per connection (bursts of twice that).
    pub ephemeral_per_sec: u32,
    /// Inbound frames per second per connection, past which reading pauses.
    pub messages_per_sec: u32,
    pub ping_interval: Duration,
    /// A connection silent this long is closed.
    pub idle_timeout: Duration,
    /// Time to complete the `join` handshake.
    pub handshake_timeout: Duration,
    pub max_ephemeral_bytes: usize,
    /// Most operations one message's changes may carry (0: no limit).
    pub max_change_ops: u64,
    /// How long a document with no peers stays loaded.
    pub unload_after: Duration,
    /// How long a document whose peers are all quiet stays in memory (zero: always).
    pub hibernate_after: Duration,
    /// Text and size limits every change is held to.
    pub document: domain::documents::limits::Limits,
}

/// Something that may change what live connections may do. Serialised to travel between
/// nodes ([`relay`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum LiveEvent {
    /// Grants, memberships or documents changed: the connections it can affect recheck.
    AccessChanged(Affected),
    /// The login session ended: its connections close.
    SessionEnded(Uuid),
}

/// Which connections an access change can affect; the others do not recheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Affected {
    /// Those on this document (a grant revoked, the document archived).
    Document(DocumentId),
    /// Those on any document of this partnership's shared space (membership changed).
    Partnership(Uuid),
    /// This user's (new grants: an edit level may rise).
    User(Uuid),
    /// Every connection (this node may have missed other nodes' events).
    Everyone,
}

/// What a room task is sent.
#[derive(Debug)]
pub enum RoomMsg {
    /// A connection joins, with where to send its frames.
    Join {
        input: Box<sync::Input>,
        out: conn::ConnSender,
    },
    /// Boxed, as is the join's: each room's channel allocates its slots up front, sized by
    /// the largest message (an idle room's channel is most of its memory).
    Input(Box<sync::Input>),
    /// Another node stored chunks of this document up to `seq` (committed at `at`, its
    /// clock); `None`: notices may have been missed, read whatever is there.
    CatchUp(Box<(Option<i64>, Option<domain::Millis>)>),
    /// Changes made on the server on a user's behalf (an import): checked like a peer's, then
    /// stored and broadcast; answered once stored, or refused with the reason.
    Apply(Box<Apply>),
}

// Every variant is a pointer or two: a room's channel allocates 32 slots of this when it is
// made, and most rooms are idle.
const _: () = assert!(std::mem::size_of::<RoomMsg>() <= 24);

/// A change made on the server on a user's behalf ([`RoomMsg::Apply`]).
#[derive(Debug)]
pub struct Apply {
    pub user: Uuid,
    pub changes: Vec<u8>,
    pub reply: tokio::sync::oneshot::Sender<Result<(), ApplyError>>,
}

/// Why a change made on the server (an import, a sign-off) was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The document's room could not load it (the administrators have been told).
    #[error("the document could not be opened")]
    Unavailable,
    /// The room refused the change, and why.
    #[error(transparent)]
    Refused(#[from] sync::Refusal),
}

/// Why a connection slot was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRefused {
    /// The server holds its maximum of connections.
    Server,
    /// This user holds their maximum.
    User,
}

/// One open live connection, counted in the server's and its user's totals, and among the
/// tasks shutdown waits for, until dropped.
#[derive(Debug)]
pub struct Slot {
    hub: Arc<Hub>,
    user: Uuid,
    _task: tokio_util::task::task_tracker::TaskTrackerToken,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut users = self.hub.per_user.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = users.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                users.remove(&self.user);
            }
        }
        self.hub.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Ticket {
    user_id: Uuid,
    session_id: Uuid,
    expires: Instant,
}

/// Shared live-sync state.
pub struct Hub {
    /// This server's peer id in the protocol.
    pub peer_id: String,
    /// Loaded rooms: a generation number (to tell a room from its successor) and its channel.
    rooms: Mutex<HashMap<DocumentId, (u64, mpsc::Sender<RoomMsg>)>>,
    next_room: AtomicU64,
    tickets: Mutex<HashMap<String, Ticket>>,
    /// Peer ids in use, with their user: a `join` may not claim another user's peer id.
    peers: Mutex<HashMap<String, (Uuid, sync::ConnId)>>,
    next_conn: AtomicU64,
    /// Open connections, all told; held through [`Slot`]s.
    pub connections: AtomicUsize,
    /// Open connections per user.
    per_user: Mutex<HashMap<Uuid, usize>>,
    pub events: broadcast::Sender<LiveEvent>,
    /// Connections that have re-decided their access after an event or a deadline (a metric,
    /// and how tests see that an event reached only the connections it could affect).
    pub rechecks: AtomicU64,
    pub(crate) store: Arc<dyn store::Store>,
    pub limits: SyncLimits,
    /// Where every room's changes are committed, many documents per transaction.
    committer: commit::Committer,
    /// Set when the server shuts down: connections close (1001), rooms settle, compact, go.
    closing: tokio::sync::watch::Sender<bool>,
    /// Every room task and every open connection: shutdown waits for them to end.
    tasks: tokio_util::task::TaskTracker,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("peer_id", &self.peer_id)
            .field("connections", &self.connections.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// The live runtime over `store`: rooms load from and persist to it (through
    /// `committer`), connections decide access against it.
    pub fn new(
        store: Arc<dyn store::Store>,
        limits: SyncLimits,
        committer: commit::Committer,
    ) -> Self {
        let (events, _) = broadcast::channel(1024);
        Hub {
            peer_id: format!("concordat-{}", Uuid::new_v4().simple()),
            rooms: Mutex::new(HashMap::new()),
            next_room: AtomicU64::new(1),
            tickets: Mutex::new(HashMap::new()),
            peers: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            per_user: Mutex::new(HashMap::new()),
            events,
            rechecks: AtomicU64::new(0),
            store,
            limits,
            committer,
            closing: tokio::sync::watch::Sender::new(false),
            tasks: tokio_util::task::TaskTracker::new(),
        }
    }

    /// Starts closing live sync: every connection is told the server is going away, and every
    /// room persists what it holds, compacts and unloads as soon as its peers are gone.
    pub fn begin_shutdown(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves when shutdown has begun.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Waits until every connection has closed and every room has unloaded, or the deadline.
    /// True if everything closed in time.
    pub async fn wait_closed(&self, deadline: Duration) -> bool {
        self.tasks.close();
        tokio::time::timeout(deadline, self.tasks.wait())
            .await
            .is_ok()
    }

    /// The cross-document committer.
    pub fn committer(&self) -> &commit::Committer {
        &self.committer
    }

    /// Takes a connection slot for `user`, within the server's cap (`max`) and the user's own
    /// (`per_user`), so that one account cannot hold every socket. Freed when dropped.
    pub fn open_slot(
        self: &Arc<Self>,
        user: Uuid,
        max: usize,
        per_user: usize,
    ) -> Result<Slot, SlotRefused> {
        let mut users = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
        let mine = users.get(&user).copied().unwrap_or(0);
        if mine >= per_user {
            return Err(SlotRefused::User);
        }
        if self.connections.fetch_add(1, Ordering::Relaxed) >= max {
            self.connections.fetch_sub(1, Ordering::Relaxed);
            return Err(SlotRefused::Server);
        }
        users.insert(user, mine + 1);
        Ok(Slot {
            hub: self.clone(),
            user,
            _task: self.tasks.token(),
        })
    }

    /// Open connections of one user.
    pub fn connections_of(&self, user: Uuid) -> usize {
        self.per_user
            .lock()
            .map(|u| u.get(&user).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    pub fn next_conn_id(&self) -> sync::ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Tells live connections that access may have changed: this node's at once, the other
    /// nodes' through the database (several nodes on PostgreSQL).
    pub async fn notify(&self, event: LiveEvent) {
        // This node's connections first: a revocation here never waits on the database.
        let _ = self.events.send(event.clone());
        if let Some(cluster) = self.store.cluster() {
            match serde_json::to_string(&event) {
                Ok(json) => {
                    if let Err(e) = cluster.publish_event(&json).await {
                        tracing::error!(error = %e, ?event, "access event not sent to the other nodes");
                    }
                }
                Err(e) => tracing::error!(error = %e, "access event not encoded"),
            }
        }
    }

    /// A single-use ticket for the caller's session; only its hash is kept (in the database
    /// when several nodes share it: the websocket may reach another node).
    pub async fn issue_ticket(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        ttl: Duration,
    ) -> Result<String, store::StoreError> {
        let ticket = crate::auth::new_opaque_token();
        if let Some(cluster) = self.store.cluster() {
            let now = store::now_millis();
            let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            cluster
                .issue_ticket(
                    &crate::auth::token_hash(&ticket),
                    user_id,
                    session_id,
                    now.saturating_add(ttl),
                    now,
                )
                .await?;
            return Ok(ticket);
        }
        let now = Instant::now();
        if let Ok(mut t) = self.tickets.lock() {
            t.retain(|_, v| v.expires > now);
            t.insert(
                crate::auth::token_hash(&ticket),
                Ticket {
                    user_id,
                    session_id,
                    expires: now + ttl,
                },
            );
        }
        Ok(ticket)
    }

    /// The caller a ticket was issued for, if it is unused and unexpired and its account and
    /// session still hold. Uses it up. Across nodes (PostgreSQL) the ticket, the account and
    /// the session are one statement.
    pub async fn redeem_ticket(&self, ticket: &str) -> Result<Caller, ApiError> {
        if let Some(cluster) = self.store.cluster() {
            let redeemed = cluster
                .redeem_ticket(&crate::auth::token_hash(ticket), store::now_millis())
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "a ticket could not be checked");
                    ApiError::Unauthorized
                })?
                .ok_or(ApiError::Unauthorized)?;
            return crate::auth::caller_of(redeemed, store::now_millis());
        }
        let (user_id, session_id) = {
            let mut t = self.tickets.lock().map_err(|_| ApiError::Unauthorized)?;
            let entry = t
                .remove(&crate::auth::token_hash(ticket))
                .ok_or(ApiError::Unauthorized)?;
            if entry.expires <= Instant::now() {
                return Err(ApiError::Unauthorized);
            }
            (entry.user_id, entry.session_id)
        };
        crate::auth::authenticate(self.store.as_ref(), user_id, session_id).await
    }

    /// Binds a peer id to a user's connection. False if another user holds it (on any node).
    pub async fn claim_peer(&self, peer_id: &str, user: Uuid, conn: sync::ConnId) -> bool {
        if let Some(cluster) = self.store.cluster() {
            return cluster
                .claim_peer(peer_id, user, conn, store::now_millis())
                .await
                .inspect_err(|e| tracing::error!(error = %e, "a peer id could not be claimed"))
                .unwrap_or(false);
        }
        let Ok(mut peers) = self.peers.lock() else {
            return false;
        };
        match peers.get(peer_id) {
            Some((owner, _)) if *owner != user => false,
            _ => {
                peers.insert(peer_id.to_owned(), (user, conn));
                true
            }
        }
    }

    pub async fn release_peer(&self, peer_id: &str, conn: sync::ConnId) {
        if let Some(cluster) = self.store.cluster() {
            if let Err(e) = cluster.release_peer(peer_id, conn).await {
                tracing::warn!(error = %e, "a peer id could not be released");
            }
            return;
        }
        if let Ok(mut peers) = self.peers.lock()
            && peers.get(peer_id).is_some_and(|(_, c)| *c == conn)
        {
            peers.remove(peer_id);
        }
    }

    /// Sends to the document's room, starting it if needed. A room that has just unloaded
    /// (its channel closed) is replaced once.
    pub async fn send(self: &Arc<Self>, doc: DocumentId, mut msg: RoomMsg) -> bool {
        for _ in 0..2 {
            let tx = self.room_sender(doc);
            match tx.send(msg).await {
                Ok(()) => return true,
                Err(mpsc::error::SendError(back)) => {
                    msg = back;
                    if let Ok(mut rooms) = self.rooms.lock()
                        && rooms.get(&doc).is_some_and(|(_, t)| t.same_channel(&tx))
                    {
                        rooms.remove(&doc);
                    }
                }
            }
        }
        false
    }

    /// Applies changes on `user`'s behalf through the document's room (so connected peers see
    /// them, after they are stored), checked as a peer's would be.
    pub async fn apply(
        self: &Arc<Self>,
        doc: DocumentId,
        user: Uuid,
        changes: Vec<u8>,
    ) -> Result<(), ApplyError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if !self
            .send(
                doc,
                RoomMsg::Apply(Box::new(Apply {
                    user,
                    changes,
                    reply,
                })),
            )
            .await
        {
            return Err(ApplyError::Unavailable);
        }
        answer.await.unwrap_or(Err(ApplyError::Unavailable))
    }

    /// Sends to the document's room only if it is loaded (a leave needs no room started).
    pub async fn send_if_loaded(&self, doc: DocumentId, msg: RoomMsg) {
        let tx = self
            .rooms
            .lock()
            .ok()
            .and_then(|r| r.get(&doc).map(|(_, tx)| tx.clone()));
        if let Some(tx) = tx {
            let _ = tx.send(msg).await;
        }
    }

    fn room_sender(self: &Arc<Self>, doc: DocumentId) -> mpsc::Sender<RoomMsg> {
        let mut rooms = match self.rooms.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((_, tx)) = rooms.get(&doc) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(1024);
        let generation = self.next_room.fetch_add(1, Ordering::Relaxed);
        rooms.insert(doc, (generation, tx.clone()));
        self.tasks
            .spawn(room::run(self.clone(), doc, generation, rx));
        tx
    }

    /// Forgets the room if it is still this generation's (called by the room as it unloads, with
    /// its receiver still open so no message is lost in between).
    pub(crate) fn remove_room_if(
        &self,
        doc: DocumentId,
        generation: u64,
        rx: &mpsc::Receiver<RoomMsg>,
    ) -> bool {
        let Ok(mut rooms) = self.rooms.lock() else {
            return false;
        };
        if !rx.is_empty() {
            return false;
        }
        if rooms.get(&doc).is_some_and(|(g, _)| *g == generation) {
            rooms.remove(&doc);
        }
        true
    }

    /// Tells a loaded room that another node stored its chunks up to `seq` (`None`: notices
    /// may have been missed); a document not loaded here needs nothing.
    pub(crate) fn heard(&self, doc: DocumentId, seq: Option<i64>, at: Option<domain::Millis>) {
        self.to_loaded_room(doc, RoomMsg::CatchUp(Box::new((seq, at))));
    }

    /// Sends to the document's room if it is loaded, without waiting in the caller.
    pub(crate) fn to_loaded_room(&self, doc: DocumentId, msg: RoomMsg) {
        let tx = self
            .rooms
            .lock()
            .ok()
            .and_then(|r| r.get(&doc).map(|(_, tx)| tx.clone()));
        if let Some(tx) = tx
            && let Err(mpsc::error::TrySendError::Full(msg)) = tx.try_send(msg)
        {
            // A busy room: wait for it elsewhere, not in the relay's one loop.
            tokio::spawn(async move {
                let _ = tx.send(msg).await;
            });
        }
    }

    /// Every loaded document, for a catch-up after missed notices.
    pub(crate) fn loaded_documents(&self) -> Vec<DocumentId> {
        self.rooms
            .lock()
            .map(|r| r.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Documents loaded right now.
    pub fn loaded_rooms(&self) -> usize {
        self.rooms.lock().map(|r| r.len()).unwrap_or(0)
    }
}

/// The user key the sync core uses for a user id.
pub fn user_key(id: Uuid) -> sync::room::UserKey {
    *id.as_bytes()
}
