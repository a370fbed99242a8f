//! Organisations (councils and partner bodies) and the users of one's own organisation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::{OrgKind, OrgRole, Organisation, Space, SpaceOwner, User, validate};
use serde::{Deserialize, Serialize};
use store::{NewUser, System};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ApiJson, parse_uuid};
use crate::AppState;
use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult};

/// Every organisation: names of public bodies are not tenant data, and a partnership admin
/// needs them to add a member or guest.
#[utoipa::path(get, path = "/api/organisations", tag = "organisations", security(("bearer" = [])),
    responses((status = 200, body = Vec<Organisation>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Organisation>>> {
    Ok(Json(
        state.store.list_organisations(&caller.principal).await?,
    ))
}

#[utoipa::path(get, path = "/api/organisations/{id}", tag = "organisations", security(("bearer" = [])),
    responses((status = 200, body = Organisation), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Organisation>> {
    let id = parse_uuid(&id, "organisation")?;
    state
        .store
        .get_organisation(&caller.principal, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("organisation"))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrganisation {
    pub name: String,
    /// Only partner bodies (third-sector organisations) are created over the API; councils are
    /// provisioned by the deployment's administrator.
    pub kind: OrgKind,
}

/// Registers a partner body (e.g. a charity to invite as a guest). Council admins only.
#[utoipa::path(post, path = "/api/organisations", tag = "organisations", security(("bearer" = [])),
    request_body = CreateOrganisation,
    responses((status = 201, body = Organisation), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateOrganisation>,
) -> ApiResult<(StatusCode, Json<Organisation>)> {
    if !caller.principal.is_org_admin() {
        return Err(ApiError::Forbidden(
            "only an organisation's admin may do this",
        ));
    }
    if req.kind != OrgKind::Partner {
        return Err(ApiError::invalid(
            "kind",
            "only partner bodies can be created here; councils are provisioned by the administrator",
        ));
    }
    let name = validate::name("name", &req.name)?;
    // No domains: a council cannot verify another body's e-mail domain. Its people join as
    // guests through invitations.
    let org = provision_organisation(&state, &name, OrgKind::Partner, Vec::new()).await?;
    Ok((StatusCode::CREATED, Json(org)))
}

/// Creates an organisation with its private space and its verified e-mail domains (the
/// platform operator vouches for those; a domain belongs to one organisation at most).
pub async fn provision_organisation(
    state: &AppState,
    name: &str,
    kind: OrgKind,
    domains: Vec<String>,
) -> ApiResult<Organisation> {
    let org = Organisation {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        kind,
        domains: validate::domains("domains", &domains)?,
        created_at: store::now_millis(),
    };
    let space = Space {
        id: Uuid::new_v4(),
        name: format!("{name} (private)"),
        owner: SpaceOwner::Private { org_id: org.id },
    };
    state
        .store
        .create_organisation(System::PROVISION, &org, &space)
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict => {
                ApiError::Conflict("an organisation with this name or one of these domains exists")
            }
            other => other.into(),
        })?;
    Ok(org)
}

/// The users of the caller's own organisation (never its guests; a guest sees no one).
#[utoipa::path(get, path = "/api/users", tag = "organisations", security(("bearer" = [])),
    responses((status = 200, body = Vec<User>)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(state.store.list_users(&caller.principal).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddUser {
    pub email: String,
    pub display_name: String,
    pub password: String,
    #[serde(default = "member")]
    pub role: OrgRole,
}

fn member() -> OrgRole {
    OrgRole::Member
}

/// Adds a user to the caller's organisation. Organisation admins only, and only for an
/// address in one of the organisation's verified domains.
#[utoipa::path(post, path = "/api/users", tag = "organisations", security(("bearer" = [])),
    request_body = AddUser,
    responses((status = 201, body = User), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn add_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AddUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let user = colleague(&state, &caller, &req.email, &req.display_name, req.role).await?;
    auth::check_new_password(
        "password",
        &req.password,
        &[&user.email, &user.display_name],
    )?;
    let password_hash = Some(
        state
            .hasher
            .hash(req.password)
            .await
            .map_err(ApiError::Internal)?,
    );
    state
        .store
        .add_user(
            &caller.principal,
            &NewUser {
                user: user.clone(),
                password_hash,
            },
        )
        .await
        .map_err(refused_colleague)?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// A new colleague of the caller's organisation, checked (the caller is its admin; the address
/// is in one of its verified domains) but not yet stored.
async fn colleague(
    state: &AppState,
    caller: &Caller,
    email: &str,
    display_name: &str,
    role: OrgRole,
) -> ApiResult<User> {
    if !caller.principal.is_org_admin() || caller.principal.is_guest {
        return Err(ApiError::Forbidden(
            "only an organisation's admin may add users",
        ));
    }
    let email = validate::email("email", email)?;
    let org = state
        .store
        .get_organisation(&caller.principal, caller.principal.org_id)
        .await?
        .ok_or(ApiError::Forbidden("your organisation is not available"))?;
    if !org.owns_address(&email) {
        return Err(ApiError::invalid(
            "email",
            if org.domains.is_empty() {
                format!(
                    "{} has no verified e-mail domain: the platform operator sets them",
                    org.name
                )
            } else {
                format!(
                    "accounts of {} are for addresses at {}; invite anyone else as a guest",
                    org.name,
                    org.domains.join(", ")
                )
            },
        ));
    }
    Ok(User {
        id: Uuid::new_v4(),
        org_id: caller.principal.org_id,
        email,
        display_name: validate::name("display_name", display_name)?,
        role,
        is_guest: false,
        disabled: false,
        created_at: store::now_millis(),
        platform_operator: false,
    })
}

/// What the store's refusal of a new colleague means to the admin adding them.
fn refused_colleague(e: store::StoreError) -> ApiError {
    match e {
        store::StoreError::Conflict => ApiError::Conflict("an account with this e-mail exists"),
        store::StoreError::Refused => {
            ApiError::invalid("email", "not an address in your organisation's domains")
        }
        other => other.into(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddColleague {
    pub email: String,
    pub display_name: String,
    #[serde(default = "member")]
    pub role: OrgRole,
}

/// Adds a colleague who chooses their own password: an account without one, and a one-time
/// link (valid 7 days) to pass on. Organisation admins only, for an address in one of the
/// organisation's verified domains.
#[utoipa::path(post, path = "/api/users/setup-links", tag = "organisations", security(("bearer" = [])),
    request_body = AddColleague,
    responses((status = 201, body = super::platform::AccountToSetUp), (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn add_colleague(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AddColleague>,
) -> ApiResult<(StatusCode, Json<super::platform::AccountToSetUp>)> {
    let user = colleague(&state, &caller, &req.email, &req.display_name, req.role).await?;
    state
        .store
        .add_user(
            &caller.principal,
            &NewUser {
                user: user.clone(),
                password_hash: None,
            },
        )
        .await
        .map_err(refused_colleague)?;
    let days = super::platform::SETUP_LINK_DAYS;
    let (link, expires_at) = super::platform::new_setup_link(&state, user.id, days).await?;
    tracing::info!(user = %user.id, by = %caller.user.id, "colleague added with a set-up link");
    Ok((
        StatusCode::CREATED,
        Json(super::platform::AccountToSetUp {
            user,
            link,
            expires_at,
        }),
    ))
}

/// Every organisation the caller may see, id → name, to show ids by their names.
pub(crate) async fn names<C: FromIterator<(String, String)>>(
    state: &AppState,
    p: &domain::access::Principal,
) -> ApiResult<C> {
    Ok(state
        .store
        .list_organisations(p)
        .await?
        .into_iter()
        .map(|o| (o.id.to_string(), o.name))
        .collect())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeUser {
    /// A disabled account cannot sign in; disabling it ends its sessions and live connections.
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub role: Option<OrgRole>,
}

/// Disables or re-enables a colleague, or changes their role. Organisation admins only, for
/// their own organisation's accounts, never their own (an admin cannot lock themselves out).
#[utoipa::path(patch, path = "/api/users/{id}", tag = "organisations", security(("bearer" = [])),
    request_body = ChangeUser,
    responses((status = 200, body = User), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn change_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ChangeUser>,
) -> ApiResult<Json<User>> {
    if !caller.principal.is_org_admin() || caller.principal.is_guest {
        return Err(ApiError::Forbidden(
            "only an organisation's admin may change its accounts",
        ));
    }
    let id = parse_uuid(&id, "user")?;
    if id == caller.user.id {
        return Err(ApiError::invalid(
            "",
            "you cannot disable your own account or change your own role: ask another administrator",
        ));
    }
    // Read through the caller's own scope: another organisation's account is not found.
    let current = state
        .store
        .get_user(&caller.principal, id)
        .await?
        .filter(|u| u.org_id == caller.principal.org_id && !u.is_guest)
        .ok_or(ApiError::NotFound("user"))?;
    let disabled = req.disabled.unwrap_or(current.disabled);
    let role = req.role.unwrap_or(current.role);
    let (user, ended) = state
        .store
        .set_user_access(
            System::PROVISION,
            caller.principal.org_id,
            id,
            disabled,
            role,
            store::now_millis(),
        )
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    for session in &ended {
        state
            .hub
            .notify(crate::live::LiveEvent::SessionEnded(*session))
            .await;
    }
    tracing::info!(user = %id, disabled, role = role.as_str(), sessions_ended = ended.len(), by = %caller.user.id, "account changed");
    Ok(Json(user))
}

/// The names partners' spreadsheets use for an organisation besides its own: short names,
/// initials, old names ("EDC", "Eastbridge", "Eastbridge DC (old name)"). An import reads them
/// as it reads the organisation's name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Aliases {
    pub aliases: Vec<String>,
}

/// At most this many aliases per organisation, each at most [`MAX_ALIAS_CHARS`] characters.
const MAX_ALIASES: usize = 20;
const MAX_ALIAS_CHARS: usize = 60;

/// An organisation's aliases.
#[utoipa::path(get, path = "/api/organisations/{id}/aliases", tag = "organisations", security(("bearer" = [])),
    responses((status = 200, body = Aliases), (status = 404, body = crate::error::ErrorBody)))]
pub async fn aliases(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Aliases>> {
    let id = parse_uuid(&id, "organisation")?;
    state
        .store
        .get_organisation(&caller.principal, id)
        .await?
        .ok_or(ApiError::NotFound("organisation"))?;
    let all = state.store.organisation_aliases(&caller.principal).await?;
    Ok(Json(Aliases {
        aliases: all
            .into_iter()
            .filter(|(o, _)| *o == id)
            .map(|(_, a)| a)
            .collect(),
    }))
}

/// Sets an organisation's aliases (replacing them). Its own administrators, or the platform
/// operator.
#[utoipa::path(put, path = "/api/organisations/{id}/aliases", tag = "organisations", security(("bearer" = [])),
    request_body = Aliases,
    responses((status = 200, body = Aliases), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn set_aliases(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Aliases>,
) -> ApiResult<Json<Aliases>> {
    let id = parse_uuid(&id, "organisation")?;
    let org = state
        .store
        .get_organisation(&caller.principal, id)
        .await?
        .ok_or(ApiError::NotFound("organisation"))?;
    let own_admin = caller.principal.org_id == org.id && caller.principal.is_org_admin();
    if !own_admin && !caller.user.platform_operator {
        return Err(ApiError::Forbidden(
            "only the organisation's administrator (or the platform operator) sets its aliases",
        ));
    }
    if req.aliases.len() > MAX_ALIASES {
        return Err(ApiError::invalid(
            "aliases",
            format!("at most {MAX_ALIASES} aliases"),
        ));
    }
    let mut clean: Vec<String> = Vec::new();
    for a in &req.aliases {
        let a = a.split_whitespace().collect::<Vec<_>>().join(" ");
        if a.is_empty() || a.chars().count() > MAX_ALIAS_CHARS {
            return Err(ApiError::invalid(
                "aliases",
                format!("each alias is 1 to {MAX_ALIAS_CHARS} characters"),
            ));
        }
        if !clean.iter().any(|c| c.eq_ignore_ascii_case(&a)) {
            clean.push(a);
        }
    }
    state
        .store
        .set_organisation_aliases(System::PROVISION, org.id, &clean)
        .await?;
    tracing::info!(organisation = %org.id, aliases = clean.len(), "organisation aliases set");
    Ok(Json(Aliases { aliases: clean }))
}
