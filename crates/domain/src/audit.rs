//! What one automerge change did, in the words of the people who read an audit trail: each
//! edit named by the thing it changed ("Risk SP-07 · Next review", "Current assessment of
//! SP-02 added") with its value before and after as text — never an internal id, never JSON.
//!
//! A change that adds an element (a risk, an assessment, an action) is one edit, "… added",
//! with the element summed up; the fields written inside it are not listed again. A text field
//! is one edit with its whole text before and after, however many keystrokes the change holds.

use std::collections::{HashMap, HashSet};

use crate::documents::agreement;
use automerge::{Automerge, ChangeHash, ObjId, ObjType, PatchAction, Prop, ReadDoc, Value};
use serde::Serialize;
use utoipa::ToSchema;

/// One field edit within a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldEdit {
    /// Where, as a JSON path at the time of the change: `risks[3].title`.
    pub path: String,
    /// What was changed, as people say it: "Risk SP-07 · Next review".
    pub label: String,
    /// set, add (an element added), insert (a value into a list), delete, text (the words of a
    /// text changed) or format (only its marks).
    pub action: &'static str,
    /// The value before, as text (absent when there was none).
    pub from: Option<String>,
    /// The value after, as text (absent when it was removed).
    pub to: Option<String>,
    /// The risk the edit belongs to, for register documents.
    pub risk_id: Option<String>,
}

/// Names for the ids a document holds: organisations (councils) and the register's risks.
pub type Names = HashMap<String, String>;

/// The risk references of a register at `heads`, by risk id.
pub fn risk_names(doc: &Automerge, heads: &[ChangeHash]) -> Names {
    let mut out = Names::new();
    let Ok(Some((Value::Object(ObjType::List), risks))) =
        doc.get_at(automerge::ROOT, "risks", heads)
    else {
        return out;
    };
    for i in 0..doc.length_at(&risks, heads) {
        let Ok(Some((_, risk))) = doc.get_at(&risks, i, heads) else {
            continue;
        };
        if let (Some(id), Some(reference)) = (
            text_field(doc, &risk, "id", heads),
            text_field(doc, &risk, "reference", heads),
        ) {
            out.insert(id, reference);
        }
    }
    out
}

/// A string field of a map (plain or text object).
fn text_field(doc: &Automerge, obj: &ObjId, key: &str, heads: &[ChangeHash]) -> Option<String> {
    match doc.get_at(obj, key, heads).ok().flatten()? {
        (Value::Scalar(s), _) => s.as_str().map(str::to_owned),
        (Value::Object(ObjType::Text), id) => doc.text_at(&id, heads).ok(),
        _ => None,
    }
}

/// A field's name as people say it.
pub fn field_label(key: &str) -> String {
    let known = match key {
        "nextReview" => "Next review",
        "reviewFrequencyDays" => "Review frequency (days)",
        "owningCouncils" => "Owning councils",
        "affectedCouncils" => "Councils affected",
        "bearingCouncil" => "Council bearing the risk",
        "related" => "Related risks",
        "controls" => "Existing controls",
        "riskId" => "Risk",
        "kpiId" => "KPI",
        "expectedEffect" => "Expected effect",
        "correctiveAction" => "Corrective action",
        "disputeClause" => "Dispute clause",
        "exitClause" => "Exit clause",
        "maxScore" => "Highest score accepted",
        "mattersArising" => "Matters arising",
        "agendaItemId" => "Agenda item",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    // camelCase to words: "termStart" → "Term start".
    let mut out = String::new();
    for (i, c) in key.chars().enumerate() {
        if c.is_uppercase() {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else if i == 0 {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// How an element of a top-level list is named: "Risk SP-07", "Current assessment of SP-02",
/// "Action “Brief both cabinets”", "Decision 3".
fn element_label(
    doc: &Automerge,
    list: &str,
    index: usize,
    elem: &ObjId,
    heads: &[ChangeHash],
    names: &Names,
) -> String {
    let field = |k: &str| text_field(doc, elem, k, heads).filter(|s| !s.trim().is_empty());
    let quoted = |s: String| {
        let short: String = s.chars().take(60).collect();
        if short.len() < s.len() {
            format!("“{short}…”")
        } else {
            format!("“{short}”")
        }
    };
    let risk = || {
        field("riskId")
            .map(|id| names.get(&id).cloned().unwrap_or(id))
            .unwrap_or_default()
    };
    match list {
        "risks" => format!(
            "Risk {}",
            field("reference").unwrap_or_else(|| (index + 1).to_string())
        ),
        "assessments" => {
            let kind = field("kind")
                .map(|k| field_label(&k))
                .unwrap_or_else(|| "An".into());
            format!("{kind} assessment of {}", risk())
        }
        "actions" => match field("title").or_else(|| field("text")) {
            Some(t) => format!("Action {}", quoted(t)),
            None => format!("Action {}", index + 1),
        },
        "appetite" => format!("Appetite for {}", field("category").unwrap_or_default()),
        "kpis" => format!("KPI {}", field("name").map(quoted).unwrap_or_default()),
        "measurements" => format!("Measurement for {}", field("period").unwrap_or_default()),
        "clauses" => format!(
            "Clause {}",
            field("heading").map(quoted).unwrap_or_default()
        ),
        "comments" => "Comment".into(),
        "signOffs" => "Sign-off".into(),
        "decisions" => format!("Decision {}", index + 1),
        "agenda" => format!("Agenda item {}", index + 1),
        "attendees" => format!("Attendee {}", field("name").unwrap_or_default()),
        "costShares" => format!(
            "Cost share {}",
            field("description").map(quoted).unwrap_or_default()
        ),
        "timeAllocations" => format!("Time of {}", field("post").unwrap_or_default()),
        other => format!("{} {}", field_label(other), index + 1),
    }
    .trim()
    .to_owned()
}

/// An added element summed up in a line: its words, or for an assessment its score and reason.
fn summary(doc: &Automerge, list: &str, elem: &ObjId, heads: &[ChangeHash]) -> String {
    let field = |k: &str| text_field(doc, elem, k, heads).filter(|s| !s.trim().is_empty());
    let int = |k: &str| match doc.get_at(elem, k, heads).ok().flatten() {
        Some((Value::Scalar(s), _)) => s.as_i64(),
        _ => None,
    };
    if list == "assessments"
        && let (Some(l), Some(i)) = (int("likelihood"), int("impact"))
    {
        let reason = field("reason")
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        return format!("{l} × {i} = {}{reason}", l * i);
    }
    [
        "title",
        "text",
        "name",
        "heading",
        "description",
        "body",
        "statement",
        "period",
    ]
    .iter()
    .find_map(|k| field(k))
    .map(|t| agreement::readable(&t))
    .unwrap_or_default()
}

/// A value as text: strings as they are (an id by its name), numbers and booleans as written,
/// a list by its items, a map summed up.
fn shown(
    doc: &Automerge,
    value: &Value<'_>,
    obj: &ObjId,
    heads: &[ChangeHash],
    names: &Names,
) -> String {
    use automerge::ScalarValue as S;
    let named = |s: &str| names.get(s).cloned().unwrap_or_else(|| s.to_owned());
    match value {
        Value::Object(ObjType::Text) => doc
            .text_at(obj, heads)
            .map(|t| agreement::readable(&t))
            .unwrap_or_default(),
        Value::Object(ObjType::List) => (0..doc.length_at(obj, heads))
            .filter_map(|i| doc.get_at(obj, i, heads).ok().flatten())
            .map(|(v, id)| shown(doc, &v, &id, heads, names))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => summary(doc, "", obj, heads),
        Value::Scalar(s) => match s.as_ref() {
            S::Str(s) => named(s),
            S::Int(i) => i.to_string(),
            S::Uint(u) => u.to_string(),
            S::F64(f) => f.to_string(),
            S::Boolean(b) => if *b { "yes" } else { "no" }.to_owned(),
            S::Counter(c) => i64::from(c).to_string(),
            S::Null => String::new(),
            other => other.to_string(),
        },
    }
}

fn value_at(
    doc: &Automerge,
    obj: &ObjId,
    prop: Prop,
    heads: &[ChangeHash],
    names: &Names,
) -> Option<String> {
    let (v, id) = doc.get_at(obj, prop, heads).ok().flatten()?;
    Some(shown(doc, &v, &id, heads, names))
}

/// The label of a place: the element of a top-level list it is in (if any), then the field.
fn label_of(
    doc: &Automerge,
    path: &[(ObjId, Prop)],
    obj: &ObjId,
    last: Option<&Prop>,
    heads: &[ChangeHash],
    names: &Names,
) -> String {
    let props: Vec<&Prop> = path.iter().map(|(_, p)| p).chain(last).collect();
    let field = props
        .iter()
        .rev()
        .find_map(|p| match p {
            Prop::Map(k) => Some(k.as_str()),
            Prop::Seq(_) => None,
        })
        .map(field_label);
    match (props.first(), props.get(1)) {
        (Some(Prop::Map(list)), Some(Prop::Seq(i))) => {
            // The list itself: the next step of the path, or — when the index is the patch's
            // own property (an element put or removed) — the patch's object.
            let list_obj = path.get(1).map_or(obj, |(o, _)| o);
            let elem = path.get(2).map(|(o, _)| o.clone()).or_else(|| {
                match doc.get_at(list_obj, Prop::Seq(*i), heads).ok().flatten() {
                    Some((Value::Object(_), id)) => Some(id),
                    _ => None,
                }
            });
            let entity = elem
                .map(|e| element_label(doc, list, *i, &e, heads, names))
                .unwrap_or_else(|| format!("{} {}", field_label(list), i + 1));
            match (props.len() > 2, field) {
                (true, Some(f)) => format!("{entity} · {f}"),
                _ => entity,
            }
        }
        _ => field.unwrap_or_default(),
    }
}

/// What one change did, field by field: automerge's diff between the change's parents and the
/// change, with old values read at the parents.
pub fn field_edits(
    doc: &Automerge,
    before: &[ChangeHash],
    after: &[ChangeHash],
    names: &Names,
) -> Vec<FieldEdit> {
    let mut out: Vec<FieldEdit> = Vec::new();
    // Objects made by this change: what is written inside them is part of their own edit.
    let mut created: HashSet<ObjId> = HashSet::new();
    let mut texts: HashSet<ObjId> = HashSet::new();
    for patch in doc.diff(before, after) {
        if created.contains(&patch.obj) || patch.path.iter().any(|(o, _)| created.contains(o)) {
            continue;
        }
        let mut path = String::new();
        for (_, prop) in &patch.path {
            push_prop(&mut path, prop);
        }
        let risk_id = risk_of(doc, &patch.path, &patch.obj, after);
        if doc.object_type(&patch.obj) == Ok(ObjType::Text) {
            if !texts.insert(patch.obj.clone()) {
                continue;
            }
            let text_at = |h: &[ChangeHash]| {
                doc.text_at(&patch.obj, h)
                    .ok()
                    .map(|t| agreement::readable(&t))
            };
            let (from, to) = (text_at(before), text_at(after));
            out.push(FieldEdit {
                label: label_of(doc, &patch.path, &patch.obj, None, after, names),
                path,
                // The same words before and after: only marks (bold, italic) changed.
                action: if from == to { "format" } else { "text" },
                from,
                to,
                risk_id,
            });
            continue;
        }
        let top_list = match patch.path.first() {
            Some((_, Prop::Map(list))) if patch.path.len() == 1 => Some(list.clone()),
            _ => None,
        };
        let (prop, action, to) = match &patch.action {
            PatchAction::PutMap { key, value, .. } => {
                if let Value::Object(_) = value.0 {
                    created.insert(value.1.clone());
                }
                (
                    Prop::Map(key.clone()),
                    "set",
                    Some(shown(doc, &value.0, &value.1, after, names)),
                )
            }
            PatchAction::PutSeq { index, value, .. } => {
                if let Value::Object(_) = value.0 {
                    created.insert(value.1.clone());
                }
                (
                    Prop::Seq(*index),
                    "set",
                    Some(shown(doc, &value.0, &value.1, after, names)),
                )
            }
            PatchAction::Insert { index, values } => {
                for (k, (v, id, _)) in values.iter().enumerate() {
                    let mut p = path.clone();
                    push_prop(&mut p, &Prop::Seq(index + k));
                    let element = matches!(v, Value::Object(ObjType::Map));
                    if let Value::Object(_) = v {
                        created.insert(id.clone());
                    }
                    let (label, to) = match (&top_list, element) {
                        (Some(list), true) => (
                            format!(
                                "{} added",
                                element_label(doc, list, index + k, id, after, names)
                            ),
                            summary(doc, list, id, after),
                        ),
                        _ => (
                            label_of(doc, &patch.path, &patch.obj, None, after, names),
                            shown(doc, v, id, after, names),
                        ),
                    };
                    out.push(FieldEdit {
                        path: p,
                        label,
                        action: if element { "add" } else { "insert" },
                        from: None,
                        to: Some(to),
                        risk_id: risk_id
                            .clone()
                            .or_else(|| element_risk(doc, top_list.as_deref(), id, after)),
                    });
                }
                continue;
            }
            PatchAction::DeleteMap { key } => (Prop::Map(key.clone()), "delete", None),
            PatchAction::DeleteSeq { index, length } => {
                for k in 0..*length {
                    let mut p = path.clone();
                    push_prop(&mut p, &Prop::Seq(index + k));
                    out.push(FieldEdit {
                        path: p,
                        label: format!(
                            "{} removed",
                            label_of(
                                doc,
                                &patch.path,
                                &patch.obj,
                                Some(&Prop::Seq(index + k)),
                                before,
                                names
                            )
                        ),
                        action: "delete",
                        from: value_at(doc, &patch.obj, Prop::Seq(index + k), before, names),
                        to: None,
                        risk_id: risk_id.clone(),
                    });
                }
                continue;
            }
            PatchAction::Increment { prop, value } => {
                (prop.clone(), "increment", Some(value.to_string()))
            }
            PatchAction::Conflict { .. }
            | PatchAction::SpliceText { .. }
            | PatchAction::Mark { .. } => continue,
        };
        let from = match &prop {
            // A sequence index names a different element before the change.
            Prop::Map(_) => value_at(doc, &patch.obj, prop.clone(), before, names),
            Prop::Seq(_) => None,
        };
        // Skip a put that leaves the value as it was (a client re-writing the same text).
        if action == "set" && from.is_some() && from == to {
            continue;
        }
        let label = label_of(doc, &patch.path, &patch.obj, Some(&prop), after, names);
        push_prop(&mut path, &prop);
        out.push(FieldEdit {
            path,
            label,
            action,
            from,
            to,
            risk_id,
        });
    }
    out
}

fn push_prop(path: &mut String, prop: &Prop) {
    match prop {
        Prop::Map(k) => {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
        }
        Prop::Seq(i) => {
            path.push('[');
            path.push_str(&i.to_string());
            path.push(']');
        }
    }
}

/// The risk an added element belongs to: a risk's own id, or an assessment's or action's
/// `riskId`.
fn element_risk(
    doc: &Automerge,
    list: Option<&str>,
    elem: &ObjId,
    heads: &[ChangeHash],
) -> Option<String> {
    let field = match list? {
        "risks" => "id",
        "assessments" | "actions" => "riskId",
        _ => return None,
    };
    text_field(doc, elem, field, heads)
}

/// The risk an edit belongs to, in a register: the `id` of the element of `risks`, or the
/// `riskId` of the element of `assessments` or `actions`, that the edit is inside.
fn risk_of(
    doc: &Automerge,
    path: &[(ObjId, Prop)],
    obj: &ObjId,
    heads: &[ChangeHash],
) -> Option<String> {
    let (Some((_, Prop::Map(list))), Some((_, Prop::Seq(_)))) = (path.first(), path.get(1)) else {
        return None;
    };
    // The element is the object the third step lives in, or the patched object itself.
    let element = path.get(2).map(|(o, _)| o).unwrap_or(obj);
    element_risk(doc, Some(list), element, heads)
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    /// A document with a top-level list of two entries, and its heads.
    fn two_savings() -> (AutoCommit, automerge::ObjId, Vec<ChangeHash>) {
        let mut doc = AutoCommit::new();
        let list = doc.put_object(ROOT, "savings", ObjType::List).unwrap();
        for (i, title) in ["Shared printing contract", "One telephony platform"]
            .iter()
            .enumerate()
        {
            let item = doc.insert_object(&list, i, ObjType::Map).unwrap();
            doc.put(&item, "id", format!("s-{i}")).unwrap();
            doc.put(&item, "title", *title).unwrap();
        }
        doc.commit();
        let heads = doc.get_heads();
        (doc, list, heads)
    }

    // These two panicked (an index past the path) on the audit trail of any document where an
    // entry of a top-level list was removed or replaced — an SLA line moved to the partners'
    // figures, say.
    #[test]
    fn removing_an_entry_of_a_top_level_list_is_named() {
        let (mut doc, list, before) = two_savings();
        doc.delete(&list, 1).unwrap();
        doc.commit();
        let after = doc.get_heads();
        let edits = field_edits(doc.document(), &before, &after, &Names::new());
        assert_eq!(edits.len(), 1, "{edits:?}");
        assert_eq!(edits[0].action, "delete");
        assert_eq!(edits[0].path, "savings[1]");
        assert!(edits[0].label.ends_with("removed"), "{}", edits[0].label);
    }

    #[test]
    fn replacing_an_entry_of_a_top_level_list_is_named() {
        let (mut doc, list, before) = two_savings();
        let item = doc.put_object(&list, 0, ObjType::Map).unwrap();
        doc.put(&item, "id", "s-9").unwrap();
        doc.commit();
        let after = doc.get_heads();
        let edits = field_edits(doc.document(), &before, &after, &Names::new());
        assert!(
            edits
                .iter()
                .any(|e| e.action == "set" && e.path == "savings[0]"),
            "{edits:?}"
        );
    }
}
