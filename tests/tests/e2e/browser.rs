//! The browser client end to end, in Debian's Chromium (playwright-core): the real server on
//! a fresh SQLite database with the demo workspace, the built client it serves, and
//! `web/e2e/run.mjs` playing two councils, a guest and a meeting against it. Screenshots land
//! in `web/e2e/artifacts/`. Skipped with a notice when Chromium, the client's packages or its
//! build are missing, except under CI, where that fails.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::Command;

use tests::{Backend, TestServer};

fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web")
}

fn ready() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing: Vec<&str> = [
        (!std::path::Path::new(&chromium).exists())
            .then_some("Chromium (apt-get install chromium)"),
        (!web_dir().join("node_modules/playwright-core").exists())
            .then_some("web/node_modules (npm install in web/)"),
        (!web_dir().join("dist/index.html").exists()).then_some("web/dist (npm run build in web/)"),
        (!tests::js_dir().join("node_modules/oidc-provider").exists()).then_some(
            "tests/js/node_modules (npm install in tests/js, for the identity provider)",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide {missing:?} for the browser tests"
    );
    eprintln!("NOTICE: browser tests SKIPPED: missing {missing:?}");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_scenarios() {
    if !ready() {
        return;
    }
    let s = TestServer::start(Backend::Sqlite).await;
    let base = s.base.clone();
    // A real OpenID Connect provider for the single sign-on scenarios (tests/js).
    let provider = crate::sso::Provider::start(&format!("{base}/api/auth/sso/callback"));
    let issuer = provider.issuer.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("e2e/run.mjs")
            .arg(&base)
            .env("OIDC_ISSUER", issuer)
            .current_dir(web_dir())
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    if !out.status.success() {
        // What the server said went wrong, to go with the browser's side.
        for line in tests::captured_logs().lines() {
            if line.contains("\"level\":\"ERROR\"") || line.contains("\"level\":\"WARN\"") {
                eprintln!("server: {line}");
            }
        }
    }
    assert!(
        out.status.success(),
        "browser scenarios failed:\n{stdout}\n{stderr}"
    );
    drop(provider);
    s.stop().await;
}
