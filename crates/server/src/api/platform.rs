//! Running Concordat for real: what the platform operator does (organisations with their
//! verified domains, each organisation's first administrator, partnerships), and the one-time
//! links with which an account chooses its password. `concordat setup` makes the first operator
//! (`crate::setup`); everything after that is done here, over REST, and in the web UI.
//!
//! The operator's requests are authorised here (the flag is read fresh with the caller on every
//! request) and then carried out as system work (`System::PROVISION`): creating a council is not
//! something any council's own rights cover.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use domain::{LegalBasis, OrgKind, OrgRole, Organisation, User, validate};
use serde::{Deserialize, Serialize};
use store::{NewUser, System};
use utoipa::ToSchema;
use uuid::Uuid;

use super::session::{TokenPair, start_session};
use super::{ApiJson, parse_uuid};
use crate::AppState;
use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult};

/// How long a set-up link stays usable unless said otherwise.
pub const SETUP_LINK_DAYS: u32 = 7;

/// The link an account's owner opens to choose a password. The token travels in the fragment,
/// which browsers never send to a server (so it reaches no access log).
pub fn setup_link(public_url: &str, token: &str) -> String {
    format!("{}/setup#token={token}", public_url.trim_end_matches('/'))
}

pub(crate) fn operator_only(caller: &Caller) -> ApiResult<()> {
    if caller.user.platform_operator && !caller.user.is_guest {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the platform operator may do this",
        ))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewOrganisation {
    pub name: String,
    /// `council` or `partner`.
    pub kind: OrgKind,
    /// The e-mail domains this organisation's people have (e.g. `ashby.gov.uk`). The operator
    /// vouches for them: an address in one of them can only ever be this organisation's.
    #[serde(default)]
    pub domains: Vec<String>,
}

/// Creates a council or a partner body with its verified e-mail domains. The operator only.
#[utoipa::path(post, path = "/api/platform/organisations", tag = "platform", security(("bearer" = [])),
    request_body = NewOrganisation,
    responses((status = 201, body = Organisation), (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_organisation(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewOrganisation>,
) -> ApiResult<(StatusCode, Json<Organisation>)> {
    operator_only(&caller)?;
    let name = validate::name("name", &req.name)?;
    if req.kind == OrgKind::Council && req.domains.is_empty() {
        return Err(ApiError::invalid(
            "domains",
            "a council needs at least one verified e-mail domain: its people sign in with addresses there",
        ));
    }
    let org =
        super::organisations::provision_organisation(&state, &name, req.kind, req.domains).await?;
    tracing::info!(organisation = %org.id, kind = org.kind.as_str(), by = %caller.user.id, "organisation created");
    Ok((StatusCode::CREATED, Json(org)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAdministrator {
    /// An address in one of the organisation's verified domains.
    pub email: String,
    pub display_name: String,
    /// Days the set-up link stays usable (default 7, at most 30).
    #[serde(default)]
    pub link_days: Option<u32>,
}

/// An account made without a password, and the one-time link to choose one (there is no mail
/// server: pass the link on).
#[derive(Serialize, ToSchema)]
pub struct AccountToSetUp {
    pub user: User,
    pub link: String,
    pub expires_at: domain::Millis,
}

impl std::fmt::Debug for AccountToSetUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountToSetUp")
            .field("user", &self.user.id)
            .finish_non_exhaustive()
    }
}

/// Makes an organisation's administrator (its first, or another): an account with no password
/// and a one-time link to choose one. The operator only.
#[utoipa::path(post, path = "/api/platform/organisations/{id}/administrators", tag = "platform",
    security(("bearer" = [])), request_body = NewAdministrator,
    responses((status = 201, body = AccountToSetUp), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_administrator(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NewAdministrator>,
) -> ApiResult<(StatusCode, Json<AccountToSetUp>)> {
    operator_only(&caller)?;
    let id = parse_uuid(&id, "organisation")?;
    let org = state
        .store
        .get_organisation(&caller.principal, id)
        .await?
        .ok_or(ApiError::NotFound("organisation"))?;
    let email = validate::email("email", &req.email)?;
    if !org.owns_address(&email) {
        return Err(ApiError::invalid(
            "email",
            if org.domains.is_empty() {
                format!("{} has no verified e-mail domain", org.name)
            } else {
                format!(
                    "{}'s people have addresses at {}",
                    org.name,
                    org.domains.join(", ")
                )
            },
        ));
    }
    let display_name = validate::name("display_name", &req.display_name)?;
    let days = req.link_days.unwrap_or(SETUP_LINK_DAYS);
    if !(1..=30).contains(&days) {
        return Err(ApiError::invalid("link_days", "must be between 1 and 30"));
    }
    let user = User {
        id: Uuid::new_v4(),
        org_id: org.id,
        email,
        display_name,
        role: OrgRole::Admin,
        is_guest: false,
        disabled: false,
        created_at: store::now_millis(),
        platform_operator: false,
    };
    let made = account_to_set_up(&state, user, days).await?;
    tracing::info!(user = %made.user.id, organisation = %org.id, by = %caller.user.id, "administrator created");
    Ok((StatusCode::CREATED, Json(made)))
}

/// Creates `user` without a password (system work) and a set-up link for it.
pub async fn account_to_set_up(
    state: &AppState,
    user: User,
    days: u32,
) -> ApiResult<AccountToSetUp> {
    state
        .store
        .create_user(
            System::PROVISION,
            &NewUser {
                user: user.clone(),
                password_hash: None,
            },
        )
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict => ApiError::Conflict("an account with this e-mail exists"),
            other => other.into(),
        })?;
    let (link, expires_at) = new_setup_link(state, user.id, days).await?;
    Ok(AccountToSetUp {
        user,
        link,
        expires_at,
    })
}

/// A fresh set-up link for an existing account.
pub async fn new_setup_link(
    state: &AppState,
    user_id: Uuid,
    days: u32,
) -> ApiResult<(String, domain::Millis)> {
    let token = auth::new_opaque_token();
    let now = store::now_millis();
    let expires_at = now + i64::from(days) * 24 * 60 * 60 * 1000;
    state
        .store
        .create_account_setup(
            System::ACCOUNT_SETUP,
            user_id,
            &auth::token_hash(&token),
            expires_at,
            now,
        )
        .await?;
    Ok((setup_link(&state.config.public_url, &token), expires_at))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewPartnership {
    pub name: String,
    pub legal_basis: LegalBasis,
    /// The council that hosts it: its administrators then add the member councils and guests.
    pub host_organisation_id: Uuid,
    #[serde(default)]
    pub review_date: Option<NaiveDate>,
    #[serde(default)]
    pub notice_period_months: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedPartnership {
    pub id: Uuid,
    pub name: String,
    pub host_organisation_id: Uuid,
}

/// Creates a partnership hosted by a council, with its shared space. The operator only (a
/// council's admin may also create one that their own council hosts: `POST /api/partnerships`).
#[utoipa::path(post, path = "/api/platform/partnerships", tag = "platform", security(("bearer" = [])),
    request_body = NewPartnership,
    responses((status = 201, body = CreatedPartnership), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_partnership(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewPartnership>,
) -> ApiResult<(StatusCode, Json<CreatedPartnership>)> {
    operator_only(&caller)?;
    let name = validate::name("name", &req.name)?;
    let host = state
        .store
        .get_organisation(&caller.principal, req.host_organisation_id)
        .await?
        .ok_or_else(|| ApiError::invalid("host_organisation_id", "no such organisation"))?;
    if host.kind != OrgKind::Council {
        return Err(ApiError::invalid(
            "host_organisation_id",
            format!(
                "{} is not a council: only a council hosts a partnership",
                host.name
            ),
        ));
    }
    if let Some(n) = req.notice_period_months
        && !(0..=120).contains(&n)
    {
        return Err(ApiError::invalid(
            "notice_period_months",
            "must be between 0 and 120",
        ));
    }
    let id = super::partnerships::provision_partnership(
        &state,
        &name,
        req.legal_basis,
        req.review_date,
        req.notice_period_months,
        host.id,
    )
    .await?;
    tracing::info!(partnership = %id, host = %host.id, by = %caller.user.id, "partnership created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedPartnership {
            id,
            name,
            host_organisation_id: host.id,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetUpAccount {
    /// The token from the set-up link.
    pub token: String,
    pub password: String,
}

/// Who a set-up link is for, so the page can greet them (404 if the link is not usable).
#[derive(Debug, Serialize, ToSchema)]
pub struct SetupFor {
    pub email: String,
    pub display_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetupToken {
    pub token: String,
}

/// The account a set-up link is for. No sign-in: the link is the credential.
#[utoipa::path(post, path = "/api/auth/setup/lookup", tag = "auth", request_body = SetupToken,
    responses((status = 200, body = SetupFor), (status = 404, body = crate::error::ErrorBody)))]
pub async fn lookup_setup(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SetupToken>,
) -> ApiResult<Json<SetupFor>> {
    let user = state
        .store
        .account_setup(
            System::ACCOUNT_SETUP,
            &auth::token_hash(&req.token),
            store::now_millis(),
        )
        .await?
        .ok_or(ApiError::NotFound("set-up link"))?;
    Ok(Json(SetupFor {
        email: user.email,
        display_name: user.display_name,
    }))
}

/// Chooses the account's password with its one-time link, and signs in. The link works once;
/// an unknown, used or expired one is 404 and changes nothing.
#[utoipa::path(post, path = "/api/auth/setup", tag = "auth", request_body = SetUpAccount,
    responses((status = 200, body = TokenPair), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn set_up_account(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SetUpAccount>,
) -> ApiResult<Json<TokenPair>> {
    let hash = auth::token_hash(&req.token);
    let user = state
        .store
        .account_setup(System::ACCOUNT_SETUP, &hash, store::now_millis())
        .await?
        .ok_or(ApiError::NotFound("set-up link"))?;
    auth::check_new_password(
        "password",
        &req.password,
        &[&user.email, &user.display_name],
    )?;
    let password_hash = state
        .hasher
        .hash(req.password)
        .await
        .map_err(ApiError::Internal)?;
    // Used once, atomically: a second use (or one racing this) finds nothing.
    let user = state
        .store
        .complete_account_setup(
            System::ACCOUNT_SETUP,
            &hash,
            &password_hash,
            store::now_millis(),
        )
        .await?
        .ok_or(ApiError::NotFound("set-up link"))?;
    tracing::info!(user = %user.id, "account set up");
    Ok(Json(start_session(&state, user).await?))
}
