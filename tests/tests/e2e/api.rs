//! The tenant wall through the REST API, over real HTTP as the demo workspace's real users, on
//! both backends: councils, partnership members, guests, grants that end and invitations.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use serde_json::{Value, json};
use tests::{Backend, StatusCode, TestServer, on_both_backends};

pub(crate) const A_PRIVATE: &str = "Ashby corporate risk register";
const B_PRIVATE: &str = "Brockley exit planning register";
const C_PRIVATE: &str = "Carrow corporate risk register";
const SHARED_REGISTER: &str = "Shared services partnership risk register";
const SLA: &str = "Revenues & benefits SLA 2026/27";
const SLA_FIGURES: &str = "Revenues & benefits SLA 2026/27 — partners' figures";
const AGREEMENT: &str = "Inter-authority agreement";
const MEETING: &str = "Joint Governance Committee, 12 March";

fn sorted_titles(list: Vec<(String, String)>) -> Vec<String> {
    let mut t: Vec<String> = list.into_iter().map(|(t, _)| t).collect();
    t.sort();
    t
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut t: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    t.sort();
    t
}

async fn council_cannot_reach_another_councils_private_documents(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let bella = s.login("bella@brockley.gov.uk").await;
    let a_doc = s.doc_id(&arun, A_PRIVATE).await;

    // Listing: Ben's list holds his council's and the partnership's documents, not Ashby's.
    assert_eq!(
        sorted_titles(s.titles(&ben).await),
        sorted(&[
            B_PRIVATE,
            SHARED_REGISTER,
            SLA,
            SLA_FIGURES,
            AGREEMENT,
            MEETING
        ])
    );
    // Filtering by Ashby's private space reveals nothing either.
    let (_, spaces) = s.get("/api/spaces", &arun).await;
    let a_space = spaces
        .as_array()
        .unwrap()
        .iter()
        .find(|sp| sp["owner"]["kind"] == "private")
        .unwrap()["id"]
        .clone();
    let (status, page) = s
        .get(
            &format!("/api/documents?space_id={}", a_space.as_str().unwrap()),
            &ben,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"], json!([]));
    let (status, _) = s
        .get(&format!("/api/spaces/{}", a_space.as_str().unwrap()), &ben)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Get, rename and archive: each answers exactly as for a document that does not exist.
    let missing = domain::DocumentId::random().to_string();
    for token in [&ben, &bella] {
        let (s1, hidden) = s.get(&format!("/api/documents/{a_doc}"), token).await;
        let (s2, absent) = s.get(&format!("/api/documents/{missing}"), token).await;
        assert_eq!((s1, &hidden), (s2, &absent));
        assert_eq!(s1, StatusCode::NOT_FOUND);
        let (s1, hidden) = s
            .patch(
                &format!("/api/documents/{a_doc}"),
                token,
                json!({"title": "Mine now"}),
            )
            .await;
        let (s2, absent) = s
            .patch(
                &format!("/api/documents/{missing}"),
                token,
                json!({"title": "Mine now"}),
            )
            .await;
        assert_eq!((s1, &hidden), (s2, &absent));
        let (s1, _) = s
            .patch(
                &format!("/api/documents/{a_doc}"),
                token,
                json!({"archived": true}),
            )
            .await;
        assert_eq!(s1, StatusCode::NOT_FOUND);
        let (s1, _) = s
            .get(&format!("/api/documents/{a_doc}/grants"), token)
            .await;
        assert_eq!(s1, StatusCode::NOT_FOUND);
    }
    // Nothing changed.
    let (status, doc) = s.get(&format!("/api/documents/{a_doc}"), &arun).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["title"], A_PRIVATE);
    assert_eq!(doc["archived"], false);
    assert_eq!(doc["access"], "write");

    // A council cannot create in another council's private space.
    let (status, body) = s
        .post(
            "/api/documents",
            &ben,
            json!({"space_id": a_space, "kind": "risk-register", "title": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "space_id");
    s.stop().await;
}

async fn partnership_members_reach_shared_documents_and_outsiders_do_not(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let ben = s.login("ben@brockley.gov.uk").await;
    let bella = s.login("bella@brockley.gov.uk").await;
    let carl = s.login("carl@carrow.gov.uk").await;
    let register = s.doc_id(&arun, SHARED_REGISTER).await;

    // Both member councils see and edit the shared register.
    for token in [&arun, &ben] {
        let (status, doc) = s.get(&format!("/api/documents/{register}"), token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(doc["access"], "write");
        assert_eq!(doc["url"], format!("automerge:{register}"));
    }
    let (status, doc) = s
        .patch(
            &format!("/api/documents/{register}"),
            &ben,
            json!({"title": "Shared register (renamed)"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["title"], "Shared register (renamed)");

    // The council outside sees only its own register and not the partnership.
    assert_eq!(sorted_titles(s.titles(&carl).await), sorted(&[C_PRIVATE]));
    let (status, _) = s.get(&format!("/api/documents/{register}"), &carl).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, partnerships) = s.get("/api/partnerships", &carl).await;
    assert_eq!(partnerships, json!([]));

    // Brockley withdraws: not by ending its membership directly (that would leave without the
    // export it is entitled to) but through the exit; its users lose the shared documents at
    // once; Ashby keeps them.
    let (_, list) = s.get("/api/partnerships", &bella).await;
    let pid = list[0]["id"].as_str().unwrap().to_owned();
    let (_, me) = s.get("/api/me", &bella).await;
    let b_org = me["user"]["org_id"].as_str().unwrap().to_owned();
    let (status, body) = s
        .delete(&format!("/api/partnerships/{pid}/members/{b_org}"), &bella)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/exit"),
        "{body}"
    );
    let (status, _) = s.get(&format!("/api/documents/{register}"), &ben).await;
    assert_eq!(status, StatusCode::OK, "nothing changed");
    let (status, body) = s
        .post(&format!("/api/partnerships/{pid}/exit"), &bella, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = s.get(&format!("/api/documents/{register}"), &ben).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(sorted_titles(s.titles(&ben).await), sorted(&[B_PRIVATE]));
    let (status, _) = s.get(&format!("/api/documents/{register}"), &arun).await;
    assert_eq!(status, StatusCode::OK);
    // The partnership's history still shows Brockley, as having left.
    let (_, view) = s.get(&format!("/api/partnerships/{pid}"), &arun).await;
    let brockley = view["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["org_id"] == b_org.as_str())
        .unwrap();
    assert!(brockley["left_at"].is_i64());

    // The host re-admits Brockley; only the host's admin may.
    let (status, _) = s
        .post(
            &format!("/api/partnerships/{pid}/members"),
            &arun,
            json!({"organisation_id": b_org, "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let alice = s.login("alice@ashby.gov.uk").await;
    let (status, body) = s
        .post(
            &format!("/api/partnerships/{pid}/members"),
            &alice,
            json!({"organisation_id": b_org, "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = s.get(&format!("/api/documents/{register}"), &ben).await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

async fn guest_sees_only_granted_documents(backend: Backend) {
    let s = TestServer::start(backend).await;
    let grace = s.login("grace@riverside.org.uk").await;
    let arun = s.login("arun@ashby.gov.uk").await;
    assert_eq!(sorted_titles(s.titles(&grace).await), sorted(&[SLA]));
    let sla = s.doc_id(&grace, SLA).await;
    let (status, doc) = s.get(&format!("/api/documents/{sla}"), &grace).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["access"], "write");
    for title in [SHARED_REGISTER, AGREEMENT, MEETING, A_PRIVATE] {
        let id = s.doc_id(&arun, title).await;
        let (status, _) = s.get(&format!("/api/documents/{id}"), &grace).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{title}");
    }
    // Her spaces: only the one holding the SLA; she cannot create documents there.
    let (_, spaces) = s.get("/api/spaces", &grace).await;
    let spaces = spaces.as_array().unwrap().clone();
    assert_eq!(spaces.len(), 1);
    assert_eq!(spaces[0]["id"], doc["space_id"]);
    let (status, _) = s
        .post(
            "/api/documents",
            &grace,
            json!({"space_id": doc["space_id"], "kind": "sla", "title": "Mine"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // An editor of the content, not of the document's record.
    let (status, _) = s
        .patch(
            &format!("/api/documents/{sla}"),
            &grace,
            json!({"title": "Renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s.get(&format!("/api/documents/{sla}/grants"), &grace).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    s.stop().await;
}

async fn expired_and_revoked_grants_stop_working_at_once(backend: Backend) {
    let s = TestServer::start(backend).await;
    let grace = s.login("grace@riverside.org.uk").await;
    let alice = s.login("alice@ashby.gov.uk").await;
    let sla = s.doc_id(&grace, SLA).await;
    let register = s.doc_id(&alice, SHARED_REGISTER).await;

    // A grant that expires in a moment, made directly in the store by the SLA's admin.
    let (_, me) = s.get("/api/me", &grace).await;
    let alice_p = tests::principal(s.store.as_ref(), "alice@ashby.gov.uk").await;
    let now = store::now_millis();
    s.store
        .create_grant(
            &alice_p,
            &domain::Grant {
                id: uuid::Uuid::new_v4(),
                document_id: register.parse().unwrap(),
                user_id: me["user"]["id"].as_str().unwrap().parse().unwrap(),
                role: domain::GrantRole::Viewer,
                expires_at: Some(now + 1500),
                revoked_at: None,
                granted_by: alice_p.user_id,
                created_at: now,
            },
        )
        .await
        .expect("grant");
    let (status, doc) = s.get(&format!("/api/documents/{register}"), &grace).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["access"], "read");
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let (status, _) = s.get(&format!("/api/documents/{register}"), &grace).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(sorted_titles(s.titles(&grace).await), sorted(&[SLA]));

    // Revocation by the SLA's admin.
    let (status, grants) = s.get(&format!("/api/documents/{sla}/grants"), &alice).await;
    assert_eq!(status, StatusCode::OK);
    let live: Vec<&Value> = grants
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["live"] == true)
        .collect();
    assert_eq!(live.len(), 1);
    // Listed by person: the guest's name, address and organisation (on both backends, where
    // row-level security would otherwise hide a guest of another organisation).
    assert_eq!(
        live[0]["grantee"]["email"], "grace@riverside.org.uk",
        "{grants}"
    );
    assert_eq!(
        live[0]["grantee"]["organisation"],
        "Riverside Community Trust"
    );
    assert!(
        live[0]["grantee"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("Grace"))
    );
    let gid = live[0]["id"].as_str().unwrap();
    // A member who is not an admin cannot revoke.
    let arun = s.login("arun@ashby.gov.uk").await;
    let (status, _) = s.delete(&format!("/api/grants/{gid}"), &arun).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s.delete(&format!("/api/grants/{gid}"), &alice).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.get(&format!("/api/documents/{sla}"), &grace).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(s.titles(&grace).await, vec![]);
    let (status, _) = s.delete(&format!("/api/grants/{gid}"), &alice).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

async fn invitations_create_guest_accounts_limited_to_named_documents(backend: Backend) {
    let s = TestServer::start(backend).await;
    let alice = s.login("alice@ashby.gov.uk").await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let bella = s.login("bella@brockley.gov.uk").await;
    let sla = s.doc_id(&alice, SLA).await;
    let a_private = s.doc_id(&alice, A_PRIVATE).await;
    let (_, orgs) = s.get("/api/organisations", &alice).await;
    let riverside = orgs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Riverside Community Trust")
        .unwrap()["id"]
        .clone();

    // Only administrators of every named document may invite.
    let (status, _) = s.post("/api/invitations", &arun, json!({"email": "dev@riverside.org.uk", "organisation_id": riverside, "documents": [sla], "role": "viewer"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = s.post("/api/invitations", &bella, json!({"email": "dev@riverside.org.uk", "organisation_id": riverside, "documents": [a_private], "role": "viewer"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "documents.0");
    let (status, body) = s.post("/api/invitations", &alice, json!({"email": "not-an-email", "organisation_id": riverside, "documents": [sla], "role": "viewer"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "email");

    let (status, created) = s.post("/api/invitations", &alice, json!({"email": "Dev@Riverside.org.uk", "organisation_id": riverside, "documents": [format!("automerge:{sla}")], "role": "viewer", "expires_in_days": 3})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let link = created["link"].as_str().unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert_eq!(link, format!("{}/invite#token={token}", s.base));
    assert_eq!(created["invitation"]["email"], "dev@riverside.org.uk");

    // Accepting needs a name and password for a new account; a refusal uses nothing up.
    let (status, body) = s
        .call(
            reqwest::Method::POST,
            "/api/invitations/accept",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = s
        .call(
            reqwest::Method::POST,
            "/api/invitations/accept",
            None,
            Some(json!({"token": token, "display_name": "Dev", "password": "short"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "password");
    let (status, accepted) = s.call(reqwest::Method::POST, "/api/invitations/accept", None, Some(json!({"token": token, "display_name": "Dev Patel", "password": "a long guest password"}))).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["created"], true);
    assert_eq!(accepted["user"]["is_guest"], true);
    assert_eq!(accepted["user"]["org_id"], riverside);
    let dev = accepted["session"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sorted_titles(s.titles(&dev).await), sorted(&[SLA]));
    let (_, doc) = s.get(&format!("/api/documents/{sla}"), &dev).await;
    assert_eq!(doc["access"], "read");

    // Single use.
    let (status, _) = s
        .call(
            reqwest::Method::POST,
            "/api/invitations/accept",
            None,
            Some(
                json!({"token": token, "display_name": "Dev", "password": "a long guest password"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A council's people are never guests of a partner body.
    let (status, body) = s.post("/api/invitations", &alice, json!({"email": "ben@brockley.gov.uk", "organisation_id": riverside, "documents": [a_private], "role": "commenter"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "email");
    // An existing account is attached, not duplicated, and only when signed in as it; a
    // revoked invitation is dead.
    let (_, second) = s.post("/api/invitations", &alice, json!({"email": "grace@riverside.org.uk", "organisation_id": riverside, "documents": [a_private], "role": "commenter"})).await;
    let (_, third) = s.post("/api/invitations", &alice, json!({"email": "x@riverside.org.uk", "organisation_id": riverside, "documents": [sla], "role": "viewer"})).await;
    let (status, _) = s
        .delete(
            &format!(
                "/api/invitations/{}",
                third["invitation"]["id"].as_str().unwrap()
            ),
            &alice,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.call(reqwest::Method::POST, "/api/invitations/accept", None, Some(json!({"token": third["token"], "display_name": "X", "password": "a long guest password"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, refused) = s
        .call(
            reqwest::Method::POST,
            "/api/invitations/accept",
            None,
            Some(json!({"token": second["token"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["error"]["code"], "sign_in_required");
    let grace = s.login("grace@riverside.org.uk").await;
    let (status, accepted) = s
        .call(
            reqwest::Method::POST,
            "/api/invitations/accept",
            Some(&grace),
            Some(json!({"token": second["token"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["created"], false);
    assert!(accepted["session"].is_null());
    let (status, doc) = s.get(&format!("/api/documents/{a_private}"), &grace).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["access"], "comment");

    let (_, invitations) = s.get("/api/invitations", &alice).await;
    assert_eq!(invitations.as_array().unwrap().len(), 3);
    let (_, invitations) = s.get("/api/invitations", &bella).await;
    assert_eq!(invitations, json!([]));

    // No secret reached a log line.
    let logs = tests::captured_logs();
    assert!(!logs.is_empty());
    for secret in [
        token.as_str(),
        third["token"].as_str().unwrap(),
        dev.as_str(),
        alice.as_str(),
        "a long guest password",
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
        assert!(
            !logs.contains(&secret[..secret.len().min(24)]),
            "part of a secret reached the logs"
        );
    }
    s.stop().await;
}

on_both_backends!(
    council_cannot_reach_another_councils_private_documents,
    partnership_members_reach_shared_documents_and_outsiders_do_not,
    guest_sees_only_granted_documents,
    expired_and_revoked_grants_stop_working_at_once,
    invitations_create_guest_accounts_limited_to_named_documents,
);
