//! A document's past: its content now or at a named version, named versions (heads frozen
//! under a label, never altered), the change report between two versions, and the audit trail
//! derived from the automerge history with each actor bound to the user who authored with it.

use std::collections::HashMap;

use automerge::{Automerge, ChangeHash, ObjType, ReadDoc, Value};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::documents::agreement;
use domain::documents::changes::{self, ChangeReport};
use domain::{Version, validate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{ApiJson, ApiQuery, parse_uuid};
use crate::AppState;
use crate::auth::Caller;
use crate::content::{self, Opened};
use crate::error::{ApiError, ApiResult};
use crate::live::ApplyError;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContentQuery {
    /// A named version's id: the content as it stood then (default: now).
    pub version: Option<Uuid>,
}

/// A document's content, checked against its schema.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContentView {
    pub document_id: String,
    pub kind: domain::DocumentKind,
    /// The automerge heads this content is at (hex).
    pub heads: Vec<String>,
    /// The version read, if one was asked for.
    pub version: Option<Version>,
    /// The typed content (the schema of its kind).
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
}

/// The document's content now, or at a named version.
#[utoipa::path(get, path = "/api/documents/{id}/content", tag = "history", security(("bearer" = [])),
    params(("id" = String, Path), ContentQuery),
    responses((status = 200, body = ContentView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn content(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ContentQuery>,
) -> ApiResult<Json<ContentView>> {
    let opened = content::open(&state, &caller, &id).await?;
    let (doc, version) = match q.version {
        Some(v) => {
            let version = version_of(&state, &caller, &opened, v).await?;
            (content::at(&opened.doc, &version.heads)?, Some(version))
        }
        None => (opened.doc.clone(), None),
    };
    let kind = opened.row.document.kind;
    let typed = content::typed(kind, &doc)?;
    Ok(Json(ContentView {
        document_id: opened.row.document.id.to_string(),
        kind,
        heads: content::heads_hex(&doc),
        version,
        content: serde_json::to_value(typed).map_err(|e| ApiError::Internal(e.into()))?,
    }))
}

/// A version of this document, or "not found" (also for a version of another document).
pub async fn version_of(
    state: &AppState,
    caller: &Caller,
    opened: &Opened,
    id: Uuid,
) -> ApiResult<Version> {
    state
        .store
        .get_version(&caller.principal, id, caller.at)
        .await?
        .filter(|v| v.document_id == opened.row.document.id)
        .ok_or(ApiError::NotFound("version"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVersion {
    /// "Agreed at Joint Governance Committee, 12 March".
    pub label: String,
}

/// Freezes the document as it stands now (everything stored, which is everything anyone has
/// been shown) under a label. Needs write access. A version is never altered or deleted.
#[utoipa::path(post, path = "/api/documents/{id}/versions", tag = "history", security(("bearer" = [])),
    request_body = CreateVersion,
    responses((status = 201, body = Version), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_version(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreateVersion>,
) -> ApiResult<(StatusCode, Json<Version>)> {
    let label = validate::name("label", &req.label)?;
    let opened = content::open(&state, &caller, &id).await?;
    // A version is permanent and may be what a council signs: only those who may edit the
    // whole document (not a guest editor) make one.
    crate::access::edits_everything(
        opened.access,
        opened.row.document.kind,
        &caller,
        "only those who may edit the whole document may name a version of it",
    )?;
    let version = Version {
        id: Uuid::new_v4(),
        document_id: opened.row.document.id,
        label,
        heads: content::heads_hex(&opened.doc),
        created_by: caller.user.id,
        created_at: store::now_millis(),
    };
    if !state
        .store
        .create_version(&caller.principal, &version)
        .await?
    {
        return Err(ApiError::NotFound("document"));
    }
    tracing::info!(document = %version.document_id, version = %version.id, "named version created");
    Ok((StatusCode::CREATED, Json(version)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignVersion {
    /// The named version of the agreement the caller's council signs.
    pub version_id: Uuid,
}

/// Records the caller's council's sign-off of a named version of an agreement. The council is
/// the caller's own, a member (not a guest) of the partnership whose agreement it is; the
/// caller may edit the whole agreement; every clause of that version is agreed; a council signs
/// a version once. Sign-offs are written only here: the sync layer refuses a peer's edit to
/// them.
#[utoipa::path(post, path = "/api/documents/{id}/sign-offs", tag = "history", security(("bearer" = [])),
    request_body = SignVersion,
    responses((status = 201, body = domain::documents::agreement::SignOff),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn sign_off(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SignVersion>,
) -> ApiResult<(StatusCode, Json<agreement::SignOff>)> {
    let opened = content::open(&state, &caller, &id).await?;
    if opened.row.document.kind != domain::DocumentKind::Agreement {
        return Err(ApiError::invalid("", "only an agreement is signed off"));
    }
    crate::access::edits_everything(
        opened.access,
        opened.row.document.kind,
        &caller,
        "signing off needs edit rights over the whole agreement",
    )?;
    let domain::SpaceOwner::Partnership { partnership_id } = opened.row.owner else {
        return Err(ApiError::invalid(
            "",
            "a private document is not signed off by partner councils",
        ));
    };
    let member = state
        .store
        .get_partnership(&caller.principal, partnership_id)
        .await?
        .is_some_and(|(_, members)| {
            members
                .iter()
                .any(|m| m.org_id == caller.user.org_id && m.gives_space_access())
        });
    if !member {
        return Err(ApiError::Forbidden(
            "only a member council of the partnership signs its agreement",
        ));
    }
    let version = version_of(&state, &caller, &opened, req.version_id).await?;
    let agreement_at = |doc: &Automerge| match content::typed(domain::DocumentKind::Agreement, doc)?
    {
        domain::documents::Content::Agreement(a) => Ok(a),
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "agreement read as another kind"
        ))),
    };
    let then = agreement_at(&content::at(&opened.doc, &version.heads)?)?;
    if !then.all_agreed() {
        let open = then
            .clauses
            .iter()
            .filter(|c| c.status != agreement::ClauseStatus::Agreed)
            .count();
        return Err(ApiError::invalid(
            "version_id",
            format!("every clause must be agreed in the version signed; {open} are not"),
        ));
    }
    let council = caller.user.org_id.to_string();
    let version_key = version.id.to_string();
    let now = agreement_at(&opened.doc)?;
    if now
        .sign_offs
        .iter()
        .any(|s| s.council == council && s.version_id == version_key)
    {
        return Err(ApiError::Conflict(
            "your council has already signed this version",
        ));
    }
    let signed = agreement::SignOff {
        council,
        version_id: version_key,
        signed_by: caller.user.display_name.clone(),
        date: chrono::Utc::now().date_naive(),
    };
    let value = serde_json::to_value(&signed).map_err(|e| ApiError::Internal(e.into()))?;
    let changes = domain::documents::change_of(
        &opened.doc,
        automerge::ActorId::random(),
        store::now_millis() / 1000,
        |working| {
            // Every agreement is created with the list (`Agreement` always writes it); creating
            // it here could race another council's sign-off creating it too, and one list
            // would lose.
            let Some((Value::Object(ObjType::List), list)) = working
                .get(automerge::ROOT, "signOffs")
                .map_err(|e| ApiError::Internal(e.into()))?
            else {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "agreement {} has no signOffs list",
                    opened.row.document.id
                )));
            };
            let end = working.length(&list);
            domain::documents::insert_json(working, &list, end, &value)
                .map_err(|e| ApiError::Internal(e.into()))
        },
    )?;
    let applied = state
        .hub
        .apply(opened.row.document.id, caller.user.id, changes)
        .await;
    if let Err(e) = applied {
        // The agreement's own check refuses a second sign-off of a version: if the document
        // now holds this council's sign-off of it, another request got there first.
        if matches!(e, ApplyError::Refused(sync::Refusal::Schema(_))) {
            let now = content::open(&state, &caller, &id).await?;
            if agreement_at(&now.doc)?
                .sign_offs
                .iter()
                .any(|s| s.council == signed.council && s.version_id == signed.version_id)
            {
                return Err(ApiError::Conflict(
                    "your council has already signed this version",
                ));
            }
        }
        return Err(e.into());
    }
    tracing::info!(document = %opened.row.document.id, version = %version.id, "agreement signed off");
    Ok((StatusCode::CREATED, Json(signed)))
}

/// The document's named versions, oldest first.
#[utoipa::path(get, path = "/api/documents/{id}/versions", tag = "history", security(("bearer" = [])),
    responses((status = 200, body = Vec<Version>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Version>>> {
    let (row, _) = crate::access::visible(&state, &caller, &id).await?;
    Ok(Json(
        state
            .store
            .list_versions(&caller.principal, row.document.id, caller.at)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// The earlier version's id.
    pub from: Uuid,
    /// The later version's id (default: the document now).
    pub to: Option<Uuid>,
}

/// "What changed since the last report".
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesView {
    pub from: Version,
    /// Absent when compared with the document now.
    pub to: Option<Version>,
    pub report: ChangeReport,
}

/// The change report between a named version and a later one (or now): risks added, closed
/// and reopened, score moves with their reasons, new, completed and overdue actions, KPI RAG
/// changes.
#[utoipa::path(get, path = "/api/documents/{id}/changes", tag = "history", security(("bearer" = [])),
    params(("id" = String, Path), ChangesQuery),
    responses((status = 200, body = ChangesView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ChangesQuery>,
) -> ApiResult<Json<ChangesView>> {
    let opened = content::open(&state, &caller, &id).await?;
    let from = version_of(&state, &caller, &opened, q.from).await?;
    let to = match q.to {
        Some(v) => Some(version_of(&state, &caller, &opened, v).await?),
        None => None,
    };
    let report = change_report(&opened, &from, to.as_ref())?;
    Ok(Json(ChangesView { from, to, report }))
}

/// The report from `from` to `to` (or now) for an opened document.
pub fn change_report(
    opened: &Opened,
    from: &Version,
    to: Option<&Version>,
) -> ApiResult<ChangeReport> {
    let kind = opened.row.document.kind;
    let before = content::typed(kind, &content::at(&opened.doc, &from.heads)?)?;
    let after = match to {
        Some(v) => content::typed(kind, &content::at(&opened.doc, &v.heads)?)?,
        None => content::typed(kind, &opened.doc)?,
    };
    Ok(changes::report(
        &before,
        &after,
        chrono::Utc::now().date_naive(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only edits to this risk (its fields, its assessments and its actions).
    pub risk: Option<String>,
    /// Changes per page, newest first (default 50, at most the configured page size).
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// Who made a change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditAuthor {
    /// The nil id for the server itself (schema upgrades).
    pub user_id: Uuid,
    pub name: String,
    pub organisation_id: Option<Uuid>,
    pub organisation: Option<String>,
}

/// One automerge change: who, when, and what it did field by field.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// The change's hash.
    pub change: String,
    /// When, by the author's clock (milliseconds since the epoch): automerge records the
    /// time the author's client gave; the server orders changes by their history. Absent when
    /// the change records no time (content the server wrote when creating the document).
    pub at: Option<i64>,
    pub author: AuditAuthor,
    pub edits: Vec<domain::audit::FieldEdit>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// The document's audit trail, newest first: every change with its author (a real user,
/// through the actor binding made when they first synced it) and each field's old and new
/// value. `risk` narrows it to one risk.
#[utoipa::path(get, path = "/api/documents/{id}/audit", tag = "history", security(("bearer" = [])),
    params(("id" = String, Path), AuditQuery),
    responses((status = 200, body = AuditPage), (status = 404, body = crate::error::ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let limit = super::page_limit(&state, q.limit)?;
    let opened = content::open(&state, &caller, &id).await?;
    let authors = authors_of(&state, &caller, opened.row.document.id).await?;
    let max_scan = state.config.audit_max_scan.max(1);
    let mut names: domain::audit::Names =
        super::organisations::names(&state, &caller.principal).await?;
    let page = tokio::task::spawn_blocking(move || {
        names.extend(domain::audit::risk_names(
            &opened.doc,
            &opened.doc.get_heads(),
        ));
        audit_page(&opened.doc, &authors, &names, q, limit as usize, max_scan)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    Ok(Json(page))
}

/// The whole audit trail of `doc` (a document's content, or a version of it), newest first,
/// with no page limit: for an export.
pub(crate) async fn full_audit(
    state: &AppState,
    caller: &Caller,
    document: domain::DocumentId,
    doc: Automerge,
) -> ApiResult<Vec<AuditEntry>> {
    let authors = authors_of(state, caller, document).await?;
    let mut names: domain::audit::Names =
        super::organisations::names(state, &caller.principal).await?;
    tokio::task::spawn_blocking(move || {
        names.extend(domain::audit::risk_names(&doc, &doc.get_heads()));
        let all = AuditQuery {
            risk: None,
            limit: None,
            cursor: None,
        };
        audit_page(&doc, &authors, &names, all, usize::MAX, usize::MAX).map(|p| p.items)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
}

/// The people behind a document's automerge actors, by actor.
async fn authors_of(
    state: &AppState,
    caller: &Caller,
    document: domain::DocumentId,
) -> ApiResult<HashMap<Vec<u8>, AuditAuthor>> {
    Ok(state
        .store
        .document_authors(&caller.principal, document, caller.at)
        .await?
        .into_iter()
        .map(|a| {
            (
                a.actor,
                AuditAuthor {
                    user_id: a.user_id,
                    name: a.display_name,
                    organisation_id: a.org_id,
                    organisation: a.org_name,
                },
            )
        })
        .collect())
}

/// One page of the audit trail, newest first: at most `limit` entries, examining at most
/// `max_scan` changes (each is diffed against its parents); the cursor goes on from there.
fn audit_page(
    doc: &Automerge,
    authors: &HashMap<Vec<u8>, AuditAuthor>,
    names: &domain::audit::Names,
    q: AuditQuery,
    limit: usize,
    max_scan: usize,
) -> ApiResult<AuditPage> {
    let changes = doc.get_changes(&[]);
    let start = match &q.cursor {
        Some(c) => {
            let hash: ChangeHash = c
                .parse()
                .map_err(|_| ApiError::bad_request("cursor", "not a cursor from this API"))?;
            changes
                .iter()
                .position(|ch| ch.hash() == hash)
                .ok_or_else(|| ApiError::bad_request("cursor", "not a cursor from this API"))?
        }
        None => changes.len(),
    };
    let mut items = Vec::new();
    let mut next_cursor = None;
    let mut last_scanned: Option<String> = None;
    for (scanned, change) in changes[..start].iter().rev().enumerate() {
        if items.len() == limit || scanned == max_scan {
            next_cursor = last_scanned;
            break;
        }
        last_scanned = Some(change.hash().to_string());
        let before: Vec<ChangeHash> = change.deps().to_vec();
        let after = [change.hash()];
        let mut edits = domain::audit::field_edits(doc, &before, &after, names);
        if let Some(risk) = &q.risk {
            edits.retain(|e| e.risk_id.as_deref() == Some(risk.as_str()));
            if edits.is_empty() {
                continue;
            }
        }
        let actor = change.actor_id().to_bytes().to_vec();
        let author = authors.get(&actor).cloned().unwrap_or_else(|| AuditAuthor {
            user_id: Uuid::nil(),
            name: if actor == domain::schema::SERVER_ACTOR {
                "Concordat (server)".into()
            } else {
                "Concordat (document created)".into()
            },
            organisation_id: None,
            organisation: None,
        });
        let t = change.timestamp();
        items.push(AuditEntry {
            change: change.hash().to_string(),
            // automerge-js records seconds; some clients record milliseconds.
            at: match t {
                0 => None,
                t if t.abs() < 100_000_000_000 => Some(t * 1000),
                t => Some(t),
            },
            author,
            edits,
        });
    }
    Ok(AuditPage { items, next_cursor })
}

/// A named version with its content.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub version: Version,
    pub document_title: String,
}

/// One named version.
#[utoipa::path(get, path = "/api/versions/{id}", tag = "history", security(("bearer" = [])),
    responses((status = 200, body = VersionView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_version(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<VersionView>> {
    let id = parse_uuid(&id, "version")?;
    let version = state
        .store
        .get_version(&caller.principal, id, caller.at)
        .await?
        .ok_or(ApiError::NotFound("version"))?;
    let (row, _) =
        crate::access::visible(&state, &caller, &version.document_id.to_string()).await?;
    Ok(Json(VersionView {
        version,
        document_title: row.document.title,
    }))
}
