//! Where a room's time goes on a long document: the costs of one edit's server-side steps on a
//! document with 20 000 changes of history (`cargo run --release -p bench --example room_cost`).

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    // Memory of a small loaded document (an idle connection's room holds one).
    let mut small = Automerge::new();
    {
        let mut tx = small.transaction();
        tx.put(ROOT, "schema", "concordat/risk-register").unwrap();
        tx.put(ROOT, "schemaVersion", 1_u64).unwrap();
        tx.put_object(ROOT, "risks", automerge::ObjType::List)
            .unwrap();
        tx.put_object(ROOT, "actions", automerge::ObjType::List)
            .unwrap();
        tx.commit();
    }
    let bytes = small.save();
    let before = rss_kb();
    let docs: Vec<Automerge> = (0..5000)
        .map(|_| Automerge::load(&bytes).unwrap())
        .collect();
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
        tx.put(ROOT, "n", i as u64).unwrap();
        tx.commit();
    }
    let saved = doc.save();
    let t = Instant::now();
    let server = Automerge::load(&saved).unwrap();
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
    )
    .unwrap();
    println!(
        "  the same without re-hashing (checksummed storage): {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    ::sync::chunks::verify([saved.as_slice()]).unwrap();
    println!("  chunk verification of it: {:?}", t.elapsed());

    // Server and one client in sync.
    let mut server = server;
    let mut client = server.fork();
    let (mut ss, mut cs) = (sync::State::new(), sync::State::new());
    for _ in 0..10 {
        if let Some(m) = server.generate_sync_message(&mut ss) {
            client.receive_sync_message(&mut cs, m).unwrap();
        }
        if let Some(m) = client.generate_sync_message(&mut cs) {
            server.receive_sync_message(&mut ss, m).unwrap();
        }
    }
    // A second peer, also in sync, for the acknowledgement cost.
    let mut reader = server.fork();
    let (mut sr, mut rs) = (sync::State::new(), sync::State::new());
    for _ in 0..10 {
        if let Some(m) = server.generate_sync_message(&mut sr) {
            reader.receive_sync_message(&mut rs, m).unwrap();
        }
        if let Some(m) = reader.generate_sync_message(&mut rs) {
            server.receive_sync_message(&mut sr, m).unwrap();
        }
    }

    let rounds = 20;
    let mut recv = std::time::Duration::ZERO;
    let mut changes_since = std::time::Duration::ZERO;
    let mut gen_reader = std::time::Duration::ZERO;
    let mut ack = std::time::Duration::ZERO;
    let mut heads = std::time::Duration::ZERO;
    for i in 0..rounds {
        let mut tx = client.transaction();
        tx.put(ROOT, "n", (n + i) as u64).unwrap();
        tx.commit();
        let m = client.generate_sync_message(&mut cs).unwrap();
        let t = Instant::now();
        let before = server.get_heads();
        heads += t.elapsed();
        let t = Instant::now();
        server.receive_sync_message(&mut ss, m).unwrap();
        recv += t.elapsed();
        let t = Instant::now();
        let new = server.get_changes(&before);
        changes_since += t.elapsed();
        assert_eq!(new.len(), 1);
        let t = Instant::now();
        let to_reader = server.generate_sync_message(&mut sr).unwrap();
        gen_reader += t.elapsed();
        reader.receive_sync_message(&mut rs, to_reader).unwrap();
        let back = reader.generate_sync_message(&mut rs).unwrap();
        let t = Instant::now();
        server.receive_sync_message(&mut sr, back).unwrap();
        ack += t.elapsed();
        if let Some(m) = server.generate_sync_message(&mut ss) {
            client.receive_sync_message(&mut cs, m).unwrap();
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
}
