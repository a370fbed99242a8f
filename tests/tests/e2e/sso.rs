//! Single sign-on against a real OpenID Connect provider (`oidc-provider` from npm, started
//! here on 127.0.0.1 with its own login page, driven over HTTP as a browser would): the
//! operator sets a council's provider; a new officer signs in and gets an account in their
//! council; an existing one signs in as themselves; and each of these is refused, with no
//! account and no session: a replayed code, a used state, an expired ID token, one signed with
//! a key the provider does not publish, one naming another issuer, one carrying another nonce,
//! an address the provider has not verified, and one outside the council's verified domains.
//! On both backends.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{Backend, TestServer, js_client_installed, js_dir, on_both_backends};

const SECRET: &str = "oidc-test-secret-0123456789abcdef";

/// The provider, as a child process; killed when dropped.
pub(crate) struct Provider {
    child: Child,
    pub(crate) issuer: String,
}

impl Provider {
    pub(crate) fn start(redirect: &str) -> Provider {
        let port = crate::durability::free_port();
        let mut child = Command::new("node")
            .arg("oidc-provider.mjs")
            .arg(port.to_string())
            .arg(redirect)
            .current_dir(js_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        // Keep reading, so the provider never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let issuer = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("provider did not start: {line:?}"))
            .to_owned();
        Provider { child, issuer }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser, as far as redirects and cookies go: follows nothing by itself.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, r: &reqwest::Response) {
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            if let Some((k, v)) = c.split(';').next().and_then(|kv| kv.split_once('=')) {
                if v.is_empty() {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies.insert(k.trim().to_owned(), v.to_owned());
                }
            }
        }
    }

    /// GET `url`; the redirect's target (absolute).
    async fn get(&mut self, url: &str) -> String {
        let r = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&r);
        location(url, &r)
    }

    /// POSTs a form to `url`; the redirect's target.
    async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> String {
        let r = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&r);
        location(url, &r)
    }
}

fn location(from: &str, r: &reqwest::Response) -> String {
    assert!(
        r.status().is_redirection(),
        "{from}: expected a redirect, got {}",
        r.status()
    );
    let to = r.headers()["location"].to_str().unwrap();
    reqwest::Url::parse(from)
        .unwrap()
        .join(to)
        .unwrap()
        .to_string()
}

/// Signs in at the provider as `account` after starting at Concordat with `email`; returns
/// where Concordat's callback sends the browser, and the callback URL itself.
async fn sign_in(s: &TestServer, email: &str, account: &str) -> (String, String) {
    let (mut b, callback) = at_provider(s, email, account).await;
    let landing = b.get(&callback).await;
    (landing, callback)
}

/// Starts at Concordat with `email` and signs in at the provider as `account`; the browser, and
/// the callback URL the provider sends it to (not yet followed).
async fn at_provider(s: &TestServer, email: &str, account: &str) -> (Browser, String) {
    let mut b = Browser::new();
    let at_provider = b
        .get(&format!(
            "{}/api/auth/sso/start?email={}",
            s.base,
            urlencode(email)
        ))
        .await;
    assert!(
        !at_provider.contains("sso_error"),
        "start refused: {at_provider}"
    );
    let interaction = b.get(&at_provider).await;
    let resume = b
        .post_form(
            &interaction,
            &[("prompt", "login"), ("login", account), ("password", "x")],
        )
        .await;
    let callback = b.get(&resume).await;
    assert!(
        callback.starts_with(&format!("{}/api/auth/sso/callback?", s.base)),
        "{callback}"
    );
    (b, callback)
}

fn query(url: &str, key: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == key)
        .unwrap()
        .1
        .into_owned()
}

fn urlencode(s: &str) -> String {
    s.replace('@', "%40").replace('+', "%2B")
}

/// The hand-off code of a successful sign-in's landing page (`/sso#code=…`).
fn handoff(landing: &str) -> String {
    landing
        .split_once("/sso#code=")
        .unwrap_or_else(|| {
            let logs = tests::captured_logs();
            let said: Vec<&str> = logs
                .lines()
                .filter(|l| l.contains("sso") || l.contains("provider") || l.contains("refused"))
                .collect();
            panic!("not signed in: {landing}\n{}", said.join("\n"))
        })
        .1
        .to_owned()
}

fn refusal(landing: &str) -> String {
    landing
        .split_once("sso_error=")
        .unwrap_or_else(|| panic!("not refused: {landing}"))
        .1
        .to_owned()
}

/// Exchanges a hand-off code for tokens.
async fn complete(s: &TestServer, code: &str) -> (StatusCode, Value) {
    s.call(
        reqwest::Method::POST,
        "/api/auth/sso/complete",
        None,
        Some(json!({"code": code})),
    )
    .await
}

async fn set_provider(
    s: &TestServer,
    operator: &str,
    org: &str,
    issuer: &str,
    client: &str,
) -> (StatusCode, Value) {
    s.call(
        reqwest::Method::PUT,
        &format!("/api/platform/organisations/{org}/sso"),
        Some(operator),
        Some(json!({"issuer": issuer, "client_id": client, "client_secret": SECRET})),
    )
    .await
}

async fn councils_sign_in_with_their_own_provider(backend: Backend) {
    if !js_client_installed("sso::councils_sign_in_with_their_own_provider") {
        return;
    }
    let s = TestServer::start(backend).await;
    let provider = Provider::start(&format!("{}/api/auth/sso/callback", s.base));
    let alice = s.login("alice@ashby.gov.uk").await; // the platform operator
    let arun = s.login("arun@ashby.gov.uk").await;
    let (_, me) = s.get("/api/me", &arun).await;
    let ashby = me["user"]["org_id"].as_str().unwrap().to_owned();

    // Only the operator sets a provider; its issuer must be exactly what the provider says.
    let (status, _) = set_provider(&s, &arun, &ashby, &provider.issuer, "app").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) =
        set_provider(&s, &alice, &ashby, &format!("{}/", provider.issuer), "app").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = set_provider(&s, &alice, &ashby, "http://sso.example.org", "app").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "plain http elsewhere: {body}"
    );
    let (status, body) = set_provider(&s, &alice, &ashby, &provider.issuer, "app").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.get("client_secret").is_none(),
        "the secret is never shown"
    );

    // A council without a provider: back to the sign-in page, saying so.
    let mut b = Browser::new();
    let back = b
        .get(&format!(
            "{}/api/auth/sso/start?email=ben%40brockley.gov.uk",
            s.base
        ))
        .await;
    assert_eq!(refusal(&back), "not-configured");

    // A new officer: an account in Ashby, made as they first sign in; tokens once.
    let (landing, callback) = sign_in(&s, "nadia@ashby.gov.uk", "nadia@ashby.gov.uk").await;
    let code = handoff(&landing);
    let (status, tokens) = complete(&s, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["user"]["email"], "nadia@ashby.gov.uk");
    assert_eq!(tokens["user"]["org_id"], ashby.as_str());
    assert_eq!(tokens["user"]["role"], "member");
    let nadia = tokens["access_token"].as_str().unwrap().to_owned();
    let (status, _) = s.get("/api/me", &nadia).await;
    assert_eq!(status, StatusCode::OK);
    // Ashby's documents are hers now, as any member's.
    assert!(!s.titles(&nadia).await.is_empty());
    // The hand-off code works once; the state works once (even from the browser that holds
    // its cookie).
    let (status, _) = complete(&s, &code).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut b = Browser::new();
    b.cookies
        .insert("concordat_sso".into(), query(&callback, "state"));
    assert_eq!(refusal(&b.get(&callback).await), "state");

    // Login CSRF: a callback finished by someone at their provider, opened in another person's
    // browser, signs nobody in there; and it burns nothing for its own browser.
    let (mut mallory, link) = at_provider(&s, "nadia@ashby.gov.uk", "nadia@ashby.gov.uk").await;
    let mut victim = Browser::new();
    assert_eq!(refusal(&victim.get(&link).await), "browser");
    assert!(mallory.get(&link).await.contains("/sso#code="));

    // A replayed code under a fresh state: the provider refuses it.
    let mut b = Browser::new();
    let at_provider = b
        .get(&format!(
            "{}/api/auth/sso/start?email=nadia%40ashby.gov.uk",
            s.base
        ))
        .await;
    let fresh_state = query(&at_provider, "state");
    let old_code = query(&callback, "code");
    let replay = b
        .get(&format!(
            "{}/api/auth/sso/callback?code={old_code}&state={fresh_state}",
            s.base
        ))
        .await;
    assert_eq!(refusal(&replay), "token");

    // An existing officer signs in as themselves.
    let (landing, _) = sign_in(&s, "arun@ashby.gov.uk", "arun@ashby.gov.uk").await;
    let (_, tokens) = complete(&s, &handoff(&landing)).await;
    assert_eq!(tokens["user"]["id"], me["user"]["id"]);

    // What the provider vouches for, but Concordat must not take.
    let accounts_before = s.get("/api/users", &alice).await.1.as_array().map(Vec::len);
    for (email, account, reason) in [
        ("x@ashby.gov.uk", "unverified.olu@ashby.gov.uk", "email"),
        ("x@ashby.gov.uk", "mallory@gmail.com", "domain"),
        ("x@ashby.gov.uk", "ben@brockley.gov.uk", "domain"),
    ] {
        let (landing, _) = sign_in(&s, email, account).await;
        assert_eq!(refusal(&landing), reason, "{account}");
    }
    // ID tokens that fail verification.
    for (client, why) in [
        ("app-expired", "expired"),
        ("app-badsig", "the signature does not verify"),
        ("app-wrongiss", "issued by another issuer"),
        ("app-badnonce", "its nonce is not the one this sign-in sent"),
    ] {
        let (status, body) = set_provider(&s, &alice, &ashby, &provider.issuer, client).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let said_before = tests::captured_logs().matches(why).count();
        let (landing, _) = sign_in(&s, "priya@ashby.gov.uk", "priya@ashby.gov.uk").await;
        assert_eq!(refusal(&landing), "id-token", "{client}");
        assert!(
            tests::captured_logs().matches(why).count() > said_before,
            "{client}: refused because {why}"
        );
    }
    // Microsoft Entra ID sends no email_verified; its xms_edov claim vouches for the domain.
    let (status, body) = set_provider(&s, &alice, &ashby, &provider.issuer, "app-entra").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (landing, _) = sign_in(&s, "x@ashby.gov.uk", "unowned.kim@ashby.gov.uk").await;
    assert_eq!(refusal(&landing), "email", "no verification at all");
    let accounts_after = s.get("/api/users", &alice).await.1.as_array().map(Vec::len);
    assert_eq!(
        accounts_before, accounts_after,
        "no account was made by a refused sign-in"
    );
    let (status, body) = s
        .call(
            reqwest::Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": "priya@ashby.gov.uk", "password": "anything at all"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let (landing, _) = sign_in(&s, "lee@ashby.gov.uk", "lee@ashby.gov.uk").await;
    let (status, tokens) = complete(&s, &handoff(&landing)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an Entra-style token with xms_edov: {tokens}"
    );
    assert_eq!(tokens["user"]["email"], "lee@ashby.gov.uk");

    // No code, state or token reached the logs.
    let logs = tests::captured_logs();
    assert!(!logs.contains(&code) && !logs.contains(&old_code) && !logs.contains(&fresh_state));
    drop(provider);
    s.stop().await;
}

/// Each start asks a provider and keeps a state: one address may start only so many a minute.
async fn starting_sign_ins_is_throttled_per_address(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.sso_starts_per_minute = 2).await;
    let mut b = Browser::new();
    let start = format!("{}/api/auth/sso/start?email=ben%40brockley.gov.uk", s.base);
    assert_eq!(refusal(&b.get(&start).await), "not-configured");
    assert_eq!(refusal(&b.get(&start).await), "not-configured");
    assert_eq!(refusal(&b.get(&start).await), "too-many");
    // Passwords still work meanwhile.
    let (status, _) = s
        .call(
            reqwest::Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": "ben@brockley.gov.uk", "password": server::demo::DEMO_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

on_both_backends!(
    councils_sign_in_with_their_own_provider,
    starting_sign_ins_is_throttled_per_address
);
