//! What the live documents hold, as types, and the rules derived from them. Pure: the server
//! reads a document's JSON form into these types to validate it and to build views.
//!
//! - [`risk`]: the risk register — matrix as data, risks, assessments (never overwritten),
//!   actions, appetite; score and band, direction of travel, overdue and stale, heat map.
//! - [`sla`]: the SLA — KPIs and measurements, cost shares, time allocation, savings; KPI
//!   RAG and trend, cost split by basis with the re-base check, savings per council.
//! - [`agreement`]: clauses of rich text with status, anchored comments, sign-offs.
//! - [`meeting`]: attendees, agenda, decisions, actions linked to risks and KPIs.
//! - [`check`]: problems found by each document's `check()`, each with the JSON path at fault.

pub mod agreement;
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

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u64 = 2;

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

/// Reads and checks a live document of `kind`: the schema tag and version, the types (the
/// first type error is reported with its path), then the document's own `check()`.
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
