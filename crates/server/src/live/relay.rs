//! Several nodes on one PostgreSQL: this node's ear on the others (`store::Cluster`).
//!
//! One task listens on the database's notification channels. A chunk another node committed
//! is handed to this node's room for that document, if one is loaded, which reads it back from
//! the database and syncs its peers (so what it broadcasts is what is stored). Presence is
//! relayed as it is (transient, never stored). An access event
//! another node published is given to this node's connections as if it had happened here. If
//! the listening connection drops, notices may have been missed: every loaded room re-reads
//! and every connection rechecks.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use domain::DocumentId;
use store::Heard;

use super::{Affected, Hub, LiveEvent, RoomMsg};

/// How old a peer-id claim must be for a starting node to forget it.
const STALE_CLAIMS_MS: domain::Millis = 24 * 3600 * 1000;

/// A presence (`ephemeral`) message on its way to the other nodes.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Presence {
    document: String,
    sender_id: String,
    count: u64,
    session_id: String,
    /// The message's bytes, base64.
    data: String,
}

/// Sends a peer's presence message to the other nodes (best effort, like presence itself: a
/// message too large for a notice, or a failed send, is logged and dropped).
pub(crate) async fn publish_presence(
    hub: &Hub,
    document: DocumentId,
    sender_id: &str,
    count: u64,
    session_id: &str,
    data: &[u8],
) {
    let Some(cluster) = hub.store.cluster() else {
        return;
    };
    let presence = Presence {
        document: document.to_string(),
        sender_id: sender_id.to_owned(),
        count,
        session_id: session_id.to_owned(),
        data: base64::engine::general_purpose::STANDARD.encode(data),
    };
    let Ok(json) = serde_json::to_string(&presence) else {
        return;
    };
    if let Err(e) = cluster.publish_presence(&json).await {
        tracing::debug!(error = %e, "presence not sent to the other nodes");
    }
}

/// Hands another node's presence message to this node's room for the document, if loaded.
fn presence_heard(hub: &Hub, json: &str) {
    let Ok(p) = serde_json::from_str::<Presence>(json) else {
        tracing::warn!("unreadable presence message from another node");
        return;
    };
    let (Ok(doc), Ok(data)) = (
        DocumentId::parse_url_or_id(&p.document),
        base64::engine::general_purpose::STANDARD.decode(&p.data),
    ) else {
        return;
    };
    hub.to_loaded_room(
        doc,
        RoomMsg::Input(Box::new(sync::Input::RemoteEphemeral {
            sender_id: p.sender_id,
            count: p.count,
            session_id: p.session_id,
            data,
        })),
    );
}

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
    // Claims a killed node never released: a day is far beyond any connection's life between
    // reconnects (a reconnect claims afresh).
    let now = store::now_millis();
    match cluster.forget_stale(now - STALE_CLAIMS_MS, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(claims = n, "forgot peer-id claims left by stopped nodes"),
        Err(e) => tracing::warn!(error = %e, "stale peer-id claims not forgotten"),
    }
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
            Heard::Presence(json) => presence_heard(&hub, &json),
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
