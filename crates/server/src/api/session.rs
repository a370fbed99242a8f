//! Login, token refresh, logout and the current user.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::{Organisation, User};
use serde::{Deserialize, Serialize};
use store::{Session, System};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ApiJson;
use crate::AppState;
use crate::auth::{self, Caller};
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
    (status = 401, description = "wrong e-mail or password", body = crate::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenPair>> {
    if req.password.len() > domain::validate::MAX_PASSWORD_BYTES {
        return Err(ApiError::Unauthorized);
    }
    let email = req.email.trim().to_lowercase();
    let found = state.store.login_lookup(System::LOGIN, &email).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let ok = auth::verify_password(req.password, hash).await;
    match user {
        Some(user) if ok && !user.disabled => {
            tracing::info!(user = %user.id, "login");
            Ok(Json(start_session(&state, user).await?))
        }
        _ => {
            tracing::info!("login refused");
            Err(ApiError::Unauthorized)
        }
    }
}

/// Exchanges a refresh token for a new pair. Each refresh token works once.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenPair),
    (status = 401, body = crate::error::ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    let now = store::now_millis();
    let old_hash = auth::token_hash(&req.refresh_token);
    let session = state
        .store
        .session_by_refresh_hash(System::REFRESH, &old_hash)
        .await?
        .filter(|s| s.is_live(now))
        .ok_or(ApiError::Unauthorized)?;
    let new_token = auth::new_opaque_token();
    let rotated = state
        .store
        .rotate_session(
            System::REFRESH,
            session.id,
            &old_hash,
            &auth::token_hash(&new_token),
            session.expires_at,
        )
        .await?;
    if !rotated {
        return Err(ApiError::Unauthorized);
    }
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
        .notify(crate::live::LiveEvent::SessionEnded(caller.session_id));
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
