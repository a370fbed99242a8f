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
    /// A snapshot's document schema version, as its writer recorded it (`None`: an incremental
    /// chunk, or a snapshot written before versions were recorded).
    pub schema_version: Option<i64>,
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

    /// The stored document as one snapshot of schema version `version` and nothing after it:
    /// its bytes, which a peer that has nothing can be sent as they are.
    pub fn sole_snapshot(&self, version: i64) -> Option<&[u8]> {
        match self.chunks.as_slice() {
            [only] if only.snapshot && only.schema_version == Some(version) => Some(&only.data),
            _ => None,
        }
    }

    /// Drops what a reader that has everything up to `read` already holds: a snapshot numbered
    /// `read + 1` was compacted from exactly those chunks (compaction only writes one when the
    /// last chunk is the one before it).
    pub fn skip_covered(&mut self, read: i64) {
        if self
            .chunks
            .first()
            .is_some_and(|c| c.snapshot && c.seq == read + 1)
        {
            self.chunks.remove(0);
        }
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
    async fn load_content(&self, sys: System, id: DocumentId) -> Result<Option<Content>> {
        // Sequence numbers start at 0: everything from the latest snapshot on.
        self.load_after(sys, id, -1).await
    }
    /// The chunks stored after sequence number `after` (from the latest snapshot on, if one
    /// was written since: compaction removes what it covers), checksums verified, and all the
    /// document's actor bindings: what another node committed since this one last read.
    /// `None` if there is no such document.
    async fn load_after(&self, sys: System, id: DocumentId, after: i64) -> Result<Option<Content>>;
    /// Durably appends each document's changes (raw automerge change bytes) and actor
    /// bindings, all in one transaction: one commit for many documents (group commit across
    /// documents), all or nothing. Returns each append's sequence number, in order. On
    /// PostgreSQL, each document is locked for the transaction (other nodes append to it too)
    /// and its channel notified at commit. An actor already bound to another user (by another
    /// node) fails the whole transaction ([`StoreError::Conflict`]).
    async fn append_changes(&self, sys: System, batch: &[Append], now: Millis) -> Result<Vec<i64>>;
    /// Replaces every stored chunk by `snapshot`, in one transaction (the snapshot is written
    /// before the chunks go, so a crash leaves one or the other), if the last stored chunk is
    /// still `upto` — the last one the snapshot includes. If another node has appended since,
    /// nothing changes and the answer is `None` (the snapshot would drop its changes);
    /// otherwise the snapshot's sequence number. The document is locked meanwhile.
    /// `schema_version`: the version of the document the snapshot holds, if the caller knows.
    async fn compact(
        &self,
        sys: System,
        id: DocumentId,
        snapshot: &[u8],
        schema_version: Option<i64>,
        upto: i64,
        now: Millis,
    ) -> Result<Option<i64>>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChunkRow {
    seq: i64,
    kind: String,
    data: Vec<u8>,
    schema_version: Option<i64>,
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
            schema_version: r.schema_version.filter(|_| snapshot),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct StoredChunkRow {
    seq: i64,
    kind: String,
    data: Vec<u8>,
    checksum: Option<String>,
    schema_version: Option<i64>,
}

/// A row of a document's content read in one statement: the document's kind with one of its
/// chunks (or none, for a document with no chunks), or one of its actor bindings.
#[derive(sqlx::FromRow)]
pub(crate) struct DocContentRow {
    pub(crate) doc_kind: Option<String>,
    seq: Option<i64>,
    kind: Option<String>,
    data: Option<Vec<u8>>,
    checksum: Option<String>,
    schema_version: Option<i64>,
    actor_id: Option<Vec<u8>>,
    actor_user: Option<Uuid>,
}

pub(crate) enum ContentPart {
    Chunk(StoredChunkRow),
    Actor((Vec<u8>, Uuid)),
    Nothing,
}

impl DocContentRow {
    pub(crate) fn part(self) -> ContentPart {
        if let (Some(actor), Some(user)) = (self.actor_id, self.actor_user) {
            return ContentPart::Actor((actor, user));
        }
        match (self.seq, self.kind, self.data) {
            (Some(seq), Some(kind), Some(data)) => ContentPart::Chunk(StoredChunkRow {
                seq,
                kind,
                data,
                checksum: self.checksum,
                schema_version: self.schema_version,
            }),
            _ => ContentPart::Nothing,
        }
    }
}

impl StoredChunkRow {
    pub(crate) fn seq(&self) -> i64 {
        self.seq
    }

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
            schema_version: self.schema_version,
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
                    "select seq, kind, data, checksum, schema_version from doc_chunks where document_id = $5 and seq >= \
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

            async fn load_after(
                &self,
                _sys: $crate::System,
                id: domain::DocumentId,
                after: i64,
            ) -> $crate::Result<Option<$crate::Content>> {
                // One statement, so one snapshot: the document with its chunks, and its actor
                // bindings. Appends store a chunk and its actors together, so the bindings
                // cover every chunk read with them. (It was two statements, one round trip
                // more for every room that opens.)
                let rows: Vec<$crate::chunks::DocContentRow> = sqlx::query_as(
                    "select d.kind as doc_kind, c.seq, c.kind, c.data, c.checksum, c.schema_version, \
                            null as actor_id, null as actor_user \
                     from documents d left join doc_chunks c on c.document_id = d.id and c.seq > $2 \
                     and c.seq >= coalesce((select max(seq) from doc_chunks where document_id = $1 \
                                            and kind = 'snapshot' and seq > $2), 0) \
                     where d.id = $1 \
                     union all \
                     select null, null, null, null, null, null, a.actor_id, a.user_id \
                     from doc_actors a where a.document_id = $1",
                )
                .bind(id.to_string())
                .bind(after)
                .fetch_all(self.system_reads())
                .await?;
                let Some(kind) = rows.iter().find_map(|r| r.doc_kind.clone()) else {
                    return Ok(None);
                };
                let mut actors = Vec::new();
                let mut chunks = Vec::new();
                for row in rows {
                    match row.part() {
                        $crate::chunks::ContentPart::Chunk(c) => chunks.push(c),
                        $crate::chunks::ContentPart::Actor(a) => actors.push(a),
                        $crate::chunks::ContentPart::Nothing => {}
                    }
                }
                // A union has no order of its own: the chunks in sequence.
                chunks.sort_by_key($crate::chunks::StoredChunkRow::seq);
                let chunks = chunks
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
            ) -> $crate::Result<Vec<i64>> {
                if let Some(seqs) = self.append_at_once(batch, now).await? {
                    return Ok(seqs);
                }
                let mut tx = self.append_tx(sys).await?;
                let mut ids: Vec<String> = batch.iter().map(|a| a.id.to_string()).collect();
                ids.sort_unstable();
                ids.dedup();
                self.lock_documents(&mut tx, &ids).await?;
                let seqs = self.insert_increments(&mut tx, batch, now).await?;
                let actors: Vec<(String, &[u8], uuid::Uuid)> = batch
                    .iter()
                    .flat_map(|a| {
                        a.actors
                            .iter()
                            .map(|(actor, user)| (a.id.to_string(), actor.as_slice(), *user))
                    })
                    .collect();
                if !actors.is_empty() {
                    self.bind_actors(&mut tx, &actors, now).await?;
                }
                let stored: Vec<(String, i64)> = batch
                    .iter()
                    .zip(&seqs)
                    .map(|(a, seq)| (a.id.to_string(), *seq))
                    .collect();
                self.announce(&mut tx, &stored, now).await?;
                tx.commit().await?;
                Ok(seqs)
            }

            async fn compact(
                &self,
                sys: $crate::System,
                id: domain::DocumentId,
                snapshot: &[u8],
                schema_version: Option<i64>,
                upto: i64,
                now: domain::Millis,
            ) -> $crate::Result<Option<i64>> {
                let mut tx = self.system_tx(sys, true).await?;
                self.lock_documents(&mut tx, &[id.to_string()]).await?;
                let (last,): (Option<i64>,) =
                    sqlx::query_as("select max(seq) from doc_chunks where document_id = $1")
                        .bind(id.to_string())
                        .fetch_one(&mut *tx)
                        .await?;
                if last.unwrap_or(0) != upto {
                    tx.commit().await?;
                    return Ok(None);
                }
                let (seq,): (i64,) = sqlx::query_as(
                    "insert into doc_chunks (document_id, seq, kind, data, checksum, created_at, schema_version) \
                     values ($1, $2, 'snapshot', $3, $4, $5, $6) returning seq",
                )
                .bind(id.to_string())
                .bind(upto + 1)
                .bind(snapshot)
                .bind($crate::checksum(snapshot))
                .bind(now)
                .bind(schema_version)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "delete from doc_chunks where document_id = $1 and seq < \
                     (select max(seq) from doc_chunks where document_id = $1 and kind = 'snapshot')",
                )
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                // Not announced: the snapshot holds exactly what every node that has read up to
                // `upto` holds, so none needs to load it (`Content::after` skips it).
                tx.commit().await?;
                Ok(Some(seq))
            }
        }
    };
}
pub(crate) use impl_chunks;
