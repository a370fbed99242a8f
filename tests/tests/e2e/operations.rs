//! Operations, on both backends: Prometheus metrics at `/metrics` that count what happened
//! (connections, loaded documents, commits and their latency, refusals by reason), closed by a
//! bearer token when one is configured; `/readyz` that fails when the database refuses a write;
//! a request id on every response and in the request's log lines.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use automerge::transaction::Transactable;
use tests::ws::{Replica, SyncClient};
use tests::{Backend, TestServer, on_both_backends};

const REGISTER: &str = "Shared services partnership risk register";

/// The value of the sample whose name and labels match, from Prometheus text.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (series, _) = l.rsplit_once(' ').unwrap_or((l, ""));
            let bare = series.split('{').next().unwrap_or(series);
            bare == name && labels.iter().all(|want| series.contains(want))
        })
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
}

async fn scrape(s: &TestServer, token: Option<&str>) -> (u16, String) {
    let mut req = s.http.get(format!("{}/metrics", s.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn metrics_count_what_happened(backend: Backend) {
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let doc = s.doc_id(&arun, REGISTER).await;

    let (status, before) = scrape(&s, None).await;
    assert_eq!(status, 200, "{before}");
    let commits_before = sample(&before, "concordat_commits_total", &[]).unwrap_or(0.0);

    // An edit, stored: one commit at least.
    let mut c = SyncClient::connect(&s, &arun, "arun-metrics").await;
    let mut r = Replica::new(&doc);
    r.settle(&mut c).await;
    r.set_risk_text(0, "controls", "Counted");
    assert!(r.settle(&mut c).await.is_empty());
    // A second: checked from what it touched (the first built the room's index).
    r.set_risk_text(0, "controls", "Counted twice");
    assert!(r.settle(&mut c).await.is_empty());
    // A second peer that stays open while the first is refused.
    let mut other = SyncClient::connect(&s, &arun, "arun-watching").await;
    let mut watching = Replica::new(&doc);
    watching.settle(&mut other).await;
    // A change outside the register's schema: refused, its connection closed.
    r.doc.put(automerge::ROOT, "not_in_the_schema", 1).unwrap();
    let heard = r.settle(&mut c).await;
    assert!(
        heard
            .iter()
            .any(|h| matches!(h, tests::ws::Heard::Closed(..))),
        "{heard:?}"
    );

    let (status, after) = scrape(&s, None).await;
    assert_eq!(status, 200);
    let commits = sample(&after, "concordat_commits_total", &[]).unwrap();
    assert!(
        commits > commits_before,
        "commits {commits_before} → {commits}\n{after}"
    );
    let timed = sample(&after, "concordat_commit_seconds_count", &[]).unwrap();
    assert!(timed >= commits - commits_before, "{after}");
    assert!(sample(&after, "concordat_commit_seconds_bucket", &["le=\"+Inf\""]).is_some());
    assert_eq!(
        sample(
            &after,
            "concordat_refusals_total",
            &["reason=\"unknown-key\"", "path=\"sync\""]
        ),
        Some(1.0),
        "{after}"
    );
    for how in ["whole", "incremental"] {
        assert!(
            sample(
                &after,
                "concordat_validations_total",
                &[&format!("how=\"{how}\"")]
            )
            .is_some_and(|n| n >= 1.0),
            "{how}\n{after}"
        );
    }
    assert_eq!(
        sample(&after, "concordat_sync_connections", &[]),
        Some(1.0),
        "the watching peer is the one open connection\n{after}"
    );
    assert!(sample(&after, "concordat_documents_loaded", &[]).unwrap() >= 1.0);
    assert!(
        after.contains("# HELP concordat_commits_total"),
        "described"
    );
    s.stop().await;
}

async fn metrics_can_require_a_token(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.metrics_token = Some(server::Secret::new("scrape-me-please"));
    })
    .await;
    assert_eq!(scrape(&s, None).await.0, 401);
    assert_eq!(scrape(&s, Some("scrape-me")).await.0, 401);
    let (status, text) = scrape(&s, Some("scrape-me-please")).await;
    assert_eq!(status, 200);
    assert!(text.contains("concordat_sync_connections"), "{text}");
    assert!(
        !tests::captured_logs().contains("scrape-me-please"),
        "the token reaches no log line"
    );
    s.stop().await;
}

async fn readiness_proves_a_write_and_requests_carry_ids(backend: Backend) {
    let s = TestServer::start(backend).await;
    let ready = |id: Option<&'static str>| {
        let mut req = s.http.get(format!("{}/readyz", s.base));
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        async move {
            let r = req.send().await.unwrap();
            let id = r
                .headers()
                .get("x-request-id")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), id)
        }
    };
    let (status, first) = ready(None).await;
    assert_eq!(status, 200);
    let (_, second) = ready(None).await;
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_ne!(first, second, "a fresh id per request");
    assert_eq!(first.len(), 36, "a UUID: {first}");
    // A load balancer's id is kept, and is in the request's log lines.
    let (_, kept) = ready(Some("lb-7f3a-readiness")).await;
    assert_eq!(kept.as_deref(), Some("lb-7f3a-readiness"));
    assert!(
        tests::captured_logs().contains("lb-7f3a-readiness"),
        "the request id is in the request's log lines"
    );

    // The database refuses writes (reads still answer): not ready.
    let db = s.db.as_ref().unwrap();
    match backend {
        Backend::Sqlite => {
            db.owner_sql(
                "create trigger refuse_heartbeat_update before update on node_heartbeats \
                 begin select raise(abort, 'read-only'); end; \
                 create trigger refuse_heartbeat_insert before insert on node_heartbeats \
                 begin select raise(abort, 'read-only'); end;",
            )
            .await
        }
        Backend::Postgres => {
            db.owner_sql(
                "create function refuse_heartbeat() returns trigger language plpgsql as \
                 $$ begin raise exception 'read-only'; end $$; \
                 create trigger refuse_heartbeat before insert or update on node_heartbeats \
                 for each row execute function refuse_heartbeat();",
            )
            .await
        }
    }
    let (status, _) = ready(None).await;
    assert_eq!(status, 503, "a database that refuses writes is not ready");
    let (status, _) = s
        .http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200, "still alive");
    match backend {
        Backend::Sqlite => {
            db.owner_sql(
                "drop trigger refuse_heartbeat_update; drop trigger refuse_heartbeat_insert;",
            )
            .await
        }
        Backend::Postgres => {
            db.owner_sql("drop trigger refuse_heartbeat on node_heartbeats;")
                .await
        }
    }
    assert_eq!(ready(None).await.0, 200, "ready again once writes work");
    s.stop().await;
}

on_both_backends!(
    metrics_count_what_happened,
    metrics_can_require_a_token,
    readiness_proves_a_write_and_requests_carry_ids,
);
