//! The README's "Deploying for a partnership", step by step with the real binary on an empty
//! database (both backends): `concordat migrate`, `concordat setup`, `concordat serve`; the
//! operator makes a second council, its first administrator and a partnership; the host
//! council's administrator adds the member and creates the register; the two councils edit it
//! together over the websocket. And what must be refused on the way: another `setup`, the
//! operator's endpoints for anyone else, an administrator outside the organisation's domains,
//! a set-up link used twice or after the account has its password.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::{Command, Output, Stdio};

use automerge::ReadDoc;
use serde_json::{Value, json};
use tests::ws::Replica;
use tests::{Backend, TestDb, on_both_backends};

use crate::durability::{TestServerAt, binary, free_port};

const PASSWORD: &str = "heron lantern quarry violet";

/// `concordat <args>` against `db`, as an operator would run it, with no terminal to ask on.
fn concordat(db: &TestDb, base: &str, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env("CONCORDAT_DATABASE_URL", &db.url)
        .env("CONCORDAT_MIGRATE_DATABASE_URL", &db.owner_url)
        .env("CONCORDAT_SYSTEM_DATABASE_URL", db.system_url())
        .env("CONCORDAT_JWT_SECRET", tests::JWT_SECRET)
        .env("CONCORDAT_PUBLIC_URL", base)
        .env("CONCORDAT_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The token of the one set-up link in `text`.
fn token_in(text: &str) -> String {
    let at = text.find("/setup#token=").expect("a set-up link") + "/setup#token=".len();
    text[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches('"')
        .to_owned()
}

struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let url = format!("{}/api/{path}", self.base);
        let mut req = match method {
            "GET" => self.client.get(url),
            _ => self.client.post(url).json(&body),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

async fn deploying_for_a_partnership(backend: Backend) {
    let db = TestDb::new(backend).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    // 1. The schema.
    let out = concordat(&db, &base, &["migrate"]);
    assert!(out.status.success(), "migrate: {}", said(&out));

    // 2. The platform operator.
    let setup = [
        "setup",
        "--email",
        "ann.patel@ashby.gov.uk",
        "--name",
        "Ann Patel",
        "--organisation",
        "Ashby Borough Council",
        "--domain",
        "ashby.gov.uk",
    ];
    // An address outside the organisation's domains: refused, and nothing is created.
    let mut outsider = setup;
    outsider[2] = "ann.patel@gmail.com";
    let out = concordat(&db, &base, &outsider);
    assert!(!out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("not an address in"), "{}", said(&out));
    let store = db.store().await;
    let none = store
        .organisation_by_name(store::System::PROVISION, "Ashby Borough Council")
        .await
        .unwrap();
    assert!(none.is_none(), "a refused set-up creates nothing");
    drop(store);
    let out = concordat(&db, &base, &setup);
    assert!(out.status.success(), "setup: {}", said(&out));
    let first_link = token_in(&said(&out));
    // Again before the password is chosen: a fresh link.
    let out = concordat(&db, &base, &setup);
    assert!(out.status.success(), "setup again: {}", said(&out));
    assert!(
        said(&out).contains("not chosen a password"),
        "{}",
        said(&out)
    );
    let second_link = token_in(&said(&out));
    assert_ne!(first_link, second_link);
    // Anyone else: refused, the database is no longer empty.
    let mut other = setup;
    other[2] = "mallory@ashby.gov.uk";
    let out = concordat(&db, &base, &other);
    assert!(
        !out.status.success(),
        "a second operator by setup must be refused"
    );
    assert!(said(&out).contains("already set up"), "{}", said(&out));
    // Missing flags with no terminal to ask on: a clear error.
    let out = concordat(&db, &base, &["setup"]);
    assert!(!out.status.success());
    assert!(said(&out).contains("--email is required"), "{}", said(&out));

    // 3. The server; the operator chooses a password through the first link.
    let mut child = Command::new(binary())
        .arg("serve")
        .env("CONCORDAT_DATABASE_URL", &db.url)
        .env("CONCORDAT_MIGRATE_DATABASE_URL", &db.owner_url)
        .env("CONCORDAT_SYSTEM_DATABASE_URL", db.system_url())
        .env("CONCORDAT_LISTEN", format!("127.0.0.1:{port}"))
        .env("CONCORDAT_PUBLIC_URL", &base)
        .env("CONCORDAT_JWT_SECRET", tests::JWT_SECRET)
        .env("CONCORDAT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = TestServerAt(base.clone());
    server.ready().await;
    let http = Http {
        base: base.clone(),
        client: reqwest::Client::new(),
    };
    let (status, who) = http
        .call(
            "POST",
            "auth/setup/lookup",
            None,
            json!({"token": first_link}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(who["email"], "ann.patel@ashby.gov.uk");
    let (status, body) = http
        .call(
            "POST",
            "auth/setup",
            None,
            json!({"token": first_link, "password": "password123456"}),
        )
        .await;
    assert_eq!(status, 422, "a weak password: {body}");
    let (status, body) = http
        .call(
            "POST",
            "auth/setup",
            None,
            json!({"token": first_link, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ann = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(body["user"]["platform_operator"], true);
    // Both links are spent now: the used one, and the other (it would reset the password).
    for link in [&first_link, &second_link] {
        let (status, _) = http
            .call(
                "POST",
                "auth/setup",
                None,
                json!({"token": link, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 404, "a spent link");
    }
    let out = concordat(&db, &base, &setup);
    assert!(out.status.success());
    assert!(said(&out).contains("already set up"), "{}", said(&out));
    assert!(
        !said(&out).contains("#token="),
        "no link once the password is chosen"
    );

    // The operator: the second council, its administrator, the partnership.
    let (status, brockley) = http
        .call(
            "POST",
            "platform/organisations",
            Some(&ann),
            json!({"name": "Brockley District Council", "kind": "council", "domains": ["brockley.gov.uk"]}),
        )
        .await;
    assert_eq!(status, 201, "{brockley}");
    let brockley = brockley["id"].as_str().unwrap().to_owned();
    let (status, body) = http
        .call(
            "POST",
            "platform/organisations",
            Some(&ann),
            json!({"name": "Carrow District Council", "kind": "council"}),
        )
        .await;
    assert_eq!(status, 422, "a council needs a verified domain: {body}");
    let path = format!("platform/organisations/{brockley}/administrators");
    let (status, body) = http
        .call(
            "POST",
            &path,
            Some(&ann),
            json!({"email": "ben.walsh@ashby.gov.uk", "display_name": "Ben Walsh"}),
        )
        .await;
    assert_eq!(status, 422, "an address outside Brockley's domains: {body}");
    assert_eq!(body["error"]["field"], "email", "{body}");
    let (status, made) = http
        .call(
            "POST",
            &path,
            Some(&ann),
            json!({"email": "ben.walsh@brockley.gov.uk", "display_name": "Ben Walsh"}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let ben_link = token_in(made["link"].as_str().unwrap());
    let (_, me) = http.call("GET", "me", Some(&ann), Value::Null).await;
    let ashby = me["user"]["org_id"].as_str().unwrap().to_owned();
    let (status, partnership) = http
        .call(
            "POST",
            "platform/partnerships",
            Some(&ann),
            json!({"name": "Ashby and Brockley shared services",
                   "legal_basis": "inter-authority-agreement", "host_organisation_id": ashby}),
        )
        .await;
    assert_eq!(status, 201, "{partnership}");
    let partnership = partnership["id"].as_str().unwrap().to_owned();

    // Ben, Brockley's administrator, through his link; the operator's endpoints refuse him.
    let (status, body) = http
        .call(
            "POST",
            "auth/setup",
            None,
            json!({"token": ben_link, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ben = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(body["user"]["role"], "admin");
    assert_eq!(body["user"]["platform_operator"], false);
    for (path, payload) in [
        (
            "platform/organisations",
            json!({"name": "Mallory Council", "kind": "council", "domains": ["mallory.gov.uk"]}),
        ),
        (
            path.as_str(),
            json!({"email": "eve@brockley.gov.uk", "display_name": "Eve"}),
        ),
        (
            "platform/partnerships",
            json!({"name": "Mine", "legal_basis": "other", "host_organisation_id": brockley}),
        ),
    ] {
        let (status, body) = http.call("POST", path, Some(&ben), payload).await;
        assert_eq!(status, 403, "{path} as a council's admin: {body}");
    }

    // Ben adds a colleague, who chooses her own password; she, a member, may not add anyone.
    let (status, body) = http
        .call(
            "POST",
            "users/setup-links",
            Some(&ben),
            json!({"email": "cara@ashby.gov.uk", "display_name": "Cara"}),
        )
        .await;
    assert_eq!(status, 422, "not a Brockley address: {body}");
    let (status, made) = http
        .call(
            "POST",
            "users/setup-links",
            Some(&ben),
            json!({"email": "cara.jones@brockley.gov.uk", "display_name": "Cara Jones"}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let (status, body) = http
        .call(
            "POST",
            "auth/setup",
            None,
            json!({"token": token_in(made["link"].as_str().unwrap()), "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["role"], "member");
    let cara = body["access_token"].as_str().unwrap().to_owned();
    let (status, _) = http
        .call(
            "POST",
            "users/setup-links",
            Some(&cara),
            json!({"email": "dan@brockley.gov.uk", "display_name": "Dan"}),
        )
        .await;
    assert_eq!(status, 403, "a member adds no one");

    // 4. Ann, the host council's administrator, adds Brockley and creates the register.
    let (status, body) = http
        .call(
            "POST",
            &format!("partnerships/{partnership}/members"),
            Some(&ann),
            json!({"organisation_id": brockley, "role": "member"}),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let (_, view) = http
        .call(
            "GET",
            &format!("partnerships/{partnership}"),
            Some(&ann),
            Value::Null,
        )
        .await;
    let space = view["space_id"].as_str().unwrap().to_owned();
    let (status, doc) = http
        .call(
            "POST",
            "documents",
            Some(&ann),
            json!({"space_id": space, "kind": "risk-register", "title": "Shared services risk register"}),
        )
        .await;
    assert_eq!(status, 201, "{doc}");
    let doc = doc["id"].as_str().unwrap().to_owned();
    let (_, listed) = http.call("GET", "documents", Some(&ben), Value::Null).await;
    let titles: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["title"].as_str())
        .collect();
    assert_eq!(titles, vec!["Shared services risk register"]);

    // The two councils edit it together.
    let mut a = server.sync_client(&ann, "ann-laptop").await;
    let mut b = server.sync_client(&ben, "ben-laptop").await;
    let mut ra = Replica::new(&doc);
    let mut rb = Replica::new(&doc);
    ra.settle(&mut a).await;
    let (_, risks) = ra.doc.get(automerge::ROOT, "risks").unwrap().unwrap();
    domain::documents::insert_json(
        &mut ra.doc,
        &risks,
        0,
        &json!({
            "id": "risk-1", "reference": "SP-01", "title": "One council withdraws from the partnership",
            "category": "Strategic", "owner": "Joint chief executive", "identified": "2026-12-01",
            "response": "treat", "reviewFrequencyDays": 90, "nextReview": "2027-03-01",
            "status": "open", "escalation": "committee",
        }),
    )
    .unwrap();
    let heard = ra.settle(&mut a).await;
    assert!(heard.is_empty(), "Ann's risk is accepted: {heard:?}");
    rb.settle(&mut b).await;
    assert_eq!(
        rb.risk_text(0, "title").as_deref(),
        Some("One council withdraws from the partnership")
    );
    rb.set_risk_text(0, "controls", "Notice period of 12 months in the agreement");
    let heard = rb.settle(&mut b).await;
    assert!(heard.is_empty(), "Ben's edit is accepted: {heard:?}");
    ra.settle(&mut a).await;
    assert_eq!(
        ra.risk_text(0, "controls").as_deref(),
        Some("Notice period of 12 months in the agreement")
    );
    assert_eq!(ra.doc.get_heads(), rb.doc.get_heads());

    child.kill().unwrap();
    child.wait().unwrap();
    db.drop_db().await;
}

/// On a terminal, `concordat setup` asks for what its flags do not give (run under `script`,
/// which gives it a pseudo-terminal): the address, the name, the organisation, and the domains
/// (an empty answer takes the address's own domain).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_asks_on_a_terminal_for_what_is_missing() {
    use std::io::{Read, Write};
    let db = TestDb::new(Backend::Sqlite).await;
    let base = "http://127.0.0.1:9";
    assert!(concordat(&db, base, &["migrate"]).status.success());
    let command = format!("{} setup --link-days 3", binary().display());
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("CONCORDAT_DATABASE_URL", &db.url)
        .env("CONCORDAT_JWT_SECRET", tests::JWT_SECRET)
        .env("CONCORDAT_PUBLIC_URL", base)
        .env("CONCORDAT_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    // Kept open until the command has finished: `script` ends the session at end of input.
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"ann.patel@ashby.gov.uk\nAnn Patel\nAshby Borough Council\n\n")
        .unwrap();
    stdin.flush().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let status = child.wait().unwrap();
    drop(stdin);
    let text = reader.join().unwrap();
    assert!(status.success(), "{text}");
    for question in [
        "E-mail address of the platform operator",
        "The operator's name",
        "The operator's organisation",
        "Verified e-mail domains of Ashby Borough Council, comma-separated [ashby.gov.uk]",
    ] {
        assert!(text.contains(question), "asked {question:?}:\n{text}");
    }
    assert!(text.contains("valid 3 days"), "{text}");
    let token = token_in(&text);
    let store = db.store().await;
    let org = store
        .organisation_by_name(store::System::PROVISION, "Ashby Borough Council")
        .await
        .unwrap()
        .expect("the council was created");
    assert_eq!(org.domains, vec!["ashby.gov.uk".to_owned()]);
    let operators = store.operators(store::System::PROVISION).await.unwrap();
    assert_eq!(operators.len(), 1);
    assert_eq!(operators[0].display_name, "Ann Patel");
    assert_eq!(operators[0].org_id, org.id);
    let who = store
        .account_setup(
            store::System::ACCOUNT_SETUP,
            &server::auth::token_hash(&token),
            store::now_millis(),
        )
        .await
        .unwrap();
    assert_eq!(
        who.map(|u| u.email),
        Some("ann.patel@ashby.gov.uk".to_owned())
    );
    db.drop_db().await;
}

on_both_backends!(deploying_for_a_partnership);
