//! Prometheus metrics, through the `metrics` facade: recorded where things happen, rendered at
//! `/metrics`. The recorder is the process's one global recorder (the facade's design), so
//! several servers in one process — tests — share it; each test binary runs its tests in
//! processes of their own.
//!
//! What a monitoring system needs to see that sync is healthy: open connections, loaded
//! documents, commits (how many, how long, how many failed), refusals by reason. Not per
//! document or per user: labels stay few, and nothing here is tenant data.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Open live-sync connections.
pub const CONNECTIONS: &str = "concordat_sync_connections";
/// Documents loaded in memory (one room each).
pub const DOCUMENTS_LOADED: &str = "concordat_documents_loaded";
/// Durable commits of live changes (one transaction, possibly many documents).
pub const COMMITS: &str = "concordat_commits_total";
/// Documents' changes stored by those commits.
pub const COMMITTED_DOCUMENTS: &str = "concordat_committed_documents_total";
/// Documents' changes storage refused (nothing of them was broadcast).
pub const COMMIT_FAILURES: &str = "concordat_commit_failures_total";
/// How long a commit took, seconds.
pub const COMMIT_SECONDS: &str = "concordat_commit_seconds";
/// From another node's commit to this node's peers being sent it, seconds (several nodes on
/// PostgreSQL; measured against the committing node's clock).
pub const RELAY_SECONDS: &str = "concordat_relay_lag_seconds";
/// Changes refused, by reason (`Refusal::kind`) and path (`sync`: a peer's message; `api`: a
/// change the server made on someone's behalf).
pub const REFUSALS: &str = "concordat_refusals_total";

/// Changes checked against their document's schema, by how: `incremental` (from what the change
/// touched) or `whole` (the whole document: a document's first change after loading, removals,
/// renamed ids, a register's matrix). Many `whole` on a busy server means CPU going to it.
pub const VALIDATIONS: &str = "concordat_validations_total";

/// Rooms that let go of their document while peers stayed connected and quiet, and rooms
/// that loaded it back (`event`: `hibernated`, `woken`).
pub const HIBERNATIONS: &str = "concordat_room_hibernations_total";

/// Rooms opened, by how: `snapshot` (stored as one snapshot of the current schema: opened
/// without loading the document, a peer that has nothing sent the snapshot as it is) or
/// `loaded` (read and loaded into automerge).
pub const ROOM_OPENS: &str = "concordat_room_opens_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use. `None` if another recorder was installed
/// first (then `/metrics` says so rather than serving an empty page).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let commit_buckets = [
                0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ];
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(COMMIT_SECONDS.to_owned()),
                    &commit_buckets,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full(RELAY_SECONDS.to_owned()),
                        &commit_buckets,
                    )
                })
                .and_then(|b| b.install_recorder());
            match installed {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(CONNECTIONS, "Open live-sync connections.");
    describe_gauge!(DOCUMENTS_LOADED, "Documents loaded in memory.");
    describe_counter!(COMMITS, "Durable commits of live changes.");
    describe_counter!(COMMITTED_DOCUMENTS, "Documents' changes stored.");
    describe_counter!(
        COMMIT_FAILURES,
        "Documents' changes storage refused (not broadcast)."
    );
    describe_histogram!(
        COMMIT_SECONDS,
        Unit::Seconds,
        "Time to commit live changes."
    );
    describe_counter!(REFUSALS, "Changes refused, by reason and path.");
    describe_counter!(
        HIBERNATIONS,
        "Rooms that dropped their document while quiet, and that loaded it back."
    );
    describe_counter!(
        ROOM_OPENS,
        "Rooms opened, from a snapshot without loading the document or by loading it."
    );
    describe_counter!(
        VALIDATIONS,
        "Changes checked against their schema, incrementally or whole."
    );
    describe_histogram!(
        RELAY_SECONDS,
        Unit::Seconds,
        "Time from another node's commit to this node's peers being sent it."
    );
}

/// Another node's commit reached this node's peers `lag_ms` after it was committed.
pub fn relayed(lag_ms: domain::Millis) {
    metrics::histogram!(RELAY_SECONDS).record(lag_ms.max(0) as f64 / 1000.0);
}

/// A change refused by a room.
pub fn refused(refusal: &sync::Refusal, path: &'static str) {
    metrics::counter!(REFUSALS, "reason" => refusal.kind(), "path" => path).increment(1);
}

/// A commit of `documents` documents' changes that took `took`; `failed` of them refused.
pub fn committed(documents: usize, failed: usize, took: Duration) {
    metrics::counter!(COMMITS).increment(1);
    metrics::counter!(COMMITTED_DOCUMENTS).increment((documents - failed.min(documents)) as u64);
    if failed > 0 {
        metrics::counter!(COMMIT_FAILURES).increment(failed as u64);
    }
    metrics::histogram!(COMMIT_SECONDS).record(took.as_secs_f64());
}

/// A change checked against its document's schema, from its parts or `whole`.
pub fn validated(whole: bool) {
    let how = if whole { "whole" } else { "incremental" };
    metrics::counter!(VALIDATIONS, "how" => how).increment(1);
}

/// A room opened: from its stored snapshot without loading it (`true`), or by loading it.
pub fn room_opened(from_snapshot: bool) {
    let how = if from_snapshot { "snapshot" } else { "loaded" };
    metrics::counter!(ROOM_OPENS, "how" => how).increment(1);
}

/// A room let go of its document (`true`) or loaded it back.
pub fn hibernation(asleep: bool) {
    let event = if asleep { "hibernated" } else { "woken" };
    metrics::counter!(HIBERNATIONS, "event" => event).increment(1);
}
