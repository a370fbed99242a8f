//! Realistic document content for the large-document scenarios: a risk register's risks and
//! assessments, an SLA's KPIs and monthly measurements, each item as the web client writes it
//! (the texts people type as automerge text objects). Written here rather than borrowed from
//! the server's crates so the load generator stays an independent client of the protocol.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ScalarValue};
use serde_json::{Value, json};

/// Fields written as text objects (typed into, character by character).
const TEXTS: &[&str] = &["title", "controls", "name", "commentary", "reason"];

pub fn risk(id: &str, n: u64) -> Value {
    json!({
        "id": id, "reference": format!("SP-{n:03}"), "title": format!("Risk {n} to the shared service"),
        "cause": "Funding settlement later than planned", "event": "Budget gap in year",
        "effect": "Service reductions", "category": "finance", "owner": "Head of Finance",
        "owningCouncils": [], "affectedCouncils": [], "identified": "2024-04-01",
        "related": [], "response": "treat", "controls": "Quarterly monitoring.",
        "reviewFrequencyDays": 90, "nextReview": "2027-01-01", "status": "open",
        "escalation": "joint-management-team",
    })
}

pub fn assessment(id: &str, risk_id: &str, n: u64) -> Value {
    let kind = ["inherent", "current", "target"][(n % 3) as usize];
    json!({
        "id": id, "riskId": risk_id, "kind": kind,
        "likelihood": (n % 5 + 1) as i64, "impact": ((n / 5) % 5 + 1) as i64,
        "date": "2026-11-30", "assessor": "Risk officer", "reason": "Reviewed at the JMT",
    })
}

pub fn kpi(id: &str, n: u64) -> Value {
    json!({
        "id": id, "name": format!("KPI {n}: calls answered within 60 seconds"),
        "polarity": "higher-is-better", "frequency": "monthly", "unit": "%",
        "target": 95.0, "amberTolerance": 2.0, "councilShares": {},
    })
}

pub fn measurement(id: &str, kpi_id: &str, period: &str) -> Value {
    json!({
        "id": id, "kpiId": kpi_id, "period": period, "actual": 93.5,
        "commentary": "Within tolerance", "correctiveAction": "",
    })
}

/// Inserts `value` into `list` at `index`.
pub fn insert(tx: &mut impl Transactable, list: &ObjId, index: usize, value: &Value) {
    let obj = tx.insert_object(list, index, ObjType::Map).expect("insert");
    write_fields(tx, &obj, value);
}

fn write_fields(tx: &mut impl Transactable, obj: &ObjId, value: &Value) {
    let Value::Object(fields) = value else {
        return;
    };
    for (k, v) in fields {
        match v {
            Value::Object(_) => {
                let child = tx.put_object(obj, k, ObjType::Map).expect("put");
                write_fields(tx, &child, v);
            }
            Value::Array(items) => {
                let child = tx.put_object(obj, k, ObjType::List).expect("put");
                for (i, item) in items.iter().enumerate() {
                    tx.insert(&child, i, scalar(item)).expect("insert");
                }
            }
            Value::String(s) if TEXTS.contains(&k.as_str()) => {
                let text = tx.put_object(obj, k, ObjType::Text).expect("put");
                tx.splice_text(&text, 0, 0, s).expect("splice");
            }
            _ => tx.put(obj, k, scalar(v)).expect("put"),
        }
    }
}

fn scalar(v: &Value) -> ScalarValue {
    match v {
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => ScalarValue::Int(i),
            None => ScalarValue::F64(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => ScalarValue::Str(s.as_str().into()),
        _ => ScalarValue::Null,
    }
}
