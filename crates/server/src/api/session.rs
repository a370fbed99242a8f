//! Login, token refresh, logout and the current user.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::{Organisation, User};
use serde::{Deserialize, Serialize};
use store::{Refresh, Session, System};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ApiJson;
use crate::AppState;
use crate::auth::{self, Caller, SourceAddr};
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A new session's tokens. Send the access token as `Authorization: Bearer …`; exchange the
/// refresh token (once) for a new pair before the access token expires.
#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: User,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("user", &self.user.id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub organisation: Option<Organisation>,
}

/// Starts a session for `user`: stores the refresh token's hash, returns both tokens.
pub(crate) async fn start_session(state: &AppState, user: User) -> ApiResult<TokenPair> {
    let now = store::now_millis();
    let refresh_token = auth::new_opaque_token();
    let ttl_ms = i64::try_from(state.config.refresh_token_ttl_secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    let session = Session {
        id: Uuid::new_v4(),
        user_id: user.id,
        refresh_hash: auth::token_hash(&refresh_token),
        created_at: now,
        expires_at: now.saturating_add(ttl_ms),
        revoked_at: None,
    };
    state.store.create_session(System::LOGIN, &session).await?;
    let (access_token, expires_in) = state
        .keys
        .issue(user.id, session.id, now)
        .map_err(ApiError::Internal)?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token,
        user,
    })
}

/// Exchanges an e-mail address and password for tokens.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = TokenPair),
    (status = 401, description = "wrong e-mail or password", body = crate::error::ErrorBody),
    (status = 429, description = "too many failed sign-ins for this account or address: wait `Retry-After` seconds", body = crate::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    SourceAddr(source): SourceAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenPair>> {
    let email = req.email.trim().to_lowercase();
    let source_text = source.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let now = std::time::Instant::now();
    let failures = &state.login_failures;
    // Throttled before any hashing: a guessing run costs the server nothing once it is over.
    let throttled = failures
        .by_account
        .blocked(&email, now)
        .into_iter()
        .chain(source.and_then(|ip| failures.by_address.blocked(&ip, now)))
        .max();
    if let Some(retry_after) = throttled {
        tracing::warn!(source = %source_text, retry_after, "login throttled");
        return Err(ApiError::TooManyRequests(retry_after));
    }
    let found = if req.password.len() > domain::validate::MAX_PASSWORD_BYTES {
        None
    } else {
        state.store.login_lookup(System::LOGIN, &email).await?
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let ok = state
        .hasher
        .verify(req.password, hash)
        .await
        .map_err(ApiError::Internal)?;
    match user {
        Some(user) if ok && !user.disabled => {
            failures.by_account.clear(&email);
            tracing::info!(user = %user.id, source = %source_text, "login");
            Ok(Json(start_session(&state, user).await?))
        }
        user => {
            failures.by_account.hit(email, now);
            if let Some(ip) = source {
                failures.by_address.hit(ip, now);
            }
            // The account id when there is one (never the address typed, never the password).
            let account = user.as_ref().map(|u| u.id.to_string());
            let reason = match &user {
                None => "no such account",
                Some(u) if u.disabled => "account disabled",
                Some(_) => "wrong password",
            };
            tracing::warn!(account = account.as_deref().unwrap_or("none"), source = %source_text, reason, "login refused");
            Err(ApiError::Unauthorized)
        }
    }
}

/// Exchanges a refresh token for a new pair. Each refresh token works once: a second use
/// means it was copied, and ends the whole session (every token it issued, live sockets too).
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenPair),
    (status = 401, body = crate::error::ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    SourceAddr(source): SourceAddr,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    let now = store::now_millis();
    let new_token = auth::new_opaque_token();
    let outcome = state
        .store
        .refresh_session(
            System::REFRESH,
            &auth::token_hash(&req.refresh_token),
            &auth::token_hash(&new_token),
            now,
        )
        .await?;
    let session = match outcome {
        Refresh::Rotated(session) => session,
        Refresh::Reused(session_id) => {
            tracing::warn!(session = %session_id, source = ?source, "refresh token used twice: session revoked");
            state
                .hub
                .notify(crate::live::LiveEvent::SessionEnded(session_id))
                .await;
            return Err(ApiError::Unauthorized);
        }
        Refresh::Unknown => return Err(ApiError::Unauthorized),
    };
    let caller = state.authenticate(session.user_id, session.id).await?;
    let (access_token, expires_in) = state
        .keys
        .issue(caller.user.id, session.id, now)
        .map_err(ApiError::Internal)?;
    Ok(Json(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token: new_token,
        user: caller.user,
    }))
}

/// Ends the session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])), responses(
    (status = 204, description = "logged out"),
    (status = 401, body = crate::error::ErrorBody)))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    state
        .store
        .revoke_session(&caller.principal, caller.session_id, store::now_millis())
        .await?;
    state
        .hub
        .notify(crate::live::LiveEvent::SessionEnded(caller.session_id))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user and their organisation.
#[utoipa::path(get, path = "/api/me", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    let organisation = state
        .store
        .get_organisation(&caller.principal, caller.user.org_id)
        .await?;
    Ok(Json(Me {
        user: caller.user,
        organisation,
    }))
}
