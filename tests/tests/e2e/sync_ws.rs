//! Live sync over real websockets against the real server, on both backends.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use sync::codec::Message;
use tests::ws::{Heard, Replica, SyncClient, ticket_url};
use tests::{Backend, StatusCode, TestServer, on_both_backends};
use tokio_tungstenite::tungstenite::Message as Ws;

const SHARED_REGISTER: &str = "Shared services partnership risk register";
const SLA: &str = "Revenues & benefits SLA 2026/27";
const A_PRIVATE: &str = "Ashby corporate risk register";

async fn stored_heads(s: &TestServer, doc: &str) -> Vec<automerge::ChangeHash> {
    let content = s
        .store
        .load_content(store::System::SYNC, doc.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut d = automerge::Automerge::new();
    for c in content.chunks {
        d.load_incremental(&c.data).unwrap();
    }
    d.get_heads()
}

fn is_unavailable(h: &[Heard], doc: &str) -> bool {
    h.iter().any(|h| matches!(h, Heard::Msg(Message::DocUnavailable { document_id, .. }) if document_id == doc))
}

async fn partner_councils_edit_one_document_and_converge(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let doc = s.doc_id(&arun, SHARED_REGISTER).await;

    let mut ca = SyncClient::connect(&s, &arun, "peer-arun").await;
    let mut cb = SyncClient::connect(&s, &ben, "peer-ben").await;
    let mut ra = Replica::new(&doc);
    let mut rb = Replica::new(&doc);
    ra.settle(&mut ca).await;
    rb.settle(&mut cb).await;
    // Both received the server-created initial content.
    assert_eq!(
        ra.get("schema").as_deref(),
        Some("\"concordat/risk-register\"")
    );
    assert_eq!(ra.doc.get_heads(), rb.doc.get_heads());

    ra.set_risk_text(0, "controls", "one partner");
    rb.set_risk_text(1, "controls", "the other");
    for _ in 0..3 {
        ra.settle(&mut ca).await;
        rb.settle(&mut cb).await;
    }
    assert_eq!(ra.doc.get_heads(), rb.doc.get_heads(), "converged");
    assert_eq!(rb.risk_text(0, "controls").as_deref(), Some("one partner"));
    assert_eq!(ra.risk_text(1, "controls").as_deref(), Some("the other"));
    // Persisted: what the clients hold is what storage holds.
    assert_eq!(stored_heads(&s, &doc).await, ra.doc.get_heads());
    s.stop().await;
}

async fn outsiders_and_unknown_documents_are_unavailable(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let carl = s.login("carl@carrow.gov.uk").await;
    let shared = s.doc_id(&arun, SHARED_REGISTER).await;
    let private = s.doc_id(&arun, A_PRIVATE).await;
    let mut cc = SyncClient::connect(&s, &carl, "peer-carl").await;
    for doc in [
        shared.clone(),
        private.clone(),
        domain::DocumentId::random().to_string(),
        "not-a-document-id".to_owned(),
    ] {
        let mut r = Replica::new(&doc);
        let heard = r.settle(&mut cc).await;
        assert!(is_unavailable(&heard, &doc), "{doc}: {heard:?}");
        assert!(
            r.doc.get_heads().is_empty(),
            "no byte of the document reached the outsider"
        );
    }
    // Syncing an unknown id never created it.
    let (status, _) = s
        .get(
            &format!("/api/documents/{}", domain::DocumentId::random()),
            &arun,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A connection authorised for one document naming another gets nothing of it.
    let ben = s.login("ben@brockley.gov.uk").await;
    let mut cb = SyncClient::connect(&s, &ben, "peer-ben").await;
    let mut ok = Replica::new(&shared);
    ok.settle(&mut cb).await;
    assert!(!ok.doc.get_heads().is_empty());
    let mut sneaky = Replica::new(&private);
    sneaky.doc.put(automerge::ROOT, "planted", 1).unwrap();
    let before = stored_heads(&s, &private).await;
    let heard = sneaky.settle(&mut cb).await;
    assert!(is_unavailable(&heard, &private));
    assert_eq!(
        stored_heads(&s, &private).await,
        before,
        "the other document is unchanged"
    );
    s.stop().await;
}

async fn read_only_peer_cannot_change_a_document(backend: Backend) {
    let s = TestServer::start(backend).await;
    let alice = s.login("alice@ashby.gov.uk").await;
    let sla = s.doc_id(&alice, SLA).await;
    // Grace's grant on the SLA becomes viewer-only: revoke the editor grant, invite as viewer.
    let (_, grants) = s.get(&format!("/api/documents/{sla}/grants"), &alice).await;
    for g in grants.as_array().unwrap() {
        s.delete(
            &format!("/api/grants/{}", g["id"].as_str().unwrap()),
            &alice,
        )
        .await;
    }
    let (_, orgs) = s.get("/api/organisations", &alice).await;
    let riverside = orgs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Riverside Community Trust")
        .unwrap()["id"]
        .clone();
    let (_, inv) = s.post("/api/invitations", &alice, serde_json::json!({"email": "grace@riverside.org.uk", "organisation_id": riverside, "documents": [sla], "role": "viewer"})).await;
    // Grace already has an account: she accepts signed in as it.
    let grace = s.login("grace@riverside.org.uk").await;
    let (status, _) = s
        .call(
            reqwest::Method::POST,
            "/api/invitations/accept",
            Some(&grace),
            Some(serde_json::json!({"token": inv["token"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let mut cg = SyncClient::connect(&s, &grace, "peer-grace").await;
    let mut rg = Replica::new(&sla);
    rg.settle(&mut cg).await;
    assert!(
        !rg.doc.get_heads().is_empty(),
        "a viewer receives the document"
    );
    let before = stored_heads(&s, &sla).await;
    rg.doc.put(automerge::ROOT, "viewer_edit", 1).unwrap();
    let heard = rg.settle(&mut cg).await;
    assert!(
        heard.iter().any(|h| matches!(h, Heard::Msg(Message::Error { message, .. }) if message.contains("read-only"))),
        "{heard:?}"
    );
    assert_eq!(stored_heads(&s, &sla).await, before, "nothing stored");
    // And nothing reached an editor.
    let mut ca = SyncClient::connect(&s, &alice, "peer-alice").await;
    let mut ra = Replica::new(&sla);
    ra.settle(&mut ca).await;
    assert_eq!(ra.get("viewer_edit"), None);
    assert_eq!(ra.doc.get_heads(), before);
    s.stop().await;
}

async fn revocation_reaches_live_connections(backend: Backend) {
    let s = TestServer::start(backend).await;
    let alice = s.login("alice@ashby.gov.uk").await;
    let grace = s.login("grace@riverside.org.uk").await;
    let sla = s.doc_id(&alice, SLA).await;
    let mut cg = SyncClient::connect(&s, &grace, "peer-grace").await;
    let mut rg = Replica::new(&sla);
    rg.settle(&mut cg).await;
    assert!(!rg.doc.get_heads().is_empty());
    let (_, grants) = s.get(&format!("/api/documents/{sla}/grants"), &alice).await;
    let gid = grants[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = s.delete(&format!("/api/grants/{gid}"), &alice).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    match cg.recv().await {
        Heard::Msg(Message::DocUnavailable { document_id, .. }) => assert_eq!(document_id, sla),
        other => panic!(
            "expected doc-unavailable after revocation, got {other:?}\n{}",
            tests::captured_logs()
                .lines()
                .filter(|l| l.contains("sync") || l.contains("revok") || l.contains("grant"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
    // Her next edit goes nowhere.
    rg.doc.put(automerge::ROOT, "after_revocation", 1).unwrap();
    let heard = rg.settle(&mut cg).await;
    assert!(is_unavailable(&heard, &sla));
    assert_eq!(stored_heads(&s, &sla).await.len(), 1);

    // Logging out closes the session's live connections, and its ticket-less reconnect fails.
    let arun = s.login_full("arun@ashby.gov.uk").await;
    let token = arun["access_token"].as_str().unwrap().to_owned();
    let mut ca = SyncClient::connect(&s, &token, "peer-arun").await;
    let url = ticket_url(&s, &token).await;
    s.call(
        reqwest::Method::POST,
        "/api/auth/logout",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(ca.closed().await, Some(1008));
    assert!(
        SyncClient::open(&url).await.is_err(),
        "a ticket of an ended session is refused"
    );
    s.stop().await;
}

async fn tickets_are_required_and_single_use(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let base = s.base.replace("http://", "ws://");
    assert!(SyncClient::open(&format!("{base}/sync")).await.is_err());
    assert!(
        SyncClient::open(&format!("{base}/sync?ticket=forged"))
            .await
            .is_err()
    );
    assert!(
        SyncClient::open(&format!("{base}/sync?ticket={arun}"))
            .await
            .is_err(),
        "a JWT is not a ticket"
    );
    let url = ticket_url(&s, &arun).await;
    assert!(SyncClient::open(&url).await.is_ok());
    assert!(SyncClient::open(&url).await.is_err(), "single use");
    // No ticket or token reached the logs.
    let logs = tests::captured_logs();
    let ticket = url.split("ticket=").nth(1).unwrap();
    assert!(!logs.contains(ticket) && !logs.contains(&arun));
    s.stop().await;
}

async fn a_peer_id_cannot_be_claimed_by_another_user(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let _ca = SyncClient::connect(&s, &arun, "peer-shared-name").await;
    let url = ticket_url(&s, &ben).await;
    let ws = SyncClient::open(&url).await.unwrap();
    let mut cb = SyncClient::from_ws(ws, "peer-shared-name");
    cb.send(&Message::Join {
        sender_id: "peer-shared-name".into(),
        supported_protocol_versions: vec!["1".into()],
        peer_metadata: None,
    })
    .await;
    match cb.recv().await {
        Heard::Msg(Message::Error { message, .. }) => assert!(message.contains("another user")),
        other => panic!("{other:?}"),
    }
    assert_eq!(cb.closed().await, Some(1008));
    s.stop().await;
}

async fn bad_frames_close_the_sender_and_spare_the_others(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.sync_max_message_bytes = 64 * 1024).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let doc = s.doc_id(&arun, SHARED_REGISTER).await;
    let mut honest = SyncClient::connect(&s, &ben, "peer-honest").await;
    let mut rh = Replica::new(&doc);
    rh.settle(&mut honest).await;

    let mut cases = 0;
    let mut passed = 0;
    for (name, frame, want) in [
        ("text frame", Ws::Text("hello".into()), 1003u16),
        (
            "garbage",
            Ws::Binary(vec![0xff, 0x00, 0x13, 0x37].into()),
            1007,
        ),
        (
            "truncated CBOR",
            Ws::Binary(
                sync::codec::encode(&Message::Leave {
                    sender_id: "peer-bad".into(),
                })[..5]
                    .to_vec()
                    .into(),
            ),
            1007,
        ),
        ("oversized", Ws::Binary(vec![0u8; 65 * 1024].into()), 1009),
    ] {
        cases += 1;
        let mut bad = SyncClient::connect(&s, &arun, "peer-bad").await;
        bad.send_raw(frame).await;
        let code = bad.closed().await;
        if code == Some(want) {
            passed += 1;
        } else {
            eprintln!("{name}: want close {want}, got {code:?}");
        }
    }
    // Garbage automerge bytes inside a valid frame: an error, then a close; nothing applied.
    cases += 1;
    let mut bad = SyncClient::connect(&s, &arun, "peer-bad").await;
    let before = stored_heads(&s, &doc).await;
    bad.send(&Message::Request {
        sender_id: "peer-bad".into(),
        target_id: bad.server_peer.clone(),
        document_id: doc.clone(),
        data: vec![0x13, 0x37, 0xff, 0x00],
    })
    .await;
    // (The server may first send its own opening sync message for the document.)
    let mut heard = bad.recv().await;
    while matches!(heard, Heard::Msg(Message::Sync { .. })) {
        heard = bad.recv().await;
    }
    let code = bad.closed().await;
    if matches!(heard, Heard::Msg(Message::Error { .. })) && code == Some(1008) {
        passed += 1;
    } else {
        eprintln!("garbage sync bytes: heard {heard:?}, close {code:?}");
    }
    assert_eq!(stored_heads(&s, &doc).await, before);
    assert_eq!(
        passed, cases,
        "{passed} of {cases} bad-input cases closed as expected"
    );

    // The honest client still works.
    rh.set_risk_text(0, "controls", "still alive");
    rh.settle(&mut honest).await;
    assert_eq!(stored_heads(&s, &doc).await, rh.doc.get_heads());
    s.stop().await;
}

/// A change that breaks the register's schema is refused whole with the place at fault named;
/// a valid one is stored and reaches the other council.
async fn schema_violations_are_refused_and_valid_edits_go_through(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let doc = s.doc_id(&arun, SHARED_REGISTER).await;
    let before = stored_heads(&s, &doc).await;

    let mut c = SyncClient::connect(&s, &arun, "peer-bad-risk").await;
    let mut r = Replica::new(&doc);
    r.settle(&mut c).await;
    let risk = serde_json::json!({
        "id": "r1", "reference": "SP-01", "title": "One council withdraws",
        "category": "Partnership", "owner": "Joint chief executive",
        "identified": "2026-01-10", "response": "treat", "reviewFrequencyDays": 90,
        "nextReview": "2026-06-30", "status": "open", "escalation": "committee"
    });
    let mut bad = risk.clone();
    bad["title"] = serde_json::json!(12);
    let (_, risks) = r.doc.get(automerge::ROOT, "risks").unwrap().unwrap();
    domain::documents::insert_json(&mut r.doc, &risks, 0, &bad).unwrap();
    let heard = r.settle(&mut c).await;
    let error = heard.iter().find_map(|h| match h {
        Heard::Msg(Message::Error { message, .. }) => Some(message.clone()),
        _ => None,
    });
    assert!(
        error
            .as_deref()
            .is_some_and(|m| m.contains("risks[0].title")),
        "the refusal names the field: {heard:?}"
    );
    assert!(
        heard.iter().any(|h| matches!(h, Heard::Closed(..))),
        "told to reload"
    );
    assert_eq!(stored_heads(&s, &doc).await, before, "nothing stored");

    // Reloaded, a valid risk goes through and reaches the partner council.
    let mut c = SyncClient::connect(&s, &arun, "peer-good-risk").await;
    let mut r = Replica::new(&doc);
    r.settle(&mut c).await;
    let (_, risks) = r.doc.get(automerge::ROOT, "risks").unwrap().unwrap();
    domain::documents::insert_json(&mut r.doc, &risks, 0, &risk).unwrap();
    let heard = r.settle(&mut c).await;
    assert!(
        !heard
            .iter()
            .any(|h| matches!(h, Heard::Msg(Message::Error { .. }) | Heard::Closed(..))),
        "{heard:?}"
    );
    let mut b = SyncClient::connect(&s, &ben, "peer-partner").await;
    let mut rb = Replica::new(&doc);
    rb.settle(&mut b).await;
    let stored = tests::stored_document(s.store.as_ref(), &doc).await;
    let content = domain::documents::read(domain::DocumentKind::RiskRegister, &stored).unwrap();
    let domain::documents::Content::RiskRegister(register) = content else {
        panic!("a register");
    };
    // The demo register's ten risks and the new one.
    assert_eq!(register.risks.len(), 11);
    assert!(register.risks.iter().any(|r| r.id == "r1"));
    assert_eq!(rb.doc.get_heads(), stored.get_heads());

    // From here the room judges each change by what it touched (its index was built on the
    // valid risk): what only the whole register knows is still refused — an assessment of a
    // risk that does not exist, a second risk "r1" — and an assessment of r1 goes through.
    let assessment = |id: &str, risk: &str| {
        serde_json::json!({
            "id": id, "riskId": risk, "kind": "current", "likelihood": 2, "impact": 3,
            "date": "2026-12-06", "assessor": "Ben"
        })
    };
    let cases = [
        (
            "assessments",
            assessment("e2e-a1", "no-such-risk"),
            Some("riskId"),
        ),
        ("risks", risk.clone(), Some("used twice")),
        ("assessments", assessment("e2e-a2", "r1"), None),
    ];
    for (n, (list, item, refused)) in cases.into_iter().enumerate() {
        let mut b = SyncClient::connect(&s, &ben, &format!("peer-partner-{n}")).await;
        let mut rb = Replica::new(&doc);
        rb.settle(&mut b).await;
        let before = stored_heads(&s, &doc).await;
        let (_, obj) = rb.doc.get(automerge::ROOT, list).unwrap().unwrap();
        let end = rb.doc.length(&obj);
        domain::documents::insert_json(&mut rb.doc, &obj, end, &item).unwrap();
        let heard = rb.settle(&mut b).await;
        let error = heard.iter().find_map(|h| match h {
            Heard::Msg(Message::Error { message, .. }) => Some(message.clone()),
            _ => None,
        });
        match refused {
            Some(why) => {
                assert!(
                    error.as_deref().is_some_and(|m| m.contains(why)),
                    "{list}: {heard:?}"
                );
                assert_eq!(stored_heads(&s, &doc).await, before, "nothing stored");
            }
            None => {
                assert!(error.is_none(), "{heard:?}");
                assert_eq!(stored_heads(&s, &doc).await, rb.doc.get_heads());
            }
        }
    }
    // Judged from their parts, not by the whole-document check (which would also refuse them).
    let incremental = metric(&s, "concordat_validations_total{how=\"incremental\"}").await;
    assert!(incremental >= 3.0, "{incremental}");
    s.stop().await;
}

/// A document written by schema version 1 is upgraded when its room loads it: clients receive
/// the current version (the matrix included), storage holds it, and edits are checked against it.
async fn a_version_1_document_is_upgraded_on_load(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let doc = s.doc_id(&arun, SHARED_REGISTER).await;
    // What version 1 stored: tag, version 1, empty lists, by the server's actor.
    let mut v1 = automerge::AutoCommit::new()
        .with_actor(automerge::ActorId::from(domain::schema::SERVER_ACTOR));
    v1.put(automerge::ROOT, "schema", "concordat/risk-register")
        .unwrap();
    v1.put(automerge::ROOT, "schemaVersion", 1_u64).unwrap();
    for list in ["risks", "assessments", "actions"] {
        v1.put_object(automerge::ROOT, list, automerge::ObjType::List)
            .unwrap();
    }
    let upto = s
        .store
        .load_content(store::System::SYNC, doc.parse().unwrap())
        .await
        .unwrap()
        .expect("the document")
        .last_seq();
    s.store
        .compact(
            store::System::SYNC,
            doc.parse().unwrap(),
            &v1.save(),
            None,
            upto,
            0,
        )
        .await
        .unwrap()
        .expect("compacted: nothing was stored meanwhile");

    let mut c = SyncClient::connect(&s, &arun, "peer-after-upgrade").await;
    let mut r = Replica::new(&doc);
    r.settle(&mut c).await;
    assert_eq!(r.get("schemaVersion").as_deref(), Some("4"));
    assert!(r.doc.get(automerge::ROOT, "matrix").unwrap().is_some());
    let stored = tests::stored_document(s.store.as_ref(), &doc).await;
    assert_eq!(
        stored.get_heads(),
        r.doc.get_heads(),
        "the upgrade was stored"
    );
    domain::documents::read(domain::DocumentKind::RiskRegister, &stored)
        .expect("the stored document is valid at the current version");
    s.stop().await;
}

/// A count from the server's `/metrics` (0 if absent).
async fn metric(s: &TestServer, series: &str) -> f64 {
    let text = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
        .unwrap_or(0.0)
}

/// Two councils' officers sit on a register without touching it: the room lets go of the
/// document (its memory) and keeps them connected; the next edit reads it back, and it reaches
/// the other officer and storage as any edit does.
async fn a_quiet_room_hibernates_and_wakes_on_the_next_edit(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.sync_hibernate_after_secs = 1).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let doc = s.doc_id(&arun, SHARED_REGISTER).await;
    let mut ca = SyncClient::connect(&s, &arun, "peer-quiet-a").await;
    let mut ra = Replica::new(&doc);
    ra.settle(&mut ca).await;
    let mut cb = SyncClient::connect(&s, &ben, "peer-quiet-b").await;
    let mut rb = Replica::new(&doc);
    rb.settle(&mut cb).await;
    let asleep = "concordat_room_hibernations_total{event=\"hibernated\"}";
    let woken = "concordat_room_hibernations_total{event=\"woken\"}";
    // A document stored as one snapshot opens without being loaded (both officers were sent
    // the snapshot): nothing has woken it yet. An edit loads it.
    assert_eq!(metric(&s, woken).await, 0.0, "joining loaded nothing");
    ra.set_risk_text(0, "controls", "edited before a quiet spell");
    ra.settle(&mut ca).await;
    for _ in 0..50 {
        if metric(&s, asleep).await >= 1.0 {
            break;
        }
        rb.settle_within(&mut cb, std::time::Duration::from_millis(100))
            .await;
    }
    assert!(metric(&s, asleep).await >= 1.0, "the quiet room hibernated");
    let woken_before = metric(&s, woken).await;
    assert!(woken_before <= 1.0, "loaded once, by the edit");

    ra.set_risk_text(0, "controls", "edited after a quiet spell");
    let heard = ra.settle(&mut ca).await;
    assert!(
        !heard.iter().any(|h| matches!(h, Heard::Closed(..))),
        "{heard:?}"
    );
    for _ in 0..50 {
        rb.settle_within(&mut cb, std::time::Duration::from_millis(100))
            .await;
        if rb.risk_text(0, "controls").as_deref() == Some("edited after a quiet spell") {
            break;
        }
    }
    assert_eq!(
        rb.risk_text(0, "controls").as_deref(),
        Some("edited after a quiet spell"),
        "the other officer has the edit"
    );
    assert!(metric(&s, woken).await > woken_before, "woken by the edit");
    assert_eq!(stored_heads(&s, &doc).await, ra.doc.get_heads());
    assert_eq!(rb.doc.get_heads(), ra.doc.get_heads());
    s.stop().await;
}

/// A document stored as one snapshot (a new one, or any after compaction) opens without being
/// loaded: a peer that has nothing is sent the stored snapshot as it is and holds the whole
/// document; its edit loads the document, is checked and stored as ever, and reaches the next
/// peer. When everyone has gone the edited document is compacted, so the next cold join is
/// answered from a snapshot again.
async fn a_cold_join_is_answered_from_the_stored_snapshot(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.sync_unload_after_secs = 1).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let shared = s.doc_id(&arun, SHARED_REGISTER).await;
    let (_, existing) = s.get(&format!("/api/documents/{shared}"), &arun).await;
    let (status, created) = s
        .post(
            "/api/documents",
            &arun,
            serde_json::json!({"space_id": existing["space_id"], "kind": "risk-register", "title": "Opened cold"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let doc = created["id"].as_str().unwrap().to_owned();
    let from_snapshot = "concordat_room_opens_total{how=\"snapshot\"}";
    let loaded = "concordat_room_opens_total{how=\"loaded\"}";
    let woken = "concordat_room_hibernations_total{event=\"woken\"}";
    let (loaded_before, snapshots_before) =
        (metric(&s, loaded).await, metric(&s, from_snapshot).await);

    let mut ca = SyncClient::connect(&s, &arun, "peer-cold-a").await;
    let mut ra = Replica::new(&doc);
    ra.settle(&mut ca).await;
    assert_eq!(
        metric(&s, from_snapshot).await,
        snapshots_before + 1.0,
        "opened from its snapshot"
    );
    assert_eq!(metric(&s, loaded).await, loaded_before, "and not loaded");
    assert_eq!(
        metric(&s, woken).await,
        0.0,
        "not even to answer the acknowledgement"
    );
    assert_eq!(
        ra.doc.get_heads(),
        stored_heads(&s, &doc).await,
        "the whole document arrived"
    );
    assert_eq!(
        ra.get("schemaVersion"),
        Some(domain::documents::SCHEMA_VERSION.to_string())
    );
    assert!(ra.doc.get(automerge::ROOT, "matrix").unwrap().is_some());

    let risk = serde_json::json!({
        "id": "r-cold", "reference": "SP-09", "title": "Written after a cold join",
        "category": "Partnership", "owner": "Joint chief executive",
        "identified": "2026-01-10", "response": "treat", "reviewFrequencyDays": 90,
        "nextReview": "2026-06-30", "status": "open", "escalation": "committee"
    });
    let (_, risks) = ra.doc.get(automerge::ROOT, "risks").unwrap().unwrap();
    domain::documents::insert_json(&mut ra.doc, &risks, 0, &risk).unwrap();
    let heard = ra.settle(&mut ca).await;
    assert!(
        !heard
            .iter()
            .any(|h| matches!(h, Heard::Msg(Message::Error { .. }) | Heard::Closed(..))),
        "{heard:?}"
    );
    assert_eq!(metric(&s, woken).await, 1.0, "the edit loaded it");
    assert_eq!(stored_heads(&s, &doc).await, ra.doc.get_heads(), "stored");

    let mut cb = SyncClient::connect(&s, &ben, "peer-cold-b").await;
    let mut rb = Replica::new(&doc);
    rb.settle(&mut cb).await;
    assert_eq!(rb.doc.get_heads(), ra.doc.get_heads());
    assert_eq!(
        rb.risk_text(0, "title").as_deref(),
        Some("Written after a cold join")
    );

    // Everyone leaves; the room compacts as it unloads.
    drop((ca, cb));
    let mut chunks = usize::MAX;
    for _ in 0..60 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        chunks = s
            .store
            .load_content(store::System::SYNC, doc.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .chunks
            .len();
        if chunks == 1 {
            break;
        }
    }
    assert_eq!(chunks, 1, "compacted to one snapshot");
    // The room goes once it has compacted; the next join opens it afresh.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let snapshots = metric(&s, from_snapshot).await;
    let mut cc = SyncClient::connect(&s, &arun, "peer-cold-c").await;
    let mut rc = Replica::new(&doc);
    rc.settle(&mut cc).await;
    assert_eq!(
        metric(&s, from_snapshot).await,
        snapshots + 1.0,
        "opened from its snapshot again"
    );
    assert_eq!(rc.doc.get_heads(), ra.doc.get_heads());
    assert_eq!(
        rc.risk_text(0, "title").as_deref(),
        Some("Written after a cold join")
    );
    s.stop().await;
}

on_both_backends!(
    a_cold_join_is_answered_from_the_stored_snapshot,
    a_quiet_room_hibernates_and_wakes_on_the_next_edit,
    a_version_1_document_is_upgraded_on_load,
    schema_violations_are_refused_and_valid_edits_go_through,
    partner_councils_edit_one_document_and_converge,
    outsiders_and_unknown_documents_are_unavailable,
    read_only_peer_cannot_change_a_document,
    revocation_reaches_live_connections,
    tickets_are_required_and_single_use,
    a_peer_id_cannot_be_claimed_by_another_user,
    bad_frames_close_the_sender_and_spare_the_others,
);

mod limits {
    //! Bounded everything: slow readers, silent peers, peers that never join.

    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_peer_that_stops_reading_is_disconnected_and_converges_after_reconnecting() {
        let s = TestServer::start_with(Backend::Sqlite, |c| c.sync_outbound_queue = 4).await;
        let arun = s.login("arun@ashby.gov.uk").await;
        let ben = s.login("ben@brockley.gov.uk").await;
        let doc = s.doc_id(&arun, SHARED_REGISTER).await;
        let mut slow = SyncClient::connect(&s, &arun, "peer-slow").await;
        let mut rs = Replica::new(&doc);
        rs.settle(&mut slow).await;
        let mut writer = SyncClient::connect(&s, &ben, "peer-writer").await;
        let mut rw = Replica::new(&doc);
        rw.settle(&mut writer).await;
        // The slow peer stops reading while the writer makes large edits.
        let big = "x".repeat(64 * 1024);
        for i in 0..120 {
            rw.set_risk_text(i % 8, "controls", &format!("{i}{big}"));
            rw.settle_within(&mut writer, Duration::from_millis(20))
                .await;
        }
        // It was disconnected, not silently skipped: what it does receive ends in a close
        // (1008, or a dropped socket if even the close frame could not be written in time).
        let mut ended = None;
        for _ in 0..10_000 {
            match slow.recv().await {
                Heard::Msg(_) => continue,
                other => {
                    ended = Some(other);
                    break;
                }
            }
        }
        assert!(
            matches!(
                ended,
                Some(Heard::Closed(Some(1008), _)) | Some(Heard::Closed(None, _))
            ),
            "slow peer disconnected: {ended:?}"
        );
        // Reconnecting, it converges.
        let mut again = SyncClient::connect(&s, &arun, "peer-slow").await;
        rs.state = automerge::sync::State::new();
        for _ in 0..3 {
            rs.settle(&mut again).await;
        }
        assert_eq!(rs.doc.get_heads(), rw.doc.get_heads());
        s.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_half_open_peer_is_closed_by_the_ping_timeout() {
        let s = TestServer::start_with(Backend::Sqlite, |c| {
            c.sync_ping_interval_secs = 1;
            c.sync_idle_timeout_secs = 2;
        })
        .await;
        let arun = s.login("arun@ashby.gov.uk").await;
        let mut c = SyncClient::connect(&s, &arun, "peer-silent").await;
        // Not reading means not answering pings either.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let mut closed = None;
        for _ in 0..10 {
            match c.recv().await {
                Heard::Closed(code, why) => {
                    closed = Some((code, why));
                    break;
                }
                Heard::Silence => break,
                Heard::Msg(_) => {}
            }
        }
        // The server closes with 1001; the client may instead see the reset, when answering a
        // queued ping races the server dropping the socket. Silence would be the failure.
        assert!(
            matches!(&closed, Some((Some(1001), _)) | Some((None, _))),
            "closed by the server after the idle timeout: {closed:?}"
        );
        s.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_that_never_joins_is_closed_by_a_deadline() {
        let s =
            TestServer::start_with(Backend::Sqlite, |c| c.sync_handshake_timeout_secs = 1).await;
        let arun = s.login("arun@ashby.gov.uk").await;
        let url = ticket_url(&s, &arun).await;
        let ws = SyncClient::open(&url).await.unwrap();
        let mut c = SyncClient::from_ws(ws, "never-joins");
        // Streams data without joining: refused at once.
        assert!(
            c.send(&Message::Leave {
                sender_id: "never-joins".into()
            })
            .await
        );
        assert_eq!(c.closed().await, Some(1008));
        // Says nothing at all: closed at the deadline.
        let url = ticket_url(&s, &arun).await;
        let mut quiet = SyncClient::from_ws(SyncClient::open(&url).await.unwrap(), "quiet");
        let started = std::time::Instant::now();
        assert_eq!(quiet.closed().await, Some(1008));
        assert!(started.elapsed() < Duration::from_secs(3));
        s.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flooding_client_is_throttled_and_honest_clients_still_sync() {
        // 20 messages/s, bursts of 40: a flood of 100 takes at least (100 - 40) / 20 = 3 s to be
        // read (a lower bound the limiter guarantees, not a timing guess).
        let s = TestServer::start_with(Backend::Sqlite, |c| c.sync_messages_per_sec = 20).await;
        let arun = s.login("arun@ashby.gov.uk").await;
        let ben = s.login("ben@brockley.gov.uk").await;
        let doc = s.doc_id(&arun, SHARED_REGISTER).await;

        let mut flooder = SyncClient::connect(&s, &arun, "peer-flood").await;
        let started = std::time::Instant::now();
        let flood = 100;
        let empty_request = {
            use automerge::sync::SyncDoc;
            automerge::Automerge::new()
                .generate_sync_message(&mut automerge::sync::State::new())
                .unwrap()
                .encode()
        };
        for i in 0..flood {
            let unknown = domain::DocumentId::random().to_string();
            assert!(
                flooder
                    .send(&Message::Request {
                        sender_id: "peer-flood".into(),
                        target_id: flooder.server_peer.clone(),
                        document_id: unknown,
                        data: empty_request.clone(),
                    })
                    .await,
                "flood frame {i} sent"
            );
        }

        // Meanwhile two honest clients edit and converge.
        let mut a = SyncClient::connect(&s, &arun, "peer-honest-a").await;
        let mut ra = Replica::new(&doc);
        ra.settle(&mut a).await;
        let mut b = SyncClient::connect(&s, &ben, "peer-honest-b").await;
        let mut rb = Replica::new(&doc);
        rb.settle(&mut b).await;
        ra.set_risk_text(0, "controls", "still syncing");
        ra.settle(&mut a).await;
        rb.settle(&mut b).await;
        assert_eq!(
            rb.risk_text(0, "controls").as_deref(),
            Some("still syncing")
        );

        // Every flood message is answered (throttled, not dropped), no faster than the limit.
        let mut answered = 0;
        while answered < flood {
            match flooder.recv_within(Duration::from_secs(10)).await {
                Heard::Msg(Message::DocUnavailable { .. }) => answered += 1,
                Heard::Msg(_) => {}
                other => panic!("flooder after {answered} answers: {other:?}"),
            }
        }
        assert!(
            started.elapsed() >= Duration::from_millis(2900),
            "the limiter let {flood} messages through in {:?}",
            started.elapsed()
        );
        s.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_closes_live_connections_and_settles_rooms() {
        let s = TestServer::start(Backend::Sqlite).await;
        let arun = s.login("arun@ashby.gov.uk").await;
        let doc = s.doc_id(&arun, SHARED_REGISTER).await;
        let mut c = SyncClient::connect(&s, &arun, "peer-at-shutdown").await;
        let mut r = Replica::new(&doc);
        r.settle(&mut c).await;
        r.set_risk_text(0, "controls", "kept");
        r.settle(&mut c).await;
        let hub = s.hub.clone();
        assert_eq!(hub.loaded_rooms(), 1);
        let (code, stopped) = tokio::join!(
            c.closed(),
            tokio::time::timeout(Duration::from_secs(15), s.stop())
        );
        assert_eq!(code, Some(1001), "told the server is going away");
        stopped.expect("shutdown completes in time");
        assert_eq!(hub.loaded_rooms(), 0, "every room unloaded");
        assert_eq!(
            hub.connections.load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }
}
