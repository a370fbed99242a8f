//! Checking the change chunks of a sync message before any of them is applied.
//!
//! automerge's `load_incremental` applies the valid prefix of a byte string and ignores the rest
//! (a "partial load", only logged), so a valid change followed by garbage would be half-applied.
//! We split the bytes into chunks by their headers (magic, checksum, type, LEB128 length) and
//! parse every one with automerge's own parsers first; one bad chunk refuses the whole message.

use automerge::{Automerge, Bundle, Change, LoadOptions, OnPartialLoad};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const HEADER: usize = 4 + 4 + 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("bytes that are not an automerge chunk")]
    NotAChunk,
    #[error("a chunk longer than the data")]
    Truncated,
    #[error("unknown chunk type {0}")]
    UnknownType(u8),
    #[error("a chunk that does not parse: {0}")]
    Invalid(String),
}

/// Splits concatenated chunks, checking only their framing.
pub fn split(mut data: &[u8]) -> Result<Vec<(u8, &[u8])>, ChunkError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < HEADER + 1 || data[..4] != MAGIC {
            return Err(ChunkError::NotAChunk);
        }
        let kind = data[8];
        let (len, leb) = leb128(&data[HEADER..]).ok_or(ChunkError::Truncated)?;
        let total = HEADER
            .checked_add(leb)
            .and_then(|n| n.checked_add(usize::try_from(len).ok()?))
            .ok_or(ChunkError::Truncated)?;
        if total > data.len() {
            return Err(ChunkError::Truncated);
        }
        out.push((kind, &data[..total]));
        data = &data[total..];
    }
    Ok(out)
}

/// Parses every chunk; Ok only if all of them are whole and valid.
pub fn verify<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Result<(), ChunkError> {
    for piece in pieces {
        for (kind, bytes) in split(piece)? {
            match kind {
                1 | 2 => {
                    Change::from_bytes(bytes.to_vec())
                        .map_err(|e| ChunkError::Invalid(e.to_string()))?;
                }
                3 => {
                    Bundle::try_from(bytes).map_err(|e| ChunkError::Invalid(e.to_string()))?;
                }
                0 => {
                    Automerge::load_with_options(
                        bytes,
                        LoadOptions::new().on_partial_load(OnPartialLoad::Error),
                    )
                    .map_err(|e| ChunkError::Invalid(e.to_string()))?;
                }
                other => return Err(ChunkError::UnknownType(other)),
            }
        }
    }
    Ok(())
}

/// An unsigned LEB128 number and how many bytes it took.
fn leb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        value |= part.checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};
    use proptest::prelude::*;

    fn two_changes() -> (Vec<u8>, Vec<u8>) {
        let mut d = AutoCommit::new();
        d.put(ROOT, "a", 1).unwrap();
        d.commit();
        d.put(ROOT, "b", 2).unwrap();
        d.commit();
        let c = d.get_changes(&[]);
        (c[0].raw_bytes().to_vec(), c[1].raw_bytes().to_vec())
    }

    #[test]
    fn accepts_valid_changes_alone_and_concatenated() {
        let (a, b) = two_changes();
        assert!(verify([a.as_slice(), b.as_slice()]).is_ok());
        let both = [a.clone(), b.clone()].concat();
        assert_eq!(split(&both).unwrap().len(), 2);
        assert!(verify([both.as_slice()]).is_ok());
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "x", 1).unwrap();
        assert!(verify([doc.save().as_slice()]).is_ok());
    }

    #[test]
    fn refuses_a_valid_change_followed_by_garbage() {
        let (a, _) = two_changes();
        let mut bad = a.clone();
        bad.extend_from_slice(&[0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 1, 5, 9, 9, 9, 9, 9]);
        assert!(verify([bad.as_slice()]).is_err());
        let mut trailing = a.clone();
        trailing.push(0);
        assert!(verify([trailing.as_slice()]).is_err());
        let mut flipped = a.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert!(verify([flipped.as_slice()]).is_err(), "checksum");
        assert!(verify([&a[..a.len() - 1]]).is_err());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = verify([bytes.as_slice()]);
        }
    }
}
