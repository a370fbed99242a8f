//! A protocol-level client: one websocket, the join handshake, and automerge replicas synced
//! over it. Deliberately plain (no reconnects, no storage) so its own cost stays small and
//! measurable.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use automerge::sync::{self as am_sync, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ROOT, ReadDoc};
use futures_util::{SinkExt, StreamExt};
use sync::codec::{self, Message};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The field the writer counts in: an SLA's `specification`.
const SEQ_KEY: &str = "specification";

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug)]
pub struct Peer {
    pub ws: Socket,
    pub peer_id: String,
    pub server: String,
}

/// A random peer or document id.
pub fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("random bytes");
    b
}

/// A new automerge-repo document id (16 random bytes, base58check).
pub fn new_document_id() -> String {
    bs58::encode(random_bytes()).with_check().into_string()
}

impl Peer {
    /// Opens the websocket and completes `join` → `peer`.
    pub async fn connect(url: &str) -> Result<Peer> {
        // Small read buffer: the load generator holds thousands of these.
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .max_message_size(Some(64 << 20));
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .context("websocket connect")?;
        let peer_id = format!("bench-{}", bs58::encode(random_bytes()).into_string());
        let mut p = Peer {
            ws,
            peer_id,
            server: String::new(),
        };
        p.send(&Message::Join {
            sender_id: p.peer_id.clone(),
            supported_protocol_versions: vec!["1".into()],
            peer_metadata: None,
        })
        .await?;
        match p.recv().await? {
            Some(Message::Peer { sender_id, .. }) => p.server = sender_id,
            other => bail!("expected peer, got {other:?}"),
        }
        Ok(p)
    }

    pub async fn send(&mut self, m: &Message) -> Result<()> {
        self.ws
            .send(Ws::Binary(codec::encode(m).into()))
            .await
            .context("send")
    }

    /// The next protocol message; `None` when the server closed the connection.
    pub async fn recv(&mut self) -> Result<Option<Message>> {
        loop {
            match self.ws.next().await {
                None | Some(Ok(Ws::Close(_))) => return Ok(None),
                Some(Err(e)) => return Err(e).context("receive"),
                Some(Ok(Ws::Binary(b))) => {
                    return Ok(Some(codec::decode(&b).context("server frame decodes")?));
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn recv_within(&mut self, wait: Duration) -> Result<Option<Message>> {
        match tokio::time::timeout(wait, self.recv()).await {
            Ok(r) => r,
            Err(_) => bail!("no message within {wait:?}"),
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// One document as a client holds it.
#[derive(Debug)]
pub struct Replica {
    pub doc: Automerge,
    pub state: am_sync::State,
    pub id: String,
}

impl Replica {
    pub fn new(id: &str) -> Replica {
        Replica {
            doc: Automerge::new(),
            state: am_sync::State::new(),
            id: id.to_owned(),
        }
    }

    /// This replica's next sync message, if it has anything to say. `request` asks for a
    /// document the client does not have yet.
    pub fn outgoing(&mut self, peer: &Peer, request: bool) -> Option<Message> {
        let m = self.doc.generate_sync_message(&mut self.state)?;
        let (sender_id, target_id, document_id, data) = (
            peer.peer_id.clone(),
            peer.server.clone(),
            self.id.clone(),
            m.encode(),
        );
        Some(if request {
            Message::Request {
                sender_id,
                target_id,
                document_id,
                data,
            }
        } else {
            Message::Sync {
                sender_id,
                target_id,
                document_id,
                data,
            }
        })
    }

    pub fn receive(&mut self, data: &[u8]) -> Result<()> {
        let m = am_sync::Message::decode(data).context("sync message decodes")?;
        self.doc
            .receive_sync_message(&mut self.state, m)
            .context("sync message applies")
    }

    /// The sequence number the writer last wrote (an SLA's `specification`, a field of its
    /// schema: Concordat refuses keys outside it).
    pub fn seq(&self) -> u64 {
        match self.doc.get(ROOT, SEQ_KEY) {
            Ok(Some((automerge::Value::Scalar(s), _))) => match s.as_ref() {
                automerge::ScalarValue::Str(n) => n.parse().unwrap_or(0),
                automerge::ScalarValue::Uint(n) => *n,
                automerge::ScalarValue::Int(n) => u64::try_from(*n).unwrap_or(0),
                _ => 0,
            },
            _ => 0,
        }
    }

    /// One writer edit: sets the sequence number.
    pub fn edit(&mut self, n: u64) {
        let mut tx = self.doc.transaction();
        tx.put(ROOT, SEQ_KEY, n.to_string()).expect("put");
        tx.commit();
    }

    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// True when the server has told us it holds everything we hold.
    pub fn server_has_all(&self) -> bool {
        self.state.their_heads.as_deref() == Some(&self.doc.get_heads()[..])
    }
}

/// Sends the replica's message if any.
pub async fn push(peer: &mut Peer, r: &mut Replica, request: bool) -> Result<()> {
    if let Some(m) = r.outgoing(peer, request) {
        peer.send(&m).await?;
    }
    Ok(())
}

/// Exchanges sync messages until `done(replica)` holds; fails on close, `doc-unavailable`
/// (after `retries_unavailable` re-requests) or an error message.
pub async fn sync_until(
    peer: &mut Peer,
    r: &mut Replica,
    request: bool,
    deadline: Duration,
    done: impl Fn(&Replica) -> bool,
) -> Result<()> {
    let end = tokio::time::Instant::now() + deadline;
    push(peer, r, request).await?;
    let mut retries = 0;
    while !done(r) {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            bail!("not in sync within {deadline:?}");
        }
        match peer.recv_within(left).await? {
            None => bail!("server closed the connection"),
            Some(Message::Sync {
                data, document_id, ..
            }) if document_id == r.id => {
                r.receive(&data)?;
                push(peer, r, false).await?;
            }
            Some(Message::DocUnavailable { .. }) if retries < 50 => {
                // Peers that learn documents by sync: the writer's may not have landed yet.
                retries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                r.state = am_sync::State::new();
                push(peer, r, true).await?;
            }
            Some(Message::Error { message, .. }) => bail!("server error: {message}"),
            Some(m @ Message::DocUnavailable { .. }) => bail!("unavailable: {m:?}"),
            Some(_) => {}
        }
    }
    Ok(())
}
