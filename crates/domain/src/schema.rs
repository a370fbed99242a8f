//! The initial content of each kind of live document, and the upgrade of documents an older
//! version wrote. The server creates every document from here; a sync peer never creates one.
//!
//! Each document's root records `schema` (its kind) and `schemaVersion`, so later versions can
//! recognise and upgrade what older ones wrote. The content itself is
//! [`crate::documents::Content::initial`], written field by field.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT, ReadDoc};
use serde_json::Value;

use crate::documents::{Content, SCHEMA_VERSION, put_json};
use crate::model::DocumentKind;

/// The automerge actor the server uses for content it authors itself (initial documents,
/// upgrades).
pub const SERVER_ACTOR: [u8; 16] = *b"concordat-server";

/// The saved bytes of a new document of `kind`.
pub fn initial_document(kind: DocumentKind) -> Vec<u8> {
    document(kind, &Content::initial(kind))
}

/// The saved bytes of a new document of `kind` holding `content` (demo content, a document
/// created from a template), written by the server's actor.
pub fn document(kind: DocumentKind, content: &Content) -> Vec<u8> {
    let mut doc = AutoCommit::new().with_actor(automerge::ActorId::from(SERVER_ACTOR));
    build(&mut doc, kind, content).expect("writing to a fresh in-memory document cannot fail");
    doc.save()
}

fn build(
    doc: &mut AutoCommit,
    kind: DocumentKind,
    content: &Content,
) -> Result<(), automerge::AutomergeError> {
    doc.put(ROOT, "schema", format!("concordat/{}", kind.as_str()))?;
    doc.put(ROOT, "schemaVersion", SCHEMA_VERSION)?;
    let content = serde_json::to_value(content).unwrap_or(Value::Null);
    if let Value::Object(fields) = content {
        for (k, v) in &fields {
            put_json(doc, &ROOT, k, v)?;
        }
    }
    if kind == DocumentKind::Agreement {
        clause_text_as_text(doc)?;
    }
    Ok(())
}

/// An agreement's clause text is edited character by character by several people at once, so
/// it is an automerge text object (which also carries marks), not a string.
fn clause_text_as_text(doc: &mut AutoCommit) -> Result<(), automerge::AutomergeError> {
    use automerge::{ObjType, Value as AmValue};
    let Some((AmValue::Object(ObjType::List), clauses)) = doc.get(ROOT, "clauses")? else {
        return Ok(());
    };
    for i in 0..doc.length(&clauses) {
        let Some((AmValue::Object(ObjType::Map), clause)) = doc.get(&clauses, i)? else {
            continue;
        };
        let text = match doc.get(&clause, "text")? {
            Some((AmValue::Scalar(s), _)) => s.as_str().unwrap_or_default().to_owned(),
            _ => continue,
        };
        let obj = doc.put_object(&clause, "text", ObjType::Text)?;
        doc.splice_text(&obj, 0, 0, &text)?;
    }
    Ok(())
}

/// The schema version a document was written with (0 if it records none).
pub fn version(doc: &impl ReadDoc) -> u64 {
    match doc.get(ROOT, "schemaVersion") {
        Ok(Some((automerge::Value::Scalar(s), _))) => match s.as_ref() {
            automerge::ScalarValue::Uint(v) => *v,
            automerge::ScalarValue::Int(v) => u64::try_from(*v).unwrap_or(0),
            _ => 0,
        },
        _ => 0,
    }
}

/// Brings a document written by an older version up to [`SCHEMA_VERSION`], as changes by the
/// server's actor; returns whether anything changed. Version 1 held empty lists only; version 2
/// adds the risk register's matrix and appetite and the agreement's comments.
pub fn upgrade(
    doc: &mut AutoCommit,
    kind: DocumentKind,
) -> Result<bool, automerge::AutomergeError> {
    let version = version(doc);
    if version >= SCHEMA_VERSION {
        return Ok(false);
    }
    let initial = serde_json::to_value(Content::initial(kind)).unwrap_or(Value::Null);
    if let Value::Object(fields) = initial {
        for (k, v) in &fields {
            // Add what is missing; never overwrite what users wrote.
            if doc.get(ROOT, k.as_str())?.is_none() {
                put_json(doc, &ROOT, k, v)?;
            }
        }
    }
    doc.put(ROOT, "schemaVersion", SCHEMA_VERSION)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::{self, Content};

    #[test]
    fn every_kind_loads_with_its_schema_tag_and_reads_as_its_schema() {
        for kind in DocumentKind::ALL {
            let bytes = initial_document(*kind);
            let doc = automerge::Automerge::load(&bytes).expect("loads");
            let (schema, _) = doc.get(ROOT, "schema").expect("read").expect("present");
            assert_eq!(
                schema.into_string().ok().as_deref(),
                Some(format!("concordat/{kind}").as_str())
            );
            let content = documents::read(*kind, &doc).expect("a new document is valid");
            assert_eq!(content, Content::initial(*kind));
        }
    }

    #[test]
    fn a_version_1_document_is_upgraded_and_then_reads() {
        // What version 1 wrote: the tag, the version, empty lists.
        let mut v1 = AutoCommit::new();
        v1.put(ROOT, "schema", "concordat/risk-register").unwrap();
        v1.put(ROOT, "schemaVersion", 1_u64).unwrap();
        for list in ["risks", "assessments", "actions"] {
            v1.put_object(ROOT, list, automerge::ObjType::List).unwrap();
        }
        let problems = documents::read(DocumentKind::RiskRegister, &v1).unwrap_err();
        assert_eq!(problems[0].path, "schemaVersion");
        assert!(upgrade(&mut v1, DocumentKind::RiskRegister).unwrap());
        assert!(
            !upgrade(&mut v1, DocumentKind::RiskRegister).unwrap(),
            "once"
        );
        let content = documents::read(DocumentKind::RiskRegister, &v1).unwrap();
        let Content::RiskRegister(r) = content else {
            panic!("a register")
        };
        assert_eq!(r.matrix, documents::risk::Matrix::five_by_five());
    }

    #[test]
    fn a_type_error_names_its_path() {
        let mut doc = AutoCommit::load(&initial_document(DocumentKind::RiskRegister)).unwrap();
        let (_, risks) = doc.get(ROOT, "risks").unwrap().unwrap();
        let risk = doc
            .insert_object(&risks, 0, automerge::ObjType::Map)
            .unwrap();
        doc.put(&risk, "id", "r1").unwrap();
        doc.put(&risk, "title", 12).unwrap();
        let problems = documents::read(DocumentKind::RiskRegister, &doc).unwrap_err();
        assert_eq!(problems[0].path, "risks[0].title", "{problems:?}");
    }
}
