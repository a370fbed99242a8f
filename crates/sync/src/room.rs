//! One loaded document and the peers syncing it.
//!
//! Rules this state machine keeps:
//! - **Persist before broadcast.** Incoming changes are applied to the in-memory document, then
//!   handed out as one [`Effect::Persist`] batch. Until storage confirms it, no sync message is
//!   generated for anyone, so no peer can see an unpersisted change; sync input arriving
//!   meanwhile is queued and becomes the next batch (group commit). When a batch is confirmed,
//!   every peer is sent what it lacks *before* the queue is processed, so broadcasts never
//!   starve under load.
//! - **Read-only peers never change the document.** A sync message carrying changes from a peer
//!   without write access is refused with an error and nothing is applied (orphan changes
//!   included: the check is on the message, not on what automerge would apply).
//! - **Authors are bound to users.** The first change seen from an automerge actor binds that
//!   actor to the user who sent it (persisted with the batch); a change from an actor bound to
//!   someone else is refused.
//! - **All or nothing.** A message whose changes are refused, or that fails midway (a valid
//!   change followed by garbage), leaves the document exactly as before it. Bytes automerge
//!   would skip (after the message, after a compressed stream) refuse it too ([`crate::chunks`]).
//! - **A failed write is not lost silently.** The unpersisted changes are dropped from memory
//!   and their senders are told and disconnected; on reconnecting they sync them again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, Automerge, Change, ChangeHash, ROOT, ReadDoc};

use crate::codec::{Message, PeerId};
use crate::refusal::Refusal;
use scope::{untouched, within};

/// A connection, as the runtime numbers them.
pub type ConnId = u64;

/// An opaque user id (the server's UUID, as 16 bytes, keeps this crate free of its types).
pub type UserKey = [u8; 16];

/// The user that owns content the server itself wrote (initial documents).
pub const SYSTEM_USER: UserKey = [0; 16];

/// What a peer may change in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Nothing: a sync message carrying changes is refused.
    None,
    /// Only inside these top-level lists: adding elements and editing inside them, never
    /// removing or replacing one (a commenter adds comments; a guest reports measurements).
    Only(Vec<String>),
    /// Anything the document's schema allows.
    All,
}

/// What the room is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A connection starts syncing this document, with the access it was granted.
    Join {
        conn: ConnId,
        peer_id: PeerId,
        user: UserKey,
        edit: Edit,
    },
    /// A `request` or `sync` frame's automerge sync message.
    Sync { conn: ConnId, data: Vec<u8> },
    /// An `ephemeral` frame to relay to the other peers.
    Ephemeral {
        conn: ConnId,
        count: u64,
        session_id: String,
        data: Vec<u8>,
    },
    /// A presence message a peer on another server node sent (already authorised there): to
    /// every peer here.
    RemoteEphemeral {
        sender_id: PeerId,
        count: u64,
        session_id: String,
        data: Vec<u8>,
    },
    /// The connection's access changed (a grant revoked, a membership ended).
    SetAccess { conn: ConnId, edit: Edit },
    /// The connection stopped syncing this document.
    Leave { conn: ConnId },
    /// Storage finished the batch with this id.
    Persisted { batch: u64, ok: bool },
    /// Changes another server node committed to storage (raw automerge change bytes, or a
    /// saved document), with the actor bindings stored beside them. Already persisted and
    /// checked by the node that accepted them: applied as they are and sent to every peer.
    /// While a batch of this room's own is in flight, they wait their turn, so the document is
    /// always fully persisted when they are applied.
    Stored {
        changes: Vec<Vec<u8>>,
        actors: Vec<(ActorId, UserKey)>,
    },
    /// Changes made on the server on a user's behalf (an import, an upgrade): raw automerge
    /// change bytes, checked like a peer's (authors, schema), then persisted and broadcast.
    /// Answered with [`Effect::Applied`] once stored or refused.
    Apply {
        request: u64,
        user: UserKey,
        changes: Vec<u8>,
    },
}

/// What the room asks the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a protocol message to one connection.
    Send { conn: ConnId, msg: Message },
    /// Durably append these changes (raw automerge change bytes, concatenated) and record these
    /// actor bindings, then answer with [`Input::Persisted`].
    Persist {
        batch: u64,
        changes: Vec<u8>,
        actors: Vec<(ActorId, UserKey)>,
    },
    /// Close the connection (after the messages already sent): its sync stream is broken.
    Close { conn: ConnId, reason: Refusal },
    /// A chunk another node stored could not be read ([`Input::Stored`]): report it.
    Unreadable { reason: String },
    /// The room is hibernating ([`Room::hibernate`]) and an input needs the document: load it
    /// from storage and hand it to [`Room::wake`]. The input waits, with any after it.
    Wake,
    /// The outcome of an [`Input::Apply`]: stored (and broadcast), or refused and why.
    Applied {
        request: u64,
        result: Result<(), Refusal>,
    },
}

struct Peer {
    peer_id: PeerId,
    user: UserKey,
    edit: Edit,
    state: sync::State,
}

struct Batch {
    id: u64,
    heads: Vec<ChangeHash>,
    actors: Vec<(ActorId, UserKey)>,
    /// Connections whose changes are in the batch.
    senders: Vec<ConnId>,
    /// [`Input::Apply`] requests whose changes are in the batch.
    requests: Vec<u64>,
}

/// Checks a document after a peer's changes were applied on top of the given heads (the
/// changes themselves, those the document did not hold before, are the third argument); `Err`
/// explains the refusal. Called with every change the document takes, in order (those stored
/// by another node too, whose verdict is ignored), so it may keep what it learnt of the
/// document between calls and judge each change by what it touched.
pub type Validator =
    Box<dyn FnMut(&Automerge, &[ChangeHash], &[Change]) -> Result<(), String> + Send + Sync>;

/// The room's document, on the heap (an `Automerge` is ~3.5 KB inline, and a room is mostly
/// waiting), or nothing while the room hibernates, when it reads as an empty document.
struct Doc(Option<Box<Automerge>>);

static EMPTY: std::sync::LazyLock<Automerge> = std::sync::LazyLock::new(Automerge::new);

impl Doc {
    fn new(doc: Automerge) -> Self {
        Doc(Some(Box::new(doc)))
    }
}

impl std::ops::Deref for Doc {
    type Target = Automerge;
    fn deref(&self) -> &Automerge {
        self.0.as_deref().unwrap_or(&*EMPTY)
    }
}

impl std::ops::DerefMut for Doc {
    /// Never asked while asleep (inputs that need the document wait for [`Room::wake`]); if it
    /// were, it would be an empty document, as reading gives.
    fn deref_mut(&mut self) -> &mut Automerge {
        self.0.get_or_insert_with(Box::default)
    }
}

/// One document being synced.
pub struct Room {
    server_peer: PeerId,
    document_id: String,
    doc: Doc,
    /// Boxed: a map node holds room for eleven entries, and most rooms have one or two peers.
    peers: BTreeMap<ConnId, Box<Peer>>,
    actors: HashMap<ActorId, UserKey>,
    persisted_heads: Vec<ChangeHash>,
    /// Changes applied but not yet handed to storage (their bytes, in the order applied), and
    /// who sent them.
    pending_changes: Vec<u8>,
    pending_actors: Vec<(ActorId, UserKey)>,
    pending_senders: Vec<ConnId>,
    pending_requests: Vec<u64>,
    inflight: Option<Batch>,
    queue: VecDeque<Input>,
    next_batch: u64,
    /// Peers whose sync state changed (they joined or sent a message) since their last
    /// generated message. A peer's next message depends only on its state and the document,
    /// so when the document has not changed only these need one: an acknowledgement from one
    /// reader costs one generation, not one per peer.
    dirty: BTreeSet<ConnId>,
    /// The document's schema, checked after every message that changes it.
    validator: Option<Validator>,
    /// The validator has seen the document as loaded ([`Room::prepare`]).
    prepared: bool,
    /// The document is dropped ([`Room::hibernate`]); `doc` is an empty stand-in that nothing
    /// may read until [`Room::wake`].
    asleep: bool,
    /// An [`Effect::Wake`] was asked for and not yet answered.
    waking: bool,
    /// While asleep from the start ([`Room::asleep`]): the stored snapshot, the document at
    /// `persisted_heads`, for answering a peer that has nothing without loading it.
    snapshot: Option<Vec<u8>>,
    /// Top-level keys only the server writes (on a user's behalf, after its own checks): a
    /// peer's change touching one is refused whatever its access.
    reserved: Vec<String>,
    /// Most operations one message from a peer may add (0: no limit).
    max_ops: u64,
    /// The top-level keys a change may add (None: any).
    root_keys: Option<std::sync::Arc<[String]>>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("document_id", &self.document_id)
            .field("peers", &self.peers.len())
            .field("persisting", &self.inflight.as_ref().map(|b| b.id))
            .finish_non_exhaustive()
    }
}

impl Room {
    /// A room over a document that storage holds as one snapshot (`save()` bytes, at
    /// `heads`), not loaded: it starts asleep. A peer that has nothing is sent the snapshot as
    /// it is (a whole-document sync message, as automerge itself sends such a peer), and a peer
    /// that holds exactly these heads is answered from its sync state; whatever else needs the
    /// document wakes the room ([`Effect::Wake`]). A cold join thus costs a read of the
    /// snapshot, not a load, and a room whose peers only read never loads its document.
    pub fn asleep(
        server_peer: PeerId,
        document_id: String,
        heads: Vec<ChangeHash>,
        snapshot: Vec<u8>,
        actors: impl IntoIterator<Item = (ActorId, UserKey)>,
    ) -> Self {
        let mut room = Room::new(server_peer, document_id, Automerge::new(), actors);
        room.doc = Doc(None);
        room.asleep = true;
        room.persisted_heads = heads;
        room.snapshot = Some(snapshot);
        room
    }

    /// A room over a document loaded from storage, whose actors are already bound to users.
    pub fn new(
        server_peer: PeerId,
        document_id: String,
        doc: Automerge,
        actors: impl IntoIterator<Item = (ActorId, UserKey)>,
    ) -> Self {
        let persisted_heads = doc.get_heads();
        Room {
            server_peer,
            document_id,
            doc: Doc::new(doc),
            peers: BTreeMap::new(),
            actors: actors.into_iter().collect(),
            persisted_heads,
            pending_changes: Vec::new(),
            pending_actors: Vec::new(),
            pending_senders: Vec::new(),
            pending_requests: Vec::new(),
            inflight: None,
            queue: VecDeque::new(),
            next_batch: 1,
            dirty: BTreeSet::new(),
            validator: None,
            prepared: false,
            asleep: false,
            waking: false,
            snapshot: None,
            reserved: Vec::new(),
            max_ops: 0,
            root_keys: None,
        }
    }

    /// Reserves top-level keys for the server: peers' changes may not touch them, changes the
    /// server applies ([`Input::Apply`]) may (an agreement's sign-offs are recorded through an
    /// endpoint that checks who signs what).
    pub fn with_reserved(mut self, keys: impl IntoIterator<Item = String>) -> Self {
        self.reserved = keys.into_iter().collect();
        self
    }

    /// Refuses a change that adds a top-level key outside `keys` (the document kind's schema).
    /// Keys already in the document stay (a document written before this rule still opens and
    /// takes edits). Shared: every room of a kind has the same.
    pub fn with_root_keys(mut self, keys: std::sync::Arc<[String]>) -> Self {
        self.root_keys = Some(keys);
        self
    }

    /// Refuses, before applying it, a peer's message whose changes carry more than `max_ops`
    /// operations (a character of text is one): one paste cannot make a document that nobody
    /// can open. Changes the server applies ([`Input::Apply`], an import) have limits of their own.
    pub fn with_max_ops(mut self, max_ops: u64) -> Self {
        self.max_ops = max_ops;
        self
    }

    /// Checks the document with `validator` after every message that changes it; a message
    /// that leaves it invalid is refused whole (nothing applied, stored or broadcast) and its
    /// sender told why and disconnected, so it reloads.
    pub fn with_validator(mut self, validator: Validator) -> Self {
        self.validator = Some(validator);
        self
    }

    pub fn document(&self) -> &Automerge {
        &self.doc
    }

    pub fn document_id(&self) -> &str {
        &self.document_id
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Shows the validator the document as it is, once per room, so that it can learn it (an
    /// incremental validator builds its index) before the first change arrives rather than on
    /// it. For the runtime to call when nothing is waiting; true if it did some work.
    pub fn prepare(&mut self) -> bool {
        if !self.needs_preparing() {
            return false;
        }
        self.prepared = true;
        let heads = self.doc.get_heads();
        match &mut self.validator {
            Some(validate) => {
                // A document that does not satisfy its schema as stored is still served; its
                // next change is judged as before.
                let _ = validate(&self.doc, &heads, &[]);
                true
            }
            None => false,
        }
    }

    /// Whether [`Room::prepare`] would do some work now.
    pub fn needs_preparing(&self) -> bool {
        !self.prepared && !self.asleep && self.validator.is_some() && self.is_settled()
    }

    /// True when everything applied has been persisted and nothing is queued.
    pub fn is_settled(&self) -> bool {
        self.inflight.is_none()
            && self.queue.is_empty()
            && (self.asleep || self.doc.get_heads() == self.persisted_heads)
    }

    /// Drops the document from memory while its peers stay connected and quiet: a room is
    /// mostly its automerge document, and a meeting's laptops hold documents open for hours
    /// without touching them. The peers' sync states stay, so when the document is back
    /// ([`Effect::Wake`], [`Room::wake`]) nobody notices. Only a settled room with every peer
    /// answered hibernates; false if this one cannot now.
    pub fn hibernate(&mut self) -> bool {
        if self.asleep || self.peers.is_empty() || !self.is_settled() || !self.dirty.is_empty() {
            return false;
        }
        self.doc = Doc(None);
        self.asleep = true;
        true
    }

    /// Whether the document is dropped ([`Room::hibernate`]). The runtime must not read
    /// [`Room::document`] then (it is an empty stand-in); in particular it must not save it.
    pub fn is_asleep(&self) -> bool {
        self.asleep
    }

    /// The stored snapshot a room born asleep ([`Room::asleep`]) holds until it wakes: its
    /// document as storage had it then.
    pub fn held_snapshot(&self) -> Option<&[u8]> {
        self.snapshot.as_deref().filter(|_| self.asleep)
    }

    /// The document is back (loaded from storage after [`Effect::Wake`]): the inputs that
    /// waited for it are handled. Storage may hold more than the room had (another node's
    /// changes): then every peer is sent what it lacks.
    pub fn wake(&mut self, doc: Automerge) -> Vec<Effect> {
        let mut out = Vec::new();
        if !self.asleep {
            return out;
        }
        self.doc = Doc::new(doc);
        self.asleep = false;
        self.waking = false;
        self.snapshot = None;
        let heads = self.doc.get_heads();
        if heads != self.persisted_heads {
            self.persisted_heads = heads;
            self.dirty.extend(self.peers.keys().copied());
        }
        while self.inflight.is_none()
            && let Some(input) = self.queue.pop_front()
        {
            self.apply(input, &mut out);
            self.flush(&mut out);
        }
        self.flush(&mut out);
        out
    }

    /// Handles one input; returns the effects to perform, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::Persisted { batch, ok } => self.persisted(batch, ok, &mut out),
            Input::Leave { conn } => {
                self.peers.remove(&conn);
                self.queue
                    .retain(|i| !matches!(i, Input::Sync { conn: c, .. } if *c == conn));
            }
            Input::SetAccess { conn, edit } => {
                if let Some(p) = self.peers.get_mut(&conn) {
                    p.edit = edit;
                }
            }
            Input::Ephemeral {
                conn,
                count,
                session_id,
                data,
            } => {
                if let Some(from) = self.peers.get(&conn) {
                    let sender = from.peer_id.clone();
                    self.relay(&sender, Some(conn), count, session_id, data, &mut out);
                }
            }
            Input::RemoteEphemeral {
                sender_id,
                count,
                session_id,
                data,
            } => self.relay(&sender_id, None, count, session_id, data, &mut out),
            sync_input @ (Input::Join { .. }
            | Input::Sync { .. }
            | Input::Apply { .. }
            | Input::Stored { .. }) => {
                if self.asleep {
                    // What can be answered without the document is, unless something already
                    // waits for it (inputs keep their order).
                    let waiting = if self.waking {
                        Some(sync_input)
                    } else {
                        self.answer_asleep(sync_input, &mut out).err()
                    };
                    if let Some(input) = waiting {
                        self.queue.push_back(input);
                        if !self.waking {
                            self.waking = true;
                            out.push(Effect::Wake);
                        }
                    }
                } else if self.inflight.is_some() {
                    self.queue.push_back(sync_input);
                } else {
                    self.apply(sync_input, &mut out);
                    self.flush(&mut out);
                }
            }
        }
        out
    }

    /// Handles, while the document is not loaded, an input that does not need it: a join; a
    /// peer that has nothing asking for the document (sent the stored snapshot, if the room
    /// has it, and the peer reads version 2 messages); an acknowledgement from a peer that
    /// holds exactly the stored heads and has been answered before. `Err` gives back an input
    /// that needs the document.
    fn answer_asleep(&mut self, input: Input, out: &mut Vec<Effect>) -> Result<(), Input> {
        use automerge::sync::{MessageFlags, MessageVersion};
        match input {
            Input::Join {
                conn,
                peer_id,
                user,
                edit,
            } => {
                // As when awake: it is owed a first message, sent when the room wakes unless
                // it is answered here before then.
                self.join(conn, peer_id, user, edit);
                Ok(())
            }
            Input::Sync { conn, data } => {
                let Some(peer) = self.peers.get_mut(&conn) else {
                    return Ok(());
                };
                let Ok(msg) = crate::chunks::message(&data) else {
                    // Refused as malformed by the room awake.
                    return Err(Input::Sync { conn, data });
                };
                if !msg.changes.is_empty() {
                    return Err(Input::Sync { conn, data });
                }
                let state = &mut peer.state;
                if let (true, false, Some(flags), Some(snapshot)) = (
                    msg.heads.is_empty(),
                    state.have_responded,
                    msg.flags,
                    &self.snapshot,
                ) {
                    // automerge's receive of "I have nothing"…
                    their_flags(state, flags);
                    state.in_flight = false;
                    state.shared_heads.clear();
                    state.last_sent_heads.clear();
                    state.sent_hashes.clear();
                    state.their_have = Some(msg.have);
                    state.their_heads = Some(Vec::new());
                    state.their_need = Some(msg.need);
                    // …and its answer: the whole document, at our heads. What we have is
                    // summarised as "everything up to these heads, nothing since" (automerge
                    // sends a filter of every change instead, which would take the document to
                    // compute): the peer, holding the document once it has read this, sends
                    // us exactly the changes it makes after it. (`sent_hashes` stays empty: it
                    // only spares resending changes the peer has not yet acknowledged.)
                    let mut flags = MessageFlags::new();
                    flags.set(MessageFlags::SUPPORTS_SYNC_RESET);
                    let answer = sync::Message {
                        heads: self.persisted_heads.clone(),
                        need: Vec::new(),
                        have: vec![sync::Have {
                            last_sync: self.persisted_heads.clone(),
                            bloom: sync::BloomFilter::default(),
                        }],
                        changes: sync::ChunkList::from(snapshot.clone()),
                        flags: Some(flags),
                        version: MessageVersion::V2,
                    };
                    state.have_responded = true;
                    state.last_sent_heads.clone_from(&self.persisted_heads);
                    state.in_flight = true;
                    self.dirty.remove(&conn);
                    out.push(Effect::Send {
                        conn,
                        msg: Message::Sync {
                            sender_id: self.server_peer.clone(),
                            target_id: peer.peer_id.clone(),
                            document_id: self.document_id.clone(),
                            data: answer.encode(),
                        },
                    });
                    return Ok(());
                }
                if !msg.heads.is_empty()
                    && msg.heads == self.persisted_heads
                    && msg.need.is_empty()
                    && state.have_responded
                {
                    // In sync, and it has heard from us: after this state update automerge
                    // would have nothing to send it (our heads unchanged since our last
                    // message, theirs equal to ours).
                    acknowledge_in_sync(state, msg);
                    self.dirty.remove(&conn);
                    return Ok(());
                }
                Err(Input::Sync { conn, data })
            }
            other => Err(other),
        }
    }

    /// Sends a presence message from `sender` to every peer but the connection it came from.
    fn relay(
        &self,
        sender: &PeerId,
        from: Option<ConnId>,
        count: u64,
        session_id: String,
        data: Vec<u8>,
        out: &mut Vec<Effect>,
    ) {
        for (other, peer) in &self.peers {
            if Some(*other) != from {
                out.push(Effect::Send {
                    conn: *other,
                    msg: Message::Ephemeral {
                        sender_id: sender.clone(),
                        target_id: peer.peer_id.clone(),
                        count,
                        session_id: session_id.clone(),
                        document_id: self.document_id.clone(),
                        data: data.clone(),
                    },
                });
            }
        }
    }

    /// A peer joins, owed a first message.
    fn join(&mut self, conn: ConnId, peer_id: PeerId, user: UserKey, edit: Edit) {
        self.dirty.insert(conn);
        self.peers.insert(
            conn,
            Box::new(Peer {
                peer_id,
                user,
                edit,
                state: sync::State::new(),
            }),
        );
    }

    /// Applies a join or a sync message to the document (no output to other peers).
    fn apply(&mut self, input: Input, out: &mut Vec<Effect>) {
        match input {
            Input::Join {
                conn,
                peer_id,
                user,
                edit,
            } => self.join(conn, peer_id, user, edit),
            Input::Sync { conn, data } => self.receive(conn, &data, out),
            Input::Apply {
                request,
                user,
                changes,
            } => self.apply_local(request, user, &changes, out),
            Input::Stored { changes, actors } => self.apply_stored(&changes, actors, out),
            _ => {}
        }
    }

    /// Applies what another node stored. Only called with nothing unpersisted, so the
    /// document's new heads are persisted heads.
    fn apply_stored(
        &mut self,
        changes: &[Vec<u8>],
        actors: Vec<(ActorId, UserKey)>,
        out: &mut Vec<Effect>,
    ) {
        debug_assert_eq!(self.doc.get_heads(), self.persisted_heads);
        for (actor, user) in actors {
            self.actors.entry(actor).or_insert(user);
        }
        let before = self.doc.get_heads();
        for chunk in changes {
            if let Err(e) = self.doc.load_incremental(chunk) {
                // Storage verified its checksum, so another node wrote what it holds: keep
                // what loaded, and say so.
                out.push(Effect::Unreadable {
                    reason: e.to_string(),
                });
            }
        }
        let heads = self.doc.get_heads();
        if heads != before {
            if let Some(validate) = &mut self.validator {
                // Accepted by the node that stored it; the validator only follows.
                let _ = validate(&self.doc, &before, &self.doc.get_changes(&before));
            }
            self.persisted_heads = heads;
            // Every peer may now lack something.
            self.dirty.extend(self.peers.keys().copied());
        }
    }

    fn refuse(&mut self, conn: ConnId, reason: Refusal, out: &mut Vec<Effect>) {
        if let Some(p) = self.peers.remove(&conn) {
            out.push(Effect::Send {
                conn,
                msg: Message::Error {
                    sender_id: self.server_peer.clone(),
                    target_id: Some(p.peer_id),
                    message: reason.to_string(),
                },
            });
            out.push(Effect::Close { conn, reason });
        }
        self.queue
            .retain(|i| !matches!(i, Input::Sync { conn: c, .. } if *c == conn));
    }

    fn receive(&mut self, conn: ConnId, data: &[u8], out: &mut Vec<Effect>) {
        let Some(peer) = self.peers.get(&conn) else {
            return;
        };
        // Whole or not at all: bytes after the message refuse it like any malformed one.
        let msg = match crate::chunks::message(data) {
            Ok(m) => m,
            Err(e) => {
                return self.refuse(conn, Refusal::Malformed(e.to_string()), out);
            }
        };
        if !msg.changes.is_empty() && peer.edit == Edit::None {
            return self.refuse(conn, Refusal::ReadOnly, out);
        }
        if msg.changes.is_empty() && !msg.heads.is_empty() && msg.heads == self.doc.get_heads() {
            // An acknowledgement from a peer that holds exactly what we hold: the common case
            // after every broadcast, once per peer. automerge's full receive walks the change
            // graph (about 0.9 ms on a 20 000-change document, per peer, per edit); the state
            // update it amounts to here is direct.
            if let Some(peer) = self.peers.get_mut(&conn) {
                acknowledge_in_sync(&mut peer.state, msg);
            }
            self.dirty.insert(conn);
            return;
        }
        let parsed = match crate::chunks::verified(msg.changes.iter()) {
            Err(e) => {
                return self.refuse(conn, Refusal::InvalidChanges(e.to_string()), out);
            }
            Ok(v) if self.max_ops > 0 && v.ops > self.max_ops => {
                let (ops, max) = (v.ops, self.max_ops);
                return self.refuse(conn, Refusal::TooLarge { ops, max }, out);
            }
            Ok(v) => v.changes,
        };
        let user = peer.user;
        let edit = peer.edit.clone();
        let before = self.doc.get_heads();
        // The message's changes this room does not hold yet (None: a whole document came,
        // and what it added is read from the document once applied).
        let fresh = parsed.map(|changes| self.fresh(changes));
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        let mut state = std::mem::take(&mut peer.state);
        self.dirty.insert(conn);
        let in_sync = match &fresh {
            Some(fresh) if !fresh.is_empty() && !state.read_only => {
                heads_with(&self.doc, &before, fresh).is_some_and(|h| h == sorted(&msg.heads))
            }
            _ => false,
        };
        let result = match (&fresh, in_sync) {
            (Some(fresh), true) => {
                // The sender holds exactly what we will once its changes are in (a writer
                // sending its edit): applied directly, and its state updated as automerge's
                // receive would. That receive walks the whole change graph once per message
                // (to prune what we sent it), a cost that grows with the document's history.
                let applied = self.doc.apply_changes(fresh.iter().cloned());
                if applied.is_ok() {
                    receive_in_sync(&mut state, msg);
                }
                applied
            }
            _ => self.doc.receive_sync_message(&mut state, msg),
        };
        if let Some(p) = self.peers.get_mut(&conn) {
            p.state = state;
        }
        if let Err(e) = result {
            self.rollback(&before);
            return self.refuse(conn, Refusal::InvalidChanges(e.to_string()), out);
        }
        if !self.doc.get_missing_deps(&[]).is_empty() {
            // Changes whose parents this room does not hold. automerge would keep them until
            // the parents arrive and then apply them under whoever sent those, so they are
            // dropped here, from the sender they came from. It is not an error: the peer
            // usually believed we held the parents (a false positive of the Bloom filter in
            // our last message). A sync reset makes it forget what it has sent, and our next
            // message names what we lack (`need`), so it sends the parents with the changes.
            self.rollback(&before);
            if let Some(p) = self.peers.get_mut(&conn) {
                p.state.needs_reset = true;
            }
            self.dirty.insert(conn);
            return;
        }
        if self.doc.get_heads() == before {
            return;
        }
        let fresh = fresh.unwrap_or_else(|| self.doc.get_changes(&before));
        let admitted = untouched(&self.doc, &fresh, &self.reserved)
            .map_err(Refusal::Reserved)
            .and_then(|()| self.admit(&before, &fresh, user, &edit));
        let claims = match admitted {
            Ok(claims) => claims,
            Err(why) => {
                self.rollback(&before);
                return self.refuse(conn, why, out);
            }
        };
        self.pending_actors.extend(claims);
        self.pend(&fresh);
        if !self.pending_senders.contains(&conn) {
            self.pending_senders.push(conn);
        }
    }

    /// Of `changes`, those the document does not hold, each once, in the order given.
    fn fresh(&self, changes: Vec<Change>) -> Vec<Change> {
        let mut seen = HashSet::with_capacity(changes.len());
        changes
            .into_iter()
            .filter(|c| {
                let hash = c.hash();
                seen.insert(hash) && self.doc.get_change_meta_by_hash(&hash).is_none()
            })
            .collect()
    }

    /// Admitted changes wait for the next batch to storage.
    fn pend(&mut self, changes: &[Change]) {
        for change in changes {
            self.pending_changes.extend_from_slice(change.raw_bytes());
        }
    }

    /// Checks the changes applied since `before`, all sent by `user`: each must be authored by
    /// an actor of this user (an actor seen for the first time is claimed for them: the claims
    /// are returned), must stay within what the user may edit, and the document must still
    /// satisfy its schema. `Err` is the refusal to send; the caller rolls back.
    fn admit(
        &mut self,
        before: &[ChangeHash],
        fresh: &[Change],
        user: UserKey,
        edit: &Edit,
    ) -> Result<Vec<(ActorId, UserKey)>, Refusal> {
        if let Some(allowed) = &self.root_keys {
            // The document's keys as they were are read only if one is not allowed now: a
            // historical read costs more than the rest of this check on every edit.
            let unknown: Vec<String> = self
                .doc
                .keys(ROOT)
                .filter(|k| !allowed.contains(k))
                .collect();
            if !unknown.is_empty() {
                let had: Vec<String> = self.doc.keys_at(ROOT, before).collect();
                if let Some(key) = unknown.into_iter().find(|k| !had.contains(k)) {
                    return Err(Refusal::UnknownKey(key));
                }
            }
        }
        let mut claims: Vec<(ActorId, UserKey)> = Vec::new();
        for change in fresh {
            let actor = change.actor_id().clone();
            let owner = self
                .actors
                .get(&actor)
                .or_else(|| {
                    self.pending_actors
                        .iter()
                        .find(|(a, _)| *a == actor)
                        .map(|(_, u)| u)
                })
                .or_else(|| claims.iter().find(|(a, _)| *a == actor).map(|(_, u)| u));
            match owner {
                Some(owner) if *owner == user => {}
                Some(_) => {
                    return Err(Refusal::ForeignActor);
                }
                None => claims.push((actor, user)),
            }
        }
        if let Edit::Only(lists) = edit {
            let owner = |actor: &ActorId| {
                self.actors
                    .get(actor)
                    .or_else(|| {
                        self.pending_actors
                            .iter()
                            .chain(claims.iter())
                            .find(|(a, _)| a == actor)
                            .map(|(_, u)| u)
                    })
                    .copied()
            };
            within(&self.doc, fresh, lists, user, &owner).map_err(Refusal::OutOfScope)?;
        }
        if let Some(validate) = &mut self.validator
            && let Err(why) = validate(&self.doc, before, fresh)
        {
            return Err(Refusal::Schema(why));
        }
        Ok(claims)
    }

    /// Applies changes made on the server on `user`'s behalf, all or nothing.
    fn apply_local(&mut self, request: u64, user: UserKey, changes: &[u8], out: &mut Vec<Effect>) {
        let before = self.doc.get_heads();
        let refused = |why: Refusal| Effect::Applied {
            request,
            result: Err(why),
        };
        if let Err(e) = crate::chunks::verify([changes]) {
            return out.push(refused(Refusal::InvalidChanges(e.to_string())));
        }
        if let Err(e) = self.doc.load_incremental(changes) {
            self.rollback(&before);
            return out.push(refused(Refusal::InvalidChanges(e.to_string())));
        }
        if !self.doc.get_missing_deps(&[]).is_empty() {
            self.rollback(&before);
            return out.push(refused(Refusal::MissingDependencies));
        }
        if self.doc.get_heads() == before {
            // Nothing new: already applied.
            return out.push(Effect::Applied {
                request,
                result: Ok(()),
            });
        }
        // The server has already decided the user may make this change (as an editor).
        let fresh = self.doc.get_changes(&before);
        match self.admit(&before, &fresh, user, &Edit::All) {
            Ok(claims) => {
                self.pending_actors.extend(claims);
                self.pend(&fresh);
                self.pending_requests.push(request);
            }
            Err(why) => {
                self.rollback(&before);
                out.push(refused(why));
            }
        }
    }

    /// Puts the document back to `heads`, dropping any changes automerge queued for missing
    /// dependencies (only on the refusal path: it costs a copy).
    fn rollback(&mut self, heads: &[ChangeHash]) {
        if (self.doc.get_heads() != heads || !self.doc.get_missing_deps(&[]).is_empty())
            && let Ok(doc) = self.doc.fork_at(heads)
        {
            self.doc = Doc::new(doc);
        }
    }

    /// Starts persisting what is pending, or, if everything is persisted, syncs every peer.
    fn flush(&mut self, out: &mut Vec<Effect>) {
        if self.inflight.is_some() {
            return;
        }
        let heads = self.doc.get_heads();
        if heads != self.persisted_heads {
            let changes = std::mem::take(&mut self.pending_changes);
            debug_assert_eq!(
                hashes_in(&changes),
                self.doc
                    .get_changes(&self.persisted_heads)
                    .iter()
                    .map(Change::hash)
                    .collect::<BTreeSet<_>>(),
                "the changes pending are those applied since the last batch"
            );
            let id = self.next_batch;
            self.next_batch += 1;
            let actors = std::mem::take(&mut self.pending_actors);
            out.push(Effect::Persist {
                batch: id,
                changes,
                actors: actors.clone(),
            });
            self.inflight = Some(Batch {
                id,
                heads,
                actors,
                senders: std::mem::take(&mut self.pending_senders),
                requests: std::mem::take(&mut self.pending_requests),
            });
        } else {
            self.answer_dirty(out);
        }
    }

    /// The document is unchanged: only peers that spoke since their last message may need one.
    fn answer_dirty(&mut self, out: &mut Vec<Effect>) {
        let dirty = std::mem::take(&mut self.dirty);
        self.generate(dirty, out);
    }

    /// Generates each peer's next sync message (the document changed, or states were reset).
    /// Only called when nothing is unpersisted.
    fn broadcast(&mut self, out: &mut Vec<Effect>) {
        self.dirty.clear();
        let all: Vec<ConnId> = self.peers.keys().copied().collect();
        self.generate(all, out);
    }

    /// Sends each of `conns` its next sync message, if it is owed one. A message depends only
    /// on the peer's sync state and the document, so peers in the same state (a meeting's
    /// readers, in step after every edit) are sent one message generated once, and left in the
    /// state generating it leaves: on a long document, generating rebuilds the new changes
    /// from automerge's columns for every peer otherwise.
    fn generate(&mut self, conns: impl IntoIterator<Item = ConnId>, out: &mut Vec<Effect>) {
        // (state before, state after, message) for the first few distinct states met: peers
        // in step are a few groups, and comparing against many would cost more than it saves.
        const REMEMBERED: usize = 4;
        let mut generated: Vec<(sync::State, sync::State, Option<Vec<u8>>)> = Vec::new();
        for conn in conns {
            let Some(peer) = self.peers.get_mut(&conn) else {
                continue;
            };
            let data = match generated.iter().find(|(before, ..)| *before == peer.state) {
                Some((_, after, data)) => {
                    peer.state.clone_from(after);
                    data.clone()
                }
                None => {
                    let before = (generated.len() < REMEMBERED).then(|| peer.state.clone());
                    let data = self
                        .doc
                        .generate_sync_message(&mut peer.state)
                        .map(|m| m.encode());
                    if let Some(before) = before {
                        generated.push((before, peer.state.clone(), data.clone()));
                    }
                    data
                }
            };
            if let Some(data) = data {
                out.push(Effect::Send {
                    conn,
                    msg: Message::Sync {
                        sender_id: self.server_peer.clone(),
                        target_id: peer.peer_id.clone(),
                        document_id: self.document_id.clone(),
                        data,
                    },
                });
            }
        }
    }

    fn persisted(&mut self, batch: u64, ok: bool, out: &mut Vec<Effect>) {
        let Some(b) = self.inflight.take_if(|b| b.id == batch) else {
            return;
        };
        let outcome = |result: Result<(), Refusal>| -> Vec<Effect> {
            b.requests
                .iter()
                .map(|&request| Effect::Applied {
                    request,
                    result: result.clone(),
                })
                .collect()
        };
        if ok {
            out.extend(outcome(Ok(())));
            self.persisted_heads = b.heads;
            self.actors.extend(b.actors);
        } else {
            out.extend(outcome(Err(Refusal::StorageUnavailable)));
            out.extend(
                std::mem::take(&mut self.pending_requests)
                    .into_iter()
                    .map(|request| Effect::Applied {
                        request,
                        result: Err(Refusal::StorageUnavailable),
                    }),
            );
            // Drop what storage refused; everything applied after it depends on it or was
            // sent by peers whose state now assumes it, so drop that too and tell them all.
            let mut senders = b.senders;
            senders.append(&mut self.pending_senders);
            self.pending_actors.clear();
            self.pending_changes.clear();
            let persisted = self.persisted_heads.clone();
            self.rollback(&persisted);
            for conn in senders {
                self.refuse(conn, Refusal::NotSaved, out);
            }
            // Others may hold state about messages they never got: start them afresh.
            for peer in self.peers.values_mut() {
                peer.state = sync::State::new();
            }
        }
        // The document is fully persisted now: let everyone catch up before taking more input.
        self.broadcast(out);
        while let Some(input) = self.queue.pop_front() {
            if matches!(input, Input::Stored { .. }) && self.doc.get_heads() != self.persisted_heads
            {
                // Another node's changes apply to a fully persisted document: persist what
                // the inputs before them applied first; they go after that batch.
                self.queue.push_front(input);
                break;
            }
            self.apply(input, out);
        }
        self.flush(out);
    }
}

/// What `receive_sync_message` does to a peer's sync state for a message that carries no
/// changes and whose heads are exactly the document's heads (automerge 0.12's
/// `receive_sync_message_inner`, with every branch that cannot be taken removed): everything we
/// sent them is an ancestor of those heads, so `sent_hashes` empties; shared and last-sent heads
/// become theirs. `ack_fast_path_matches_automerge` checks this against automerge itself, so an
/// automerge upgrade that changes the rules fails a test rather than diverging.
fn acknowledge_in_sync(state: &mut sync::State, msg: sync::Message) {
    state.last_sent_heads.clone_from(&msg.heads);
    receive_in_sync(state, msg);
}

/// What `receive_sync_message` does to a peer's sync state for a message carrying changes
/// that, once applied, leave the document's heads exactly the message's heads (automerge 0.12's
/// `receive_sync_message_inner` with the branches that cannot be taken removed): the peer holds
/// everything we do, so all we sent it is an ancestor of its heads (`sent_hashes` empties) and
/// the heads are shared; `last_sent_heads` stays (the message carried changes).
/// `change_fast_path_matches_automerge` checks this against automerge itself.
fn receive_in_sync(state: &mut sync::State, msg: sync::Message) {
    state.in_flight = false;
    if let Some(flags) = msg.flags {
        their_flags(state, flags);
    }
    state.sent_hashes.clear();
    state.shared_heads.clone_from(&msg.heads);
    state.their_have = Some(msg.have);
    state.their_heads = Some(msg.heads);
    state.their_need = Some(msg.need);
}

/// The heads `doc` would have with `fresh` (changes it does not hold) applied; `None` if one
/// of them depends on a change neither holds.
fn heads_with(doc: &Automerge, before: &[ChangeHash], fresh: &[Change]) -> Option<Vec<ChangeHash>> {
    let new: HashSet<ChangeHash> = fresh.iter().map(Change::hash).collect();
    let mut heads: BTreeSet<ChangeHash> = before.iter().copied().collect();
    heads.extend(new.iter().copied());
    for change in fresh {
        for dep in change.deps() {
            let held = new.contains(dep)
                || before.contains(dep)
                || doc.get_change_meta_by_hash(dep).is_some();
            if !held {
                return None;
            }
            heads.remove(dep);
        }
    }
    Some(heads.into_iter().collect())
}

fn sorted(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut heads = heads.to_vec();
    heads.sort_unstable();
    heads
}

/// The hashes of the changes in `bytes` (concatenated change chunks).
fn hashes_in(bytes: &[u8]) -> BTreeSet<ChangeHash> {
    crate::chunks::verified([bytes])
        .ok()
        .and_then(|v| v.changes)
        .unwrap_or_default()
        .iter()
        .map(Change::hash)
        .collect()
}

/// What automerge's receive records of a message's flags: the capabilities the peer has (any
/// peer sending flags reads version 2 messages) and whether it is read-only.
fn their_flags(state: &mut sync::State, flags: automerge::sync::MessageFlags) {
    use automerge::sync::{Capability, MessageFlags};
    let mut caps = vec![Capability::MessageV2];
    if flags.contains(MessageFlags::SUPPORTS_SYNC_RESET) {
        caps.push(Capability::SyncReset);
    }
    state.their_capabilities = Some(caps);
    state.peer_read_only = flags.contains(MessageFlags::READ_ONLY);
}

mod scope;
#[cfg(test)]
mod tests;
