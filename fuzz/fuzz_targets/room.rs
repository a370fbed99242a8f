//! The message handler: a room with a writer and a reader receives arbitrary bytes as sync
//! messages (and as the tail of a valid change). No panic; the reader never changes the
//! document; a refused message leaves the heads as they were.
#![no_main]

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ROOT};
use libfuzzer_sys::fuzz_target;
use sync::room::{Edit, Effect, Input, Room};

fuzz_target!(|data: &[u8]| {
    let mut base = AutoCommit::new();
    base.put(ROOT, "title", "register").expect("put");
    let doc = Automerge::load(&base.save()).expect("load");
    let mut room = Room::new("server".into(), "doc".into(), doc, []);
    room.handle(Input::Join { conn: 1, peer_id: "writer".into(), user: [1; 16], edit: Edit::All });
    room.handle(Input::Join { conn: 2, peer_id: "reader".into(), user: [2; 16], edit: Edit::None });
    let heads = room.document().get_heads();

    // The reader's bytes never change anything.
    let effects = room.handle(Input::Sync { conn: 2, data: data.to_vec() });
    assert_eq!(room.document().get_heads(), heads);
    assert!(!effects.iter().any(|e| matches!(e, Effect::Persist { .. })));

    // The writer's: either refused with heads unchanged, or accepted and sent to storage.
    let effects = room.handle(Input::Sync { conn: 1, data: data.to_vec() });
    let refused = effects.iter().any(|e| matches!(e, Effect::Close { conn: 1, .. }));
    if refused {
        assert_eq!(room.document().get_heads(), heads);
    }
    for e in effects {
        if let Effect::Persist { batch, .. } = e {
            room.handle(Input::Persisted { batch, ok: true });
        }
    }
});
