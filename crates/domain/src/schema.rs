//! The initial content of each kind of live document. The server creates every document from
//! here; a sync peer never creates one.
//!
//! Each document's root records `schema` (its kind) and `schemaVersion`, so later versions can
//! recognise and upgrade what older ones wrote.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};

use crate::model::DocumentKind;

/// The schema version this build writes.
pub const SCHEMA_VERSION: u64 = 1;

/// The automerge actor the server uses for content it authors itself (initial documents).
pub const SERVER_ACTOR: [u8; 16] = *b"concordat-server";

/// The saved bytes of a new document of `kind`.
pub fn initial_document(kind: DocumentKind) -> Vec<u8> {
    let mut doc = AutoCommit::new().with_actor(automerge::ActorId::from(SERVER_ACTOR));
    build(&mut doc, kind).expect("writing to a fresh in-memory document cannot fail");
    doc.save()
}

fn build(doc: &mut AutoCommit, kind: DocumentKind) -> Result<(), automerge::AutomergeError> {
    doc.put(ROOT, "schema", format!("concordat/{}", kind.as_str()))?;
    doc.put(ROOT, "schemaVersion", SCHEMA_VERSION)?;
    let lists: &[&str] = match kind {
        DocumentKind::RiskRegister => &["risks", "assessments", "actions"],
        DocumentKind::Sla => &[
            "kpis",
            "measurements",
            "costShares",
            "timeAllocations",
            "savings",
        ],
        DocumentKind::Agreement => &["clauses", "signOffs"],
        DocumentKind::Meeting => &["attendees", "agenda", "decisions", "actions"],
    };
    for list in lists {
        doc.put_object(ROOT, *list, ObjType::List)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ReadDoc;

    #[test]
    fn every_kind_loads_with_its_schema_tag() {
        for kind in DocumentKind::ALL {
            let bytes = initial_document(*kind);
            let doc = automerge::Automerge::load(&bytes).expect("loads");
            let (schema, _) = doc.get(ROOT, "schema").expect("read").expect("present");
            assert_eq!(
                schema.into_string().ok().as_deref(),
                Some(format!("concordat/{kind}").as_str())
            );
        }
    }
}
