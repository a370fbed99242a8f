//! The initial content of each kind of live document, and the upgrade of documents an older
//! version wrote. The server creates every document from here; a sync peer never creates one.
//!
//! Each document's root records `schema` (its kind) and `schemaVersion`, so later versions can
//! recognise and upgrade what older ones wrote. The content itself is
//! [`crate::documents::Content::initial`], written field by field.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue};
use serde_json::Value;

use crate::documents::{self, Content, SCHEMA_VERSION, put_json, schema_version_value};
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
    doc.put(ROOT, "schemaVersion", schema_version_value())?;
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
/// adds the risk register's matrix and appetite and the agreement's comments; version 3 holds
/// no unsigned integer anywhere (the JS client reads those as `BigInt`, which `JSON.stringify`
/// refuses: each becomes a signed one); version 4 holds every text people type as a text object
/// ([`plain_texts`]).
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
    for (obj, prop, value) in unsigned_scalars(doc) {
        if obj == ROOT && prop == Prop::Map("schemaVersion".into()) {
            continue;
        }
        doc.put(&obj, prop, signed(value))?;
    }
    for (obj, prop, value) in plain_texts(doc) {
        let text = doc.put_object(&obj, prop, ObjType::Text)?;
        doc.splice_text(&text, 0, 0, &value)?;
    }
    doc.put(ROOT, "schemaVersion", schema_version_value())?;
    Ok(true)
}

/// [`upgrade`], committed as one change with no time (explicitly: automerge's Rust default is
/// the same today, a future default need not be) and no message: the same document upgraded
/// anywhere gives the very same change (same hash). Two server nodes that load an old document
/// at once both store its upgrade; identical, the copies are one change, where two different
/// changes by the server's actor with one sequence number would make the document unreadable.
pub fn upgrade_deterministically(
    doc: &mut AutoCommit,
    kind: DocumentKind,
) -> Result<bool, automerge::AutomergeError> {
    let changed = upgrade(doc, kind)?;
    if changed {
        doc.commit_with(automerge::transaction::CommitOptions::default().with_time(0));
    }
    Ok(changed)
}

/// Every text people type (a field of [`documents::TEXT_FIELDS`], or an item of such a list)
/// still held as a plain string, as versions before 4 wrote them: version 4 makes each a text
/// object with the same characters, so edits to it merge instead of overwriting each other.
pub fn plain_texts(doc: &impl ReadDoc) -> Vec<(ObjId, Prop, String)> {
    fn walk(
        doc: &impl ReadDoc,
        obj: &ObjId,
        in_text_list: bool,
        out: &mut Vec<(ObjId, Prop, String)>,
    ) {
        let props: Vec<(Prop, bool)> = match doc.object_type(obj) {
            Ok(ObjType::Map | ObjType::Table) => doc
                .keys(obj)
                .map(|k| {
                    let text = documents::is_text_field(&k);
                    (Prop::Map(k), text)
                })
                .collect(),
            Ok(ObjType::List) => (0..doc.length(obj))
                .map(|i| (Prop::Seq(i), in_text_list))
                .collect(),
            _ => return,
        };
        for (prop, text) in props {
            match doc.get(obj, prop.clone()) {
                Ok(Some((automerge::Value::Object(ObjType::List), child))) => {
                    walk(doc, &child, text, out);
                }
                Ok(Some((automerge::Value::Object(ObjType::Map | ObjType::Table), child))) => {
                    walk(doc, &child, false, out);
                }
                Ok(Some((automerge::Value::Scalar(s), _))) if text => {
                    if let ScalarValue::Str(v) = s.as_ref() {
                        out.push((obj.clone(), prop, v.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(doc, &ROOT, false, &mut out);
    out
}

/// An unsigned integer as version 3 writes it: signed, or (beyond `i64::MAX`, which no
/// document of ours holds) a float, as JS would read it anyway.
fn signed(value: u64) -> ScalarValue {
    match i64::try_from(value) {
        Ok(v) => ScalarValue::Int(v),
        Err(_) => ScalarValue::F64(value as f64),
    }
}

/// Every place in the document whose value is an unsigned integer: the object, the key or
/// index, the value. Maps and lists are walked; text objects are not (JS reads them as
/// strings); only visible values count (a conflict's loser is not what JS shows).
pub fn unsigned_scalars(doc: &impl ReadDoc) -> Vec<(ObjId, Prop, u64)> {
    fn walk(doc: &impl ReadDoc, obj: &ObjId, out: &mut Vec<(ObjId, Prop, u64)>) {
        let props: Vec<Prop> = match doc.object_type(obj) {
            Ok(ObjType::Map | ObjType::Table) => doc.keys(obj).map(Prop::Map).collect(),
            Ok(ObjType::List) => (0..doc.length(obj)).map(Prop::Seq).collect(),
            _ => return,
        };
        for prop in props {
            match doc.get(obj, prop.clone()) {
                Ok(Some((automerge::Value::Object(_), child))) => walk(doc, &child, out),
                Ok(Some((automerge::Value::Scalar(s), _))) => {
                    if let ScalarValue::Uint(v) = s.as_ref() {
                        out.push((obj.clone(), prop, *v));
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(doc, &ROOT, &mut out);
    out
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
        assert_eq!(unsigned_scalars(&v1), vec![]);
        assert_eq!(version(&v1), 4);
    }

    /// The version as stored: its scalar, not only its value.
    fn stored_version(doc: &impl ReadDoc) -> ScalarValue {
        match doc.get(ROOT, "schemaVersion").unwrap() {
            Some((automerge::Value::Scalar(s), _)) => s.into_owned(),
            other => panic!("{other:?}"),
        }
    }

    /// The JS client reads an unsigned integer as a `BigInt`, which `JSON.stringify` refuses:
    /// a new document holds signed ones only, its version included, whatever its content.
    #[test]
    fn a_new_document_holds_no_unsigned_integer() {
        for kind in DocumentKind::ALL {
            let doc = automerge::Automerge::load(&initial_document(*kind)).unwrap();
            assert_eq!(unsigned_scalars(&doc), vec![], "{kind}");
            assert_eq!(stored_version(&doc), ScalarValue::Int(4), "{kind}");
            assert_eq!(version(&doc), SCHEMA_VERSION);
        }
        // Content with numbers in it: scores, ranks, times, money, fractions.
        let content: Content = Content::Agreement(
            serde_json::from_value(serde_json::json!({
                "clauses": [{ "id": "c1", "heading": "1. Scope", "text": "All", "status": "draft" }],
                "comments": [{ "id": "k1", "clauseId": "c1", "author": "A", "body": "Yes",
                               "createdAt": 1_767_225_600_000_u64 }],
            }))
            .unwrap(),
        );
        let doc = automerge::Automerge::load(&document(DocumentKind::Agreement, &content)).unwrap();
        assert_eq!(unsigned_scalars(&doc), vec![]);
        let mut register = AutoCommit::load(&initial_document(DocumentKind::RiskRegister)).unwrap();
        let json = serde_json::json!({ "u": u64::MAX, "n": 7_u64, "f": 0.5, "i": -3 });
        put_json(&mut register, &ROOT, "numbers", &json).unwrap();
        assert_eq!(unsigned_scalars(&register), vec![]);
        let (_, numbers) = register.get(ROOT, "numbers").unwrap().unwrap();
        let scalar = |k: &str| match register.get(&numbers, k).unwrap() {
            Some((automerge::Value::Scalar(s), _)) => s.into_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(scalar("n"), ScalarValue::Int(7));
        assert_eq!(scalar("i"), ScalarValue::Int(-3));
        assert_eq!(scalar("f"), ScalarValue::F64(0.5));
        assert!(
            matches!(scalar("u"), ScalarValue::F64(_)),
            "too big for i64: a float"
        );
    }

    /// What version 2 wrote: its version and some values as unsigned integers (a map's, a
    /// Two nodes upgrading the same old document apart make one and the same change.
    #[test]
    fn an_upgrade_made_twice_is_the_same_change() {
        for kind in [
            DocumentKind::RiskRegister,
            DocumentKind::Sla,
            DocumentKind::SlaFigures,
            DocumentKind::Agreement,
            DocumentKind::Meeting,
        ] {
            let mut old = AutoCommit::new().with_actor(automerge::ActorId::from(SERVER_ACTOR));
            old.put(ROOT, "schemaVersion", 1_u64).unwrap();
            old.put(ROOT, "title", "written by version 1").unwrap();
            old.commit();
            let bytes = old.save();
            let upgraded = |_: u8| {
                let mut doc = AutoCommit::load(&bytes)
                    .unwrap()
                    .with_actor(automerge::ActorId::from(SERVER_ACTOR));
                assert!(upgrade_deterministically(&mut doc, kind).unwrap());
                doc.get_heads()
            };
            let first = upgraded(1);
            std::thread::sleep(std::time::Duration::from_millis(1100));
            assert_eq!(
                first,
                upgraded(2),
                "{kind:?}: one change, whenever it is made"
            );
        }
    }

    /// list's), and a key at its root that is not a field. Upgraded to version 3: signed
    /// integers only, the same values, the stray key gone, and it reads.
    #[test]
    fn a_version_2_document_is_upgraded_to_signed_integers() {
        let mut v2 = AutoCommit::load(&initial_document(DocumentKind::RiskRegister)).unwrap();
        v2.put(ROOT, "schemaVersion", 2_u64).unwrap();
        let (_, matrix) = v2.get(ROOT, "matrix").unwrap().unwrap();
        let (_, bands) = v2.get(&matrix, "bands").unwrap().unwrap();
        let (_, band) = v2.get(&bands, 0).unwrap().unwrap();
        v2.put(&band, "rank", 1_u64).unwrap();
        let (_, appetite) = v2.get(ROOT, "appetite").unwrap().unwrap();
        let entry = v2.insert_object(&appetite, 0, ObjType::Map).unwrap();
        v2.put(&entry, "category", "Partnership").unwrap();
        v2.put(&entry, "maxScore", 9_u64).unwrap();
        let numbers = v2.put_object(&entry, "history", ObjType::List).unwrap();
        v2.insert(&numbers, 0, 4_u64).unwrap();
        v2.insert(&numbers, 1, 6_i64).unwrap();
        v2.put(ROOT, "notes", "left by an old client").unwrap();
        v2.commit();
        assert_eq!(stored_version(&v2), ScalarValue::Uint(2));
        assert_eq!(version(&v2), 2, "an unsigned version reads");
        assert_eq!(
            unsigned_scalars(&v2).len(),
            4,
            "{:?}",
            unsigned_scalars(&v2)
        );
        let problems = documents::read(DocumentKind::RiskRegister, &v2).unwrap_err();
        assert_eq!(problems[0].path, "schemaVersion");

        let mut v2 = v2.with_actor(automerge::ActorId::from(SERVER_ACTOR));
        assert!(upgrade(&mut v2, DocumentKind::RiskRegister).unwrap());
        assert!(
            !upgrade(&mut v2, DocumentKind::RiskRegister).unwrap(),
            "once"
        );
        assert_eq!(unsigned_scalars(&v2), vec![]);
        assert_eq!(stored_version(&v2), ScalarValue::Int(4));
        assert_eq!(version(&v2), 4);
        assert!(
            v2.get(ROOT, "notes").unwrap().is_some(),
            "what an old client wrote is kept"
        );
        let json = documents::to_json(&v2);
        assert_eq!(json["matrix"]["bands"][0]["rank"], 1);
        assert_eq!(json["appetite"][0]["maxScore"], 9);
        assert_eq!(json["appetite"][0]["history"], serde_json::json!([4, 6]));
        let Content::RiskRegister(r) = documents::read(DocumentKind::RiskRegister, &v2).unwrap()
        else {
            panic!("a register")
        };
        assert_eq!(r.appetite[0].max_score, 9);
    }

    /// Version 3 wrote every string plain; version 4 turns the ones people type into text with
    /// the same characters (a list of texts included) and leaves ids, enumerations and dates.
    #[test]
    fn a_version_3_document_gets_its_typed_strings_as_text() {
        let mut v3 = AutoCommit::new();
        v3.put(ROOT, "schema", "concordat/meeting").unwrap();
        v3.put(ROOT, "schemaVersion", 3_i64).unwrap();
        let decisions = v3.put_object(ROOT, "decisions", ObjType::List).unwrap();
        let d = v3.insert_object(&decisions, 0, ObjType::Map).unwrap();
        v3.put(&d, "id", "d1").unwrap();
        v3.put(&d, "text", "The committee approved the budget.")
            .unwrap();
        let matters = v3
            .put_object(ROOT, "mattersArising", ObjType::List)
            .unwrap();
        v3.insert(&matters, 0, "Minutes of the last meeting")
            .unwrap();
        v3.put(ROOT, "date", "2027-03-12").unwrap();
        v3.commit();
        assert_eq!(plain_texts(&v3).len(), 2);
        let before = documents::to_json(&v3);

        let mut v3 = v3.with_actor(automerge::ActorId::from(SERVER_ACTOR));
        assert!(upgrade(&mut v3, DocumentKind::Meeting).unwrap());
        assert_eq!(plain_texts(&v3), vec![], "every typed string is text now");
        let text_at = |obj: &ObjId, prop: Prop| match v3.get(obj, prop).unwrap() {
            Some((automerge::Value::Object(ObjType::Text), id)) => v3.text(&id).unwrap(),
            other => panic!("not text: {other:?}"),
        };
        let (_, d) = v3.get(&decisions, 0).unwrap().unwrap();
        assert_eq!(
            text_at(&d, Prop::Map("text".into())),
            "The committee approved the budget."
        );
        assert_eq!(
            text_at(&matters, Prop::Seq(0)),
            "Minutes of the last meeting"
        );
        let (id, _) = v3.get(&d, "id").unwrap().unwrap();
        assert!(matches!(id, automerge::Value::Scalar(_)), "ids stay plain");
        let after = documents::to_json(&v3);
        assert_eq!(after["decisions"], before["decisions"]);
        assert_eq!(after["mattersArising"], before["mattersArising"]);
        assert_eq!(after["date"], before["date"]);
        documents::read(DocumentKind::Meeting, &v3).unwrap();
    }

    #[test]
    fn new_documents_hold_typed_strings_as_text() {
        let mut doc = AutoCommit::new();
        let content = serde_json::json!({
            "risks": [{"id": "r1", "title": "One council withdraws", "status": "open"}]
        });
        put_json(&mut doc, &ROOT, "risks", &content["risks"]).unwrap();
        let (_, risks) = doc.get(ROOT, "risks").unwrap().unwrap();
        let (_, r) = doc.get(&risks, 0).unwrap().unwrap();
        assert!(matches!(
            doc.get(&r, "title").unwrap(),
            Some((automerge::Value::Object(ObjType::Text), _))
        ));
        assert!(matches!(
            doc.get(&r, "status").unwrap(),
            Some((automerge::Value::Scalar(_), _))
        ));
        assert!(plain_texts(&doc).is_empty());
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
