//! One task per websocket connection.
//!
//! The connection was authenticated at the upgrade (a single-use ticket naming a live session).
//! Here: the `join` handshake binds the peer id to that user; every document message is checked
//! against the caller's access (decided once per document through `domain::decide`, then
//! re-decided whenever an access event arrives); presence is bounded in size and rate; a peer
//! that cannot keep up is disconnected rather than skipped; a silent peer is closed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use domain::{Access, DocumentId};
use sync::codec::{self, Message, PROTOCOL_V1, PeerMetadata};
use sync::{ConnId, Input};
use tokio::sync::{Notify, broadcast, mpsc};

use super::{Affected, Hub, LiveEvent, RoomMsg};
use crate::auth::Caller;

/// Close codes (RFC 6455).
const NORMAL: u16 = 1000;
const GOING_AWAY: u16 = 1001;
const UNSUPPORTED: u16 = 1003;
const INVALID: u16 = 1007;
const POLICY: u16 = 1008;
const TOO_BIG: u16 = 1009;

/// The close code for a room's refusal, decided here once. Every refusal breaks the peer's sync
/// stream (what it holds and what the room holds now differ), so each is a policy close (1008):
/// the client reloads the document; the reason, sent as an `error` first, says why.
pub fn close_code(refusal: &sync::Refusal) -> u16 {
    match refusal {
        sync::Refusal::Malformed(_)
        | sync::Refusal::ReadOnly
        | sync::Refusal::InvalidChanges(_)
        | sync::Refusal::TooLarge { .. }
        | sync::Refusal::MissingDependencies
        | sync::Refusal::ForeignActor
        | sync::Refusal::Reserved(_)
        | sync::Refusal::UnknownKey(_)
        | sync::Refusal::OutOfScope(_)
        | sync::Refusal::Schema(_)
        | sync::Refusal::StorageUnavailable
        | sync::Refusal::NotSaved => POLICY,
    }
}

#[derive(Debug)]
enum Outbound {
    Frame(Vec<u8>),
    Close(u16, String),
}

/// Where a room sends a connection's frames: a bounded queue. When it is full the connection
/// is judged too slow and closed — the sync protocol needs an in-order, lossless stream, so a
/// frame is never dropped and the stream continued.
#[derive(Clone)]
pub struct ConnSender {
    tx: mpsc::Sender<Outbound>,
    slow: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for ConnSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnSender").finish_non_exhaustive()
    }
}

impl ConnSender {
    pub fn send(&self, frame: &[u8]) {
        if self.tx.try_send(Outbound::Frame(frame.to_vec())).is_err() {
            self.too_slow();
        }
    }

    /// Closes the connection after what is queued, for the room's refusal.
    pub fn close(&self, refusal: &sync::Refusal) {
        if self
            .tx
            .try_send(Outbound::Close(close_code(refusal), refusal.to_string()))
            .is_err()
        {
            self.too_slow();
        }
    }

    fn too_slow(&self) {
        self.slow.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

struct Sub {
    edit: sync::Edit,
    /// When access to it may next change by time (a grant's expiry), if ever.
    changes_at: Option<domain::Millis>,
    /// The partnership whose shared space holds it, if any.
    partnership: Option<uuid::Uuid>,
}

/// One access decision on a document.
struct Decided {
    access: Access,
    edit: sync::Edit,
    changes_at: Option<domain::Millis>,
    partnership: Option<uuid::Uuid>,
}

struct Conn {
    hub: Arc<Hub>,
    caller: Caller,
    id: ConnId,
    peer_id: Option<String>,
    out: ConnSender,
    subs: HashMap<DocumentId, Sub>,
    /// Presence messages: a burst over the rate is dropped (presence is transient).
    presence: Bucket,
    /// Every inbound frame: over the rate, the connection stops reading until the bucket
    /// refills — a flood is slowed to the rate by TCP backpressure, nothing is dropped.
    inbound: Bucket,
}

/// A token bucket: `rate` per second, bursts of twice that.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    rate: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_sec: u32) -> Bucket {
        let rate = f64::from(per_sec.max(1));
        Bucket {
            tokens: rate * 2.0,
            rate,
            at: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate)
            .min(self.rate * 2.0);
        self.at = now;
    }

    /// Takes a token if there is one.
    fn try_take(&mut self) -> bool {
        self.refill();
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// Takes a token, going into debt if need be; returns how long to wait before the next.
    fn take(&mut self) -> Duration {
        self.refill();
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Runs the connection until it closes.
pub async fn run(hub: Arc<Hub>, socket: WebSocket, caller: Caller, slot: super::Slot) {
    let limits = &hub.limits;
    let (tx, rx) = mpsc::channel(limits.outbound_queue.max(1));
    let out = ConnSender {
        tx,
        slow: Arc::new(AtomicBool::new(false)),
        wake: Arc::new(Notify::new()),
    };
    let mut conn = Conn {
        id: hub.next_conn_id(),
        hub: hub.clone(),
        caller,
        peer_id: None,
        out,
        subs: HashMap::new(),
        presence: Bucket::new(limits.ephemeral_per_sec),
        inbound: Bucket::new(limits.messages_per_sec),
    };
    tracing::debug!(conn = conn.id, user = %conn.caller.user.id, "sync connection open");
    conn.serve(socket, rx).await;
    conn.leave_all().await;
    if let Some(p) = &conn.peer_id {
        hub.release_peer(p, conn.id);
    }
    drop(slot);
    tracing::debug!(conn = conn.id, "sync connection closed");
}

/// How long until `at` (now if past), capped so the timer stays in range.
fn until(at: domain::Millis) -> Duration {
    let ms = at
        .saturating_sub(store::now_millis())
        .clamp(0, 365 * 24 * 3600 * 1000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn close_frame(code: u16, reason: &str) -> WsMessage {
    // A close reason is at most 123 bytes.
    let mut reason = reason.to_owned();
    while reason.len() > 123 {
        reason.pop();
    }
    WsMessage::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

impl Conn {
    async fn serve(&mut self, mut socket: WebSocket, mut rx: mpsc::Receiver<Outbound>) {
        let limits = self.hub.limits.clone();
        let mut events = self.hub.events.subscribe();
        let ping_every = limits.ping_interval.max(Duration::from_secs(1));
        let idle = limits.idle_timeout.max(Duration::from_secs(1));
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let handshake = tokio::time::sleep(limits.handshake_timeout.max(Duration::from_secs(1)));
        tokio::pin!(handshake);
        let mut last_heard = Instant::now();
        let wake = self.out.wake.clone();
        let throttle = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(throttle);
        let mut throttled = false;
        let mut closing = self.hub.closing();
        // Access that ends by time (a grant's expiry, the session's end) ends here at that
        // moment, not at the next access event.
        let mut deadline_at = self.next_deadline();
        let deadline = tokio::time::sleep(until(deadline_at));
        tokio::pin!(deadline);
        let close = loop {
            let next = self.next_deadline();
            if next != deadline_at {
                deadline_at = next;
                deadline
                    .as_mut()
                    .reset(tokio::time::Instant::now() + until(next));
            }
            if *closing.borrow_and_update() {
                break Some((
                    GOING_AWAY,
                    "server shutting down; reconnect shortly".to_owned(),
                ));
            }
            tokio::select! {
                _ = closing.changed() => continue,
                () = &mut throttle, if throttled => throttled = false,
                frame = socket.recv(), if !throttled => match frame {
                    None => break None,
                    Some(Err(e)) => break Some(read_error(e)),
                    Some(Ok(msg)) => {
                        last_heard = Instant::now();
                        match msg {
                            WsMessage::Binary(bytes) => {
                                if let Err(close) = self.frame(&bytes).await {
                                    break Some(close);
                                }
                                let wait = self.inbound.take();
                                if !wait.is_zero() {
                                    throttled = true;
                                    throttle.as_mut().reset(tokio::time::Instant::now() + wait);
                                }
                            }
                            WsMessage::Text(_) => break Some((UNSUPPORTED, "binary frames only".to_owned())),
                            WsMessage::Close(_) => break None,
                            WsMessage::Ping(_) | WsMessage::Pong(_) => {}
                        }
                    }
                },
                out = rx.recv() => match out {
                    Some(Outbound::Frame(bytes)) => {
                        // A peer that stops reading blocks this write; its queue then fills and
                        // the room marks it slow, which must end the wait.
                        tokio::select! {
                            sent = socket.send(WsMessage::Binary(bytes.into())) => {
                                if sent.is_err() {
                                    break None;
                                }
                            }
                            () = wake.notified() => {
                                tracing::info!(conn = self.id, "peer too slow: disconnected, it resyncs on reconnect");
                                break Some((POLICY, "too slow: reconnect to resync".to_owned()));
                            }
                        }
                    }
                    Some(Outbound::Close(code, reason)) => break Some((code, reason)),
                    None => break None,
                },
                () = wake.notified() => {
                    if self.out.slow.load(Ordering::Relaxed) {
                        tracing::info!(conn = self.id, "peer too slow: disconnected, it resyncs on reconnect");
                        break Some((POLICY, "too slow: reconnect to resync".to_owned()));
                    }
                }
                () = &mut handshake, if self.peer_id.is_none() => {
                    break Some((POLICY, "no join received in time".to_owned()));
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > idle {
                        break Some((GOING_AWAY, "idle timeout".to_owned()));
                    }
                    if socket.send(WsMessage::Ping(Vec::new().into())).await.is_err() {
                        break None;
                    }
                }
                () = &mut deadline => {
                    if !self.recheck().await {
                        break Some((POLICY, "session ended".to_owned()));
                    }
                    if self.next_deadline() == deadline_at {
                        // Nothing moved it (a clock step, say): look again in a second.
                        deadline.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(1));
                    }
                }
                ev = events.recv() => {
                    tracing::debug!(conn = self.id, event = ?ev, "access event");
                    let ended = match ev {
                        Ok(LiveEvent::SessionEnded(sid)) => sid == self.caller.session_id,
                        Ok(LiveEvent::AccessChanged(affected)) => {
                            self.affected_by(&affected) && !self.recheck().await
                        }
                        // Events were missed: recheck everything.
                        Err(broadcast::error::RecvError::Lagged(_)) => !self.recheck().await,
                        Err(broadcast::error::RecvError::Closed) => false,
                    };
                    if ended {
                        break Some((POLICY, "session ended".to_owned()));
                    }
                }
            }
        };
        if let Some((code, reason)) = close {
            // Flush what is already queued (e.g. the error explaining the close), then say why;
            // a peer that is not reading gets a bounded wait, then the socket is dropped.
            let farewell = async {
                if !self.out.slow.load(Ordering::Relaxed) {
                    while let Ok(Outbound::Frame(bytes)) = rx.try_recv() {
                        if socket.send(WsMessage::Binary(bytes.into())).await.is_err() {
                            return;
                        }
                    }
                }
                tracing::debug!(conn = self.id, code, %reason, "closing sync connection");
                let _ = socket.send(close_frame(code, &reason)).await;
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), farewell).await;
        }
    }

    fn server_peer(&self) -> String {
        self.hub.peer_id.clone()
    }

    fn send(&self, msg: &Message) {
        self.out.send(&codec::encode(msg));
    }

    fn error(&self, message: &str) {
        self.send(&Message::Error {
            sender_id: self.server_peer(),
            target_id: self.peer_id.clone(),
            message: message.to_owned(),
        });
    }

    /// Handles one binary frame; `Err` closes the connection with that code and reason.
    async fn frame(&mut self, bytes: &[u8]) -> Result<(), (u16, String)> {
        let msg = match codec::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                let reason = format!("not a protocol message: {e}");
                self.error(&reason);
                return Err((INVALID, reason));
            }
        };
        if let Message::Join {
            sender_id,
            supported_protocol_versions,
            ..
        } = &msg
        {
            return self.join(sender_id, supported_protocol_versions);
        }
        let Some(peer_id) = &self.peer_id else {
            return Err((POLICY, "send join first".to_owned()));
        };
        if msg.sender_id() != peer_id {
            // automerge-repo clients pass on presence they received, with its first sender's
            // id: the server relayed it to everyone already, so the echo is dropped. Any other
            // message naming another sender is an impostor.
            if matches!(msg, Message::Ephemeral { .. }) {
                return Ok(());
            }
            self.error("senderId differs from the peer id this connection joined as");
            return Err((
                POLICY,
                "senderId does not match the connection's peer".to_owned(),
            ));
        }
        match msg {
            Message::Request {
                document_id, data, ..
            }
            | Message::Sync {
                document_id, data, ..
            } => {
                self.sync(&document_id, data).await;
            }
            Message::Ephemeral {
                document_id,
                count,
                session_id,
                data,
                ..
            } => {
                self.ephemeral(&document_id, count, session_id, data)
                    .await?;
            }
            Message::Leave { .. } => return Err((NORMAL, "left".to_owned())),
            // The peer lacks a document, speaks of storage subscriptions we do not offer, or
            // answers: nothing to do.
            Message::DocUnavailable { .. }
            | Message::RemoteSubscriptionChange { .. }
            | Message::RemoteHeadsChanged { .. }
            | Message::Error { .. }
            | Message::Peer { .. }
            | Message::Join { .. } => {}
        }
        Ok(())
    }

    fn join(&mut self, sender_id: &str, versions: &[String]) -> Result<(), (u16, String)> {
        if !versions.is_empty() && !versions.iter().any(|v| v == PROTOCOL_V1) {
            self.error("unsupported protocol version");
            return Err((POLICY, "unsupported protocol version".to_owned()));
        }
        if let Some(current) = &self.peer_id
            && current != sender_id
        {
            self.error("this connection already joined as another peer");
            return Err((POLICY, "peer id changed".to_owned()));
        }
        if sender_id.is_empty() || sender_id.len() > 256 {
            return Err((POLICY, "peer id must be 1 to 256 bytes".to_owned()));
        }
        if !self.hub.claim_peer(sender_id, self.caller.user.id, self.id) {
            self.error("this peer id belongs to another user");
            return Err((POLICY, "peer id belongs to another user".to_owned()));
        }
        self.peer_id = Some(sender_id.to_owned());
        self.send(&Message::Peer {
            sender_id: self.server_peer(),
            target_id: sender_id.to_owned(),
            selected_protocol_version: PROTOCOL_V1.to_owned(),
            peer_metadata: Some(PeerMetadata {
                storage_id: None,
                is_ephemeral: false,
            }),
        });
        Ok(())
    }

    fn unavailable(&self, document_id: &str) {
        self.send(&Message::DocUnavailable {
            sender_id: self.server_peer(),
            target_id: self.peer_id.clone().unwrap_or_default(),
            document_id: document_id.to_owned(),
        });
    }

    /// The caller's access to a document now (none if it does not exist), and what that lets
    /// them change in it.
    async fn access(&self, id: DocumentId) -> Decided {
        let p = &self.caller.principal;
        let none = Decided {
            access: Access::None,
            edit: sync::Edit::None,
            changes_at: None,
            partnership: None,
        };
        let row = match self.hub.store.get_document(p, id).await {
            Ok(Some(row)) => row,
            Ok(None) => return none,
            Err(e) => {
                tracing::error!(error = %e, "access check failed");
                return none;
            }
        };
        let (access, changes_at) = match self.hub.store.caller_context(p).await {
            Ok(ctx) => {
                let now = store::now_millis();
                (
                    crate::access::access_of(&self.caller, &ctx, &row, now),
                    crate::access::next_change(&ctx, id, now),
                )
            }
            Err(e) => {
                tracing::error!(error = %e, "access check failed");
                return none;
            }
        };
        let edit = crate::access::sync_edit(access, row.document.kind, p.is_guest);
        let partnership = match row.owner {
            domain::SpaceOwner::Partnership { partnership_id } => Some(partnership_id),
            domain::SpaceOwner::Private { .. } => None,
        };
        Decided {
            access,
            edit,
            changes_at,
            partnership,
        }
    }

    /// Whether an access change can affect this connection.
    fn affected_by(&self, affected: &Affected) -> bool {
        match affected {
            Affected::Document(id) => self.subs.contains_key(id),
            Affected::Partnership(pid) => self.subs.values().any(|s| s.partnership == Some(*pid)),
            Affected::User(user) => *user == self.caller.user.id,
        }
    }

    /// The next moment access may end by time: the session's end or a grant's expiry.
    fn next_deadline(&self) -> domain::Millis {
        self.subs
            .values()
            .filter_map(|s| s.changes_at)
            .fold(self.caller.session_expires_at, domain::Millis::min)
    }

    /// The document the message names, if the caller may read it; joins its room first time.
    async fn authorised(&mut self, document_id: &str) -> Option<DocumentId> {
        let Ok(id) = DocumentId::parse_url_or_id(document_id) else {
            self.unavailable(document_id);
            return None;
        };
        if self.subs.contains_key(&id) {
            return Some(id);
        }
        let Decided {
            access,
            edit,
            changes_at,
            partnership,
        } = self.access(id).await;
        if !access.can_read() {
            // Never created by syncing, and nothing about its existence revealed.
            self.unavailable(document_id);
            return None;
        }
        let join = Input::Join {
            conn: self.id,
            peer_id: self.peer_id.clone().unwrap_or_default(),
            user: super::user_key(self.caller.user.id),
            edit: edit.clone(),
        };
        let hub = self.hub.clone();
        if !hub
            .send(
                id,
                RoomMsg::Join {
                    input: join,
                    out: self.out.clone(),
                },
            )
            .await
        {
            self.error("document is not available right now");
            return None;
        }
        self.subs.insert(
            id,
            Sub {
                edit,
                changes_at,
                partnership,
            },
        );
        Some(id)
    }

    async fn sync(&mut self, document_id: &str, data: Vec<u8>) {
        let Some(id) = self.authorised(document_id).await else {
            return;
        };
        let hub = self.hub.clone();
        hub.send(
            id,
            RoomMsg::Input(Input::Sync {
                conn: self.id,
                data,
            }),
        )
        .await;
    }

    async fn ephemeral(
        &mut self,
        document_id: &str,
        count: u64,
        session_id: String,
        data: Vec<u8>,
    ) -> Result<(), (u16, String)> {
        if data.len() > self.hub.limits.max_ephemeral_bytes {
            self.error("presence message too large: dropped");
            return Ok(());
        }
        if !self.presence.try_take() {
            // Presence is transient: dropping a burst is the right answer to a flood.
            return Ok(());
        }
        let Some(id) = self.authorised(document_id).await else {
            return Ok(());
        };
        let hub = self.hub.clone();
        hub.send(
            id,
            RoomMsg::Input(Input::Ephemeral {
                conn: self.id,
                count,
                session_id,
                data,
            }),
        )
        .await;
        Ok(())
    }

    /// Re-decides access to every document after an access event. False if the session itself
    /// no longer holds.
    async fn recheck(&mut self) -> bool {
        self.hub.rechecks.fetch_add(1, Ordering::Relaxed);
        match crate::auth::authenticate(
            self.hub.store.as_ref(),
            self.caller.user.id,
            self.caller.session_id,
        )
        .await
        {
            Ok(caller) => self.caller = caller,
            Err(_) => return false,
        }
        let docs: Vec<DocumentId> = self.subs.keys().copied().collect();
        let hub = self.hub.clone();
        for id in docs {
            let Decided {
                access,
                edit,
                changes_at,
                ..
            } = self.access(id).await;
            if let Some(sub) = self.subs.get_mut(&id) {
                sub.changes_at = changes_at;
            }
            if !access.can_read() {
                self.subs.remove(&id);
                hub.send_if_loaded(id, RoomMsg::Input(Input::Leave { conn: self.id }))
                    .await;
                self.unavailable(&id.to_string());
                tracing::info!(conn = self.id, document = %id, "access revoked on a live connection");
            } else if let Some(sub) = self.subs.get_mut(&id)
                && sub.edit != edit
            {
                sub.edit = edit.clone();
                hub.send_if_loaded(
                    id,
                    RoomMsg::Input(Input::SetAccess {
                        conn: self.id,
                        edit,
                    }),
                )
                .await;
            }
        }
        true
    }

    async fn leave_all(&mut self) {
        let hub = self.hub.clone();
        for id in std::mem::take(&mut self.subs).into_keys() {
            hub.send_if_loaded(id, RoomMsg::Input(Input::Leave { conn: self.id }))
                .await;
        }
    }
}

/// The close for a read failure: 1009 for an oversized message.
fn read_error(e: axum::Error) -> (u16, String) {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let inner = e.into_inner();
    match inner.downcast_ref::<WsError>() {
        Some(WsError::Capacity(c)) => (TOO_BIG, format!("message too large: {c}")),
        Some(WsError::Protocol(p)) => (1002, format!("protocol error: {p}")),
        _ => (INVALID, "read error".to_owned()),
    }
}
