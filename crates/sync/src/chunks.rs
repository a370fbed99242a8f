//! Checking a sync message and the change chunks it carries before any of them is applied.
//!
//! automerge's `load_incremental` applies the valid prefix of a byte string and ignores the rest
//! (a "partial load", only logged), so a valid change followed by garbage would be half-applied.
//! We split the bytes into chunks by their headers (magic, checksum, type, LEB128 length) and
//! parse every one with automerge's own parsers first; one bad chunk refuses the whole message.
//!
//! automerge's parsers also stop early in places and ignore what follows, so every byte is
//! accounted for here as well: a sync message must end where its last section ends
//! ([`message`]), a DEFLATE stream (a compressed change, a compressed column of a document or a
//! bundle) where its chunk or column ends, and a bundle where its op columns end.

use automerge::{Automerge, Bundle, Change, LoadOptions, OnPartialLoad, sync};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const HEADER: usize = 4 + 4 + 1;
const HASH: u64 = 32;

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
    #[error("{bytes} bytes after the end of {after}")]
    Trailing { bytes: usize, after: &'static str },
    #[error("not an automerge sync message: {0}")]
    Message(String),
}

/// Decodes an automerge sync message whole. automerge's own decoder stops after the message's
/// last section (its flags) and ignores whatever follows; here bytes after it refuse the message.
pub fn message(data: &[u8]) -> Result<sync::Message, ChunkError> {
    let msg = sync::Message::decode(data).map_err(|e| ChunkError::Message(e.to_string()))?;
    match message_len(data) {
        Some(len) if len == data.len() => Ok(msg),
        Some(len) => Err(ChunkError::Trailing {
            bytes: data.len() - len,
            after: "the sync message",
        }),
        None => Err(ChunkError::Message("an unexpected layout".into())),
    }
}

/// How many bytes the sync message at the start of `data` takes (automerge 0.12's layout: type,
/// heads, needs, haves, changes, then flags if anything is left).
fn message_len(data: &[u8]) -> Option<usize> {
    let mut r = Reader::new(data);
    r.take(1)?;
    r.hashes()?;
    r.hashes()?;
    for _ in 0..r.uleb()? {
        r.hashes()?;
        r.prefixed()?;
    }
    for _ in 0..r.uleb()? {
        r.prefixed()?;
    }
    if r.rest() > 0 {
        r.prefixed()?;
    }
    Some(r.pos)
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

/// Parses every chunk; Ok only if all of them are whole and valid, with nothing left over. Says
/// how many operations they carry, so a size limit can refuse them before they are applied.
pub fn verify<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Result<u64, ChunkError> {
    verified(pieces).map(|v| v.ops)
}

/// What [`verified`] found in chunks that are all valid.
#[derive(Debug, Default)]
pub struct Verified {
    /// The operations they carry.
    pub ops: u64,
    /// The changes they carry, as parsed, in the order they came; `None` if a document chunk
    /// was among them (a whole document is not taken apart here).
    pub changes: Option<Vec<Change>>,
}

/// [`verify`], keeping the changes parsed on the way: whoever applies them next need neither
/// parse them again nor ask the document which changes are new.
pub fn verified<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Result<Verified, ChunkError> {
    let invalid = |e: &dyn std::fmt::Display| ChunkError::Invalid(e.to_string());
    let mut ops: u64 = 0;
    let mut changes = Some(Vec::new());
    let mut count = |n: usize| ops = ops.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    let keep = |c: Change, changes: &mut Option<Vec<Change>>| {
        if let Some(all) = changes {
            all.push(c);
        }
    };
    for piece in pieces {
        for (kind, bytes) in split(piece)? {
            // `split` checked the header: the body is what follows it.
            let body = leb128(&bytes[HEADER..])
                .and_then(|(_, leb)| bytes.get(HEADER + leb..))
                .ok_or(ChunkError::Truncated)?;
            match kind {
                1 => {
                    let change = Change::from_bytes(bytes.to_vec()).map_err(|e| invalid(&e))?;
                    count(change.len());
                    keep(change, &mut changes);
                }
                2 => {
                    let change = Change::from_bytes(bytes.to_vec()).map_err(|e| invalid(&e))?;
                    count(change.len());
                    // automerge inflates up to the end of the stream and ignores what follows.
                    whole_deflate(body, "a compressed change")?;
                    keep(change, &mut changes);
                }
                3 => {
                    let bundle = Bundle::try_from(bytes).map_err(|e| invalid(&e))?;
                    bundle_layout(body)?;
                    for change in bundle.to_changes().map_err(|e| invalid(&e))? {
                        count(change.len());
                        keep(change, &mut changes);
                    }
                }
                0 => {
                    let doc = Automerge::load_with_options(
                        bytes,
                        LoadOptions::new().on_partial_load(OnPartialLoad::Error),
                    )
                    .map_err(|e| invalid(&e))?;
                    document_layout(body)?;
                    count(
                        usize::try_from(automerge::ReadDoc::stats(&doc).num_ops)
                            .unwrap_or(usize::MAX),
                    );
                    changes = None;
                }
                other => return Err(ChunkError::UnknownType(other)),
            }
        }
    }
    Ok(Verified { ops, changes })
}

/// The heads a document chunk records in its header (`save()` writes them), read without
/// loading the document; `None` unless `data` is exactly one document chunk. For a snapshot the
/// server wrote itself, whose bytes storage has checked against their checksum.
pub fn document_heads(data: &[u8]) -> Option<Vec<automerge::ChangeHash>> {
    let bytes = match split(data).ok()?.as_slice() {
        [(0, bytes)] => *bytes,
        _ => return None,
    };
    let body = leb128(&bytes[HEADER..]).and_then(|(_, leb)| bytes.get(HEADER + leb..))?;
    let mut r = Reader::new(body);
    for _ in 0..r.uleb()? {
        r.prefixed()?;
    }
    let n = r.uleb()?;
    let mut heads = Vec::new();
    for _ in 0..n {
        heads.push(automerge::ChangeHash::try_from(r.take(HASH)?).ok()?);
    }
    heads.sort_unstable();
    Some(heads)
}

/// A document chunk's body: actors, heads, the change and op column metadata, their data, then
/// optionally one index per head. Only the compressed columns need checking here: automerge
/// itself refuses anything after the head indices.
fn document_layout(body: &[u8]) -> Result<(), ChunkError> {
    let layout = || ChunkError::Invalid("an unexpected document layout".into());
    let mut r = Reader::new(body);
    for _ in 0..r.uleb().ok_or_else(layout)? {
        r.prefixed().ok_or_else(layout)?;
    }
    let heads = r.uleb().ok_or_else(layout)?;
    r.take(heads.checked_mul(HASH).ok_or_else(layout)?)
        .ok_or_else(layout)?;
    let changes = columns(&mut r).ok_or_else(layout)?;
    let ops = columns(&mut r).ok_or_else(layout)?;
    column_data(&mut r, &changes)?;
    column_data(&mut r, &ops)?;
    if r.rest() > 0 {
        for _ in 0..heads {
            r.uleb().ok_or_else(layout)?;
        }
    }
    match r.rest() {
        0 => Ok(()),
        bytes => Err(ChunkError::Trailing {
            bytes,
            after: "the document",
        }),
    }
}

/// A bundle chunk's body: dependencies, actors, the change columns (metadata, data), the op
/// columns (metadata, data), and nothing after them (automerge stops reading there).
fn bundle_layout(body: &[u8]) -> Result<(), ChunkError> {
    let layout = || ChunkError::Invalid("an unexpected bundle layout".into());
    let mut r = Reader::new(body);
    r.hashes().ok_or_else(layout)?;
    for _ in 0..r.uleb().ok_or_else(layout)? {
        r.prefixed().ok_or_else(layout)?;
    }
    let changes = columns(&mut r).ok_or_else(layout)?;
    column_data(&mut r, &changes)?;
    let ops = columns(&mut r).ok_or_else(layout)?;
    column_data(&mut r, &ops)?;
    match r.rest() {
        0 => Ok(()),
        bytes => Err(ChunkError::Trailing {
            bytes,
            after: "the bundle's columns",
        }),
    }
}

/// Column metadata: for each column, whether it is DEFLATE-compressed (bit 3 of its
/// specification) and its length.
fn columns(r: &mut Reader<'_>) -> Option<Vec<(bool, u64)>> {
    let mut out = Vec::new();
    for _ in 0..r.uleb()? {
        let spec = r.uleb()?;
        let len = r.uleb()?;
        out.push((spec & 0b1000 != 0, len));
    }
    Some(out)
}

/// Reads the data of `columns`; each compressed one must be exactly one DEFLATE stream.
fn column_data(r: &mut Reader<'_>, columns: &[(bool, u64)]) -> Result<(), ChunkError> {
    for &(deflated, len) in columns {
        let data = r
            .take(len)
            .ok_or_else(|| ChunkError::Invalid("a column longer than its chunk".into()))?;
        if deflated {
            whole_deflate(data, "a compressed column")?;
        }
    }
    Ok(())
}

/// `data` must be one DEFLATE stream and nothing else.
fn whole_deflate(data: &[u8], what: &'static str) -> Result<(), ChunkError> {
    match deflate::stream_len(data) {
        Some(len) if len == data.len() => Ok(()),
        Some(len) => Err(ChunkError::Trailing {
            bytes: data.len() - len,
            after: what,
        }),
        None => Err(ChunkError::Invalid(format!("{what} that does not inflate"))),
    }
}

/// A cursor over LEB128 numbers and length-prefixed byte strings.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn rest(&self) -> usize {
        self.data.len() - self.pos
    }

    fn uleb(&mut self) -> Option<u64> {
        let (value, len) = leb128(self.data.get(self.pos..)?)?;
        self.pos += len;
        Some(value)
    }

    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(usize::try_from(n).ok()?)?;
        let bytes = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    /// A LEB128 length and that many bytes.
    fn prefixed(&mut self) -> Option<&'a [u8]> {
        let n = self.uleb()?;
        self.take(n)
    }

    /// A LEB128 count and that many change hashes.
    fn hashes(&mut self) -> Option<()> {
        let n = self.uleb()?;
        self.take(n.checked_mul(HASH)?).map(drop)
    }
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

/// Where a DEFLATE stream (RFC 1951) ends. Nothing is inflated: the blocks are walked only far
/// enough to find the end of the last one (automerge inflates, and checks, the content itself).
mod deflate {
    /// Extra bits after each length symbol, 257 to 285.
    const LENGTH_EXTRA: [u32; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    /// Extra bits after each distance symbol, 0 to 29.
    const DISTANCE_EXTRA: [u32; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ];
    /// The order in which a dynamic block lists the code lengths of its code-length code.
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];

    /// The number of bytes the stream at the start of `data` takes (its last byte's unused
    /// high bits included), or `None` if it is not a whole stream.
    pub(super) fn stream_len(data: &[u8]) -> Option<usize> {
        let mut bits = Bits { data, pos: 0 };
        loop {
            let last = bits.bits(1)? == 1;
            match bits.bits(2)? {
                0 => bits.stored()?,
                1 => {
                    let (litlen, dist) = fixed()?;
                    bits.codes(&litlen, &dist)?;
                }
                2 => {
                    let (litlen, dist) = bits.dynamic()?;
                    bits.codes(&litlen, &dist)?;
                }
                _ => return None,
            }
            if last {
                return Some(bits.pos.div_ceil(8));
            }
        }
    }

    /// The fixed codes of block type 1.
    fn fixed() -> Option<(Huffman, Huffman)> {
        let mut lengths = [0u8; 288];
        for (symbol, length) in lengths.iter_mut().enumerate() {
            *length = match symbol {
                0..=143 => 8,
                144..=255 => 9,
                256..=279 => 7,
                _ => 8,
            };
        }
        Some((Huffman::new(&lengths)?, Huffman::new(&[5; 30])?))
    }

    /// A canonical Huffman code: how many codes of each length, and the symbols in code order.
    struct Huffman {
        count: [u16; 16],
        symbol: Vec<u16>,
    }

    impl Huffman {
        /// `None` if the lengths describe more codes than fit (an over-subscribed code).
        fn new(lengths: &[u8]) -> Option<Huffman> {
            let mut count = [0u16; 16];
            for &len in lengths {
                *count.get_mut(usize::from(len))? += 1;
            }
            let mut left: i32 = 1;
            for &n in &count[1..] {
                left = (left << 1) - i32::from(n);
                if left < 0 {
                    return None;
                }
            }
            let mut offset = [0usize; 16];
            for len in 1..15 {
                offset[len + 1] = offset[len] + usize::from(count[len]);
            }
            let mut symbol = vec![0u16; lengths.len()];
            for (sym, &len) in lengths.iter().enumerate() {
                if len != 0 {
                    let at = &mut offset[usize::from(len)];
                    *symbol.get_mut(*at)? = u16::try_from(sym).ok()?;
                    *at += 1;
                }
            }
            Some(Huffman { count, symbol })
        }
    }

    /// Reads bits least significant first, as DEFLATE packs them.
    struct Bits<'a> {
        data: &'a [u8],
        /// In bits.
        pos: usize,
    }

    impl Bits<'_> {
        fn bits(&mut self, n: u32) -> Option<u32> {
            let mut value = 0;
            for i in 0..n {
                let byte = *self.data.get(self.pos / 8)?;
                value |= u32::from((byte >> (self.pos % 8)) & 1) << i;
                self.pos += 1;
            }
            Some(value)
        }

        /// One symbol of `code` (a code is read most significant bit first).
        fn decode(&mut self, code: &Huffman) -> Option<u16> {
            let (mut bits, mut first, mut index) = (0i32, 0i32, 0i32);
            for &count in &code.count[1..] {
                bits |= i32::try_from(self.bits(1)?).ok()?;
                let count = i32::from(count);
                if bits - count < first {
                    return code
                        .symbol
                        .get(usize::try_from(index + bits - first).ok()?)
                        .copied();
                }
                index += count;
                first = (first + count) << 1;
                bits <<= 1;
            }
            None
        }

        /// A stored block: to the byte boundary, a length, its complement, that many bytes.
        fn stored(&mut self) -> Option<()> {
            let start = self.pos.div_ceil(8);
            let header = self.data.get(start..start + 4)?;
            let len = u16::from_le_bytes([header[0], header[1]]);
            let complement = u16::from_le_bytes([header[2], header[3]]);
            if len != !complement {
                return None;
            }
            let end = start + 4 + usize::from(len);
            if end > self.data.len() {
                return None;
            }
            self.pos = end * 8;
            Some(())
        }

        /// A dynamic block's header: its literal/length and distance codes.
        fn dynamic(&mut self) -> Option<(Huffman, Huffman)> {
            let nlen = usize::try_from(self.bits(5)?).ok()? + 257;
            let ndist = usize::try_from(self.bits(5)?).ok()? + 1;
            let ncode = usize::try_from(self.bits(4)?).ok()? + 4;
            if nlen > 286 || ndist > 30 {
                return None;
            }
            let mut code_lengths = [0u8; 19];
            for &at in &ORDER[..ncode] {
                code_lengths[at] = u8::try_from(self.bits(3)?).ok()?;
            }
            let code = Huffman::new(&code_lengths)?;
            let mut lengths = vec![0u8; nlen + ndist];
            let mut i = 0;
            while i < lengths.len() {
                let symbol = self.decode(&code)?;
                let (value, repeat) = match symbol {
                    0..=15 => (u8::try_from(symbol).ok()?, 1),
                    16 => (*lengths.get(i.checked_sub(1)?)?, 3 + self.bits(2)?),
                    17 => (0, 3 + self.bits(3)?),
                    18 => (0, 11 + self.bits(7)?),
                    _ => return None,
                };
                let end = i + usize::try_from(repeat).ok()?;
                lengths.get_mut(i..end)?.fill(value);
                i = end;
            }
            if lengths[256] == 0 {
                return None;
            }
            Some((
                Huffman::new(&lengths[..nlen])?,
                Huffman::new(&lengths[nlen..])?,
            ))
        }

        /// A block's compressed data, up to and including its end-of-block symbol.
        fn codes(&mut self, litlen: &Huffman, dist: &Huffman) -> Option<()> {
            loop {
                match self.decode(litlen)? {
                    0..=255 => {}
                    256 => return Some(()),
                    symbol @ 257..=285 => {
                        self.bits(LENGTH_EXTRA[usize::from(symbol - 257)])?;
                        let distance = self.decode(dist)?;
                        self.bits(*DISTANCE_EXTRA.get(usize::from(distance))?)?;
                    }
                    _ => return None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
