//! Editing documents over the live socket as each kind of person may, on both backends: the
//! agreement's text as live text, guests and commenters within their part only, each schema
//! refusing a violation, and councils signing off a version of the agreement.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use serde_json::{Value, json};
use tests::ws::{Replica, SyncClient};
use tests::{Backend, StatusCode, TestServer, on_both_backends};

use crate::documents_rest::{SHARED_REGISTER, SLA};

/// Agreement clause text is a text object, edited character by character; the audit shows
/// the text before and after.
async fn agreement_text_is_live_text(backend: Backend) {
    let s = TestServer::start(backend).await;
    let bella = s.login("bella@brockley.gov.uk").await;
    let doc = s.doc_id(&bella, "Inter-authority agreement").await;
    let mut client = SyncClient::connect(&s, &bella, "peer-bella").await;
    let mut r = Replica::new(&doc);
    r.settle(&mut client).await;
    let (_, clauses) = r.doc.get(ROOT, "clauses").unwrap().unwrap();
    let (_, last) = r.doc.get(&clauses, 6).unwrap().unwrap();
    let (_, text) = r.doc.get(&last, "text").unwrap().unwrap();
    assert_eq!(r.doc.object_type(&text).unwrap(), ObjType::Text);
    let before = r.doc.text(&text).unwrap();
    let at = before.find("twelve").unwrap();
    r.doc.splice_text(&text, at, 6, "eighteen").unwrap();
    assert!(r.settle(&mut client).await.is_empty());
    let (_, a) = s
        .get(&format!("/api/documents/{doc}/audit?limit=1"), &bella)
        .await;
    let edit = &a["items"][0]["edits"][0];
    assert_eq!(edit["action"], "text", "{a}");
    assert_eq!(edit["from"], before);
    assert!(edit["to"].as_str().unwrap().contains("eighteen months"));

    // Rich text as the browser's editor writes it: a second paragraph (a block marker) and a
    // bold mark. Accepted; the audit reads the paragraph as a line break and calls the mark a
    // format change.
    let at = r.doc.text(&text).unwrap().find(" The withdrawing").unwrap() + 1;
    r.doc.split_block(&text, at).unwrap();
    assert!(r.settle(&mut client).await.is_empty());
    let (_, a) = s
        .get(&format!("/api/documents/{doc}/audit?limit=1"), &bella)
        .await;
    let edit = &a["items"][0]["edits"][0];
    assert!(
        edit["to"]
            .as_str()
            .unwrap()
            .contains("31 March. \nThe withdrawing"),
        "{a}"
    );
    r.doc
        .mark(
            &text,
            automerge::marks::Mark::new("strong".into(), true, 0, 10),
            automerge::marks::ExpandMark::After,
        )
        .unwrap();
    assert!(r.settle(&mut client).await.is_empty());
    let (_, a) = s
        .get(&format!("/api/documents/{doc}/audit?limit=1"), &bella)
        .await;
    assert_eq!(a["items"][0]["edits"][0]["action"], "format", "{a}");
    s.stop().await;
}

async fn content_of(s: &TestServer, token: &str, doc: &str) -> Value {
    let (_, c) = s.get(&format!("/api/documents/{doc}/content"), token).await;
    c["content"].clone()
}

fn refused_with(heard: &[tests::ws::Heard], words: &str) -> bool {
    heard.iter().any(|h| {
        matches!(h, tests::ws::Heard::Msg(sync::codec::Message::Error { message, .. }) if message.contains(words))
    })
}

/// One edit by `email` on a fresh connection: the messages heard back.
async fn edit_as(
    s: &TestServer,
    token: &str,
    doc: &str,
    edit: impl FnOnce(&mut automerge::AutoCommit),
) -> Vec<tests::ws::Heard> {
    let mut client = SyncClient::connect(s, token, &format!("peer-{}", uuid::Uuid::new_v4())).await;
    let mut r = Replica::new(doc);
    r.settle(&mut client).await;
    edit(&mut r.doc);
    r.settle(&mut client).await
}

/// What a guest editor and a commenter may change, enforced on the server per change.
async fn guests_and_commenters_edit_only_their_part(backend: Backend) {
    let s = TestServer::start(backend).await;
    let alice = s.login("alice@ashby.gov.uk").await;
    let grace = s.login("grace@riverside.org.uk").await;
    let sla = s.doc_id(&alice, SLA).await;

    // The guest (an editor of the SLA) reports a measurement: accepted.
    let heard = edit_as(&s, &grace, &sla, |d| {
        let (_, list) = d.get(ROOT, "measurements").unwrap().unwrap();
        let n = d.length(&list);
        domain::documents::insert_json(
            d,
            &list,
            n,
            &json!({ "id": "m-grace", "kpiId": "kpi-claims", "period": "2030-01", "actual": 21.0,
                     "commentary": "Agency staff from Riverside cleared the backlog" }),
        )
        .unwrap();
    })
    .await;
    assert!(heard.is_empty(), "{heard:?}");
    let before = content_of(&s, &alice, &sla).await;
    assert!(before["measurements"].to_string().contains("m-grace"));

    // She may correct her own measurement, not another's.
    let heard = edit_as(&s, &grace, &sla, |d| {
        let (_, list) = d.get(ROOT, "measurements").unwrap().unwrap();
        let n = d.length(&list);
        let (_, mine) = d.get(&list, n - 1).unwrap().unwrap();
        d.put(&mine, "actual", 20.5).unwrap();
    })
    .await;
    assert!(heard.is_empty(), "{heard:?}");
    let heard = edit_as(&s, &grace, &sla, |d| {
        let (_, list) = d.get(ROOT, "measurements").unwrap().unwrap();
        let (_, theirs) = d.get(&list, 0).unwrap().unwrap();
        d.put(&theirs, "actual", 1.0).unwrap();
    })
    .await;
    assert!(
        refused_with(&heard, "only the entries of measurements you added"),
        "{heard:?}"
    );
    let before = content_of(&s, &alice, &sla).await;
    assert!(before["measurements"].to_string().contains("20.5"));

    // …and may not move the target, nor delete a measurement.
    let heard = edit_as(&s, &grace, &sla, |d| {
        let (_, kpis) = d.get(ROOT, "kpis").unwrap().unwrap();
        let (_, k) = d.get(&kpis, 0).unwrap().unwrap();
        d.put(&k, "target", 30.0).unwrap();
    })
    .await;
    assert!(
        refused_with(&heard, "you may only add to measurements"),
        "{heard:?}"
    );
    let heard = edit_as(&s, &grace, &sla, |d| {
        let (_, list) = d.get(ROOT, "measurements").unwrap().unwrap();
        d.delete(&list, 0).unwrap();
    })
    .await;
    assert!(
        refused_with(&heard, "you may only add to measurements"),
        "{heard:?}"
    );
    assert_eq!(
        content_of(&s, &alice, &sla).await,
        before,
        "nothing of the refused edits stored"
    );

    // A commenter on the agreement (a guest invited to comment) adds a comment…
    let agreement = s.doc_id(&alice, "Inter-authority agreement").await;
    let (_, orgs) = s.get("/api/organisations", &alice).await;
    let riverside = orgs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Riverside Community Trust")
        .unwrap()["id"]
        .clone();
    let (status, created) = s
        .post(
            "/api/invitations",
            &alice,
            json!({ "email": "cara@riverside.org.uk", "organisation_id": riverside,
                    "documents": [agreement], "role": "commenter" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, accepted) = s
        .call(
            reqwest::Method::POST,
            "/api/invitations/accept",
            None,
            Some(
                json!({ "token": created["token"], "display_name": "Cara Doyle",
                         "password": "a long guest password" }),
            ),
        )
        .await;
    let cara = accepted["session"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let heard = edit_as(&s, &cara, &agreement, |d| {
        let (_, list) = d.get(ROOT, "comments").unwrap().unwrap();
        let n = d.length(&list);
        domain::documents::insert_json(
            d,
            &list,
            n,
            &json!({ "id": "cm-cara", "clauseId": "cl-6", "author": "Cara Doyle",
                     "body": "Riverside will need its own data sharing schedule.", "createdAt": 1 }),
        )
        .unwrap();
    })
    .await;
    assert!(heard.is_empty(), "{heard:?}");
    // …but may not change the clause text.
    let heard = edit_as(&s, &cara, &agreement, |d| {
        let (_, clauses) = d.get(ROOT, "clauses").unwrap().unwrap();
        let (_, c) = d.get(&clauses, 0).unwrap().unwrap();
        let (_, text) = d.get(&c, "text").unwrap().unwrap();
        d.splice_text(&text, 0, 0, "DRAFT ").unwrap();
    })
    .await;
    assert!(
        refused_with(&heard, "you may only add to comments"),
        "{heard:?}"
    );
    let (_, now) = s
        .get(&format!("/api/documents/{agreement}/content"), &alice)
        .await;
    assert!(now["content"]["comments"].to_string().contains("cm-cara"));
    assert!(
        !now["content"]["clauses"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("DRAFT")
    );
    s.stop().await;
}

/// Every kind of document refuses a change that breaks its schema, naming the place at fault,
/// and stores nothing of it.
async fn each_schema_refuses_a_violation(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let cases = [
        (
            SHARED_REGISTER,
            "assessments",
            json!({ "id": "bad", "riskId": "risk-1", "kind": "current", "likelihood": 9,
                    "impact": 1, "date": "2026-01-01", "assessor": "x" }),
            "outside the 5×5 matrix",
        ),
        (
            SLA,
            "measurements",
            json!({ "id": "bad", "kpiId": "no-such-kpi", "period": "2030-01", "actual": 1.0 }),
            "kpiId",
        ),
        (
            "Inter-authority agreement",
            "comments",
            json!({ "id": "bad", "clauseId": "no-such-clause", "author": "x", "body": "y",
                    "createdAt": 1 }),
            "clauseId",
        ),
        (
            "Joint Governance Committee, 12 March",
            "decisions",
            json!({ "id": "bad", "agendaItemId": "no-such-item", "text": "Resolved" }),
            "agendaItemId",
        ),
    ];
    for (title, list, value, words) in cases {
        let doc = s.doc_id(&arun, title).await;
        let before = content_of(&s, &arun, &doc).await;
        let heard = edit_as(&s, &arun, &doc, |d| {
            let (_, l) = d.get(ROOT, list).unwrap().unwrap();
            let n = d.length(&l);
            domain::documents::insert_json(d, &l, n, &value).unwrap();
        })
        .await;
        assert!(refused_with(&heard, words), "{title}: {heard:?}");
        assert!(refused_with(&heard, "Reload the document"), "{title}");
        assert_eq!(
            content_of(&s, &arun, &doc).await,
            before,
            "{title}: stored nothing"
        );
    }
    s.stop().await;
}

/// Each member council signs a named version of the agreement through the API, once, and only
/// a version in which every clause is agreed; nobody writes sign-offs through sync.
async fn councils_sign_off_a_version_of_the_agreement(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let carl = s.login("carl@carrow.gov.uk").await;
    let grace = s.login("grace@riverside.org.uk").await;
    let doc = s.doc_id(&arun, "Inter-authority agreement").await;
    let version = |label: &'static str| {
        let (s, arun, doc) = (&s, &arun, &doc);
        async move {
            let (status, v) = s
                .post(
                    &format!("/api/documents/{doc}/versions"),
                    arun,
                    json!({ "label": label }),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{v}");
            v["id"].as_str().unwrap().to_owned()
        }
    };
    let sign = |token: &str, version: &str| {
        let body = json!({ "version_id": version });
        let (s, doc, token) = (&s, &doc, token.to_owned());
        async move {
            s.post(&format!("/api/documents/{doc}/sign-offs"), &token, body)
                .await
        }
    };

    // The demo agreement has four clauses still draft or proposed.
    let draft = version("Draft for consultation").await;
    let (status, e) = sign(&arun, &draft).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("4 are not"), "{e}");

    // Every clause agreed, then frozen: that version is signed.
    let heard = edit_as(&s, &arun, &doc, |d| {
        let (_, clauses) = d.get(ROOT, "clauses").unwrap().unwrap();
        for i in 0..d.length(&clauses) {
            let (_, c) = d.get(&clauses, i).unwrap().unwrap();
            d.put(&c, "status", "agreed").unwrap();
        }
    })
    .await;
    assert!(heard.is_empty(), "{heard:?}");
    let agreed = version("As agreed by the Joint Committee").await;
    let (status, signed) = sign(&arun, &agreed).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    assert_eq!(signed["signedBy"], "Arun Shah (Ashby)");
    assert_eq!(signed["versionId"], agreed.as_str());
    let (status, e) = sign(&arun, &agreed).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    let (status, _) = sign(&ben, &agreed).await;
    assert_eq!(status, StatusCode::CREATED);
    // Two officers of one council sign a later version at the same moment: one sign-off.
    let alice = s.login("alice@ashby.gov.uk").await;
    let later = version("Consolidated text").await;
    let (a, b) = tokio::join!(sign(&arun, &later), sign(&alice, &later));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );

    // Not a member council, not granted, not a version of this document.
    let (status, _) = sign(&carl, &agreed).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = sign(&grace, &agreed).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = sign(&arun, &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let content = content_of(&s, &arun, &doc).await;
    let signs = content["signOffs"].as_array().unwrap();
    assert_eq!(signs.len(), 3, "{content}");
    assert_ne!(signs[0]["council"], signs[1]["council"]);

    // A writer cannot record (or remove) a sign-off through sync.
    let heard = edit_as(&s, &arun, &doc, |d| {
        let (_, list) = d.get(ROOT, "signOffs").unwrap().unwrap();
        d.delete(&list, 0).unwrap();
    })
    .await;
    assert!(
        refused_with(&heard, "signOffs is recorded by the server"),
        "{heard:?}"
    );
    assert_eq!(content_of(&s, &arun, &doc).await, content);
    s.stop().await;
}

on_both_backends!(
    agreement_text_is_live_text,
    guests_and_commenters_edit_only_their_part,
    each_schema_refuses_a_violation,
    councils_sign_off_a_version_of_the_agreement,
);
