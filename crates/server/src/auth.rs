//! Authentication: argon2id password hashes, short-lived HS256 access tokens (algorithm pinned;
//! `exp`, `iss`, `aud` required; keys named by `kid` for rotation), opaque single-use refresh
//! tokens stored only as hashes, and the [`Caller`] extractor that checks the session on every
//! request so that logout and disabled accounts take effect at once.
//!
//! Signing goes through our own [`jsonwebtoken::crypto::CryptoProvider`] that knows HS256 only
//! (on `hmac` + `sha2`): the crate's bundled RustCrypto provider would link RSA, ECDSA and EdDSA
//! code we never accept (and the `rsa` crate's open timing advisory with it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::access::Principal;
use domain::{Millis, User};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::AppState;
use crate::config::Config;
use crate::error::ApiError;

/// The only signing algorithm accepted.
const ALGORITHM: Algorithm = Algorithm::HS256;
/// Smallest signing key accepted, in bytes (HS256 wants at least the hash's 32).
pub const MIN_KEY_BYTES: usize = 32;

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The login session, checked on every request.
    pub sid: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

/// Signing and verification keys, by `kid`.
pub struct Keys {
    current_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    access_ttl_secs: u64,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("current_kid", &self.current_kid)
            .field("kids", &self.decoding.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Builds the key set from configuration; a missing secret becomes a random one.
    pub fn from_config(c: &Config) -> anyhow::Result<Self> {
        let current = match &c.jwt_secret {
            Some(s) => s.expose().as_bytes().to_vec(),
            // `serve` warns about this; a CLI command has no sessions to lose.
            None => random_bytes::<32>().to_vec(),
        };
        anyhow::ensure!(
            current.len() >= MIN_KEY_BYTES,
            "the JWT secret must be at least {MIN_KEY_BYTES} bytes"
        );
        let mut decoding = HashMap::new();
        decoding.insert(c.jwt_key_id.clone(), DecodingKey::from_secret(&current));
        if let Some(prev) = &c.jwt_previous_keys {
            for pair in prev.expose().split(',').filter(|p| !p.trim().is_empty()) {
                let (kid, secret) = pair.trim().split_once('=').ok_or_else(|| {
                    anyhow::anyhow!("CONCORDAT_JWT_PREVIOUS_KEYS entries must be kid=secret")
                })?;
                anyhow::ensure!(
                    secret.len() >= MIN_KEY_BYTES,
                    "previous JWT key {kid:?} must be at least {MIN_KEY_BYTES} bytes"
                );
                anyhow::ensure!(
                    kid != c.jwt_key_id,
                    "previous key id {kid:?} is the current one"
                );
                decoding.insert(kid.to_owned(), DecodingKey::from_secret(secret.as_bytes()));
            }
        }
        install_hs256_only();
        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        validation.set_issuer(&[&c.jwt_issuer]);
        validation.set_audience(&[&c.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 30;
        Ok(Self {
            current_kid: c.jwt_key_id.clone(),
            encoding: EncodingKey::from_secret(&current),
            decoding,
            validation,
            issuer: c.jwt_issuer.clone(),
            audience: c.jwt_audience.clone(),
            access_ttl_secs: c.access_token_ttl_secs,
        })
    }

    /// A signed access token for the user's session, and its lifetime in seconds.
    pub fn issue(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: Millis,
    ) -> anyhow::Result<(String, u64)> {
        let iat = u64::try_from(now / 1000).unwrap_or(0);
        let claims = Claims {
            sub: user_id,
            sid: session_id,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat,
            exp: iat + self.access_ttl_secs,
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.current_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)?;
        Ok((token, self.access_ttl_secs))
    }

    /// Verifies a token: known `kid`, pinned algorithm, signature, `exp`/`nbf`, `iss`, `aud`,
    /// an `iat` not in the future and a lifetime no longer than this server issues.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        self.verify_at(token, store::now_millis())
    }

    fn verify_at(&self, token: &str, now: Millis) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != ALGORITHM {
            return None;
        }
        let key = self.decoding.get(header.kid.as_deref()?)?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .ok()?
            .claims;
        let now_secs = u64::try_from(now / 1000).unwrap_or(0);
        // A token from the future was not issued by this clock (or a key leaked and someone
        // is minting long-lived tokens): refuse it, and any lifetime we never issue.
        let issued_in_future = claims.iat > now_secs.saturating_add(self.validation.leeway);
        let too_long = claims.exp.saturating_sub(claims.iat) > self.access_ttl_secs;
        (!issued_in_future && !too_long).then_some(claims)
    }
}

/// Makes the HS256-only provider jsonwebtoken's process default (idempotent). Anything in the
/// process that signs or verifies a token before a [`Keys`] exists calls this first.
pub fn install_hs256_only() {
    use jsonwebtoken::crypto::{CryptoProvider, JwkUtils};
    static HS256_ONLY: CryptoProvider = CryptoProvider {
        signer_factory: |alg, key| match alg {
            Algorithm::HS256 => Ok(Box::new(Hs256(hmac_key(key.try_get_hmac_secret()?)?))),
            _ => Err(jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into()),
        },
        verifier_factory: |alg, key| match alg {
            Algorithm::HS256 => Ok(Box::new(Hs256(hmac_key(key.try_get_hmac_secret()?)?))),
            _ => Err(jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into()),
        },
        // No JWKs here: the signing keys are shared secrets from configuration.
        jwk_utils: JwkUtils::new_unimplemented(),
    };
    // An error means a provider is installed already: ours, by an earlier `Keys`.
    let _ = HS256_ONLY.install_default();
}

type HmacSha256 = hmac::Hmac<Sha256>;

fn hmac_key(secret: &[u8]) -> jsonwebtoken::errors::Result<HmacSha256> {
    use hmac::Mac;
    HmacSha256::new_from_slice(secret)
        .map_err(|_| jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into())
}

/// HMAC-SHA256 as a jsonwebtoken signer and verifier.
struct Hs256(HmacSha256);

impl signature::Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(msg);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl signature::Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(msg);
        // Constant-time comparison.
        mac.verify_slice(signature)
            .map_err(signature::Error::from_source)
    }
}

impl jsonwebtoken::crypto::JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl jsonwebtoken::crypto::JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

/// `N` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random source is available");
    buf
}

/// A fresh opaque secret (refresh token, invitation token): 256 random bits, URL-safe.
pub fn new_opaque_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// What is stored in place of an opaque token: its SHA-256, hex. The tokens carry 256 random
/// bits, so a fast hash is enough (no dictionary to search).
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes a password with argon2id (on a blocking thread: it is deliberately slow). Requests
/// go through [`Hasher`], which bounds how many run at once; this is for tools and seeding.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt =
        SaltString::encode_b64(&random_bytes::<16>()).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))
}

/// Checks a password against a stored hash. With no hash (unknown account, or none set), a
/// dummy hash is checked so the answer takes as long either way.
fn verify_blocking(password: &str, stored: Option<&str>) -> bool {
    let dummy;
    let hash = match stored {
        Some(h) => h,
        None => {
            dummy = dummy_hash();
            dummy.as_str()
        }
    };
    let ok = PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    ok && stored.is_some()
}

/// Password hashing for requests, on a bounded number of blocking threads: each argon2 run
/// takes ~19 MiB and a core, so a burst of sign-ins waits in line instead of growing memory.
/// A request that ends while waiting (timeout, client gone) gives up its place.
#[derive(Debug)]
pub struct Hasher {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    running: std::sync::Arc<(AtomicUsize, AtomicUsize)>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            running: Default::default(),
        }
    }

    /// Most hashes that have run at once since start (a metric; tests read it too).
    pub fn peak(&self) -> usize {
        self.running.1.load(Ordering::Relaxed)
    }

    /// Runs `work` on a blocking thread once a permit is free. The permit travels with the
    /// work, so a request that ends early cannot let more than the bound run.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let permit = self.permits.clone().acquire_owned().await?;
        let running = self.running.clone();
        Ok(tokio::task::spawn_blocking(move || {
            let now = running.0.fetch_add(1, Ordering::Relaxed) + 1;
            running.1.fetch_max(now, Ordering::Relaxed);
            let out = work();
            running.0.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            out
        })
        .await?)
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.run(move || hash_blocking(&password)).await?
    }

    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        self.run(move || verify_blocking(&password, stored.as_deref()))
            .await
    }
}

/// Smallest zxcvbn score (0–4) a new password must reach: 3 is "safely unguessable" against
/// an online attack and moderately against an offline one.
const MIN_PASSWORD_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// Refuses a password that is short, long, common, breached or built from the account's own
/// details (`context`: e-mail, name). Its length bounds come from [`domain::validate::password`].
pub fn check_new_password(
    field: &'static str,
    password: &str,
    context: &[&str],
) -> Result<(), ApiError> {
    domain::validate::password(field, password)?;
    let estimate = zxcvbn::zxcvbn(password, context);
    if estimate.score() < MIN_PASSWORD_SCORE {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        return Err(ApiError::invalid(
            field,
            format!("is too easy to guess{hint}: use a longer phrase of unrelated words"),
        ));
    }
    Ok(())
}

/// The client's address: the connection's peer, or the last `X-Forwarded-For` entry when the
/// server is configured to sit behind a proxy that writes it.
#[derive(Debug, Clone, Copy)]
pub struct SourceAddr(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for SourceAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.trust_forwarded_for
            && let Some(ip) = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|v| v.trim().parse().ok())
        {
            return Ok(Self(Some(ip)));
        }
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let salt = SaltString::encode_b64(&[7u8; 16]).expect("fixed salt encodes");
            Argon2::default()
                .hash_password(b"concordat-timing-equaliser", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

/// The authenticated caller of a request: token verified, session live, account active.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub user: User,
    pub session_id: Uuid,
    /// When the login session ends by time (live connections close then).
    pub session_expires_at: Millis,
    /// The instant this request is decided for (a grant that expires later in the request
    /// still counts): the clock is read once, when the caller is authenticated.
    pub at: Millis,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        let claims = state
            .keys
            .verify(token.trim())
            .ok_or(ApiError::Unauthorized)?;
        state.authenticate(claims.sub, claims.sid).await
    }
}

/// A request that may be signed in: no `Authorization` header is `None`; a header that does
/// not hold a valid session is 401, never silently anonymous.
impl axum::extract::OptionalFromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            <Caller as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    }
}

impl AppState {
    /// Loads the user and session a verified token names; both must still hold.
    pub async fn authenticate(&self, user_id: Uuid, session_id: Uuid) -> Result<Caller, ApiError> {
        authenticate(self.store.as_ref(), user_id, session_id).await
    }
}

/// Loads the user and session a verified token (or a live connection) names; both must still
/// hold.
pub async fn authenticate(
    store: &dyn store::Store,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<Caller, ApiError> {
    // The claims only name the user; organisation and role are read fresh so that a
    // change takes effect at once. This probe principal reaches the user's own row only.
    let probe = Principal {
        user_id,
        org_id: Uuid::nil(),
        role: domain::OrgRole::Member,
        is_guest: true,
        session_id,
    };
    let found = store
        .authenticate(&probe, session_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    caller_of(found, store::now_millis())
}

/// The caller an account and one of its login sessions make, as read from the store, at
/// `at`: refused if the account is disabled or the session is no longer live.
pub fn caller_of((user, session): (User, store::Session), at: Millis) -> Result<Caller, ApiError> {
    if user.disabled || !session.is_live(at) || session.user_id != user.id {
        return Err(ApiError::Unauthorized);
    }
    let session_id = session.id;
    let principal = Principal {
        user_id: user.id,
        org_id: user.org_id,
        role: user.role,
        is_guest: user.is_guest,
        session_id,
    };
    Ok(Caller {
        principal,
        user,
        session_id,
        session_expires_at: session.expires_at,
        at,
    })
}
