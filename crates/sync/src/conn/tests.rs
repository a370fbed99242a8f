//! The connection protocol by deterministic simulation: a shell that answers claims and
//! access decisions as a policy says, fed frames a peer (honest, confused or hostile) sends.

use std::collections::{HashMap, HashSet, VecDeque};

use proptest::prelude::*;

use super::*;

const LIMITS: ConnLimits = ConnLimits {
    max_ephemeral_bytes: 100,
    ephemeral_per_sec: 2,
    messages_per_sec: 10,
    handshake_ms: 1000,
};

/// Document ids here: letters, bare or as an `automerge:` URL.
fn canonical(named: &str) -> Option<String> {
    let id = named.strip_prefix("automerge:").unwrap_or(named);
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphabetic())).then(|| id.to_owned())
}

fn join(peer: &str) -> Message {
    Message::Join {
        sender_id: peer.into(),
        supported_protocol_versions: vec!["1".into()],
        peer_metadata: None,
    }
}

fn sync(peer: &str, doc: &str, data: &[u8]) -> Message {
    Message::Sync {
        sender_id: peer.into(),
        target_id: "server".into(),
        document_id: doc.into(),
        data: data.to_vec(),
    }
}

fn presence(peer: &str, doc: &str, bytes: usize) -> Message {
    Message::Ephemeral {
        sender_id: peer.into(),
        target_id: "server".into(),
        count: 1,
        session_id: "s".into(),
        document_id: doc.into(),
        data: vec![0; bytes],
    }
}

/// A shell that claims peer ids unless told they are taken and decides access from a table
/// (absent: no access), answering at once as the server's socket loop does.
struct Shell {
    conn: Connection<u32>,
    taken: HashSet<String>,
    access: HashMap<String, Edit>,
    /// Every effect other than claims and decisions, in order.
    log: Vec<Effect>,
    asked: Vec<String>,
    now: u64,
}

impl Shell {
    fn new() -> Shell {
        Shell {
            conn: Connection::new("server".into(), LIMITS, canonical, 0),
            taken: HashSet::new(),
            access: HashMap::new(),
            log: Vec::new(),
            asked: Vec::new(),
            now: 0,
        }
    }

    fn feed(&mut self, input: Input<u32>) -> Vec<Effect> {
        let start = self.log.len();
        let mut queue: VecDeque<Effect> = self.conn.handle(input).into();
        while let Some(e) = queue.pop_front() {
            match e {
                Effect::Claim { peer_id } => {
                    let ok = !self.taken.contains(&peer_id);
                    queue.extend(self.conn.handle(Input::Claimed { ok }));
                }
                Effect::Authorise { document } => {
                    self.asked.push(document.clone());
                    let grant = self.access.get(&document).map(|e| (e.clone(), 7));
                    queue.extend(self.conn.handle(Input::Decided { document, grant }));
                }
                other => self.log.push(other),
            }
        }
        self.log[start..].to_vec()
    }

    fn send(&mut self, msg: &Message) -> Vec<Effect> {
        let now_ms = self.now;
        self.feed(Input::Frame {
            data: codec::encode(msg),
            now_ms,
        })
    }

    fn joined(mut self, peer: &str) -> Shell {
        let e = self.send(&join(peer));
        assert!(
            matches!(&e[..], [Effect::Send(Message::Peer { target_id, .. })] if target_id == peer),
            "{e:?}"
        );
        self
    }
}

fn closed_with(effects: &[Effect]) -> Option<(u16, String)> {
    effects.iter().find_map(|e| match e {
        Effect::Close { code, reason } => Some((*code, reason.clone())),
        _ => None,
    })
}

fn room_inputs(effects: &[Effect]) -> Vec<(String, ToRoom)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Room { document, input } => Some((document.clone(), input.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_joined_peer_reaches_an_authorised_document_in_order_asked_once() {
    let mut s = Shell::new().joined("alice");
    s.access.insert("reg".into(), Edit::All);
    let mut e = s.send(&sync("alice", "automerge:reg", b"one"));
    e.extend(s.send(&sync("alice", "reg", b"two")));
    // Once open, the document is reached by its key as named and by URL alike.
    e.extend(s.send(&sync("alice", "automerge:reg", b"three")));
    assert_eq!(
        room_inputs(&e),
        [
            (
                "reg".into(),
                ToRoom::Join {
                    peer_id: "alice".into(),
                    edit: Edit::All
                }
            ),
            (
                "reg".into(),
                ToRoom::Sync {
                    data: b"one".to_vec()
                }
            ),
            (
                "reg".into(),
                ToRoom::Sync {
                    data: b"two".to_vec()
                }
            ),
            (
                "reg".into(),
                ToRoom::Sync {
                    data: b"three".to_vec()
                }
            ),
        ]
    );
    assert_eq!(s.asked, ["reg"], "access decided once per document");
    assert_eq!(s.conn.documents().collect::<Vec<_>>(), [("reg", &7)]);
    assert_eq!(
        room_inputs(&s.conn.leave_all()),
        [("reg".into(), ToRoom::Leave)]
    );
}

#[test]
fn nothing_before_join_and_no_impostors() {
    let mut s = Shell::new();
    let e = s.send(&sync("alice", "reg", b"x"));
    assert_eq!(
        closed_with(&e),
        Some((close::POLICY, "send join first".into()))
    );
    assert!(room_inputs(&e).is_empty());

    let mut s = Shell::new().joined("alice");
    // An echo of someone else's presence is dropped without a word...
    assert!(s.send(&presence("bob", "reg", 10)).is_empty());
    // ...any other message in another's name closes the connection.
    let e = s.send(&sync("bob", "reg", b"x"));
    assert!(
        matches!(&e[0], Effect::Send(Message::Error { message, .. }) if message.contains("senderId differs"))
    );
    assert_eq!(closed_with(&e).map(|c| c.0), Some(close::POLICY));
    assert!(
        s.send(&sync("alice", "reg", b"x")).is_empty(),
        "closed: nothing more"
    );
}

#[test]
fn the_handshake_refuses_versions_ids_and_claims_it_cannot_honour() {
    let mut s = Shell::new();
    let e = s.send(&Message::Join {
        sender_id: "alice".into(),
        supported_protocol_versions: vec!["2".into()],
        peer_metadata: None,
    });
    assert_eq!(
        closed_with(&e),
        Some((close::POLICY, "unsupported protocol version".into()))
    );

    let mut s = Shell::new();
    let e = s.send(&join(&"p".repeat(257)));
    assert_eq!(
        closed_with(&e),
        Some((close::POLICY, "peer id must be 1 to 256 bytes".into()))
    );

    let mut s = Shell::new();
    s.taken.insert("bob".into());
    let e = s.send(&join("bob"));
    assert_eq!(
        closed_with(&e),
        Some((close::POLICY, "peer id belongs to another user".into()))
    );

    let mut s = Shell::new().joined("alice");
    let e = s.send(&join("alice2"));
    assert_eq!(
        closed_with(&e),
        Some((close::POLICY, "peer id changed".into()))
    );

    // Joining again as oneself is answered again.
    let mut s = Shell::new().joined("alice");
    let e = s.send(&join("alice"));
    assert!(
        matches!(&e[..], [Effect::Send(Message::Peer { .. })]),
        "{e:?}"
    );
}

#[test]
fn a_document_one_may_not_read_is_unavailable_and_reaches_no_room() {
    let mut s = Shell::new().joined("carl");
    for named in ["automerge:secret", "secret", "not-an-id!"] {
        let e = s.send(&sync("carl", named, b"x"));
        assert_eq!(
            e,
            [Effect::Send(Message::DocUnavailable {
                sender_id: "server".into(),
                target_id: "carl".into(),
                document_id: named.into(),
            })]
        );
    }
    assert_eq!(
        s.asked,
        ["secret", "secret"],
        "asked again each time, never cached"
    );
    let e = s.send(&presence("carl", "secret", 10));
    assert!(room_inputs(&e).is_empty());
}

#[test]
fn frames_wait_in_order_while_access_is_decided() {
    let mut c: Connection<u32> = Connection::new("server".into(), LIMITS, canonical, 0);
    let frame = |m: &Message| Input::Frame {
        data: codec::encode(m),
        now_ms: 0,
    };
    assert!(matches!(
        &c.handle(frame(&join("alice")))[..],
        [Effect::Claim { .. }]
    ));
    // Frames before the claim is answered wait.
    assert!(c.handle(frame(&sync("alice", "a", b"1"))).is_empty());
    let e = c.handle(Input::Claimed { ok: true });
    assert!(matches!(&e[0], Effect::Send(Message::Peer { .. })));
    assert_eq!(
        e[1],
        Effect::Authorise {
            document: "a".into()
        }
    );
    // While "a" is decided, messages for "b" and "a" wait behind it.
    assert!(c.handle(frame(&sync("alice", "b", b"2"))).is_empty());
    assert!(c.handle(frame(&sync("alice", "a", b"3"))).is_empty());
    let e = c.handle(Input::Decided {
        document: "a".into(),
        grant: Some((Edit::None, 1)),
    });
    assert_eq!(
        e,
        [
            Effect::Room {
                document: "a".into(),
                input: ToRoom::Join {
                    peer_id: "alice".into(),
                    edit: Edit::None
                }
            },
            Effect::Room {
                document: "a".into(),
                input: ToRoom::Sync {
                    data: b"1".to_vec()
                }
            },
            Effect::Authorise {
                document: "b".into()
            },
        ]
    );
    let e = c.handle(Input::Decided {
        document: "b".into(),
        grant: None,
    });
    assert!(
        matches!(&e[0], Effect::Send(Message::DocUnavailable { document_id, .. }) if document_id == "b")
    );
    assert_eq!(
        e[1],
        Effect::Room {
            document: "a".into(),
            input: ToRoom::Sync {
                data: b"3".to_vec()
            }
        }
    );
    // A decision nobody asked for changes nothing.
    assert!(
        c.handle(Input::Decided {
            document: "z".into(),
            grant: Some((Edit::All, 0))
        })
        .is_empty()
    );
}

#[test]
fn presence_is_bounded_in_size_and_rate() {
    let mut s = Shell::new().joined("alice");
    s.access.insert("reg".into(), Edit::All);
    let e = s.send(&presence("alice", "reg", 101));
    assert!(
        matches!(&e[..], [Effect::Send(Message::Error { message, .. })] if message.contains("too large"))
    );
    // Bursts of twice the rate (2 per second) pass; the rest of the burst is dropped.
    let relayed = (0..10)
        .flat_map(|_| room_inputs(&s.send(&presence("alice", "reg", 10))))
        .filter(|(_, i)| matches!(i, ToRoom::Ephemeral { .. }))
        .count();
    assert_eq!(relayed, 4);
    s.now = 1000;
    let e = s.send(&presence("alice", "reg", 10));
    assert_eq!(room_inputs(&e).len(), 1, "the rate refills");
}

#[test]
fn a_flood_pauses_reading_and_nothing_is_dropped() {
    let mut s = Shell::new().joined("alice");
    s.access.insert("reg".into(), Edit::All);
    let mut syncs = 0;
    let mut paused = 0;
    for i in 0..40u8 {
        for e in s.send(&sync("alice", "reg", &[i])) {
            match e {
                Effect::Room {
                    input: ToRoom::Sync { .. },
                    ..
                } => syncs += 1,
                Effect::Pause { ms } => {
                    assert!(ms > 0 && ms <= 3000, "{ms}");
                    paused += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!(syncs, 40, "a flood is slowed, never dropped");
    // The join took one token of the burst of 20.
    assert_eq!(paused, 21);
}

#[test]
fn access_decided_again_leaves_or_changes_the_room() {
    let mut s = Shell::new().joined("grace");
    s.access
        .insert("sla".into(), Edit::Only(vec!["measurements".into()]));
    s.send(&sync("grace", "sla", b"x"));
    let same = s.feed(Input::Redecided {
        document: "sla".into(),
        grant: Some((Edit::Only(vec!["measurements".into()]), 9)),
    });
    assert!(same.is_empty());
    assert_eq!(s.conn.documents().collect::<Vec<_>>(), [("sla", &9)]);
    let e = s.feed(Input::Redecided {
        document: "sla".into(),
        grant: Some((Edit::None, 9)),
    });
    assert_eq!(
        room_inputs(&e),
        [("sla".into(), ToRoom::SetAccess { edit: Edit::None })]
    );
    let e = s.feed(Input::Redecided {
        document: "sla".into(),
        grant: None,
    });
    assert_eq!(room_inputs(&e), [("sla".into(), ToRoom::Leave)]);
    assert!(
        matches!(&e[1], Effect::Send(Message::DocUnavailable { document_id, .. }) if document_id == "sla")
    );
    assert_eq!(s.conn.documents().count(), 0);
    // The next message asks again (access may have been restored).
    s.access.clear();
    let e = s.send(&sync("grace", "sla", b"y"));
    assert!(room_inputs(&e).is_empty());
    assert_eq!(s.asked, ["sla", "sla"]);
}

#[test]
fn garbage_text_and_silence_close_with_their_codes() {
    let mut s = Shell::new();
    let e = s.feed(Input::Frame {
        data: b"\xff\x00 not cbor".to_vec(),
        now_ms: 0,
    });
    assert!(
        matches!(&e[0], Effect::Send(Message::Error { message, .. }) if message.starts_with("not a protocol message"))
    );
    assert_eq!(closed_with(&e).map(|c| c.0), Some(close::INVALID));

    let mut s = Shell::new();
    assert_eq!(
        closed_with(&s.feed(Input::Text)).map(|c| c.0),
        Some(close::UNSUPPORTED)
    );

    let mut s = Shell::new();
    assert!(s.feed(Input::Tick { now_ms: 999 }).is_empty());
    assert_eq!(
        closed_with(&s.feed(Input::Tick { now_ms: 1000 })),
        Some((close::POLICY, "no join received in time".into()))
    );
    let mut s = Shell::new().joined("alice");
    assert!(
        s.feed(Input::Tick { now_ms: 5000 }).is_empty(),
        "joined in time"
    );

    let mut s = Shell::new().joined("alice");
    let e = s.send(&Message::Leave {
        sender_id: "alice".into(),
    });
    assert_eq!(closed_with(&e), Some((close::NORMAL, "left".into())));
}

#[test]
fn a_room_that_cannot_be_reached_undoes_the_join() {
    let mut s = Shell::new().joined("alice");
    s.access.insert("reg".into(), Edit::All);
    s.send(&sync("alice", "reg", b"x"));
    let e = s.feed(Input::RoomUnavailable {
        document: "reg".into(),
    });
    assert!(
        matches!(&e[..], [Effect::Send(Message::Error { message, .. })] if message.contains("not available"))
    );
    assert_eq!(s.conn.documents().count(), 0);
}

/// What a peer may send, for the simulation.
fn arb_message() -> impl Strategy<Value = Message> {
    let peer = prop::sample::select(vec!["alice", "bob"]);
    let doc = prop::sample::select(vec!["a", "automerge:b", "c", "!"]);
    prop_oneof![
        peer.clone().prop_map(join),
        (peer.clone(), doc.clone()).prop_map(|(p, d)| sync(p, d, b"d")),
        (peer.clone(), doc, 0usize..150).prop_map(|(p, d, n)| presence(p, d, n)),
        peer.prop_map(|p| Message::Leave {
            sender_id: p.into()
        }),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Send(Message),
    Garbage(Vec<u8>),
    Redecide(String, Option<Edit>),
    Tick(u64),
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => arb_message().prop_map(Step::Send),
        1 => prop::collection::vec(any::<u8>(), 0..20).prop_map(Step::Garbage),
        1 => (prop::sample::select(vec!["a", "b", "c"]), prop::option::of(Just(Edit::None)))
            .prop_map(|(d, e)| Step::Redecide(d.to_owned(), e)),
        1 => (0u64..3000).prop_map(Step::Tick),
    ]
}

proptest! {
    /// Whatever a peer sends and however access moves: a room hears of a connection only
    /// between a granted decision and its revocation, a join before anything else, nothing
    /// after a close, and a document the policy denies never at all.
    #[test]
    fn rooms_hear_only_what_access_allows(steps in prop::collection::vec(arb_step(), 0..60),
                                          taken in any::<bool>()) {
        let mut s = Shell::new();
        if taken {
            s.taken.insert("bob".into());
        }
        s.access.insert("a".into(), Edit::All);
        s.access.insert("b".into(), Edit::None);
        let mut open: HashSet<String> = HashSet::new();
        let mut closed = false;
        for (i, step) in steps.into_iter().enumerate() {
            s.now = i as u64 * 10;
            let effects = match step {
                Step::Send(m) => s.send(&m),
                Step::Garbage(g) => s.feed(Input::Frame { data: g, now_ms: i as u64 * 10 }),
                Step::Redecide(d, e) => s.feed(Input::Redecided { document: d, grant: e.map(|e| (e, 0)) }),
                Step::Tick(t) => s.feed(Input::Tick { now_ms: t }),
            };
            if closed {
                prop_assert!(effects.is_empty(), "after close: {effects:?}");
            }
            for e in &effects {
                match e {
                    Effect::Room { document, input } => {
                        prop_assert!(document != "c", "a denied document reached a room");
                        match input {
                            ToRoom::Join { .. } => {
                                prop_assert!(open.insert(document.clone()), "joined twice");
                            }
                            ToRoom::Leave => {
                                prop_assert!(open.remove(document), "left without joining");
                            }
                            _ => prop_assert!(open.contains(document), "{input:?} before a join"),
                        }
                    }
                    Effect::Close { .. } => closed = true,
                    _ => {}
                }
            }
        }
        let open_now: HashSet<String> = s.conn.documents().map(|(d, _)| d.to_owned()).collect();
        if !closed {
            prop_assert_eq!(open_now, open);
        }
    }
}
