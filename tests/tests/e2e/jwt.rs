//! Session tokens that must be refused: every one answers 401 and reveals nothing.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use tests::{Backend, JWT_KID, JWT_SECRET, StatusCode, TestServer};

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

/// The HMAC algorithms an attacker holding the key could sign with.
#[derive(Clone, Copy)]
enum Algorithm {
    HS256,
    HS384,
    HS512,
}

/// Signs like any JWT library would, written out here so the tokens do not depend on the
/// library under test.
fn sign(alg: Algorithm, kid: Option<&str>, key: &[u8], claims: &Value) -> String {
    let name = match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
    };
    let mut header = json!({"alg": name, "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    macro_rules! mac {
        ($digest:ty) => {{
            let mut m = Hmac::<$digest>::new_from_slice(key).expect("any key length");
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }};
    }
    let mac = match alg {
        Algorithm::HS256 => mac!(sha2::Sha256),
        Algorithm::HS384 => mac!(sha2::Sha384),
        Algorithm::HS512 => mac!(sha2::Sha512),
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac))
}

fn unsigned(header: Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_malformed_tokens_are_refused() {
    let s = TestServer::start(Backend::Sqlite).await;
    let good = s.login("arun@ashby.gov.uk").await;
    let (status, _) = s.get("/api/me", &good).await;
    assert_eq!(status, StatusCode::OK);

    let base = claims_of(&good);
    let now = base["iat"].as_u64().unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = base.as_object().unwrap().clone();
        f(&mut c);
        Value::Object(c)
    };
    let key = JWT_SECRET.as_bytes();
    // Re-signing the real claims with the real key must work: the cases below differ by one thing.
    let control = sign(Algorithm::HS256, Some(JWT_KID), key, &base);
    let (status, _) = s.get("/api/me", &control).await;
    assert_eq!(status, StatusCode::OK, "control token accepted");

    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            unsigned(json!({"alg": "none", "typ": "JWT", "kid": JWT_KID}), &base),
        ),
        (
            "alg none, no kid",
            unsigned(json!({"alg": "none", "typ": "JWT"}), &base),
        ),
        (
            "HS384 with the right key",
            sign(Algorithm::HS384, Some(JWT_KID), key, &base),
        ),
        (
            "HS512 with the right key",
            sign(Algorithm::HS512, Some(JWT_KID), key, &base),
        ),
        (
            "wrong key",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                b"another-secret-of-thirty-two-bytes-or-more!",
                &base,
            ),
        ),
        (
            "unknown kid",
            sign(Algorithm::HS256, Some("k-unknown"), key, &base),
        ),
        ("no kid", sign(Algorithm::HS256, None, key, &base)),
        (
            "expired",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.insert("exp".into(), json!(now - 3600));
                }),
            ),
        ),
        (
            "missing exp",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.remove("exp");
                }),
            ),
        ),
        (
            "exp as a string",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.insert("exp".into(), json!((now + 3600).to_string()));
                }),
            ),
        ),
        (
            "wrong aud",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.insert("aud".into(), json!("someone-else"));
                }),
            ),
        ),
        (
            "missing aud",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.remove("aud");
                }),
            ),
        ),
        (
            "wrong iss",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.insert("iss".into(), json!("evil"));
                }),
            ),
        ),
        (
            "missing iss",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.remove("iss");
                }),
            ),
        ),
        (
            "future nbf",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.insert("nbf".into(), json!(now + 3600));
                }),
            ),
        ),
        (
            "iat in the future",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.insert("iat".into(), json!(now + 3600));
                    c.insert("exp".into(), json!(now + 3900));
                }),
            ),
        ),
        (
            "lifetime longer than the server issues",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.insert("exp".into(), json!(now + 30 * 24 * 3600));
                }),
            ),
        ),
        (
            "missing iat",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.remove("iat");
                }),
            ),
        ),
        (
            "HS384 with the right key",
            sign(Algorithm::HS384, Some(JWT_KID), key, &base),
        ),
        (
            "unknown session",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.insert("sid".into(), json!(uuid::Uuid::new_v4()));
                }),
            ),
        ),
        (
            "another user's id in a real session",
            sign(
                Algorithm::HS256,
                Some(JWT_KID),
                key,
                &with(&|c| {
                    c.insert("sub".into(), json!(uuid::Uuid::new_v4()));
                }),
            ),
        ),
        ("tampered payload", {
            let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
            parts[1] = URL_SAFE_NO_PAD.encode(
                with(&|c| {
                    c.insert("exp".into(), json!(now + 999_999));
                })
                .to_string(),
            );
            parts.join(".")
        }),
        ("garbage", "not.a.token".to_owned()),
        ("empty", String::new()),
    ];
    let mut failures = Vec::new();
    for (name, token) in &cases {
        let (status, body) = s.get("/api/me", token).await;
        if status != StatusCode::UNAUTHORIZED || body["error"]["code"] != "unauthorized" {
            failures.push(format!("{name}: {status} {body}"));
        }
    }
    // Not a Bearer header at all.
    let r = s
        .http
        .get(s.url("/api/me"))
        .header("authorization", format!("Basic {good}"))
        .send()
        .await
        .unwrap();
    if r.status() != StatusCode::UNAUTHORIZED {
        failures.push(format!("Basic scheme: {}", r.status()));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases accepted:\n{}",
        failures.len(),
        cases.len() + 1,
        failures.join("\n")
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_keep_old_tokens_valid_until_removed() {
    let old_secret = "the-previous-signing-key-0123456789abcdef";
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        c.jwt_previous_keys = Some(server::Secret::new(format!("k0={old_secret}")));
    })
    .await;
    let good = s.login("arun@ashby.gov.uk").await;
    let claims = claims_of(&good);
    let old = sign(Algorithm::HS256, Some("k0"), old_secret.as_bytes(), &claims);
    let (status, _) = s.get("/api/me", &old).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a token signed by the previous key still works"
    );
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(good.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header["kid"], JWT_KID,
        "new tokens are signed by the current key"
    );
    assert_eq!(header["alg"], "HS256");
    // The old key under the current kid is a wrong signature.
    let confused = sign(
        Algorithm::HS256,
        Some(JWT_KID),
        old_secret.as_bytes(),
        &claims,
    );
    let (status, _) = s.get("/api/me", &confused).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    s.stop().await;
}
