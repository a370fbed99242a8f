//! What the live documents hold, as types, and the rules derived from them. Pure: the server
//! reads a document's JSON form into these types to validate it and to build views.
//!
//! - [`risk`]: the risk register — matrix as data, risks, assessments (never overwritten),
//!   actions, appetite; score and band, direction of travel, overdue and stale, heat map.
//! - [`sla`]: the SLA — KPIs and measurements, cost shares, time allocation, savings; KPI
//!   RAG and trend, cost split by basis with the re-base check, savings per council.
//! - [`agreement`]: clauses of rich text with status, anchored comments, sign-offs.
//! - [`meeting`]: attendees, agenda, decisions, actions linked to risks and KPIs.
//! - [`changes`]: the change report between two versions ("what changed since the last report").
//! - [`check`]: problems found by each document's `check()`, each with the JSON path at fault.

pub mod agreement;
pub mod changes;
pub mod check;
pub mod meeting;
pub mod risk;
pub mod sla;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc};
use serde::Serialize;
use serde_json::Value;

use crate::model::DocumentKind;
pub use check::Problem;

/// The schema version this build writes and reads. Written into documents as an automerge
/// signed integer ([`schema_version_value`]), like every integer: JS reads those as numbers.
pub const SCHEMA_VERSION: u64 = 3;

/// [`SCHEMA_VERSION`] as the document stores it.
pub fn schema_version_value() -> automerge::ScalarValue {
    automerge::ScalarValue::Int(i64::try_from(SCHEMA_VERSION).unwrap_or(i64::MAX))
}

/// A document's content, typed by its kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    RiskRegister(risk::RiskRegister),
    Sla(sla::Sla),
    Agreement(agreement::Agreement),
    Meeting(meeting::Meeting),
}

impl Content {
    /// What a new document of `kind` holds.
    pub fn initial(kind: DocumentKind) -> Content {
        match kind {
            DocumentKind::RiskRegister => Content::RiskRegister(risk::RiskRegister {
                matrix: risk::Matrix::five_by_five(),
                appetite: vec![],
                risks: vec![],
                assessments: vec![],
                actions: vec![],
            }),
            DocumentKind::Sla => Content::Sla(sla::Sla::empty()),
            DocumentKind::Agreement => Content::Agreement(agreement::Agreement::default()),
            DocumentKind::Meeting => Content::Meeting(meeting::Meeting::default()),
        }
    }

    pub fn check(&self) -> Result<(), Vec<Problem>> {
        match self {
            Content::RiskRegister(c) => c.check(),
            Content::Sla(c) => c.check(),
            Content::Agreement(c) => c.check(),
            Content::Meeting(c) => c.check(),
        }
    }
}

/// Top-level keys of a document of `kind` that only the server writes, after checks a
/// document's content cannot express: a council's sign-off of an agreement names the council
/// and a named version, so it is recorded by an endpoint that knows who is signing and that the
/// version exists, never edited through sync.
pub fn server_written(kind: DocumentKind) -> &'static [&'static str] {
    match kind {
        DocumentKind::Agreement => &["signOffs"],
        DocumentKind::RiskRegister | DocumentKind::Sla | DocumentKind::Meeting => &[],
    }
}

/// The keys the root of a document of `kind` may hold: its `schema` tag and `schemaVersion`,
/// the fields of its content (as they serialise: every field is always written, so a new
/// document's keys are all of them) and the keys only the server writes.
pub fn root_keys(kind: DocumentKind) -> Vec<String> {
    let mut keys = vec!["schema".to_owned(), "schemaVersion".to_owned()];
    if let Ok(Value::Object(fields)) = serde_json::to_value(Content::initial(kind)) {
        keys.extend(fields.into_iter().map(|(k, _)| k));
    }
    for key in server_written(kind) {
        if !keys.iter().any(|k| k == key) {
            keys.push((*key).to_owned());
        }
    }
    keys
}

/// "a risk register": how a problem names the kind of document.
fn described(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::RiskRegister => "a risk register",
        DocumentKind::Sla => "an SLA",
        DocumentKind::Agreement => "an agreement",
        DocumentKind::Meeting => "a meeting",
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Vec<Problem> {
    vec![Problem {
        path: path.into(),
        message: message.into(),
    }]
}

/// A document's JSON form: maps as objects, lists as arrays, text objects and strings as
/// strings (the JS client writes strings as text objects; both read the same).
pub fn to_json(doc: &impl ReadDoc) -> Value {
    serde_json::to_value(automerge::AutoSerde::from(doc)).unwrap_or(Value::Null)
}

/// Reads and checks a live document of `kind`: the schema tag and version, the keys of its root
/// (each one not in [`root_keys`] is a problem, named by its path), the types (the first type
/// error is reported with its path), then the document's own `check()`. Unknown fields inside
/// the content (below the root) are still tolerated.
pub fn read(kind: DocumentKind, doc: &impl ReadDoc) -> Result<Content, Vec<Problem>> {
    let json = to_json(doc);
    let tag = format!("concordat/{}", kind.as_str());
    if json.get("schema").and_then(Value::as_str) != Some(tag.as_str()) {
        return Err(problem("schema", format!("must be {tag:?}")));
    }
    if json.get("schemaVersion").and_then(Value::as_u64) != Some(SCHEMA_VERSION) {
        return Err(problem(
            "schemaVersion",
            format!("must be {SCHEMA_VERSION} (older documents are upgraded when loaded)"),
        ));
    }
    if let Some(root) = json.as_object() {
        let known = root_keys(kind);
        let unknown: Vec<Problem> = root
            .keys()
            .filter(|k| !known.contains(k))
            .map(|k| Problem {
                path: k.clone(),
                message: format!("not a field of {}", described(kind)),
            })
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
    }
    fn typed<T: serde::de::DeserializeOwned>(json: Value) -> Result<T, Vec<Problem>> {
        serde_path_to_error::deserialize(json).map_err(|e| {
            let path = e.path().to_string();
            problem(
                if path == "." { String::new() } else { path },
                e.into_inner().to_string(),
            )
        })
    }
    let content = match kind {
        DocumentKind::RiskRegister => Content::RiskRegister(typed(json)?),
        DocumentKind::Sla => Content::Sla(typed(json)?),
        DocumentKind::Agreement => Content::Agreement(typed(json)?),
        DocumentKind::Meeting => Content::Meeting(typed(json)?),
    };
    content.check()?;
    Ok(content)
}

/// Writes into `doc` what changed from `before` to `after` (two JSON forms of the document),
/// as small edits rather than a rewrite, so concurrent edits elsewhere survive: top-level
/// lists of objects with an `id` get new elements appended and changed fields of existing
/// elements set (text fields through a minimal text update); other changed top-level values
/// are replaced. Elements missing from `after` are left alone (a server-side change such as
/// an import never deletes what people wrote).
pub fn write_diff(
    doc: &mut AutoCommit,
    before: &Value,
    after: &Value,
) -> Result<(), automerge::AutomergeError> {
    use automerge::{ROOT, Value as Am};
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return Ok(());
    };
    for (key, new) in after {
        let old = before.get(key);
        if old == Some(new) {
            continue;
        }
        let (
            Some(Value::Array(old_items)),
            Value::Array(new_items),
            Some((Am::Object(ObjType::List), list)),
        ) = (old, new, doc.get(ROOT, key.as_str())?)
        else {
            put_json(doc, &ROOT, key, new)?;
            continue;
        };
        let id_of = |v: &Value| v.get("id").and_then(Value::as_str).map(str::to_owned);
        for item in new_items {
            let Some(id) = id_of(item) else { continue };
            match old_items.iter().find(|o| id_of(o).as_deref() == Some(&id)) {
                None => {
                    let end = doc.length(&list);
                    insert_json(doc, &list, end, item)?;
                }
                Some(old_item) if old_item != item => {
                    let Some(index) = (0..doc.length(&list)).find(|i| {
                        doc.get(&list, *i)
                            .ok()
                            .flatten()
                            .and_then(|(_, obj)| doc.get(&obj, "id").ok().flatten())
                            .is_some_and(|(v, obj)| match v {
                                Am::Scalar(s) => s.as_str() == Some(id.as_str()),
                                Am::Object(ObjType::Text) => {
                                    doc.text(&obj).ok().as_deref() == Some(id.as_str())
                                }
                                _ => false,
                            })
                    }) else {
                        continue;
                    };
                    let Some((_, element)) = doc.get(&list, index)? else {
                        continue;
                    };
                    let (Some(old_fields), Some(new_fields)) =
                        (old_item.as_object(), item.as_object())
                    else {
                        continue;
                    };
                    for (field, value) in new_fields {
                        if old_fields.get(field) == Some(value) {
                            continue;
                        }
                        match (doc.get(&element, field.as_str())?, value) {
                            (Some((Am::Object(ObjType::Text), text)), Value::String(s)) => {
                                doc.update_text(&text, s)?
                            }
                            _ => put_json(doc, &element, field, value)?,
                        }
                    }
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Where a value goes: a key of a map, or an index of a list (inserted).
enum Place<'a> {
    Key(&'a str),
    Index(usize),
}

/// Writes a JSON value into a document at `key` of the map `obj`: objects become maps, arrays
/// lists, integers signed integers (as the JS client writes them), other numbers floats.
pub fn put_json(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    value: &Value,
) -> Result<(), automerge::AutomergeError> {
    write_json(doc, obj, Place::Key(key), value)
}

/// Inserts a JSON value into a list at `index` (see [`put_json`]).
pub fn insert_json(
    doc: &mut AutoCommit,
    list: &ObjId,
    index: usize,
    value: &Value,
) -> Result<(), automerge::AutomergeError> {
    write_json(doc, list, Place::Index(index), value)
}

fn write_json(
    doc: &mut AutoCommit,
    obj: &ObjId,
    place: Place<'_>,
    value: &Value,
) -> Result<(), automerge::AutomergeError> {
    let new_object = |doc: &mut AutoCommit, kind| match place {
        Place::Key(k) => doc.put_object(obj, k, kind),
        Place::Index(i) => doc.insert_object(obj, i, kind),
    };
    match value {
        Value::Object(map) => {
            let child = new_object(doc, ObjType::Map)?;
            for (k, v) in map {
                write_json(doc, &child, Place::Key(k), v)?;
            }
        }
        Value::Array(items) => {
            let child = new_object(doc, ObjType::List)?;
            for (i, v) in items.iter().enumerate() {
                write_json(doc, &child, Place::Index(i), v)?;
            }
        }
        scalar => match place {
            Place::Key(k) => doc.put(obj, k, scalar_of(scalar))?,
            Place::Index(i) => doc.insert(obj, i, scalar_of(scalar))?,
        },
    }
    Ok(())
}

fn scalar_of(v: &Value) -> automerge::ScalarValue {
    match v {
        Value::Bool(b) => automerge::ScalarValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => automerge::ScalarValue::Int(i),
            None => automerge::ScalarValue::F64(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => automerge::ScalarValue::Str(s.as_str().into()),
        _ => automerge::ScalarValue::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ROOT;
    use serde_json::json;

    /// The root of each kind holds its tag, its version, its content's fields (as they are
    /// written: camelCase) and the server's keys — nothing else.
    #[test]
    fn root_keys_are_the_tag_the_version_and_the_fields() {
        let sorted = |kind| {
            let mut keys = root_keys(kind);
            keys.sort();
            keys
        };
        assert_eq!(
            sorted(DocumentKind::RiskRegister),
            ["actions", "appetite", "assessments", "matrix", "risks", "schema", "schemaVersion"]
        );
        assert_eq!(
            sorted(DocumentKind::Sla),
            [
                "client",
                "costShares",
                "disputeClause",
                "exitClause",
                "kpis",
                "measurements",
                "provider",
                "reviewDate",
                "savings",
                "schema",
                "schemaVersion",
                "specification",
                "termEnd",
                "termStart",
                "timeAllocations",
            ]
        );
        assert_eq!(
            sorted(DocumentKind::Agreement),
            ["clauses", "comments", "schema", "schemaVersion", "signOffs"]
        );
        assert_eq!(
            sorted(DocumentKind::Meeting),
            [
                "actions",
                "agenda",
                "attendees",
                "date",
                "decisions",
                "mattersArising",
                "schema",
                "schemaVersion",
            ]
        );
        for kind in DocumentKind::ALL {
            for key in server_written(*kind) {
                assert!(root_keys(*kind).iter().any(|k| k == key), "{kind}: {key}");
            }
        }
    }

    /// A valid document of each kind reads; the same with a key at its root that is not one of
    /// its fields is refused, the key named by its path. Below the root, unknown fields are
    /// still tolerated.
    #[test]
    fn an_unknown_key_at_the_root_is_refused_by_path() {
        for (kind, described) in [
            (DocumentKind::RiskRegister, "a risk register"),
            (DocumentKind::Sla, "an SLA"),
            (DocumentKind::Agreement, "an agreement"),
            (DocumentKind::Meeting, "a meeting"),
        ] {
            let bytes = crate::schema::initial_document(kind);
            let mut doc = AutoCommit::load(&bytes).unwrap();
            assert!(read(kind, &doc).is_ok(), "{kind}");

            doc.put(ROOT, "evil", "payload").unwrap();
            let problems = read(kind, &doc).unwrap_err();
            assert_eq!(
                problems,
                vec![Problem {
                    path: "evil".into(),
                    message: format!("not a field of {described}"),
                }],
                "{kind}"
            );
            // An object too, and every unknown key is named.
            doc.put_object(ROOT, "alsoEvil", ObjType::Map).unwrap();
            let paths: Vec<String> = read(kind, &doc)
                .unwrap_err()
                .into_iter()
                .map(|p| p.path)
                .collect();
            assert_eq!(paths, ["alsoEvil", "evil"], "{kind}");

            // Nested: tolerated, as before.
            let mut nested = AutoCommit::load(&bytes).unwrap();
            let list = match kind {
                DocumentKind::RiskRegister => "risks",
                DocumentKind::Sla => "kpis",
                DocumentKind::Agreement => "clauses",
                DocumentKind::Meeting => "agenda",
            };
            let (_, obj) = nested.get(ROOT, list).unwrap().unwrap();
            let element = nested.insert_object(&obj, 0, ObjType::Map).unwrap();
            nested.put(&element, "newerClientField", true).unwrap();
            let problems = read(kind, &nested).unwrap_err();
            assert!(
                problems.iter().all(|p| !p.path.contains("newerClientField")),
                "{kind}: {problems:?}"
            );
        }
    }

    /// The document ends equal to `after`; a text field is updated in place (its object id is
    /// kept, so concurrent character edits merge), and an element missing from `after` stays.
    #[test]
    fn write_diff_appends_sets_and_keeps() {
        let before = json!({
            "schema": "x",
            "risks": [
                { "id": "r1", "title": "old title", "owner": "A" },
                { "id": "r2", "title": "kept", "owner": "B" },
            ],
            "assessments": [],
        });
        let mut doc = AutoCommit::new();
        for (k, v) in before.as_object().unwrap() {
            put_json(&mut doc, &ROOT, k, v).unwrap();
        }
        // A client wrote r1's title as collaborative text.
        let (_, risks) = doc.get(ROOT, "risks").unwrap().unwrap();
        let (_, r1) = doc.get(&risks, 0).unwrap().unwrap();
        let title = doc.put_object(&r1, "title", ObjType::Text).unwrap();
        doc.splice_text(&title, 0, 0, "old title").unwrap();

        let after = json!({
            "schema": "x",
            "risks": [
                { "id": "r1", "title": "new title", "owner": "A2" },
                { "id": "r3", "title": "added", "owner": "C" },
            ],
            "assessments": [ { "id": "a1", "riskId": "r3" } ],
        });
        write_diff(&mut doc, &before, &after).unwrap();
        let json = to_json(&doc);
        assert_eq!(json["risks"][0], after["risks"][0]);
        assert_eq!(json["risks"][1], before["risks"][1], "r2 is never deleted");
        assert_eq!(json["risks"][2], after["risks"][1]);
        assert_eq!(json["assessments"], after["assessments"]);
        let (_, same) = doc.get(&r1, "title").unwrap().unwrap();
        assert_eq!(same, title, "text updated in place");
    }
}
