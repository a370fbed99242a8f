//! Where a room's time goes on a long document: the costs of one edit's server-side steps on a
//! document with 20 000 changes of history (`cargo run --release -p bench --example room_cost`).

use std::time::Instant;

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Exchanges sync messages between two documents until both are quiet.
fn settle(
    a: &mut Automerge,
    sa: &mut sync::State,
    b: &mut Automerge,
    sb: &mut sync::State,
) -> Result<()> {
    for _ in 0..10 {
        if let Some(m) = a.generate_sync_message(sa) {
            b.receive_sync_message(sb, m)?;
        }
        if let Some(m) = b.generate_sync_message(sb) {
            a.receive_sync_message(sa, m)?;
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    // Memory of a small loaded document (an idle connection's room holds one).
    let mut small = Automerge::new();
    {
        let mut tx = small.transaction();
        tx.put(ROOT, "schema", "concordat/risk-register")?;
        tx.put(ROOT, "schemaVersion", 1_u64)?;
        tx.put_object(ROOT, "risks", automerge::ObjType::List)?;
        tx.put_object(ROOT, "actions", automerge::ObjType::List)?;
        tx.commit();
    }
    let bytes = small.save();
    let before = rss_kb();
    let docs: Vec<Automerge> = (0..5000)
        .map(|_| Automerge::load(&bytes))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    println!(
        "a small loaded document ({} bytes saved): {:.1} KB resident each",
        bytes.len(),
        (rss_kb() - before) as f64 / docs.len() as f64
    );
    drop(docs);

    let n = 20_000;
    let mut doc = Automerge::new();
    for i in 0..n {
        let mut tx = doc.transaction();
        tx.put(ROOT, "n", i as u64)?;
        tx.commit();
    }
    let saved = doc.save();
    let t = Instant::now();
    let mut server = Automerge::load(&saved)?;
    println!(
        "load {n}-change snapshot ({} bytes): {:?}",
        saved.len(),
        t.elapsed()
    );
    let t = Instant::now();
    let _ = Automerge::load_with_options(
        &saved,
        automerge::LoadOptions::new()
            .verification_mode(automerge::VerificationMode::DontCheck)
            .on_partial_load(automerge::OnPartialLoad::Error),
    )?;
    println!(
        "  the same without re-hashing (checksummed storage): {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    ::sync::chunks::verify([saved.as_slice()])?;
    println!("  chunk verification of it: {:?}", t.elapsed());

    // A cold join as the room serves it: a new peer's state, the room's first message to it
    // (it has spoken only its join), then its request (it has nothing), answered.
    {
        let mut joiner = Automerge::new();
        let (mut sj, mut js) = (sync::State::new(), sync::State::new());
        let t = Instant::now();
        let first = server.generate_sync_message(&mut sj);
        let first_took = t.elapsed();
        let request = joiner
            .generate_sync_message(&mut js)
            .ok_or("a new peer asks")?;
        let t = Instant::now();
        server.receive_sync_message(&mut sj, request)?;
        let recv_took = t.elapsed();
        let t = Instant::now();
        let answer = server
            .generate_sync_message(&mut sj)
            .ok_or("the room answers")?;
        let answer_took = t.elapsed();
        let bytes = answer.clone().encode().len();
        let t = Instant::now();
        joiner.receive_sync_message(&mut js, answer)?;
        let apply_took = t.elapsed();
        println!("cold join of the {n}-change document, server side:");
        println!(
            "  first message to a peer that has only joined: {first_took:?} ({})",
            if first.is_some() { "sent" } else { "none" }
        );
        println!("  receive its request (it has nothing):          {recv_took:?}");
        println!(
            "  generate the answer (the whole document):      {answer_took:?} ({bytes} bytes)"
        );
        println!("  the joiner applying it (client side):          {apply_took:?}");
        println!("  (the stored snapshot is {} bytes)", saved.len());
    }

    // Server and one client in sync, and a second peer (a reader) for the acknowledgement cost.

    let mut client = server.fork();
    let (mut ss, mut cs) = (sync::State::new(), sync::State::new());
    settle(&mut server, &mut ss, &mut client, &mut cs)?;
    let mut reader = server.fork();
    let (mut sr, mut rs) = (sync::State::new(), sync::State::new());
    settle(&mut server, &mut sr, &mut reader, &mut rs)?;

    let rounds = 20;
    let mut recv = std::time::Duration::ZERO;
    let mut changes_since = std::time::Duration::ZERO;
    let mut gen_reader = std::time::Duration::ZERO;
    let mut ack = std::time::Duration::ZERO;
    let mut heads = std::time::Duration::ZERO;
    for i in 0..rounds {
        let mut tx = client.transaction();
        tx.put(ROOT, "n", (n + i) as u64)?;
        tx.commit();
        let m = client
            .generate_sync_message(&mut cs)
            .ok_or("the client has a change to send")?;
        let t = Instant::now();
        let before = server.get_heads();
        heads += t.elapsed();
        let t = Instant::now();
        server.receive_sync_message(&mut ss, m)?;
        recv += t.elapsed();
        let t = Instant::now();
        let new = server.get_changes(&before);
        changes_since += t.elapsed();
        assert_eq!(new.len(), 1);
        let t = Instant::now();
        let to_reader = server
            .generate_sync_message(&mut sr)
            .ok_or("the server has a change for the reader")?;
        gen_reader += t.elapsed();
        reader.receive_sync_message(&mut rs, to_reader)?;
        let back = reader
            .generate_sync_message(&mut rs)
            .ok_or("the reader acknowledges")?;
        let t = Instant::now();
        server.receive_sync_message(&mut sr, back)?;
        ack += t.elapsed();
        if let Some(m) = server.generate_sync_message(&mut ss) {
            client.receive_sync_message(&mut cs, m)?;
        }
    }
    let per = |d: std::time::Duration| d / rounds as u32;
    println!("per edit, on a {n}-change document:");
    println!("  get_heads:                      {:?}", per(heads));
    println!("  receive the writer's change:    {:?}", per(recv));
    println!("  get_changes(heads before):      {:?}", per(changes_since));
    println!("  generate for one reader:        {:?}", per(gen_reader));
    println!("  receive one reader's ack:       {:?}", per(ack));
    let t = Instant::now();
    let _ = server.save();
    println!("save (compaction): {:?}", t.elapsed());
    Ok(())
}
