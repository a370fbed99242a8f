//! Documents: create in a space (the server writes the automerge document from its kind's
//! initial content), list what the caller may see, read, rename, archive; and their grants.
//! A document the caller may not see answers exactly like one that does not exist.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{
    Access, AccessFacts, Document, DocumentId, DocumentKind, Grant, SpaceAccess, validate,
};
use serde::{Deserialize, Serialize};
use store::{Cursor, DocumentFilter, DocumentRow};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{ApiJson, ApiQuery, parse_uuid};
use crate::AppState;
use crate::access::{access_of, visible};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::live::{Affected, LiveEvent};

/// A document as the caller sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    #[serde(flatten)]
    pub document: Document,
    /// `automerge:<id>`: what an automerge-repo client opens.
    pub url: String,
    /// What the caller may do with it.
    pub access: Access,
    /// What the caller may change in its content (checked again by the server on every
    /// change): nothing, only inside some top-level lists, or everything.
    pub editable: domain::Editable,
}

pub(crate) fn view(row: DocumentRow, access: Access, is_guest: bool) -> DocumentView {
    DocumentView {
        editable: domain::editable(access, row.document.kind, is_guest),
        url: row.document.id.url(),
        document: row.document,
        access,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only documents in this space.
    pub space_id: Option<Uuid>,
    pub kind: Option<DocumentKind>,
    /// Include archived documents (default false).
    #[serde(default)]
    pub include_archived: bool,
    /// Page size, 1 to the configured maximum (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentPage {
    pub items: Vec<DocumentView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn encode_cursor(doc: &Document) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", doc.created_at, doc.id))
}

fn decode_cursor(s: &str) -> Option<Cursor> {
    let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (at, id) = text.split_once(':')?;
    id.parse::<DocumentId>().ok()?;
    Some(Cursor {
        created_at: at.parse().ok()?,
        id: id.to_owned(),
    })
}

/// The documents the caller may see, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/documents", tag = "documents", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = DocumentPage), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<DocumentPage>> {
    let limit = super::page_limit(&state, q.limit)?;
    let after = match &q.cursor {
        Some(c) => Some(
            decode_cursor(c)
                .ok_or_else(|| ApiError::bad_request("cursor", "not a cursor from this API"))?,
        ),
        None => None,
    };
    let filter = DocumentFilter {
        space_id: q.space_id,
        kind: q.kind,
        include_archived: q.include_archived,
    };
    let rows = state
        .store
        .list_documents(
            &caller.principal,
            &filter,
            after.as_ref(),
            limit + 1,
            caller.at,
        )
        .await?;
    let more = rows.len() > limit as usize;
    let ctx = state.store.caller_context(&caller.principal).await?;
    let now = store::now_millis();
    let page: Vec<DocumentRow> = rows.into_iter().take(limit as usize).collect();
    let next_cursor = if more {
        page.last().map(|r| encode_cursor(&r.document))
    } else {
        None
    };
    let items = page
        .into_iter()
        .filter_map(|row| {
            let access = access_of(&caller, &ctx, &row, now);
            (access != Access::None).then(|| view(row, access, caller.principal.is_guest))
        })
        .collect();
    Ok(Json(DocumentPage { items, next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateDocument {
    pub space_id: Uuid,
    pub kind: DocumentKind,
    pub title: String,
}

/// Creates a document in a space the caller's council reaches, with its kind's initial content.
#[utoipa::path(post, path = "/api/documents", tag = "documents", security(("bearer" = [])),
    request_body = CreateDocument,
    responses((status = 201, body = DocumentView), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateDocument>,
) -> ApiResult<(StatusCode, Json<DocumentView>)> {
    let title = validate::name("title", &req.title)?;
    let space = state
        .store
        .get_space(&caller.principal, req.space_id, caller.at)
        .await?
        .ok_or_else(|| ApiError::invalid("space_id", "no such space"))?;
    // Writing in a space needs the space's own access, not a grant on one of its documents.
    let ctx = state.store.caller_context(&caller.principal).await?;
    let membership = match space.owner {
        domain::SpaceOwner::Partnership { partnership_id } => {
            ctx.membership(caller.principal.org_id, partnership_id)
        }
        domain::SpaceOwner::Private { .. } => None,
    };
    let access = domain::decide(&AccessFacts {
        principal: &caller.principal,
        user_active: true,
        space: SpaceAccess::new(space.owner, membership),
        archived: false,
        grants: &[],
        now: store::now_millis(),
    });
    if !access.can_write() {
        return Err(ApiError::invalid("space_id", "no such space"));
    }
    let now = store::now_millis();
    let document = Document {
        id: DocumentId::random(),
        space_id: space.id,
        kind: req.kind,
        title,
        archived: false,
        created_by: caller.user.id,
        created_at: now,
        updated_at: now,
    };
    let content = match req.kind {
        DocumentKind::Sla => {
            let figures = super::figures::create(&state, &caller, &document).await?;
            super::figures::new_sla(&figures)
        }
        DocumentKind::SlaFigures => {
            return Err(ApiError::invalid(
                "kind",
                "an SLA's partners-only figures are created with the SLA",
            ));
        }
        kind => domain::schema::initial_document(kind),
    };
    state
        .store
        .create_document(&caller.principal, &document, &content)
        .await?;
    tracing::info!(document = %document.id, kind = %document.kind, "document created");
    Ok((
        StatusCode::CREATED,
        Json(view(
            DocumentRow {
                document,
                owner: space.owner,
            },
            access,
            caller.principal.is_guest,
        )),
    ))
}

#[utoipa::path(get, path = "/api/documents/{id}", tag = "documents", security(("bearer" = [])),
    params(("id" = String, Path, description = "document id or automerge: URL")),
    responses((status = 200, body = DocumentView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DocumentView>> {
    let (row, access) = visible(&state, &caller, &id).await?;
    Ok(Json(view(row, access, caller.principal.is_guest)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDocument {
    /// A new title (needs write access).
    pub title: Option<String>,
    /// Archive or restore (needs admin access).
    pub archived: Option<bool>,
}

/// Renames, archives or restores a document.
#[utoipa::path(patch, path = "/api/documents/{id}", tag = "documents", security(("bearer" = [])),
    request_body = UpdateDocument,
    responses((status = 200, body = DocumentView), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateDocument>,
) -> ApiResult<Json<DocumentView>> {
    let (row, access) = visible(&state, &caller, &id).await?;
    let title = req
        .title
        .as_deref()
        .map(|t| validate::name("title", t))
        .transpose()?;
    if title.is_some() && !access.can_write() {
        return Err(ApiError::Forbidden("you may not rename this document"));
    }
    if req.archived.is_some() && !access.can_admin() {
        return Err(ApiError::Forbidden(
            "only an administrator may archive or restore this document",
        ));
    }
    if title.is_none() && req.archived.is_none() {
        return Err(ApiError::invalid(
            "title",
            "nothing to change: give title or archived",
        ));
    }
    let changed = state
        .store
        .update_document(
            &caller.principal,
            row.document.id,
            title.as_deref(),
            req.archived,
            store::now_millis(),
        )
        .await?;
    if !changed {
        // Visible through a grant only: guests edit content, not the document's record.
        return Err(ApiError::Forbidden(
            "you may not change this document's details",
        ));
    }
    if req.archived.is_some() {
        state
            .hub
            .notify(LiveEvent::AccessChanged(Affected::Document(
                row.document.id,
            )))
            .await;
    }
    let (row, access) = visible(&state, &caller, &id).await?;
    Ok(Json(view(row, access, caller.principal.is_guest)))
}

/// A grant with the grantee's name, for the document's administrators.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    #[serde(flatten)]
    pub grant: Grant,
    pub live: bool,
    /// The person it was made to.
    pub grantee: Option<GranteeView>,
}

/// The person a grant was made to.
#[derive(Debug, Serialize, ToSchema)]
pub struct GranteeView {
    pub name: String,
    pub email: String,
    pub organisation: Option<String>,
}

/// Who has been granted this document. Its administrators only.
#[utoipa::path(get, path = "/api/documents/{id}/grants", tag = "sharing", security(("bearer" = [])),
    responses((status = 200, body = Vec<GrantView>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<GrantView>>> {
    let (row, access) = visible(&state, &caller, &id).await?;
    if !access.can_admin() {
        return Err(ApiError::Forbidden(
            "only an administrator may see who has access",
        ));
    }
    let now = store::now_millis();
    let grants = state
        .store
        .list_grants(&caller.principal, row.document.id)
        .await?;
    let people = state
        .store
        .document_grantees(&caller.principal, row.document.id, caller.at)
        .await?;
    Ok(Json(
        grants
            .into_iter()
            .map(|g| GrantView {
                live: g.is_live(now),
                grantee: people
                    .iter()
                    .find(|p| p.user_id == g.user_id)
                    .map(|p| GranteeView {
                        name: p.display_name.clone(),
                        email: p.email.clone(),
                        organisation: p.org_name.clone(),
                    }),
                grant: g,
            })
            .collect(),
    ))
}

/// Revokes a grant: it stops working at once. The document's administrators only.
#[utoipa::path(delete, path = "/api/grants/{id}", tag = "sharing", security(("bearer" = [])),
    responses((status = 204, description = "revoked"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, "grant")?;
    let grant = state
        .store
        .get_grant(&caller.principal, id)
        .await?
        .ok_or(ApiError::NotFound("grant"))?;
    let (_, access) = visible(&state, &caller, &grant.document_id.to_string()).await?;
    if !access.can_admin() {
        return Err(ApiError::Forbidden(
            "only an administrator may revoke access",
        ));
    }
    if state
        .store
        .revoke_grant(&caller.principal, id, store::now_millis())
        .await?
    {
        tracing::info!(grant = %id, "grant revoked");
        state
            .hub
            .notify(LiveEvent::AccessChanged(Affected::Document(
                grant.document_id,
            )))
            .await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("grant"))
    }
}
