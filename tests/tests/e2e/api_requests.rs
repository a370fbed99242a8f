//! The REST API's requests themselves, over real HTTP, on both backends: sessions that refresh
//! once and end at logout, bad input refused with a clear error and nothing changed, documents
//! created, paged and archived, and the health and OpenAPI endpoints.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use serde_json::{Value, json};
use tests::{Backend, StatusCode, TestServer, on_both_backends};

use crate::api::A_PRIVATE;

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

/// A council's administrator disables a colleague who has left: their sessions end and their
/// open socket closes at once, sign-in is refused; enabled again, they sign in. Nobody else may.
async fn an_admin_disables_and_reenables_a_colleague(backend: Backend) {
    let s = TestServer::start(backend).await;
    let bella = s.login("bella@brockley.gov.uk").await;
    let ben_login = s.login_full("ben@brockley.gov.uk").await;
    let ben = ben_login["access_token"].as_str().unwrap().to_owned();
    let ben_id = ben_login["user"]["id"].as_str().unwrap().to_owned();
    let (_, me) = s.get("/api/me", &bella).await;
    let bella_id = me["user"]["id"].as_str().unwrap().to_owned();
    let alice = s.login("alice@ashby.gov.uk").await;
    let register = s
        .doc_id(&ben, "Shared services partnership risk register")
        .await;
    let mut c = tests::ws::SyncClient::connect(&s, &ben, "ben-leaving").await;
    let mut r = tests::ws::Replica::new(&register);
    r.settle(&mut c).await;

    // Nobody else: a member, another council's admin, the admin on herself.
    let path = format!("/api/users/{ben_id}");
    let (status, _) = s.patch(&path, &ben, json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s.patch(&path, &alice, json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another council's account");
    let (status, _) = s
        .patch(
            &format!("/api/users/{bella_id}"),
            &bella,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A ticket he fetched before is refused after (on PostgreSQL the ticket, his account and
    // his session are read in one statement: each must still hold).
    let ticket = tests::ws::ticket_url(&s, &ben).await;
    let (status, user) = s.patch(&path, &bella, json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["disabled"], true);
    assert!(
        tests::ws::SyncClient::open(&ticket).await.is_err(),
        "a ticket fetched before he was disabled"
    );
    assert!(
        c.closed_within(std::time::Duration::from_secs(5))
            .await
            .is_some(),
        "his socket closes"
    );
    let (status, _) = s.get("/api/documents", &ben).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "his token no longer works"
    );
    let (status, _) = s
        .call(
            reqwest::Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": "ben@brockley.gov.uk", "password": server::demo::DEMO_PASSWORD})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a disabled account cannot sign in"
    );

    let (status, user) = s
        .patch(&path, &bella, json!({"disabled": false, "role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["role"], "admin");
    let again = s.login("ben@brockley.gov.uk").await;
    let (status, _) = s.get("/api/users", &again).await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

on_both_backends!(
    sessions_refresh_once_and_logout_revokes,
    an_admin_disables_and_reenables_a_colleague,
    bad_input_gets_clear_errors_and_changes_nothing,
    documents_are_created_paginated_archived,
    health_and_openapi,
);
