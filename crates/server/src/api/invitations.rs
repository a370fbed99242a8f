//! Guest invitations: an administrator of the named documents invites an e-mail address with a
//! role and an expiry. There is no mail server: the API returns the link to pass on. The link
//! carries its secret in the URL fragment, which browsers never send to a server, so it cannot
//! reach an access log; only the token's hash is stored.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::{DocumentId, GrantRole, Invitation, OrgKind, OrgRole, User, validate};
use serde::{Deserialize, Serialize};
use store::{Acceptance, NewUser, System};
use utoipa::ToSchema;
use uuid::Uuid;

use super::session::{TokenPair, start_session};
use super::{ApiJson, parse_uuid};
use crate::AppState;
use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult};
use crate::live::{Affected, LiveEvent};

/// Longest list of documents one invitation may name.
const MAX_DOCUMENTS: usize = 50;
const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateInvitation {
    pub email: String,
    /// The guest's organisation (e.g. the charity delivering the service): a partner body,
    /// never a council.
    pub organisation_id: Uuid,
    /// Ids or `automerge:` URLs of the documents to grant; the caller must administer each.
    pub documents: Vec<String>,
    pub role: GrantRole,
    /// Days the link stays usable (default 7, at most the configured maximum).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    /// Days the access lasts once accepted (default: until revoked).
    #[serde(default)]
    pub access_days: Option<u32>,
}

/// A new invitation with its one-time link. The link is shown once and never stored.
#[derive(Serialize, ToSchema)]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    pub link: String,
    pub token: String,
}

impl std::fmt::Debug for CreatedInvitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedInvitation")
            .field("invitation", &self.invitation.id)
            .finish_non_exhaustive()
    }
}

/// The link a guest follows.
pub fn invitation_link(public_url: &str, token: &str) -> String {
    format!("{}/invite#token={token}", public_url.trim_end_matches('/'))
}

#[utoipa::path(post, path = "/api/invitations", tag = "sharing", security(("bearer" = [])),
    request_body = CreateInvitation,
    responses((status = 201, body = CreatedInvitation), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateInvitation>,
) -> ApiResult<(StatusCode, Json<CreatedInvitation>)> {
    let created = invite(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Creates an invitation (shared by the API and the CLI).
pub async fn invite(
    state: &AppState,
    caller: &Caller,
    req: CreateInvitation,
) -> ApiResult<CreatedInvitation> {
    if caller.principal.is_guest {
        return Err(ApiError::Forbidden("guests cannot invite"));
    }
    let email = validate::email("email", &req.email)?;
    if req.documents.is_empty() || req.documents.len() > MAX_DOCUMENTS {
        return Err(ApiError::invalid(
            "documents",
            format!("name between 1 and {MAX_DOCUMENTS} documents"),
        ));
    }
    let max_days = state.config.max_invitation_days.max(1);
    let days = req.expires_in_days.unwrap_or(7.min(max_days));
    if days == 0 || days > max_days {
        return Err(ApiError::invalid(
            "expires_in_days",
            format!("must be between 1 and {max_days}"),
        ));
    }
    if req.access_days == Some(0) {
        return Err(ApiError::invalid("access_days", "must be at least 1"));
    }
    let orgs = state.store.list_organisations(&caller.principal).await?;
    let guest_org = orgs
        .iter()
        .find(|o| o.id == req.organisation_id)
        .ok_or_else(|| ApiError::invalid("organisation_id", "no such organisation"))?;
    if guest_org.kind != OrgKind::Partner {
        return Err(ApiError::invalid(
            "organisation_id",
            format!(
                "{} is a council: guests belong to a partner body (register it with POST /api/organisations)",
                guest_org.name
            ),
        ));
    }
    if let Some(owner) = orgs
        .iter()
        .find(|o| o.id != guest_org.id && o.owns_address(&email))
    {
        return Err(ApiError::invalid(
            "email",
            format!(
                "this address is in a domain {} has verified: its people cannot be guests of {}",
                owner.name, guest_org.name
            ),
        ));
    }
    let ctx = state.store.caller_context(&caller.principal).await?;
    let mut documents = Vec::with_capacity(req.documents.len());
    for (i, d) in req.documents.iter().enumerate() {
        let field = format!("documents.{i}");
        let id = DocumentId::parse_url_or_id(d)
            .map_err(|_| ApiError::invalid(field.clone(), "not a document id"))?;
        let row = state
            .store
            .get_document(&caller.principal, id, caller.at)
            .await?
            .ok_or_else(|| ApiError::invalid(field.clone(), "no such document"))?;
        let access = crate::access::access_of(caller, &ctx, &row, store::now_millis());
        if access == domain::Access::None {
            return Err(ApiError::invalid(field, "no such document"));
        }
        if !access.can_admin() {
            return Err(ApiError::Forbidden(
                "only a document's administrators may invite to it",
            ));
        }
        if !documents.contains(&id) {
            documents.push(id);
        }
    }
    let now = store::now_millis();
    let token = auth::new_opaque_token();
    let invitation = Invitation {
        id: Uuid::new_v4(),
        email,
        org_id: caller.principal.org_id,
        guest_org_id: req.organisation_id,
        role: req.role,
        document_ids: documents,
        expires_at: now + i64::from(days) * DAY_MS,
        grant_expires_at: req.access_days.map(|d| now + i64::from(d) * DAY_MS),
        accepted_at: None,
        revoked_at: None,
        created_by: caller.user.id,
        created_at: now,
    };
    state
        .store
        .create_invitation(&caller.principal, &invitation, &auth::token_hash(&token))
        .await
        .map_err(|e| match e {
            // Another organisation verified the domain, or the organisation changed, meanwhile.
            store::StoreError::Refused => ApiError::invalid(
                "email",
                "this address cannot be invited to that organisation",
            ),
            other => other.into(),
        })?;
    tracing::info!(invitation = %invitation.id, "invitation created");
    Ok(CreatedInvitation {
        link: invitation_link(&state.config.public_url, &token),
        invitation,
        token,
    })
}

/// Invitations sent by the caller's organisation.
#[utoipa::path(get, path = "/api/invitations", tag = "sharing", security(("bearer" = [])),
    responses((status = 200, body = Vec<Invitation>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Invitation>>> {
    Ok(Json(state.store.list_invitations(&caller.principal).await?))
}

/// Withdraws an invitation that has not been accepted.
#[utoipa::path(delete, path = "/api/invitations/{id}", tag = "sharing", security(("bearer" = [])),
    responses((status = 204, description = "revoked"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, "invitation")?;
    if state
        .store
        .revoke_invitation(&caller.principal, id, store::now_millis())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("invitation"))
    }
}

#[derive(Deserialize, ToSchema)]
pub struct AcceptInvitation {
    /// The token from the invitation link.
    pub token: String,
    /// For a new guest account: the name to show.
    #[serde(default)]
    pub display_name: Option<String>,
    /// For a new guest account: its password.
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for AcceptInvitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptInvitation").finish_non_exhaustive()
    }
}

/// What accepting did: a new guest account is signed in; an existing account is told to sign in.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub user: User,
    pub created: bool,
    /// Present when a new account was created.
    pub session: Option<TokenPair>,
}

/// Accepts an invitation. Works once. For an address with no account the token is the
/// authority and a guest account is created in the invitation's partner organisation; for an
/// address that has an account, the caller must be signed in as that account (a link alone
/// never attaches access to someone else's account).
#[utoipa::path(post, path = "/api/invitations/accept", tag = "sharing", request_body = AcceptInvitation,
    security((), ("bearer" = [])),
    responses((status = 200, body = Accepted),
              (status = 401, description = "the address has an account: sign in as it first", body = crate::error::ErrorBody),
              (status = 404, description = "unknown, used, expired or revoked", body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn accept(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiJson(req): ApiJson<AcceptInvitation>,
) -> ApiResult<Json<Accepted>> {
    let now = store::now_millis();
    let new_user = match (&req.display_name, &req.password) {
        (Some(name), Some(password)) => {
            let display_name = validate::name("display_name", name)?;
            auth::check_new_password("password", password, &[&display_name])?;
            let hash = state
                .hasher
                .hash(password.clone())
                .await
                .map_err(ApiError::Internal)?;
            NewUser {
                user: User {
                    id: Uuid::new_v4(),
                    org_id: Uuid::nil(),
                    email: String::new(),
                    display_name,
                    role: OrgRole::Member,
                    is_guest: true,
                    disabled: false,
                    created_at: now,
                    platform_operator: false,
                },
                password_hash: Some(hash),
            }
        }
        _ => NewUser {
            user: User {
                id: Uuid::new_v4(),
                org_id: Uuid::nil(),
                email: String::new(),
                display_name: String::new(),
                role: OrgRole::Member,
                is_guest: true,
                disabled: false,
                created_at: now,
                platform_operator: false,
            },
            password_hash: None,
        },
    };
    match state
        .store
        .accept_invitation(
            System::INVITATION,
            &auth::token_hash(&req.token),
            caller.as_ref().map(|c| c.user.id),
            &new_user,
            now,
        )
        .await?
    {
        Acceptance::NotUsable => Err(ApiError::NotFound("invitation")),
        Acceptance::SignInRequired => Err(ApiError::SignInRequired(
            "this address has an account: sign in as it, then accept the invitation",
        )),
        Acceptance::NeedsAccount => Err(ApiError::invalid(
            if req.display_name.is_none() {
                "display_name"
            } else {
                "password"
            },
            "choose a display name and a password to create your guest account",
        )),
        Acceptance::Accepted { user, created } => {
            tracing::info!(user = %user.id, created, "invitation accepted");
            state
                .hub
                .notify(LiveEvent::AccessChanged(Affected::User(user.id)))
                .await;
            let session = if created {
                Some(start_session(&state, user.clone()).await?)
            } else {
                None
            };
            Ok(Json(Accepted {
                user,
                created,
                session,
            }))
        }
    }
}
