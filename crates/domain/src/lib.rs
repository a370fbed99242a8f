//! The pure model of Concordat: identifiers, organisations, partnerships, spaces, documents,
//! grants, and the one function that decides what a user may do with a document.
//!
//! Invariant: this crate does no IO and has no async. Everything here can be tested with plain
//! `#[test]` and is shared, unchanged, by the store, the server and (later) the sync core.

pub mod access;
pub mod audit;
pub mod documents;
pub mod ids;
pub mod model;
pub mod schema;
pub mod validate;

pub use access::{Access, AccessFacts, Editable, SpaceAccess, decide, editable};
pub use ids::{DocumentId, DocumentIdError};
pub use model::*;
