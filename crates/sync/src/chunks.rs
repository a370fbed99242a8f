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
    let invalid = |e: &dyn std::fmt::Display| ChunkError::Invalid(e.to_string());
    let mut ops: u64 = 0;
    let mut count = |n: usize| ops = ops.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    for piece in pieces {
        for (kind, bytes) in split(piece)? {
            // `split` checked the header: the body is what follows it.
            let body = leb128(&bytes[HEADER..])
                .and_then(|(_, leb)| bytes.get(HEADER + leb..))
                .ok_or(ChunkError::Truncated)?;
            match kind {
                1 => {
                    count(
                        Change::from_bytes(bytes.to_vec())
                            .map_err(|e| invalid(&e))?
                            .len(),
                    );
                }
                2 => {
                    count(
                        Change::from_bytes(bytes.to_vec())
                            .map_err(|e| invalid(&e))?
                            .len(),
                    );
                    // automerge inflates up to the end of the stream and ignores what follows.
                    whole_deflate(body, "a compressed change")?;
                }
                3 => {
                    let bundle = Bundle::try_from(bytes).map_err(|e| invalid(&e))?;
                    bundle_layout(body)?;
                    for change in bundle.to_changes().map_err(|e| invalid(&e))? {
                        count(change.len());
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
                }
                other => return Err(ChunkError::UnknownType(other)),
            }
        }
    }
    Ok(ops)
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
mod tests {
    use super::*;
    use automerge::sync::SyncDoc;
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
        assert_eq!(verify([a.as_slice(), b.as_slice()]), Ok(2), "one op each");
        let both = [a.clone(), b.clone()].concat();
        assert_eq!(split(&both).unwrap().len(), 2);
        assert_eq!(verify([both.as_slice()]), Ok(2));
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "x", 1).unwrap();
        let text = doc.put_object(ROOT, "t", automerge::ObjType::Text).unwrap();
        doc.splice_text(&text, 0, 0, "hello").unwrap();
        assert_eq!(
            verify([doc.save().as_slice()]),
            Ok(7),
            "put, make text, five characters"
        );
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

    /// An unsigned LEB128 number.
    fn uleb(mut n: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// SHA-256 (FIPS 180-4), to give crafted chunks the checksum automerge checks.
    fn sha256(data: &[u8]) -> [u8; 32] {
        const K: [u32; 64] = [
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
            0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
            0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
            0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
            0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
            0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
            0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
            0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
            0xc67178f2,
        ];
        let mut h: [u32; 8] = [
            0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
            0x5be0cd19,
        ];
        let mut msg = data.to_vec();
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend((data.len() as u64 * 8).to_be_bytes());
        for block in msg.chunks(64) {
            let mut w = [0u32; 64];
            for i in 0..64 {
                w[i] = if i < 16 {
                    u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().unwrap())
                } else {
                    let s0 =
                        w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
                    let s1 =
                        w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
                    w[i - 16]
                        .wrapping_add(s0)
                        .wrapping_add(w[i - 7])
                        .wrapping_add(s1)
                };
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
            for i in 0..64 {
                let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
                let ch = (e & f) ^ (!e & g);
                let t1 = hh
                    .wrapping_add(s1)
                    .wrapping_add(ch)
                    .wrapping_add(K[i])
                    .wrapping_add(w[i]);
                let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
                let maj = (a & b) ^ (a & c) ^ (b & c);
                let t2 = s0.wrapping_add(maj);
                (hh, g, f, e, d, c, b, a) =
                    (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
                *x = x.wrapping_add(y);
            }
        }
        let mut out = [0u8; 32];
        for (o, x) in out.chunks_mut(4).zip(h) {
            o.copy_from_slice(&x.to_be_bytes());
        }
        out
    }

    /// A chunk's type, checksum and body.
    fn parts(chunk: &[u8]) -> (u8, [u8; 4], Vec<u8>) {
        let (_, leb) = leb128(&chunk[HEADER..]).unwrap();
        (
            chunk[8],
            chunk[4..8].try_into().unwrap(),
            chunk[HEADER + leb..].to_vec(),
        )
    }

    /// A chunk around `body`; its checksum is the first bytes of its hash unless given (a
    /// compressed change's is its uncompressed content's).
    fn chunk(kind: u8, body: &[u8], checksum: Option<[u8; 4]>) -> Vec<u8> {
        let mut typed = vec![kind];
        uleb(body.len() as u64, &mut typed);
        typed.extend_from_slice(body);
        let checksum = checksum.unwrap_or_else(|| sha256(&typed)[..4].try_into().unwrap());
        [&MAGIC[..], &checksum, &typed].concat()
    }

    type Meta = Vec<(u64, u64)>;

    /// The body of a document or bundle chunk with `junk` appended to its first compressed
    /// column, whose length in the metadata grows to match (nothing else changes).
    fn junk_in_a_compressed_column(body: &[u8], bundle: bool, junk: &[u8]) -> Vec<u8> {
        fn meta(r: &mut Reader<'_>) -> Meta {
            let n = r.uleb().unwrap();
            (0..n)
                .map(|_| (r.uleb().unwrap(), r.uleb().unwrap()))
                .collect()
        }
        fn data(r: &mut Reader<'_>, meta: &Meta) -> Vec<Vec<u8>> {
            meta.iter()
                .map(|&(_, len)| r.take(len).unwrap().to_vec())
                .collect()
        }
        fn emit(meta: &Meta, out: &mut Vec<u8>) {
            uleb(meta.len() as u64, out);
            for &(spec, len) in meta {
                uleb(spec, out);
                uleb(len, out);
            }
        }
        let mut r = Reader::new(body);
        if bundle {
            r.hashes().unwrap();
        }
        for _ in 0..r.uleb().unwrap() {
            r.prefixed().unwrap();
        }
        if !bundle {
            r.hashes().unwrap();
        }
        let prefix = body[..r.pos].to_vec();
        let (mut change_meta, mut ops_meta, mut change_data, mut ops_data);
        if bundle {
            change_meta = meta(&mut r);
            change_data = data(&mut r, &change_meta);
            ops_meta = meta(&mut r);
            ops_data = data(&mut r, &ops_meta);
        } else {
            change_meta = meta(&mut r);
            ops_meta = meta(&mut r);
            change_data = data(&mut r, &change_meta);
            ops_data = data(&mut r, &ops_meta);
        }
        let suffix = body[r.pos..].to_vec();
        let deflated = |m: &Meta| m.iter().position(|(spec, _)| spec & 0b1000 != 0);
        let (m, d) = match deflated(&change_meta) {
            Some(i) => (&mut change_meta[i], &mut change_data[i]),
            None => {
                let i = deflated(&ops_meta).expect("a compressed column");
                (&mut ops_meta[i], &mut ops_data[i])
            }
        };
        d.extend_from_slice(junk);
        m.1 += junk.len() as u64;
        let mut out = prefix;
        emit(&change_meta, &mut out);
        if bundle {
            out.extend(change_data.concat());
            emit(&ops_meta, &mut out);
        } else {
            emit(&ops_meta, &mut out);
            out.extend(change_data.concat());
        }
        out.extend(ops_data.concat());
        out.extend(suffix);
        out
    }

    /// A document whose text is long enough that `save` compresses some of its columns.
    fn long_document(seed: u64) -> AutoCommit {
        let mut d = AutoCommit::new();
        let mut x = seed | 1;
        for i in 0..40 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let word: String = (0..(x % 30))
                .map(|k| char::from(b'a' + ((x >> k) % 26) as u8))
                .collect();
            d.put(ROOT, format!("k{}", x % 50), format!("{word} {i}"))
                .unwrap();
            if i % 7 == 0 {
                d.commit();
            }
        }
        d.put(ROOT, "long", "lorem ipsum dolor ".repeat(40))
            .unwrap();
        d.commit();
        d
    }

    #[test]
    fn the_test_checksum_is_automerges() {
        let (a, _) = two_changes();
        let (kind, _, body) = parts(&a);
        let change = Change::from_bytes(a.clone()).unwrap();
        let mut typed = vec![kind];
        uleb(body.len() as u64, &mut typed);
        typed.extend(&body);
        assert_eq!(sha256(&typed), change.hash().0);
        assert_eq!(chunk(kind, &body, None), a);
    }

    /// A compressed change (chunk type 2) is inflated up to the end of its DEFLATE stream:
    /// automerge ignores bytes after it and applies the change. Refused here.
    #[test]
    fn refuses_junk_after_a_compressed_changes_stream() {
        let mut d = AutoCommit::new();
        d.put(ROOT, "a", "x".repeat(600)).unwrap();
        d.commit();
        let mut change = d.get_changes(&[])[0].clone();
        let compressed = change.bytes().to_vec();
        let (kind, checksum, mut body) = parts(&compressed);
        assert_eq!(kind, 2, "automerge compressed it");
        assert!(verify([compressed.as_slice()]).is_ok());
        body.extend_from_slice(b"trailing junk");
        let bad = chunk(kind, &body, Some(checksum));
        // automerge itself takes it: the change applies, the junk is ignored.
        assert!(AutoCommit::new().load_incremental(&bad).is_ok());
        assert_eq!(
            verify([bad.as_slice()]),
            Err(ChunkError::Trailing {
                bytes: 13,
                after: "a compressed change"
            })
        );
    }

    /// The same for a compressed column of a document and of a bundle, and for anything after a
    /// bundle's op columns (automerge stops reading there).
    #[test]
    fn refuses_junk_in_a_compressed_column_or_after_a_bundle() {
        let mut d = long_document(7);
        let saved = d.save();
        let (kind, _, body) = parts(&saved);
        assert_eq!(kind, 0);
        assert!(verify([saved.as_slice()]).is_ok());
        let bad = chunk(0, &junk_in_a_compressed_column(&body, false, b"junk"), None);
        assert!(Automerge::load(&bad).is_ok(), "automerge takes it");
        assert!(Automerge::new().load_incremental(&bad).is_ok());
        assert_eq!(
            verify([bad.as_slice()]),
            Err(ChunkError::Trailing {
                bytes: 4,
                after: "a compressed column"
            })
        );

        let hashes: Vec<_> = d.get_changes(&[]).iter().map(|c| c.hash()).collect();
        let bundle = d.bundle(hashes).unwrap().bytes().to_vec();
        let (kind, _, body) = parts(&bundle);
        assert_eq!(kind, 3);
        assert!(verify([bundle.as_slice()]).is_ok());
        let bad = chunk(3, &junk_in_a_compressed_column(&body, true, b"junk"), None);
        assert!(
            Automerge::new().load_incremental(&bad).is_ok(),
            "automerge takes it"
        );
        assert!(verify([bad.as_slice()]).is_err());
        let mut after = body.clone();
        after.extend_from_slice(b"junk");
        let bad = chunk(3, &after, None);
        assert!(
            Automerge::new().load_incremental(&bad).is_ok(),
            "automerge takes it"
        );
        assert_eq!(
            verify([bad.as_slice()]),
            Err(ChunkError::Trailing {
                bytes: 4,
                after: "the bundle's columns"
            })
        );
    }

    /// Stored blocks and several blocks in one stream are walked right (automerge writes
    /// fixed and dynamic blocks; a stored block is made by hand here).
    #[test]
    fn a_stored_deflate_block_is_walked() {
        let mut d = AutoCommit::new();
        d.put(ROOT, "a", "y".repeat(300)).unwrap();
        d.commit();
        let raw = d.get_changes(&[])[0].raw_bytes().to_vec();
        let (_, checksum, body) = parts(&raw);
        let (first, second) = body.split_at(100);
        let mut stream = Vec::new();
        for (part, last) in [(first, 0u8), (second, 1u8)] {
            stream.push(last);
            let len = part.len() as u16;
            stream.extend(len.to_le_bytes());
            stream.extend((!len).to_le_bytes());
            stream.extend_from_slice(part);
        }
        let compressed = chunk(2, &stream, Some(checksum));
        assert!(verify([compressed.as_slice()]).is_ok());
        stream.push(0);
        let bad = chunk(2, &stream, Some(checksum));
        assert!(AutoCommit::new().load_incremental(&bad).is_ok());
        assert!(verify([bad.as_slice()]).is_err());
    }

    /// automerge's sync message decoder stops after the flags and ignores what follows.
    #[test]
    fn a_sync_message_with_trailing_bytes_is_refused() {
        let mut d = long_document(3);
        let mut state = sync::State::new();
        let m = d.sync().generate_sync_message(&mut state).unwrap();
        assert!(m.flags.is_some());
        let bytes = m.encode();
        assert!(message(&bytes).is_ok());
        let mut bad = bytes.clone();
        bad.extend_from_slice(&[0x00, 0x01]);
        assert!(sync::Message::decode(&bad).is_ok(), "automerge takes it");
        assert_eq!(
            message(&bad).unwrap_err(),
            ChunkError::Trailing {
                bytes: 2,
                after: "the sync message"
            }
        );
        assert!(message(&bytes[..bytes.len() - 1]).is_err());
        assert!(matches!(message(&[0x42, 1]), Err(ChunkError::Message(_))));
    }

    /// Two documents with their own histories synced to each other: every message either side
    /// generates (with and without flags, haves, needs, changes, whole documents) is taken
    /// whole, and every chunk in it verifies.
    fn sync_both_ways(a: &mut AutoCommit, b: &mut AutoCommit) -> usize {
        /// One message from `from` to `to`, checked; the number of chunks it carried.
        fn send(
            from: &mut AutoCommit,
            to: &mut AutoCommit,
            from_state: &mut sync::State,
            to_state: &mut sync::State,
        ) -> Option<usize> {
            let m = from.sync().generate_sync_message(from_state)?;
            let mut without_flags = m.clone();
            without_flags.flags = None;
            let mut chunks = 0;
            for encoded in [m.clone().encode(), without_flags.encode()] {
                let decoded = message(&encoded).unwrap();
                verify(decoded.changes.iter()).unwrap();
                chunks = decoded.changes.len();
            }
            to.sync().receive_sync_message(to_state, m).unwrap();
            Some(chunks)
        }
        let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
        let mut seen = 0;
        for _ in 0..20 {
            let there = send(a, b, &mut sa, &mut sb);
            let back = send(b, a, &mut sb, &mut sa);
            if there.is_none() && back.is_none() {
                break;
            }
            seen += there.unwrap_or(0) + back.unwrap_or(0);
        }
        assert_eq!(a.get_heads(), b.get_heads());
        seen
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// What automerge writes is accepted: changes compressed or not, documents and bundles
        /// with compressed columns, sync messages of every shape.
        #[test]
        fn accepts_what_automerge_writes(seed in any::<u64>(), text in "\\PC{0,700}") {
            let mut d = long_document(seed);
            d.put(ROOT, "text", text.as_str()).unwrap();
            d.commit();
            for mut c in d.get_changes(&[]) {
                let raw = c.raw_bytes().to_vec();
                let compressed = c.bytes().to_vec();
                prop_assert!(verify([raw.as_slice(), compressed.as_slice()]).is_ok());
            }
            let saved = d.save();
            prop_assert!(verify([saved.as_slice()]).is_ok());
            let hashes: Vec<_> = d.get_changes(&[]).iter().map(|c| c.hash()).collect();
            let bundle = d.bundle(hashes).unwrap().bytes().to_vec();
            prop_assert!(verify([bundle.as_slice()]).is_ok());
            let mut other = long_document(seed.rotate_left(17));
            prop_assert!(sync_both_ways(&mut d, &mut other) > 0);
            let mut fresh = AutoCommit::new();
            prop_assert!(sync_both_ways(&mut fresh, &mut d) > 0);
        }

        #[test]
        fn garbage_never_panics_either_in_a_message(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = message(&bytes);
            let _ = deflate::stream_len(&bytes);
        }
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = verify([bytes.as_slice()]);
        }
    }
}
