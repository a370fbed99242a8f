//! Live sync: automerge-repo's websocket protocol ([`codec`]) and two sans-IO state machines:
//! one connection's protocol ([`conn`]: handshake, authorisation before anything reaches a
//! room, rates) and one document's room ([`room`]: inputs in — a peer joined, a frame arrived,
//! storage finished — effects out — send, persist, close). No tokio, no sockets, no database
//! here; the server is the thin shell that performs the effects.

pub mod chunks;
pub mod codec;
pub mod conn;
pub mod refusal;
pub mod room;
pub mod stored;

pub use codec::{DecodeError, Message, PeerId, PeerMetadata};
pub use refusal::Refusal;
pub use room::{ConnId, Edit, Effect, Input, Room};
