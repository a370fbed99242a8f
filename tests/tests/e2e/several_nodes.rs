//! Several server nodes on one PostgreSQL: two real `concordat serve` processes on one
//! database. A change committed through one reaches peers on the other live; tickets, peer-id
//! claims, revocations and session ends work across them; the unmodified JS client on each
//! converges with equal heads; a node killed with SIGKILL mid-edit loses nothing it broadcast,
//! and its clients carry on through the other. PostgreSQL only: SQLite serves one node.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::ChangeHash;
use serde_json::Value;
use sync::codec::Message;
use tests::ws::{Heard, Replica, SyncClient};
use tests::{Backend, TestDb, js_client_installed, js_dir};

use crate::documents_rest::{SHARED_REGISTER, SLA};
use crate::durability::{TestServerAt, binary, edit_until, free_port};

/// One server process of the deployment.
struct Node {
    at: TestServerAt,
    child: Child,
}

impl Node {
    async fn start(db: &TestDb, name: &str) -> Node {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let child = Command::new(binary())
            .arg("serve")
            .env("CONCORDAT_DATABASE_URL", &db.url)
            .env("CONCORDAT_MIGRATE_DATABASE_URL", &db.owner_url)
            .env("CONCORDAT_SYSTEM_DATABASE_URL", db.system_url())
            .env("CONCORDAT_LISTEN", format!("127.0.0.1:{port}"))
            .env("CONCORDAT_PUBLIC_URL", &base)
            .env("CONCORDAT_JWT_SECRET", tests::JWT_SECRET)
            .env("CONCORDAT_NODE_NAME", name)
            .env(
                "CONCORDAT_LOG",
                std::env::var("NODES_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(match std::env::var("NODES_LOG_DIR") {
                Ok(dir) => Stdio::from(std::fs::File::create(format!("{dir}/{name}.log")).unwrap()),
                Err(_) => Stdio::inherit(),
            })
            .spawn()
            .unwrap();
        let at = TestServerAt(base);
        at.ready().await;
        Node { at, child }
    }

    fn base(&self) -> &str {
        &self.at.0
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
        let r = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn doc_id(&self, token: &str, title: &str) -> String {
        let (status, body) = self
            .call(reqwest::Method::GET, "/api/documents?limit=200", token)
            .await;
        assert_eq!(status, 200, "{body}");
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["title"] == title)
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{title} not visible"))
    }

    async fn ticket_url(&self, token: &str) -> String {
        let (status, body) = self
            .call(reqwest::Method::POST, "/api/sync/ticket", token)
            .await;
        assert_eq!(status, 200, "{body}");
        body["url"].as_str().unwrap().to_owned()
    }

    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh PostgreSQL database holding the demo, and two nodes on it.
async fn two_nodes() -> (TestDb, Node, Node) {
    let db = TestDb::new(Backend::Postgres).await;
    crate::durability::seeded_register(&db).await;
    let a = Node::start(&db, "node-a").await;
    let b = Node::start(&db, "node-b").await;
    (db, a, b)
}

/// Syncs `r` over `c` until `done` holds of it, or fails after 15 s.
async fn settle_until(
    r: &mut Replica,
    c: &mut SyncClient,
    what: &str,
    done: impl Fn(&mut Replica) -> bool,
) {
    for _ in 0..150 {
        if done(r) {
            return;
        }
        let heard = r.settle_within(c, Duration::from_millis(100)).await;
        assert!(
            !heard.iter().any(|h| matches!(h, Heard::Closed(..))),
            "closed while waiting for {what}: {heard:?}"
        );
    }
    panic!("timed out waiting for {what}");
}

/// Syncs both replicas until they hold the same heads (or fails after 15 s).
async fn converge(pairs: &mut [(&mut Replica, &mut SyncClient)]) -> Vec<ChangeHash> {
    for _ in 0..100 {
        for (r, c) in pairs.iter_mut() {
            r.settle_within(c, Duration::from_millis(100)).await;
        }
        let heads: Vec<Vec<ChangeHash>> =
            pairs.iter_mut().map(|(r, _)| r.doc.get_heads()).collect();
        if heads.windows(2).all(|w| w[0] == w[1]) {
            return heads[0].clone();
        }
    }
    panic!("replicas on different nodes did not converge");
}

async fn stored_heads(db: &TestDb, doc: &str) -> Vec<ChangeHash> {
    let store = db.store().await;
    tests::stored_document(store.as_ref(), doc)
        .await
        .get_heads()
}

async fn edits_and_access_cross_nodes() {
    let (db, a, b) = two_nodes().await;
    let arun = a.at.login("arun@ashby.gov.uk").await;
    let ben = b.at.login("ben@brockley.gov.uk").await;
    let doc = a.doc_id(&arun, SHARED_REGISTER).await;

    // Arun on node A, Ben on node B, one register.
    let mut ca = a.at.sync_client(&arun, "arun-on-a").await;
    let mut cb = b.at.sync_client(&ben, "ben-on-b").await;
    let mut ra = Replica::new(&doc);
    let mut rb = Replica::new(&doc);
    settle_until(&mut ra, &mut ca, "the register on A", |r: &mut Replica| {
        !r.doc.get_heads().is_empty()
    })
    .await;
    settle_until(&mut rb, &mut cb, "the register on B", |r: &mut Replica| {
        !r.doc.get_heads().is_empty()
    })
    .await;

    // A change through A reaches B's peer live, and back.
    ra.set_risk_text(0, "controls", "agreed through node A");
    ra.push(&mut ca, false).await;
    settle_until(&mut rb, &mut cb, "A's edit on B", |r| {
        r.risk_text(0, "controls").as_deref() == Some("agreed through node A")
    })
    .await;
    rb.set_risk_text(1, "controls", "agreed through node B");
    rb.push(&mut cb, false).await;
    settle_until(&mut ra, &mut ca, "B's edit on A", |r| {
        r.risk_text(1, "controls").as_deref() == Some("agreed through node B")
    })
    .await;

    // Concurrent edits through both nodes, without waiting: equal heads everywhere after.
    for n in 0..20 {
        ra.set_risk_text(2, "controls", &format!("a-{n}"));
        ra.push(&mut ca, false).await;
        rb.set_risk_text(3, "controls", &format!("b-{n}"));
        rb.push(&mut cb, false).await;
    }
    let heads = converge(&mut [(&mut ra, &mut ca), (&mut rb, &mut cb)]).await;
    assert_eq!(ra.risk_text(3, "controls").as_deref(), Some("b-19"));
    assert_eq!(rb.risk_text(2, "controls").as_deref(), Some("a-19"));
    assert_eq!(
        stored_heads(&db, &doc).await,
        heads,
        "storage holds what both hold"
    );

    // A ticket issued by A opens a socket on B, once: spent there, refused on A after.
    let url = a.ticket_url(&arun).await;
    let ticket = url.split("ticket=").nth(1).unwrap().to_owned();
    let on_b = format!(
        "{}/sync?ticket={ticket}",
        b.base().replacen("http", "ws", 1)
    );
    let on_a = format!(
        "{}/sync?ticket={ticket}",
        a.base().replacen("http", "ws", 1)
    );
    assert!(SyncClient::open(&on_b).await.is_ok(), "A's ticket opens B");
    assert!(
        SyncClient::open(&on_a).await.is_err(),
        "and is spent on every node"
    );

    // A peer id Arun holds on A cannot be claimed by Ben on B.
    let ws = SyncClient::open(&b.ticket_url(&ben).await).await.unwrap();
    let mut thief = SyncClient::from_ws(ws, "arun-on-a");
    thief
        .send(&Message::Join {
            sender_id: "arun-on-a".into(),
            supported_protocol_versions: vec!["1".into()],
            peer_metadata: None,
        })
        .await;
    match thief.recv().await {
        Heard::Msg(Message::Error { message, .. }) => {
            assert!(message.contains("another user"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(thief.closed().await, Some(1008));

    // A grant revoked through A cuts the guest's socket on B.
    let alice = a.at.login("alice@ashby.gov.uk").await;
    let grace = b.at.login("grace@riverside.org.uk").await;
    let sla = a.doc_id(&alice, SLA).await;
    let mut cg = b.at.sync_client(&grace, "grace-on-b").await;
    let mut rg = Replica::new(&sla);
    settle_until(&mut rg, &mut cg, "the SLA on B", |r: &mut Replica| {
        !r.doc.get_heads().is_empty()
    })
    .await;
    let (_, grants) = a
        .call(
            reqwest::Method::GET,
            &format!("/api/documents/{sla}/grants"),
            &alice,
        )
        .await;
    let gid = grants[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = a
        .call(
            reqwest::Method::DELETE,
            &format!("/api/grants/{gid}"),
            &alice,
        )
        .await;
    assert_eq!(status, 204);
    match cg.recv_within(Duration::from_secs(10)).await {
        Heard::Msg(Message::DocUnavailable { document_id, .. }) => assert_eq!(document_id, sla),
        other => panic!("expected doc-unavailable on B after revocation on A, got {other:?}"),
    }

    // Arun signs out through A: his socket on B closes.
    let mut arun_on_b = b.at.sync_client(&arun, "arun-on-b").await;
    let (status, _) = a
        .call(reqwest::Method::POST, "/api/auth/logout", &arun)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        arun_on_b.closed_within(Duration::from_secs(10)).await,
        Some(1008)
    );

    // B measured how long A's changes took to reach its peers.
    let metrics = reqwest::get(format!("{}/metrics", b.base()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let relayed = metrics
        .lines()
        .find(|l| l.starts_with("concordat_relay_lag_seconds_count"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        relayed >= 1.0,
        "B relayed A's commits: {relayed}\n{metrics}"
    );
    drop((a, b));
    db.drop_db().await;
}

async fn the_js_client_on_each_node_converges() {
    if !js_client_installed("several_nodes::the_js_client_on_each_node_converges") {
        return;
    }
    let (db, a, b) = two_nodes().await;
    let arun = a.at.login("arun@ashby.gov.uk").await;
    let sla = a.doc_id(&arun, SLA).await;
    let run = |base: String, email: &str, mine: &str, theirs: &str| {
        let (email, mine, theirs) = (email.to_owned(), mine.to_owned(), theirs.to_owned());
        let doc_url = format!("automerge:{sla}");
        tokio::task::spawn_blocking(move || {
            Command::new("node")
                .arg("nodes.mjs")
                .current_dir(js_dir())
                .env("CONCORDAT_BASE", base)
                .env("DOC_URL", doc_url)
                .env("USER_EMAIL", email)
                .env("MINE", &mine)
                .env("MINE_VALUE", format!("written to {mine} through one node"))
                .env("THEIRS", &theirs)
                .env(
                    "THEIRS_VALUE",
                    format!("written to {theirs} through one node"),
                )
                .output()
                .expect("node runs")
        })
    };
    let on_a = run(
        a.base().to_owned(),
        "arun@ashby.gov.uk",
        "disputeClause",
        "exitClause",
    );
    let on_b = run(
        b.base().to_owned(),
        "ben@brockley.gov.uk",
        "exitClause",
        "disputeClause",
    );
    let mut heads = Vec::new();
    for (node, out) in [("A", on_a.await.unwrap()), ("B", on_b.await.unwrap())] {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the JS client on node {node} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let js: Value = serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
        let mut h: Vec<String> = js["heads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_owned())
            .collect();
        h.sort();
        heads.push(h);
    }
    assert_eq!(
        heads[0], heads[1],
        "the JS clients on A and B hold equal heads"
    );
    let mut stored: Vec<String> = stored_heads(&db, &sla)
        .await
        .iter()
        .map(|h| h.to_string())
        .collect();
    stored.sort();
    assert_eq!(stored, heads[0], "and storage holds the same");
    drop((a, b));
    db.drop_db().await;
}

async fn a_node_killed_mid_edit_loses_nothing_broadcast() {
    let (db, a, b) = two_nodes().await;
    let arun = a.at.login("arun@ashby.gov.uk").await;
    let ben = b.at.login("ben@brockley.gov.uk").await;
    let doc = a.doc_id(&arun, SHARED_REGISTER).await;
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let stop = Arc::new(AtomicBool::new(false));

    // Arun edits through A, Ben through B, both as fast as they can.
    let ca = a.at.sync_client(&arun, "arun-killed-node").await;
    let cb = b.at.sync_client(&ben, "ben-surviving-node").await;
    let spawn_editor = |c: SyncClient, r: Replica, tag: &'static str| {
        let (seen, stop) = (seen.clone(), stop.clone());
        tokio::spawn(async move { edit_until(c, r, seen, tag, &stop).await })
    };
    let ta = spawn_editor(ca, Replica::new(&doc), "a");
    let tb = spawn_editor(cb, Replica::new(&doc), "b");
    for _ in 0..400 {
        if seen.lock().unwrap().len() > 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill();
    // Arun's connection drops; he reconnects to B (no sticky sessions: any node will do).
    let (ra, gone) = ta.await.unwrap();
    assert!(
        gone.is_none(),
        "Arun's connection to the killed node dropped"
    );
    let ca = b.at.sync_client(&arun, "arun-reconnected").await;
    let ta = spawn_editor(ca, ra, "a2");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut ra, ca) = ta.await.unwrap();
    let (mut rb, cb) = tb.await.unwrap();
    let (mut ca, mut cb) = (
        ca.expect("Arun stays connected to B"),
        cb.expect("Ben's connection to B never dropped"),
    );
    let heads = converge(&mut [(&mut ra, &mut ca), (&mut rb, &mut cb)]).await;

    let store = db.store().await;
    let stored = tests::stored_document(store.as_ref(), &doc).await;
    let stored_hashes: HashSet<ChangeHash> =
        stored.get_changes(&[]).iter().map(|c| c.hash()).collect();
    let seen = seen.lock().unwrap().clone();
    let lost = seen.difference(&stored_hashes).count();
    eprintln!(
        "two nodes, one killed: {} changes seen broadcast, {lost} lost",
        seen.len()
    );
    assert!(
        seen.len() > 20,
        "the clients exchanged changes ({})",
        seen.len()
    );
    assert_eq!(lost, 0, "broadcast changes lost");
    assert_eq!(
        stored.get_heads(),
        heads,
        "storage holds what both clients hold"
    );
    drop(store);
    drop(b);
    db.drop_db().await;
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn edits_and_access_cross_nodes() {
        if tests::postgres_admin_url().await.is_none() {
            return;
        }
        super::edits_and_access_cross_nodes().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_js_client_on_each_node_converges() {
        if tests::postgres_admin_url().await.is_none() {
            return;
        }
        super::the_js_client_on_each_node_converges().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_killed_mid_edit_loses_nothing_broadcast() {
        if tests::postgres_admin_url().await.is_none() {
            return;
        }
        super::a_node_killed_mid_edit_loses_nothing_broadcast().await
    }
}
