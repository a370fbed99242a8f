//! The unmodified JS automerge-repo client (2.5.x) against the real server, on both backends:
//! `tests/js/interop.mjs` runs the scenario; here we start the server, run it, and check what
//! the server stored.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;

use automerge::ReadDoc;
use tests::{Backend, TestServer, js_dir, on_both_backends};

async fn unmodified_js_client_interoperates(backend: Backend) {
    if !tests::js_client_installed("JS interop") {
        return;
    }
    let s = TestServer::start(backend).await;
    let base = s.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("interop.mjs")
            .current_dir(js_dir())
            .env("CONCORDAT_BASE", base)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "JS interop failed:\n{stdout}\n{stderr}"
    );
    let results: serde_json::Value =
        serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    let passed = results
        .as_object()
        .unwrap()
        .values()
        .filter(|v| *v == "pass")
        .count();
    assert_eq!(passed, 6, "{results}");

    // What the server stored: both councils' edits, not the viewer's.
    let arun = s.login("arun@ashby.gov.uk").await;
    let id = s
        .doc_id(&arun, "Shared services partnership risk register")
        .await;
    let doc = tests::stored_document(s.store.as_ref(), &id).await;
    let actors = s
        .store
        .load_content(store::System::SYNC, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .actors;
    let json = domain::documents::to_json(&doc);
    assert_eq!(json["risks"][0]["controls"], "edited in Ashby");
    assert_eq!(json["risks"][1]["controls"], "edited in Brockley");
    assert!(doc.get(automerge::ROOT, "viewerEdit").unwrap().is_none());
    // Each council's actor is bound to its user; nobody else's.
    assert!(
        actors.len() >= 3,
        "server + two editors: {:?}",
        actors.len()
    );
    s.stop().await;
}

on_both_backends!(unmodified_js_client_interoperates);
