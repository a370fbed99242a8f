//! The tenant wall against a hostile council: an administrator of a council outside a
//! partnership, using only the public API and chaining legitimate calls, gains no access to
//! another council's or partnership's data. Both backends.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tests::{Backend, StatusCode, TestServer, on_both_backends};

const A_PRIVATE: &str = "Ashby corporate risk register";
const C_PRIVATE: &str = "Carrow corporate risk register";
const SHARED_REGISTER: &str = "Shared services partnership risk register";
const SLA: &str = "Revenues & benefits SLA 2026/27";
const SLA_FIGURES: &str = "Revenues & benefits SLA 2026/27 — partners' figures";

async fn org_id(s: &TestServer, token: &str, name: &str) -> Value {
    let (_, orgs) = s.get("/api/organisations", token).await;
    orgs.as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("{name} listed"))["id"]
        .clone()
}

async fn accept(s: &TestServer, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    s.call(
        reqwest::Method::POST,
        "/api/invitations/accept",
        token,
        Some(body),
    )
    .await
}

/// Attack 1: pre-register the address an invitation will later name, in one's own council.
async fn squatting_an_invitees_address_gains_nothing(backend: Backend) {
    let s = TestServer::start(backend).await;
    let carl = s.login("carl@carrow.gov.uk").await; // Carrow: outside the partnership
    let alice = s.login("alice@ashby.gov.uk").await;
    let riverside = org_id(&s, &alice, "Riverside Community Trust").await;
    let a_private = s.doc_id(&alice, A_PRIVATE).await;
    let mut attempts = 0;
    let mut successes = 0;

    // Carl cannot create accounts outside Carrow's verified domain.
    for email in [
        "worker@riverside.org.uk",
        "worker@unclaimed-charity.org",
        "someone@ashby.gov.uk",
    ] {
        attempts += 1;
        let (status, body) = s
            .post(
                "/api/users",
                &carl,
                json!({"email": email, "display_name": "Squatter", "password": "a long squatter password"}),
            )
            .await;
        if status.is_success() {
            successes += 1;
        } else {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(body["error"]["field"], "email");
        }
    }
    // Its own domain works.
    let (status, body) = s
        .post(
            "/api/users",
            &carl,
            json!({"email": "new.officer@carrow.gov.uk", "display_name": "New Officer", "password": "a long officer password"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Ashby invites a charity worker (no account yet) and an existing guest (Grace).
    let (status, fresh) = s.post("/api/invitations", &alice, json!({"email": "worker@unclaimed-charity.org", "organisation_id": riverside, "documents": [a_private], "role": "editor"})).await;
    assert_eq!(status, StatusCode::CREATED, "{fresh}");
    let (status, existing) = s.post("/api/invitations", &alice, json!({"email": "grace@riverside.org.uk", "organisation_id": riverside, "documents": [a_private], "role": "editor"})).await;
    assert_eq!(status, StatusCode::CREATED, "{existing}");

    // Carl holds Grace's link: anonymous, with a password of his choosing, or signed in as
    // himself, it attaches nothing.
    for (token, body) in [
        (None, json!({"token": existing["token"]})),
        (
            None,
            json!({"token": existing["token"], "display_name": "Grace", "password": "carl chose this password"}),
        ),
        (Some(carl.as_str()), json!({"token": existing["token"]})),
    ] {
        attempts += 1;
        let (status, body) = accept(&s, token, body).await;
        if status.is_success() {
            successes += 1;
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            assert_eq!(body["error"]["code"], "sign_in_required");
        }
    }
    // Nothing reached Carl, and the invitation is still Grace's to accept.
    attempts += 1;
    let (status, _) = s.get(&format!("/api/documents/{a_private}"), &carl).await;
    if status != StatusCode::NOT_FOUND {
        successes += 1;
    }
    let (status, body) = s
        .call(
            reqwest::Method::POST,
            "/api/auth/login",
            None,
            Some(
                json!({"email": "grace@riverside.org.uk", "password": "carl chose this password"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let grace = s.login("grace@riverside.org.uk").await;
    let (status, body) = accept(&s, Some(&grace), json!({"token": existing["token"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["user"]["is_guest"], true,
        "accepting never makes a member"
    );
    let (_, doc) = s.get(&format!("/api/documents/{a_private}"), &grace).await;
    assert_eq!(doc["access"], "write");

    // The new worker's account is a guest of the partner body, never of a council.
    let (status, body) = accept(
        &s,
        None,
        json!({"token": fresh["token"], "display_name": "Worker", "password": "a long worker password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["is_guest"], true);
    assert_eq!(body["user"]["org_id"], riverside);
    eprintln!("squatting: {attempts} attempts, {successes} successes");
    assert_eq!(successes, 0);
    s.stop().await;
}

/// Attack 2: name another council (or one's own) as a guest's organisation, accept it oneself,
/// and read that council's staff, invitations and partnerships.
async fn a_guest_is_never_placed_in_a_council(backend: Backend) {
    let s = TestServer::start(backend).await;
    let carl = s.login("carl@carrow.gov.uk").await;
    let alice = s.login("alice@ashby.gov.uk").await;
    let ashby = org_id(&s, &carl, "Ashby Borough Council").await;
    let carrow = org_id(&s, &carl, "Carrow City Council").await;
    let c_private = s.doc_id(&carl, C_PRIVATE).await;
    for org in [&ashby, &carrow] {
        let (status, body) = s.post("/api/invitations", &carl, json!({"email": "plant@elsewhere.org", "organisation_id": org, "documents": [c_private], "role": "editor"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "organisation_id");
    }
    // A partner body of Carl's own making is allowed; its guest sees only what was granted.
    let (status, shell) = s
        .post(
            "/api/organisations",
            &carl,
            json!({"name": "Shell Trust", "kind": "partner"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{shell}");
    assert_eq!(shell["domains"], json!([]));
    let (status, inv) = s.post("/api/invitations", &carl, json!({"email": "plant@elsewhere.org", "organisation_id": shell["id"], "documents": [c_private], "role": "editor"})).await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    let (status, accepted) = accept(
        &s,
        None,
        json!({"token": inv["token"], "display_name": "Plant", "password": "a long plant password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let plant = accepted["session"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Ashby's pending invitation, to try to revoke.
    let a_shared = s.doc_id(&alice, SHARED_REGISTER).await;
    let riverside = org_id(&s, &alice, "Riverside Community Trust").await;
    let (_, ashby_inv) = s.post("/api/invitations", &alice, json!({"email": "pending@riverside.org.uk", "organisation_id": riverside, "documents": [a_shared], "role": "viewer"})).await;
    let grace = s.login("grace@riverside.org.uk").await;
    for guest in [&plant, &grace] {
        let (status, users) = s.get("/api/users", guest).await;
        assert_eq!((status, &users), (StatusCode::OK, &json!([])));
        let (status, invs) = s.get("/api/invitations", guest).await;
        assert_eq!((status, &invs), (StatusCode::OK, &json!([])));
        let (status, _) = s
            .delete(
                &format!(
                    "/api/invitations/{}",
                    ashby_inv["invitation"]["id"].as_str().unwrap()
                ),
                guest,
            )
            .await;
        assert_ne!(status, StatusCode::NO_CONTENT);
    }
    let (_, partnerships) = s.get("/api/partnerships", &plant).await;
    assert_eq!(partnerships, json!([]));
    assert_eq!(s.titles(&plant).await.len(), 1);
    // Councils' own user lists hold no guests at all.
    let (_, users) = s.get("/api/users", &alice).await;
    let users = users.as_array().unwrap();
    assert!(!users.is_empty());
    assert!(
        users
            .iter()
            .all(|u| u["is_guest"] == false
                && u["email"].as_str().unwrap().ends_with("@ashby.gov.uk"))
    );
    // The pending invitation is untouched: its invitee can still accept it.
    let (status, body) = accept(
        &s,
        None,
        json!({"token": ashby_inv["token"], "display_name": "Pending", "password": "a long pending password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.stop().await;
}

/// A workbook whose shared strings expand far beyond its size is refused before it is parsed.
async fn a_decompression_bomb_is_refused_before_parsing(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let doc = s.doc_id(&arun, SHARED_REGISTER).await;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "Reference").unwrap();
    sheet.write_string(0, 1, "Risk title").unwrap();
    for row in 1..=200u32 {
        sheet.write_string(row, 0, format!("B-{row}")).unwrap();
        let title = format!("{row}{}", "A".repeat(30_000));
        sheet.write_string(row, 1, title).unwrap();
    }
    let bytes = book.save_to_buffer().unwrap();
    let (status, body) = s
        .post(
            &format!("/api/documents/{doc}/import/preview"),
            &arun,
            json!({"format": "xlsx", "file": STANDARD.encode(&bytes)}),
        )
        .await;
    eprintln!(
        "bomb of {} bytes: {status} {}",
        bytes.len(),
        body["error"]["message"]
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("compression ratio"),
        "{body}"
    );
    s.stop().await;
}

/// Tokens and document content are never stored by a browser or proxy; API responses are not
/// sniffed or framed.
async fn api_responses_are_not_stored(backend: Backend) {
    let s = TestServer::start(backend).await;
    let login = s
        .http
        .post(s.url("/api/auth/login"))
        .json(&json!({"email": "arun@ashby.gov.uk", "password": server::demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    let arun = s.login("arun@ashby.gov.uk").await;
    let doc = s.doc_id(&arun, SHARED_REGISTER).await;
    let content = s
        .http
        .get(s.url(&format!("/api/documents/{doc}/content")))
        .bearer_auth(&arun)
        .send()
        .await
        .unwrap();
    let report = s
        .http
        .get(s.url(&format!("/api/documents/{doc}/report.html")))
        .bearer_auth(&arun)
        .send()
        .await
        .unwrap();
    for resp in [&login, &content, &report] {
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h["cache-control"], "no-store", "{}", resp.url());
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }
    // Served over http here: no HSTS (it is sent only when the public URL is https).
    assert!(login.headers().get("strict-transport-security").is_none());
    s.stop().await;

    // Behind a TLS proxy (an https public URL): every response, the web UI's too, carries HSTS.
    let s = TestServer::start_with(backend, |c| {
        c.public_url = "https://concordat.example.gov.uk".into();
    })
    .await;
    for path in ["/healthz", "/api/openapi.json", "/"] {
        let r = s.http.get(s.url(path)).send().await.unwrap();
        let hsts = r
            .headers()
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            hsts.as_deref().is_some_and(|v| v.contains("max-age=")),
            "{path}: {hsts:?}"
        );
    }
    s.stop().await;
}

/// One person tries to make a document nobody can open: a huge paste, an over-long text, a
/// title the length of a book, a key of their own at the top. Each is refused whole, nothing
/// is stored, the partner on the same document is unaffected, and an honest edit still lands.
async fn no_one_edit_can_bloat_a_document(backend: Backend) {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    use sync::codec::Message;
    use tests::ws::{Heard, Replica, SyncClient};

    let s = TestServer::start_with(backend, |c| {
        c.sync_max_change_ops = 50_000;
        c.max_long_text_chars = 20_000;
        c.max_short_text_chars = 300;
    })
    .await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let doc = s.doc_id(&arun, SHARED_REGISTER).await;
    let stored_heads = || async {
        tests::stored_document(s.store.as_ref(), &doc)
            .await
            .get_heads()
    };
    let before = stored_heads().await;
    let mut partner = SyncClient::connect(&s, &ben, "peer-partner").await;
    let mut rp = Replica::new(&doc);
    rp.settle(&mut partner).await;

    type Attack = Box<dyn Fn(&mut Replica)>;
    let attacks: Vec<(&str, Attack, &str)> = vec![
        (
            "a 60 000-character paste into a text",
            Box::new(|r: &mut Replica| {
                let (_, risks) = r.doc.get(automerge::ROOT, "risks").unwrap().unwrap();
                let (_, risk) = r.doc.get(&risks, 0).unwrap().unwrap();
                let text = r
                    .doc
                    .put_object(&risk, "controls", automerge::ObjType::Text)
                    .unwrap();
                r.doc.splice_text(&text, 0, 0, &"x".repeat(60_000)).unwrap();
            }),
            "changes too large",
        ),
        (
            "a 30 000-character value in a long text",
            Box::new(|r: &mut Replica| r.set_risk_text(0, "controls", &"y".repeat(30_000))),
            "risks[0].controls: is 30000 characters long; at most 20000",
        ),
        (
            "a 400-character title",
            Box::new(|r: &mut Replica| r.set_risk_text(0, "title", &"t".repeat(400))),
            "risks[0].title: is 400 characters long; at most 300",
        ),
        (
            "a key of one's own at the top",
            Box::new(|r: &mut Replica| {
                r.doc.put(automerge::ROOT, "planted", "by Ashby").unwrap();
            }),
            "\"planted\" is not part of this document's schema",
        ),
    ];
    let mut refused = 0;
    for (i, (name, attack, why)) in attacks.iter().enumerate() {
        let mut c = SyncClient::connect(&s, &arun, &format!("peer-bloat-{i}")).await;
        let mut r = Replica::new(&doc);
        r.settle(&mut c).await;
        attack(&mut r);
        let heard = r.settle(&mut c).await;
        let error = heard.iter().find_map(|h| match h {
            Heard::Msg(Message::Error { message, .. }) => Some(message.clone()),
            _ => None,
        });
        let closed = heard.iter().any(|h| matches!(h, Heard::Closed(..)));
        if error.as_deref().is_some_and(|m| m.contains(why)) && closed {
            refused += 1;
        } else {
            eprintln!("{name}: heard {heard:?}");
        }
        assert_eq!(stored_heads().await, before, "{name}: nothing stored");
    }
    assert_eq!(
        refused,
        attacks.len(),
        "{refused} of {} refused",
        attacks.len()
    );

    // The partner heard none of it, and an honest edit still goes through to them.
    let mut c = SyncClient::connect(&s, &arun, "peer-honest").await;
    let mut r = Replica::new(&doc);
    r.settle(&mut c).await;
    r.set_risk_text(0, "controls", &"z".repeat(19_000));
    let heard = r.settle(&mut c).await;
    assert!(
        !heard
            .iter()
            .any(|h| matches!(h, Heard::Msg(Message::Error { .. }))),
        "{heard:?}"
    );
    rp.settle(&mut partner).await;
    assert_eq!(rp.risk_text(0, "controls").map(|t| t.len()), Some(19_000));
    assert_eq!(rp.doc.get_heads(), stored_heads().await);
    s.stop().await;
}

/// An SLA's partners-only figures never reach its guests. Riverside (a guest editor of the
/// demo SLA) syncs the SLA over the websocket: the line shared with it is there, the councils'
/// own cost lines, the shared director's time and the savings are nowhere in the SLA's
/// history; the figures' own document is unavailable to it over the socket and through REST,
/// and it may not create one. Members see both, summarised together; a new SLA gets its
/// figures at creation; an SLA stored before them gets them on request, once.
async fn a_guest_never_receives_the_partners_figures(backend: Backend) {
    use sync::codec::Message;
    use tests::ws::{Heard, Replica, SyncClient};

    let s = TestServer::start(backend).await;
    let alice = s.login("alice@ashby.gov.uk").await;
    let grace = s.login("grace@riverside.org.uk").await;
    let sla = s.doc_id(&alice, SLA).await;
    let figures = s.doc_id(&alice, SLA_FIGURES).await;

    let mut c = SyncClient::connect(&s, &grace, "peer-guest").await;
    let mut r = Replica::new(&sla);
    r.settle(&mut c).await;
    assert_eq!(
        r.get("partnersFigures").as_deref(),
        Some(&*format!("\"{figures}\""))
    );
    let doc = r.doc.document().clone();
    let shared = domains_json(&doc, &doc.get_heads());
    assert!(
        shared.contains("Benefits take-up advice contract"),
        "{shared}"
    );
    // Every state the SLA was ever in, not only the last one.
    let mut states = 0;
    for change in doc.get_changes(&[]) {
        let json = domains_json(&doc, &[change.hash()]);
        for private in [
            "Shared revenues and benefits team",
            "412000000",
            "Director of Resources",
            "18500000",
        ] {
            assert!(
                !json.contains(private),
                "{private} in the SLA at {}: {json}",
                change.hash()
            );
        }
        states += 1;
    }
    assert!(states > 0);
    let mut f = Replica::new(&figures);
    let heard = f.settle(&mut c).await;
    assert!(
        heard.iter().any(|h| matches!(h, Heard::Msg(Message::DocUnavailable { document_id, .. }) if *document_id == figures)),
        "{heard:?}"
    );
    assert!(f.doc.get_heads().is_empty(), "no byte of the figures");
    for path in [
        format!("/api/documents/{figures}"),
        format!("/api/documents/{figures}/content"),
        format!("/api/documents/{figures}/audit"),
    ] {
        assert_eq!(
            s.get(&path, &grace).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let titles = s.titles(&grace).await;
    assert!(titles.iter().all(|(_, id)| *id != figures), "{titles:?}");
    let (status, body) = s
        .post(
            &format!("/api/documents/{sla}/partners-figures"),
            &grace,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // A member: the figures document, and the dashboard's split from both documents.
    let (status, body) = s
        .post(
            &format!("/api/documents/{sla}/partners-figures"),
            &alice,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::OK, Some(&*figures)),
        "{body}"
    );
    let (_, spaces) = s.get("/api/partnerships", &alice).await;
    let pid = spaces[0]["id"].as_str().unwrap().to_owned();
    let (status, d) = s
        .get(&format!("/api/partnerships/{pid}/dashboard"), &alice)
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    let lines: Vec<&str> = d["slas"][0]["cost_split"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["description"].as_str().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "Benefits take-up advice contract (Riverside)",
            "Shared revenues and benefits team",
            "Revenues system licence"
        ]
    );

    // A new SLA comes with its figures, linked both ways.
    let space = s.get(&format!("/api/documents/{sla}"), &alice).await.1["space_id"].clone();
    let (status, new) = s
        .post(
            "/api/documents",
            &alice,
            json!({"space_id": space, "kind": "sla", "title": "Planning SLA"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{new}");
    let new_id = new["id"].as_str().unwrap();
    let (_, content) = s
        .get(&format!("/api/documents/{new_id}/content"), &alice)
        .await;
    let linked = content["content"]["partnersFigures"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!linked.is_empty(), "{content}");
    let (status, back) = s
        .get(&format!("/api/documents/{linked}/content"), &alice)
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["content"]["sla"], new_id, "{back}");
    let (status, body) = s
        .post(
            "/api/documents",
            &alice,
            json!({"space_id": space, "kind": "sla-figures", "title": "Loose figures"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // An SLA stored before figures had a document gets one on request, once.
    let owner = tests::principal(s.store.as_ref(), "alice@ashby.gov.uk").await;
    let old = domain::Document {
        id: domain::DocumentId::random(),
        space_id: space.as_str().unwrap().parse().unwrap(),
        kind: domain::DocumentKind::Sla,
        title: "Older SLA".into(),
        archived: false,
        created_by: owner.user_id,
        created_at: store::now_millis(),
        updated_at: store::now_millis(),
    };
    s.store
        .create_document(
            &owner,
            &old,
            &domain::schema::initial_document(domain::DocumentKind::Sla),
        )
        .await
        .unwrap();
    let path = format!("/api/documents/{}/partners-figures", old.id);
    let (status, first) = s.post(&path, &alice, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = s.post(&path, &alice, json!({})).await;
    assert_eq!(
        (status, &again["id"]),
        (StatusCode::OK, &first["id"]),
        "{again}"
    );
    let stored = tests::stored_document(s.store.as_ref(), &old.id.to_string()).await;
    let json = domain::documents::to_json(&stored);
    assert_eq!(json["partnersFigures"], first["id"], "{json}");
    s.stop().await;
}

/// The document's JSON form as it stood at `heads`.
fn domains_json(doc: &automerge::Automerge, heads: &[automerge::ChangeHash]) -> String {
    let at = doc.fork_at(heads).unwrap();
    domain::documents::to_json(&at).to_string()
}

on_both_backends!(
    a_guest_never_receives_the_partners_figures,
    no_one_edit_can_bloat_a_document,
    api_responses_are_not_stored,
    squatting_an_invitees_address_gains_nothing,
    a_guest_is_never_placed_in_a_council,
    a_decompression_bomb_is_refused_before_parsing,
);
