//! What refusing a zip bomb costs, printed rather than asserted (run with `--nocapture`).
//!
//! Alone in its test binary, so nothing else runs while the process's peak memory is read.
//! Peak memory is the kernel's high-water mark of resident memory (`VmHWM` in
//! `/proc/self/status`), reset before each measurement through `/proc/self/clear_refs` where
//! Linux allows it; elsewhere nothing is printed for memory.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod fixture;

use std::time::{Duration, Instant};

use exchange::import::{ArchiveError, ArchiveLimits, Format, ImportError, Limits, read_table};

/// Resident and peak resident memory in KiB, when the platform says.
fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Runs `f`, giving its time and how far it raised peak memory above what was resident
/// before, in MiB.
fn measure<T>(f: impl FnOnce() -> T) -> (T, Duration, Option<f64>) {
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = memory();
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    let peak = match (reset, before, memory()) {
        (true, Some((rss, _)), Some((_, hwm))) => Some(hwm.saturating_sub(rss) as f64 / 1024.0),
        _ => None,
    };
    (out, took, peak)
}

fn shown(peak: Option<f64>) -> String {
    peak.map_or_else(|| "not measured".to_owned(), |m| format!("+{m:.1} MiB"))
}

#[test]
fn refusing_a_bomb_costs_little_memory_and_time() {
    let bombs: Vec<(usize, Vec<u8>)> = [5_000_000, 50_000_000]
        .into_iter()
        .map(|n| (n, fixture::shared_string_bomb(n)))
        .collect();
    for (chars, bomb) in &bombs {
        let (refused, took, peak) =
            measure(|| read_table(bomb, Format::Xlsx, None, Limits::default()));
        assert!(matches!(
            refused,
            Err(ImportError::Archive(ArchiveError::Ratio { .. }))
        ));
        println!(
            "refused: {} KiB upload, one {chars}-character cell: {took:?}, peak memory {}",
            bomb.len() / 1024,
            shown(peak)
        );
    }
    // For comparison, what the bombs cost once they reach calamine (archive limits lifted;
    // the cell text limit still refuses their row).
    let lifted = Limits {
        archive: ArchiveLimits {
            max_ratio: u32::MAX,
            ..Default::default()
        },
        ..Default::default()
    };
    for (chars, bomb) in &bombs {
        let (table, took, peak) = measure(|| read_table(bomb, Format::Xlsx, None, lifted));
        assert!(table.is_ok());
        println!(
            "parsed with the archive limits lifted: {} KiB upload, one {chars}-character cell: \
             {took:?}, peak memory {}",
            bomb.len() / 1024,
            shown(peak)
        );
    }
}
