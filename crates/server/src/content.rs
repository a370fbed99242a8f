//! Reading document content outside live sync: the REST views, versions, the audit trail and
//! exports read what storage holds. Storage holds every change anyone was ever sent (persist
//! before broadcast), so this is the document as every client has seen it; changes still on
//! their way to the database are not in it, exactly as they are not on any other screen yet.

use automerge::{AutoCommit, Automerge, ChangeHash, LoadOptions, OnPartialLoad, VerificationMode};
use domain::documents::{self, Content};
use domain::{Access, DocumentKind};
use store::DocumentRow;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Loads stored chunks into an automerge document, refusing a corrupt chunk. Storage has
/// already checked every chunk against its checksum (a corrupt one never gets here).
/// Incremental chunks are also parsed whole before they are applied (`load_incremental` would
/// apply a valid prefix of a bad chunk); the snapshot, which this server wrote with `save()`,
/// is loaded in one piece without re-deriving its change hashes — on a 20 000-change document
/// those two checks cost as much as the load itself (`cargo run --release -p bench --example
/// room_cost`).
pub fn load(chunks: &[store::Chunk]) -> Result<Automerge, String> {
    let mut doc: Option<Automerge> = None;
    for chunk in chunks {
        let at = |e: &dyn std::fmt::Display| format!("chunk {}: {e}", chunk.seq);
        if chunk.snapshot && doc.is_none() {
            let options = LoadOptions::new()
                .verification_mode(VerificationMode::DontCheck)
                .on_partial_load(OnPartialLoad::Error);
            doc = Some(Automerge::load_with_options(&chunk.data, options).map_err(|e| at(&e))?);
            continue;
        }
        sync::chunks::verify([chunk.data.as_slice()]).map_err(|e| at(&e))?;
        doc.get_or_insert_with(Automerge::new)
            .load_incremental(&chunk.data)
            .map_err(|e| at(&e))?;
    }
    Ok(doc.unwrap_or_default())
}

/// A document the caller may see, with its stored content.
pub struct Opened {
    pub row: DocumentRow,
    pub access: Access,
    pub doc: Automerge,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("document", &self.row.document.id)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

/// `Forbidden(why)` unless the caller may edit the whole document (not only inside some of
/// its lists, as a guest editor or a commenter may).
pub fn edits_everything(opened: &Opened, caller: &Caller, why: &'static str) -> ApiResult<()> {
    if domain::editable(
        opened.access,
        opened.row.document.kind,
        caller.principal.is_guest,
    ) == domain::Editable::Everything
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(why))
    }
}

/// Opens a document for reading, or "not found" if the caller may not see it.
pub async fn open(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Opened> {
    let (row, access) = crate::api::documents::load(state, caller, id).await?;
    open_row(state, caller, row, access).await
}

/// Reads the content of a document whose access has already been decided.
pub async fn open_row(
    state: &AppState,
    caller: &Caller,
    row: DocumentRow,
    access: Access,
) -> ApiResult<Opened> {
    let chunks = state
        .store
        .load_chunks(&caller.principal, row.document.id)
        .await?;
    let doc = load(&chunks)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("document {}: {e}", row.document.id)))?;
    Ok(Opened { row, access, doc })
}

/// The document as it stood at `heads` (hex change hashes, as a named version records them).
pub fn at(doc: &Automerge, heads: &[String]) -> ApiResult<Automerge> {
    let heads = parse_heads(heads)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a version's heads do not parse")))?;
    doc.fork_at(&heads)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("version heads not in the document: {e}")))
}

pub fn parse_heads(heads: &[String]) -> Option<Vec<ChangeHash>> {
    heads.iter().map(|h| h.parse().ok()).collect()
}

pub fn heads_hex(doc: &Automerge) -> Vec<String> {
    doc.get_heads().iter().map(ToString::to_string).collect()
}

/// The document's typed content. A document (or version) written by an older schema is read
/// as the current schema would upgrade it, in memory.
pub fn typed(kind: DocumentKind, doc: &Automerge) -> ApiResult<Content> {
    let problems = |p: Vec<documents::Problem>| {
        ApiError::Internal(anyhow::anyhow!(
            "stored {} fails its schema: {}",
            kind.as_str(),
            p.iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    };
    if domain::schema::version(doc) < documents::SCHEMA_VERSION {
        let mut working = AutoCommit::load(&doc.save())
            .map_err(|e| ApiError::Internal(e.into()))?
            .with_actor(automerge::ActorId::from(domain::schema::SERVER_ACTOR));
        domain::schema::upgrade(&mut working, kind).map_err(|e| ApiError::Internal(e.into()))?;
        return documents::read(kind, working.document()).map_err(problems);
    }
    documents::read(kind, doc).map_err(problems)
}
