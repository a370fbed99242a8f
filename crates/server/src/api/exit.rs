//! A council leaving a partnership (UK GDPR and records). Its administrator ends the
//! membership; before access ends, every shared document is frozen as a named version ("as at
//! Brockley's exit …", kept for the partners too), and the council takes a complete export: its
//! own documents as they are, the shared ones at those versions, each as JSON with its audit
//! trail (and a register also as a workbook), plus its organisation, people and memberships.
//! The export is stored for the council's own administrators, who can download it again once
//! the partnership is closed to them.

use std::io::Write;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{DocumentKind, MemberRole, Version};
use serde::Serialize;
use serde_json::{Value, json};
use store::{DocumentFilter, DocumentRow, ExitExport};
use utoipa::ToSchema;
use uuid::Uuid;

use super::parse_uuid;
use crate::AppState;
use crate::auth::Caller;
use crate::content;
use crate::error::{ApiError, ApiResult};
use crate::live::{Affected, LiveEvent};

/// One shared document as the leaving council took it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExitedDocument {
    pub document_id: String,
    pub title: String,
    /// The named version recording it at the exit.
    pub version_id: Uuid,
}

/// What leaving did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExitRecord {
    pub export_id: Uuid,
    pub partnership_id: Uuid,
    pub organisation_id: Uuid,
    pub exited_at: domain::Millis,
    pub shared_documents: Vec<ExitedDocument>,
    /// Where the export is downloaded (the council's administrators, now and later).
    pub download: String,
}

/// A stored exit export.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExitExportView {
    pub id: Uuid,
    pub partnership_id: Uuid,
    pub created_at: domain::Millis,
    pub bytes: i64,
    /// SHA-256 of the ZIP, hex.
    pub checksum: String,
    pub download: String,
}

fn download_path(id: Uuid) -> String {
    format!("/api/exits/{id}/export.zip")
}

/// Leaves the partnership: freezes every shared document as a named version, stores the
/// council's export, then ends the membership (live connections lose the shared documents at
/// once). The leaving council's administrators only; the host council cannot leave (hand the
/// hosting over first).
#[utoipa::path(post, path = "/api/partnerships/{id}/exit", tag = "partnerships", security(("bearer" = [])),
    responses((status = 201, body = ExitRecord), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn exit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<ExitRecord>)> {
    let id = parse_uuid(&id, "partnership")?;
    if !caller.principal.is_org_admin() || caller.principal.is_guest {
        return Err(ApiError::Forbidden(
            "only the council's administrators may take it out of a partnership",
        ));
    }
    let (partnership, members) = state
        .store
        .get_partnership(&caller.principal, id)
        .await?
        .ok_or(ApiError::NotFound("partnership"))?;
    let mine = members
        .iter()
        .find(|m| m.org_id == caller.principal.org_id && m.left_at.is_none())
        .ok_or(ApiError::NotFound("membership"))?;
    if mine.role == MemberRole::Host {
        return Err(ApiError::Conflict(
            "the host council cannot leave its partnership: make another council the host first",
        ));
    }
    let org = state
        .store
        .get_organisation(&caller.principal, caller.principal.org_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let now = store::now_millis();
    let day = chrono::DateTime::from_timestamp_millis(now)
        .map(|t| t.format("%-d %B %Y").to_string())
        .unwrap_or_default();
    let label = format!("As at {}'s exit from {}, {day}", org.name, partnership.name);

    // Everything the council may see: the shared documents, and its own.
    let everything = DocumentFilter {
        include_archived: true,
        ..Default::default()
    };
    let most = u32::try_from(state.config.max_view_documents.max(1)).unwrap_or(u32::MAX);
    let rows = state
        .store
        .list_documents(
            &caller.principal,
            &everything,
            None,
            most.saturating_add(1),
            caller.at,
        )
        .await?;
    // An export that left documents out would be worse than none: refuse before changing
    // anything.
    if rows.len() > most as usize {
        return Err(ApiError::Conflict(
            "more documents than one export takes (CONCORDAT_MAX_VIEW_DOCUMENTS): nothing was changed",
        ));
    }
    let shared: Vec<&DocumentRow> = rows
        .iter()
        .filter(|r| r.owner == domain::SpaceOwner::Partnership { partnership_id: id })
        .collect();
    let own: Vec<&DocumentRow> = rows
        .iter()
        .filter(|r| {
            r.owner
                == domain::SpaceOwner::Private {
                    org_id: caller.principal.org_id,
                }
        })
        .collect();

    let mut zip = Zip::new();
    let mut manifest_docs = Vec::new();
    let mut exited = Vec::new();
    for row in shared {
        let opened = content::open(&state, &caller, &row.document.id.to_string()).await?;
        let version = Version {
            id: Uuid::new_v4(),
            document_id: row.document.id,
            label: label.clone(),
            heads: content::heads_hex(&opened.doc),
            created_by: caller.user.id,
            created_at: now,
        };
        if !state
            .store
            .create_version(&caller.principal, &version)
            .await?
        {
            return Err(ApiError::NotFound("document"));
        }
        let folder = format!("shared/{}", folder_name(row));
        add_document(
            &state,
            &caller,
            &mut zip,
            &folder,
            row,
            opened.doc,
            Some(&version),
        )
        .await?;
        manifest_docs.push(json!({
            "folder": folder, "document_id": row.document.id.to_string(), "title": row.document.title,
            "kind": row.document.kind, "space": "shared", "version_id": version.id,
            "version_label": version.label, "heads": version.heads,
        }));
        exited.push(ExitedDocument {
            document_id: row.document.id.to_string(),
            title: row.document.title.clone(),
            version_id: version.id,
        });
    }
    for row in own {
        let opened = content::open(&state, &caller, &row.document.id.to_string()).await?;
        let heads = content::heads_hex(&opened.doc);
        let folder = format!("own/{}", folder_name(row));
        add_document(&state, &caller, &mut zip, &folder, row, opened.doc, None).await?;
        manifest_docs.push(json!({
            "folder": folder, "document_id": row.document.id.to_string(), "title": row.document.title,
            "kind": row.document.kind, "space": "own", "heads": heads,
        }));
    }
    let people = state.store.list_users(&caller.principal).await?;
    let partnerships = state.store.list_partnerships(&caller.principal).await?;
    zip.json(
        "council.json",
        &json!({ "organisation": org, "people": people, "partnerships": partnerships }),
    )?;
    zip.json(
        "manifest.json",
        &json!({
            "format": "concordat-exit-export/1",
            "organisation": {"id": org.id, "name": org.name},
            "partnership": {"id": partnership.id, "name": partnership.name},
            "exited_at": now,
            "exited_by": {"id": caller.user.id, "name": caller.user.display_name},
            "documents": manifest_docs,
        }),
    )?;
    let data = zip.finish()?;
    let export = ExitExport {
        id: Uuid::new_v4(),
        org_id: caller.principal.org_id,
        partnership_id: id,
        created_by: caller.user.id,
        created_at: now,
        bytes: i64::try_from(data.len()).unwrap_or(i64::MAX),
        checksum: store::checksum(&data),
    };
    state
        .store
        .create_exit_export(&caller.principal, &export, &data)
        .await?;
    // Only now, with the export kept, does access end.
    let ended = state
        .store
        .end_membership(&caller.principal, id, caller.principal.org_id, now)
        .await?;
    if !ended {
        return Err(ApiError::Conflict(
            "the membership had already ended; the export taken is kept",
        ));
    }
    state
        .hub
        .notify(LiveEvent::AccessChanged(Affected::Partnership(id)))
        .await;
    tracing::info!(partnership = %id, organisation = %org.id, export = %export.id, documents = exited.len(), "council left the partnership");
    Ok((
        StatusCode::CREATED,
        Json(ExitRecord {
            export_id: export.id,
            partnership_id: id,
            organisation_id: org.id,
            exited_at: now,
            shared_documents: exited,
            download: download_path(export.id),
        }),
    ))
}

/// The council's exit exports (its administrators).
#[utoipa::path(get, path = "/api/exits", tag = "partnerships", security(("bearer" = [])),
    responses((status = 200, body = Vec<ExitExportView>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ExitExportView>>> {
    admin_only(&caller)?;
    let all = state.store.list_exit_exports(&caller.principal).await?;
    Ok(Json(
        all.into_iter()
            .map(|e| ExitExportView {
                download: download_path(e.id),
                id: e.id,
                partnership_id: e.partnership_id,
                created_at: e.created_at,
                bytes: e.bytes,
                checksum: e.checksum,
            })
            .collect(),
    ))
}

/// Downloads an exit export (a ZIP). The council's administrators only.
#[utoipa::path(get, path = "/api/exits/{id}/export.zip", tag = "partnerships", security(("bearer" = [])),
    responses((status = 200, description = "the ZIP", content_type = "application/zip"),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    admin_only(&caller)?;
    let id = parse_uuid(&id, "export")?;
    let (export, data) = state
        .store
        .get_exit_export(&caller.principal, id)
        .await?
        .ok_or(ApiError::NotFound("export"))?;
    if store::checksum(&data) != export.checksum {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "exit export {id} fails its checksum"
        )));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"concordat-exit-{id}.zip\""),
            ),
        ],
        data,
    )
        .into_response())
}

fn admin_only(caller: &Caller) -> ApiResult<()> {
    if caller.principal.is_org_admin() && !caller.principal.is_guest {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the council's administrators see its exit exports",
        ))
    }
}

/// A folder name for a document: its title, made safe, and the start of its id (titles repeat).
fn folder_name(row: &DocumentRow) -> String {
    let id = row.document.id.to_string();
    let title: String = row
        .document
        .title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let title = title.trim_matches('-').chars().take(60).collect::<String>();
    format!("{title}-{}", &id[..id.len().min(8)])
}

/// One document into the export: its content (at the version, if given) as JSON, its audit
/// trail up to there, and a register's workbook.
async fn add_document(
    state: &AppState,
    caller: &Caller,
    zip: &mut Zip,
    folder: &str,
    row: &DocumentRow,
    doc: automerge::Automerge,
    version: Option<&Version>,
) -> ApiResult<()> {
    zip.json(
        &format!("{folder}/content.json"),
        &json!({
            "document": row.document,
            "version": version,
            "content": domain::documents::to_json(&doc),
        }),
    )?;
    let audit = super::history::full_audit(state, caller, row.document.id, doc).await?;
    zip.json(&format!("{folder}/audit.json"), &json!(audit))?;
    if row.document.kind == DocumentKind::RiskRegister {
        let xlsx = super::exchange::register_xlsx(
            state,
            caller,
            &row.document.id.to_string(),
            version.map(|v| v.id),
        )
        .await?;
        zip.file(&format!("{folder}/register.xlsx"), &xlsx)?;
    }
    Ok(())
}

/// A ZIP being written in memory.
struct Zip(zip::ZipWriter<std::io::Cursor<Vec<u8>>>);

impl Zip {
    fn new() -> Self {
        Zip(zip::ZipWriter::new(std::io::Cursor::new(Vec::new())))
    }

    fn file(&mut self, name: &str, data: &[u8]) -> ApiResult<()> {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        self.0
            .start_file(name, options)
            .and_then(|()| self.0.write_all(data).map_err(Into::into))
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("writing the export: {e}")))
    }

    fn json(&mut self, name: &str, value: &Value) -> ApiResult<()> {
        let text = serde_json::to_vec_pretty(value)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("writing the export: {e}")))?;
        self.file(name, &text)
    }

    fn finish(self) -> ApiResult<Vec<u8>> {
        self.0
            .finish()
            .map(std::io::Cursor::into_inner)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("writing the export: {e}")))
    }
}
