//! Durability: the real server process is killed with SIGKILL at random moments while two
//! clients edit; after each restart every change any client was sent by the server must be in
//! storage. On both backends. And backups: `concordat backup` copies a SQLite database while
//! councils edit it, and PostgreSQL's own route (pg_dump, pg_restore); each restores every
//! document with equal heads, and a server starts on the restored database.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::ChangeHash;
use automerge::sync::{self as am_sync, SyncDoc};
use sqlx::Connection;
use sync::codec::Message;
use tests::ws::{Heard, Replica, SyncClient};
use tests::{Backend, TestDb, on_both_backends};

pub(crate) fn binary() -> PathBuf {
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

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `concordat serve` on `db`, listening on `port` (output not captured: set it).
pub(crate) fn serve_command(db: &TestDb, port: u16) -> Command {
    let mut c = Command::new(binary());
    c.arg("serve")
        .env("CONCORDAT_DATABASE_URL", &db.url)
        .env("CONCORDAT_MIGRATE_DATABASE_URL", &db.owner_url)
        .env("CONCORDAT_SYSTEM_DATABASE_URL", db.system_url())
        .env("CONCORDAT_LISTEN", format!("127.0.0.1:{port}"))
        .env("CONCORDAT_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("CONCORDAT_JWT_SECRET", tests::JWT_SECRET)
        .env("CONCORDAT_LOG", "warn")
        .stdout(Stdio::null());
    c
}

fn spawn(db: &TestDb, port: u16) -> Child {
    serve_command(db, port)
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Hashes of the changes in a server sync message.
pub(crate) fn hashes_in(data: &[u8]) -> Vec<ChangeHash> {
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
    c: SyncClient,
    r: Replica,
    seen: Arc<Mutex<HashSet<ChangeHash>>>,
    tag: &str,
) -> Replica {
    edit_until(c, r, seen, tag, &AtomicBool::new(false)).await.0
}

/// Edits and syncs until the connection drops or `stop` is set; records every change the
/// server sent. Returns the replica, and the connection if it is still open.
pub(crate) async fn edit_until(
    mut c: SyncClient,
    mut r: Replica,
    seen: Arc<Mutex<HashSet<ChangeHash>>>,
    tag: &str,
    stop: &AtomicBool,
) -> (Replica, Option<SyncClient>) {
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
                Heard::Closed(..) => return (r, None),
                _ if tokio::time::Instant::now() > deadline => return (r, None),
                _ => {}
            }
        }
        let heard = r.settle_within(&mut c, Duration::from_millis(50)).await;
        if r.doc.get_heads().is_empty() || heard.iter().any(|h| matches!(h, Heard::Closed(..))) {
            return (r, None);
        }
    } else {
        r.push(&mut c, false).await;
    }
    let mut n = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return (r, Some(c));
        }
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
            Heard::Closed(..) => return (r, None),
            _ => {}
        }
    }
}

async fn sigkill_loses_nothing_that_was_broadcast(backend: Backend) {
    let db = TestDb::new(backend).await;
    let doc = seeded_register(&db).await;
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
pub(crate) struct TestServerAt(pub(crate) String);

impl TestServerAt {
    pub(crate) async fn ready(&self) {
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

    pub(crate) async fn login(&self, email: &str) -> String {
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

    pub(crate) async fn sync_client(&self, token: &str, peer: &str) -> SyncClient {
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

/// The shared register of a freshly seeded demo database, by id.
pub(crate) async fn seeded_register(db: &TestDb) -> String {
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
}

/// Runs `concordat backup --to <to>` against `url`; its exit status and what it printed.
fn backup(url: &str, to: &Path) -> (bool, String) {
    let out = Command::new(binary())
        .arg("backup")
        .arg("--to")
        .arg(to)
        .env("CONCORDAT_DATABASE_URL", url)
        .env("CONCORDAT_JWT_SECRET", tests::JWT_SECRET)
        .env("CONCORDAT_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Every document of the SQLite database at `path` with its heads, loaded through the store
/// (each chunk's checksum verified); and the file's own integrity check.
async fn documents_at(path: &Path) -> (Vec<(String, Vec<ChangeHash>)>, String) {
    let url = format!("sqlite:{}", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let integrity: String = sqlx::query_scalar("pragma integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut ids: Vec<String> = sqlx::query_scalar("select id from documents")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    ids.sort();
    let store = store::SqliteStore::open(&store::SqliteOptions {
        url,
        max_readers: 1,
    })
    .await
    .unwrap();
    let mut docs = Vec::new();
    for id in ids {
        let mut heads = tests::stored_document(&store, &id).await.get_heads();
        heads.sort();
        docs.push((id, heads));
    }
    (docs, integrity)
}

/// `concordat backup` copies a SQLite database while two councils edit it: each copy taken
/// mid-edit is whole (integrity check, every document loads with its checksums); a copy never
/// overwrites a file; the copy taken once editing stops has every document with the live
/// database's heads, and a server started on it serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_sqlite_backup_restores_every_document_with_equal_heads() {
    let db = TestDb::new(Backend::Sqlite).await;
    let doc = seeded_register(&db).await;
    let dir = std::env::temp_dir().join(format!("concordat-backup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mut child = spawn(&db, port);
    let live = TestServerAt(format!("http://127.0.0.1:{port}"));
    live.ready().await;
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let mut tasks = Vec::new();
    for (i, email) in ["arun@ashby.gov.uk", "ben@brockley.gov.uk"]
        .iter()
        .enumerate()
    {
        let token = live.login(email).await;
        let c = live.sync_client(&token, &format!("backup-{i}")).await;
        let (r, seen) = (Replica::new(&doc), seen.clone());
        let tag = if i == 0 { "a" } else { "b" };
        tasks.push(tokio::spawn(edit_until_dropped(c, r, seen, tag)));
    }
    for _ in 0..400 {
        if seen.lock().unwrap().len() > 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Copies taken while the edits go on.
    let mut during = Vec::new();
    for i in 0..3 {
        let to = dir.join(format!("during-{i}.db"));
        let (ok, said) = backup(&db.url, &to);
        assert!(ok, "backup {i} while editing: {said}");
        during.push(to);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let growing = seen.lock().unwrap().len();
    // A backup never overwrites a file.
    let (ok, said) = backup(&db.url, &during[0]);
    assert!(!ok, "a backup onto an existing file must fail");
    assert!(said.contains("already exists"), "{said}");
    child.kill().unwrap();
    child.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    for path in &during {
        let (docs, integrity) = documents_at(path).await;
        assert_eq!(integrity, "ok", "{}", path.display());
        assert!(
            docs.len() >= 7,
            "{} documents in {}",
            docs.len(),
            path.display()
        );
    }
    // Once editing has stopped, the copy is the database.
    let after = dir.join("after.db");
    let (ok, said) = backup(&db.url, &after);
    assert!(ok, "{said}");
    let live_path = PathBuf::from(db.url.trim_start_matches("sqlite:"));
    let (live_docs, _) = documents_at(&live_path).await;
    let (copied, integrity) = documents_at(&after).await;
    assert_eq!(integrity, "ok");
    assert_eq!(
        copied, live_docs,
        "every document with the live database's heads"
    );
    let register = copied.iter().find(|(id, _)| *id == doc).unwrap();
    let stored = tests::stored_document(db.store().await.as_ref(), &doc).await;
    let changes = stored.get_changes(&[]).len();
    eprintln!(
        "backup: {} documents; the register has {changes} changes, {growing} seen broadcast while copying",
        copied.len()
    );
    assert!(!register.1.is_empty());
    // Restored: a server started on the copy serves the same documents.
    let restored = TestDb::sqlite_at(&after);
    let port = free_port();
    let mut child = spawn(&restored, port);
    let back = TestServerAt(format!("http://127.0.0.1:{port}"));
    back.ready().await;
    let token = back.login("arun@ashby.gov.uk").await;
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/documents"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let titles = listed["items"].as_array().map(Vec::len).unwrap_or(0);
    assert!(
        titles >= 6,
        "the restored server lists arun's documents: {listed}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    db.drop_db().await;
}

/// Every document's heads, read through the store on the superuser's connection list of ids.
async fn postgres_documents(db: &TestDb) -> Vec<(String, Vec<ChangeHash>)> {
    let admin = tests::postgres_admin_url().await.unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let mut c = sqlx::PgConnection::connect(&format!("{base}/{}", db.name()))
        .await
        .unwrap();
    let mut ids: Vec<String> = sqlx::query_scalar("select id from documents")
        .fetch_all(&mut c)
        .await
        .unwrap();
    let _ = c.close().await;
    ids.sort();
    let store = db.store().await;
    let mut docs = Vec::new();
    for id in ids {
        let mut heads = tests::stored_document(store.as_ref(), &id)
            .await
            .get_heads();
        heads.sort();
        docs.push((id, heads));
    }
    docs
}

/// The README's PostgreSQL route: `pg_dump --format=custom` and `pg_restore` into a new database
/// owned by the owner role, both as a role that bypasses row-level security (the superuser here:
/// as the owner, `FORCE ROW LEVEL SECURITY` makes pg_dump refuse — this test found that); the
/// restored database has every document with equal heads, and Concordat starts on it (its
/// role checks pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_dump_restores_every_document_with_equal_heads() {
    if tests::postgres_admin_url().await.is_none() {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let doc = seeded_register(&db).await;
    // Some live history first, so that incremental chunks are copied too.
    let port = free_port();
    let mut child = spawn(&db, port);
    let live = TestServerAt(format!("http://127.0.0.1:{port}"));
    live.ready().await;
    let token = live.login("arun@ashby.gov.uk").await;
    let c = live.sync_client(&token, "dump-0").await;
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let task = tokio::spawn(edit_until_dropped(c, Replica::new(&doc), seen.clone(), "a"));
    for _ in 0..400 {
        if seen.lock().unwrap().len() > 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    task.await.unwrap();
    let before = postgres_documents(&db).await;

    let admin = tests::postgres_admin_url().await.unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let dump = std::env::temp_dir().join(format!("concordat-{}.dump", db.name()));
    let out = Command::new("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(format!("{base}/{}", db.name()))
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = TestDb::new(Backend::Postgres).await;
    let out = Command::new("pg_restore")
        .args(["--exit-on-error", "--dbname"])
        .arg(format!("{base}/{}", restored.name()))
        .arg(&dump)
        .output()
        .expect("pg_restore runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(&dump);

    let after = postgres_documents(&restored).await;
    assert!(after.len() >= 7, "{} documents", after.len());
    assert_eq!(after, before, "every document with equal heads");
    let port = free_port();
    let mut child = spawn(&restored, port);
    let back = TestServerAt(format!("http://127.0.0.1:{port}"));
    back.ready().await;
    back.login("ben@brockley.gov.uk").await;
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("pg_dump/pg_restore: {} documents, equal heads", after.len());
    restored.drop_db().await;
    db.drop_db().await;
}

on_both_backends!(sigkill_loses_nothing_that_was_broadcast);
