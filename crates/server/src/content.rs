//! Reading document content outside live sync: the REST views, versions, the audit trail and
//! exports read what storage holds. Storage holds every change anyone was ever sent (persist
//! before broadcast), so this is the document as every client has seen it; changes still on
//! their way to the database are not in it, exactly as they are not on any other screen yet.

use automerge::{AutoCommit, Automerge, ChangeHash};
use domain::documents::{self, Content};
use domain::{Access, DocumentKind};
use store::DocumentRow;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Loads stored chunks into an automerge document, refusing a chunk that does not parse
/// (see `sync::stored`).
pub fn load(chunks: &[store::Chunk]) -> Result<Automerge, sync::stored::LoadError> {
    sync::stored::load(chunks.iter().map(|c| sync::stored::Stored {
        seq: c.seq,
        snapshot: c.snapshot,
        data: &c.data,
    }))
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

/// Opens a document for reading, or "not found" if the caller may not see it.
pub async fn open(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Opened> {
    let (row, access) = crate::access::visible(state, caller, id).await?;
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
        .load_chunks(&caller.principal, row.document.id, caller.at)
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
