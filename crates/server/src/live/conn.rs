//! One task per websocket connection: the socket loop around `sync::conn::Connection`.
//!
//! The connection was authenticated at the upgrade (a single-use ticket naming a live session).
//! The protocol — the `join` handshake, the sender check, authorisation before anything reaches
//! a room, presence and inbound rates — is the sans-IO machine's; here are its effects
//! performed (a peer-id claim in the hub, an access decision through `crate::access`, a room
//! message, a frame on the socket) and what needs a clock or a socket: a bounded outbound queue
//! (a peer that cannot keep up is disconnected rather than skipped), ping/pong and the idle
//! timeout, the handshake timer, access re-decided on events and at deadlines, shutdown.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use domain::DocumentId;
use sync::codec;
use sync::conn::{ConnLimits, Connection, Effect, Input as ConnInput, ToRoom, close};
use sync::{ConnId, Input};
use tokio::sync::{Notify, broadcast, mpsc};

use super::{Affected, Hub, LiveEvent, RoomMsg};
use crate::auth::Caller;

use close::{GOING_AWAY, INVALID, POLICY, TOO_BIG};

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
        crate::metrics::refused(refusal, "sync");
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

/// What the shell keeps about each open document.
#[derive(Debug, Clone, Copy)]
struct Meta {
    /// When access to it may next change by time (a grant's expiry), if ever.
    changes_at: Option<domain::Millis>,
    /// The partnership whose shared space holds it, if any.
    partnership: Option<uuid::Uuid>,
}

/// Document ids as the protocol names them (bare or as `automerge:` URLs), in one form.
fn canonical(named: &str) -> Option<String> {
    DocumentId::parse_url_or_id(named)
        .ok()
        .map(|d| d.to_string())
}

struct Conn {
    hub: Arc<Hub>,
    caller: Caller,
    id: ConnId,
    out: ConnSender,
    protocol: Connection<Meta>,
    /// When the connection opened: the protocol's clock counts from here.
    opened: Instant,
    /// Set by a `Pause` effect: reading waits until then.
    paused_until: Option<tokio::time::Instant>,
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
    let protocol = Connection::new(
        hub.peer_id.clone(),
        ConnLimits {
            max_ephemeral_bytes: limits.max_ephemeral_bytes,
            ephemeral_per_sec: limits.ephemeral_per_sec,
            messages_per_sec: limits.messages_per_sec,
            handshake_ms: u64::try_from(limits.handshake_timeout.as_millis())
                .unwrap_or(u64::MAX)
                .max(1000),
        },
        canonical,
        0,
    );
    let mut conn = Conn {
        id: hub.next_conn_id(),
        hub: hub.clone(),
        caller,
        out,
        protocol,
        opened: Instant::now(),
        paused_until: None,
    };
    tracing::debug!(conn = conn.id, user = %conn.caller.user.id, "sync connection open");
    conn.serve(socket, rx).await;
    let leaves = conn.protocol.leave_all();
    Box::pin(conn.perform(leaves)).await;
    // The slot first: the connection is gone from the counts as soon as its socket is (a
    // release in the database takes a round trip).
    drop(slot);
    if let Some(p) = conn.protocol.peer_id() {
        Box::pin(hub.release_peer(p, conn.id)).await;
    }
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
    /// Milliseconds since the connection opened: the protocol machine's clock.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Feeds the protocol and performs what it asks; `Some` is the close it decided on.
    async fn feed(&mut self, input: ConnInput<Meta>) -> Option<(u16, String)> {
        let effects = self.protocol.handle(input);
        self.perform(effects).await
    }

    /// Performs the protocol's effects in order (answering claims and access decisions as
    /// they come, so the machine never waits long); `Some` is the close it decided on.
    async fn perform(&mut self, effects: Vec<Effect>) -> Option<(u16, String)> {
        let mut queue: VecDeque<Effect> = effects.into();
        // Documents whose room could not be joined in this batch: what follows for them is
        // not sent (it would start a room for a connection that is not in it).
        let mut unreachable: Vec<String> = Vec::new();
        let mut closing = None;
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Send(msg) => self.out.send(&codec::encode(&msg)),
                Effect::Close { code, reason } => closing = Some((code, reason)),
                Effect::Claim { peer_id } => {
                    let ok = self
                        .hub
                        .claim_peer(&peer_id, self.caller.user.id, self.id)
                        .await;
                    queue.extend(self.protocol.handle(ConnInput::Claimed { ok }));
                }
                Effect::Authorise { document } => {
                    let grant = match DocumentId::parse_url_or_id(&document) {
                        Ok(id) => self.decide(id).await,
                        Err(_) => None,
                    };
                    queue.extend(self.protocol.handle(ConnInput::Decided { document, grant }));
                }
                Effect::Room { document, input } => {
                    if unreachable.contains(&document) {
                        continue;
                    }
                    let Ok(id) = DocumentId::parse_url_or_id(&document) else {
                        continue;
                    };
                    if !self.to_room(id, input).await {
                        queue.extend(self.protocol.handle(ConnInput::RoomUnavailable {
                            document: document.clone(),
                        }));
                        unreachable.push(document);
                    }
                }
                Effect::Pause { ms } => {
                    self.paused_until =
                        Some(tokio::time::Instant::now() + Duration::from_millis(ms));
                }
            }
        }
        closing
    }

    /// Passes a protocol input to the document's room. False if a join could not reach it.
    async fn to_room(&self, id: DocumentId, input: ToRoom) -> bool {
        let conn = self.id;
        let msg = |input| RoomMsg::Input(Box::new(input));
        match input {
            ToRoom::Join { peer_id, edit } => {
                self.hub
                    .send(
                        id,
                        RoomMsg::Join {
                            input: Box::new(Input::Join {
                                conn,
                                peer_id,
                                user: super::user_key(self.caller.user.id),
                                edit,
                            }),
                            out: self.out.clone(),
                        },
                    )
                    .await
            }
            ToRoom::Sync { data } => {
                self.hub.send(id, msg(Input::Sync { conn, data })).await;
                true
            }
            ToRoom::Ephemeral {
                count,
                session_id,
                data,
            } => {
                // People on other nodes see this peer too.
                if self.hub.store.cluster().is_some()
                    && let Some(peer) = self.protocol.peer_id()
                {
                    super::relay::publish_presence(&self.hub, id, peer, count, &session_id, &data)
                        .await;
                }
                self.hub
                    .send(
                        id,
                        msg(Input::Ephemeral {
                            conn,
                            count,
                            session_id,
                            data,
                        }),
                    )
                    .await;
                true
            }
            ToRoom::SetAccess { edit } => {
                self.hub
                    .send_if_loaded(id, msg(Input::SetAccess { conn, edit }))
                    .await;
                true
            }
            ToRoom::Leave => {
                self.hub
                    .send_if_loaded(id, msg(Input::Leave { conn }))
                    .await;
                true
            }
        }
    }

    async fn serve(&mut self, mut socket: WebSocket, mut rx: mpsc::Receiver<Outbound>) {
        let limits = self.hub.limits.clone();
        let mut events = self.hub.events.subscribe();
        let ping_every = limits.ping_interval.max(Duration::from_secs(1));
        let idle = limits.idle_timeout.max(Duration::from_secs(1));
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        // The protocol's handshake deadline, counted from the same instant as its clock.
        let handshake = tokio::time::sleep_until(
            tokio::time::Instant::from_std(self.opened)
                + limits.handshake_timeout.max(Duration::from_secs(1)),
        );
        tokio::pin!(handshake);
        let mut handshake_done = false;
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
            if let Some(at) = self.paused_until.take() {
                throttle.as_mut().reset(at);
                throttled = true;
            }
            tokio::select! {
                _ = closing.changed() => continue,
                () = &mut throttle, if throttled => throttled = false,
                frame = socket.recv(), if !throttled => match frame {
                    None => break None,
                    Some(Err(e)) => break Some(read_error(e)),
                    Some(Ok(msg)) => {
                        last_heard = Instant::now();
                        let input = match msg {
                            WsMessage::Binary(bytes) => ConnInput::Frame { data: bytes.to_vec(), now_ms: self.now_ms() },
                            WsMessage::Text(_) => ConnInput::Text,
                            WsMessage::Close(_) => break None,
                            WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
                        };
                        if let Some(close) = Box::pin(self.feed(input)).await {
                            break Some(close);
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
                () = &mut handshake, if !handshake_done => {
                    let now_ms = self.now_ms();
                    if let Some(close) = Box::pin(self.feed(ConnInput::Tick { now_ms })).await {
                        break Some(close);
                    }
                    if self.protocol.peer_id().is_some() {
                        handshake_done = true;
                    } else {
                        // Joining (a claim under way) or a tick a hair early: look again soon.
                        handshake.as_mut().reset(tokio::time::Instant::now() + Duration::from_millis(50));
                    }
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
                    if !Box::pin(self.recheck()).await {
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
                            self.affected_by(&affected) && !Box::pin(self.recheck()).await
                        }
                        // Events were missed: recheck everything.
                        Err(broadcast::error::RecvError::Lagged(_)) => !Box::pin(self.recheck()).await,
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
            let _ = tokio::time::timeout(Duration::from_secs(2), Box::pin(farewell)).await;
        }
    }

    /// The caller's access to a document now, as the protocol takes it: what they may change
    /// (`None`: they may not read it, or it does not exist) and what the shell notes about it.
    async fn decide(&self, id: DocumentId) -> Option<(sync::Edit, Meta)> {
        let p = &self.caller.principal;
        let now = store::now_millis();
        let (row, ctx) = match self.hub.store.document_access(p, id, now).await {
            Ok(found) => found?,
            Err(e) => {
                tracing::error!(error = %e, "access check failed");
                return None;
            }
        };
        let access = crate::access::access_of(&self.caller, &ctx, &row, now);
        if !access.can_read() {
            return None;
        }
        let partnership = match row.owner {
            domain::SpaceOwner::Partnership { partnership_id } => Some(partnership_id),
            domain::SpaceOwner::Private { .. } => None,
        };
        Some((
            crate::access::sync_edit(access, row.document.kind, p.is_guest),
            Meta {
                changes_at: crate::access::next_change(&ctx, id, now),
                partnership,
            },
        ))
    }

    /// Whether an access change can affect this connection.
    fn affected_by(&self, affected: &Affected) -> bool {
        match affected {
            Affected::Document(id) => {
                let id = id.to_string();
                self.protocol.documents().any(|(d, _)| d == id)
            }
            Affected::Partnership(pid) => self
                .protocol
                .documents()
                .any(|(_, m)| m.partnership == Some(*pid)),
            Affected::User(user) => *user == self.caller.user.id,
            Affected::Everyone => true,
        }
    }

    /// The next moment access may end by time: the session's end or a grant's expiry.
    fn next_deadline(&self) -> domain::Millis {
        self.protocol
            .documents()
            .filter_map(|(_, m)| m.changes_at)
            .fold(self.caller.session_expires_at, domain::Millis::min)
    }

    /// Re-decides access to every open document after an access event or at a deadline.
    /// False if the session itself no longer holds.
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
        let docs: Vec<String> = self
            .protocol
            .documents()
            .map(|(d, _)| d.to_owned())
            .collect();
        for document in docs {
            let grant = match DocumentId::parse_url_or_id(&document) {
                Ok(id) => self.decide(id).await,
                Err(_) => None,
            };
            if grant.is_none() {
                tracing::info!(conn = self.id, document = %document, "access revoked on a live connection");
            }
            // A re-decision never closes the connection.
            let _ = self.feed(ConnInput::Redecided { document, grant }).await;
        }
        true
    }
}

/// The close for a read failure: 1009 for an oversized message.
fn read_error(e: axum::Error) -> (u16, String) {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let inner = e.into_inner();
    match inner.downcast_ref::<WsError>() {
        Some(WsError::Capacity(c)) => (TOO_BIG, format!("message too large: {c}")),
        Some(WsError::Protocol(p)) => (close::PROTOCOL, format!("protocol error: {p}")),
        _ => (INVALID, "read error".to_owned()),
    }
}
