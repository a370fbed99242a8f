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
/// What a replica's document holds, and so what one writer edit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Any document: an edit sets the SLA's `specification` to the edit's number.
    Plain,
    /// A risk register: an edit records a new assessment of one of its risks and sets the
    /// first risk's review frequency to the edit's number (two items of two lists touched).
    Register,
    /// An SLA: an edit records a new monthly measurement of one of its KPIs and sets the
    /// `specification` to the edit's number.
    Sla,
}

#[derive(Debug)]
pub struct Replica {
    pub doc: Automerge,
    pub state: am_sync::State,
    pub id: String,
    pub shape: Shape,
    /// When the last sync frame was handed to this replica, before it applied it: the
    /// scenarios report arrival beside "has it" to separate the server's part from the
    /// client's own automerge work on the same cores.
    pub arrived: Option<std::time::Instant>,
}

impl Replica {
    pub fn new(id: &str) -> Replica {
        Replica::shaped(id, Shape::Plain)
    }

    pub fn shaped(id: &str, shape: Shape) -> Replica {
        Replica {
            doc: Automerge::new(),
            state: am_sync::State::new(),
            id: id.to_owned(),
            shape,
            arrived: None,
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
        self.arrived = Some(std::time::Instant::now());
        let m = am_sync::Message::decode(data).context("sync message decodes")?;
        self.doc
            .receive_sync_message(&mut self.state, m)
            .context("sync message applies")
    }

    /// The sequence number the writer last wrote (in a field of the document's schema:
    /// Concordat refuses keys outside it).
    pub fn seq(&self) -> u64 {
        let (obj, key) = match self.shape {
            Shape::Plain | Shape::Sla => (ROOT, SEQ_KEY),
            Shape::Register => match self.item("risks", 0) {
                Some(first) => (first, "reviewFrequencyDays"),
                None => return 0,
            },
        };
        match self.doc.get(obj, key) {
            Ok(Some((automerge::Value::Scalar(s), _))) => match s.as_ref() {
                automerge::ScalarValue::Str(n) => n.parse().unwrap_or(0),
                automerge::ScalarValue::Uint(n) => *n,
                automerge::ScalarValue::Int(n) => u64::try_from(*n).unwrap_or(0),
                _ => 0,
            },
            _ => 0,
        }
    }

    /// One writer edit (see [`Shape`]).
    pub fn edit(&mut self, n: u64) {
        match self.shape {
            Shape::Plain => {
                let mut tx = self.doc.transaction();
                tx.put(ROOT, SEQ_KEY, n.to_string()).expect("put");
                tx.commit();
            }
            Shape::Register => {
                let all = self.list("risks");
                let risks = self.doc.length(&all).max(1) as u64;
                let risk = self.item("risks", (n % risks) as usize).expect("a risk");
                let risk_id = self.text(&risk, "id");
                let first = self.item("risks", 0).expect("a risk");
                let list = self.list("assessments");
                let mut tx = self.doc.transaction();
                let end = tx.length(&list);
                let a = crate::content::assessment(&format!("bench-{n}"), &risk_id, n);
                crate::content::insert(&mut tx, &list, end, &a);
                tx.put(&first, "reviewFrequencyDays", n as i64)
                    .expect("put");
                tx.commit();
            }
            Shape::Sla => {
                let all = self.list("kpis");
                let kpis = self.doc.length(&all).max(1) as u64;
                let kpi = self.item("kpis", (n % kpis) as usize).expect("a KPI");
                let kpi_id = self.text(&kpi, "id");
                let list = self.list("measurements");
                let mut tx = self.doc.transaction();
                let end = tx.length(&list);
                // Far beyond the history's months: (KPI, period) stays unique.
                let month = n / kpis;
                let period = format!("{}-{:02}", 2100 + month / 12, month % 12 + 1);
                let m = crate::content::measurement(&format!("bench-{n}"), &kpi_id, &period);
                crate::content::insert(&mut tx, &list, end, &m);
                tx.put(ROOT, SEQ_KEY, n.to_string()).expect("put");
                tx.commit();
            }
        }
    }

    /// The top-level list `key` (made if missing: the peers start from nothing).
    pub fn list(&mut self, key: &str) -> automerge::ObjId {
        if let Ok(Some((automerge::Value::Object(automerge::ObjType::List), o))) =
            self.doc.get(ROOT, key)
        {
            return o;
        }
        let mut tx = self.doc.transaction();
        let o = tx
            .put_object(ROOT, key, automerge::ObjType::List)
            .expect("put");
        tx.commit();
        o
    }

    fn item(&self, key: &str, i: usize) -> Option<automerge::ObjId> {
        let (_, list) = self.doc.get(ROOT, key).ok()??;
        self.doc.get(&list, i).ok()?.map(|(_, o)| o)
    }

    fn text(&self, obj: &automerge::ObjId, key: &str) -> String {
        match self.doc.get(obj, key) {
            Ok(Some((automerge::Value::Scalar(s), _))) => s.as_str().unwrap_or("").to_owned(),
            Ok(Some((automerge::Value::Object(_), t))) => self.doc.text(&t).unwrap_or_default(),
            _ => String::new(),
        }
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
