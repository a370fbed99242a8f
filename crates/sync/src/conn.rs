//! One websocket connection's protocol, sans IO: the `join` handshake and the peer-id claim,
//! the protocol version, the sender check (and dropping the presence echoes JS clients send
//! back), per-document authorisation before anything reaches a document's room, presence size
//! and rate, and the inbound rate. Inputs in (a frame, a decision, a claim's outcome, a tick),
//! effects out (send, close, claim, authorise, to a room, pause reading). The server's socket
//! loop performs the effects; timers, queues and the database stay there.
//!
//! Messages are handled strictly in arrival order: while the machine waits for the shell (a
//! claim, an access decision), later frames wait with it, so a document's messages reach its
//! room in the order the peer sent them.

use std::collections::{HashMap, VecDeque};

use crate::codec::{self, Message, PROTOCOL_V1, PeerId, PeerMetadata};
use crate::room::Edit;

/// Close codes (RFC 6455) this protocol uses.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const UNSUPPORTED: u16 = 1003;
    pub const INVALID: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
}

/// A connection's limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Largest presence (`ephemeral`) payload relayed, in bytes.
    pub max_ephemeral_bytes: usize,
    /// Presence messages per second (bursts of twice that); a burst beyond is dropped.
    pub ephemeral_per_sec: u32,
    /// Frames per second (bursts of twice that); beyond, reading pauses until the rate allows.
    pub messages_per_sec: u32,
    /// Time from opening to a completed `join`, in milliseconds.
    pub handshake_ms: u64,
}

/// What the shell tells the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<M> {
    /// A binary frame from the peer, at `now_ms` (any monotonic clock, in milliseconds).
    Frame { data: Vec<u8>, now_ms: u64 },
    /// A text frame: this protocol is binary.
    Text,
    /// The outcome of [`Effect::Claim`]: whether the peer id is this user's to use.
    Claimed { ok: bool },
    /// The outcome of [`Effect::Authorise`]: what the caller may change in the document
    /// (`None`: they may not read it, or it does not exist), and the shell's own notes on it.
    Decided {
        document: String,
        grant: Option<(Edit, M)>,
    },
    /// Access to an open document decided again (after an access event or a deadline).
    Redecided {
        document: String,
        grant: Option<(Edit, M)>,
    },
    /// The document's room could not be reached: the join is undone.
    RoomUnavailable { document: String },
    /// Time passes: the handshake deadline.
    Tick { now_ms: u64 },
}

/// What a connection's room is told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToRoom {
    Join {
        peer_id: PeerId,
        edit: Edit,
    },
    Sync {
        data: Vec<u8>,
    },
    Ephemeral {
        count: u64,
        session_id: String,
        data: Vec<u8>,
    },
    SetAccess {
        edit: Edit,
    },
    Leave,
}

/// What the shell does for the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send this message to the peer.
    Send(Message),
    /// Close the connection (after what has been sent).
    Close { code: u16, reason: String },
    /// Claim the peer id for this connection's user, then answer [`Input::Claimed`].
    Claim { peer_id: PeerId },
    /// Decide the caller's access to the document, then answer [`Input::Decided`].
    Authorise { document: String },
    /// Pass this to the document's room.
    Room { document: String, input: ToRoom },
    /// Stop reading frames for this long (the inbound rate).
    Pause { ms: u64 },
}

/// A token bucket: `rate` per second, bursts of twice that.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    rate: f64,
    at_ms: u64,
}

impl Bucket {
    fn new(per_sec: u32, now_ms: u64) -> Bucket {
        let rate = f64::from(per_sec.max(1));
        Bucket {
            tokens: rate * 2.0,
            rate,
            at_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate * 2.0);
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// Takes a token if there is one.
    fn try_take(&mut self, now_ms: u64) -> bool {
        self.refill(now_ms);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// Takes a token, going into debt if need be; returns how long to wait before the next.
    fn take(&mut self, now_ms: u64) -> u64 {
        self.refill(now_ms);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            0
        } else {
            ((-self.tokens / self.rate) * 1000.0).ceil() as u64
        }
    }
}

/// Where the handshake is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Peer {
    Waiting,
    /// Claiming this id; frames wait.
    Claiming(PeerId),
    Joined(PeerId),
}

/// A document this connection has asked for.
#[derive(Debug, Clone)]
enum Doc<M> {
    /// Its access decision is awaited; frames wait.
    Authorising,
    Open {
        edit: Edit,
        meta: M,
    },
}

/// One connection's protocol state. `M` is what the shell keeps about each open document
/// (when its access may next change by time, say), returned by [`Connection::documents`].
#[derive(Debug)]
pub struct Connection<M> {
    server_peer: PeerId,
    limits: ConnLimits,
    /// Canonical form of a document id as peers name it (`automerge:` URL or bare id); `None`
    /// for a name that is no document id.
    canonical: fn(&str) -> Option<String>,
    opened_ms: u64,
    peer: Peer,
    docs: HashMap<String, Doc<M>>,
    /// Frames that arrived while the machine waited for the shell, in order.
    waiting: VecDeque<(Vec<u8>, u64)>,
    /// The frame being handled when the machine had to wait, resumed once answered.
    resume: Option<Pending>,
    presence: Bucket,
    inbound: Bucket,
    closed: bool,
}

/// A message whose handling waits for an access decision.
#[derive(Debug, Clone)]
enum Pending {
    Sync {
        document: String,
        named: String,
        data: Vec<u8>,
    },
    Ephemeral {
        document: String,
        named: String,
        count: u64,
        session_id: String,
        data: Vec<u8>,
    },
}

impl Pending {
    fn document(&self) -> &str {
        match self {
            Pending::Sync { document, .. } | Pending::Ephemeral { document, .. } => document,
        }
    }
}

impl<M: Clone> Connection<M> {
    pub fn new(
        server_peer: PeerId,
        limits: ConnLimits,
        canonical: fn(&str) -> Option<String>,
        now_ms: u64,
    ) -> Self {
        Connection {
            server_peer,
            limits,
            canonical,
            opened_ms: now_ms,
            peer: Peer::Waiting,
            docs: HashMap::new(),
            waiting: VecDeque::new(),
            resume: None,
            presence: Bucket::new(limits.ephemeral_per_sec, now_ms),
            inbound: Bucket::new(limits.messages_per_sec, now_ms),
            closed: false,
        }
    }

    /// The peer id this connection joined as, once it has.
    pub fn peer_id(&self) -> Option<&str> {
        match &self.peer {
            Peer::Joined(p) => Some(p),
            _ => None,
        }
    }

    /// The documents open on this connection, with the shell's notes on each.
    pub fn documents(&self) -> impl Iterator<Item = (&str, &M)> {
        self.docs.iter().filter_map(|(id, d)| match d {
            Doc::Open { meta, .. } => Some((id.as_str(), meta)),
            Doc::Authorising => None,
        })
    }

    /// What the rooms must be told when the connection ends: a leave for each open document.
    pub fn leave_all(&mut self) -> Vec<Effect> {
        self.docs
            .drain()
            .filter(|(_, d)| matches!(d, Doc::Open { .. }))
            .map(|(document, _)| Effect::Room {
                document,
                input: ToRoom::Leave,
            })
            .collect()
    }

    pub fn handle(&mut self, input: Input<M>) -> Vec<Effect> {
        let mut out = Vec::new();
        if self.closed {
            return out;
        }
        match input {
            Input::Frame { data, now_ms } => {
                if self.busy() {
                    self.waiting.push_back((data, now_ms));
                } else {
                    self.frame(&data, now_ms, &mut out);
                }
            }
            Input::Text => self.close(close::UNSUPPORTED, "binary frames only", &mut out),
            Input::Claimed { ok } => self.claimed(ok, &mut out),
            Input::Decided { document, grant } => self.decided(document, grant, &mut out),
            Input::Redecided { document, grant } => self.redecided(document, grant, &mut out),
            Input::RoomUnavailable { document } => {
                if self.docs.remove(&document).is_some() {
                    self.error("document is not available right now", &mut out);
                }
            }
            Input::Tick { now_ms } => {
                if !matches!(self.peer, Peer::Joined(_))
                    && now_ms.saturating_sub(self.opened_ms) >= self.limits.handshake_ms
                {
                    self.close(close::POLICY, "no join received in time", &mut out);
                }
            }
        }
        self.drain(&mut out);
        out
    }

    /// Waiting for the shell: a claim or an access decision.
    fn busy(&self) -> bool {
        matches!(self.peer, Peer::Claiming(_)) || self.resume.is_some()
    }

    /// Handles frames that waited, while nothing else is awaited.
    fn drain(&mut self, out: &mut Vec<Effect>) {
        while !self.closed && !self.busy() {
            let Some((data, now_ms)) = self.waiting.pop_front() else {
                return;
            };
            self.frame(&data, now_ms, out);
        }
    }

    fn close(&mut self, code: u16, reason: &str, out: &mut Vec<Effect>) {
        self.closed = true;
        self.waiting.clear();
        self.resume = None;
        out.push(Effect::Close {
            code,
            reason: reason.to_owned(),
        });
    }

    fn error(&self, message: &str, out: &mut Vec<Effect>) {
        out.push(Effect::Send(Message::Error {
            sender_id: self.server_peer.clone(),
            target_id: self.peer_id().map(str::to_owned),
            message: message.to_owned(),
        }));
    }

    fn unavailable(&self, named: &str, out: &mut Vec<Effect>) {
        out.push(Effect::Send(Message::DocUnavailable {
            sender_id: self.server_peer.clone(),
            target_id: self.peer_id().unwrap_or_default().to_owned(),
            document_id: named.to_owned(),
        }));
    }

    /// One binary frame, then the inbound rate.
    fn frame(&mut self, data: &[u8], now_ms: u64, out: &mut Vec<Effect>) {
        self.message(data, now_ms, out);
        if !self.closed {
            let wait = self.inbound.take(now_ms);
            if wait > 0 {
                out.push(Effect::Pause { ms: wait });
            }
        }
    }

    fn message(&mut self, data: &[u8], now_ms: u64, out: &mut Vec<Effect>) {
        let msg = match codec::decode(data) {
            Ok(m) => m,
            Err(e) => {
                let reason = format!("not a protocol message: {e}");
                self.error(&reason, out);
                return self.close(close::INVALID, &reason, out);
            }
        };
        if let Message::Join {
            sender_id,
            supported_protocol_versions,
            ..
        } = &msg
        {
            return self.join(sender_id, supported_protocol_versions, out);
        }
        let Some(peer_id) = self.peer_id() else {
            return self.close(close::POLICY, "send join first", out);
        };
        if msg.sender_id() != peer_id {
            // automerge-repo clients pass on presence they received, with its first sender's
            // id: the server relayed it to everyone already, so the echo is dropped. Any other
            // message naming another sender is an impostor.
            if matches!(msg, Message::Ephemeral { .. }) {
                return;
            }
            self.error(
                "senderId differs from the peer id this connection joined as",
                out,
            );
            return self.close(
                close::POLICY,
                "senderId does not match the connection's peer",
                out,
            );
        }
        match msg {
            Message::Request {
                document_id, data, ..
            }
            | Message::Sync {
                document_id, data, ..
            } => self.pending(
                document_id.clone(),
                |document| Pending::Sync {
                    document,
                    named: document_id,
                    data,
                },
                out,
            ),
            Message::Ephemeral {
                document_id,
                count,
                session_id,
                data,
                ..
            } => {
                if data.len() > self.limits.max_ephemeral_bytes {
                    return self.error("presence message too large: dropped", out);
                }
                if !self.presence.try_take(now_ms) {
                    // Presence is transient: dropping a burst is the right answer to a flood.
                    return;
                }
                self.pending(
                    document_id.clone(),
                    |document| Pending::Ephemeral {
                        document,
                        named: document_id,
                        count,
                        session_id,
                        data,
                    },
                    out,
                );
            }
            Message::Leave { .. } => self.close(close::NORMAL, "left", out),
            // The peer lacks a document, speaks of storage subscriptions we do not offer, or
            // answers: nothing to do.
            Message::DocUnavailable { .. }
            | Message::RemoteSubscriptionChange { .. }
            | Message::RemoteHeadsChanged { .. }
            | Message::Error { .. }
            | Message::Peer { .. }
            | Message::Join { .. } => {}
        }
    }

    fn join(&mut self, sender_id: &str, versions: &[String], out: &mut Vec<Effect>) {
        if !versions.is_empty() && !versions.iter().any(|v| v == PROTOCOL_V1) {
            self.error("unsupported protocol version", out);
            return self.close(close::POLICY, "unsupported protocol version", out);
        }
        if let Some(current) = self.peer_id()
            && current != sender_id
        {
            self.error("this connection already joined as another peer", out);
            return self.close(close::POLICY, "peer id changed", out);
        }
        if sender_id.is_empty() || sender_id.len() > 256 {
            return self.close(close::POLICY, "peer id must be 1 to 256 bytes", out);
        }
        self.peer = Peer::Claiming(sender_id.to_owned());
        out.push(Effect::Claim {
            peer_id: sender_id.to_owned(),
        });
    }

    fn claimed(&mut self, ok: bool, out: &mut Vec<Effect>) {
        let Peer::Claiming(peer_id) = std::mem::replace(&mut self.peer, Peer::Waiting) else {
            return;
        };
        if !ok {
            self.error("this peer id belongs to another user", out);
            return self.close(close::POLICY, "peer id belongs to another user", out);
        }
        out.push(Effect::Send(Message::Peer {
            sender_id: self.server_peer.clone(),
            target_id: peer_id.clone(),
            selected_protocol_version: PROTOCOL_V1.to_owned(),
            peer_metadata: Some(PeerMetadata {
                storage_id: None,
                is_ephemeral: false,
            }),
        }));
        self.peer = Peer::Joined(peer_id);
    }

    /// A message for a document: to its room if the document is open, after its access is
    /// decided if it is new, or "unavailable" if it names no document.
    fn pending(
        &mut self,
        named: String,
        make: impl FnOnce(String) -> Pending,
        out: &mut Vec<Effect>,
    ) {
        // A document already known is named by its key (the canonical form) as a rule: no
        // need to decode and re-encode the id for every message.
        let document = if self.docs.contains_key(&named) {
            named.clone()
        } else {
            let Some(document) = (self.canonical)(&named) else {
                return self.unavailable(&named, out);
            };
            document
        };
        let pending = make(document.clone());
        match self.docs.get(&document) {
            Some(Doc::Open { .. }) => self.deliver(pending, out),
            Some(Doc::Authorising) => self.resume = Some(pending),
            None => {
                self.docs.insert(document.clone(), Doc::Authorising);
                self.resume = Some(pending);
                out.push(Effect::Authorise { document });
            }
        }
    }

    fn deliver(&self, pending: Pending, out: &mut Vec<Effect>) {
        let (document, input) = match pending {
            Pending::Sync { document, data, .. } => (document, ToRoom::Sync { data }),
            Pending::Ephemeral {
                document,
                count,
                session_id,
                data,
                ..
            } => (
                document,
                ToRoom::Ephemeral {
                    count,
                    session_id,
                    data,
                },
            ),
        };
        out.push(Effect::Room { document, input });
    }

    fn decided(&mut self, document: String, grant: Option<(Edit, M)>, out: &mut Vec<Effect>) {
        if !matches!(self.docs.get(&document), Some(Doc::Authorising)) {
            return;
        }
        let resume = self.resume.take_if(|p| p.document() == document);
        match grant {
            None => {
                // Never created by syncing, and nothing about its existence revealed.
                self.docs.remove(&document);
                if let Some(p) = resume {
                    let named = match p {
                        Pending::Sync { named, .. } | Pending::Ephemeral { named, .. } => named,
                    };
                    self.unavailable(&named, out);
                }
            }
            Some((edit, meta)) => {
                out.push(Effect::Room {
                    document: document.clone(),
                    input: ToRoom::Join {
                        peer_id: self.peer_id().unwrap_or_default().to_owned(),
                        edit: edit.clone(),
                    },
                });
                self.docs.insert(document, Doc::Open { edit, meta });
                if let Some(p) = resume {
                    self.deliver(p, out);
                }
            }
        }
    }

    fn redecided(&mut self, document: String, grant: Option<(Edit, M)>, out: &mut Vec<Effect>) {
        let Some(Doc::Open { edit: current, .. }) = self.docs.get(&document) else {
            return;
        };
        match grant {
            None => {
                self.docs.remove(&document);
                out.push(Effect::Room {
                    document: document.clone(),
                    input: ToRoom::Leave,
                });
                self.unavailable(&document, out);
            }
            Some((edit, meta)) => {
                if *current != edit {
                    out.push(Effect::Room {
                        document: document.clone(),
                        input: ToRoom::SetAccess { edit: edit.clone() },
                    });
                }
                self.docs.insert(document, Doc::Open { edit, meta });
            }
        }
    }
}

#[cfg(test)]
mod tests;
