//! What an import would do, row by row, before it does it.
//!
//! A person importing a partner's register needs to see what will change and fix what is
//! wrong in their own file, so the preview lists every row's outcome and *all* of a row's
//! problems (each naming the column heading and the value). [`Preview::apply_to`] then does
//! exactly what the preview shows: nothing is recomputed on apply.
//!
//! Rules: a row matches an existing risk by reference (trimmed, any case). A blank cell leaves
//! a field as it is on update (a sheet cannot tell "cleared" from "not filled in") and takes
//! the default on create. Scores are appended as new assessments, never overwritten, and only
//! when they differ from the latest of their kind. A cell whose text was too long to read
//! ([`Cell::TooLong`]) is a problem of its row when its column is imported, and nothing when
//! the column is ignored.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};
use domain::documents::risk::{
    Assessment, AssessmentKind, Escalation, Response, Risk, RiskRegister, RiskStatus,
};
use serde::Serialize;

use super::mapping::{Field, Mapping};
use super::table::{Cell, Row, Table};
use super::values;
use crate::Councils;

/// The import as it would happen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// One entry per non-blank data row, in sheet order.
    pub rows: Vec<RowPreview>,
    pub creates: usize,
    pub updates: usize,
    pub unchanged: usize,
    pub errors: usize,
    pub skipped_blank: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowPreview {
    /// The sheet row number, as Excel shows it.
    pub row: u32,
    /// The row's reference, trimmed, when it has one.
    pub reference: Option<String>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// A new risk, with its first assessments.
    Create {
        /// Boxed: a risk is far larger than the other outcomes.
        risk: Box<Risk>,
        assessments: Vec<Assessment>,
    },
    /// Fields that change on an existing risk, and assessments whose scores moved.
    Update {
        #[serde(rename = "riskId")]
        risk_id: String,
        changes: Vec<FieldChange>,
        assessments: Vec<Assessment>,
    },
    Unchanged,
    /// Nothing from this row is applied.
    Error {
        problems: Vec<String>,
    },
}

/// One field of an existing risk that the import changes, shown as a person reads it
/// (dates as dd/mm/yyyy, councils by name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: Field,
    pub from: String,
    pub to: String,
    /// The typed new value, so applying never re-parses text.
    #[serde(skip)]
    value: Value,
}

/// A typed value of a risk field.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Councils(Vec<String>),
    Council(Option<String>),
    Date(NaiveDate),
    Days(u32),
    Response(Response),
    Status(RiskStatus),
    Escalation(Escalation),
}

impl Preview {
    /// Applies the preview to the register it was made from: pushes the created risks and all
    /// new assessments, sets the changed fields, and skips error rows. A created risk whose id
    /// is already present (the preview applied twice) is not added again, and an update whose
    /// risk has gone is dropped.
    pub fn apply_to(&self, register: &mut RiskRegister) {
        for row in &self.rows {
            match &row.outcome {
                Outcome::Create { risk, assessments } => {
                    if register.risks.iter().any(|r| r.id == risk.id) {
                        continue;
                    }
                    register.risks.push(risk.as_ref().clone());
                    register.assessments.extend(assessments.iter().cloned());
                }
                Outcome::Update {
                    risk_id,
                    changes,
                    assessments,
                } => {
                    let Some(risk) = register.risks.iter_mut().find(|r| &r.id == risk_id) else {
                        continue;
                    };
                    for c in changes {
                        set(risk, c.field, c.value.clone());
                    }
                    register.assessments.extend(assessments.iter().cloned());
                }
                Outcome::Unchanged | Outcome::Error { .. } => {}
            }
        }
    }
}

/// Defaults for fields a new risk's row leaves blank.
const DEFAULT_CATEGORY: &str = "Uncategorised";
const DEFAULT_FREQUENCY_DAYS: u32 = 90;
const DEFAULT_REASON: &str = "Imported from spreadsheet";

const KINDS: [(AssessmentKind, Field, Field); 3] = [
    (
        AssessmentKind::Inherent,
        Field::InherentLikelihood,
        Field::InherentImpact,
    ),
    (
        AssessmentKind::Current,
        Field::CurrentLikelihood,
        Field::CurrentImpact,
    ),
    (
        AssessmentKind::Target,
        Field::TargetLikelihood,
        Field::TargetImpact,
    ),
];

/// Works out what importing `table` into `register` would do.
///
/// `councils` translates council names in the sheet to organisation ids; `today` dates new
/// assessments and fills absent dates; `assessor` is recorded on new assessments; `new_id`
/// makes the ids of new risks and assessments (called only for rows without errors, risk id
/// first, then one per assessment in the order inherent, current, target).
pub fn preview(
    table: &Table,
    mapping: &Mapping,
    register: &RiskRegister,
    councils: &Councils,
    today: NaiveDate,
    assessor: &str,
    new_id: &mut dyn FnMut() -> String,
) -> Preview {
    let mut out = Preview {
        rows: Vec::new(),
        creates: 0,
        updates: 0,
        unchanged: 0,
        errors: 0,
        skipped_blank: 0,
    };
    let ctx = Context {
        table,
        mapping,
        register,
        councils,
        today,
        assessor,
    };
    // Reference (lower case) → the row it was first seen on.
    let mut seen: HashMap<String, u32> = HashMap::new();
    for row in &table.rows {
        if row.is_blank() {
            out.skipped_blank += 1;
            continue;
        }
        let (reference, outcome) = ctx.row(row, &mut seen, new_id);
        match outcome {
            Outcome::Create { .. } => out.creates += 1,
            Outcome::Update { .. } => out.updates += 1,
            Outcome::Unchanged => out.unchanged += 1,
            Outcome::Error { .. } => out.errors += 1,
        }
        out.rows.push(RowPreview {
            row: row.number,
            reference,
            outcome,
        });
    }
    out
}

struct Context<'a> {
    table: &'a Table,
    mapping: &'a Mapping,
    register: &'a RiskRegister,
    councils: &'a Councils,
    today: NaiveDate,
    assessor: &'a str,
}

/// One row's parsed values; absent fields were blank or not mapped.
#[derive(Default)]
struct Parsed {
    reference: Option<String>,
    fields: BTreeMap<Field, Value>,
    scores: HashMap<Field, u32>,
    reason: Option<String>,
}

impl Context<'_> {
    /// The heading to name in a message about `field`: the sheet's own, or the export label
    /// when no column holds the field.
    fn heading(&self, field: Field) -> String {
        self.mapping
            .column(field)
            .map_or_else(|| field.label().to_owned(), |c| self.table.header_name(c))
    }

    fn parse(&self, row: &Row, problems: &mut Vec<String>) -> Parsed {
        let mut p = Parsed::default();
        for (col, field) in self.mapping.columns() {
            let cell = row.get(col);
            if cell.is_blank() || field == Field::Ignore {
                continue;
            }
            if let Cell::TooLong { chars, limit } = *cell {
                problems.push(format!(
                    "\"{}\": holds {chars} characters of text; the limit is {limit} characters \
                     per cell",
                    self.table.header_name(col)
                ));
                continue;
            }
            let text = cell.text();
            // Errors name the value first, except for councils: there the message names just
            // the unknown councils of the list.
            let named = matches!(
                field,
                Field::OwningCouncils | Field::AffectedCouncils | Field::BearingCouncil
            );
            let value: Result<Option<Value>, String> = match field {
                Field::Reference => {
                    p.reference = Some(text);
                    continue;
                }
                Field::AssessmentReason => {
                    p.reason = Some(text);
                    continue;
                }
                Field::Title
                | Field::Cause
                | Field::Event
                | Field::Effect
                | Field::Category
                | Field::Owner
                | Field::Controls => Ok(Some(Value::Text(text))),
                Field::OwningCouncils | Field::AffectedCouncils => {
                    values::councils(&text, self.councils).map(|c| Some(Value::Councils(c)))
                }
                Field::BearingCouncil => match values::councils(&text, self.councils) {
                    Ok(ids) if ids.len() == 1 => Ok(Some(Value::Council(ids.into_iter().next()))),
                    Ok(_) => Err(format!(
                        "{} names more than one council; one council bears a risk",
                        cell.shown()
                    )),
                    Err(e) => Err(e),
                },
                Field::Identified | Field::NextReview => {
                    values::date(cell).map(|d| Some(Value::Date(d)))
                }
                Field::ReviewFrequencyDays => values::frequency(cell).map(|n| Some(Value::Days(n))),
                Field::Response => values::response(&text).map(|r| Some(Value::Response(r))),
                Field::Status => values::status(&text).map(|s| Some(Value::Status(s))),
                Field::Escalation => values::escalation(&text).map(|e| Some(Value::Escalation(e))),
                Field::InherentLikelihood | Field::CurrentLikelihood | Field::TargetLikelihood => {
                    values::score(cell, &self.register.matrix.likelihood).map(|n| {
                        p.scores.insert(field, n);
                        None
                    })
                }
                Field::InherentImpact | Field::CurrentImpact | Field::TargetImpact => {
                    values::score(cell, &self.register.matrix.impact).map(|n| {
                        p.scores.insert(field, n);
                        None
                    })
                }
                Field::Ignore => continue,
            };
            match value {
                Ok(Some(v)) => {
                    p.fields.insert(field, v);
                }
                Ok(None) => {}
                Err(e) => {
                    let header = self.table.header_name(col);
                    problems.push(if named {
                        format!("\"{header}\": {e}")
                    } else {
                        format!("\"{header}\": {} {e}", cell.shown())
                    });
                }
            }
        }
        p
    }

    fn row(
        &self,
        row: &Row,
        seen: &mut HashMap<String, u32>,
        new_id: &mut dyn FnMut() -> String,
    ) -> (Option<String>, Outcome) {
        let mut problems = Vec::new();
        let p = self.parse(row, &mut problems);
        let reference = p.reference.clone();
        let reference_too_long = self
            .mapping
            .column(Field::Reference)
            .is_some_and(|c| matches!(row.get(c), Cell::TooLong { .. }));
        match &reference {
            // Too long is reported already.
            None if reference_too_long => {}
            None => problems.insert(
                0,
                format!(
                    "\"{}\": a reference is required to match or create a risk",
                    self.heading(Field::Reference)
                ),
            ),
            Some(r) => {
                let k = r.to_lowercase();
                if let Some(first) = seen.get(&k) {
                    problems.insert(
                        0,
                        format!(
                            "\"{}\": {r:?} appears again; it was first used on row {first}",
                            self.heading(Field::Reference)
                        ),
                    );
                } else {
                    seen.insert(k, row.number);
                }
            }
        }
        // Likelihood and impact make one score: both or neither.
        let mut pairs = Vec::new();
        for (kind, l, i) in KINDS {
            match (p.scores.get(&l), p.scores.get(&i)) {
                (Some(&l), Some(&i)) => pairs.push((kind, l, i)),
                (None, None) => {}
                (Some(_), None) | (None, Some(_)) => {
                    let (given, missing) = if p.scores.contains_key(&l) {
                        (l, i)
                    } else {
                        (i, l)
                    };
                    // Only when the partner cell is blank: a bad value is reported already.
                    let partner_bad = self
                        .mapping
                        .column(missing)
                        .is_some_and(|c| !row.get(c).is_blank());
                    if !partner_bad {
                        problems.push(format!(
                            "\"{}\": is blank but \"{}\" is given; likelihood and impact come \
                             in pairs",
                            self.heading(missing),
                            self.heading(given)
                        ));
                    }
                }
            }
        }
        let existing = reference.as_deref().and_then(|r| {
            let r = r.to_lowercase();
            self.register
                .risks
                .iter()
                .find(|x| x.reference.trim().to_lowercase() == r)
        });
        if existing.is_none() {
            for field in [Field::Title, Field::Owner] {
                let given = p.fields.contains_key(&field);
                let column_bad = self
                    .mapping
                    .column(field)
                    .is_some_and(|c| !row.get(c).is_blank());
                if !given && !column_bad {
                    problems.push(format!(
                        "\"{}\": is required for a new risk",
                        self.heading(field)
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return (reference, Outcome::Error { problems });
        }
        let reason = p
            .reason
            .clone()
            .unwrap_or_else(|| DEFAULT_REASON.to_owned());
        let assess =
            |id: String, risk_id: &str, (kind, likelihood, impact): (AssessmentKind, u32, u32)| {
                Assessment {
                    id,
                    risk_id: risk_id.to_owned(),
                    kind,
                    likelihood,
                    impact,
                    date: self.today,
                    assessor: self.assessor.to_owned(),
                    reason: reason.clone(),
                }
            };
        let outcome = match existing {
            None => {
                let risk = self.create(&p, reference.clone().unwrap_or_default(), new_id());
                let assessments = pairs
                    .into_iter()
                    .map(|s| assess(new_id(), &risk.id, s))
                    .collect();
                Outcome::Create {
                    risk: Box::new(risk),
                    assessments,
                }
            }
            Some(old) => {
                let changes: Vec<FieldChange> = p
                    .fields
                    .iter()
                    .filter_map(|(field, to)| {
                        let from = get(old, *field)?;
                        (from != *to).then(|| FieldChange {
                            field: *field,
                            from: self.show(&from),
                            to: self.show(to),
                            value: to.clone(),
                        })
                    })
                    .collect();
                let moved: Vec<_> = pairs
                    .into_iter()
                    .filter(|(kind, l, i)| {
                        self.register
                            .latest(&old.id, *kind)
                            .is_none_or(|a| (a.likelihood, a.impact) != (*l, *i))
                    })
                    .collect();
                if changes.is_empty() && moved.is_empty() {
                    Outcome::Unchanged
                } else {
                    let assessments = moved
                        .into_iter()
                        .map(|s| assess(new_id(), &old.id, s))
                        .collect();
                    Outcome::Update {
                        risk_id: old.id.clone(),
                        changes,
                        assessments,
                    }
                }
            }
        };
        (reference, outcome)
    }

    fn create(&self, p: &Parsed, reference: String, id: String) -> Risk {
        let mut risk = Risk {
            id,
            reference,
            title: String::new(),
            cause: String::new(),
            event: String::new(),
            effect: String::new(),
            category: DEFAULT_CATEGORY.to_owned(),
            owner: String::new(),
            owning_councils: Vec::new(),
            bearing_council: None,
            affected_councils: Vec::new(),
            identified: self.today,
            related: Vec::new(),
            response: Response::Treat,
            controls: String::new(),
            review_frequency_days: DEFAULT_FREQUENCY_DAYS,
            next_review: self.today,
            status: RiskStatus::Open,
            escalation: Escalation::Service,
        };
        for (field, value) in &p.fields {
            set(&mut risk, *field, value.clone());
        }
        if !p.fields.contains_key(&Field::NextReview) {
            risk.next_review = self.today + Duration::days(i64::from(risk.review_frequency_days));
        }
        risk
    }

    fn show(&self, v: &Value) -> String {
        match v {
            Value::Text(t) => t.clone(),
            Value::Councils(ids) => values::council_names(ids, self.councils),
            Value::Council(id) => id
                .as_deref()
                .map(|id| values::council_name(id, self.councils))
                .unwrap_or_default(),
            Value::Date(d) => values::date_text(*d),
            Value::Days(n) => n.to_string(),
            Value::Response(r) => values::response_name(*r).to_owned(),
            Value::Status(s) => values::status_name(*s).to_owned(),
            Value::Escalation(e) => values::escalation_name(*e).to_owned(),
        }
    }
}

/// A risk field's current value, for comparison.
fn get(r: &Risk, field: Field) -> Option<Value> {
    Some(match field {
        Field::Title => Value::Text(r.title.clone()),
        Field::Cause => Value::Text(r.cause.clone()),
        Field::Event => Value::Text(r.event.clone()),
        Field::Effect => Value::Text(r.effect.clone()),
        Field::Category => Value::Text(r.category.clone()),
        Field::Owner => Value::Text(r.owner.clone()),
        Field::Controls => Value::Text(r.controls.clone()),
        Field::OwningCouncils => Value::Councils(r.owning_councils.clone()),
        Field::AffectedCouncils => Value::Councils(r.affected_councils.clone()),
        Field::BearingCouncil => Value::Council(r.bearing_council.clone()),
        Field::Identified => Value::Date(r.identified),
        Field::NextReview => Value::Date(r.next_review),
        Field::ReviewFrequencyDays => Value::Days(r.review_frequency_days),
        Field::Response => Value::Response(r.response),
        Field::Status => Value::Status(r.status),
        Field::Escalation => Value::Escalation(r.escalation),
        _ => return None,
    })
}

fn set(r: &mut Risk, field: Field, value: Value) {
    match (field, value) {
        (Field::Title, Value::Text(t)) => r.title = t,
        (Field::Cause, Value::Text(t)) => r.cause = t,
        (Field::Event, Value::Text(t)) => r.event = t,
        (Field::Effect, Value::Text(t)) => r.effect = t,
        (Field::Category, Value::Text(t)) => r.category = t,
        (Field::Owner, Value::Text(t)) => r.owner = t,
        (Field::Controls, Value::Text(t)) => r.controls = t,
        (Field::OwningCouncils, Value::Councils(c)) => r.owning_councils = c,
        (Field::AffectedCouncils, Value::Councils(c)) => r.affected_councils = c,
        (Field::BearingCouncil, Value::Council(c)) => r.bearing_council = c,
        (Field::Identified, Value::Date(d)) => r.identified = d,
        (Field::NextReview, Value::Date(d)) => r.next_review = d,
        (Field::ReviewFrequencyDays, Value::Days(n)) => r.review_frequency_days = n,
        (Field::Response, Value::Response(v)) => r.response = v,
        (Field::Status, Value::Status(v)) => r.status = v,
        (Field::Escalation, Value::Escalation(v)) => r.escalation = v,
        _ => {}
    }
}
