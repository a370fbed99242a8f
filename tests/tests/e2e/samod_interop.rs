//! `samod` (the Rust automerge-repo) as a client of Concordat, converging with the unmodified
//! JS automerge-repo client on one document, on both backends. Two users of two partner
//! councils: samod as Arun (Ashby), JS as Ben (Brockley). `tests/js/converge.mjs` is the JS half.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use samod::{BackoffConfig, DialError, Dialer, DocHandle, DocumentId, Repo, Transport};
use tests::{Backend, TestServer, js_dir, on_both_backends, ws::ticket_url};
use tokio_tungstenite::tungstenite::{self, Message as Ws};

/// Dials a ticketed Concordat websocket URL with our tokio-tungstenite (samod's own dialer
/// pulls in native-tls; this keeps the tree lean). A ticket works once, so a redial fails.
struct TicketDialer(samod::Url);

impl Dialer for TicketDialer {
    type Error = tungstenite::Error;

    fn url(&self) -> samod::Url {
        self.0.clone()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<Self::Error>>> {
        let url = self.0.to_string();
        Box::pin(async move {
            let (ws, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| {
                eprintln!("samod dial failed: {e}");
                DialError::PermanentFailure(e)
            })?;
            let (sink, stream) = ws.split();
            let stream = Box::pin(stream.filter_map(|m| async move {
                match m {
                    Ok(Ws::Binary(b)) => Some(Ok(b.to_vec())),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }
            }));
            let sink = Box::pin(sink.with(|b: Vec<u8>| async move {
                Ok::<_, tungstenite::Error>(Ws::Binary(b.into()))
            }));
            Ok(Transport::new(stream, sink))
        })
    }
}

/// A root key's value as a string: the JS client writes strings as collaborative text objects,
/// the server and samod as scalars.
fn get(h: &DocHandle, key: &str) -> Option<String> {
    h.with_document(|d| match d.get(ROOT, key).unwrap()? {
        (automerge::Value::Object(automerge::ObjType::Text), id) => Some(d.text(&id).unwrap()),
        (v, _) => Some(
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string()),
        ),
    })
}

fn put(h: &DocHandle, key: &str, value: impl Into<automerge::ScalarValue>) {
    let value = value.into();
    h.with_document(|d| {
        d.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, key, value.clone()))
            .unwrap();
    });
}

async fn wait_for(h: &DocHandle, key: &str, value: &str) {
    for _ in 0..1500 {
        if get(h, key).as_deref() == Some(value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("samod never saw {key} = {value:?}");
}

async fn samod_and_js_converge(backend: Backend) {
    if !tests::js_client_installed("samod/JS interop") {
        return;
    }
    let s = TestServer::start(backend).await;
    let arun = s.login("arun@ashby.gov.uk").await;
    let id = s.doc_id(&arun, "Revenues & benefits SLA 2026/27").await;

    let repo = Repo::build_tokio().load().await;
    let url = samod::Url::parse(&ticket_url(&s, &arun).await).unwrap();
    let dialer = repo
        .dial(
            // Retries: samod 0.16 can dispatch a dial before its IO loop has registered the
            // dialer ("no dialer registered") under load; the ticket is only spent once a
            // connection is actually made, so a retry is sound.
            BackoffConfig {
                max_retries: Some(5),
                ..BackoffConfig::default()
            },
            Arc::new(TicketDialer(url)),
        )
        .unwrap();
    let established = tokio::time::timeout(Duration::from_secs(10), dialer.established())
        .await
        .expect("samod connects in time");
    if let Err(e) = established {
        let logs = tests::captured_logs();
        let tail: Vec<&str> = logs.lines().rev().take(40).collect();
        panic!(
            "samod's handshake with Concordat failed: {e:?}\n{}",
            tail.join("\n")
        );
    }
    let handle = tokio::time::timeout(
        Duration::from_secs(10),
        repo.find(DocumentId::from_str(&id).unwrap()),
    )
    .await
    .expect("find answers in time")
    .unwrap()
    .expect("samod receives the document");
    assert_eq!(get(&handle, "schema").as_deref(), Some("concordat/sla"));
    // Each side writes one of the SLA's own fields (a key outside the schema is refused).
    put(&handle, "disputeClause", "written by samod");

    let base = s.base.clone();
    let doc_url = format!("automerge:{id}");
    let js = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("converge.mjs")
            .current_dir(js_dir())
            .env("CONCORDAT_BASE", base)
            .env("DOC_URL", doc_url)
            .env("USER_EMAIL", "ben@brockley.gov.uk")
            .output()
    });
    wait_for(&handle, "exitClause", "written by the JS client").await;
    put(&handle, "specification", "samod saw the JS edit");

    let out = js.await.unwrap().expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "JS half failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let js: serde_json::Value =
        serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    assert_eq!(js["fromSamod"], "written by samod");
    let mut js_heads: Vec<String> = js["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect();
    js_heads.sort();
    let mut samod_heads: Vec<String> =
        handle.with_document(|d| d.get_heads().iter().map(|h| h.to_string()).collect());
    samod_heads.sort();
    assert_eq!(samod_heads, js_heads, "samod and JS end with equal heads");

    // And the server stored all three edits.
    let stored = tests::stored_document(s.store.as_ref(), &id).await;
    let mut stored_heads: Vec<String> = stored.get_heads().iter().map(|h| h.to_string()).collect();
    stored_heads.sort();
    assert_eq!(
        stored_heads, samod_heads,
        "the server stored what both converged on"
    );

    repo.stop().await;
    s.stop().await;
}

on_both_backends!(samod_and_js_converge);
