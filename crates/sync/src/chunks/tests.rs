//! The chunk and message checks against what automerge itself writes, and against bytes
//! crafted to slip past its parsers.

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
                let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
                let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
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
            (hh, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
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

proptest! {
    /// A saved document's header names exactly its heads, however many actors and branches it
    /// has; anything but one document chunk names none.
    #[test]
    fn document_heads_are_the_saved_documents_heads(
        edits in proptest::collection::vec((0_u8..4, 0_u8..3), 0..40),
    ) {
        let mut base = AutoCommit::new();
        base.put(ROOT, "start", 0).unwrap();
        let mut replicas: Vec<AutoCommit> = (0..4)
            .map(|i| base.fork().with_actor(automerge::ActorId::from(vec![i + 1; 16])))
            .collect();
        for (who, what) in edits {
            let r = &mut replicas[who as usize];
            match what {
                0 => { r.put(ROOT, format!("k{who}"), i64::from(what)).unwrap(); r.commit(); }
                1 => { let _ = r.get_heads(); r.put(ROOT, "shared", i64::from(who)).unwrap(); r.commit(); }
                _ => {
                    // Merge a neighbour: branches join.
                    let mut other = replicas[(who as usize + 1) % 4].fork();
                    replicas[who as usize].merge(&mut other).unwrap();
                }
            }
        }
        let mut all = replicas.pop().unwrap();
        for mut r in replicas {
            if r.get_heads().len().is_multiple_of(2) {
                all.merge(&mut r).unwrap();
            }
        }
        let saved = all.save();
        let mut heads = all.get_heads();
        heads.sort_unstable();
        prop_assert_eq!(document_heads(&saved), Some(heads));
        let change = all.get_changes(&[]).last().map(|c| c.raw_bytes().to_vec()).unwrap();
        prop_assert_eq!(document_heads(&change), None);
        let mut twice = saved.clone();
        twice.extend_from_slice(&change);
        prop_assert_eq!(document_heads(&twice), None);
        prop_assert_eq!(document_heads(&saved[..saved.len() - 1]), None);
    }
}
