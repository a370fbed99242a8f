//! Checking a workbook's zip archive before anything parses it.
//!
//! An XLSX file is a zip archive of XML files, and zip compresses repetitive text about a
//! thousand to one: a 262 KB upload holding one huge shared string expands to a 268 MB cell
//! and gigabytes of memory once a spreadsheet reader has parsed it. So before a workbook is
//! handed to calamine, [`check_archive`] looks at every entry of the archive against
//! [`ArchiveLimits`]: how many entries there are, how large each one and all of them say they
//! are when expanded, and how far each one expands. It then inflates every entry into
//! nothing, reading at most what the entry declared plus one byte, so an archive that lies
//! about its sizes is refused too. Nothing is kept: memory stays at a few buffers whatever
//! the archive holds, and the time is bounded by the limits.

use std::io::{self, Cursor, Read};

use zip::ZipArchive;

use super::table::ImportError;

/// How large a workbook's zip archive may be once expanded, checked by [`check_archive`]
/// before the workbook is parsed. Part of [`Limits`](super::Limits) as its `archive` field.
///
/// The defaults suit the server's 10 MiB upload limit: a genuine register workbook expands
/// ten to twenty times and holds a dozen or so entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Most entries (files and folders) the archive may hold. Default 10 000.
    pub max_entries: usize,
    /// Most bytes all entries together may expand to. Default 200 MiB.
    pub max_uncompressed_bytes: u64,
    /// Most bytes any one entry may expand to. Default 100 MiB.
    pub max_entry_bytes: u64,
    /// Most an entry may expand, as uncompressed bytes over compressed bytes. Default 100.
    pub max_ratio: u32,
    /// Entries that expand to at most this many bytes are not held to `max_ratio`: a small
    /// entry does no harm however well it compresses (a cell of ten thousand spaces compresses
    /// several hundred to one), and `max_uncompressed_bytes` bounds how many of them add up.
    /// Default 1 MiB.
    pub ratio_grace_bytes: u64,
}

const MIB: u64 = 1024 * 1024;

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_entries: 10_000,
            max_uncompressed_bytes: 200 * MIB,
            max_entry_bytes: 100 * MIB,
            max_ratio: 100,
            ratio_grace_bytes: MIB,
        }
    }
}

/// Why a workbook's archive was refused: which limit, and what the archive holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("it holds {found} entries; the limit is {limit} (max_entries)")]
    TooManyEntries { found: usize, limit: usize },
    #[error(
        "its entry {entry:?} expands to {bytes} bytes; the limit for one entry is {limit} bytes \
         (max_entry_bytes)"
    )]
    EntryTooLarge {
        entry: String,
        bytes: u64,
        limit: u64,
    },
    #[error(
        "its entries expand to {bytes} bytes in all; the limit is {limit} bytes \
         (max_uncompressed_bytes)"
    )]
    TotalTooLarge { bytes: u64, limit: u64 },
    #[error(
        "its entry {entry:?} expands {} to 1 ({uncompressed} bytes from {compressed}); the \
         compression ratio limit is {limit} to 1 (max_ratio)",
        ratio(*uncompressed, *compressed)
    )]
    Ratio {
        entry: String,
        uncompressed: u64,
        compressed: u64,
        limit: u32,
    },
    #[error("its entry {entry:?} holds more than the {declared} bytes it declares")]
    Undeclared { entry: String, declared: u64 },
}

/// Uncompressed over compressed, rounded down (an empty compressed entry counts as one byte).
fn ratio(uncompressed: u64, compressed: u64) -> u64 {
    uncompressed / compressed.max(1)
}

/// What [`check_archive`] found in an archive it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveStats {
    pub entries: usize,
    /// All entries expanded, as read (not as declared).
    pub uncompressed_bytes: u64,
    pub compressed_bytes: u64,
    /// The largest entry, expanded.
    pub largest_entry_bytes: u64,
    /// The highest ratio of any entry, rounded down.
    pub highest_ratio: u64,
}

/// Entry names come from the upload: quoted in messages, and cut short.
fn entry_name(raw: &[u8]) -> String {
    const MAX: usize = 100;
    let name = String::from_utf8_lossy(raw);
    match name.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &name[..at]),
        None => name.into_owned(),
    }
}

/// Checks a workbook's zip archive against `limits` without keeping anything it expands.
///
/// First the archive's own account of itself (the entry count, and each entry's declared
/// sizes) is checked, so most bombs are refused without inflating a byte; then each entry is
/// inflated into nothing through a reader that stops one byte past what the entry declared,
/// so an entry that holds more than it says is refused as well. Bytes that are not a zip
/// archive at all are [`ImportError::Xlsx`]; an archive past a limit is
/// [`ImportError::Archive`], naming the limit and what was found.
pub fn check_archive(bytes: &[u8], limits: &ArchiveLimits) -> Result<ArchiveStats, ImportError> {
    let unreadable = |e: &dyn std::fmt::Display| ImportError::Xlsx(e.to_string());
    // Reading the central directory allocates in proportion to the upload (each entry takes
    // at least 46 bytes of it), not to what the archive claims.
    let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let entries = zip.len();
    if entries > limits.max_entries {
        return Err(ImportError::Archive(ArchiveError::TooManyEntries {
            found: entries,
            limit: limits.max_entries,
        }));
    }
    // What the archive declares.
    let mut total: u64 = 0;
    for i in 0..entries {
        let entry = zip.by_index_data(i).map_err(|e| unreadable(&e))?;
        let (name, size) = (entry.name_raw(), entry.size());
        entry_within(limits, || entry_name(name), size, entry.compressed_size())?;
        total = total.saturating_add(size);
    }
    total_within(limits, total)?;
    // What it holds. Everything declared is within the limits now, so reading each entry up to
    // what it declared (plus a byte, to notice more) stays within them too.
    let mut stats = ArchiveStats {
        entries,
        uncompressed_bytes: 0,
        compressed_bytes: 0,
        largest_entry_bytes: 0,
        highest_ratio: 0,
    };
    for i in 0..entries {
        let mut entry = zip.by_index(i).map_err(|e| unreadable(&e))?;
        let name = entry_name(entry.name_raw());
        let declared = entry.size();
        let compressed = entry.compressed_size();
        let read = io::copy(
            &mut (&mut entry).take(declared.saturating_add(1)),
            &mut io::sink(),
        )
        .map_err(|e| ImportError::Xlsx(format!("entry {name:?}: {e}")))?;
        if read > declared {
            return Err(ImportError::Archive(ArchiveError::Undeclared {
                entry: name,
                declared,
            }));
        }
        entry_within(limits, || name.clone(), read, compressed)?;
        stats.uncompressed_bytes = stats.uncompressed_bytes.saturating_add(read);
        total_within(limits, stats.uncompressed_bytes)?;
        stats.compressed_bytes = stats.compressed_bytes.saturating_add(compressed);
        stats.largest_entry_bytes = stats.largest_entry_bytes.max(read);
        stats.highest_ratio = stats.highest_ratio.max(ratio(read, compressed));
    }
    Ok(stats)
}

/// One entry's expanded size and ratio against the limits; `name` is only made for a message.
fn entry_within(
    limits: &ArchiveLimits,
    name: impl FnOnce() -> String,
    uncompressed: u64,
    compressed: u64,
) -> Result<(), ImportError> {
    if uncompressed > limits.max_entry_bytes {
        return Err(ImportError::Archive(ArchiveError::EntryTooLarge {
            entry: name(),
            bytes: uncompressed,
            limit: limits.max_entry_bytes,
        }));
    }
    if uncompressed > limits.ratio_grace_bytes
        && uncompressed > compressed.saturating_mul(u64::from(limits.max_ratio))
    {
        return Err(ImportError::Archive(ArchiveError::Ratio {
            entry: name(),
            uncompressed,
            compressed,
            limit: limits.max_ratio,
        }));
    }
    Ok(())
}

fn total_within(limits: &ArchiveLimits, total: u64) -> Result<(), ImportError> {
    if total > limits.max_uncompressed_bytes {
        return Err(ImportError::Archive(ArchiveError::TotalTooLarge {
            bytes: total,
            limit: limits.max_uncompressed_bytes,
        }));
    }
    Ok(())
}
