//! Deterministic simulation of the room against real automerge clients: random edits, random
//! interleaving of connections, slow and failing storage, disconnects and server restarts.
//! Every run must end with every replica equal to the server, the server equal to storage, and
//! no client ever shown a change that was not yet persisted.
//!
//! With several nodes, each node holds its own room over the one storage (as server processes
//! on one PostgreSQL do), clients connect to any node, and a node hears of the others' commits
//! at random moments and reads the chunks after the last one it has read ([`Input::Stored`]).

use std::collections::{HashSet, VecDeque};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, ChangeHash, ROOT, ReadDoc};
use proptest::prelude::*;

use super::*;

/// xorshift64*: the simulation's only source of choice, so a seed replays a run exactly.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Client {
    doc: AutoCommit,
    user: UserKey,
    can_write: bool,
    conn: Option<ConnId>,
    /// The node the client is connected to.
    node: usize,
    state: sync::State,
    /// Frames to the server, in order.
    up: VecDeque<Vec<u8>>,
    /// Frames from the server, in order.
    down: VecDeque<Message>,
}

struct Storage {
    chunks: Vec<Vec<u8>>,
    actors: Vec<(ActorId, UserKey)>,
}

impl Storage {
    fn load(&self) -> Automerge {
        let mut doc = Automerge::new();
        for c in &self.chunks {
            doc.load_incremental(c).expect("stored chunk loads");
        }
        doc
    }
    fn hashes(&self) -> HashSet<ChangeHash> {
        self.load()
            .get_changes(&[])
            .iter()
            .map(|c| c.hash())
            .collect()
    }
}

/// A batch handed to storage and not yet answered: (id, changes, actor bindings).
type PendingBatch = (u64, Vec<u8>, Vec<(ActorId, UserKey)>);

/// One server node: its room over the shared storage, the batches it has handed to storage,
/// and how many stored chunks it has read.
struct Node {
    room: Room,
    pending: VecDeque<PendingBatch>,
    read: usize,
}

impl Node {
    /// A node's room over storage: loaded, or (`asleep`) opened from a snapshot of what storage
    /// holds without loading it, as the server opens a document stored as one snapshot.
    fn over(storage: &Storage, asleep: bool) -> Node {
        let room = if asleep {
            let doc = storage.load();
            let saved = doc.save();
            let heads = crate::chunks::document_heads(&saved).expect("a saved document's heads");
            assert_eq!(heads, doc.get_heads());
            Room::asleep(
                "server".into(),
                DOC.into(),
                heads,
                saved,
                storage.actors.clone(),
            )
        } else {
            Room::new(
                "server".into(),
                DOC.into(),
                storage.load(),
                storage.actors.clone(),
            )
        };
        Node {
            room,
            pending: VecDeque::new(),
            read: storage.chunks.len(),
        }
    }
}

struct Sim {
    rng: Rng,
    nodes: Vec<Node>,
    clients: Vec<Client>,
    storage: Storage,
    next_conn: ConnId,
    fail_percent: u64,
    refusals: usize,
    /// Times a room let go of its document ([`Room::hibernate`]).
    hibernations: usize,
    /// Node restarts so far: every other one opens its room asleep, from a snapshot.
    restarts: usize,
}

const DOC: &str = "doc";

impl Sim {
    fn new(seed: u64, writers: usize, readers: usize, fail_percent: u64) -> Sim {
        Sim::with_nodes(seed, 1, writers, readers, fail_percent)
    }

    fn with_nodes(
        seed: u64,
        nodes: usize,
        writers: usize,
        readers: usize,
        fail_percent: u64,
    ) -> Sim {
        let mut initial =
            AutoCommit::new().with_actor(ActorId::from(b"server-actor-000".as_slice()));
        initial.put(ROOT, "title", "register").unwrap();
        let bytes = initial.save();
        let storage = Storage {
            chunks: vec![bytes.clone()],
            actors: vec![(ActorId::from(b"server-actor-000".as_slice()), SYSTEM_USER)],
        };
        let nodes = (0..nodes.max(1))
            .map(|_| Node::over(&storage, false))
            .collect();
        let clients = (0..writers + readers)
            .map(|i| Client {
                doc: AutoCommit::new().with_actor(ActorId::from(vec![i as u8 + 1; 16])),
                user: [i as u8 + 1; 16],
                can_write: i < writers,
                conn: None,
                node: 0,
                state: sync::State::new(),
                up: VecDeque::new(),
                down: VecDeque::new(),
            })
            .collect();
        Sim {
            rng: Rng(seed | 1),
            nodes,
            clients,
            storage,
            next_conn: 1,
            fail_percent,
            refusals: 0,
            hibernations: 0,
            restarts: 0,
        }
    }

    fn run_effects(&mut self, node: usize, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Send { conn, msg } => {
                    if let Some(c) = self.clients.iter_mut().find(|c| c.conn == Some(conn)) {
                        // Persist before broadcast: every change a client is sent is stored.
                        if let Message::Sync { data, .. } = &msg {
                            let m = sync::Message::decode(data).unwrap();
                            if !m.changes.is_empty() {
                                let stored = self.storage.hashes();
                                let mut d = self.storage.load();
                                for ch in m.changes.iter() {
                                    let _ = d.load_incremental(ch);
                                }
                                let after: HashSet<_> =
                                    d.get_changes(&[]).iter().map(|c| c.hash()).collect();
                                assert_eq!(
                                    stored, after,
                                    "a client was sent a change not yet persisted"
                                );
                            }
                        }
                        c.down.push_back(msg);
                    }
                }
                Effect::Persist {
                    batch,
                    changes,
                    actors,
                } => self.nodes[node].pending.push_back((batch, changes, actors)),
                Effect::Close { conn, .. } => {
                    self.refusals += 1;
                    if let Some(c) = self.clients.iter_mut().find(|c| c.conn == Some(conn)) {
                        c.conn = None;
                    }
                }
                Effect::Wake => {
                    // The runtime reads the document back from storage.
                    let doc = self.storage.load();
                    let e = self.nodes[node].room.wake(doc);
                    self.run_effects(node, e);
                }
                Effect::Applied { .. } => unreachable!("the simulation makes no local changes"),
                Effect::Unreadable { reason } => panic!("a stored chunk did not load: {reason}"),
            }
        }
    }

    fn connect(&mut self, i: usize) {
        let conn = self.next_conn;
        self.next_conn += 1;
        let node = self.any_node();
        let c = &mut self.clients[i];
        c.conn = Some(conn);
        c.node = node;
        c.state = sync::State::new();
        c.up.clear();
        c.down.clear();
        let join = Input::Join {
            conn,
            peer_id: format!("client-{i}"),
            user: c.user,
            edit: if c.can_write { Edit::All } else { Edit::None },
        };
        let e = self.nodes[node].room.handle(join);
        self.run_effects(node, e);
        self.client_send(i);
    }

    fn disconnect(&mut self, i: usize) {
        if let Some(conn) = self.clients[i].conn.take() {
            let node = self.clients[i].node;
            let e = self.nodes[node].room.handle(Input::Leave { conn });
            self.run_effects(node, e);
        }
    }

    /// A random node (one node draws nothing, so single-node seeds replay as they always have).
    fn any_node(&mut self) -> usize {
        if self.nodes.len() == 1 {
            0
        } else {
            self.rng.below(self.nodes.len() as u64) as usize
        }
    }

    /// Storage answers one of `node`'s batches.
    /// Like the database, storage refuses a batch binding an actor to another user than the
    /// one it is bound to (a node behind storage took another user's change, relayed by a
    /// client that came from a node ahead, for its sender's). A node whose write failed reads
    /// storage before going on, as the server's room does.
    fn persist(&mut self, node: usize, ok: bool) -> bool {
        let Some((batch, changes, actors)) = self.nodes[node].pending.pop_front() else {
            return false;
        };
        let foreign = actors.iter().any(|(a, u)| {
            self.storage
                .actors
                .iter()
                .any(|(sa, su)| sa == a && su != u)
        });
        let ok = ok && !foreign;
        if ok {
            self.storage.chunks.push(changes);
            self.storage.actors.extend(actors);
            let n = &mut self.nodes[node];
            // Contiguous with what it has read: it has read its own chunk too.
            if n.read + 1 == self.storage.chunks.len() {
                n.read += 1;
            }
        }
        let e = self.nodes[node].room.handle(Input::Persisted { batch, ok });
        self.run_effects(node, e);
        if !ok {
            self.relay(node);
        }
        true
    }

    /// `node` hears of the others' commits and reads what it has not read.
    fn relay(&mut self, node: usize) -> bool {
        let n = &mut self.nodes[node];
        if n.read >= self.storage.chunks.len() {
            return false;
        }
        let changes = self.storage.chunks[n.read..].to_vec();
        n.read = self.storage.chunks.len();
        let e = n.room.handle(Input::Stored {
            changes,
            actors: self.storage.actors.clone(),
        });
        self.run_effects(node, e);
        true
    }

    fn client_send(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if c.conn.is_some()
            && let Some(m) = c.doc.sync().generate_sync_message(&mut c.state)
        {
            c.up.push_back(m.encode());
        }
    }

    fn step(&mut self) {
        let n = self.clients.len() as u64;
        match self.rng.below(100) {
            0..=24 => {
                // Only writers edit: a reader with local edits can never converge (its
                // changes are refused), which the read-only tests cover on their own.
                let writers = self.clients.iter().filter(|c| c.can_write).count() as u64;
                let i = self.rng.below(writers) as usize;
                let v = self.rng.next();
                let c = &mut self.clients[i];
                c.doc.put(ROOT, format!("k{}", v % 7), v as i64).unwrap();
                self.client_send(i);
            }
            25..=49 => {
                // Deliver one upstream frame of a random connected client.
                let i = self.rng.below(n) as usize;
                if let (Some(conn), Some(frame)) =
                    (self.clients[i].conn, self.clients[i].up.pop_front())
                {
                    let node = self.clients[i].node;
                    let e = self.nodes[node]
                        .room
                        .handle(Input::Sync { conn, data: frame });
                    self.run_effects(node, e);
                }
            }
            50..=74 => {
                let i = self.rng.below(n) as usize;
                if self.clients[i].conn.is_some()
                    && let Some(Message::Sync { data, .. }) = self.clients[i].down.pop_front()
                {
                    let c = &mut self.clients[i];
                    let m = sync::Message::decode(&data).unwrap();
                    c.doc.sync().receive_sync_message(&mut c.state, m).unwrap();
                    self.client_send(i);
                }
            }
            75..=87 => {
                let node = self.any_node();
                let ok = !self.rng.chance(self.fail_percent);
                self.persist(node, ok);
            }
            88..=94 => {
                if self.nodes.len() > 1 && self.rng.chance(40) {
                    let node = self.any_node();
                    self.relay(node);
                    return;
                }
                let i = self.rng.below(n) as usize;
                if self.clients[i].conn.is_some() {
                    self.disconnect(i);
                } else {
                    self.connect(i);
                }
            }
            _ => {
                if self.rng.chance(30) {
                    self.restart();
                } else if self.rng.chance(60) {
                    // A quiet moment: the room drops its document (if it is settled).
                    let node = self.any_node();
                    if self.nodes[node].room.hibernate() {
                        self.hibernations += 1;
                    }
                }
            }
        }
    }

    /// A node restarts (is killed): its unpersisted work is gone, its clients reconnect (to
    /// any node).
    fn restart(&mut self) {
        let node = self.any_node();
        self.restarts += 1;
        self.nodes[node] = Node::over(&self.storage, self.restarts.is_multiple_of(2));
        for c in &mut self.clients {
            if c.node == node {
                c.conn = None;
            }
        }
    }

    /// Everyone connects and messages flow (storage healthy) until nothing moves.
    fn settle(&mut self) {
        self.fail_percent = 0;
        for i in 0..self.clients.len() {
            if self.clients[i].conn.is_none() {
                self.connect(i);
            }
        }
        for _round in 0..10_000 {
            let mut moved = false;
            for node in 0..self.nodes.len() {
                while self.persist(node, true) {
                    moved = true;
                }
                moved |= self.relay(node);
            }
            for i in 0..self.clients.len() {
                if let (Some(conn), Some(frame)) =
                    (self.clients[i].conn, self.clients[i].up.pop_front())
                {
                    let node = self.clients[i].node;
                    let e = self.nodes[node]
                        .room
                        .handle(Input::Sync { conn, data: frame });
                    self.run_effects(node, e);
                    moved = true;
                }
                if let Some(Message::Sync { data, .. }) = self.clients[i].down.pop_front() {
                    let c = &mut self.clients[i];
                    c.doc
                        .sync()
                        .receive_sync_message(&mut c.state, sync::Message::decode(&data).unwrap())
                        .unwrap();
                    self.client_send(i);
                    moved = true;
                }
                if self.clients[i].conn.is_none() {
                    self.connect(i);
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
        panic!("did not settle");
    }
}

fn run(seed: u64, steps: usize, writers: usize, readers: usize, fail_percent: u64) -> Sim {
    run_on(seed, 1, steps, writers, readers, fail_percent)
}

fn run_on(
    seed: u64,
    nodes: usize,
    steps: usize,
    writers: usize,
    readers: usize,
    fail_percent: u64,
) -> Sim {
    let mut sim = Sim::with_nodes(seed, nodes, writers, readers, fail_percent);
    // The first node opens asleep from a snapshot, as the server opens a document stored as
    // one: every client's first join is answered from it.
    sim.nodes[0] = Node::over(&sim.storage, true);
    for i in 0..sim.clients.len() {
        sim.connect(i);
    }
    for _ in 0..steps {
        sim.step();
    }
    sim.settle();
    let server_heads = sim.storage.load().get_heads();
    for node in &mut sim.nodes {
        if node.room.is_asleep() {
            // What the next message would do: it had everything, so waking sends nothing.
            let e = node.room.wake(sim.storage.load());
            assert!(
                e.is_empty(),
                "a settled room woke with something to say: {e:?}"
            );
        }
    }
    for (n, node) in sim.nodes.iter().enumerate() {
        assert!(node.room.is_settled(), "node {n} settled");
        assert_eq!(
            node.room.document().get_heads(),
            server_heads,
            "node {n} holds what storage holds"
        );
    }
    let server_doc = sim.nodes[0].room.document();
    for (i, c) in sim.clients.iter_mut().enumerate() {
        if c.can_write {
            assert_eq!(c.doc.get_heads(), server_heads, "writer {i} converged");
        } else {
            // A reader holds no changes of its own, so it converges exactly too.
            assert_eq!(c.doc.get_heads(), server_heads, "reader {i} converged");
        }
        for k in 0..7 {
            let key = format!("k{k}");
            let mine = c.doc.get(ROOT, &key).unwrap().map(|(v, _)| v.to_string());
            let theirs = server_doc
                .get(ROOT, &key)
                .unwrap()
                .map(|(v, _)| v.to_string());
            assert_eq!(mine, theirs, "client {i} key {key}");
        }
    }
    sim
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_and_nothing_unpersisted_is_seen(seed in any::<u64>()) {
        run(seed, 400, 3, 0, 0);
    }

    #[test]
    fn converge_through_storage_failures_and_restarts(seed in any::<u64>()) {
        run(seed, 400, 3, 1, 20);
    }

    /// Rooms hibernating at random quiet moments and woken by the next message: the same
    /// convergence (that hibernation does happen is checked over many seeds, below: a seed
    /// whose rooms are never settled at a quiet moment is a valid run).
    #[test]
    fn converge_through_hibernation(seed in any::<u64>()) {
        run(seed, 600, 2, 2, 0);
    }

    /// Two and three nodes over one storage: clients on different nodes converge, through
    /// storage failures and nodes being killed.
    #[test]
    fn several_nodes_converge_through_one_storage(seed in any::<u64>(), nodes in 2usize..=3) {
        run_on(seed, nodes, 400, 3, 1, 10);
    }
}

/// The seed that used to fail: a Bloom-filter false positive made a writer send a change
/// without its parent, the room refused it, and the writer's offline edits never arrived.
#[test]
fn a_writer_whose_summary_was_wrong_still_converges() {
    run(10176596492221723002, 400, 3, 0, 0);
}

/// A room opened asleep from its snapshot answers a client that has nothing with the snapshot
/// itself, and that client's acknowledgement from its sync state, without ever loading the
/// document; an edit, and a client speaking only version 1 messages, wake it.
#[test]
fn a_cold_join_is_answered_from_the_snapshot_without_loading() {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(b"server-actor-000".as_slice()));
    for i in 0..50 {
        doc.put(ROOT, "n", i).unwrap();
        doc.commit();
    }
    let saved = doc.save();
    let heads = crate::chunks::document_heads(&saved).unwrap();
    let owner = (ActorId::from(b"server-actor-000".as_slice()), SYSTEM_USER);
    let mut room = Room::asleep("server".into(), DOC.into(), heads.clone(), saved, [owner]);
    let join = |conn, edit| Input::Join {
        conn,
        peer_id: format!("client-{conn}"),
        user: [conn as u8; 16],
        edit,
    };
    let sync_of = |e: &[Effect]| -> Vec<sync::Message> {
        e.iter()
            .filter_map(|e| match e {
                Effect::Send {
                    msg: Message::Sync { data, .. },
                    ..
                } => Some(sync::Message::decode(data).unwrap()),
                _ => None,
            })
            .collect()
    };
    assert!(room.handle(join(1, Edit::None)).is_empty());
    let mut client = AutoCommit::new();
    let mut state = sync::State::new();
    let ask = client.sync().generate_sync_message(&mut state).unwrap();
    let e = room.handle(Input::Sync {
        conn: 1,
        data: ask.encode(),
    });
    assert!(!e.iter().any(|e| matches!(e, Effect::Wake)), "{e:?}");
    let answer = sync_of(&e);
    assert_eq!(answer.len(), 1, "one answer: {e:?}");
    assert_eq!(answer[0].heads, heads);
    client
        .sync()
        .receive_sync_message(&mut state, answer[0].clone())
        .unwrap();
    assert_eq!(client.get_heads(), heads, "the whole document arrived");
    let ack = client.sync().generate_sync_message(&mut state).unwrap();
    assert!(ack.changes.is_empty());
    let e = room.handle(Input::Sync {
        conn: 1,
        data: ack.encode(),
    });
    assert!(e.is_empty(), "nothing more to say, nothing to load: {e:?}");
    assert!(
        client.sync().generate_sync_message(&mut state).is_none(),
        "the client is content too"
    );
    assert!(room.is_asleep() && room.is_settled());

    // A second client speaking version 1 only (no flags): it needs the document loaded.
    assert!(room.handle(join(2, Edit::None)).is_empty());
    let mut old = sync::Message::decode(
        &AutoCommit::new()
            .sync()
            .generate_sync_message(&mut sync::State::new())
            .unwrap()
            .encode(),
    )
    .unwrap();
    old.flags = None;
    old.version = sync::MessageVersion::V1;
    let e = room.handle(Input::Sync {
        conn: 2,
        data: old.encode(),
    });
    assert!(matches!(e.as_slice(), [Effect::Wake]), "{e:?}");
    let mut loaded = Automerge::new();
    loaded.load_incremental(&doc.save()).unwrap();
    let e = room.wake(loaded);
    assert!(!sync_of(&e).is_empty(), "answered once loaded: {e:?}");

    // A writer's edit on the first client reaches storage as usual.
    let mut room2 = Room::asleep(
        "server".into(),
        DOC.into(),
        heads.clone(),
        doc.save(),
        [(ActorId::from(b"server-actor-000".as_slice()), SYSTEM_USER)],
    );
    room2.handle(join(3, Edit::All));
    let mut writer = AutoCommit::new().with_actor(ActorId::from(vec![3; 16]));
    let mut ws = sync::State::new();
    let ask = writer.sync().generate_sync_message(&mut ws).unwrap();
    let e = room2.handle(Input::Sync {
        conn: 3,
        data: ask.encode(),
    });
    for m in sync_of(&e) {
        writer.sync().receive_sync_message(&mut ws, m).unwrap();
    }
    writer.put(ROOT, "n", 99).unwrap();
    writer.commit();
    let edit = writer.sync().generate_sync_message(&mut ws).unwrap();
    let e = room2.handle(Input::Sync {
        conn: 3,
        data: edit.encode(),
    });
    assert!(
        matches!(e.as_slice(), [Effect::Wake]),
        "an edit needs the document: {e:?}"
    );
    let mut loaded = Automerge::new();
    loaded.load_incremental(&doc.save()).unwrap();
    let e = room2.wake(loaded);
    assert!(
        e.iter().any(|e| matches!(e, Effect::Persist { .. })),
        "the edit is stored once the document is back: {e:?}"
    );
}

/// A three-node run that once never settled (found by the proptest above).
#[test]
fn three_nodes_settle_seed_12452770241955884130() {
    run_on(12452770241955884130, 3, 400, 3, 1, 10);
}

mod commit;
mod refusals;

/// The hibernation simulation's coverage: across seeds, rooms do let go of their documents
/// and are woken again (a single seed need not: see `converge_through_hibernation`).
#[test]
fn rooms_do_hibernate_in_the_hibernation_simulation() {
    let seeds: Vec<u64> = (0..16)
        .map(|i| 0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(i + 1))
        .collect();
    let hibernated = seeds
        .iter()
        .filter(|s| run(**s, 600, 2, 2, 0).hibernations > 0)
        .count();
    assert!(hibernated >= 12, "only {hibernated} of 16 seeds hibernated");
}
