//! What the room refuses, and that a refusal applies nothing: read-only peers, orphan changes,
//! another user's actor, garbage bytes, schema violations, reserved keys and size limits.

use super::*;

#[test]
fn read_only_peer_changes_are_refused_and_nothing_applied() {
    let mut sim = Sim::new(7, 1, 1, 0);
    sim.connect(0);
    sim.connect(1);
    sim.settle();
    let heads = sim.nodes[0].room.document().get_heads();
    // The reader edits locally and sends its change: refused whole.
    let reader = &mut sim.clients[1];
    reader.doc.put(ROOT, "sneaky", 1).unwrap();
    let msg = reader
        .doc
        .sync()
        .generate_sync_message(&mut reader.state)
        .unwrap();
    let conn = reader.conn.unwrap();
    let effects = sim.nodes[0].room.handle(Input::Sync {
        conn,
        data: msg.encode(),
    });
    assert!(
        matches!(&effects[0], Effect::Send { msg: Message::Error { message, .. }, .. } if message.contains("read-only"))
    );
    assert!(matches!(
        &effects[1],
        Effect::Close {
            reason: crate::Refusal::ReadOnly,
            ..
        }
    ));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Persist { .. })));
    assert_eq!(sim.nodes[0].room.document().get_heads(), heads);
}

/// A sync message carrying one change whose dependency the server has never seen.
fn orphan_message() -> sync::Message {
    let mut other = AutoCommit::new();
    other.put(ROOT, "a", 1).unwrap();
    other.commit();
    other.put(ROOT, "b", 2).unwrap();
    other.commit();
    let orphan = other.get_changes(&[]).last().unwrap().raw_bytes().to_vec();
    let mut state = sync::State::new();
    let mut msg = other.sync().generate_sync_message(&mut state).unwrap();
    msg.changes = vec![orphan].into();
    msg
}

#[test]
fn orphan_change_from_a_reader_is_refused() {
    let mut sim = Sim::new(9, 0, 1, 0);
    sim.connect(0);
    sim.settle();
    let msg = orphan_message();
    let heads = sim.nodes[0].room.document().get_heads();
    let effects = sim.nodes[0].room.handle(Input::Sync {
        conn: sim.clients[0].conn.unwrap(),
        data: msg.encode(),
    });
    assert!(matches!(
        &effects[0],
        Effect::Send {
            msg: Message::Error { .. },
            ..
        }
    ));
    assert_eq!(sim.nodes[0].room.document().get_heads(), heads);
}

/// A writer's change whose dependency the server lacks is refused too, and not kept: held,
/// it would be applied later under whoever sent the dependency, with their rights.
#[test]
fn orphan_change_from_a_writer_is_not_kept_and_the_writer_resyncs() {
    let mut sim = Sim::new(11, 1, 0, 0);
    sim.connect(0);
    sim.settle();
    let msg = orphan_message();
    let heads = sim.nodes[0].room.document().get_heads();
    let conn = sim.clients[0].conn.unwrap();
    let effects = sim.nodes[0].room.handle(Input::Sync {
        conn,
        data: msg.encode(),
    });
    // Not an error and no close: a writer whose summary of our document was wrong (a Bloom
    // false positive) is asked again, and sends what we lack.
    assert!(!refused(&effects), "{effects:?}");
    assert!(
        effects.iter().any(
            |e| matches!(e, Effect::Send { conn: c, msg: Message::Sync { .. } } if *c == conn)
        ),
        "answered with a sync message: {effects:?}"
    );
    assert_eq!(
        sim.nodes[0].room.document().get_heads(),
        heads,
        "nothing applied"
    );
    assert!(
        sim.nodes[0]
            .room
            .document()
            .get_missing_deps(&[])
            .is_empty(),
        "nothing queued"
    );
    assert!(sim.nodes[0].room.is_settled(), "nothing pending");
}

/// Whether the effects tell the sender its message was refused (an error, or its connection
/// closed).
fn refused(effects: &[Effect]) -> bool {
    effects.iter().any(|e| {
        matches!(
            e,
            Effect::Send {
                msg: Message::Error { .. },
                ..
            } | Effect::Close { .. }
        )
    })
}

/// Two writers connected; the first has made one change, stored and seen by both.
fn two_writers_after_the_first_edits(seed: u64) -> Sim {
    let mut sim = Sim::new(seed, 2, 0, 0);
    sim.connect(0);
    sim.connect(1);
    sim.clients[0].doc.put(ROOT, "first", 1).unwrap();
    sim.client_send(0);
    sim.settle();
    sim
}

#[test]
fn another_users_actor_is_refused() {
    let mut sim = two_writers_after_the_first_edits(11);
    let heads = sim.nodes[0].room.document().get_heads();
    // Client 1 writes with client 0's actor id.
    let stolen = sim.clients[0].doc.get_actor().clone();
    let c1 = &mut sim.clients[1];
    c1.doc.set_actor(stolen);
    c1.doc.put(ROOT, "forged", 1).unwrap();
    let msg = c1.doc.sync().generate_sync_message(&mut c1.state).unwrap();
    let effects = sim.nodes[0].room.handle(Input::Sync {
        conn: c1.conn.unwrap(),
        data: msg.encode(),
    });
    assert!(
        matches!(&effects[0], Effect::Send { msg: Message::Error { message, .. }, .. } if message.contains("another user"))
    );
    assert_eq!(
        sim.nodes[0].room.document().get_heads(),
        heads,
        "nothing applied"
    );
    // The server's own actor is no one's to use either.
    let c0 = &mut sim.clients[0];
    c0.doc
        .set_actor(ActorId::from(b"server-actor-000".as_slice()));
    c0.doc.put(ROOT, "as-server", 1).unwrap();
    let msg = c0.doc.sync().generate_sync_message(&mut c0.state).unwrap();
    let effects = sim.nodes[0].room.handle(Input::Sync {
        conn: c0.conn.unwrap(),
        data: msg.encode(),
    });
    assert!(matches!(
        &effects[0],
        Effect::Send {
            msg: Message::Error { .. },
            ..
        }
    ));
    assert_eq!(sim.nodes[0].room.document().get_heads(), heads);
}

/// A change the room already holds, sent again by another user beside a change of their own,
/// is neither stored again nor claimed for them: only what the message adds is judged, claimed
/// and persisted (their own change is accepted; the replayed one stays its author's).
#[test]
fn a_held_change_sent_again_by_another_user_is_not_claimed_for_them() {
    let mut sim = two_writers_after_the_first_edits(13);
    let held = sim.clients[0].doc.get_last_local_change().unwrap();
    let (her, him) = (sim.clients[0].user, sim.clients[1].user);
    assert_eq!(sim.nodes[0].room.actors.get(held.actor_id()), Some(&her));

    let c1 = &mut sim.clients[1];
    c1.doc.put(ROOT, "his", 1).unwrap();
    let own = c1.doc.get_last_local_change().unwrap();
    let mut msg = c1.doc.sync().generate_sync_message(&mut c1.state).unwrap();
    let mut chunks = vec![held.raw_bytes().to_vec()];
    chunks.extend(msg.changes.iter().map(<[u8]>::to_vec));
    msg.changes = chunks.into();
    let conn = c1.conn.unwrap();
    let effects = sim.nodes[0].room.handle(Input::Sync {
        conn,
        data: msg.encode(),
    });
    assert!(
        !refused(&effects),
        "his own change is accepted: {effects:?}"
    );
    sim.run_effects(0, effects);
    let (_, changes, actors) = sim.nodes[0].pending.front().expect("a batch to store");
    assert_eq!(
        super::super::hashes_in(changes),
        [own.hash()].into_iter().collect(),
        "only the change the message added is stored"
    );
    assert!(actors.iter().all(|(a, u)| a == own.actor_id() && *u == him));
    assert!(sim.persist(0, true));
    let room = &sim.nodes[0].room;
    assert_eq!(room.actors.get(held.actor_id()), Some(&her), "still hers");
    assert_eq!(room.actors.get(own.actor_id()), Some(&him));
    assert_eq!(room.document().get_heads(), vec![own.hash()]);
}

#[test]
fn garbage_sync_bytes_and_valid_change_then_garbage_apply_nothing() {
    let mut sim = Sim::new(13, 1, 1, 0);
    sim.connect(0);
    sim.connect(1);
    sim.settle();
    let heads = sim.nodes[0].room.document().get_heads();
    let conn = sim.clients[0].conn.unwrap();
    let e = sim.nodes[0].room.handle(Input::Sync {
        conn,
        data: vec![0x42, 0xff, 0x00, 0x13],
    });
    assert!(matches!(
        &e[0],
        Effect::Send {
            msg: Message::Error { .. },
            ..
        }
    ));
    sim.connect(0);
    sim.settle();
    let c = &mut sim.clients[0];
    c.doc.put(ROOT, "valid", 1).unwrap();
    let mut msg = c.doc.sync().generate_sync_message(&mut c.state).unwrap();
    let mut chunks: Vec<Vec<u8>> = msg.changes.iter().map(|c| c.to_vec()).collect();
    chunks.push(vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 5]);
    msg.changes = chunks.into();
    let e = sim.nodes[0].room.handle(Input::Sync {
        conn: c.conn.unwrap(),
        data: msg.encode(),
    });
    assert!(
        !e.iter().any(|e| matches!(e, Effect::Persist { .. })),
        "{e:?}"
    );
    assert_eq!(
        sim.nodes[0].room.document().get_heads(),
        heads,
        "nothing partially applied"
    );
    // The other client is unaffected and still in sync.
    assert!(sim.clients[1].conn.is_some());
}

/// A writer's sync message, tampered with by `tamper`, is refused whole: the sender is told
/// (an error naming `why`) and disconnected, nothing is applied, persisted or sent to anyone
/// else.
fn refused_whole(
    seed: u64,
    edit: impl FnOnce(&mut AutoCommit),
    tamper: impl FnOnce(&mut AutoCommit, &mut sync::Message) -> Vec<u8>,
    why: &str,
) {
    let mut sim = Sim::new(seed, 1, 1, 0);
    sim.nodes[0].room.max_ops = 200;
    sim.connect(0);
    sim.connect(1);
    sim.settle();
    let heads = sim.nodes[0].room.document().get_heads();
    let other = sim.clients[1].conn.unwrap();
    let c = &mut sim.clients[0];
    edit(&mut c.doc);
    let mut msg = c.doc.sync().generate_sync_message(&mut c.state).unwrap();
    assert!(!msg.changes.is_empty());
    let conn = c.conn.unwrap();
    let data = tamper(&mut c.doc, &mut msg);
    let e = sim.nodes[0].room.handle(Input::Sync { conn, data });
    assert!(
        matches!(&e[..], [
            Effect::Send { conn: c, msg: Message::Error { message, .. } },
            Effect::Close { conn: d, reason },
        ] if *c == conn && *d == conn && message.contains(why) && message.contains("nothing was applied")
            && *message == reason.to_string()),
        "{e:?}"
    );
    assert!(
        !e.iter().any(|e| matches!(
            e,
            Effect::Persist { .. }
                | Effect::Send {
                    msg: Message::Sync { .. },
                    ..
                }
        )),
        "nothing persisted or sent: {e:?}"
    );
    assert!(
        !e.iter()
            .any(|e| matches!(e, Effect::Send { conn, .. } if *conn == other))
    );
    assert_eq!(
        sim.nodes[0].room.document().get_heads(),
        heads,
        "nothing applied"
    );
    assert!(sim.nodes[0].room.is_settled(), "nothing pending");
    assert!(
        sim.nodes[0]
            .room
            .document()
            .get_missing_deps(&[])
            .is_empty()
    );
}

/// The change payload is a valid change followed by junk, in one piece.
#[test]
fn a_change_followed_by_junk_in_one_payload_is_refused_whole() {
    refused_whole(
        19,
        |d| {
            d.put(ROOT, "valid", 1).unwrap();
        },
        |doc, msg| {
            let mut bytes = doc.get_changes(&[]).last().unwrap().raw_bytes().to_vec();
            bytes.extend_from_slice(b"junk after the change");
            msg.changes = vec![bytes].into();
            msg.clone().encode()
        },
        "invalid changes",
    );
}

/// The same change, compressed (chunk type 2), with junk after its DEFLATE stream inside the
/// chunk: automerge inflates up to the stream's end and would apply the change.
#[test]
fn junk_after_a_compressed_changes_stream_is_refused_whole() {
    refused_whole(
        23,
        |d| {
            d.put(ROOT, "long", "a long value ".repeat(50)).unwrap();
        },
        |doc, msg| {
            let mut change = doc.get_changes(&[]).last().unwrap().clone();
            let compressed = change.bytes().to_vec();
            assert_eq!(compressed[8], 2, "compressed");
            let (len, at) = {
                let (mut value, mut i) = (0u64, 9);
                loop {
                    value |= u64::from(compressed[i] & 0x7f) << (7 * (i - 9));
                    i += 1;
                    if compressed[i - 1] & 0x80 == 0 {
                        break (value, i);
                    }
                }
            };
            let junk = b"junk after the stream";
            let mut bad = compressed[..9].to_vec();
            let mut n = len + junk.len() as u64;
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                bad.push(if n == 0 { byte } else { byte | 0x80 });
                if n == 0 {
                    break;
                }
            }
            bad.extend_from_slice(&compressed[at..]);
            bad.extend_from_slice(junk);
            // automerge alone would take it.
            assert!(AutoCommit::new().load_incremental(&bad).is_ok());
            msg.changes = vec![bad].into();
            msg.clone().encode()
        },
        "after the end of a compressed change",
    );
}

/// A valid sync message carrying a valid change, followed by bytes automerge's decoder skips.
#[test]
fn bytes_after_the_sync_message_are_refused_whole() {
    refused_whole(
        29,
        |d| {
            d.put(ROOT, "valid", 1).unwrap();
        },
        |_, msg| {
            let mut bytes = msg.clone().encode();
            bytes.extend_from_slice(&[0x00, 0x2a]);
            assert!(sync::Message::decode(&bytes).is_ok(), "automerge takes it");
            bytes
        },
        "after the end of the sync message",
    );
}

/// A change that leaves the document invalid is refused whole: an explanation, a close,
/// nothing persisted or broadcast, heads unchanged; a valid one goes through.
#[test]
fn a_change_the_validator_refuses_is_not_applied() {
    let mut base = AutoCommit::new();
    base.put(ROOT, "title", "register").unwrap();
    let doc = Automerge::load(&base.save()).unwrap();
    let mut room = Room::new("server".into(), "doc".into(), doc, []).with_validator(Box::new(
        |d: &Automerge, _: &[automerge::ChangeHash], _: &[automerge::Change]| match d
            .get(ROOT, "title")
        {
            Ok(Some((v, _))) if v.as_str().is_some() => Ok(()),
            _ => Err("title: must be text".into()),
        },
    ));
    for conn in [1, 2] {
        room.handle(Input::Join {
            conn,
            peer_id: format!("p{conn}"),
            user: [conn as u8; 16],
            edit: Edit::All,
        });
    }
    let heads = room.document().get_heads();
    let mut client = AutoCommit::load(&base.save()).unwrap();
    client.put(ROOT, "title", 42).unwrap();
    let mut state = sync::State::new();
    let mut effects = Vec::new();
    for _ in 0..5 {
        let Some(m) = client.sync().generate_sync_message(&mut state) else {
            break;
        };
        let out = room.handle(Input::Sync {
            conn: 1,
            data: m.encode(),
        });
        for e in &out {
            if let Effect::Send {
                conn: 1,
                msg: Message::Sync { data, .. },
            } = e
            {
                let m = sync::Message::decode(data).unwrap();
                client.sync().receive_sync_message(&mut state, m).unwrap();
            }
        }
        effects.extend(out);
    }
    assert_eq!(room.document().get_heads(), heads);
    assert!(!effects.iter().any(|e| matches!(e, Effect::Persist { .. })));
    assert!(effects.iter().any(|e| matches!(e,
        Effect::Send { conn: 1, msg: Message::Error { message, .. } } if message.contains("title: must be text"))));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Close { conn: 1, .. }))
    );
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Send { conn: 2, .. }))
    );
}

/// A reserved key (an agreement's sign-offs) is written only by the server: a writer's change
/// inside it (a new entry, an edit inside an entry), replacing it, deleting it or creating it
/// where it is absent is refused; the same change applied on a user's behalf goes in.
#[test]
fn reserved_keys_are_written_only_through_the_server() {
    fn room_over(base: &AutoCommit) -> Room {
        let doc = Automerge::load(&base.clone().save()).unwrap();
        let mut room = Room::new("server".into(), "doc".into(), doc, [])
            .with_reserved(["signOffs".to_owned()]);
        room.handle(Input::Join {
            conn: 1,
            peer_id: "writer".into(),
            user: [1; 16],
            edit: Edit::All,
        });
        room
    }
    /// Syncs `client` to the room; true if the room refused it as touching a reserved key.
    fn refused(room: &mut Room, client: &mut AutoCommit) -> bool {
        let mut state = sync::State::new();
        let mut refused = false;
        for _ in 0..5 {
            let Some(m) = client.sync().generate_sync_message(&mut state) else {
                break;
            };
            for e in room.handle(Input::Sync {
                conn: 1,
                data: m.encode(),
            }) {
                match e {
                    Effect::Send {
                        conn: 1,
                        msg: Message::Sync { data, .. },
                    } => {
                        let m = sync::Message::decode(&data).unwrap();
                        client.sync().receive_sync_message(&mut state, m).unwrap();
                    }
                    Effect::Send {
                        msg: Message::Error { message, .. },
                        ..
                    } => refused |= message.contains("signOffs is recorded by the server"),
                    _ => {}
                }
            }
        }
        refused
    }

    let mut base = AutoCommit::new();
    base.put(ROOT, "title", "agreement").unwrap();
    let list = base
        .put_object(ROOT, "signOffs", automerge::ObjType::List)
        .unwrap();
    let entry = base
        .insert_object(&list, 0, automerge::ObjType::Map)
        .unwrap();
    base.put(&entry, "council", "ashby").unwrap();
    let base_heads = base.get_heads();
    for what in ["insert", "edit inside", "replace", "delete"] {
        let mut room = room_over(&base);
        let mut client = base.fork().with_actor(ActorId::from(&[1u8; 16][..]));
        match what {
            "insert" => client.insert(&list, 1, "brockley").map(drop),
            "edit inside" => client.put(&entry, "council", "brockley"),
            "replace" => client
                .put_object(ROOT, "signOffs", automerge::ObjType::List)
                .map(drop),
            _ => client.delete(ROOT, "signOffs"),
        }
        .unwrap();
        assert!(refused(&mut room, &mut client), "{what}");
        assert_eq!(room.document().get_heads(), base_heads, "{what}");
    }
    // Absent: a writer may not create it either.
    let mut bare = AutoCommit::new();
    bare.put(ROOT, "title", "agreement").unwrap();
    let mut room = room_over(&bare);
    let mut client = bare.fork().with_actor(ActorId::from(&[1u8; 16][..]));
    client
        .put_object(ROOT, "signOffs", automerge::ObjType::List)
        .unwrap();
    assert!(refused(&mut room, &mut client), "create");

    // A change elsewhere in the document is not affected.
    let mut room = room_over(&base);
    let mut client = base.fork().with_actor(ActorId::from(&[1u8; 16][..]));
    client
        .put(ROOT, "title", "Inter-authority agreement")
        .unwrap();
    assert!(!refused(&mut room, &mut client));
    assert_ne!(room.document().get_heads(), base_heads);
    // The server records a sign-off on a user's behalf.
    let mut room = room_over(&base);
    let mut server = base.fork();
    server.insert(&list, 1, "brockley").unwrap();
    let out = room.handle(Input::Apply {
        request: 1,
        user: [3; 16],
        changes: server.save_after(&base_heads),
    });
    assert!(
        out.iter().any(|e| matches!(e, Effect::Persist { .. })),
        "{out:?}"
    );
}

/// A paste larger than the room's limit is refused before it is applied; a smaller one goes
/// through.
#[test]
fn a_message_adding_more_operations_than_the_limit_is_refused_whole() {
    refused_whole(
        23,
        |d| {
            let text = d
                .put_object(ROOT, "notes", automerge::ObjType::Text)
                .unwrap();
            d.splice_text(&text, 0, 0, &"x".repeat(500)).unwrap();
        },
        |_, msg| msg.clone().encode(),
        "operations; at most 200 at once",
    );
}

#[test]
fn a_message_within_the_operation_limit_is_applied() {
    let mut sim = Sim::new(24, 1, 1, 0);
    sim.nodes[0].room.max_ops = 200;
    sim.connect(0);
    sim.connect(1);
    sim.settle();
    let c = &mut sim.clients[0];
    let text = c
        .doc
        .put_object(ROOT, "notes", automerge::ObjType::Text)
        .unwrap();
    c.doc.splice_text(&text, 0, 0, &"x".repeat(150)).unwrap();
    sim.client_send(0);
    sim.settle();
    let doc = sim.nodes[0].room.document();
    let (_, notes) = doc.get(ROOT, "notes").unwrap().expect("the text arrived");
    assert_eq!(doc.text(notes).unwrap().len(), 150);
}

/// A change adding a top-level key outside the schema is refused; keys the document already
/// had (written before the rule) can still be edited.
#[test]
fn a_change_adding_an_unknown_top_level_key_is_refused() {
    let mut sim = Sim::new(25, 1, 0, 0);
    sim.nodes[0].room.root_keys = Some(vec!["title".to_owned()].into());
    sim.connect(0);
    sim.settle();
    let heads = sim.nodes[0].room.document().get_heads();
    let c = &mut sim.clients[0];
    c.doc.put(ROOT, "planted", "anything").unwrap();
    let msg = c.doc.sync().generate_sync_message(&mut c.state).unwrap();
    let e = sim.nodes[0].room.handle(Input::Sync {
        conn: c.conn.unwrap(),
        data: msg.encode(),
    });
    assert!(
        e.iter().any(
            |e| matches!(e, Effect::Send { msg: Message::Error { message, .. }, .. }
            if message.contains("\"planted\" is not part of this document's schema"))
        ),
        "{e:?}"
    );
    assert_eq!(
        sim.nodes[0].room.document().get_heads(),
        heads,
        "nothing applied"
    );

    // A fresh client writes a known key: accepted.
    sim.clients[0].doc = AutoCommit::new();
    sim.clients[0].state = sync::State::new();
    sim.connect(0);
    sim.settle();
    let c = &mut sim.clients[0];
    c.doc.put(ROOT, "title", "known").unwrap();
    sim.client_send(0);
    sim.settle();
    assert!(
        sim.nodes[0]
            .room
            .document()
            .get(ROOT, "title")
            .unwrap()
            .is_some()
    );
    assert!(
        sim.nodes[0]
            .room
            .document()
            .get(ROOT, "planted")
            .unwrap()
            .is_none()
    );

    // A key written before the rule stays editable, and does not block edits to others.
    let mut sim = Sim::new(26, 1, 0, 0);
    sim.connect(0);
    sim.settle();
    sim.clients[0].doc.put(ROOT, "legacy", "old").unwrap();
    sim.client_send(0);
    sim.settle();
    sim.nodes[0].room.root_keys = Some(vec!["title".to_owned()].into());
    sim.clients[0].doc.put(ROOT, "title", "new").unwrap();
    sim.client_send(0);
    sim.settle();
    sim.clients[0].doc.put(ROOT, "legacy", "edited").unwrap();
    sim.client_send(0);
    sim.settle();
    let doc = sim.nodes[0].room.document();
    let text = |key: &str| doc.get(ROOT, key).unwrap().map(|(v, _)| v.to_string());
    assert_eq!(text("title").as_deref(), Some("\"new\""));
    assert_eq!(text("legacy").as_deref(), Some("\"edited\""));
}
