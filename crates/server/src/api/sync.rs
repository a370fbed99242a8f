//! The websocket endpoint for live sync and the tickets that open it.
//!
//! The unmodified automerge-repo client opens a websocket to a URL and cannot add headers, so
//! the browser first asks for a short-lived, single-use ticket over REST (with its bearer
//! token) and puts it in the URL. A ticket is 256 random bits; only its hash is kept, and the
//! request log records paths without query strings.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiQuery;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::live::SlotRefused;

/// A ticket for one websocket connection.
#[derive(Serialize, ToSchema)]
pub struct Ticket {
    pub ticket: String,
    /// Seconds it stays usable.
    pub expires_in: u64,
    /// The websocket URL to open, ticket included.
    pub url: String,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Issues a single-use ticket to open the sync websocket as the caller.
#[utoipa::path(post, path = "/api/sync/ticket", tag = "sync", security(("bearer" = [])),
    responses((status = 200, body = Ticket), (status = 401, body = crate::error::ErrorBody),
        (status = 429, description = "too many tickets for this account this minute", body = crate::error::ErrorBody)))]
pub async fn ticket(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Ticket>> {
    state
        .tickets
        .take(caller.user.id, std::time::Instant::now())
        .map_err(|retry_after| {
            tracing::warn!(user = %caller.user.id, "sync ticket rate exceeded");
            ApiError::TooManyRequests(retry_after)
        })?;
    let ttl = state.config.sync_ticket_ttl_secs.max(1);
    let ticket = state
        .hub
        .issue_ticket(caller.user.id, caller.session_id, Duration::from_secs(ttl))
        .await?;
    let base = state.config.public_url.trim_end_matches('/');
    let ws_base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    };
    Ok(Json(Ticket {
        url: format!("{ws_base}/sync?ticket={ticket}"),
        ticket,
        expires_in: ttl,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// From `POST /api/sync/ticket`.
    pub ticket: Option<String>,
}

impl std::fmt::Debug for TicketQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketQuery").finish_non_exhaustive()
    }
}

/// Opens the automerge-repo websocket (protocol v1). 401 without a valid ticket; 503 at the
/// server's connection cap; 429 when the user holds their own cap.
#[utoipa::path(get, path = "/sync", tag = "sync", params(TicketQuery), responses(
    (status = 101, description = "switching to the automerge-repo websocket protocol"),
    (status = 401, body = crate::error::ErrorBody),
    (status = 429, body = crate::error::ErrorBody),
    (status = 503, body = crate::error::ErrorBody)))]
pub async fn upgrade(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TicketQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let redeemed = match q.ticket.as_deref() {
        Some(t) => state.hub.redeem_ticket(t).await,
        None => Err(ApiError::Unauthorized),
    };
    let caller = match redeemed {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let slot = match state.hub.open_slot(
        caller.user.id,
        state.config.sync_max_connections,
        state.config.sync_max_connections_per_user,
    ) {
        Ok(slot) => slot,
        Err(SlotRefused::Server) => {
            return ApiError::Unavailable("too many live connections; try again shortly")
                .into_response();
        }
        Err(SlotRefused::User) => {
            tracing::warn!(user = %caller.user.id, "per-user live connection cap reached");
            return ApiError::TooManyRequests(5).into_response();
        }
    };
    let limit = state.config.sync_max_message_bytes;
    let read_buffer = state.config.sync_read_buffer_bytes.clamp(64, limit.max(64));
    // The closure stays in the connection's task for its whole life (axum keeps it there),
    // so what it carries is boxed: a pointer, not the caller and the state.
    let pending = Box::new((state.hub.clone(), caller, slot));
    // A failed upgrade drops the closure, and the slot with it.
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(read_buffer)
        .write_buffer_size(0)
        .on_upgrade(move |socket| {
            let (hub, caller, slot) = *pending;
            crate::live::conn::run(hub, socket, caller, slot)
        })
}
