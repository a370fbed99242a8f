//! An SLA's partners-only figures: the cost shares, shared posts' time and savings its partner
//! councils keep from the SLA's guests. A guest granted an SLA syncs the whole SLA document,
//! history included, so what guests must not see cannot live in it; it lives in a companion
//! document in the same space (`sla-figures`), linked both ways by ids only the server writes.
//! Members reach it through the space; a guest only through a grant of its own. Sharing a line
//! with guests is moving it into the SLA (the web client does that through sync).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::documents::Content;
use domain::documents::sla::{PartnersFigures, Sla};
use domain::{Document, DocumentId, DocumentKind};

use super::documents::{DocumentView, view};
use crate::AppState;
use crate::auth::Caller;
use crate::content;
use crate::error::{ApiError, ApiResult};

/// Creates the partners-only figures document for `sla` (not yet stored, or stored without
/// one) in the SLA's space, linked back to it.
pub(crate) async fn create(
    state: &AppState,
    caller: &Caller,
    sla: &Document,
) -> ApiResult<Document> {
    let now = store::now_millis();
    let figures = Document {
        id: DocumentId::random(),
        space_id: sla.space_id,
        kind: DocumentKind::SlaFigures,
        title: format!("{} — partners' figures", sla.title),
        archived: false,
        created_by: caller.user.id,
        created_at: now,
        updated_at: now,
    };
    let content = Content::SlaFigures(PartnersFigures {
        sla: sla.id.to_string(),
        ..PartnersFigures::default()
    });
    state
        .store
        .create_document(
            &caller.principal,
            &figures,
            &domain::schema::document(DocumentKind::SlaFigures, &content),
        )
        .await?;
    tracing::info!(document = %figures.id, sla = %sla.id, "partners' figures created");
    Ok(figures)
}

/// A new SLA's content, linked to its partners-only figures.
pub(crate) fn new_sla(figures: &Document) -> Vec<u8> {
    let sla = Sla {
        partners_figures: figures.id.to_string(),
        ..Sla::empty()
    };
    domain::schema::document(DocumentKind::Sla, &Content::Sla(sla))
}

/// The SLA's partners-only figures, created if the SLA has none yet (an SLA written before
/// they had a document of their own). 201 when created, 200 when they already existed. Only
/// an editor of the whole SLA (a partner council's, not a guest) may ask.
#[utoipa::path(post, path = "/api/documents/{id}/partners-figures", tag = "documents",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the SLA's document id or automerge: URL")),
    responses((status = 200, body = DocumentView), (status = 201, body = DocumentView),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn ensure(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<DocumentView>)> {
    let opened = content::open(&state, &caller, &id).await?;
    if opened.row.document.kind != DocumentKind::Sla {
        return Err(ApiError::invalid(
            "id",
            "only a service-level agreement has partners-only figures",
        ));
    }
    crate::access::edits_everything(
        opened.access,
        opened.row.document.kind,
        &caller,
        "only an editor from a partner council sets up an SLA's figures",
    )?;
    let linked = match content::typed(DocumentKind::Sla, &opened.doc)? {
        Content::Sla(sla) => sla.partners_figures,
        _ => String::new(),
    };
    if !linked.is_empty() {
        let (row, access) = crate::access::visible(&state, &caller, &linked).await?;
        return Ok((
            StatusCode::OK,
            Json(view(row, access, caller.principal.is_guest)),
        ));
    }
    let figures = create(&state, &caller, &opened.row.document).await?;
    let link = serde_json::Value::String(figures.id.to_string());
    let changes = domain::documents::change_of(
        &opened.doc,
        automerge::ActorId::random(),
        store::now_millis() / 1000,
        |working| domain::documents::put_json(working, &automerge::ROOT, "partnersFigures", &link),
    )
    .map_err(|e| ApiError::Internal(e.into()))?;
    // Two editors asking at once each create a document; the link both write is one register,
    // so every replica settles on the same one and the other stays empty and unlinked.
    state
        .hub
        .apply(opened.row.document.id, caller.user.id, changes)
        .await?;
    let (row, access) = crate::access::visible(&state, &caller, &figures.id.to_string()).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(row, access, caller.principal.is_guest)),
    ))
}
