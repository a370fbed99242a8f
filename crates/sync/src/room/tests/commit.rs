//! Persist before broadcast: group commit, the acknowledgement fast path, and changes made on
//! a user's behalf by the server.

use super::*;

#[test]
fn group_commit_holds_broadcast_until_persisted() {
    let mut sim = Sim::new(17, 2, 1, 0);
    for i in 0..3 {
        sim.connect(i);
    }
    sim.settle();
    sim.clients[0].doc.put(ROOT, "x", 1).unwrap();
    sim.client_send(0);
    let frame = sim.clients[0].up.pop_front().unwrap();
    let e = sim.nodes[0].room.handle(Input::Sync {
        conn: sim.clients[0].conn.unwrap(),
        data: frame,
    });
    assert_eq!(e.len(), 1, "only a persist, no sends: {e:?}");
    let Effect::Persist { batch, .. } = &e[0] else {
        panic!()
    };
    let batch = *batch;
    // While it persists, a second writer's change queues.
    sim.clients[1].doc.put(ROOT, "y", 2).unwrap();
    sim.client_send(1);
    let frame = sim.clients[1].up.pop_front().unwrap();
    let e = sim.nodes[0].room.handle(Input::Sync {
        conn: sim.clients[1].conn.unwrap(),
        data: frame,
    });
    assert!(e.is_empty());
    let e = sim.nodes[0]
        .room
        .handle(Input::Persisted { batch, ok: true });
    let sends = e
        .iter()
        .filter(|e| matches!(e, Effect::Send { .. }))
        .count();
    let persists = e
        .iter()
        .filter(|e| matches!(e, Effect::Persist { .. }))
        .count();
    assert!(sends >= 2, "everyone hears of the first change: {e:?}");
    assert_eq!(persists, 1, "the queued change is the next batch");
}

/// Peers in the same sync state share one generated message. Each must still be sent exactly
/// what automerge generates from its own state, and be left in the state that leaves: a
/// writer, readers in step, and two readers that stopped reading (their states drift apart
/// from the others' as what they are sent goes unacknowledged).
#[test]
fn peers_in_step_share_one_generated_message() {
    let mut sim = Sim::new(29, 1, 6, 0);
    for i in 0..7 {
        sim.connect(i);
    }
    sim.settle();
    let (mut compared, mut widest, mut most_groups) = (0, 0, 0);
    for round in 0..5 {
        sim.clients[0].doc.put(ROOT, "x", round).unwrap();
        sim.client_send(0);
        let frame = sim.clients[0].up.pop_front().unwrap();
        let writer = sim.clients[0].conn.unwrap();
        let e = sim.nodes[0].room.handle(Input::Sync {
            conn: writer,
            data: frame,
        });
        sim.run_effects(0, e);
        let (batch, changes, actors) = sim.nodes[0].pending.pop_front().unwrap();
        sim.storage.chunks.push(changes);
        sim.storage.actors.extend(actors);
        sim.nodes[0].read += 1;

        let room = &mut sim.nodes[0].room;
        let doc: Automerge = (*room.doc).clone();
        if round == 4 {
            // One reader in step as if already sent the new change: alike the others in all
            // but that, and owed another message.
            let reader = sim.clients[3].conn.unwrap();
            let newest = doc.get_heads()[0];
            room.peers
                .get_mut(&reader)
                .unwrap()
                .state
                .sent_hashes
                .insert(newest);
        }
        let before: BTreeMap<ConnId, sync::State> = room
            .peers
            .iter()
            .map(|(c, p)| (*c, p.state.clone()))
            .collect();
        let mut groups: HashMap<&sync::State, usize> = HashMap::new();
        for s in before.values() {
            *groups.entry(s).or_default() += 1;
        }
        widest = widest.max(groups.values().copied().max().unwrap_or(0));
        most_groups = most_groups.max(groups.len());
        let e = room.handle(Input::Persisted { batch, ok: true });
        let mut sent = HashSet::new();
        for effect in &e {
            if let Effect::Send {
                conn,
                msg: Message::Sync { data, .. },
            } = effect
            {
                let mut state = before[conn].clone();
                let expected = doc.clone().generate_sync_message(&mut state);
                assert_eq!(
                    Some(data.clone()),
                    expected.map(|m| m.encode()),
                    "round {round}: the message automerge generates from the peer's own state"
                );
                assert_eq!(
                    room.peers[conn].state, state,
                    "round {round}: the state it leaves"
                );
                sent.insert(*conn);
                compared += 1;
            }
        }
        for (conn, state) in &before {
            if !sent.contains(conn) {
                let mut state = state.clone();
                assert!(doc.clone().generate_sync_message(&mut state).is_none());
                assert_eq!(room.peers[conn].state, state);
            }
        }
        sim.run_effects(0, e);
        // Everyone reads and answers but readers 5 and 6, which drop what they are sent.
        for i in 0..sim.clients.len() {
            let c = &mut sim.clients[i];
            while let Some(msg) = c.down.pop_front() {
                if i < 5
                    && let Message::Sync { data, .. } = msg
                {
                    let m = sync::Message::decode(&data).unwrap();
                    c.doc.sync().receive_sync_message(&mut c.state, m).unwrap();
                }
            }
            if i < 5 {
                sim.client_send(i);
                while let Some(frame) = sim.clients[i].up.pop_front() {
                    let conn = sim.clients[i].conn.unwrap();
                    let e = sim.nodes[0].room.handle(Input::Sync { conn, data: frame });
                    sim.run_effects(0, e);
                }
            }
        }
    }
    assert!(compared >= 20, "messages compared: {compared}");
    assert!(
        widest >= 4,
        "some peers were in step (at most {widest} shared a state)"
    );
    assert!(
        most_groups >= 3,
        "some were not ({most_groups} states at most)"
    );
}

/// The acknowledgement fast path leaves a peer's sync state exactly as automerge's own receive
/// would, over documents and histories of several shapes (including a peer that joined with
/// nothing and one that has its own concurrent history merged).
#[test]
fn ack_fast_path_matches_automerge() {
    use automerge::sync::{self, SyncDoc};

    for (changes, concurrent) in HISTORIES {
        let (mut server, mut client) = server_and_client(changes, concurrent);
        let (mut ss, mut cs) = (sync::State::new(), sync::State::new());
        let mut compared = 0;
        // Sync to quiescence, then make one more server edit and deliver it: the client's
        // answer is an acknowledgement of exactly the server's heads.
        for round in 0..30 {
            if round == 20 {
                edit(&mut server, "n", 1000);
            }
            let to_client = server.generate_sync_message(&mut ss);
            if let Some(m) = to_client {
                client.receive_sync_message(&mut cs, m).unwrap();
            }
            let Some(ack) = client.generate_sync_message(&mut cs) else {
                continue;
            };
            if ack.changes.is_empty() && ack.heads == server.get_heads() && round >= 20 {
                let mut slow = ss.clone();
                server.receive_sync_message(&mut slow, ack.clone()).unwrap();
                let mut fast = ss.clone();
                super::acknowledge_in_sync(&mut fast, ack);
                same(&fast, &slow);
                compared += 1;
                ss = slow;
            } else {
                server.receive_sync_message(&mut ss, ack).unwrap();
            }
        }
        assert_eq!(server.get_heads(), client.get_heads());
        assert!(
            compared > 0,
            "the fast path's case arose ({changes} changes)"
        );
    }
}

/// The writer's case: a message carrying changes after which the server holds exactly the
/// sender's heads. The room applies them and updates the sender's state itself (automerge's
/// receive walks the whole history per message); the state must be what automerge's receive
/// leaves, in every round of a sync where it arises, and the fast path must not be taken when
/// the heads would differ.
#[test]
fn change_fast_path_matches_automerge() {
    use automerge::sync::{self, SyncDoc};

    let (mut taken, mut declined) = (0, 0);
    for (history, concurrent) in HISTORIES {
        let (mut server, mut client) = server_and_client(history, concurrent);
        let (mut ss, mut cs) = (sync::State::new(), sync::State::new());
        for round in 0..40 {
            // The client edits now and then; the server too, while the client's message is
            // on its way, so that some arrive when the server holds what the client does not.
            if round % 4 == 1 {
                edit(&mut client, "c", round);
            }
            if let Some(m) = server.generate_sync_message(&mut ss) {
                client.receive_sync_message(&mut cs, m).unwrap();
            }
            let Some(msg) = client.generate_sync_message(&mut cs) else {
                continue;
            };
            if round % 8 == 5 {
                edit(&mut client, "c", round);
                edit(&mut server, "s", round);
            }
            // A whole document (sent to a peer that has nothing) is never taken apart.
            let Some(parsed) = crate::chunks::verified(msg.changes.iter()).unwrap().changes else {
                server.receive_sync_message(&mut ss, msg).unwrap();
                continue;
            };
            let fresh: Vec<automerge::Change> = parsed
                .into_iter()
                .filter(|c| server.get_change_meta_by_hash(&c.hash()).is_none())
                .collect();
            let before = server.get_heads();
            let predicted = super::heads_with(&server, &before, &fresh);
            let mut slow_doc = server.clone();
            let mut slow = ss.clone();
            slow_doc
                .receive_sync_message(&mut slow, msg.clone())
                .unwrap();
            if !fresh.is_empty() {
                assert_eq!(
                    predicted.as_deref(),
                    Some(&slow_doc.get_heads()[..]),
                    "the heads predicted are the heads automerge reaches"
                );
            }
            if !fresh.is_empty() && predicted == Some(super::sorted(&msg.heads)) {
                let mut fast = ss.clone();
                server.apply_changes(fresh.iter().cloned()).unwrap();
                super::receive_in_sync(&mut fast, msg);
                assert_eq!(server.get_heads(), slow_doc.get_heads());
                same(&fast, &slow);
                taken += 1;
            } else {
                if !fresh.is_empty() {
                    declined += 1;
                }
                server = slow_doc;
            }
            ss = slow;
        }
        assert_eq!(server.get_heads(), client.get_heads());
    }
    assert!(taken > 0, "the fast path's case arose");
    assert!(declined > 0, "a case it must not take arose");
}

/// Histories the sync-state shortcuts are checked on: (server changes, whether the client has
/// a concurrent change of its own).
const HISTORIES: [(u64, bool); 4] = [(1, false), (5, false), (40, true), (300, true)];

fn edit(doc: &mut Automerge, key: &str, v: u64) {
    use automerge::transaction::Transactable;
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, key, v).unwrap();
    tx.commit();
}

/// A server document with `changes` changes, and a client that has nothing or (`concurrent`)
/// a fork of it with a change of its own.
fn server_and_client(changes: u64, concurrent: bool) -> (Automerge, Automerge) {
    let mut server = Automerge::new();
    for i in 0..changes {
        edit(&mut server, "n", i);
    }
    let client = if concurrent {
        let mut c = server.fork();
        edit(&mut c, "theirs", 1);
        c
    } else {
        Automerge::new()
    };
    (server, client)
}

fn same(a: &automerge::sync::State, b: &automerge::sync::State) {
    assert_eq!(a.shared_heads, b.shared_heads, "shared_heads");
    assert_eq!(a.last_sent_heads, b.last_sent_heads, "last_sent_heads");
    assert_eq!(a.their_heads, b.their_heads, "their_heads");
    assert_eq!(a.their_need, b.their_need, "their_need");
    assert_eq!(
        a.their_have.as_ref().map(|h| h.len()),
        b.their_have.as_ref().map(|h| h.len()),
        "their_have"
    );
    assert_eq!(a.sent_hashes, b.sent_hashes, "sent_hashes");
    assert_eq!(a.in_flight, b.in_flight, "in_flight");
    assert_eq!(a.have_responded, b.have_responded, "have_responded");
    assert_eq!(
        a.their_capabilities, b.their_capabilities,
        "their_capabilities"
    );
    assert_eq!(a.peer_read_only, b.peer_read_only, "peer_read_only");
    assert_eq!(a.read_only, b.read_only, "read_only");
    assert_eq!(a.needs_reset, b.needs_reset, "needs_reset");
}

/// Changes made on a user's behalf on the server: stored before anyone is sent them, answered
/// only once stored; refused whole when they break the schema or use another user's actor.
#[test]
fn changes_applied_on_a_users_behalf_are_checked_persisted_then_broadcast() {
    let mut base = AutoCommit::new();
    base.put(ROOT, "title", "register").unwrap();
    let doc = Automerge::load(&base.save()).unwrap();
    let mut room = Room::new(
        "server".into(),
        "doc".into(),
        doc,
        [(ActorId::from(&[9u8; 16][..]), [9u8; 16])],
    )
    .with_validator(Box::new(
        |d: &Automerge, _: &[automerge::ChangeHash], _: &[automerge::Change]| match d
            .get(ROOT, "title")
        {
            Ok(Some((v, _))) if v.as_str().is_some() => Ok(()),
            _ => Err("title: must be text".into()),
        },
    ));
    room.handle(Input::Join {
        conn: 1,
        peer_id: "reader".into(),
        user: [2; 16],
        edit: Edit::None,
    });
    let saved = base.save();
    let base_heads = base.get_heads();
    let change = |actor: u8, title: automerge::ScalarValue| {
        let mut d = AutoCommit::load(&saved)
            .unwrap()
            .with_actor(ActorId::from(&[actor; 16][..]));
        d.put(ROOT, "title", title).unwrap();
        d.save_after(&base_heads)
    };
    let user = [7u8; 16];

    // Invalid content: refused at once, nothing applied or stored.
    let heads = room.document().get_heads();
    let out = room.handle(Input::Apply {
        request: 1,
        user,
        changes: change(7, 42.into()),
    });
    assert!(
        matches!(&out[..], [Effect::Applied { request: 1, result: Err(crate::Refusal::Schema(why)) }] if why.contains("title: must be text")),
        "{out:?}"
    );
    assert_eq!(room.document().get_heads(), heads);

    // Another user's actor: refused.
    let out = room.handle(Input::Apply {
        request: 2,
        user,
        changes: change(9, "stolen".into()),
    });
    assert!(
        matches!(
            &out[..],
            [Effect::Applied {
                request: 2,
                result: Err(crate::Refusal::ForeignActor)
            }]
        ),
        "{out:?}"
    );

    // Valid: persisted first, answered and broadcast only after storage confirms.
    let out = room.handle(Input::Apply {
        request: 3,
        user,
        changes: change(7, "Partnership register".into()),
    });
    let [Effect::Persist { batch, actors, .. }] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(actors, &[(ActorId::from(&[7u8; 16][..]), user)]);
    assert!(
        !out.iter()
            .any(|e| matches!(e, Effect::Send { .. } | Effect::Applied { .. }))
    );
    let out = room.handle(Input::Persisted {
        batch: *batch,
        ok: true,
    });
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Applied {
            request: 3,
            result: Ok(())
        }
    )));
    assert!(
        out.iter()
            .any(|e| matches!(e, Effect::Send { conn: 1, .. }))
    );
    assert_eq!(
        room.document()
            .get(ROOT, "title")
            .unwrap()
            .unwrap()
            .0
            .to_string(),
        "\"Partnership register\""
    );

    // Storage refuses: the request is told, the document goes back.
    let heads = room.document().get_heads();
    let out = room.handle(Input::Apply {
        request: 4,
        user,
        changes: {
            let mut d = AutoCommit::load(&room.document().save())
                .unwrap()
                .with_actor(ActorId::from(&[7u8; 16][..]));
            d.put(ROOT, "title", "again").unwrap();
            d.save_after(&heads)
        },
    });
    let [Effect::Persist { batch, .. }] = &out[..] else {
        panic!("{out:?}")
    };
    let out = room.handle(Input::Persisted {
        batch: *batch,
        ok: false,
    });
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Applied {
            request: 4,
            result: Err(_)
        }
    )));
    assert_eq!(room.document().get_heads(), heads);
}

#[test]
fn the_validator_learns_the_document_once_before_any_change() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let mut base = AutoCommit::new();
    base.put(ROOT, "title", "register").unwrap();
    let doc = Automerge::load(&base.save()).unwrap();
    let heads = doc.get_heads();
    let mut room = Room::new("server".into(), "doc".into(), doc, []).with_validator(Box::new(
        move |d: &Automerge, before: &[automerge::ChangeHash], _: &[automerge::Change]| {
            assert_eq!(
                before,
                d.get_heads(),
                "shown the document as it is, with no change"
            );
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(())
        },
    ));
    assert!(room.prepare());
    assert!(!room.prepare(), "once per room");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(room.document().get_heads(), heads);
}
