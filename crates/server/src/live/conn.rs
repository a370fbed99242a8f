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
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use domain::DocumentId;
use sync::codec;
use sync::conn::{ConnLimits, Connection, Effect, Input as ConnInput, ToRoom, close};
use sync::{ConnId, Input};
use tokio::sync::{Notify, broadcast};

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

/// What a connection is sent, in order.
#[derive(Debug)]
enum Outbound {
    Frame(Vec<u8>),
    Close(u16, String),
}

/// Where a room sends a connection's frames: a bounded queue. When it is full the connection
/// is judged too slow and closed — the sync protocol needs an in-order, lossless stream, so a
/// frame is never dropped and the stream continued.
///
/// A queue of our own rather than a bounded `tokio::sync::mpsc`: that allocates its first
/// block of 32 slots and a cache-padded shared state when it is made, about 1.5 KB for every
/// connection, and most connections are idle; this one holds nothing while it is empty.
#[derive(Clone)]
pub struct ConnSender(Arc<Outbox>);

struct Outbox {
    queue: Mutex<Queue>,
    /// Woken when something is queued or the peer is judged too slow.
    wake: Notify,
    capacity: usize,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Outbound>,
    /// It overflowed: the connection is to be closed, and nothing more is queued.
    slow: bool,
    /// The connection has ended: nothing more is queued.
    gone: bool,
}

/// What the connection takes from its queue next.
enum Next {
    Item(Outbound),
    Slow,
    Empty,
}

/// Slots an emptied queue keeps; a longer one (a burst) is let go of.
const KEEP: usize = 4;

impl std::fmt::Debug for ConnSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnSender").finish_non_exhaustive()
    }
}

impl ConnSender {
    /// A queue of at most `capacity` messages (at least one).
    fn new(capacity: usize) -> ConnSender {
        ConnSender(Arc::new(Outbox {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            capacity: capacity.max(1),
        }))
    }

    pub fn send(&self, frame: Vec<u8>) {
        self.push(Outbound::Frame(frame));
    }

    /// Closes the connection after what is queued, for the room's refusal.
    pub fn close(&self, refusal: &sync::Refusal) {
        crate::metrics::refused(refusal, "sync");
        self.push(Outbound::Close(close_code(refusal), refusal.to_string()));
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.0.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, item: Outbound) {
        {
            let mut q = self.queue();
            if q.gone || q.slow {
                return;
            }
            if q.items.len() >= self.0.capacity {
                q.slow = true;
                q.items = VecDeque::new();
            } else {
                q.items.push_back(item);
            }
        }
        self.0.wake.notify_one();
    }

    fn next(&self) -> Next {
        let mut q = self.queue();
        if q.slow {
            return Next::Slow;
        }
        match q.items.pop_front() {
            Some(item) => {
                if q.items.is_empty() && q.items.capacity() > KEEP {
                    q.items = VecDeque::new();
                }
                Next::Item(item)
            }
            None => Next::Empty,
        }
    }

    fn is_slow(&self) -> bool {
        self.queue().slow
    }

    /// The connection has ended: what is queued is dropped, and so is what comes after.
    fn end(&self) {
        let mut q = self.queue();
        q.gone = true;
        q.items = VecDeque::new();
    }

    /// Woken when something is queued or the peer is judged too slow.
    fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.0.wake.notified()
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
    /// The connection's place in the counts, given up as its socket closes.
    slot: Option<super::Slot>,
}

/// The connection, run until it closes. A plain function returning the connection's one
/// future: what it is given moves into that future once, rather than being kept in an outer
/// one beside it (every idle connection holds its future for as long as it stays).
pub fn run(
    hub: Arc<Hub>,
    mut socket: WebSocket,
    caller: Caller,
    slot: super::Slot,
) -> impl Future<Output = ()> + Send {
    let limits = &hub.limits;
    let out = ConnSender::new(limits.outbound_queue);
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
        slot: Some(slot),
    };
    tracing::debug!(conn = conn.id, user = %conn.caller.user.id, "sync connection open");
    // A block rather than an `async fn` taking them: an async fn's arguments are moved into
    // locals of its own future, and both copies stay in it (a kilobyte per connection).
    async move {
        conn.serve(&mut socket).await;
        drop(socket);
        conn.out.end();
        let leaves = conn.protocol.leave_all();
        Box::pin(conn.perform(leaves)).await;
        // The slot first: the connection is gone from the counts as soon as its socket is (a
        // release in the database takes a round trip).
        conn.slot = None;
        if let Some(p) = conn.protocol.peer_id() {
            Box::pin(conn.hub.release_peer(p, conn.id)).await;
        }
        tracing::debug!(conn = conn.id, "sync connection closed");
    }
}

/// The close for a peer whose queue overflowed.
fn too_slow(conn: ConnId) -> (u16, String) {
    tracing::info!(conn, "peer too slow: disconnected, it resyncs on reconnect");
    (POLICY, "too slow: reconnect to resync".to_owned())
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
                Effect::Send(msg) => self.out.send(codec::encode(&msg)),
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

    async fn serve(&mut self, socket: &mut WebSocket) {
        let mut events = self.hub.events.subscribe();
        let ping_every = self.hub.limits.ping_interval.max(Duration::from_secs(1));
        let idle = self.hub.limits.idle_timeout.max(Duration::from_secs(1));
        let handshake_timeout = self.hub.limits.handshake_timeout;
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        // The protocol's handshake deadline, counted from the same instant as its clock.
        let handshake = tokio::time::sleep_until(
            tokio::time::Instant::from_std(self.opened)
                + handshake_timeout.max(Duration::from_secs(1)),
        );
        tokio::pin!(handshake);
        let mut handshake_done = false;
        let mut last_heard = Instant::now();
        let out = self.out.clone();
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
                () = out.notified() => {
                    // Something queued, or the peer judged too slow: write what is queued,
                    // in order.
                    if let Some(close) = Self::write_queued(self.id, &out, socket).await {
                        break close;
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
                while let Next::Item(Outbound::Frame(bytes)) = self.out.next() {
                    if socket.send(WsMessage::Binary(bytes.into())).await.is_err() {
                        return;
                    }
                }
                tracing::debug!(conn = self.id, code, %reason, "closing sync connection");
                let _ = socket.send(close_frame(code, &reason)).await;
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), Box::pin(farewell)).await;
        }
    }

    /// Writes what is queued, in order, until the queue is empty (`None`); `Some` ends the
    /// connection: with this close, or, inside, without one (the socket failed).
    async fn write_queued(
        id: ConnId,
        out: &ConnSender,
        socket: &mut WebSocket,
    ) -> Option<Option<(u16, String)>> {
        loop {
            match out.next() {
                Next::Empty => return None,
                Next::Slow => return Some(Some(too_slow(id))),
                Next::Item(Outbound::Close(code, reason)) => return Some(Some((code, reason))),
                Next::Item(Outbound::Frame(bytes)) => {
                    // A peer that stops reading blocks this write; its queue then fills and
                    // the room marks it slow, which must end the wait.
                    let send = socket.send(WsMessage::Binary(bytes.into()));
                    tokio::pin!(send);
                    loop {
                        tokio::select! {
                            sent = &mut send => {
                                if sent.is_err() {
                                    return Some(None);
                                }
                                break;
                            }
                            () = out.notified() => {
                                if out.is_slow() {
                                    return Some(Some(too_slow(id)));
                                }
                            }
                        }
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn frame(n: u8) -> Vec<u8> {
        vec![n; 8]
    }

    fn next_frame(out: &ConnSender) -> Option<Vec<u8>> {
        match out.next() {
            Next::Item(Outbound::Frame(f)) => Some(f),
            _ => None,
        }
    }

    #[test]
    fn frames_come_out_in_order_and_a_full_queue_marks_the_peer_slow() {
        let out = ConnSender::new(3);
        for n in 0..3 {
            out.send(frame(n));
        }
        assert_eq!(next_frame(&out), Some(frame(0)));
        out.send(frame(3));
        assert!(!out.is_slow());
        // Full (1, 2, 3): one more is not dropped and the stream continued; the peer is slow.
        out.send(frame(4));
        assert!(out.is_slow());
        assert!(matches!(out.next(), Next::Slow));
        // Nothing is kept for it any more.
        out.send(frame(5));
        assert_eq!(out.queue().items.len(), 0);
        assert!(matches!(out.next(), Next::Slow));
    }

    #[test]
    fn a_close_follows_what_was_queued_before_it() {
        let out = ConnSender::new(8);
        out.send(frame(1));
        out.close(&sync::Refusal::ReadOnly);
        assert_eq!(next_frame(&out), Some(frame(1)));
        assert!(matches!(out.next(), Next::Item(Outbound::Close(POLICY, _))));
        assert!(matches!(out.next(), Next::Empty));
    }

    #[test]
    fn an_emptied_queue_lets_go_of_a_burst_and_an_ended_one_holds_nothing() {
        let out = ConnSender::new(256);
        for n in 0..100 {
            out.send(frame(n));
        }
        for n in 0..100 {
            assert_eq!(next_frame(&out), Some(frame(n)));
        }
        assert!(matches!(out.next(), Next::Empty));
        assert!(out.queue().items.capacity() <= KEEP);
        // A connection that has ended is sent nothing more (its room may not know yet).
        out.send(frame(1));
        out.end();
        out.send(frame(2));
        assert!(matches!(out.next(), Next::Empty));
        assert_eq!(out.queue().items.capacity(), 0);
    }

    #[tokio::test]
    async fn a_frame_queued_while_nobody_waits_still_wakes_the_connection() {
        let out = ConnSender::new(4);
        out.send(frame(1));
        // Queued before anyone waited: the wake-up is kept for the next wait.
        tokio::time::timeout(Duration::from_secs(5), out.notified())
            .await
            .unwrap();
        assert_eq!(next_frame(&out), Some(frame(1)));
        // And a slow mark wakes a connection waiting for it.
        let waiting = out.clone();
        let woken = tokio::spawn(async move {
            waiting.notified().await;
            waiting.is_slow()
        });
        tokio::task::yield_now().await;
        for n in 0..5 {
            out.send(frame(n));
        }
        let mut slow = tokio::time::timeout(Duration::from_secs(5), woken)
            .await
            .unwrap()
            .unwrap();
        // Woken by the first frame, maybe: the mark is there by now either way.
        slow |= out.is_slow();
        assert!(slow);
    }
}
