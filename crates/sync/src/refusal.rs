//! Why the room refuses a peer's message or a server-side change. The room refuses whole:
//! nothing of a refused message is applied, stored or broadcast. Each refusal's `Display` is
//! what the peer (or the API caller) is told; the server maps the kinds once to close codes and
//! API errors.

/// A refusal, by kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Bytes that are not one whole automerge sync message.
    #[error("malformed automerge sync message ({0}): nothing was applied")]
    Malformed(String),
    /// Changes from a peer that may not change the document.
    #[error("read-only access: changes refused, nothing was applied")]
    ReadOnly,
    /// Change chunks that do not parse, or that automerge will not apply.
    #[error("invalid changes ({0}): nothing was applied")]
    InvalidChanges(String),
    /// More operations in one message than the room takes at once.
    #[error(
        "changes too large ({ops} operations; at most {max} at once): nothing was applied. \
         Send it in smaller parts."
    )]
    TooLarge { ops: u64, max: u64 },
    /// Server-side changes whose parents the document does not hold.
    #[error("changes depend on changes the document does not have")]
    MissingDependencies,
    /// Changes authored by an actor id that belongs to another user.
    #[error("changes authored by another user's actor id: refused")]
    ForeignActor,
    /// A change to a top-level key only the server writes.
    #[error(
        "change refused, nothing was applied: {0} is recorded by the server (use the API), not \
         edited. Reload the document."
    )]
    Reserved(String),
    /// A change adding a top-level key outside the document's schema.
    #[error(
        "change refused, nothing was applied: {0:?} is not part of this document's schema. \
         Reload the document."
    )]
    UnknownKey(String),
    /// A change outside the parts of the document the peer may edit.
    #[error("change refused, nothing was applied: {0}. Reload the document.")]
    OutOfScope(String),
    /// A change after which the document breaks its schema or its limits.
    #[error("change refused, nothing was applied: {0}. Reload the document.")]
    Schema(String),
    /// Storage refused the batch holding a server-side change.
    #[error("storage unavailable: nothing was saved")]
    StorageUnavailable,
    /// Storage refused the batch holding the peer's changes.
    #[error("storage unavailable: your changes were not saved; reconnect to retry")]
    NotSaved,
}

impl Refusal {
    /// The refusal's kind as a short stable name (metrics labels, logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::ReadOnly => "read-only",
            Refusal::InvalidChanges(_) => "invalid-changes",
            Refusal::TooLarge { .. } => "too-large",
            Refusal::MissingDependencies => "missing-dependencies",
            Refusal::ForeignActor => "foreign-actor",
            Refusal::Reserved(_) => "reserved-key",
            Refusal::UnknownKey(_) => "unknown-key",
            Refusal::OutOfScope(_) => "out-of-scope",
            Refusal::Schema(_) => "schema",
            Refusal::StorageUnavailable => "storage-unavailable",
            Refusal::NotSaved => "not-saved",
        }
    }

    /// Whether the refusal is about storage (the change itself was acceptable and may be sent
    /// again), rather than about the change.
    pub fn is_storage(&self) -> bool {
        matches!(self, Refusal::StorageUnavailable | Refusal::NotSaved)
    }
}
