//! A document from what storage holds: its latest snapshot and the incremental chunks after
//! it, in order. Storage has already checked every chunk against its checksum (a corrupt one
//! never gets here). Incremental chunks are also parsed whole before they are applied
//! (`load_incremental` would apply a valid prefix of a bad chunk); the snapshot, which the
//! server wrote with `save()`, is loaded in one piece without re-deriving its change hashes —
//! on a 20 000-change document those two checks cost as much as the load itself (`cargo run
//! --release -p bench --example room_cost`).

use automerge::{Automerge, LoadOptions, OnPartialLoad, VerificationMode};

/// One stored chunk.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    /// Its place in the document's sequence (named in errors).
    pub seq: i64,
    /// A whole-document snapshot (`save()`), rather than incremental changes.
    pub snapshot: bool,
    pub data: &'a [u8],
}

/// Why stored chunks did not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chunk {seq}: {reason}")]
pub struct LoadError {
    pub seq: i64,
    pub reason: String,
}

/// Loads stored chunks into a document, refusing a chunk that does not parse whole.
pub fn load<'a>(chunks: impl IntoIterator<Item = Stored<'a>>) -> Result<Automerge, LoadError> {
    let mut doc: Option<Automerge> = None;
    for chunk in chunks {
        let at = |e: &dyn std::fmt::Display| LoadError {
            seq: chunk.seq,
            reason: e.to_string(),
        };
        if chunk.snapshot && doc.is_none() {
            let options = LoadOptions::new()
                .verification_mode(VerificationMode::DontCheck)
                .on_partial_load(OnPartialLoad::Error);
            doc = Some(Automerge::load_with_options(chunk.data, options).map_err(|e| at(&e))?);
            continue;
        }
        crate::chunks::verify([chunk.data]).map_err(|e| at(&e))?;
        doc.get_or_insert_with(Automerge::new)
            .load_incremental(chunk.data)
            .map_err(|e| at(&e))?;
    }
    Ok(doc.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    #[test]
    fn a_snapshot_and_its_changes_load_and_a_bad_chunk_is_named() {
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "a", 1).unwrap();
        let snapshot = doc.save();
        let heads = doc.get_heads();
        doc.put(automerge::ROOT, "b", 2).unwrap();
        let changes = doc.save_after(&heads);
        let chunk = |seq, snapshot, data| Stored {
            seq,
            snapshot,
            data,
        };
        let loaded = load([chunk(1, true, &snapshot[..]), chunk(2, false, &changes[..])]).unwrap();
        assert_eq!(loaded.get_heads(), doc.get_heads());
        let mut bad = changes.clone();
        bad.extend_from_slice(b"garbage");
        let err = load([chunk(1, true, &snapshot[..]), chunk(7, false, &bad[..])]).unwrap_err();
        assert_eq!(err.seq, 7, "{err}");
        assert!(load([]).unwrap().get_heads().is_empty());
    }
}
