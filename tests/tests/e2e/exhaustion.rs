//! No single user takes the service down or keeps access past its time: sign-in throttling,
//! bounded password hashing, refresh-token reuse, the password policy, per-user connection
//! and ticket caps, the header-read deadline, and access that ends by time on live sockets.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sync::codec::Message;
use tests::ws::{Heard, Replica, SyncClient, ticket_url};
use tests::{Backend, StatusCode, TestServer, on_both_backends};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SLA: &str = "Revenues & benefits SLA 2026/27";

async fn login_as(
    s: &TestServer,
    email: &str,
    password: &str,
    from: Option<&str>,
) -> reqwest::Response {
    let mut req = s
        .http
        .post(s.url("/api/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(ip) = from {
        req = req.header("x-forwarded-for", format!("203.0.113.250, {ip}"));
    }
    req.send().await.unwrap()
}

async fn guessing_passwords_is_throttled_per_account_and_per_address(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.login_max_failures_per_account = 4;
        c.login_max_failures_per_address = 10;
        c.trust_forwarded_for = true;
    })
    .await;
    let demo = server::demo::DEMO_PASSWORD;
    let secret_guess = "guess-number-that-must-never-be-logged";

    // One account, many guesses from one address: the fifth is refused without a check.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = login_as(&s, "arun@ashby.gov.uk", secret_guess, Some("198.51.100.7")).await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
    // Even the right password waits out the window: the guesser cannot tell it was right.
    let r = login_as(&s, "arun@ashby.gov.uk", demo, Some("198.51.100.8")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
    // Other accounts are not affected.
    assert_eq!(
        login_as(&s, "alice@ashby.gov.uk", demo, Some("198.51.100.7"))
            .await
            .status(),
        StatusCode::OK
    );

    // One address spraying many accounts: stopped at its own limit; others still sign in.
    let sprayed: Vec<u16> = {
        let mut v = Vec::new();
        for i in 0..12 {
            let email = format!("nobody{i}@ashby.gov.uk");
            v.push(
                login_as(&s, &email, secret_guess, Some("198.51.100.66"))
                    .await
                    .status()
                    .as_u16(),
            );
        }
        v
    };
    assert_eq!(
        sprayed.iter().filter(|c| **c == 401).count(),
        10,
        "{sprayed:?}"
    );
    assert_eq!(&sprayed[10..], [429, 429]);
    assert_eq!(
        login_as(&s, "ben@brockley.gov.uk", demo, Some("198.51.100.66"))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the sprayer's address is held back"
    );
    assert_eq!(
        login_as(&s, "ben@brockley.gov.uk", demo, Some("198.51.100.67"))
            .await
            .status(),
        StatusCode::OK
    );

    // Failed sign-ins are logged with the account and the source, never the password.
    let logs = tests::captured_logs();
    let refused: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("login refused"))
        .collect();
    assert!(refused.len() >= 14, "{} refusals logged", refused.len());
    assert!(
        refused
            .iter()
            .any(|l| l.contains("198.51.100.7") && l.contains("wrong password"))
    );
    assert!(refused.iter().any(|l| l.contains("no such account")));
    assert!(!logs.contains(secret_guess), "a password reached the logs");
    assert!(logs.lines().any(|l| l.contains("login throttled")));
    s.stop().await;
}

async fn password_hashing_runs_on_a_bounded_pool(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.password_hash_concurrency = 2;
        c.login_max_failures_per_address = 1000;
        c.login_max_failures_per_account = 1000;
    })
    .await;
    // 48 sign-ins at once (half of them wrong): all answered, never more than 2 hashes at once.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..48 {
        let http = s.http.clone();
        let url = s.url("/api/auth/login");
        tasks.spawn(async move {
            let password = if i % 2 == 0 {
                server::demo::DEMO_PASSWORD
            } else {
                "not the password at all"
            };
            http.post(url)
                .json(&json!({"email": "arun@ashby.gov.uk", "password": password}))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let mut ok = 0;
    let mut refused = 0;
    while let Some(status) = tasks.join_next().await {
        match status.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::UNAUTHORIZED => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, refused), (24, 24));
    let peak = s.state.hasher.peak();
    assert!((1..=2).contains(&peak), "{peak} hashes ran at once");
    s.stop().await;
}

async fn a_reused_refresh_token_ends_the_whole_session(backend: Backend) {
    let s = TestServer::start(backend).await;
    let first = s.login_full("arun@ashby.gov.uk").await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let s = &s;
        async move {
            s.call(
                reqwest::Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({"refresh_token": token})),
            )
            .await
        }
    };
    // The thief copies r1 and refreshes first.
    let (status, stolen) = refresh(r1.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let thief_access = stolen["access_token"].as_str().unwrap().to_owned();
    let thief_refresh = stolen["refresh_token"].as_str().unwrap().to_owned();
    let mut live = SyncClient::connect(&s, &thief_access, "peer-thief").await;
    assert_eq!(s.get("/api/me", &thief_access).await.0, StatusCode::OK);
    // The owner's app uses r1 again: refused, and the session is over for everyone.
    let (status, _) = refresh(r1).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.get("/api/me", &thief_access).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(refresh(thief_refresh).await.0, StatusCode::UNAUTHORIZED);
    let original = first["access_token"].as_str().unwrap();
    assert_eq!(s.get("/api/me", original).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(live.closed().await, Some(1008), "the thief's socket closes");
    assert!(
        tests::captured_logs().contains("refresh token used twice"),
        "the reuse is logged"
    );
    // Signing in again starts a new session.
    s.login("arun@ashby.gov.uk").await;
    s.stop().await;
}

async fn a_grant_that_expires_ends_on_the_live_socket_at_that_moment(backend: Backend) {
    let s = TestServer::start(backend).await;
    let alice = s.login("alice@ashby.gov.uk").await;
    let sla = s.doc_id(&alice, SLA).await;
    let grace = s.login("grace@riverside.org.uk").await;
    // Grace's grant on the SLA ends four seconds from now.
    let expires = store::now_millis() + 4000;
    s.db.as_ref()
        .unwrap()
        .owner_sql(&format!(
            "update grants set expires_at = {expires} where user_id in \
             (select id from users where email = 'grace@riverside.org.uk')"
        ))
        .await;
    let mut cg = SyncClient::connect(&s, &grace, "peer-grace").await;
    let mut rg = Replica::new(&sla);
    rg.settle(&mut cg).await;
    assert!(
        !rg.doc.get_heads().is_empty(),
        "she reads it while the grant holds"
    );
    let heard = loop {
        match cg.recv_within(Duration::from_secs(10)).await {
            Heard::Msg(Message::DocUnavailable { document_id, .. }) if document_id == sla => {
                break store::now_millis();
            }
            Heard::Msg(_) => continue,
            other => panic!("expected doc-unavailable at the grant's expiry, got {other:?}"),
        }
    };
    assert!(heard >= expires, "cut {} ms early", expires - heard);
    assert!(
        heard - expires <= 1000,
        "cut {} ms after the expiry",
        heard - expires
    );
    // REST agrees, and a new socket cannot read it either.
    assert_eq!(
        s.get(&format!("/api/documents/{sla}"), &grace).await.0,
        StatusCode::NOT_FOUND
    );
    s.stop().await;
}

async fn a_session_that_ends_by_time_closes_its_sockets(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.refresh_token_ttl_secs = 3).await;
    let started = store::now_millis();
    let arun = s.login("arun@ashby.gov.uk").await;
    let mut c = SyncClient::connect(&s, &arun, "peer-arun").await;
    let code = c.closed_within(Duration::from_secs(10)).await;
    let ended = store::now_millis();
    assert_eq!(code, Some(1008));
    let lifetime = ended - started;
    assert!(
        (3000..=4500).contains(&lifetime),
        "closed after {lifetime} ms"
    );
    s.stop().await;
}

on_both_backends!(
    guessing_passwords_is_throttled_per_account_and_per_address,
    password_hashing_runs_on_a_bounded_pool,
    common_and_personal_passwords_are_refused,
    one_user_cannot_hold_the_connection_cap_or_mint_tickets_without_end,
    connections_that_dribble_their_headers_are_closed,
    an_access_event_rechecks_only_the_connections_it_can_affect,
    a_reused_refresh_token_ends_the_whole_session,
    a_grant_that_expires_ends_on_the_live_socket_at_that_moment,
    a_session_that_ends_by_time_closes_its_sockets,
);

async fn common_and_personal_passwords_are_refused(backend: Backend) {
    let s = TestServer::start(backend).await;
    let admin = s.login("alice@ashby.gov.uk").await;
    let mut accepted = Vec::new();
    for weak in [
        "password1234",
        "qwertyuiop123",
        "new.officer@ashby.gov.uk",
        "aaaaaaaaaaaaaaaa",
    ] {
        let (status, body) = s
            .post(
                "/api/users",
                &admin,
                json!({"email": "new.officer@ashby.gov.uk", "display_name": "Ashby Officer", "password": weak}),
            )
            .await;
        if status != StatusCode::UNPROCESSABLE_ENTITY || body["error"]["field"] != "password" {
            accepted.push(format!("{weak}: {status} {body}"));
        }
    }
    assert!(
        accepted.is_empty(),
        "weak passwords accepted:\n{}",
        accepted.join("\n")
    );
    let (status, body) = s
        .post(
            "/api/users",
            &admin,
            json!({"email": "new.officer@ashby.gov.uk", "display_name": "Ashby Officer", "password": "copper kettle mountain lantern"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s.stop().await;
}

async fn one_user_cannot_hold_the_connection_cap_or_mint_tickets_without_end(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.sync_max_connections = 10;
        c.sync_max_connections_per_user = 3;
        c.sync_tickets_per_minute = 8;
    })
    .await;
    let carl = s.login("carl@carrow.gov.uk").await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(SyncClient::connect(&s, &carl, &format!("carl-{i}")).await);
    }
    let url = ticket_url(&s, &carl).await;
    let refused = SyncClient::open(&url).await.unwrap_err().to_string();
    assert!(refused.contains("429"), "{refused}");
    // Everyone else still gets in.
    let _a = SyncClient::connect(&s, &arun, "arun-0").await;
    // A closed socket frees its place.
    drop(held.pop());
    let mut reopened = None;
    for _ in 0..50 {
        let url = ticket_url(&s, &carl).await;
        if let Ok(ws) = SyncClient::open(&url).await {
            reopened = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened.is_some(), "a freed place can be used again");

    // Tickets: 8 a minute, then 429 with Retry-After; other users unaffected.
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..12 {
        let r = s
            .http
            .post(s.url("/api/sync/ticket"))
            .bearer_auth(&carl)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        statuses.iter().filter(|c| **c == 200).count() < 8,
        "{statuses:?}"
    );
    assert!(retry_after.is_some());
    assert_eq!(
        s.post("/api/sync/ticket", &arun, json!({})).await.0,
        StatusCode::OK
    );
    s.stop().await;
}

async fn connections_that_dribble_their_headers_are_closed(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.header_read_timeout_secs = 1).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    // 300 clients send half a request and stop.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(c);
    }
    // An honest request meanwhile.
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Within a few seconds the server has closed every one of them.
    let start = Instant::now();
    let mut closed = 0;
    for c in &mut slow {
        let mut buf = [0u8; 512];
        let left = Duration::from_secs(6).saturating_sub(start.elapsed());
        match tokio::time::timeout(left, c.read(&mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => closed += 1, // EOF, an error response, or a reset
            Err(_) => break,
        }
    }
    assert_eq!(closed, 300, "{closed} of 300 half-sent requests closed");
    s.stop().await;
}

async fn an_access_event_rechecks_only_the_connections_it_can_affect(backend: Backend) {
    let s = TestServer::start(backend).await;
    let alice = s.login("alice@ashby.gov.uk").await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let grace = s.login("grace@riverside.org.uk").await;
    let sla = s.doc_id(&alice, SLA).await;
    let private = s.doc_id(&arun, "Ashby corporate risk register").await;
    // Twenty connections on a council's private register, one guest on the SLA.
    let mut bystanders = Vec::new();
    for i in 0..20 {
        let mut c = SyncClient::connect(&s, &arun, &format!("arun-{i}")).await;
        let mut r = Replica::new(&private);
        r.settle(&mut c).await;
        bystanders.push(c);
    }
    let mut cg = SyncClient::connect(&s, &grace, "peer-grace").await;
    let mut rg = Replica::new(&sla);
    rg.settle(&mut cg).await;
    let before = s.hub.rechecks.load(std::sync::atomic::Ordering::Relaxed);
    let (_, grants) = s.get(&format!("/api/documents/{sla}/grants"), &alice).await;
    let gid = grants[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.delete(&format!("/api/grants/{gid}"), &alice).await.0,
        StatusCode::NO_CONTENT
    );
    assert!(matches!(
        cg.recv().await,
        Heard::Msg(Message::DocUnavailable { .. })
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = s.hub.rechecks.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 1, "only the guest's connection rechecked");
    s.stop().await;
}
