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
//! - [`incremental`]: the same checks on a live document, at the cost of what a change touched.

pub mod agreement;
pub mod changes;
pub mod check;
pub mod incremental;
pub mod limits;
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
pub const SCHEMA_VERSION: u64 = 4;

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
    SlaFigures(sla::PartnersFigures),
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
            DocumentKind::SlaFigures => Content::SlaFigures(sla::PartnersFigures::default()),
            DocumentKind::Agreement => Content::Agreement(agreement::Agreement::default()),
            DocumentKind::Meeting => Content::Meeting(meeting::Meeting::default()),
        }
    }

    pub fn check(&self) -> Result<(), Vec<Problem>> {
        match self {
            Content::RiskRegister(c) => c.check(),
            Content::Sla(c) => c.check(),
            Content::SlaFigures(c) => c.check(),
            Content::Agreement(c) => c.check(),
            Content::Meeting(c) => c.check(),
        }
    }
}

/// Top-level keys of a document of `kind` that only the server writes, after checks a
/// document's content cannot express: a council's sign-off of an agreement names the council
/// and a named version, so it is recorded by an endpoint that knows who is signing and that the
/// version exists, never edited through sync. An SLA's link to its partners-only figures
/// and the figures' link back are set by the server that creates the pair.
pub fn server_written(kind: DocumentKind) -> &'static [&'static str] {
    match kind {
        DocumentKind::Agreement => &["signOffs"],
        DocumentKind::Sla => &["partnersFigures"],
        DocumentKind::SlaFigures => &["sla"],
        DocumentKind::RiskRegister | DocumentKind::Meeting => &[],
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Vec<Problem> {
    vec![Problem {
        path: path.into(),
        message: message.into(),
    }]
}

/// A document's JSON form: maps as objects, lists as arrays, text objects and strings as
/// strings (the JS client writes strings as text objects; both read the same); where values
/// conflict, automerge's winner, as `automerge::AutoSerde` writes it.
pub fn to_json(doc: &impl ReadDoc) -> Value {
    object_json(doc, &automerge::ROOT, ObjType::Map)
}

/// The JSON form of one object of a document of type `typ`, as [`to_json`] writes it within
/// the whole: what [`incremental`] reads of the parts a change touched.
pub fn object_json(doc: &impl ReadDoc, obj: &ObjId, typ: ObjType) -> Value {
    // The range iterators walk an object once; reading a list element by element seeks each
    // index from the start (quadratic on a list of thousands).
    let value = |v: automerge::Value<'_>, o: ObjId| match v {
        automerge::Value::Object(t) => object_json(doc, &o, t),
        automerge::Value::Scalar(s) => serde_json::to_value(&*s).unwrap_or(Value::Null),
    };
    match typ {
        ObjType::Map | ObjType::Table => Value::Object(
            doc.map_range(obj, ..)
                .map(|item| {
                    let o = item.id();
                    (item.key.into_owned(), value(item.value.into_value(), o))
                })
                .collect(),
        ),
        ObjType::List => Value::Array(
            doc.list_range(obj, ..)
                .map(|item| {
                    let o = item.id();
                    value(item.value.into_value(), o)
                })
                .collect(),
        ),
        ObjType::Text => Value::String(doc.text(obj).unwrap_or_default()),
    }
}

/// The top-level keys a document of `kind` may hold: its content's fields and the schema tag
/// and version.
pub fn root_keys(kind: DocumentKind) -> Vec<String> {
    let content = match Content::initial(kind) {
        Content::RiskRegister(c) => serde_json::to_value(c),
        Content::Sla(c) => serde_json::to_value(c),
        Content::SlaFigures(c) => serde_json::to_value(c),
        Content::Agreement(c) => serde_json::to_value(c),
        Content::Meeting(c) => serde_json::to_value(c),
    };
    let mut keys: Vec<String> = match content {
        Ok(Value::Object(map)) => map.into_iter().map(|(k, _)| k).collect(),
        _ => Vec::new(),
    };
    keys.extend(["schema".to_owned(), "schemaVersion".to_owned()]);
    keys
}

/// Reads and checks a live document of `kind` as [`read`] does, and holds it to `limits`: what
/// every change a person makes is checked against.
pub fn read_within(
    kind: DocumentKind,
    doc: &impl ReadDoc,
    limits: &limits::Limits,
) -> Result<Content, Vec<Problem>> {
    let json = to_json(doc);
    limits::check(&json, limits)?;
    read_json(kind, json)
}

/// Reads and checks a live document of `kind`: the schema tag and version, the types (the
/// first type error is reported with its path), then the document's own `check()`. Top-level
/// keys outside the schema are ignored here, so documents written before they were refused
/// still read; the sync room refuses a change that adds one (see [`root_keys`]).
pub fn read(kind: DocumentKind, doc: &impl ReadDoc) -> Result<Content, Vec<Problem>> {
    read_json(kind, to_json(doc))
}

pub(crate) fn read_json(kind: DocumentKind, json: Value) -> Result<Content, Vec<Problem>> {
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
        DocumentKind::SlaFigures => Content::SlaFigures(typed(json)?),
        DocumentKind::Agreement => Content::Agreement(typed(json)?),
        DocumentKind::Meeting => Content::Meeting(typed(json)?),
    };
    content.check()?;
    Ok(content)
}

/// Edits a copy of `doc` as `actor` and returns the change made, as raw change bytes (what
/// sync carries and storage appends), dated `time_secs` so the audit trail says when (automerge
/// records no time unless told). Empty when `edit` changed nothing. How the server makes a
/// change of its own to a live document: the room then checks and applies it like a peer's.
pub fn change_of<E: From<automerge::AutomergeError>>(
    doc: &automerge::Automerge,
    actor: automerge::ActorId,
    time_secs: i64,
    edit: impl FnOnce(&mut AutoCommit) -> Result<(), E>,
) -> Result<Vec<u8>, E> {
    let heads = doc.get_heads();
    let mut working = AutoCommit::load(&doc.save())?.with_actor(actor);
    edit(&mut working)?;
    working.commit_with(automerge::transaction::CommitOptions::default().with_time(time_secs));
    Ok(working.save_after(&heads))
}

/// Writes into `doc` what changed from `before` to `after` (two JSON forms of the document),
/// as small edits rather than a rewrite, so concurrent edits elsewhere survive: top-level
/// lists of objects with an `id` (or, lacking one, a `category` or `description` that names
/// them: appetite statements, savings lines) get new elements appended and changed fields of
/// existing elements set (text fields through a minimal text update); other changed top-level values
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
        // An element is found by its id; lists whose elements have none by the field that
        // names them (an appetite statement's category, a savings line's description).
        let key_field = |v: &Value| {
            ["id", "category", "description"]
                .into_iter()
                .find(|k| v.get(*k).and_then(Value::as_str).is_some())
        };
        let id_of = |v: &Value| {
            key_field(v).and_then(|k| v.get(k).and_then(Value::as_str).map(str::to_owned))
        };
        for item in new_items {
            let (Some(id), Some(key)) = (id_of(item), key_field(item)) else {
                continue;
            };
            match old_items
                .iter()
                .find(|o| key_field(o) == Some(key) && id_of(o).as_deref() == Some(&id))
            {
                None => {
                    let end = doc.length(&list);
                    insert_json(doc, &list, end, item)?;
                }
                Some(old_item) if old_item != item => {
                    let Some(index) = (0..doc.length(&list)).find(|i| {
                        doc.get(&list, *i)
                            .ok()
                            .flatten()
                            .and_then(|(_, obj)| doc.get(&obj, key).ok().flatten())
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

/// The fields, by JSON name in any kind of document, that hold text people type: each is an
/// automerge text object from the moment it is written (by the demo, an import, the server), so
/// that two people typing into it at once, or one of them offline, merge character by character.
/// A plain string would be last-writer-wins: one person's typing would vanish. Other strings
/// (ids, references to ids, enumerations, dates, a band's colour) stay plain values.
pub const TEXT_FIELDS: &[&str] = &[
    "title",
    "reference",
    "cause",
    "event",
    "effect",
    "owner",
    "controls",
    "reason",
    "expectedEffect",
    "statement",
    "description",
    "name",
    "commentary",
    "correctiveAction",
    "post",
    "specification",
    "disputeClause",
    "exitClause",
    "heading",
    "text",
    "body",
    "role",
    "presenter",
    "mattersArising",
];

/// Whether a field holds text people type (see [`TEXT_FIELDS`]).
pub fn is_text_field(key: &str) -> bool {
    TEXT_FIELDS.contains(&key)
}

/// Writes a JSON value into a document at `key` of the map `obj`: objects become maps, arrays
/// lists, strings in [`TEXT_FIELDS`] text objects and other strings plain strings, integers
/// signed integers (as the JS client writes them), other numbers floats. Never an unsigned
/// integer, which the JS client reads as a `BigInt`: an integer beyond `i64::MAX` becomes a
/// float.
pub fn put_json(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    value: &Value,
) -> Result<(), automerge::AutomergeError> {
    write_json(doc, obj, Place::Key(key), value, is_text_field(key))
}

/// Inserts a JSON value into a list at `index` (see [`put_json`]); a string is inserted as
/// plain (use [`put_json`] on the list's key for a list of texts).
pub fn insert_json(
    doc: &mut AutoCommit,
    list: &ObjId,
    index: usize,
    value: &Value,
) -> Result<(), automerge::AutomergeError> {
    write_json(doc, list, Place::Index(index), value, false)
}

/// `text`: a string here is text people type (the field, or the list of texts, it is in).
fn write_json(
    doc: &mut AutoCommit,
    obj: &ObjId,
    place: Place<'_>,
    value: &Value,
    text: bool,
) -> Result<(), automerge::AutomergeError> {
    let new_object = |doc: &mut AutoCommit, kind| match place {
        Place::Key(k) => doc.put_object(obj, k, kind),
        Place::Index(i) => doc.insert_object(obj, i, kind),
    };
    match value {
        Value::Object(map) => {
            let child = new_object(doc, ObjType::Map)?;
            for (k, v) in map {
                write_json(doc, &child, Place::Key(k), v, is_text_field(k))?;
            }
        }
        Value::Array(items) => {
            let child = new_object(doc, ObjType::List)?;
            for (i, v) in items.iter().enumerate() {
                write_json(doc, &child, Place::Index(i), v, text)?;
            }
        }
        Value::String(s) if text => {
            let child = new_object(doc, ObjType::Text)?;
            doc.splice_text(&child, 0, 0, s)?;
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

    /// Appetite statements have no id: their category names them (an import's appetite was
    /// once dropped without a word).
    #[test]
    fn write_diff_finds_elements_without_ids_by_their_names() {
        let before = json!({
            "appetite": [ { "category": "Financial", "maxScore": 12, "statement": "Cautious" } ],
        });
        let mut doc = AutoCommit::new();
        put_json(&mut doc, &ROOT, "appetite", &before["appetite"]).unwrap();
        let after = json!({
            "appetite": [
                { "category": "Financial", "maxScore": 9, "statement": "Cautious" },
                { "category": "People", "maxScore": 6, "statement": "" },
            ],
        });
        write_diff(&mut doc, &before, &after).unwrap();
        assert_eq!(to_json(&doc)["appetite"], after["appetite"]);
    }
}
