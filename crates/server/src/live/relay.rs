//! Several nodes on one PostgreSQL: this node's ear on the others (`store::Cluster`).
//!
//! One task listens on the database's notification channels. A chunk another node committed
//! is handed to this node's room for that document, if one is loaded, which reads it back from
//! the database and syncs its peers (so what it broadcasts is what is stored). An access event
//! another node published is given to this node's connections as if it had happened here. If
//! the listening connection drops, notices may have been missed: every loaded room re-reads
//! and every connection rechecks.

use std::sync::Arc;
use std::time::Duration;

use domain::DocumentId;
use store::Heard;

use super::{Affected, Hub, LiveEvent};

/// Runs until the server shuts down. Does nothing on a database that serves one node.
pub async fn run(hub: Arc<Hub>) {
    let Some(cluster) = hub.store.cluster() else {
        return;
    };
    let mut closing = hub.closing();
    let mut listener = loop {
        match cluster.listen().await {
            Ok(l) => break l,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for other nodes' changes; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = closing.changed() => return,
                }
            }
        }
    };
    tracing::info!(
        origin = cluster.origin(),
        "listening for other nodes' changes"
    );
    loop {
        let heard = tokio::select! {
            h = listener.next() => h,
            _ = closing.changed() => return,
        };
        match heard {
            Heard::Stored(stored) => match DocumentId::parse_url_or_id(&stored.document) {
                Ok(doc) => hub.heard(doc, Some(stored.seq), Some(stored.at)),
                Err(_) => {
                    tracing::warn!(document = %stored.document, "notice for an unknown document id")
                }
            },
            Heard::Event(json) => match serde_json::from_str::<LiveEvent>(&json) {
                Ok(event) => {
                    let _ = hub.events.send(event);
                }
                Err(e) => tracing::warn!(error = %e, "unreadable access event from another node"),
            },
            Heard::Lost => {
                tracing::warn!("notices from other nodes may have been missed: re-reading");
                for doc in hub.loaded_documents() {
                    hub.heard(doc, None, None);
                }
                let _ = hub
                    .events
                    .send(LiveEvent::AccessChanged(Affected::Everyone));
            }
        }
    }
}
