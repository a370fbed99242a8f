//! A document's stored automerge content: snapshots and incremental chunks, each with its
//! checksum, and the actor ids bound to users.

use async_trait::async_trait;
use domain::{DocumentId, Millis, access::Principal};
use uuid::Uuid;

use crate::{Result, StoreError, System};

/// One stored piece of a document's automerge content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub seq: i64,
    pub snapshot: bool,
    pub data: Vec<u8>,
}

/// A document's stored automerge content, ready to load: the latest snapshot and the
/// incremental chunks after it (checksums verified), and its actor bindings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    /// The document's kind (`None` only for content built by hand in tests).
    pub kind: Option<domain::DocumentKind>,
    pub chunks: Vec<Chunk>,
    /// (automerge actor id bytes, user id); the nil user is the server itself.
    pub actors: Vec<(Vec<u8>, Uuid)>,
}

impl Content {
    /// Bytes held in incremental chunks (compaction pays off once they outweigh the snapshot).
    pub fn incremental_bytes(&self) -> usize {
        self.chunks
            .iter()
            .filter(|c| !c.snapshot)
            .map(|c| c.data.len())
            .sum()
    }
    pub fn snapshot_bytes(&self) -> usize {
        self.chunks
            .iter()
            .filter(|c| c.snapshot)
            .map(|c| c.data.len())
            .sum()
    }
    pub fn last_seq(&self) -> i64 {
        self.chunks.last().map(|c| c.seq).unwrap_or(0)
    }
}

/// The SHA-256 of a chunk, hex: stored beside it and checked when it is read.
pub fn checksum(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Changes to append to one document: raw automerge change bytes, concatenated, and the actor
/// ids first seen in them with the user each is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Append {
    pub id: DocumentId,
    pub data: Vec<u8>,
    pub actors: Vec<(Vec<u8>, Uuid)>,
}

/// Loading and appending documents' automerge content.
#[async_trait]
pub trait Chunks: Send + Sync {
    /// The document's stored automerge chunks from the latest snapshot on, in order, checksums
    /// verified (a corrupt chunk is an error). Empty if the caller may not see the document.
    async fn load_chunks(&self, p: &Principal, id: DocumentId, now: Millis) -> Result<Vec<Chunk>>;
    /// The document's content; `None` if there is no such document. A chunk whose checksum
    /// does not match is an error ([`StoreError::Corrupt`]), never skipped.
    async fn load_content(&self, sys: System, id: DocumentId) -> Result<Option<Content>>;
    /// Durably appends each document's changes (raw automerge change bytes) and actor
    /// bindings, all in one transaction: one commit for many documents (group commit across
    /// documents), all or nothing.
    async fn append_changes(&self, sys: System, batch: &[Append], now: Millis) -> Result<()>;
    /// Replaces every stored chunk by `snapshot`, in one transaction (the snapshot is written
    /// before the chunks go, so a crash leaves one or the other). Only the document's one
    /// writer (its room) may call this.
    async fn compact(
        &self,
        sys: System,
        id: DocumentId,
        snapshot: &[u8],
        now: Millis,
    ) -> Result<()>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChunkRow {
    seq: i64,
    kind: String,
    data: Vec<u8>,
}

impl TryFrom<ChunkRow> for Chunk {
    type Error = StoreError;
    fn try_from(r: ChunkRow) -> Result<Self> {
        let snapshot = match r.kind.as_str() {
            "snapshot" => true,
            "incremental" => false,
            other => return Err(StoreError::Corrupt(format!("chunk kind {other:?}"))),
        };
        Ok(Chunk {
            seq: r.seq,
            snapshot,
            data: r.data,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct StoredChunkRow {
    seq: i64,
    kind: String,
    data: Vec<u8>,
    checksum: Option<String>,
}

impl StoredChunkRow {
    /// The chunk, if its checksum matches (rows written before checksums existed have none).
    pub(crate) fn verified(self, doc: &DocumentId) -> Result<Chunk> {
        if let Some(sum) = &self.checksum
            && *sum != crate::checksum(&self.data)
        {
            return Err(StoreError::Corrupt(format!(
                "document {doc}: chunk {} fails its checksum",
                self.seq
            )));
        }
        Chunk::try_from(ChunkRow {
            seq: self.seq,
            kind: self.kind,
            data: self.data,
        })
    }
}

/// Expands to `impl Chunks for $store` over database `$db`.
macro_rules! impl_chunks {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Chunks for $store {
            async fn load_chunks(
                &self,
                p: &domain::access::Principal,
                id: domain::DocumentId,
                now: domain::Millis,
            ) -> $crate::Result<Vec<$crate::Chunk>> {
                let mut tx = self.user_tx(p, false).await?;
                let rows: Vec<$crate::chunks::StoredChunkRow> = sqlx::query_as(concat!(
                    "select seq, kind, data, checksum from doc_chunks where document_id = $5 and seq >= \
                     coalesce((select max(seq) from doc_chunks where document_id = $5 and kind = 'snapshot'), 0) \
                     and exists (select 1 from documents d join spaces s on s.id = d.space_id where d.id = $5 and ",
                    $crate::sql::visible_doc!(),
                    ") order by seq"
                ))
                .bind_visible(p, now)
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.into_iter().map(|r| r.verified(&id)).collect()
            }

            async fn load_content(
                &self,
                sys: $crate::System,
                id: domain::DocumentId,
            ) -> $crate::Result<Option<$crate::Content>> {
                let mut tx = self.system_tx(sys, false).await?;
                let exists: Option<(String,)> = sqlx::query_as("select kind from documents where id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((kind,)) = exists else {
                    tx.commit().await?;
                    return Ok(None);
                };
                let rows: Vec<$crate::chunks::StoredChunkRow> = sqlx::query_as(
                    "select seq, kind, data, checksum from doc_chunks where document_id = $1 and seq >= \
                     coalesce((select max(seq) from doc_chunks where document_id = $1 and kind = 'snapshot'), 0) \
                     order by seq",
                )
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?;
                let actors: Vec<(Vec<u8>, uuid::Uuid)> = sqlx::query_as(
                    "select actor_id, user_id from doc_actors where document_id = $1",
                )
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let chunks = rows
                    .into_iter()
                    .map(|r| r.verified(&id))
                    .collect::<$crate::Result<Vec<_>>>()?;
                Ok(Some($crate::Content {
                    kind: kind.parse().ok(),
                    chunks,
                    actors,
                }))
            }

            async fn append_changes(
                &self,
                sys: $crate::System,
                batch: &[$crate::Append],
                now: domain::Millis,
            ) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                for append in batch {
                    let id = append.id.to_string();
                    sqlx::query(
                        "insert into doc_chunks (document_id, seq, kind, data, checksum, created_at) \
                         select $1, coalesce(max(seq), 0) + 1, 'incremental', $2, $3, $4 \
                         from doc_chunks where document_id = $1",
                    )
                    .bind(&id)
                    .bind(append.data.as_slice())
                    .bind($crate::checksum(&append.data))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    for (actor, user) in &append.actors {
                        sqlx::query(
                            "insert into doc_actors (document_id, actor_id, user_id, created_at) \
                             values ($1, $2, $3, $4) on conflict (document_id, actor_id) do nothing",
                        )
                        .bind(&id)
                        .bind(actor.as_slice())
                        .bind(user)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn compact(
                &self,
                sys: $crate::System,
                id: domain::DocumentId,
                snapshot: &[u8],
                now: domain::Millis,
            ) -> $crate::Result<()> {
                let mut tx = self.system_tx(sys, true).await?;
                sqlx::query(
                    "insert into doc_chunks (document_id, seq, kind, data, checksum, created_at) \
                     select $1, coalesce(max(seq), 0) + 1, 'snapshot', $2, $3, $4 \
                     from doc_chunks where document_id = $1",
                )
                .bind(id.to_string())
                .bind(snapshot)
                .bind($crate::checksum(snapshot))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "delete from doc_chunks where document_id = $1 and seq < \
                     (select max(seq) from doc_chunks where document_id = $1 and kind = 'snapshot')",
                )
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_chunks;
