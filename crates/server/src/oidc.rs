//! The relying party's half of OpenID Connect (authorization code flow with PKCE), as single
//! sign-on needs it: discovery, the authorization URL, the code exchange, and verifying the ID
//! token — its RS256 signature against the provider's published keys (with `ring`), issuer
//! (exactly), audience, expiry and nonce.
//!
//! Why not the `openidconnect` crate: it links the `rsa` crate, whose timing advisory
//! (RUSTSEC-2023-0071) has no fixed version and which `deny.toml` bans; `ring` (already here
//! for TLS) verifies RSA signatures. What this module does is small and pinned: one flow, one
//! algorithm; the end-to-end tests run it against a certified provider (`oidc-provider`).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Why a step failed (logged; never containing a token).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the provider's discovery document is unusable: {0}")]
    Discovery(String),
    #[error("the provider refused the code: {0}")]
    Token(String),
    #[error("the ID token is refused: {0}")]
    IdToken(&'static str),
}

/// What discovery says of a provider.
#[derive(Debug, Clone, Deserialize)]
pub struct Provider {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// The client for a provider's endpoints: no redirects (a provider cannot point the server
/// elsewhere), a bounded wait. Built once.
pub fn http() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                // Only a TLS backend that cannot start fails here; nothing can be reached then.
                .expect("the HTTP client for identity providers starts")
        })
        .clone()
}

/// Reads the provider's discovery document; its issuer must be exactly `issuer`.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Provider, OidcError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let provider: Provider = get_json(http, &url).await?;
    if provider.issuer != issuer {
        return Err(OidcError::Discovery(format!(
            "it names the issuer {:?}",
            provider.issuer
        )));
    }
    Ok(provider)
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, OidcError> {
    let r = http
        .get(url)
        .send()
        .await
        .map_err(|e| OidcError::Unreachable(e.to_string()))?;
    if !r.status().is_success() {
        return Err(OidcError::Discovery(format!("{url}: {}", r.status())));
    }
    r.json()
        .await
        .map_err(|e| OidcError::Discovery(format!("{url}: {e}")))
}

/// A fresh random secret (state, nonce, PKCE verifier): 256 bits, URL-safe.
pub fn secret() -> String {
    crate::auth::new_opaque_token()
}

/// The URL sending the person to the provider.
pub fn authorization_url(
    provider: &Provider,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    nonce: &str,
    verifier: &str,
) -> Result<String, OidcError> {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = reqwest::Url::parse(&provider.authorization_endpoint)
        .map_err(|e| OidcError::Discovery(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid email profile")
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(url.to_string())
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

/// Exchanges the code (with the PKCE verifier) for the ID token. Client authentication is
/// HTTP Basic, each part form-encoded first (RFC 6749, 2.3.1).
pub async fn exchange(
    http: &reqwest::Client,
    provider: &Provider,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    code: &str,
    verifier: &str,
) -> Result<String, OidcError> {
    // Unreserved characters stay, everything else is percent-encoded.
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let r = http
        .post(&provider.token_endpoint)
        .basic_auth(encode(client_id), Some(encode(client_secret)))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .map_err(|e| OidcError::Unreachable(e.to_string()))?;
    let status = r.status();
    if !status.is_success() {
        // The provider's error code (invalid_grant, say), not its body.
        let error = r
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(OidcError::Token(format!("{status} {error}")));
    }
    let answer: TokenAnswer = r
        .json()
        .await
        .map_err(|e| OidcError::Token(e.to_string()))?;
    answer
        .id_token
        .ok_or(OidcError::IdToken("the provider sent no ID token"))
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// An `aud` claim: one audience or several.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

fn audiences<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Audience::deserialize(d)? {
        Audience::One(a) => vec![a],
        Audience::Many(v) => v,
    })
}

/// The ID token's claims this server reads.
#[derive(Debug, Deserialize)]
pub struct Claims {
    pub iss: String,
    #[serde(deserialize_with = "audiences")]
    aud: Vec<String>,
    pub exp: i64,
    pub nonce: Option<String>,
    pub azp: Option<String>,
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub email_verified: Option<bool>,
    /// Microsoft Entra ID's optional claim "email domain owner verified": Entra sends no
    /// `email_verified`, but says with this that the tenant owns the address's domain.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub xms_edov: Option<bool>,
    pub name: Option<String>,
}

impl Claims {
    /// The e-mail address, if the provider vouches for it: `email_verified`, or, from a
    /// provider that sends no `email_verified` (Entra ID), `xms_edov`.
    pub fn verified_email(&self) -> Option<&str> {
        let verified = match self.email_verified {
            Some(v) => v,
            None => self.xms_edov == Some(true),
        };
        self.email.as_deref().filter(|_| verified)
    }
}

/// `true`, or `"true"` as some providers write it.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Some(b),
        serde_json::Value::String(s) => Some(s == "true"),
        _ => None,
    })
}

/// Verifies the ID token: RS256 only, signed by a key the provider publishes, for this client,
/// from this issuer, unexpired (`now`, seconds), carrying this nonce. Returns its claims.
pub async fn verify(
    http: &reqwest::Client,
    provider: &Provider,
    client_id: &str,
    id_token: &str,
    nonce: &str,
    now: i64,
) -> Result<Claims, OidcError> {
    let bad = OidcError::IdToken;
    let mut parts = id_token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a signed JWT"));
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| bad("not base64url"))
    };
    let header: Header =
        serde_json::from_slice(&decode(h)?).map_err(|_| bad("unreadable header"))?;
    if header.alg != "RS256" {
        return Err(bad("not signed with RS256"));
    }
    let jwks: Jwks = get_json(http, &provider.jwks_uri).await?;
    let key = jwks
        .keys
        .iter()
        .filter(|k| k.kty == "RSA")
        .find(|k| header.kid.is_none() || k.kid == header.kid)
        .ok_or(bad("signed with a key the provider does not publish"))?;
    let (Some(n), Some(e)) = (&key.n, &key.e) else {
        return Err(bad("the provider's key is unusable"));
    };
    let public = ring::signature::RsaPublicKeyComponents {
        n: decode(n)?,
        e: decode(e)?,
    };
    let signed = &id_token[..h.len() + 1 + p.len()];
    public
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &decode(s)?,
        )
        .map_err(|_| bad("the signature does not verify"))?;
    let claims: Claims =
        serde_json::from_slice(&decode(p)?).map_err(|_| bad("unreadable claims"))?;
    if claims.iss != provider.issuer {
        return Err(bad("issued by another issuer"));
    }
    if !claims.aud.iter().any(|a| a == client_id) {
        return Err(bad("issued for another client"));
    }
    if claims.aud.len() > 1 && claims.azp.as_deref() != Some(client_id) {
        return Err(bad(
            "issued for several clients, not authorised for this one",
        ));
    }
    if claims.exp <= now {
        return Err(bad("expired"));
    }
    if claims.nonce.as_deref() != Some(nonce) {
        return Err(bad("its nonce is not the one this sign-in sent"));
    }
    Ok(claims)
}
