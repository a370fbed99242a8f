//! Hostile workbooks: zip bombs refused before the workbook is parsed, and cells too long to
//! import refused row by row.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod fixture;

use std::time::Instant;

use exchange::import::{
    ArchiveError, ArchiveLimits, Cell, Format, ImportError, Limits, Mapping, Outcome, Preview,
    Table, check_archive, preview, read_table,
};
use fixture::{councils, counter, empty_register, today};

fn run(table: &Table) -> Preview {
    let mut ids = counter();
    preview(
        table,
        &Mapping::guess(table),
        &empty_register(),
        &councils(),
        today(),
        "Risk officer",
        &mut ids,
    )
}

fn problems(p: &Preview, reference: &str) -> Vec<String> {
    match &p
        .rows
        .iter()
        .find(|r| r.reference.as_deref() == Some(reference))
        .unwrap_or_else(|| panic!("no row {reference}"))
        .outcome
    {
        Outcome::Error { problems } => problems.clone(),
        other => panic!("row {reference} is not refused: {other:?}"),
    }
}

/// (a) One shared string of five million letters compresses to a few kilobytes: the ratio
/// limit refuses it before calamine sees it.
#[test]
fn a_highly_compressed_shared_string_is_refused_by_the_ratio_limit_before_parsing() {
    let bomb = fixture::shared_string_bomb(5_000_000);
    let started = Instant::now();
    let refused = read_table(&bomb, Format::Xlsx, None, Limits::default());
    println!(
        "a {}-byte workbook holding a 5 000 000-character cell refused in {:?}",
        bomb.len(),
        started.elapsed()
    );
    let Err(ImportError::Archive(ArchiveError::Ratio {
        entry,
        uncompressed,
        compressed,
        limit,
    })) = &refused
    else {
        panic!("not refused by the ratio limit: {refused:?}");
    };
    assert_eq!(entry, "xl/sharedStrings.xml");
    assert_eq!(*limit, 100);
    assert!(*uncompressed > 5_000_000 && *compressed < 50_000);
    let message = refused.unwrap_err().to_string();
    println!("message: {message}");
    assert!(message.contains("compression ratio limit is 100 to 1 (max_ratio)"));
    assert!(message.contains("\"xl/sharedStrings.xml\""));
    // The same from the check on its own: the refusal comes from the archive, not the parse.
    assert!(matches!(
        check_archive(&bomb, &ArchiveLimits::default()),
        Err(ImportError::Archive(ArchiveError::Ratio { .. }))
    ));
}

/// (b) Ten thousand and a few entries, each empty: refused by count before any is read.
#[test]
fn an_archive_with_too_many_entries_is_refused() {
    let extra: Vec<(String, Vec<u8>)> = (0..10_000)
        .map(|i| (format!("customXml/item{i}.xml"), Vec::new()))
        .collect();
    let xlsx = fixture::small_workbook(&["A risk"]);
    let own = zip::ZipArchive::new(std::io::Cursor::new(&xlsx))
        .unwrap()
        .len();
    let crowded = fixture::rezip(&xlsx, |_, c| c, &extra);
    let refused = read_table(&crowded, Format::Xlsx, None, Limits::default());
    assert_eq!(
        refused,
        Err(ImportError::Archive(ArchiveError::TooManyEntries {
            found: own + 10_000,
            limit: 10_000
        }))
    );
    let message = refused.unwrap_err().to_string();
    println!("message: {message}");
    assert!(message.contains(&format!("holds {} entries", own + 10_000)));
    assert!(message.contains("the limit is 10000 (max_entries)"));
    // A lower configured limit refuses the plain workbook too.
    let few = Limits {
        archive: ArchiveLimits {
            max_entries: own - 1,
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(matches!(
        read_table(&xlsx, Format::Xlsx, None, few),
        Err(ImportError::Archive(ArchiveError::TooManyEntries { .. }))
    ));
}

/// (c) The council-style fixture expands to some tens of kilobytes: a configured total below
/// that refuses it, naming the total found; a configured per-entry limit likewise.
#[test]
fn an_archive_over_the_total_uncompressed_limit_is_refused() {
    let xlsx = fixture::workbook(&fixture::rows());
    let stats = check_archive(&xlsx, &ArchiveLimits::default()).unwrap();
    let total = Limits {
        archive: ArchiveLimits {
            max_uncompressed_bytes: 20_000,
            ..Default::default()
        },
        ..Default::default()
    };
    let refused = read_table(&xlsx, Format::Xlsx, None, total);
    assert_eq!(
        refused,
        Err(ImportError::Archive(ArchiveError::TotalTooLarge {
            bytes: stats.uncompressed_bytes,
            limit: 20_000
        }))
    );
    let message = refused.unwrap_err().to_string();
    println!("message: {message}");
    assert!(message.contains(&format!(
        "expand to {} bytes in all; the limit is 20000 bytes (max_uncompressed_bytes)",
        stats.uncompressed_bytes
    )));

    let entry = Limits {
        archive: ArchiveLimits {
            max_entry_bytes: stats.largest_entry_bytes - 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let refused = read_table(&xlsx, Format::Xlsx, None, entry);
    let Err(ImportError::Archive(ArchiveError::EntryTooLarge { bytes, limit, .. })) = &refused
    else {
        panic!("not refused by the entry limit: {refused:?}");
    };
    assert_eq!(
        (*bytes, *limit),
        (stats.largest_entry_bytes, stats.largest_entry_bytes - 1)
    );
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("(max_entry_bytes)")
    );
}

/// (d) A real workbook is well inside the default limits (the export's own workbooks are read
/// with the default limits in `round_trip.rs`).
#[test]
fn a_normal_workbook_still_imports() {
    let xlsx = fixture::workbook(&fixture::rows());
    let stats = check_archive(&xlsx, &ArchiveLimits::default()).unwrap();
    println!("the fixture: {} bytes, {stats:?}", xlsx.len());
    let table = read_table(&xlsx, Format::Xlsx, None, Limits::default()).unwrap();
    let p = run(&table);
    assert_eq!(
        (p.creates, p.errors, p.ignored, p.skipped_blank),
        (22, 8, 1, 4)
    );
    // Exactly at the limits still imports: they are maxima, not bounds to stay under.
    let exact = Limits {
        archive: ArchiveLimits {
            max_entries: stats.entries,
            max_uncompressed_bytes: stats.uncompressed_bytes,
            max_entry_bytes: stats.largest_entry_bytes,
            max_ratio: u32::try_from(stats.highest_ratio).unwrap() + 1,
            ratio_grace_bytes: 0,
        },
        ..Default::default()
    };
    assert_eq!(read_table(&xlsx, Format::Xlsx, None, exact), Ok(table));
}

/// A cell of exactly the limit imports; one character more refuses its row, naming the
/// column and the limit, while the other rows import. An over-long cell in a column the
/// import ignores refuses nothing.
#[test]
fn a_cell_over_the_text_limit_refuses_its_row() {
    let at = "x".repeat(10_000);
    let over = "y".repeat(10_001);
    let xlsx = fixture::small_workbook(&[&at, &over, "Fine"]);
    let table = read_table(&xlsx, Format::Xlsx, None, Limits::default()).unwrap();
    assert_eq!(
        table.rows[1].get(1),
        &Cell::TooLong {
            chars: 10_001,
            limit: 10_000
        }
    );
    let p = run(&table);
    assert_eq!((p.creates, p.errors), (2, 1));
    assert_eq!(
        problems(&p, "R-2"),
        ["\"Risk title\": holds 10001 characters of text; the limit is 10000 characters per cell"]
    );
    let Outcome::Create { risk, .. } = &p.rows[0].outcome else {
        panic!("R-1 is not created: {:?}", p.rows[0]);
    };
    assert_eq!(risk.title, at);

    // The same from CSV, with the limit configured lower; and in an ignored column.
    let csv = format!(
        "Ref,Risk title,Risk owner,Notes\nR-1,{},Jo,\nR-2,Short,{},\nR-3,Short,Jo,{}\n",
        "a".repeat(51),
        "é".repeat(51),
        "n".repeat(51)
    );
    let fifty = Limits {
        cell_chars: 50,
        ..Default::default()
    };
    let table = read_table(csv.as_bytes(), Format::Csv, None, fifty).unwrap();
    let p = run(&table);
    assert_eq!((p.creates, p.errors), (1, 2));
    assert_eq!(
        problems(&p, "R-1"),
        ["\"Risk title\": holds 51 characters of text; the limit is 50 characters per cell"]
    );
    assert_eq!(
        problems(&p, "R-2"),
        ["\"Risk owner\": holds 51 characters of text; the limit is 50 characters per cell"]
    );
    // Fifty "é" are a hundred bytes but fifty characters: within the limit.
    let csv = format!("Ref,Risk title,Risk owner\nR-1,{},Jo\n", "é".repeat(50));
    let table = read_table(csv.as_bytes(), Format::Csv, None, fifty).unwrap();
    assert_eq!(run(&table).creates, 1);
}

/// A reference too long to read is one problem, not also "a reference is required".
#[test]
fn an_over_long_reference_is_reported_once() {
    let csv = format!("Ref,Risk title,Risk owner\n{},A risk,Jo\n", "R".repeat(11));
    let limits = Limits {
        cell_chars: 10,
        ..Default::default()
    };
    let table = read_table(csv.as_bytes(), Format::Csv, None, limits).unwrap();
    let p = run(&table);
    let Outcome::Error { problems } = &p.rows[0].outcome else {
        panic!("not refused: {:?}", p.rows[0]);
    };
    assert_eq!(
        problems,
        &["\"Ref\": holds 11 characters of text; the limit is 10 characters per cell"]
    );
}

/// With the archive limits lifted, the bomb reaches calamine, and the cell limit still keeps
/// its text out of the preview.
#[test]
fn the_cell_limit_holds_when_the_archive_limits_are_lifted() {
    let bomb = fixture::shared_string_bomb(1_000_000);
    let lifted = Limits {
        archive: ArchiveLimits {
            max_ratio: u32::MAX,
            ..Default::default()
        },
        ..Default::default()
    };
    let table = read_table(&bomb, Format::Xlsx, None, lifted).unwrap();
    assert_eq!(
        table.rows[0].get(1),
        &Cell::TooLong {
            chars: 1_000_000,
            limit: 10_000
        }
    );
    assert_eq!(
        problems(&run(&table), "R-1"),
        [
            "\"Risk title\": holds 1000000 characters of text; the limit is 10000 characters per \
          cell"
        ]
    );
}

/// An entry that holds more than its header declares is refused when it is read, whatever it
/// declared: the check reads at most the declared size and one byte more.
#[test]
fn an_entry_larger_than_it_declares_is_refused() {
    let bomb = fixture::shared_string_bomb(5_000_000);
    // Declare 1 000 bytes for the shared strings, in both the central directory and the local
    // header: small enough to pass every declared-size limit.
    let mut lying = bomb.clone();
    let name = b"xl/sharedStrings.xml";
    let u16_at = |b: &[u8], i: usize| usize::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let mut patched = 0;
    let mut i = 0;
    while i + 46 <= lying.len() {
        if lying[i..i + 4] == *b"PK\x01\x02" {
            let len = u16_at(&lying, i + 28);
            if lying[i + 46..i + 46 + len] == *name {
                let local = u32::from_le_bytes(lying[i + 42..i + 46].try_into().unwrap()) as usize;
                lying[i + 24..i + 28].copy_from_slice(&1_000u32.to_le_bytes());
                lying[local + 22..local + 26].copy_from_slice(&1_000u32.to_le_bytes());
                patched += 1;
            }
        }
        i += 1;
    }
    assert_eq!(patched, 1);
    let refused = check_archive(&lying, &ArchiveLimits::default());
    println!("lying archive: {refused:?}");
    match refused {
        Err(ImportError::Archive(ArchiveError::Undeclared { declared, .. })) => {
            assert_eq!(declared, 1_000)
        }
        // The zip crate stops an entry at its declared size itself.
        Err(ImportError::Xlsx(m)) => assert!(m.contains("xl/sharedStrings.xml"), "{m}"),
        other => panic!("not refused: {other:?}"),
    }
    assert!(read_table(&lying, Format::Xlsx, None, Limits::default()).is_err());
}
