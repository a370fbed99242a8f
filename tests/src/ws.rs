//! A protocol-level sync client over a real websocket, with an automerge replica, for tests.

use std::time::Duration;

use automerge::sync::{self as am_sync, SyncDoc};
use automerge::{AutoCommit, ReadDoc};
use futures_util::{SinkExt, StreamExt};
use sync::codec::{self, Message};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::TestServer;

/// What the server said last: a message, or the close it sent (code, reason).
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    Msg(Message),
    Closed(Option<u16>, String),
    Silence,
}

#[derive(Debug)]
pub struct SyncClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub peer_id: String,
    pub server_peer: String,
}

/// A ticketed websocket URL for the token's user.
pub async fn ticket_url(server: &TestServer, token: &str) -> String {
    let (status, body) = server
        .post("/api/sync/ticket", token, serde_json::json!({}))
        .await;
    assert_eq!(status, crate::StatusCode::OK, "{body}");
    body["url"].as_str().expect("url").to_owned()
}

impl SyncClient {
    /// Opens a websocket without joining.
    pub async fn open(
        url: &str,
    ) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, tokio_tungstenite::tungstenite::Error>
    {
        tokio_tungstenite::connect_async(url)
            .await
            .map(|(ws, _)| ws)
    }

    /// Wraps an open websocket that has not joined yet.
    pub fn from_ws(ws: WebSocketStream<MaybeTlsStream<TcpStream>>, peer_id: &str) -> SyncClient {
        SyncClient {
            ws,
            peer_id: peer_id.to_owned(),
            server_peer: String::new(),
        }
    }

    /// Connects as the token's user and completes the join handshake.
    pub async fn connect(server: &TestServer, token: &str, peer_id: &str) -> SyncClient {
        let url = ticket_url(server, token).await;
        let ws = Self::open(&url).await.expect("websocket opens");
        let mut c = SyncClient {
            ws,
            peer_id: peer_id.to_owned(),
            server_peer: String::new(),
        };
        c.send(&Message::Join {
            sender_id: peer_id.to_owned(),
            supported_protocol_versions: vec!["1".into()],
            peer_metadata: None,
        })
        .await;
        match c.recv().await {
            Heard::Msg(Message::Peer {
                sender_id,
                selected_protocol_version,
                ..
            }) => {
                assert_eq!(selected_protocol_version, "1");
                c.server_peer = sender_id;
            }
            other => panic!("expected peer, got {other:?}"),
        }
        c
    }

    /// Sends one message; false if the connection is gone (a later `recv` reports the close).
    pub async fn send(&mut self, msg: &Message) -> bool {
        self.ws
            .send(Ws::Binary(codec::encode(msg).into()))
            .await
            .is_ok()
    }

    pub async fn send_raw(&mut self, frame: Ws) {
        let _ = self.ws.send(frame).await;
    }

    /// The next message or close, waiting up to two seconds.
    pub async fn recv(&mut self) -> Heard {
        self.recv_within(Duration::from_secs(2)).await
    }

    pub async fn recv_within(&mut self, wait: Duration) -> Heard {
        loop {
            match tokio::time::timeout(wait, self.ws.next()).await {
                Err(_) => return Heard::Silence,
                Ok(None) => return Heard::Closed(None, String::new()),
                Ok(Some(Err(e))) => return Heard::Closed(None, e.to_string()),
                Ok(Some(Ok(Ws::Binary(b)))) => {
                    return Heard::Msg(codec::decode(&b).expect("server frames decode"));
                }
                Ok(Some(Ok(Ws::Close(frame)))) => {
                    return Heard::Closed(
                        frame.as_ref().map(|f| u16::from(f.code)),
                        frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    );
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Waits for the connection to close, skipping messages; returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        self.closed_within(Duration::from_secs(2)).await
    }

    /// Like [`Self::closed`], allowing up to `wait` of silence.
    pub async fn closed_within(&mut self, wait: Duration) -> Option<u16> {
        for _ in 0..10_000 {
            match self.recv_within(wait).await {
                Heard::Closed(code, _) => return code,
                Heard::Silence => return None,
                Heard::Msg(_) => continue,
            }
        }
        None
    }
}

/// A client-side automerge replica of one document.
#[derive(Debug)]
pub struct Replica {
    pub doc: AutoCommit,
    pub state: am_sync::State,
    pub document_id: String,
}

impl Replica {
    pub fn new(document_id: &str) -> Replica {
        Replica {
            doc: AutoCommit::new(),
            state: am_sync::State::new(),
            document_id: document_id.to_owned(),
        }
    }

    /// Sends this replica's next sync message, as a `request` if it has nothing yet.
    pub async fn push(&mut self, c: &mut SyncClient, request: bool) -> bool {
        let Some(m) = self.doc.sync().generate_sync_message(&mut self.state) else {
            return false;
        };
        let data = m.encode();
        let msg = if request {
            Message::Request {
                sender_id: c.peer_id.clone(),
                target_id: c.server_peer.clone(),
                document_id: self.document_id.clone(),
                data,
            }
        } else {
            Message::Sync {
                sender_id: c.peer_id.clone(),
                target_id: c.server_peer.clone(),
                document_id: self.document_id.clone(),
                data,
            }
        };
        c.send(&msg).await
    }

    /// Exchanges sync messages until the server is quiet for 300 ms. Returns every non-sync
    /// message heard (errors, unavailability, presence) and the close, if any.
    pub async fn settle(&mut self, c: &mut SyncClient) -> Vec<Heard> {
        self.settle_within(c, Duration::from_millis(300)).await
    }

    /// As [`Replica::settle`], with the quiet period given.
    /// Quiet is not enough on a loaded machine (a commit can take longer than the quiet
    /// period): unless something else was heard (a refusal), it also waits, up to 10 s, until
    /// the server has said it holds every change this replica has.
    pub async fn settle_within(&mut self, c: &mut SyncClient, quiet: Duration) -> Vec<Heard> {
        let mut other = Vec::new();
        let first = self.doc.get_heads().is_empty();
        let patience = tokio::time::Instant::now() + Duration::from_secs(10);
        self.push(c, first).await;
        loop {
            match c.recv_within(quiet).await {
                Heard::Msg(Message::Sync {
                    data, document_id, ..
                }) if document_id == self.document_id => {
                    let m = am_sync::Message::decode(&data).expect("server sync message decodes");
                    self.doc
                        .sync()
                        .receive_sync_message(&mut self.state, m)
                        .expect("applies");
                    self.push(c, false).await;
                }
                Heard::Silence => {
                    let mut ours = self.doc.get_heads();
                    ours.sort();
                    let mut theirs = self.state.their_heads.clone().unwrap_or_default();
                    theirs.sort();
                    let acknowledged = ours.is_empty() || ours == theirs;
                    if !other.is_empty() || acknowledged || tokio::time::Instant::now() >= patience
                    {
                        return other;
                    }
                }
                h @ Heard::Closed(..) => {
                    other.push(h);
                    return other;
                }
                h => other.push(h),
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.doc
            .get(automerge::ROOT, key)
            .ok()
            .flatten()
            .map(|(v, _)| v.to_string())
    }

    /// A register's `index`th risk, as an object id.
    fn risk(&self, index: usize) -> automerge::ObjId {
        let (_, risks) = self
            .doc
            .get(automerge::ROOT, "risks")
            .expect("readable")
            .expect("a register with risks");
        let (_, risk) = self
            .doc
            .get(&risks, index)
            .expect("readable")
            .expect("that risk");
        risk
    }

    /// Sets a text field of a register's `index`th risk: a schema-valid edit of any size.
    pub fn set_risk_text(&mut self, index: usize, field: &str, value: &str) {
        let risk = self.risk(index);
        automerge::transaction::Transactable::put(&mut self.doc, &risk, field, value).expect("put");
    }

    /// A text field of a register's `index`th risk (scalar string or text object).
    pub fn risk_text(&self, index: usize, field: &str) -> Option<String> {
        let risk = self.risk(index);
        match self.doc.get(&risk, field).ok().flatten()? {
            (automerge::Value::Object(automerge::ObjType::Text), id) => self.doc.text(&id).ok(),
            (v, _) => v.as_str().map(str::to_owned),
        }
    }
}
