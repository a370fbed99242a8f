//! Durability: the real server process is killed with SIGKILL at random moments while two
//! clients edit; after each restart every change any client was sent by the server must be in
//! storage. On both backends.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::ChangeHash;
use automerge::sync::{self as am_sync, SyncDoc};
use sync::codec::Message;
use tests::ws::{Heard, Replica, SyncClient};
use tests::{Backend, TestDb, on_both_backends};

fn binary() -> PathBuf {
    // target/<profile>/deps/durability-… → target/<profile>/concordat
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("concordat");
    assert!(
        bin.exists(),
        "build the server first: cargo build --bin concordat ({})",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(db: &TestDb, port: u16) -> Child {
    Command::new(binary())
        .arg("serve")
        .env("CONCORDAT_DATABASE_URL", &db.url)
        .env("CONCORDAT_MIGRATE_DATABASE_URL", &db.owner_url)
        .env("CONCORDAT_SYSTEM_DATABASE_URL", db.system_url())
        .env("CONCORDAT_LISTEN", format!("127.0.0.1:{port}"))
        .env("CONCORDAT_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("CONCORDAT_JWT_SECRET", tests::JWT_SECRET)
        .env("CONCORDAT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Hashes of the changes in a server sync message.
fn hashes_in(data: &[u8]) -> Vec<ChangeHash> {
    let m = am_sync::Message::decode(data).unwrap();
    let mut out = Vec::new();
    for piece in m.changes.iter() {
        for (_, bytes) in sync::chunks::split(piece).unwrap() {
            if let Ok(c) = automerge::Change::from_bytes(bytes.to_vec()) {
                out.push(c.hash());
            }
        }
    }
    out
}

/// Edits and syncs until the connection drops; records every change the server sent.
async fn edit_until_dropped(
    mut c: SyncClient,
    mut r: Replica,
    seen: Arc<Mutex<HashSet<ChangeHash>>>,
    tag: &str,
) -> Replica {
    r.state = am_sync::State::new();
    if r.doc.get_heads().is_empty() {
        // Edits go into the register's risks: receive the document first. The room's first
        // answer (it loads the document) can take far longer than the 50 ms quiet that ends a
        // settle on a loaded machine, so wait for it.
        r.push(&mut c, true).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match c.recv_within(Duration::from_millis(200)).await {
                Heard::Msg(Message::Sync { data, .. }) => {
                    let m = am_sync::Message::decode(&data).unwrap();
                    r.doc.sync().receive_sync_message(&mut r.state, m).unwrap();
                    break;
                }
                Heard::Closed(..) => return r,
                _ if tokio::time::Instant::now() > deadline => return r,
                _ => {}
            }
        }
        let heard = r.settle_within(&mut c, Duration::from_millis(50)).await;
        if r.doc.get_heads().is_empty() || heard.iter().any(|h| matches!(h, Heard::Closed(..))) {
            return r;
        }
    } else {
        r.push(&mut c, false).await;
    }
    let mut n = 0u64;
    loop {
        n += 1;
        r.set_risk_text(
            usize::try_from(n % 4).unwrap(),
            "controls",
            &format!("{tag}-{n}"),
        );
        r.push(&mut c, false).await;
        match c.recv_within(Duration::from_millis(5)).await {
            Heard::Msg(Message::Sync { data, .. }) => {
                seen.lock().unwrap().extend(hashes_in(&data));
                let m = am_sync::Message::decode(&data).unwrap();
                r.doc.sync().receive_sync_message(&mut r.state, m).unwrap();
                r.push(&mut c, false).await;
            }
            Heard::Closed(..) => return r,
            _ => {}
        }
    }
}

async fn sigkill_loses_nothing_that_was_broadcast(backend: Backend) {
    let db = TestDb::new(backend).await;
    let doc = {
        let store = db.store().await;
        server::demo::seed(store.as_ref()).await.unwrap();
        let p = tests::principal(store.as_ref(), "arun@ashby.gov.uk").await;
        let docs = store
            .list_documents(&p, &Default::default(), None, 100, store::now_millis())
            .await
            .unwrap();
        docs.into_iter()
            .find(|d| d.document.title.starts_with("Shared services"))
            .unwrap()
            .document
            .id
            .to_string()
    };
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let mut replicas = [Replica::new(&doc), Replica::new(&doc)];
    let runs = 5;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for run in 0..runs {
        let port = free_port();
        let mut child = spawn(&db, port);
        let probe = TestServerAt(format!("http://127.0.0.1:{port}"));
        probe.ready().await;
        let arun = probe.login("arun@ashby.gov.uk").await;
        let ben = probe.login("ben@brockley.gov.uk").await;
        let mut tasks = Vec::new();
        for (i, token) in [arun, ben].into_iter().enumerate() {
            let c = probe
                .sync_client(&token, &format!("durable-{run}-{i}"))
                .await;
            let r = std::mem::replace(&mut replicas[i], Replica::new(&doc));
            let seen = seen.clone();
            tasks.push(tokio::spawn(async move {
                edit_until_dropped(c, r, seen, if i == 0 { "a" } else { "b" }).await
            }));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // The kill comes at a random moment once editing is under way: on a loaded machine a
        // debug server can take longer than the random delay just to accept the clients.
        let before = seen.lock().unwrap().len();
        for _ in 0..400 {
            if seen.lock().unwrap().len() > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(150 + seed % 450)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for (i, t) in tasks.into_iter().enumerate() {
            replicas[i] = t.await.unwrap();
        }
    }
    // Everything any client was sent is stored.
    let store = db.store().await;
    let stored = tests::stored_document(store.as_ref(), &doc).await;
    let stored: HashSet<ChangeHash> = stored.get_changes(&[]).iter().map(|c| c.hash()).collect();
    let seen = seen.lock().unwrap().clone();
    let lost: Vec<_> = seen.difference(&stored).collect();
    eprintln!(
        "{backend:?}: {runs} SIGKILL runs, {} changes seen broadcast, {} lost",
        seen.len(),
        lost.len()
    );
    assert!(
        seen.len() > 10,
        "the clients exchanged changes ({})",
        seen.len()
    );
    assert!(lost.is_empty(), "{} broadcast changes lost", lost.len());
    drop(store);
    db.drop_db().await;
}

/// A server started out of process, reached over HTTP.
struct TestServerAt(String);

impl TestServerAt {
    async fn ready(&self) {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{}/readyz", self.0)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become ready");
    }

    async fn login(&self, email: &str) -> String {
        let r: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/api/auth/login", self.0))
            .json(&serde_json::json!({"email": email, "password": server::demo::DEMO_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["access_token"].as_str().unwrap().to_owned()
    }

    async fn sync_client(&self, token: &str, peer: &str) -> SyncClient {
        let r: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/api/sync/ticket", self.0))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ws = SyncClient::open(r["url"].as_str().unwrap()).await.unwrap();
        let mut c = SyncClient::from_ws(ws, peer);
        c.send(&Message::Join {
            sender_id: peer.into(),
            supported_protocol_versions: vec!["1".into()],
            peer_metadata: None,
        })
        .await;
        match c.recv().await {
            Heard::Msg(Message::Peer { sender_id, .. }) => c.server_peer = sender_id,
            other => panic!("{other:?}"),
        }
        c
    }
}

on_both_backends!(sigkill_loses_nothing_that_was_broadcast);
