//! Single sign-on with a council's own identity provider: OpenID Connect, authorization code
//! with PKCE (the protocol in [`crate::oidc`]).
//!
//! The platform operator sets an organisation's provider (issuer, client id and secret). A
//! person enters their work address; its domain names the organisation (its verified
//! domains), whose provider they are sent to with a fresh state, nonce and PKCE challenge,
//! kept server-side by the state's hash (so any node can finish the sign-in). The provider
//! sends them back to `/api/auth/sso/callback`: the state is used up, the code exchanged with
//! the PKCE verifier, and the ID token verified — signature against the provider's published
//! keys, issuer (exactly), audience, expiry, nonce. Its e-mail address must be verified by the
//! provider and in the organisation's domains. A person signing in for the first time gets an
//! account then (member role; an administrator can change it). Guests keep passwords.
//!
//! The browser is sent to `/sso#code=…`, a one-time hand-off code (60 s), which the web client
//! exchanges for tokens (`POST /api/auth/sso/complete`): no token ever appears in a URL. Every
//! refusal sends the browser to `/?sso_error=<reason>` and is logged with the reason, never
//! with a token, code or state.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use store::{NewUser, SsoConfig, SsoLogin, System};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::session::{TokenPair, start_session};
use super::{ApiJson, ApiQuery, parse_uuid};
use crate::AppState;
use crate::auth::{self, Caller, SourceAddr};
use crate::error::{ApiError, ApiResult};
use crate::oidc;

/// How long a sign-in may take at the provider.
const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;
/// The cookie binding a sign-in to the browser that started it (its value is the state): a
/// callback URL sent to someone else cannot sign them in as whoever finished it (login CSRF).
const BROWSER_COOKIE: &str = "concordat_sso";

fn browser_cookie(state: &AppState, value: &str, max_age_secs: i64) -> String {
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{BROWSER_COOKIE}={value}; Path=/api/auth/sso; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    )
}

fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == BROWSER_COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// How long the browser has to exchange its hand-off code.
const HANDOFF_TTL_MS: i64 = 60 * 1000;

/// An organisation's identity provider, as the operator sets it.
#[derive(Deserialize, ToSchema)]
pub struct SsoSettings {
    /// The provider's issuer, exactly as its discovery document states it (for Microsoft
    /// Entra ID: `https://login.microsoftonline.com/<tenant id>/v2.0`).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for SsoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoSettings")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// What the operator sees of an organisation's provider (never the secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct SsoView {
    pub issuer: String,
    pub client_id: String,
}

fn redirect_uri(state: &AppState) -> String {
    format!(
        "{}/api/auth/sso/callback",
        state.config.public_url.trim_end_matches('/')
    )
}

/// Sets an organisation's identity provider after checking it answers discovery with exactly
/// this issuer (the platform operator only).
#[utoipa::path(put, path = "/api/platform/organisations/{id}/sso", tag = "platform", security(("bearer" = [])),
    request_body = SsoSettings,
    responses((status = 200, body = SsoView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn set_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SsoSettings>,
) -> ApiResult<Json<SsoView>> {
    super::platform::operator_only(&caller)?;
    let id = parse_uuid(&id, "organisation")?;
    let invalid = |message: String, field: &str| ApiError::Invalid {
        message,
        field: Some(field.to_owned()),
    };
    for (value, field) in [
        (&req.issuer, "issuer"),
        (&req.client_id, "client_id"),
        (&req.client_secret, "client_secret"),
    ] {
        if value.trim().is_empty() || value.len() > 2048 {
            return Err(invalid(
                format!("{field} is required (at most 2048 characters)"),
                field,
            ));
        }
    }
    let local = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|p| req.issuer.starts_with(p));
    if !req.issuer.starts_with("https://") && !local {
        return Err(invalid(
            "the issuer must be an https:// URL (http only on this machine, for testing)".into(),
            "issuer",
        ));
    }
    oidc::discover(&oidc::http(), &req.issuer)
        .await
        .map_err(|e| invalid(e.to_string(), "issuer"))?;
    let config = SsoConfig {
        issuer: req.issuer,
        client_id: req.client_id,
        client_secret: req.client_secret,
    };
    if !state
        .store
        .set_sso(System::SSO, id, Some(&config), caller.at)
        .await?
    {
        return Err(ApiError::NotFound("organisation"));
    }
    tracing::info!(organisation = %id, issuer = %config.issuer, by = %caller.user.id, "single sign-on set");
    Ok(Json(SsoView {
        issuer: config.issuer,
        client_id: config.client_id,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// The person's work address: its domain names their organisation.
    pub email: String,
}

impl std::fmt::Debug for StartQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartQuery").finish_non_exhaustive()
    }
}

/// Where a refused sign-in sends the browser: the sign-in page, saying why.
fn refused(state: &AppState, reason: &'static str) -> Redirect {
    tracing::warn!(reason, "single sign-on refused");
    Redirect::to(&format!(
        "{}/?sso_error={reason}",
        state.config.public_url.trim_end_matches('/')
    ))
}

/// Starts signing in with the organisation's own provider: redirects there (303), or back to
/// the sign-in page with `sso_error` (`not-configured`, `unavailable`, `too-many`: this address
/// started more than `CONCORDAT_SSO_STARTS_PER_MINUTE` this minute).
#[utoipa::path(get, path = "/api/auth/sso/start", tag = "auth", params(StartQuery),
    responses((status = 303, description = "to the organisation's provider, or back to the sign-in page")))]
pub async fn start(
    State(state): State<AppState>,
    SourceAddr(source): SourceAddr,
    ApiQuery(q): ApiQuery<StartQuery>,
) -> ApiResult<Response> {
    if let Some(ip) = source
        && state
            .sso_starts
            .take(ip, std::time::Instant::now())
            .is_err()
    {
        return Ok(refused(&state, "too-many").into_response());
    }
    let domain = q
        .email
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_lowercase())
        .unwrap_or_default();
    let Some((org_id, config)) = state.store.sso_for_domain(System::SSO, &domain).await? else {
        return Ok(refused(&state, "not-configured").into_response());
    };
    let provider = match oidc::discover(&oidc::http(), &config.issuer).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(organisation = %org_id, error = %e, "identity provider unavailable");
            return Ok(refused(&state, "unavailable").into_response());
        }
    };
    let (csrf, nonce, verifier) = (oidc::secret(), oidc::secret(), oidc::secret());
    let Ok(url) = oidc::authorization_url(
        &provider,
        &config.client_id,
        &redirect_uri(&state),
        &csrf,
        &nonce,
        &verifier,
    ) else {
        return Ok(refused(&state, "unavailable").into_response());
    };
    let now = store::now_millis();
    state
        .store
        .begin_sso(
            System::SSO,
            &auth::token_hash(&csrf),
            &SsoLogin {
                org_id,
                nonce,
                verifier,
            },
            now + LOGIN_TTL_MS,
            now,
        )
        .await?;
    let cookie = browser_cookie(&state, &csrf, LOGIN_TTL_MS / 1000);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&url)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by a provider that refused (the person cancelled, say).
    pub error: Option<String>,
}

impl std::fmt::Debug for CallbackQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackQuery")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Where the provider sends the person back. Verifies everything, finds or creates their
/// account, and sends the browser to `/sso#code=…`; or to `/?sso_error=<reason>`: `provider`,
/// `state` (unknown, expired or used), `token` (the code was refused: used twice, say),
/// `id-token` (signature, issuer, audience, expiry or nonce wrong), `email` (none, or not
/// verified by the provider), `domain` (not one of the organisation's), `account` (disabled,
/// a guest, or of another organisation), `browser` (not the browser that started it),
/// `unavailable`.
#[utoipa::path(get, path = "/api/auth/sso/callback", tag = "auth", params(CallbackQuery),
    responses((status = 303, description = "to the web client, signed in or told why not")))]
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> ApiResult<Response> {
    let clear = [(header::SET_COOKIE, browser_cookie(&state, "", 0))];
    let to = finish(&state, cookie_of(&headers), q).await?;
    Ok((clear, to).into_response())
}

async fn finish(state: &AppState, cookie: Option<String>, q: CallbackQuery) -> ApiResult<Redirect> {
    if q.error.is_some() {
        return Ok(refused(state, "provider"));
    }
    let (Some(code), Some(csrf)) = (q.code, q.state) else {
        return Ok(refused(state, "state"));
    };
    // Checked before the state is used up: someone else's link burns nothing.
    if cookie.as_deref() != Some(csrf.as_str()) {
        return Ok(refused(state, "browser"));
    }
    let now = store::now_millis();
    let Some(login) = state
        .store
        .take_sso(System::SSO, &auth::token_hash(&csrf), now)
        .await?
    else {
        return Ok(refused(state, "state"));
    };
    let Some(config) = state.store.sso_of(System::SSO, login.org_id).await? else {
        return Ok(refused(state, "state"));
    };
    let http = oidc::http();
    let provider = match oidc::discover(&http, &config.issuer).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(organisation = %login.org_id, error = %e, "identity provider unavailable");
            return Ok(refused(state, "unavailable"));
        }
    };
    let id_token = match oidc::exchange(
        &http,
        &provider,
        &config.client_id,
        &config.client_secret,
        &redirect_uri(state),
        &code,
        &login.verifier,
    )
    .await
    {
        Ok(t) => t,
        Err(e @ oidc::OidcError::Unreachable(_)) => {
            tracing::warn!(organisation = %login.org_id, error = %e, "identity provider unavailable");
            return Ok(refused(state, "unavailable"));
        }
        Err(e) => {
            tracing::warn!(organisation = %login.org_id, error = %e, "authorization code refused");
            return Ok(refused(state, "token"));
        }
    };
    let claims = match oidc::verify(
        &http,
        &provider,
        &config.client_id,
        &id_token,
        &login.nonce,
        now / 1000,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            // Which check failed, for whoever reads the log; never the token.
            tracing::warn!(organisation = %login.org_id, failure = %e, "ID token refused");
            return Ok(refused(state, "id-token"));
        }
    };
    let Some(email) = claims.verified_email() else {
        return Ok(refused(state, "email"));
    };
    let email = email.trim().to_lowercase();
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    match state.store.sso_for_domain(System::SSO, domain).await? {
        Some((org, _)) if org == login.org_id => {}
        _ => return Ok(refused(state, "domain")),
    }
    let user = match state.store.login_lookup(System::LOGIN, &email).await? {
        Some((user, _)) => {
            if user.org_id != login.org_id || user.disabled || user.is_guest {
                return Ok(refused(state, "account"));
            }
            user
        }
        None => {
            // Just in time: the provider vouches for the address, the domain for the council.
            let name = claims
                .name
                .as_deref()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty() && n.len() <= 200)
                .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
            let user = domain::User {
                id: Uuid::new_v4(),
                org_id: login.org_id,
                email: email.clone(),
                display_name: name,
                role: domain::OrgRole::Member,
                is_guest: false,
                disabled: false,
                created_at: now,
                platform_operator: false,
            };
            state
                .store
                .create_user(
                    System::PROVISION,
                    &NewUser {
                        user: user.clone(),
                        password_hash: None,
                    },
                )
                .await?;
            tracing::info!(user = %user.id, organisation = %login.org_id, "account created at first single sign-on");
            user
        }
    };
    let handoff = auth::new_opaque_token();
    state
        .store
        .begin_handoff(
            System::SSO,
            &auth::token_hash(&handoff),
            login.org_id,
            &user.email,
            now + HANDOFF_TTL_MS,
        )
        .await?;
    tracing::info!(user = %user.id, "signed in with single sign-on");
    Ok(Redirect::to(&format!(
        "{}/sso#code={handoff}",
        state.config.public_url.trim_end_matches('/')
    )))
}

#[derive(Deserialize, ToSchema)]
pub struct CompleteRequest {
    /// The hand-off code from `/sso#code=…`.
    pub code: String,
}

impl std::fmt::Debug for CompleteRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompleteRequest").finish_non_exhaustive()
    }
}

/// Exchanges a single sign-on's hand-off code for tokens, once, within 60 s.
#[utoipa::path(post, path = "/api/auth/sso/complete", tag = "auth", request_body = CompleteRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = crate::error::ErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CompleteRequest>,
) -> ApiResult<(StatusCode, Json<TokenPair>)> {
    let Some(email) = state
        .store
        .take_handoff(
            System::SSO,
            &auth::token_hash(&req.code),
            store::now_millis(),
        )
        .await?
    else {
        return Err(ApiError::Unauthorized);
    };
    let Some((user, _)) = state.store.login_lookup(System::LOGIN, &email).await? else {
        return Err(ApiError::Unauthorized);
    };
    if user.disabled {
        return Err(ApiError::Unauthorized);
    }
    Ok((StatusCode::OK, Json(start_session(&state, user).await?)))
}
