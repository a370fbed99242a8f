//! The REST API over real HTTP, as the demo workspace's real users, on both backends.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use serde_json::{Value, json};
use tests::{Backend, StatusCode, TestServer, on_both_backends};

const A_PRIVATE: &str = "Ashby corporate risk register";
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

    // Brockley withdraws: its users lose the shared documents at once; Ashby keeps them.
    let (_, list) = s.get("/api/partnerships", &bella).await;
    let pid = list[0]["id"].as_str().unwrap().to_owned();
    let (_, me) = s.get("/api/me", &bella).await;
    let b_org = me["user"]["org_id"].as_str().unwrap().to_owned();
    let (status, body) = s
        .delete(&format!("/api/partnerships/{pid}/members/{b_org}"), &bella)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
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

async fn sessions_refresh_once_and_logout_revokes(backend: Backend) {
    let s = TestServer::start(backend).await;
    let login = s.login_full("arun@ashby.gov.uk").await;
    let first_access = login["access_token"].as_str().unwrap().to_owned();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["expires_in"], 900);

    // Wrong password and unknown account: the same 401.
    for (email, password) in [
        ("arun@ashby.gov.uk", "wrong password!"),
        ("nobody@ashby.gov.uk", "concordat-demo"),
    ] {
        let (status, body) = s
            .call(
                reqwest::Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    let (status, pair) = s
        .call(
            reqwest::Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let access2 = pair["access_token"].as_str().unwrap().to_owned();
    let (status, _) = s
        .call(
            reqwest::Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a refresh token works once"
    );
    // ... and presenting it again ended the session it belonged to (a copied token).
    for token in [&first_access, &access2] {
        let (status, _) = s.get("/api/me", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "reuse ends the session");
    }

    let login = s.login_full("arun@ashby.gov.uk").await;
    let access = login["access_token"].as_str().unwrap().to_owned();
    let (status, pair) = s
        .call(
            reqwest::Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": login["refresh_token"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let access2 = pair["access_token"].as_str().unwrap().to_owned();
    let (status, me) = s.get("/api/me", &access2).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["organisation"]["name"], "Ashby Borough Council");

    let (status, _) = s
        .call(
            reqwest::Method::POST,
            "/api/auth/logout",
            Some(&access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for token in [&access, &access2] {
        let (status, _) = s.get("/api/me", token).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "logout ends the session's tokens"
        );
    }
    let (status, _) = s
        .call(
            reqwest::Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": pair["refresh_token"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .call(reqwest::Method::GET, "/api/documents", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let logs = tests::captured_logs();
    for secret in [
        access.as_str(),
        access2.as_str(),
        refresh.as_str(),
        "concordat-demo",
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    s.stop().await;
}

async fn bad_input_gets_clear_errors_and_changes_nothing(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.max_body_bytes = 4096).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let before = s.titles(&arun).await.len();
    let (_, spaces) = s.get("/api/spaces", &arun).await;
    let space = spaces[0]["id"].clone();
    let send = |body: String, content_type: &'static str| {
        s.http
            .post(s.url("/api/documents"))
            .bearer_auth(&arun)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let check =
        |status: StatusCode, body: Value, want: StatusCode, code: &str, field: Option<&str>| {
            assert_eq!(status, want, "{body}");
            assert_eq!(body["error"]["code"], code, "{body}");
            if let Some(f) = field {
                assert_eq!(body["error"]["field"], f, "{body}");
            }
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        };
    for (body, ct, want, code, field) in [
        (
            "{\"space_id\":".to_owned(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
        (
            "not json at all".to_owned(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
        (
            json!({"space_id": space, "kind": "risk-register"}).to_string(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some("title"),
        ),
        (
            json!({"space_id": space, "kind": "spreadsheet", "title": "x"}).to_string(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some("kind"),
        ),
        (
            json!({"space_id": 42, "kind": "sla", "title": "x"}).to_string(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some("space_id"),
        ),
        (
            json!({"space_id": space, "kind": "sla", "title": "   "}).to_string(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some("title"),
        ),
        (
            json!({"space_id": space, "kind": "sla", "title": "x".repeat(201)}).to_string(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some("title"),
        ),
        (
            json!({"space_id": space, "kind": "sla", "title": "x"}).to_string(),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            None,
        ),
        (
            json!({"space_id": space, "kind": "sla", "title": "x".repeat(5000)}).to_string(),
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            None,
        ),
    ] {
        let resp = send(body, ct).await.expect("sent");
        let status = resp.status();
        let body: Value = resp.json().await.expect("JSON error body");
        check(status, body, want, code, field);
    }
    for (path, field) in [
        ("/api/documents?limit=0", "limit"),
        ("/api/documents?limit=100000", "limit"),
        ("/api/documents?cursor=bogus", "cursor"),
    ] {
        let (status, body) = s.get(path, &arun).await;
        check(
            status,
            body,
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some(field),
        );
    }
    let (status, body) = s.get("/api/documents?kind=spreadsheet", &arun).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = s.get("/api/no-such-route", &arun).await;
    check(status, body, StatusCode::NOT_FOUND, "not_found", None);
    let (status, body) = s
        .patch("/api/documents/not-an-id", &arun, json!({"title": "x"}))
        .await;
    check(status, body, StatusCode::NOT_FOUND, "not_found", None);
    let id = s.doc_id(&arun, A_PRIVATE).await;
    let (status, body) = s
        .patch(
            &format!("/api/documents/{id}"),
            &arun,
            json!({"title": "x", "colour": "red"}),
        )
        .await;
    check(
        status,
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        None,
    );
    let (status, body) = s
        .patch(
            &format!("/api/documents/{id}"),
            &arun,
            json!({"archived": true}),
        )
        .await;
    check(status, body, StatusCode::FORBIDDEN, "forbidden", None);
    assert_eq!(s.titles(&arun).await.len(), before, "nothing was created");
    let (_, doc) = s.get(&format!("/api/documents/{id}"), &arun).await;
    assert_eq!(doc["title"], A_PRIVATE);
    s.stop().await;
}

async fn documents_are_created_paginated_archived(backend: Backend) {
    let s = TestServer::start(backend).await;
    let alice = s.login("alice@ashby.gov.uk").await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let (_, spaces) = s.get("/api/spaces", &arun).await;
    let private = spaces
        .as_array()
        .unwrap()
        .iter()
        .find(|sp| sp["owner"]["kind"] == "private")
        .unwrap()["id"]
        .clone();
    let mut created = Vec::new();
    for (i, kind) in [
        "risk-register",
        "sla",
        "agreement",
        "meeting",
        "risk-register",
        "sla",
        "meeting",
    ]
    .iter()
    .enumerate()
    {
        let (status, doc) = s
            .post(
                "/api/documents",
                &arun,
                json!({"space_id": private, "kind": kind, "title": format!("Doc {i}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        let id = doc["id"].as_str().unwrap().to_owned();
        assert_eq!(doc["url"], format!("automerge:{id}"));
        assert_eq!(doc["kind"], *kind);
        created.push(id);
    }
    // The server wrote each document's initial automerge content.
    let p = tests::principal(s.store.as_ref(), "arun@ashby.gov.uk").await;
    let chunks = s
        .store
        .load_chunks(&p, created[1].parse().unwrap(), store::now_millis())
        .await
        .expect("chunks");
    assert_eq!(chunks.len(), 1);
    assert!(chunks[0].snapshot);
    let doc = automerge::Automerge::load(&chunks[0].data).expect("automerge loads");
    use automerge::ReadDoc;
    let (schema, _) = doc.get(automerge::ROOT, "schema").unwrap().unwrap();
    assert_eq!(schema.into_string().unwrap(), "concordat/sla");

    // Walk every page of three.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/documents?limit=3&cursor={c}"),
            None => "/api/documents?limit=3".to_owned(),
        };
        let (status, page) = s.get(&path, &arun).await;
        assert_eq!(status, StatusCode::OK);
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|d| d["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10);
    }
    let total = s.titles(&arun).await.len();
    assert_eq!(seen.len(), total);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no document twice");
    assert!(created.iter().all(|c| seen.contains(c)));
    let (_, only_slas) = s.get("/api/documents?kind=sla", &arun).await;
    assert!(
        only_slas["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["kind"] == "sla")
    );

    // Archive (admin only), then it leaves the default listing and becomes read-only.
    let id = &created[0];
    let (status, doc) = s
        .patch(
            &format!("/api/documents/{id}"),
            &alice,
            json!({"archived": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["archived"], true);
    let (_, page) = s.get("/api/documents?limit=200", &arun).await;
    assert!(
        !page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == id.as_str())
    );
    let (_, doc) = s.get(&format!("/api/documents/{id}"), &arun).await;
    assert_eq!(doc["access"], "read");
    let (status, _) = s
        .patch(
            &format!("/api/documents/{id}"),
            &arun,
            json!({"title": "Renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    s.stop().await;
}

async fn health_and_openapi(backend: Backend) {
    let s = TestServer::start(backend).await;
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let spec: Value = s
        .http
        .get(s.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/auth/login",
        "/api/documents",
        "/api/documents/{id}",
        "/api/invitations/accept",
        "/api/partnerships/{id}/members",
        "/api/partnerships/{id}/dashboard",
        "/api/overview",
        "/api/documents/{id}/versions",
        "/api/documents/{id}/changes",
        "/api/documents/{id}/audit",
        "/api/documents/{id}/import/preview",
        "/api/documents/{id}/export.xlsx",
        "/api/documents/{id}/report.html",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} documented");
    }
    // The documents' schemas, the source a client's types are generated from.
    let schemas = &spec["components"]["schemas"];
    for (schema, field) in [
        ("RiskRegister", "risks"),
        ("Sla", "measurements"),
        ("Agreement", "clauses"),
        ("Meeting", "decisions"),
    ] {
        assert!(
            schemas[schema]["properties"][field].is_object(),
            "{schema}.{field} in the OpenAPI components"
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
    sessions_refresh_once_and_logout_revokes,
    bad_input_gets_clear_errors_and_changes_nothing,
    documents_are_created_paginated_archived,
    health_and_openapi,
);
