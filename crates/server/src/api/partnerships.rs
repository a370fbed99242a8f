//! Partnerships (their member and guest organisations) and spaces.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use domain::{
    LegalBasis, MemberRole, Membership, OrgKind, Partnership, Space, SpaceOwner, validate,
};
use serde::{Deserialize, Serialize};
use store::System;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ApiJson, parse_uuid};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::live::{Affected, LiveEvent};

/// A partnership with its members (past ones keep `left_at`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnershipView {
    #[serde(flatten)]
    pub partnership: Partnership,
    pub members: Vec<MemberView>,
    /// The partnership's shared space.
    pub space_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    #[serde(flatten)]
    pub membership: Membership,
    pub organisation_name: String,
}

/// The partnerships the caller's organisation belongs to (as host, member or guest).
#[utoipa::path(get, path = "/api/partnerships", tag = "partnerships", security(("bearer" = [])),
    responses((status = 200, body = Vec<Partnership>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Partnership>>> {
    Ok(Json(
        state.store.list_partnerships(&caller.principal).await?,
    ))
}

#[utoipa::path(get, path = "/api/partnerships/{id}", tag = "partnerships", security(("bearer" = [])),
    responses((status = 200, body = PartnershipView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PartnershipView>> {
    let id = parse_uuid(&id, "partnership")?;
    view(&state, &caller, id).await.map(Json)
}

async fn view(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<PartnershipView> {
    let (partnership, members) = state
        .store
        .get_partnership(&caller.principal, id)
        .await?
        .ok_or(ApiError::NotFound("partnership"))?;
    let orgs = state.store.list_organisations(&caller.principal).await?;
    let members = members
        .into_iter()
        .map(|m| MemberView {
            organisation_name: orgs
                .iter()
                .find(|o| o.id == m.org_id)
                .map(|o| o.name.clone())
                .unwrap_or_default(),
            membership: m,
        })
        .collect();
    let space_id = state
        .store
        .list_spaces(&caller.principal, caller.at)
        .await?
        .into_iter()
        .find(|s| s.owner == SpaceOwner::Partnership { partnership_id: id })
        .map(|s| s.id);
    Ok(PartnershipView {
        partnership,
        members,
        space_id,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreatePartnership {
    pub name: String,
    pub legal_basis: LegalBasis,
    /// When the agreement is next reviewed (YYYY-MM-DD).
    #[serde(default)]
    pub review_date: Option<NaiveDate>,
    /// Months of notice a member must give to leave.
    #[serde(default)]
    pub notice_period_months: Option<i32>,
}

/// Creates a partnership hosted by the caller's council, with its shared space. Council admins only.
#[utoipa::path(post, path = "/api/partnerships", tag = "partnerships", security(("bearer" = [])),
    request_body = CreatePartnership,
    responses((status = 201, body = PartnershipView), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreatePartnership>,
) -> ApiResult<(StatusCode, Json<PartnershipView>)> {
    if !caller.principal.is_org_admin() {
        return Err(ApiError::Forbidden(
            "only a council's admin may create a partnership",
        ));
    }
    let org = state
        .store
        .get_organisation(&caller.principal, caller.principal.org_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if org.kind != OrgKind::Council {
        return Err(ApiError::Forbidden("only a council may host a partnership"));
    }
    let name = validate::name("name", &req.name)?;
    if let Some(n) = req.notice_period_months
        && !(0..=120).contains(&n)
    {
        return Err(ApiError::invalid(
            "notice_period_months",
            "must be between 0 and 120",
        ));
    }
    let id = provision_partnership(
        &state,
        &name,
        req.legal_basis,
        req.review_date,
        req.notice_period_months,
        org.id,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&state, &caller, id).await?)))
}

/// Creates a partnership, its host membership and its shared space.
pub async fn provision_partnership(
    state: &AppState,
    name: &str,
    legal_basis: LegalBasis,
    review_date: Option<NaiveDate>,
    notice_period_months: Option<i32>,
    host_org: Uuid,
) -> ApiResult<Uuid> {
    let now = store::now_millis();
    let partnership = Partnership {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        legal_basis,
        review_date,
        notice_period_months,
        created_at: now,
    };
    let host = Membership {
        partnership_id: partnership.id,
        org_id: host_org,
        role: MemberRole::Host,
        joined_at: now,
        left_at: None,
    };
    let space = Space {
        id: Uuid::new_v4(),
        name: format!("{name} (shared)"),
        owner: SpaceOwner::Partnership {
            partnership_id: partnership.id,
        },
    };
    state
        .store
        .create_partnership(System::PROVISION, &partnership, &host, &space)
        .await?;
    Ok(partnership.id)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddMember {
    pub organisation_id: Uuid,
    /// `member` or `host` for a council; `guest` for any organisation.
    pub role: MemberRole,
}

/// Adds (or re-admits) an organisation. The host council's admins only.
#[utoipa::path(post, path = "/api/partnerships/{id}/members", tag = "partnerships", security(("bearer" = [])),
    request_body = AddMember,
    responses((status = 200, body = PartnershipView), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AddMember>,
) -> ApiResult<Json<PartnershipView>> {
    let id = parse_uuid(&id, "partnership")?;
    // Seeing the partnership comes first, so a stranger learns nothing.
    view(&state, &caller, id).await?;
    let org = state
        .store
        .get_organisation(&caller.principal, req.organisation_id)
        .await?
        .ok_or_else(|| ApiError::invalid("organisation_id", "no such organisation"))?;
    if req.role != MemberRole::Guest && org.kind != OrgKind::Council {
        return Err(ApiError::invalid(
            "role",
            "only a council can be a host or member; add a partner body as a guest",
        ));
    }
    let membership = Membership {
        partnership_id: id,
        org_id: org.id,
        role: req.role,
        joined_at: store::now_millis(),
        left_at: None,
    };
    state
        .store
        .put_membership(&caller.principal, &membership)
        .await
        .map_err(|e| match e {
            store::StoreError::Refused => {
                ApiError::Forbidden("only the host council's admin may add members")
            }
            other => other.into(),
        })?;
    // A role may have changed (a member re-admitted as a guest loses the shared space).
    state
        .hub
        .notify(LiveEvent::AccessChanged(Affected::Partnership(id)))
        .await;
    Ok(Json(view(&state, &caller, id).await?))
}

/// Ends an organisation's membership: its users lose the shared space at once. The host's
/// admin may remove any member (or guest organisation). A member council withdrawing itself
/// leaves through `POST /api/partnerships/{id}/exit`, which takes its export first (409 here).
#[utoipa::path(delete, path = "/api/partnerships/{id}/members/{org_id}", tag = "partnerships",
    security(("bearer" = [])),
    responses((status = 204, description = "membership ended"), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "a council's own withdrawal goes through the exit, which takes its export", body = crate::error::ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, org_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, "partnership")?;
    let org_id = parse_uuid(&org_id, "membership")?;
    view(&state, &caller, id).await?;
    if !caller.principal.is_org_admin() {
        return Err(ApiError::Forbidden("only an admin may end a membership"));
    }
    if org_id == caller.principal.org_id && !caller.principal.is_guest {
        // Leaving without the export UK GDPR entitles the council to would lose it for good.
        return Err(ApiError::Conflict(
            "a council leaves a partnership through POST /api/partnerships/{id}/exit, \
             which takes its export before access ends",
        ));
    }
    let ended = state
        .store
        .end_membership(&caller.principal, id, org_id, store::now_millis())
        .await?;
    if ended {
        state
            .hub
            .notify(LiveEvent::AccessChanged(Affected::Partnership(id)))
            .await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("membership"))
    }
}

/// The spaces the caller reaches: their council's private space, the shared spaces of its
/// partnerships, and the spaces of documents granted to them.
#[utoipa::path(get, path = "/api/spaces", tag = "spaces", security(("bearer" = [])),
    responses((status = 200, body = Vec<Space>)))]
pub async fn list_spaces(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Space>>> {
    Ok(Json(
        state
            .store
            .list_spaces(&caller.principal, caller.at)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/spaces/{id}", tag = "spaces", security(("bearer" = [])),
    responses((status = 200, body = Space), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_space(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Space>> {
    let id = parse_uuid(&id, "space")?;
    state
        .store
        .get_space(&caller.principal, id, caller.at)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("space"))
}
