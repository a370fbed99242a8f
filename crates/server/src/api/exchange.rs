//! Excel and CSV in and out of a risk register or a service-level agreement, and the printable
//! committee report.
//!
//! Import is two calls with the same body: `preview` says row by row what would be created,
//! changed or refused (and why); `apply` recomputes that preview against the document as it
//! stands and writes it as one change by the importing user, through the document's room, so
//! everyone editing sees it at once and the audit trail names them. The file travels as
//! base64 in JSON so that bad input gets the API's usual error shape. An SLA's workbook may
//! hold several sheets (KPIs with a column per month, measurements, cost shares): each is
//! recognised by its headings; cost lines not shared with guests go to the SLA's partners-only
//! figures.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::documents::Content;
use domain::documents::risk::RiskRegister;
use domain::documents::sla::{PartnersFigures, Sla};
use domain::{DocumentKind, SpaceOwner};
use exchange::import::{self, Format, Mapping, Preview, Table};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{ApiJson, ApiQuery};
use crate::AppState;
use crate::auth::Caller;
use crate::content::{self, Opened};
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// `xlsx` or `csv`.
    pub format: String,
    /// The file's bytes, base64.
    pub file: String,
    /// The sheet to read (XLSX; default the first).
    pub sheet: Option<String>,
    /// Overrides the guessed column mapping: for a register `{"columns": {"A": "reference",
    /// "B": "title", "L": "current-likelihood", "V": "ignore"}}`, keyed by column letter; for
    /// an SLA `{"sheets": {"KPIs": {"A": "kpi", "D": "target", "H": "period:2026-04",
    /// "K": "driver:EDC"}}}`, per sheet (a sheet given here takes exactly these columns).
    #[schema(value_type = Option<Object>)]
    pub mapping: Option<serde_json::Value>,
    /// The officer confirms the matrix the preview proposes (the sheet's ratings imply another
    /// one: letters A–D, a 4×4): applying sets it with the import. Without it, an import that
    /// proposes a matrix is refused (422), so a register's matrix never changes unseen.
    #[serde(default)]
    pub accept_matrix: bool,
    /// Names the file uses for the partnership's councils that Concordat does not know
    /// (the preview's `unknownCouncils`), each with the organisation id it means:
    /// `{"Eastbridge DC (old name)": "<id>"}`. For this import only.
    #[serde(default)]
    pub councils: std::collections::BTreeMap<String, String>,
}

/// How many council names one import request may give (each is looked up for every council
/// cell, so the list stays short; an organisation's lasting aliases are set on it instead).
const MAX_COUNCIL_NAMES: usize = 100;

/// A council the file may name, for saying which one an unknown name means.
#[derive(Debug, Serialize, ToSchema)]
pub struct CouncilView {
    pub id: String,
    pub name: String,
}

/// The councils to resolve the file's names against: the partnership's, and the names the
/// officer gave them for this import (a name for no council of the partnership is refused).
fn councils_for(
    req: &ImportRequest,
    councils: &[(String, String)],
) -> ApiResult<Vec<(String, String)>> {
    if req.councils.len() > MAX_COUNCIL_NAMES {
        return Err(ApiError::invalid(
            "councils",
            format!("at most {MAX_COUNCIL_NAMES} names per import"),
        ));
    }
    let (all, refused) = exchange::with_names(councils, &req.councils);
    match refused.first() {
        None => Ok(all),
        Some(name) => Err(ApiError::invalid(
            "councils",
            format!("{name:?} is given an organisation that is not a council of this partnership"),
        )),
    }
}

/// One column of the file, as read.
#[derive(Debug, Serialize, ToSchema)]
pub struct ColumnView {
    /// The column letter, as Excel shows it.
    pub column: String,
    pub heading: String,
    /// The field it is mapped to (`ignore` if none).
    pub field: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportPreview {
    /// The partnership's councils (for saying which one an unknown name means).
    pub councils: Vec<CouncilView>,
    /// The workbook's sheets, in order (none for a CSV): send one as `sheet` to import it.
    pub sheets: Vec<String>,
    /// The sheet read (the first, unless one was asked for).
    pub sheet: Option<String>,
    /// The sheet row of the (first) header row.
    pub header_row: u32,
    pub columns: Vec<ColumnView>,
    /// The mapping used: send it back, edited, to change it.
    #[schema(value_type = Object)]
    pub mapping: serde_json::Value,
    /// Row by row: create, update (with each field's old and new value), unchanged, or error
    /// (with every problem of the row, naming the column and the value).
    #[schema(value_type = Object)]
    pub preview: Preview,
}

/// What an SLA import would do: each sheet as recognised (KPIs, measurements, cost shares,
/// or not imported and why), then row by row with every warning in its cell.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaImportPreview {
    /// The partnership's councils (for mapping a column to a council's figures).
    pub councils: Vec<CouncilView>,
    /// The mapping used, per sheet: send it back, edited, to change it.
    #[schema(value_type = Object)]
    pub mapping: serde_json::Value,
    #[schema(value_type = Object)]
    pub preview: exchange::sla::SlaPreview,
}

/// A register's import preview, or an SLA's.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum AnyImportPreview {
    Register(Box<ImportPreview>),
    Sla(Box<SlaImportPreview>),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportApplied {
    /// Things created: risks, or an SLA's KPIs, measurements and cost lines together.
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Rows not imported because of their errors (see the preview for why).
    pub errors: usize,
    /// Section, note and total rows: listed in the preview, not imported.
    pub ignored: usize,
    /// Cells imported other than as written (see the preview's warnings).
    pub warnings: usize,
    /// For an SLA: the counts per kind (`kpis`, `measurements`, `costShares`).
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// The document's heads after the import (hex); absent if there was nothing to write.
    pub heads: Option<Vec<String>>,
}

/// A register the caller may see, typed, with the councils its sheets name.
struct RegisterFile {
    opened: Opened,
    register: RiskRegister,
    /// (organisation id, name): the partnership's members, or the owning council.
    councils: Vec<(String, String)>,
    /// `councils`, then each council's aliases (organisation id, alias): what an import's
    /// council names are read against.
    known: Vec<(String, String)>,
}

async fn register(state: &AppState, caller: &Caller, id: &str) -> ApiResult<RegisterFile> {
    let opened = content::open(state, caller, id).await?;
    register_of(state, caller, opened).await
}

const ONLY_REGISTERS_AND_SLAS: &str =
    "spreadsheet import and export are for risk registers and service-level agreements";

async fn register_of(state: &AppState, caller: &Caller, opened: Opened) -> ApiResult<RegisterFile> {
    if opened.row.document.kind != DocumentKind::RiskRegister {
        return Err(ApiError::invalid("", ONLY_REGISTERS_AND_SLAS));
    }
    let Content::RiskRegister(register) = content::typed(DocumentKind::RiskRegister, &opened.doc)?
    else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "register read as another kind"
        )));
    };
    let councils = councils_of(state, caller, &opened).await?;
    let known = known_names(state, caller, &councils).await?;
    Ok(RegisterFile {
        opened,
        register,
        councils,
        known,
    })
}

/// `councils` followed by the aliases their administrators gave them.
async fn known_names(
    state: &AppState,
    caller: &Caller,
    councils: &[(String, String)],
) -> ApiResult<Vec<(String, String)>> {
    let mut known = councils.to_vec();
    for (org, alias) in state.store.organisation_aliases(&caller.principal).await? {
        let org = org.to_string();
        if councils.iter().any(|(id, _)| *id == org) {
            known.push((org, alias));
        }
    }
    Ok(known)
}

/// The councils a document's sheets name: its partnership's members, or the owning council,
/// as (organisation id, name).
async fn councils_of(
    state: &AppState,
    caller: &Caller,
    opened: &Opened,
) -> ApiResult<Vec<(String, String)>> {
    let orgs = state.store.list_organisations(&caller.principal).await?;
    let ids: Vec<Uuid> = match opened.row.owner {
        SpaceOwner::Private { org_id } => vec![org_id],
        SpaceOwner::Partnership { partnership_id } => state
            .store
            .get_partnership(&caller.principal, partnership_id)
            .await?
            .map(|(_, members)| {
                members
                    .iter()
                    .filter(|m| m.gives_space_access())
                    .map(|m| m.org_id)
                    .collect()
            })
            .unwrap_or_default(),
    };
    Ok(ids
        .iter()
        .filter_map(|id| orgs.iter().find(|o| o.id == *id))
        .map(|o| (o.id.to_string(), o.name.clone()))
        .collect())
}

/// An error once the request that asked for an import's reading has ended.
fn still_wanted(cancelled: &std::sync::atomic::AtomicBool) -> ApiResult<()> {
    if cancelled.load(std::sync::atomic::Ordering::Relaxed) {
        Err(ApiError::Unavailable(
            "the request ended before the import was read",
        ))
    } else {
        Ok(())
    }
}

/// The uploaded file's bytes and format, and the limits its reading keeps.
fn read_input(
    state: &AppState,
    req: &ImportRequest,
) -> ApiResult<(Vec<u8>, Format, import::Limits)> {
    let format = match req.format.to_ascii_lowercase().as_str() {
        "xlsx" => Format::Xlsx,
        "csv" => Format::Csv,
        _ => return Err(ApiError::invalid("format", "must be \"xlsx\" or \"csv\"")),
    };
    let bytes = STANDARD
        .decode(req.file.trim())
        .map_err(|_| ApiError::invalid("file", "is not base64"))?;
    let max = state.config.max_import_bytes;
    if bytes.len() > max {
        return Err(ApiError::invalid(
            "file",
            format!("is larger than the {max}-byte import limit"),
        ));
    }
    let rows = state.config.max_import_rows;
    let limits = import::Limits {
        // Title and header rows above the data.
        rows: u32::try_from(rows).unwrap_or(u32::MAX).saturating_add(20),
        columns: state.config.max_import_columns,
        cell_chars: state.config.max_import_cell_chars,
        archive: import::ArchiveLimits {
            max_uncompressed_bytes: state.config.max_import_expanded_bytes,
            max_entry_bytes: state.config.max_import_part_bytes,
            max_ratio: state.config.max_import_ratio,
            ..import::ArchiveLimits::default()
        },
    };
    Ok((bytes, format, limits))
}

/// Reads the uploaded file and works out the preview against `file.register`.
fn prepare(
    state: &AppState,
    caller: &Caller,
    req: &ImportRequest,
    file: &RegisterFile,
    cancelled: &std::sync::atomic::AtomicBool,
) -> ApiResult<(Table, Mapping, Preview, Vec<String>)> {
    let ended = || still_wanted(cancelled);
    let (bytes, format, limits) = read_input(state, req)?;
    ended()?;
    let names = import::sheet_names(&bytes, format, &limits.archive)
        .map_err(|e| ApiError::invalid("file", e.to_string()))?;
    let table = import::read_table(&bytes, format, req.sheet.as_deref(), limits)
        .map_err(|e| ApiError::invalid("file", e.to_string()))?;
    ended()?;
    let rows = state.config.max_import_rows;
    if table.rows.len() > rows {
        return Err(ApiError::invalid(
            "file",
            format!(
                "holds {} rows; one import takes at most {rows}",
                table.rows.len()
            ),
        ));
    }
    let mapping = match &req.mapping {
        Some(m) => serde_json::from_value::<Mapping>(m.clone())
            .map_err(|e| ApiError::invalid("mapping", e.to_string()))?,
        None => Mapping::guess(&table),
    };
    ended()?;
    // A workbook's other sheets: the assessment history, the actions, the appetite.
    let sheets = import::read_register_sheets(&bytes, format, req.sheet.as_deref(), limits)
        .map_err(|e| ApiError::invalid("file", e.to_string()))?;
    ended()?;
    let councils = councils_for(req, &file.known)?;
    let preview = import::preview_workbook(
        &table,
        &mapping,
        &sheets,
        &file.register,
        &councils,
        chrono::Utc::now().date_naive(),
        &caller.user.display_name,
        req.accept_matrix,
        &mut || Uuid::new_v4().simple().to_string(),
    );
    Ok((table, mapping, preview, names))
}

/// Import is for those who may edit the whole register (not guests, commenters or readers).
fn may_import(caller: &Caller, file: &RegisterFile) -> ApiResult<()> {
    crate::access::edits_everything(
        file.opened.access,
        file.opened.row.document.kind,
        caller,
        "importing needs edit rights over the whole register",
    )
}

/// Runs `work` (reading a workbook, working out a preview) off the async threads: a large
/// workbook takes a while to parse. If the request ends first (its timeout, the client gone),
/// the flag `work` is handed is set, and the work stops at its next step instead of running on
/// for no one.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce(&std::sync::atomic::AtomicBool) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let ended = CancelOnDrop::default();
    let cancelled = ended.0.clone();
    let out = tokio::task::spawn_blocking(move || work(&cancelled))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    ended.disarm();
    out
}

/// A register's preview, worked out off the async threads, with the register handed back.
async fn register_preview(
    state: &AppState,
    caller: &Caller,
    req: ImportRequest,
    file: RegisterFile,
) -> ApiResult<(RegisterFile, (Table, Mapping, Preview, Vec<String>))> {
    let (state, caller) = (state.clone(), caller.clone());
    blocking(move |cancelled| {
        let out = prepare(&state, &caller, &req, &file, cancelled)?;
        Ok((file, out))
    })
    .await
}

/// Set when dropped, unless disarmed: tells blocking work that its request has ended.
#[derive(Default)]
struct CancelOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>, bool);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.1 = true;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// One import at a time into a document: a second, concurrent one is refused rather than
/// built on the same starting point (both would create the same risks). On this node by a
/// set of the documents being imported into; across nodes (PostgreSQL) by a database lock
/// held for the import's length (`store::ImportLock`).
struct ImportUnderWay {
    state: AppState,
    id: domain::DocumentId,
    cluster: Option<store::ImportLock>,
}

const IMPORT_UNDER_WAY: &str =
    "another import into this document is under way: try again when it has finished";

impl ImportUnderWay {
    async fn start(state: &AppState, id: domain::DocumentId) -> ApiResult<Self> {
        if !state
            .imports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id)
        {
            return Err(ApiError::Conflict(IMPORT_UNDER_WAY));
        }
        // From here the set holds `id`: dropping `guard` (an error below) takes it out.
        let mut guard = Self {
            state: state.clone(),
            id,
            cluster: None,
        };
        if let Some(cluster) = state.store.cluster() {
            match cluster.lock_import(&id.to_string()).await? {
                Some(lock) => guard.cluster = Some(lock),
                None => return Err(ApiError::Conflict(IMPORT_UNDER_WAY)),
            }
        }
        Ok(guard)
    }

    /// Ends the import: releases the cluster's lock (its session back to the pool).
    async fn finish(mut self) {
        if let Some(lock) = self.cluster.take() {
            lock.release().await;
        }
    }
}

impl Drop for ImportUnderWay {
    fn drop(&mut self) {
        self.state
            .imports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// What importing a spreadsheet into this register or SLA would do, row by row. Changes
/// nothing. Needs the rights an import needs.
#[utoipa::path(post, path = "/api/documents/{id}/import/preview", tag = "exchange", security(("bearer" = [])),
    request_body = ImportRequest,
    responses((status = 200, body = AnyImportPreview), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ImportRequest>,
) -> ApiResult<Json<AnyImportPreview>> {
    let opened = content::open(&state, &caller, &id).await?;
    if opened.row.document.kind == DocumentKind::Sla {
        let file = sla_of(&state, &caller, opened).await?;
        file.may_import(&caller)?;
        let (file, mapping, preview) = sla_preview(&state, req, file).await?;
        return Ok(Json(AnyImportPreview::Sla(Box::new(SlaImportPreview {
            councils: file
                .councils
                .iter()
                .map(|(id, name)| CouncilView {
                    id: id.clone(),
                    name: name.clone(),
                })
                .collect(),
            mapping: serde_json::to_value(&mapping).map_err(|e| ApiError::Internal(e.into()))?,
            preview,
        }))));
    }
    let file = register_of(&state, &caller, opened).await?;
    may_import(&caller, &file)?;
    let asked = req.sheet.clone();
    let (file, (table, mapping, preview, sheets)) =
        register_preview(&state, &caller, req, file).await?;
    let councils = file
        .councils
        .iter()
        .map(|(id, name)| CouncilView {
            id: id.clone(),
            name: name.clone(),
        })
        .collect();
    let columns = table
        .headers
        .iter()
        .enumerate()
        .map(|(col, heading)| ColumnView {
            column: import::column_letter(col),
            heading: heading.clone(),
            field: serde_json::to_value(mapping.field(col))
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        })
        .collect();
    let sheet = asked.or_else(|| sheets.first().cloned());
    Ok(Json(AnyImportPreview::Register(Box::new(ImportPreview {
        councils,
        sheets,
        sheet,
        header_row: table.header_row,
        columns,
        mapping: serde_json::to_value(&mapping).map_err(|e| ApiError::Internal(e.into()))?,
        preview,
    }))))
}

/// Writes `after` over `before` into a document as one change by the server on the caller's
/// behalf, through its room; returns the change's hash (the document's one head after it).
async fn write<T: Serialize>(
    state: &AppState,
    caller: &Caller,
    opened: &Opened,
    before: &T,
    after: &T,
) -> ApiResult<String> {
    let to_json = |v: &T| serde_json::to_value(v).map_err(|e| ApiError::Internal(e.into()));
    let (before, after) = (to_json(before)?, to_json(after)?);
    let changes = domain::documents::change_of(
        &opened.doc,
        automerge::ActorId::random(),
        store::now_millis() / 1000,
        |working| domain::documents::write_diff(working, &before, &after),
    )
    .map_err(|e| ApiError::Internal(e.into()))?;
    state
        .hub
        .apply(opened.row.document.id, caller.user.id, changes.clone())
        .await
        .map_err(|e| match ApiError::from(e) {
            // What the workbook would make of the document breaks its rules: the file's fault.
            ApiError::Invalid { message, .. } => ApiError::invalid("file", message),
            other => other,
        })?;
    // The server's change was made on top of every head, so it is the one head now.
    let change =
        automerge::Change::try_from(&changes[..]).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(change.hash().to_string())
}

/// Imports the spreadsheet: the rows the preview shows as creates and updates are written as
/// one change by the caller (rows with errors are skipped). For an SLA, cost lines not shared
/// with guests are written to its partners-only figures (created if it has none). Needs full
/// edit rights.
#[utoipa::path(post, path = "/api/documents/{id}/import/apply", tag = "exchange", security(("bearer" = [])),
    request_body = ImportRequest,
    responses((status = 200, body = ImportApplied), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, description = "another import into this document is under way", body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ImportRequest>,
) -> ApiResult<Json<ImportApplied>> {
    // Who may import is decided before the lock is taken (nobody locks what they cannot
    // import into); the content is read after it, so it holds every earlier import.
    let (row, access) = crate::access::visible(&state, &caller, &id).await?;
    let kind = row.document.kind;
    if !matches!(kind, DocumentKind::RiskRegister | DocumentKind::Sla) {
        return Err(ApiError::invalid("", ONLY_REGISTERS_AND_SLAS));
    }
    crate::access::edits_everything(
        access,
        kind,
        &caller,
        "importing needs edit rights over the whole document",
    )?;
    // Held until the import is stored: the next one reads the document with this one in it.
    let one_at_a_time = ImportUnderWay::start(&state, row.document.id).await?;
    let opened = content::open_row(&state, &caller, row, access).await?;
    let out = if kind == DocumentKind::Sla {
        apply_sla(&state, &caller, req, opened).await
    } else {
        apply_register(&state, &caller, req, opened).await
    };
    one_at_a_time.finish().await;
    out.map(Json)
}

async fn apply_register(
    state: &AppState,
    caller: &Caller,
    req: ImportRequest,
    opened: Opened,
) -> ApiResult<ImportApplied> {
    let (state, caller) = (state.clone(), caller.clone());
    let doc_id = opened.row.document.id;
    let file = register_of(&state, &caller, opened).await?;
    may_import(&caller, &file)?;
    let accepted = req.accept_matrix;
    let (file, (_, _, preview, _)) = register_preview(&state, &caller, req, file).await?;
    if let Some(m) = &preview.matrix_proposal
        && m.required
        && m.blocked.is_none()
        && !accepted
    {
        return Err(ApiError::invalid(
            "accept_matrix",
            format!(
                "{}; preview the import and send \"accept_matrix\": true to set it with the import",
                m.why
            ),
        ));
    }
    let mut applied = ImportApplied {
        created: preview.creates,
        updated: preview.updates,
        unchanged: preview.unchanged,
        errors: preview.errors,
        ignored: preview.ignored,
        warnings: preview.warnings,
        detail: None,
        heads: None,
    };
    if !preview.changes_anything() {
        return Ok(applied);
    }
    let mut after = file.register.clone();
    preview.apply_to(&mut after);
    let head = write(&state, &caller, &file.opened, &file.register, &after).await?;
    tracing::info!(document = %doc_id, created = preview.creates, updated = preview.updates, "spreadsheet imported");
    applied.heads = Some(vec![head]);
    Ok(applied)
}

/// An SLA the caller may see, typed, with its partners-only figures when the caller may see
/// them (never a guest), and the councils its sheets name.
struct SlaFile {
    opened: Opened,
    sla: Sla,
    figures: Option<(Opened, PartnersFigures)>,
    councils: Vec<(String, String)>,
    /// `councils` and their aliases, for reading an import's council names.
    known: Vec<(String, String)>,
}

impl SlaFile {
    /// Import is for those who may edit the whole SLA: a partner council's editors.
    fn may_import(&self, caller: &Caller) -> ApiResult<()> {
        crate::access::edits_everything(
            self.opened.access,
            self.opened.row.document.kind,
            caller,
            "importing needs edit rights over the whole SLA",
        )
    }
}

async fn sla_of(state: &AppState, caller: &Caller, opened: Opened) -> ApiResult<SlaFile> {
    let Content::Sla(sla) = content::typed(DocumentKind::Sla, &opened.doc)? else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "SLA read as another kind"
        )));
    };
    let figures = if sla.partners_figures.is_empty() {
        None
    } else {
        match content::open(state, caller, &sla.partners_figures).await {
            Ok(o) if o.row.document.kind == DocumentKind::SlaFigures => {
                match content::typed(DocumentKind::SlaFigures, &o.doc)? {
                    Content::SlaFigures(f) => Some((o, f)),
                    _ => None,
                }
            }
            // A guest, or figures gone: the SLA's own lines only.
            Ok(_) | Err(ApiError::NotFound(_)) => None,
            Err(e) => return Err(e),
        }
    };
    let councils = councils_of(state, caller, &opened).await?;
    let known = known_names(state, caller, &councils).await?;
    Ok(SlaFile {
        opened,
        sla,
        figures,
        councils,
        known,
    })
}

/// Reads every sheet and works out the SLA preview, off the async threads.
async fn sla_preview(
    state: &AppState,
    req: ImportRequest,
    file: SlaFile,
) -> ApiResult<(
    SlaFile,
    exchange::sla::SlaMapping,
    exchange::sla::SlaPreview,
)> {
    let state = state.clone();
    blocking(move |cancelled| {
        let ended = || still_wanted(cancelled);
        let (bytes, format, limits) = read_input(&state, &req)?;
        let councils = councils_for(&req, &file.known)?;
        let mapping = match &req.mapping {
            Some(m) => Some(
                serde_json::from_value::<exchange::sla::SlaMapping>(m.clone())
                    .map_err(|e| ApiError::invalid("mapping", e.to_string()))?,
            ),
            None => None,
        };
        ended()?;
        let book = exchange::sla::read_sla(&bytes, format, limits, &councils, mapping.as_ref())
            .map_err(|e| ApiError::invalid("file", e.to_string()))?;
        let rows: usize = book
            .sheets
            .iter()
            .filter(|s| s.kind.is_some())
            .filter_map(|s| s.table.as_ref())
            .map(|t| t.rows.len())
            .sum();
        let max = state.config.max_import_rows;
        if rows > max {
            return Err(ApiError::invalid(
                "file",
                format!("holds {rows} rows in its sheets; one import takes at most {max}"),
            ));
        }
        ended()?;
        let none = PartnersFigures::default();
        let figures = file.figures.as_ref().map_or(&none, |(_, f)| f);
        let preview = exchange::sla::preview_sla(&book, &file.sla, figures, &councils, &mut || {
            Uuid::new_v4().simple().to_string()
        });
        let used = exchange::sla::SlaMapping {
            sheets: book
                .sheets
                .iter()
                .filter(|s| s.table.is_some())
                .map(|s| {
                    let columns = s
                        .mapping
                        .iter()
                        .map(|(c, f)| (import::column_letter(*c), f.clone()))
                        .collect();
                    (s.name.clone(), columns)
                })
                .collect(),
        };
        Ok((file, used, preview))
    })
    .await
}

async fn apply_sla(
    state: &AppState,
    caller: &Caller,
    req: ImportRequest,
    opened: Opened,
) -> ApiResult<ImportApplied> {
    let file = sla_of(state, caller, opened).await?;
    file.may_import(caller)?;
    let (file, _, preview) = sla_preview(state, req, file).await?;
    let totals = [
        preview.kpis,
        preview.measurements,
        preview.cost_shares,
        preview.time_allocations,
        preview.savings,
        preview.terms,
    ];
    let mut applied = ImportApplied {
        created: totals.iter().map(|c| c.creates).sum(),
        updated: totals.iter().map(|c| c.updates).sum(),
        unchanged: totals.iter().map(|c| c.unchanged).sum(),
        errors: preview.errors,
        ignored: preview.ignored,
        warnings: preview.warnings,
        detail: Some(serde_json::json!({
            "kpis": preview.kpis,
            "measurements": preview.measurements,
            "costShares": preview.cost_shares,
            "timeAllocations": preview.time_allocations,
            "savings": preview.savings,
            "terms": preview.terms,
        })),
        heads: None,
    };
    if !preview.changes_anything() {
        return Ok(applied);
    }
    let figures_before = file
        .figures
        .as_ref()
        .map(|(_, f)| f.clone())
        .unwrap_or_default();
    let (mut sla, mut figures) = (file.sla.clone(), figures_before.clone());
    preview.apply_to(&mut sla, &mut figures);
    if figures != figures_before {
        // Cost lines kept from guests: into the partners' figures, made now if the SLA has none.
        let made;
        let kept = match &file.figures {
            Some((o, _)) => o,
            None => {
                let doc = super::figures::create(state, caller, &file.opened.row.document).await?;
                sla.partners_figures = doc.id.to_string();
                made = content::open(state, caller, &doc.id.to_string()).await?;
                &made
            }
        };
        crate::access::edits_everything(
            kept.access,
            kept.row.document.kind,
            caller,
            "importing cost lines needs edit rights over the SLA's partners' figures",
        )?;
        let Content::SlaFigures(stored) = content::typed(DocumentKind::SlaFigures, &kept.doc)?
        else {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "figures read as another kind"
            )));
        };
        if file.figures.is_none() {
            figures.sla = stored.sla.clone();
        }
        write(state, caller, kept, &stored, &figures).await?;
    }
    if sla != file.sla {
        applied.heads = Some(vec![
            write(state, caller, &file.opened, &file.sla, &sla).await?,
        ]);
    }
    tracing::info!(
        document = %file.opened.row.document.id,
        created = applied.created,
        updated = applied.updated,
        "SLA spreadsheet imported"
    );
    Ok(applied)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// A named version's id: export the register as it stood then (default: now). A
    /// version's export is the same every time.
    pub version: Option<Uuid>,
}

/// The register (now, or at a named version) and its title.
/// The register's workbook, now or at a named version (for an export).
pub(crate) async fn register_xlsx(
    state: &AppState,
    caller: &Caller,
    id: &str,
    version: Option<Uuid>,
) -> ApiResult<Vec<u8>> {
    let (file, reg, title, created) = register_at(state, caller, id, version).await?;
    exchange::export::xlsx(&reg, &file.councils, &title, created)
        .map_err(|e| ApiError::Internal(e.into()))
}

async fn register_at(
    state: &AppState,
    caller: &Caller,
    id: &str,
    version: Option<Uuid>,
) -> ApiResult<(
    RegisterFile,
    RiskRegister,
    String,
    Option<chrono::NaiveDateTime>,
)> {
    let file = register(state, caller, id).await?;
    let Some(v) = version else {
        let reg = file.register.clone();
        let title = file.opened.row.document.title.clone();
        return Ok((file, reg, title, None));
    };
    let version = super::history::version_of(state, caller, &file.opened, v).await?;
    let doc = content::at(&file.opened.doc, &version.heads)?;
    let Content::RiskRegister(reg) = content::typed(DocumentKind::RiskRegister, &doc)? else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "register read as another kind"
        )));
    };
    let title = format!("{} — {}", file.opened.row.document.title, version.label);
    let created =
        chrono::DateTime::from_timestamp_millis(version.created_at).map(|t| t.naive_utc());
    Ok((file, reg, title, created))
}

/// An SLA to export (now, or at a named version), with its partners-only figures when the
/// caller may see them (now only: the figures are a document of their own, not in the SLA's
/// versions), the councils, the title and the version's time. `None` when `id` is not an SLA.
async fn sla_at(
    state: &AppState,
    caller: &Caller,
    id: &str,
    version: Option<Uuid>,
) -> ApiResult<
    Option<(
        Sla,
        Option<PartnersFigures>,
        Vec<(String, String)>,
        String,
        Option<chrono::NaiveDateTime>,
    )>,
> {
    let opened = content::open(state, caller, id).await?;
    if opened.row.document.kind != DocumentKind::Sla {
        return Ok(None);
    }
    let file = sla_of(state, caller, opened).await?;
    let title = file.opened.row.document.title.clone();
    let Some(v) = version else {
        let figures = file.figures.map(|(_, f)| f);
        return Ok(Some((file.sla, figures, file.councils, title, None)));
    };
    let version = super::history::version_of(state, caller, &file.opened, v).await?;
    let doc = content::at(&file.opened.doc, &version.heads)?;
    let Content::Sla(sla) = content::typed(DocumentKind::Sla, &doc)? else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "SLA read as another kind"
        )));
    };
    let created =
        chrono::DateTime::from_timestamp_millis(version.created_at).map(|t| t.naive_utc());
    let title = format!("{title} — {}", version.label);
    Ok(Some((sla, None, file.councils, title, created)))
}

fn attachment(content_type: &'static str, name: &str, ext: &str, body: Vec<u8>) -> Response {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == ' ' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.{ext}\"", safe.trim()),
            ),
        ],
        body,
    )
        .into_response()
}

/// The register as a workbook: sheets Risks, Assessments, Actions, Matrix and Appetite, bands
/// as text and fill, frozen and filterable headers, headings repeated on printed pages.
#[utoipa::path(get, path = "/api/documents/{id}/export.xlsx", tag = "exchange", security(("bearer" = [])),
    params(("id" = String, Path), ExportQuery),
    responses((status = 200, description = "the workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn export_xlsx(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    if let Some((sla, figures, councils, title, created)) =
        sla_at(&state, &caller, &id, q.version).await?
    {
        let bytes = exchange::sla::export::xlsx(&sla, figures.as_ref(), &councils, &title, created)
            .map_err(|e| ApiError::Internal(e.into()))?;
        return Ok(attachment(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &title,
            "xlsx",
            bytes,
        ));
    }
    let (file, reg, title, created) = register_at(&state, &caller, &id, q.version).await?;
    let bytes = exchange::export::xlsx(&reg, &file.councils, &title, created)
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(attachment(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &title,
        "xlsx",
        bytes,
    ))
}

/// The register's risks as CSV (the Risks sheet's columns).
#[utoipa::path(get, path = "/api/documents/{id}/export.csv", tag = "exchange", security(("bearer" = [])),
    params(("id" = String, Path), ExportQuery),
    responses((status = 200, description = "the CSV", content_type = "text/csv"),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn export_csv(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    if let Some((sla, _, councils, title, _)) = sla_at(&state, &caller, &id, q.version).await? {
        let csv = exchange::sla::export::csv(&sla, &councils);
        return Ok(attachment(
            "text/csv; charset=utf-8",
            &title,
            "csv",
            csv.into_bytes(),
        ));
    }
    let (file, reg, title, _) = register_at(&state, &caller, &id, q.version).await?;
    let csv = exchange::export::csv(&reg, &file.councils);
    Ok(attachment(
        "text/csv; charset=utf-8",
        &title,
        "csv",
        csv.into_bytes(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Show what changed since this named version.
    pub since: Option<Uuid>,
}

/// The committee report, as HTML for print: heat maps (inherent, current, target), the red
/// risks, overdue actions and reviews, and what changed since a chosen version; headings
/// repeat on every printed page and bands are always named, never shown by colour alone.
#[utoipa::path(get, path = "/api/documents/{id}/report.html", tag = "exchange", security(("bearer" = [])),
    params(("id" = String, Path), ReportQuery),
    responses((status = 200, description = "the report", content_type = "text/html"),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let file = register(&state, &caller, &id).await?;
    let since = match q.since {
        Some(v) => {
            let version = super::history::version_of(&state, &caller, &file.opened, v).await?;
            let report = super::history::change_report(&file.opened, &version, None)?;
            Some((version, report))
        }
        None => None,
    };
    let names = file.councils.clone();
    let html = exchange::report::committee_report(&exchange::report::ReportInput {
        title: &file.opened.row.document.title,
        register: &file.register,
        today: chrono::Utc::now().date_naive(),
        since: since.as_ref().map(|(v, r)| (v, r)),
        marking: &state.config.protective_marking,
        council_name: &|id: &str| {
            names
                .iter()
                .find(|(i, _)| i == id)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| id.to_owned())
        },
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response())
}

/// A register's risk matrix as its council keeps it: the levels' labels, the bands (label,
/// colour, pattern, rank) and each cell's band.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatrixRequest {
    #[schema(value_type = domain::documents::risk::Matrix)]
    pub matrix: domain::documents::risk::Matrix,
}

/// Sets a register's matrix and bands (a 3×3, 4×4 or custom matrix, the council's own bands)
/// as one change by the caller, live to everyone editing. Refused (422, naming the first
/// assessment) when an existing assessment would fall outside it. Needs edit rights over the
/// whole register.
#[utoipa::path(put, path = "/api/documents/{id}/matrix", tag = "exchange", security(("bearer" = [])),
    request_body = MatrixRequest,
    responses((status = 200, body = ImportApplied), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn set_matrix(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MatrixRequest>,
) -> ApiResult<Json<ImportApplied>> {
    let file = register(&state, &caller, &id).await?;
    crate::access::edits_everything(
        file.opened.access,
        file.opened.row.document.kind,
        &caller,
        "setting the matrix needs edit rights over the whole register",
    )?;
    req.matrix
        .check()
        .map_err(|e| ApiError::invalid("matrix", e.to_string()))?;
    let mut after = file.register.clone();
    after.matrix = req.matrix;
    if let Some(a) = after
        .assessments
        .iter()
        .find(|a| !after.matrix.contains(a.likelihood, a.impact))
    {
        return Err(ApiError::invalid(
            "matrix",
            format!(
                "risk {} has an assessment of likelihood {} × impact {}, outside a {}×{} matrix",
                after.reference_of(&a.risk_id),
                a.likelihood,
                a.impact,
                after.matrix.likelihood.len(),
                after.matrix.impact.len()
            ),
        ));
    }
    let mut applied = ImportApplied {
        created: 0,
        updated: usize::from(after.matrix != file.register.matrix),
        unchanged: usize::from(after.matrix == file.register.matrix),
        errors: 0,
        ignored: 0,
        warnings: 0,
        detail: None,
        heads: None,
    };
    if after.matrix != file.register.matrix {
        applied.heads = Some(vec![
            write(&state, &caller, &file.opened, &file.register, &after).await?,
        ]);
        tracing::info!(document = %file.opened.row.document.id, "matrix set");
    }
    Ok(Json(applied))
}
