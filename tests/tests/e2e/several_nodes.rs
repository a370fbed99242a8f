//! Several server nodes on one PostgreSQL: two real `concordat serve` processes on one
//! database. A change committed through one reaches peers on the other live; tickets, peer-id
//! claims, presence, revocations and session ends work across them; the unmodified JS client on each
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
use store::{Append, Heard as Notice, System};
use sync::codec::Message;
use tests::ws::{Heard, Replica, SyncClient};
use tests::{Backend, TestDb, js_client_installed, js_dir};

use crate::documents_rest::{SHARED_REGISTER, SLA};
use crate::durability::{TestServerAt, edit_until, free_port, serve_command};

/// One server process of the deployment.
struct Node {
    at: TestServerAt,
    child: Child,
}

impl Node {
    async fn start(db: &TestDb, name: &str) -> Node {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut command = serve_command(db, port);
        command.env("CONCORDAT_NODE_NAME", name);
        // NODES_LOG (a filter) and NODES_LOG_DIR (a folder for node-<name>.log) help debugging.
        if let Ok(filter) = std::env::var("NODES_LOG") {
            command.env("CONCORDAT_LOG", filter);
        }
        let child = command
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
    settle_until_while(r, c, None, what, done).await;
}

/// As [`settle_until`], keeping the `sender`'s exchange with its node going meanwhile, as a
/// real client does: the one message it pushed with its edit may not carry the change (sync
/// sends only what the server's last summary asked for) and its node then asks for it.
async fn settle_until_while(
    r: &mut Replica,
    c: &mut SyncClient,
    mut sender: Option<(&mut Replica, &mut SyncClient)>,
    what: &str,
    done: impl Fn(&mut Replica) -> bool,
) {
    for _ in 0..150 {
        if done(r) {
            return;
        }
        let mut heard = r.settle_within(c, Duration::from_millis(100)).await;
        if let Some((s, sc)) = sender.as_mut() {
            heard.extend(s.settle_within(sc, Duration::from_millis(20)).await);
        }
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
    settle_until_while(
        &mut rb,
        &mut cb,
        Some((&mut ra, &mut ca)),
        "A's edit on B",
        |r| r.risk_text(0, "controls").as_deref() == Some("agreed through node A"),
    )
    .await;
    rb.set_risk_text(1, "controls", "agreed through node B");
    rb.push(&mut cb, false).await;
    settle_until_while(
        &mut ra,
        &mut ca,
        Some((&mut rb, &mut cb)),
        "B's edit on A",
        |r| r.risk_text(1, "controls").as_deref() == Some("agreed through node B"),
    )
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

    // The database drops every node's listening connection (a failover, a network cut):
    // each listens again and re-reads what it holds, so an edit made at that moment still
    // reaches the other node.
    let ended = db
        .admin_sql(&format!(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity \
             where datname = '{}' and query like 'LISTEN%'",
            db.name()
        ))
        .await;
    assert_eq!(ended, 2, "both nodes' listening connections ended");
    ra.set_risk_text(0, "controls", "after the listeners dropped");
    ra.push(&mut ca, false).await;
    settle_until_while(
        &mut rb,
        &mut cb,
        Some((&mut ra, &mut ca)),
        "the edit made as the listeners dropped",
        |r| r.risk_text(0, "controls").as_deref() == Some("after the listeners dropped"),
    )
    .await;
    rb.set_risk_text(1, "controls", "and back after");
    rb.push(&mut cb, false).await;
    settle_until_while(
        &mut ra,
        &mut ca,
        Some((&mut rb, &mut cb)),
        "B's edit after the listeners dropped",
        |r| r.risk_text(1, "controls").as_deref() == Some("and back after"),
    )
    .await;

    // Presence crosses too: Arun's cursor, sent to A, reaches Ben on B.
    ca.send(&Message::Ephemeral {
        sender_id: "arun-on-a".into(),
        target_id: ca.server_peer.clone(),
        count: 1,
        session_id: "arun-session".into(),
        document_id: doc.clone(),
        data: b"cursor at risk 3".to_vec(),
    })
    .await;
    let mut presence = None;
    for _ in 0..50 {
        match cb.recv_within(Duration::from_millis(200)).await {
            Heard::Msg(Message::Ephemeral {
                sender_id, data, ..
            }) => {
                presence = Some((sender_id, data));
                break;
            }
            Heard::Closed(..) => panic!("Ben's socket closed"),
            _ => {}
        }
    }
    assert_eq!(
        presence,
        Some(("arun-on-a".to_owned(), b"cursor at risk 3".to_vec())),
        "Arun's presence through A reached Ben on B"
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

    // Brockley leaves the partnership through A: Ben, still editing the shared register on B,
    // loses it there at once.
    let bella = a.at.login("bella@brockley.gov.uk").await;
    let (_, partnerships) = a
        .call(reqwest::Method::GET, "/api/partnerships", &bella)
        .await;
    let pid = partnerships[0]["id"].as_str().unwrap().to_owned();
    let (status, body) = a
        .call(
            reqwest::Method::POST,
            &format!("/api/partnerships/{pid}/exit"),
            &bella,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut unavailable = false;
    for _ in 0..50 {
        match cb.recv_within(Duration::from_millis(200)).await {
            Heard::Msg(Message::DocUnavailable { document_id, .. }) if document_id == doc => {
                unavailable = true;
                break;
            }
            Heard::Closed(..) => break,
            _ => {}
        }
    }
    assert!(
        unavailable,
        "Ben's socket on B lost the register when Brockley left through A"
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

/// The store as two nodes use it: two stores (two connection pools, two origins) on one
/// database, appending to one document at once, compacting while the other writes, binding
/// one actor to two users, and hearing each other.
async fn two_stores_on_one_database() {
    let db = TestDb::new(Backend::Postgres).await;
    let doc = crate::durability::seeded_register(&db).await;
    let id: domain::DocumentId = doc.parse().unwrap();
    let (a, b) = (db.store().await, db.store().await);
    let mut heard_by_b = b.cluster().unwrap().listen().await.unwrap();
    let mut heard_by_a = a.cluster().unwrap().listen().await.unwrap();
    let start = a
        .load_content(System::SYNC, id)
        .await
        .unwrap()
        .unwrap()
        .last_seq();

    // 40 appends from each at once: every one stored, under its own sequence number.
    let append = |store: &Arc<dyn store::Store>, tag: String| {
        let store = store.clone();
        async move {
            store
                .append_changes(
                    System::SYNC,
                    &[Append {
                        id,
                        data: tag.into_bytes(),
                        actors: Vec::new(),
                    }],
                    store::now_millis(),
                )
                .await
        }
    };
    let mut tasks = Vec::new();
    for n in 0..40 {
        tasks.push(tokio::spawn(append(&a, format!("a-{n}"))));
        tasks.push(tokio::spawn(append(&b, format!("b-{n}"))));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.extend(t.await.unwrap().expect("every append commits"));
    }
    seqs.sort_unstable();
    assert_eq!(seqs, ((start + 1)..=(start + 80)).collect::<Vec<_>>());
    let after = a
        .load_after(System::SYNC, id, start)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.chunks.len(), 80);

    // Each heard the other's appends, never its own.
    let mut from_a = HashSet::new();
    while from_a.len() < 40 {
        match tokio::time::timeout(Duration::from_secs(10), heard_by_b.next()).await {
            Ok(Notice::Stored(s)) => {
                assert_eq!(s.document, doc);
                assert_eq!(s.origin, a.cluster().unwrap().origin());
                from_a.insert(s.seq);
            }
            Ok(other) => panic!("{other:?}"),
            Err(_) => panic!("B heard {} of A's 40 appends", from_a.len()),
        }
    }
    let mut from_b = 0;
    while from_b < 40 {
        match tokio::time::timeout(Duration::from_secs(10), heard_by_a.next()).await {
            Ok(Notice::Stored(s)) => {
                assert_eq!(s.origin, b.cluster().unwrap().origin());
                from_b += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    // An access event from A reaches B.
    a.cluster()
        .unwrap()
        .publish_event("{\"x\":1}")
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(10), heard_by_b.next()).await {
        Ok(Notice::Event(e)) => assert_eq!(e, "{\"x\":1}"),
        other => panic!("{other:?}"),
    }

    // And presence.
    a.cluster()
        .unwrap()
        .publish_presence("{\"p\":1}")
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(10), heard_by_b.next()).await {
        Ok(Notice::Presence(p)) => assert_eq!(p, "{\"p\":1}"),
        other => panic!("{other:?}"),
    }

    // A claim a killed node left behind blocks nobody once forgotten.
    let arun = tests::principal(a.as_ref(), "arun@ashby.gov.uk").await;
    let ben = tests::principal(a.as_ref(), "ben@brockley.gov.uk").await;
    let (ca, cb) = (a.cluster().unwrap(), b.cluster().unwrap());
    assert!(
        ca.claim_peer("left-behind", arun.user_id, 1, 1_000)
            .await
            .unwrap()
    );
    assert!(
        !cb.claim_peer("left-behind", ben.user_id, 1, 2_000)
            .await
            .unwrap()
    );
    assert_eq!(
        cb.forget_stale(1_500, store::now_millis()).await.unwrap(),
        1
    );
    assert!(
        cb.claim_peer("left-behind", ben.user_id, 1, 2_000)
            .await
            .unwrap()
    );

    // A ticket issued on A is redeemed on B with its account and session, once; an expired
    // one is used up and refused; one naming another user's session gives nothing.
    let now = store::now_millis();
    ca.issue_ticket("t-live", arun.user_id, arun.session_id, now + 30_000, now)
        .await
        .unwrap();
    let (user, session) = cb
        .redeem_ticket("t-live", now)
        .await
        .unwrap()
        .expect("redeemed on B");
    assert_eq!(
        (user.id, user.email.as_str(), session.id, session.user_id),
        (
            arun.user_id,
            "arun@ashby.gov.uk",
            arun.session_id,
            arun.user_id
        )
    );
    assert!(session.is_live(now) && !user.disabled);
    assert!(
        ca.redeem_ticket("t-live", now).await.unwrap().is_none(),
        "single use"
    );
    ca.issue_ticket("t-old", arun.user_id, arun.session_id, now + 10, now)
        .await
        .unwrap();
    assert!(
        cb.redeem_ticket("t-old", now + 20).await.unwrap().is_none(),
        "expired"
    );
    assert!(
        cb.redeem_ticket("t-old", now).await.unwrap().is_none(),
        "an expired ticket is used up by the attempt"
    );
    ca.issue_ticket("t-mixed", ben.user_id, arun.session_id, now + 30_000, now)
        .await
        .unwrap();
    assert!(cb.redeem_ticket("t-mixed", now).await.unwrap().is_none());

    // A compacts what it has read while B has appended since: nothing changes.
    let read = start + 80;
    b.append_changes(
        System::SYNC,
        &[Append {
            id,
            data: b"b-late".to_vec(),
            actors: Vec::new(),
        }],
        store::now_millis(),
    )
    .await
    .unwrap();
    assert_eq!(
        a.compact(
            System::SYNC,
            id,
            b"snapshot",
            None,
            read,
            store::now_millis()
        )
        .await
        .unwrap(),
        None,
        "a snapshot missing B's last append is not written"
    );
    assert_eq!(
        a.load_after(System::SYNC, id, start)
            .await
            .unwrap()
            .unwrap()
            .chunks
            .len(),
        81,
        "nothing was removed"
    );

    // One actor, bound by A to Arun, cannot then be bound by B to Ben.
    let actor = vec![42u8; 16];
    let bind = |user| Append {
        id,
        data: b"bound".to_vec(),
        actors: vec![(actor.clone(), user)],
    };
    a.append_changes(System::SYNC, &[bind(arun.user_id)], store::now_millis())
        .await
        .unwrap();
    let before = a
        .load_after(System::SYNC, id, start)
        .await
        .unwrap()
        .unwrap();
    let refused = b
        .append_changes(System::SYNC, &[bind(ben.user_id)], store::now_millis())
        .await;
    assert!(
        matches!(refused, Err(store::StoreError::Conflict)),
        "{refused:?}"
    );
    let after = a
        .load_after(System::SYNC, id, start)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.chunks.len(),
        before.chunks.len(),
        "the refused append stored nothing"
    );
    assert!(
        after
            .actors
            .iter()
            .any(|(a, u)| *a == actor && *u == arun.user_id)
    );
    drop((a, b));
    db.drop_db().await;
}

/// Officers of two councils import the same sheet into one register, each through a different
/// node, at the same moment, round after round: an import on one node holds the other off
/// (409) or the other finds its rows already there; never is a risk created twice.
async fn imports_on_two_nodes_never_overlap() {
    use base64::Engine;
    let (db, a, b) = two_nodes().await;
    let arun = a.at.login("arun@ashby.gov.uk").await;
    let ben = b.at.login("ben@brockley.gov.uk").await;
    let doc = a.doc_id(&arun, SHARED_REGISTER).await;
    let http = reqwest::Client::new();
    let apply = |node: &Node, token: &str, body: &serde_json::Value| {
        http.post(format!("{}/api/documents/{doc}/import/apply", node.base()))
            .bearer_auth(token)
            .json(body)
            .send()
    };
    let mut statuses = Vec::new();
    for round in 0..6 {
        let csv = format!(
            "Reference,Risk title,Risk owner,Category,Current Likelihood,Current Impact\n\
             SP-4{round},Shared payroll contract {round} ends,Head of HR,Operational,3,4\n"
        );
        let body = serde_json::json!({
            "format": "csv",
            "file": base64::engine::general_purpose::STANDARD.encode(csv),
        });
        let (x, y) = tokio::join!(apply(&a, &arun, &body), apply(&b, &ben, &body));
        for r in [x.unwrap(), y.unwrap()] {
            let status = r.status().as_u16();
            assert!(
                status == 200 || status == 409,
                "{status} {}",
                r.text().await.unwrap()
            );
            statuses.push(status);
        }
    }
    let (_, content) = a
        .call(
            reqwest::Method::GET,
            &format!("/api/documents/{doc}/content"),
            &arun,
        )
        .await;
    let refs: Vec<&str> = content["content"]["risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reference"].as_str().unwrap())
        .filter(|r| r.starts_with("SP-4"))
        .collect();
    let mut unique = refs.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        refs.len(),
        unique.len(),
        "a risk created twice: {refs:?} ({statuses:?})"
    );
    assert_eq!(unique.len(), 6, "{refs:?} ({statuses:?})");
    drop((a, b));
    db.drop_db().await;
}

tests::on_postgres!(
    imports_on_two_nodes_never_overlap,
    edits_and_access_cross_nodes,
    the_js_client_on_each_node_converges,
    a_node_killed_mid_edit_loses_nothing_broadcast,
    two_stores_on_one_database,
);
