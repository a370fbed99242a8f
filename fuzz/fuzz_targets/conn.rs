//! The connection protocol: any bytes, split into frames, from a peer that has joined (or not).
//! No panic; nothing reaches a room for a document the policy denies or before a join, and
//! nothing at all after a close.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sync::conn::{ConnLimits, Connection, Effect, Input, ToRoom};
use sync::room::Edit;

fn canonical(named: &str) -> Option<String> {
    let id = named.strip_prefix("automerge:").unwrap_or(named);
    (!id.is_empty() && id.len() < 64).then(|| id.to_owned())
}

fuzz_target!(|data: &[u8]| {
    let limits = ConnLimits { max_ephemeral_bytes: 64, ephemeral_per_sec: 5, messages_per_sec: 50, handshake_ms: 1000 };
    let mut conn: Connection<()> = Connection::new("server".into(), limits, canonical, 0);
    let mut joined: std::collections::HashSet<String> = Default::default();
    let mut closed = false;
    // A join first (as a real client would) when the input asks for it, then its frames: each
    // a length byte and that many bytes.
    let mut frames: Vec<Vec<u8>> = Vec::new();
    if data.first().is_some_and(|b| b & 1 == 1) {
        frames.push(sync::codec::encode(&sync::codec::Message::Join {
            sender_id: "peer".into(),
            supported_protocol_versions: vec!["1".into()],
            peer_metadata: None,
        }));
    }
    let mut rest = data.get(1..).unwrap_or_default();
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        frames.push(tail[..n].to_vec());
        rest = &tail[n..];
    }
    for (i, frame) in frames.into_iter().enumerate() {
        let mut queue: std::collections::VecDeque<Effect> =
            conn.handle(Input::Frame { data: frame, now_ms: i as u64 }).into();
        while let Some(e) = queue.pop_front() {
            assert!(!closed, "an effect after the close: {e:?}");
            match e {
                Effect::Claim { .. } => queue.extend(conn.handle(Input::Claimed { ok: true })),
                Effect::Authorise { document } => {
                    // Documents starting with "x" are denied.
                    let grant = (!document.starts_with('x')).then_some((Edit::All, ()));
                    queue.extend(conn.handle(Input::Decided { document, grant }));
                }
                Effect::Room { document, input } => {
                    assert!(!document.starts_with('x'), "a denied document reached a room");
                    match input {
                        ToRoom::Join { .. } => assert!(joined.insert(document)),
                        _ => assert!(joined.contains(&document), "before a join"),
                    }
                }
                Effect::Close { .. } => closed = true,
                Effect::Send(_) | Effect::Pause { .. } => {}
            }
        }
    }
});
