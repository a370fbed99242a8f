//! automerge-repo's websocket protocol, version 1: one binary frame holds one CBOR map.
//!
//! Decoding is lenient, as the JS client needs: long-form CBOR headers, `undefined` or `null`
//! for absent fields, integers written as floats, byte strings wrapped in a typed-array tag.
//! Encoding is canonical: shortest headers, a fixed key order, absent fields left out.
//! Decoding never panics and never allocates more than the input's size (the transport bounds
//! the frame), and a frame with trailing bytes is refused.

use std::collections::BTreeMap;

use ciborium::Value;

/// A peer's id as it names itself (automerge-repo's `PeerId`).
pub type PeerId = String;

/// The only protocol version there is.
pub const PROTOCOL_V1: &str = "1";

/// What a peer says about itself in `join` / `peer`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerMetadata {
    pub storage_id: Option<String>,
    pub is_ephemeral: bool,
}

/// One entry of `remote-heads-changed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteHeads {
    pub heads: Vec<String>,
    pub timestamp: u64,
}

/// Every message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Join {
        sender_id: PeerId,
        supported_protocol_versions: Vec<String>,
        peer_metadata: Option<PeerMetadata>,
    },
    Peer {
        sender_id: PeerId,
        target_id: PeerId,
        selected_protocol_version: String,
        peer_metadata: Option<PeerMetadata>,
    },
    Leave {
        sender_id: PeerId,
    },
    Error {
        sender_id: PeerId,
        target_id: Option<PeerId>,
        message: String,
    },
    /// The first sync message for a document, asking whether the other side has it.
    Request {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: String,
        data: Vec<u8>,
    },
    Sync {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: String,
        data: Vec<u8>,
    },
    DocUnavailable {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: String,
    },
    /// Presence and other transient data, relayed and never stored.
    Ephemeral {
        sender_id: PeerId,
        target_id: PeerId,
        count: u64,
        session_id: String,
        document_id: String,
        data: Vec<u8>,
    },
    RemoteSubscriptionChange {
        sender_id: PeerId,
        target_id: PeerId,
        add: Vec<String>,
        remove: Vec<String>,
    },
    RemoteHeadsChanged {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: String,
        new_heads: BTreeMap<String, RemoteHeads>,
    },
}

impl Message {
    /// The protocol's name for the message's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Join { .. } => "join",
            Message::Peer { .. } => "peer",
            Message::Leave { .. } => "leave",
            Message::Error { .. } => "error",
            Message::Request { .. } => "request",
            Message::Sync { .. } => "sync",
            Message::DocUnavailable { .. } => "doc-unavailable",
            Message::Ephemeral { .. } => "ephemeral",
            Message::RemoteSubscriptionChange { .. } => "remote-subscription-change",
            Message::RemoteHeadsChanged { .. } => "remote-heads-changed",
        }
    }

    pub fn sender_id(&self) -> &str {
        match self {
            Message::Join { sender_id, .. }
            | Message::Peer { sender_id, .. }
            | Message::Leave { sender_id }
            | Message::Error { sender_id, .. }
            | Message::Request { sender_id, .. }
            | Message::Sync { sender_id, .. }
            | Message::DocUnavailable { sender_id, .. }
            | Message::Ephemeral { sender_id, .. }
            | Message::RemoteSubscriptionChange { sender_id, .. }
            | Message::RemoteHeadsChanged { sender_id, .. } => sender_id,
        }
    }

    /// The document a message is about, if any.
    pub fn document_id(&self) -> Option<&str> {
        match self {
            Message::Request { document_id, .. }
            | Message::Sync { document_id, .. }
            | Message::DocUnavailable { document_id, .. }
            | Message::Ephemeral { document_id, .. }
            | Message::RemoteHeadsChanged { document_id, .. } => Some(document_id),
            _ => None,
        }
    }
}

/// Why a frame is not a protocol message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not CBOR: {0}")]
    Cbor(String),
    #[error("trailing bytes after the message")]
    Trailing,
    #[error("a message is a CBOR map")]
    NotAMap,
    #[error("missing field {0}")]
    Missing(&'static str),
    #[error("field {0} has the wrong type")]
    WrongType(&'static str),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
}

/// Decodes one frame.
pub fn decode(frame: &[u8]) -> Result<Message, DecodeError> {
    let mut rest = frame;
    let value: Value =
        ciborium::de::from_reader(&mut rest).map_err(|e| DecodeError::Cbor(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing);
    }
    let map = Fields::new(&value)?;
    let kind = map.text("type")?;
    let sender_id = map.text("senderId")?;
    Ok(match kind.as_str() {
        "join" => Message::Join {
            sender_id,
            supported_protocol_versions: map
                .opt_text_list("supportedProtocolVersions")?
                .unwrap_or_default(),
            peer_metadata: map.peer_metadata()?,
        },
        "peer" => Message::Peer {
            sender_id,
            target_id: map.text("targetId")?,
            selected_protocol_version: map.text("selectedProtocolVersion")?,
            peer_metadata: map.peer_metadata()?,
        },
        "leave" => Message::Leave { sender_id },
        "error" => Message::Error {
            sender_id,
            target_id: map.opt_text("targetId")?,
            message: map.opt_text("message")?.unwrap_or_default(),
        },
        "request" => Message::Request {
            sender_id,
            target_id: map.text("targetId")?,
            document_id: map.text("documentId")?,
            data: map.bytes("data")?,
        },
        "sync" => Message::Sync {
            sender_id,
            target_id: map.text("targetId")?,
            document_id: map.text("documentId")?,
            data: map.bytes("data")?,
        },
        "doc-unavailable" => Message::DocUnavailable {
            sender_id,
            target_id: map.text("targetId")?,
            document_id: map.text("documentId")?,
        },
        "ephemeral" => Message::Ephemeral {
            sender_id,
            target_id: map.text("targetId")?,
            count: map.opt_uint("count")?.unwrap_or(0),
            session_id: map.opt_text("sessionId")?.unwrap_or_default(),
            document_id: map.text("documentId")?,
            data: map.bytes("data")?,
        },
        "remote-subscription-change" => Message::RemoteSubscriptionChange {
            sender_id,
            target_id: map.text("targetId")?,
            add: map.opt_text_list("add")?.unwrap_or_default(),
            remove: map.opt_text_list("remove")?.unwrap_or_default(),
        },
        "remote-heads-changed" => Message::RemoteHeadsChanged {
            sender_id,
            target_id: map.text("targetId")?,
            document_id: map.text("documentId")?,
            new_heads: map.new_heads()?,
        },
        other => return Err(DecodeError::UnknownType(other.to_owned())),
    })
}

/// Encodes one message canonically.
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut m: Vec<(Value, Value)> = Vec::with_capacity(8);
    let mut put = |k: &str, v: Value| m.push((Value::Text(k.to_owned()), v));
    let text = |s: &str| Value::Text(s.to_owned());
    put("type", text(msg.type_name()));
    put("senderId", text(msg.sender_id()));
    match msg {
        Message::Join {
            supported_protocol_versions,
            peer_metadata,
            ..
        } => {
            put(
                "supportedProtocolVersions",
                Value::Array(
                    supported_protocol_versions
                        .iter()
                        .map(|v| text(v))
                        .collect(),
                ),
            );
            if let Some(md) = peer_metadata {
                put("peerMetadata", metadata_value(md));
            }
        }
        Message::Peer {
            target_id,
            selected_protocol_version,
            peer_metadata,
            ..
        } => {
            put("targetId", text(target_id));
            put("selectedProtocolVersion", text(selected_protocol_version));
            if let Some(md) = peer_metadata {
                put("peerMetadata", metadata_value(md));
            }
        }
        Message::Leave { .. } => {}
        Message::Error {
            target_id, message, ..
        } => {
            if let Some(t) = target_id {
                put("targetId", text(t));
            }
            put("message", text(message));
        }
        Message::Request {
            target_id,
            document_id,
            data,
            ..
        }
        | Message::Sync {
            target_id,
            document_id,
            data,
            ..
        } => {
            put("targetId", text(target_id));
            put("documentId", text(document_id));
            put("data", Value::Bytes(data.clone()));
        }
        Message::DocUnavailable {
            target_id,
            document_id,
            ..
        } => {
            put("targetId", text(target_id));
            put("documentId", text(document_id));
        }
        Message::Ephemeral {
            target_id,
            count,
            session_id,
            document_id,
            data,
            ..
        } => {
            put("targetId", text(target_id));
            put("count", Value::Integer((*count).into()));
            put("sessionId", text(session_id));
            put("documentId", text(document_id));
            put("data", Value::Bytes(data.clone()));
        }
        Message::RemoteSubscriptionChange {
            target_id,
            add,
            remove,
            ..
        } => {
            put("targetId", text(target_id));
            put("add", Value::Array(add.iter().map(|s| text(s)).collect()));
            put(
                "remove",
                Value::Array(remove.iter().map(|s| text(s)).collect()),
            );
        }
        Message::RemoteHeadsChanged {
            target_id,
            document_id,
            new_heads,
            ..
        } => {
            put("targetId", text(target_id));
            put("documentId", text(document_id));
            put(
                "newHeads",
                Value::Map(
                    new_heads
                        .iter()
                        .map(|(k, h)| {
                            (
                                text(k),
                                Value::Map(vec![
                                    (
                                        text("heads"),
                                        Value::Array(h.heads.iter().map(|s| text(s)).collect()),
                                    ),
                                    (text("timestamp"), Value::Integer(h.timestamp.into())),
                                ]),
                            )
                        })
                        .collect(),
                ),
            );
        }
    }
    let mut out = Vec::new();
    // Writing to a Vec cannot fail, and every value here is encodable.
    let _ = ciborium::ser::into_writer(&Value::Map(m), &mut out);
    out
}

fn metadata_value(md: &PeerMetadata) -> Value {
    let mut m = Vec::with_capacity(2);
    if let Some(s) = &md.storage_id {
        m.push((Value::Text("storageId".into()), Value::Text(s.clone())));
    }
    m.push((
        Value::Text("isEphemeral".into()),
        Value::Bool(md.is_ephemeral),
    ));
    Value::Map(m)
}

/// A CBOR map's fields, with `null`/`undefined` read as absent.
struct Fields<'a>(&'a [(Value, Value)]);

impl<'a> Fields<'a> {
    fn new(v: &'a Value) -> Result<Self, DecodeError> {
        match untag(v) {
            Value::Map(m) => Ok(Self(m)),
            _ => Err(DecodeError::NotAMap),
        }
    }

    fn get(&self, key: &'static str) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
            .map(|(_, v)| untag(v))
            .filter(|v| !v.is_null())
    }

    fn text(&self, key: &'static str) -> Result<String, DecodeError> {
        self.opt_text(key)?.ok_or(DecodeError::Missing(key))
    }

    fn opt_text(&self, key: &'static str) -> Result<Option<String>, DecodeError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Text(s)) => Ok(Some(s.clone())),
            Some(_) => Err(DecodeError::WrongType(key)),
        }
    }

    fn bytes(&self, key: &'static str) -> Result<Vec<u8>, DecodeError> {
        match self.get(key) {
            None => Err(DecodeError::Missing(key)),
            Some(Value::Bytes(b)) => Ok(b.clone()),
            Some(_) => Err(DecodeError::WrongType(key)),
        }
    }

    fn opt_uint(&self, key: &'static str) -> Result<Option<u64>, DecodeError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => uint(v).map(Some).ok_or(DecodeError::WrongType(key)),
        }
    }

    fn opt_text_list(&self, key: &'static str) -> Result<Option<Vec<String>>, DecodeError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match untag(i) {
                    Value::Text(s) => Ok(s.clone()),
                    _ => Err(DecodeError::WrongType(key)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(DecodeError::WrongType(key)),
        }
    }

    fn peer_metadata(&self) -> Result<Option<PeerMetadata>, DecodeError> {
        let Some(v) = self.get("peerMetadata") else {
            return Ok(None);
        };
        let m = Fields::new(v).map_err(|_| DecodeError::WrongType("peerMetadata"))?;
        Ok(Some(PeerMetadata {
            storage_id: m.opt_text("storageId")?,
            is_ephemeral: match m.get("isEphemeral") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(DecodeError::WrongType("isEphemeral")),
            },
        }))
    }

    fn new_heads(&self) -> Result<BTreeMap<String, RemoteHeads>, DecodeError> {
        let Some(Value::Map(entries)) = self.get("newHeads") else {
            return Err(DecodeError::Missing("newHeads"));
        };
        let mut out = BTreeMap::new();
        for (k, v) in entries {
            let Value::Text(storage_id) = untag(k) else {
                return Err(DecodeError::WrongType("newHeads"));
            };
            let f = Fields::new(v).map_err(|_| DecodeError::WrongType("newHeads"))?;
            out.insert(
                storage_id.clone(),
                RemoteHeads {
                    heads: f.opt_text_list("heads")?.unwrap_or_default(),
                    timestamp: f.opt_uint("timestamp")?.unwrap_or(0),
                },
            );
        }
        Ok(out)
    }
}

/// Strips CBOR tags (the JS encoder may tag typed arrays).
fn untag(v: &Value) -> &Value {
    let mut v = v;
    while let Value::Tag(_, inner) = v {
        v = inner;
    }
    v
}

/// A non-negative integer, also when written as an integral float.
fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Integer(i) => u64::try_from(*i).ok(),
        Value::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64 => {
            Some(*f as u64)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sync(data: Vec<u8>) -> Message {
        Message::Sync {
            sender_id: "client-1".into(),
            target_id: "server".into(),
            document_id: "4NMNnkMhL8jXrdJ9jamS58PAVdXu".into(),
            data,
        }
    }

    #[test]
    fn round_trips_every_type() {
        let mut heads = BTreeMap::new();
        heads.insert(
            "storage-1".into(),
            RemoteHeads {
                heads: vec!["abc".into()],
                timestamp: 1_700_000_000_000,
            },
        );
        let msgs = vec![
            Message::Join {
                sender_id: "a".into(),
                supported_protocol_versions: vec!["1".into()],
                peer_metadata: Some(PeerMetadata {
                    storage_id: Some("s".into()),
                    is_ephemeral: false,
                }),
            },
            Message::Peer {
                sender_id: "s".into(),
                target_id: "a".into(),
                selected_protocol_version: "1".into(),
                peer_metadata: Some(PeerMetadata::default()),
            },
            Message::Leave {
                sender_id: "a".into(),
            },
            Message::Error {
                sender_id: "s".into(),
                target_id: Some("a".into()),
                message: "no".into(),
            },
            Message::Request {
                sender_id: "a".into(),
                target_id: "s".into(),
                document_id: "d".into(),
                data: vec![1, 2, 3],
            },
            sync(vec![0x42, 0]),
            Message::DocUnavailable {
                sender_id: "s".into(),
                target_id: "a".into(),
                document_id: "d".into(),
            },
            Message::Ephemeral {
                sender_id: "a".into(),
                target_id: "s".into(),
                count: 7,
                session_id: "sess".into(),
                document_id: "d".into(),
                data: vec![9],
            },
            Message::RemoteSubscriptionChange {
                sender_id: "a".into(),
                target_id: "s".into(),
                add: vec!["x".into()],
                remove: vec![],
            },
            Message::RemoteHeadsChanged {
                sender_id: "s".into(),
                target_id: "a".into(),
                document_id: "d".into(),
                new_heads: heads,
            },
        ];
        for m in msgs {
            assert_eq!(decode(&encode(&m)), Ok(m.clone()), "{}", m.type_name());
        }
    }

    /// Hand-written CBOR as the JS encoder may produce it.
    #[test]
    fn lenient_on_long_headers_undefined_floats_and_tags() {
        let mut f = Vec::new();
        f.push(0xb9); // map, length in 2 bytes (long form)
        f.extend_from_slice(&[0x00, 0x07]);
        let text = |f: &mut Vec<u8>, s: &str| {
            f.push(0x7a); // text, length in 4 bytes (long form)
            f.extend_from_slice(&(s.len() as u32).to_be_bytes());
            f.extend_from_slice(s.as_bytes());
        };
        text(&mut f, "type");
        text(&mut f, "ephemeral");
        text(&mut f, "senderId");
        text(&mut f, "peer-a");
        text(&mut f, "targetId");
        text(&mut f, "server");
        text(&mut f, "documentId");
        text(&mut f, "doc");
        text(&mut f, "count");
        f.extend_from_slice(&[0xfb]); // float64 3.0
        f.extend_from_slice(&3.0f64.to_be_bytes());
        text(&mut f, "sessionId");
        f.push(0xf7); // undefined
        text(&mut f, "data");
        f.extend_from_slice(&[0xd8, 0x40, 0x42, 0x01, 0x02]); // tag 64 (Uint8Array) over bytes
        assert_eq!(
            decode(&f),
            Ok(Message::Ephemeral {
                sender_id: "peer-a".into(),
                target_id: "server".into(),
                count: 3,
                session_id: String::new(),
                document_id: "doc".into(),
                data: vec![1, 2],
            })
        );
    }

    #[test]
    fn refuses_what_is_not_a_message() {
        assert!(matches!(decode(b""), Err(DecodeError::Cbor(_))));
        assert!(matches!(decode(&[0xff, 0x00]), Err(DecodeError::Cbor(_))));
        assert_eq!(decode(&[0x01]), Err(DecodeError::NotAMap));
        let mut trailing = encode(&sync(vec![1]));
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(DecodeError::Trailing));
        let full = encode(&sync(vec![1, 2, 3]));
        for cut in 0..full.len() {
            assert!(decode(&full[..cut]).is_err(), "truncated at {cut}");
        }
        let mut unknown = Vec::new();
        ciborium::ser::into_writer(
            &Value::Map(vec![
                (Value::Text("type".into()), Value::Text("gossip".into())),
                (Value::Text("senderId".into()), Value::Text("a".into())),
            ]),
            &mut unknown,
        )
        .unwrap();
        assert_eq!(
            decode(&unknown),
            Err(DecodeError::UnknownType("gossip".into()))
        );
        let mut wrong = Vec::new();
        ciborium::ser::into_writer(
            &Value::Map(vec![
                (Value::Text("type".into()), Value::Text("sync".into())),
                (Value::Text("senderId".into()), Value::Text("a".into())),
                (Value::Text("targetId".into()), Value::Text("s".into())),
                (Value::Text("documentId".into()), Value::Text("d".into())),
                (Value::Text("data".into()), Value::Text("not bytes".into())),
            ]),
            &mut wrong,
        )
        .unwrap();
        assert_eq!(decode(&wrong), Err(DecodeError::WrongType("data")));
    }

    proptest! {
        #[test]
        fn never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn sync_round_trips(data in proptest::collection::vec(any::<u8>(), 0..2048), doc in "[1-9A-HJ-NP-Za-km-z]{20,30}") {
            let m = Message::Sync { sender_id: "p".into(), target_id: "s".into(), document_id: doc, data };
            prop_assert_eq!(decode(&encode(&m)), Ok(m));
        }
    }
}
