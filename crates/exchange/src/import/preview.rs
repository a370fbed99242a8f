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
    ActionStatus, Appetite, Assessment, AssessmentKind, Escalation, Response, Risk, RiskAction,
    RiskRegister, RiskStatus,
};
use serde::Serialize;

use super::mapping::{Field, Mapping};
use super::table::{Cell, Row, Table};
use super::values::{self, DateReading};
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
    /// Section headings, spacer and note rows: listed, not imported.
    pub ignored: usize,
    /// Warnings over all rows.
    pub warnings: usize,
    /// Appetite statements the workbook's Appetite sheet adds or changes (by category).
    pub appetite: Vec<Appetite>,
    /// The matrix the sheet's ratings imply, when it is not the register's: the preview was
    /// worked out on it (unless it is blocked), and applying sets it.
    pub matrix_proposal: Option<super::MatrixProposal>,
    /// Names the council columns use that name no council of the partnership (an old name, a
    /// service's nickname): the officer says which council each means, and the import is
    /// worked out again.
    pub unknown_councils: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowPreview {
    /// The sheet the row is on, when it is not the risks' sheet (an Assessments or Actions
    /// sheet of the same workbook).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// The sheet row number, as Excel shows it.
    pub row: u32,
    /// The row's reference, trimmed, when it has one.
    pub reference: Option<String>,
    pub outcome: Outcome,
    /// What the import read differently from what the cell says, or could not read but did
    /// not need: the row is imported, and these say how.
    pub warnings: Vec<Warning>,
    /// The row's mapped cells as the sheet shows them, by column letter (blank ones left out),
    /// for a person checking the mapping cell by cell.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
    /// The risk's current band once the row is imported (its label), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<String>,
}

/// A flag on one cell of an imported row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    /// The column letter ("F"), as Excel shows it.
    pub column: String,
    pub code: WarningCode,
    /// Names the heading and the value, and says what was imported instead.
    pub message: String,
}

/// What kind of flag a [`Warning`] is, for filtering and for the browser to mark the cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningCode {
    /// A status word read as Open or Closed ("Under review", "Escalated").
    StatusMapped,
    /// A status not understood: the status is left as it is (Open on a new risk).
    StatusUnknown,
    /// Several responses in one cell ("Treat / Transfer"): the first is imported.
    ResponseCombined,
    /// A response not understood: left as it is (Treat on a new risk).
    ResponseUnknown,
    /// An escalation level not understood: left as it is (Service on a new risk).
    EscalationUnknown,
    /// A period instead of a date ("Q4 2026/27"): its last day is imported.
    DateImprecise,
    /// A word for "not known yet" ("TBC", "Ongoing"): the date is left as it is (a default
    /// on a new risk).
    DateMissing,
    /// A written score that is not likelihood × impact (or not a number): the computed one
    /// stands.
    ScoreMismatch,
    /// A written score without its likelihood and impact: nothing to assess from.
    ScoreWithoutRatings,
    /// A stated band or RAG (a word, or a colour alone) that is not the band the matrix gives
    /// likelihood × impact, or not a band at all: the matrix's stands.
    BandMismatch,
    /// A cell coloured with no text, read as a band by its colour (it agrees with the scores).
    BandFromColour,
    /// A rating written as one cell ("B3"), read as a likelihood and an impact.
    RatingRead,
    /// A band or RAG colour without likelihood and impact: nothing to assess from.
    BandWithoutRatings,
    /// SLA: a word for "no figure" ("n/a", "Nil return") where a period's figure would be:
    /// no measurement is recorded for that period.
    NoFigure,
    /// SLA: a new KPI's polarity not written: worked out from its target and threshold, or
    /// higher-is-better.
    PolarityAssumed,
    /// SLA: a new KPI's frequency not written: worked out from its periods.
    FrequencyAssumed,
    /// SLA: a financial quarter ("Q1 2026/27") stored as the calendar quarter it is.
    PeriodConverted,
    /// SLA: a figure given twice in the file for one KPI and period, differently: the first
    /// stands.
    FigureConflict,
    /// A related risk's reference that is neither in the register nor in the file: not
    /// linked.
    RelatedUnknown,
    /// A row of another sheet (an action, an assessment) that the register already holds
    /// differently: the register's is kept.
    AlreadyHeld,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// A new risk, with its first assessments.
    Create {
        /// Boxed: a risk is far larger than the other outcomes.
        risk: Box<Risk>,
        assessments: Vec<Assessment>,
        /// The actions written in its row.
        actions: Vec<RiskAction>,
    },
    /// Fields that change on an existing risk, assessments whose scores moved, and actions in
    /// its row that it does not have yet (by title).
    Update {
        #[serde(rename = "riskId")]
        risk_id: String,
        changes: Vec<FieldChange>,
        assessments: Vec<Assessment>,
        actions: Vec<RiskAction>,
    },
    Unchanged,
    /// Nothing from this row is applied.
    Error {
        problems: Vec<String>,
    },
    /// A section heading, spacer or note row ("STRATEGIC RISKS", "Scores reviewed by JMT"):
    /// not a risk, so not imported, and shown so that nothing is dropped unseen.
    Ignored {
        text: String,
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
    /// Risk ids.
    Related(Vec<String>),
}

impl Preview {
    /// Applies the preview to the register it was made from: pushes the created risks and all
    /// new assessments, sets the changed fields, and skips error rows. A created risk whose id
    /// is already present (the preview applied twice) is not added again, and an update whose
    /// risk has gone is dropped.
    pub fn apply_to(&self, register: &mut RiskRegister) {
        if let Some(p) = &self.matrix_proposal
            && p.applies
        {
            register.matrix = p.matrix.clone();
        }
        for row in &self.rows {
            match &row.outcome {
                Outcome::Create {
                    risk,
                    assessments,
                    actions,
                } => {
                    if register.risks.iter().any(|r| r.id == risk.id) {
                        continue;
                    }
                    register.risks.push(risk.as_ref().clone());
                    register.assessments.extend(assessments.iter().cloned());
                    register.actions.extend(actions.iter().cloned());
                }
                Outcome::Update {
                    risk_id,
                    changes,
                    assessments,
                    actions,
                } => {
                    let Some(risk) = register.risks.iter_mut().find(|r| &r.id == risk_id) else {
                        continue;
                    };
                    for c in changes {
                        set(risk, c.field, c.value.clone());
                    }
                    register.assessments.extend(assessments.iter().cloned());
                    register.actions.extend(actions.iter().cloned());
                }
                Outcome::Unchanged | Outcome::Error { .. } | Outcome::Ignored { .. } => {}
            }
        }
        for a in &self.appetite {
            match register
                .appetite
                .iter_mut()
                .find(|x| x.category.trim().eq_ignore_ascii_case(a.category.trim()))
            {
                Some(x) => *x = a.clone(),
                None => register.appetite.push(a.clone()),
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
/// makes the ids of new risks, assessments and actions (called only for rows without errors,
/// risk id first, then one per assessment in the order inherent, current, target, then one per
/// action of the row).
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
        ignored: 0,
        warnings: 0,
        appetite: Vec::new(),
        matrix_proposal: None,
        unknown_councils: Vec::new(),
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
    // (index in `out.rows`, column, references) of each row naming related risks.
    let mut pending = Vec::new();
    for row in &table.rows {
        if row.is_blank() {
            out.skipped_blank += 1;
            continue;
        }
        let mut warnings = Vec::new();
        let mut related = None;
        let (reference, outcome) = match ctx.section(row) {
            Some(text) => (None, Outcome::Ignored { text }),
            None => ctx.row(row, &mut seen, &mut warnings, &mut related, new_id),
        };
        if let Some((col, refs)) = related {
            pending.push((out.rows.len(), col, refs));
        }
        match outcome {
            Outcome::Create { .. } => out.creates += 1,
            Outcome::Update { .. } => out.updates += 1,
            Outcome::Unchanged => out.unchanged += 1,
            Outcome::Error { .. } => out.errors += 1,
            Outcome::Ignored { .. } => out.ignored += 1,
        }
        out.warnings += warnings.len();
        let values = mapping
            .columns()
            .filter(|(_, f)| *f != Field::Ignore)
            .map(|(c, _)| (c, row.get(c)))
            .filter(|(_, cell)| !cell.is_blank())
            .map(|(c, cell)| {
                let shown = match cell {
                    Cell::TooLong { chars, .. } => format!("({chars} characters)"),
                    other => other.text(),
                };
                (super::table::column_letter(c), shown)
            })
            .collect();
        let band = ctx.band_after(reference.as_deref(), &outcome);
        out.rows.push(RowPreview {
            sheet: None,
            row: row.number,
            reference,
            outcome,
            warnings,
            values,
            band,
        });
    }
    ctx.resolve_related(&mut out, pending);
    out.recount();
    let mut unknown = std::collections::BTreeSet::new();
    for row in &table.rows {
        for (col, field) in mapping.columns() {
            if matches!(
                field,
                Field::OwningCouncils | Field::AffectedCouncils | Field::BearingCouncil
            ) && let Cell::Text(t) = row.get(col)
            {
                unknown.extend(values::unknown_councils(t, councils));
            }
        }
    }
    out.unknown_councils = unknown.into_iter().collect();
    out
}

/// [`preview`], with the workbook's other sheets ([`super::read_register_sheets`]): each
/// assessment of the history and each action joins its risk's row, and the appetite
/// statements are set by category. When the sheet's ratings imply another matrix
/// ([`super::propose_matrix`]), the preview proposes it, and is worked out on it when the rows
/// need it (letters) or `accept_matrix` says the officer has taken it — unless an assessment
/// the register holds would not fit it.
#[allow(clippy::too_many_arguments)]
pub fn preview_workbook(
    table: &Table,
    mapping: &Mapping,
    sheets: &super::RegisterSheets,
    register: &RiskRegister,
    councils: &Councils,
    today: NaiveDate,
    assessor: &str,
    accept_matrix: bool,
    new_id: &mut dyn FnMut() -> String,
) -> Preview {
    let mut proposal = super::propose_matrix(table, mapping, register);
    if let Some(m) = &mut proposal {
        m.applies = m.blocked.is_none() && (m.required || accept_matrix);
    }
    let proposed;
    let register = match &proposal {
        Some(m) if m.applies => {
            proposed = RiskRegister {
                matrix: m.matrix.clone(),
                ..register.clone()
            };
            &proposed
        }
        _ => register,
    };
    let mut p = preview(table, mapping, register, councils, today, assessor, new_id);
    p.matrix_proposal = proposal;
    let ctx = super::sheets::Ctx {
        register,
        councils,
        today,
        importer: assessor,
    };
    super::sheets::extend(&mut p, sheets, &ctx, new_id);
    p
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
    /// Written scores (a number, or the text that was not one), with their column.
    written: HashMap<AssessmentKind, (usize, Result<f64, String>)>,
    /// The level a status such as "Escalated to JMT" names.
    implied_escalation: Option<Escalation>,
    /// Actions in the row: one per line of the actions cell.
    actions: Vec<String>,
    action_owner: Option<String>,
    action_due: Option<NaiveDate>,
    assessed_on: Option<NaiveDate>,
    assessor: Option<String>,
    reason: Option<String>,
    /// Related risks' references, with their column: resolved once every row is read (a
    /// reference may name a risk further down).
    related: Option<(usize, Vec<String>)>,
    /// Stated bands: the column, the text and the cell's fill colour.
    bands: HashMap<AssessmentKind, (usize, Option<String>, Option<u32>)>,
}

impl Preview {
    /// Counts the rows' outcomes again (after a later pass changed some).
    pub(crate) fn recount(&mut self) {
        let (mut c, mut u, mut n, mut e, mut i, mut w) = (0, 0, 0, 0, 0, 0);
        for r in &self.rows {
            match r.outcome {
                Outcome::Create { .. } => c += 1,
                Outcome::Update { .. } => u += 1,
                Outcome::Unchanged => n += 1,
                Outcome::Error { .. } => e += 1,
                Outcome::Ignored { .. } => i += 1,
            }
            w += r.warnings.len();
        }
        (self.creates, self.updates, self.unchanged) = (c, u, n);
        (self.errors, self.ignored, self.warnings) = (e, i, w);
    }

    /// Whether applying the preview changes the register.
    pub fn changes_anything(&self) -> bool {
        self.creates + self.updates > 0
            || !self.appetite.is_empty()
            || self.matrix_proposal.as_ref().is_some_and(|p| p.applies)
    }
}

impl Context<'_> {
    /// The current band a row leaves its risk in: its own current assessment, else the
    /// register's latest.
    fn band_after(&self, reference: Option<&str>, outcome: &Outcome) -> Option<String> {
        let m = &self.register.matrix;
        let own = match outcome {
            Outcome::Create { assessments, .. } | Outcome::Update { assessments, .. } => {
                assessments
                    .iter()
                    .rev()
                    .find(|a| a.kind == AssessmentKind::Current)
            }
            _ => None,
        };
        let held = || {
            let reference = reference?;
            let risk = self
                .register
                .risks
                .iter()
                .find(|r| r.reference.trim().eq_ignore_ascii_case(reference))?;
            self.register.latest(&risk.id, AssessmentKind::Current)
        };
        let a = own.or_else(|| match outcome {
            Outcome::Error { .. } | Outcome::Ignored { .. } => None,
            _ => held(),
        })?;
        m.band(a.likelihood, a.impact).map(|b| b.label.clone())
    }

    /// Links each row's related risks, now that every row's risk has an id: a reference to a
    /// risk in neither the register nor the file is flagged and not linked.
    fn resolve_related(&self, out: &mut Preview, pending: Vec<(usize, usize, Vec<String>)>) {
        let mut ids: HashMap<String, (String, String)> = self
            .register
            .risks
            .iter()
            .map(|r| {
                (
                    r.reference.trim().to_lowercase(),
                    (r.id.clone(), r.reference.clone()),
                )
            })
            .collect();
        for r in &out.rows {
            if let Outcome::Create { risk, .. } = &r.outcome {
                ids.insert(
                    risk.reference.trim().to_lowercase(),
                    (risk.id.clone(), risk.reference.clone()),
                );
            }
        }
        for (index, col, refs) in pending {
            let row = &mut out.rows[index];
            let mut linked: Vec<String> = Vec::new();
            let mut shown: Vec<String> = Vec::new();
            for r in &refs {
                match ids.get(&r.to_lowercase()) {
                    Some((id, reference)) => {
                        if !linked.contains(id) {
                            linked.push(id.clone());
                            shown.push(reference.clone());
                        }
                    }
                    None => row.warnings.push(Warning {
                        column: super::table::column_letter(col),
                        code: WarningCode::RelatedUnknown,
                        message: format!(
                            "\"{}\": {r:?} is not a risk of this register or this file: not linked",
                            self.table.header_name(col)
                        ),
                    }),
                }
            }
            let change = |old: &Risk| {
                (old.related != linked).then(|| FieldChange {
                    field: Field::Related,
                    from: self.show(&Value::Related(old.related.clone())),
                    to: shown.join(", "),
                    value: Value::Related(linked.clone()),
                })
            };
            match &mut row.outcome {
                Outcome::Create { risk, .. } => risk.related = linked.clone(),
                Outcome::Update {
                    risk_id, changes, ..
                } => {
                    if let Some(c) = self
                        .register
                        .risks
                        .iter()
                        .find(|r| &r.id == risk_id)
                        .and_then(change)
                    {
                        changes.push(c);
                    }
                }
                Outcome::Unchanged => {
                    let old = row.reference.as_deref().and_then(|reference| {
                        self.register
                            .risks
                            .iter()
                            .find(|r| r.reference.trim().eq_ignore_ascii_case(reference))
                    });
                    if let Some(old) = old
                        && let Some(c) = change(old)
                    {
                        row.outcome = Outcome::Update {
                            risk_id: old.id.clone(),
                            changes: vec![c],
                            assessments: Vec::new(),
                            actions: Vec::new(),
                        };
                    }
                }
                Outcome::Error { .. } | Outcome::Ignored { .. } => {}
            }
        }
    }

    /// The heading to name in a message about `field`: the sheet's own, or the export label
    /// when no column holds the field.
    fn heading(&self, field: Field) -> String {
        self.mapping
            .column(field)
            .map_or_else(|| field.label().to_owned(), |c| self.table.header_name(c))
    }

    fn parse(&self, row: &Row, problems: &mut Vec<String>, warnings: &mut Vec<Warning>) -> Parsed {
        let mut p = Parsed::default();
        for (col, field) in self.mapping.columns() {
            let cell = row.get(col);
            if let Some(kind) = band_kind(field) {
                // A band may be stated by its colour alone: a blank cell still counts.
                let text = (!cell.is_blank()).then(|| cell.text());
                let fill = row.fill(col);
                if text.is_some() || fill.is_some() {
                    p.bands.insert(kind, (col, text, fill));
                }
                continue;
            }
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
            let header = self.table.header_name(col);
            let mut warn = |code: WarningCode, message: String| {
                warnings.push(Warning {
                    column: super::table::column_letter(col),
                    code,
                    message: format!("\"{header}\": {} {message}", cell.shown()),
                });
            };
            let value: Result<Option<Value>, String> = match field {
                Field::Reference => {
                    p.reference = Some(text);
                    continue;
                }
                Field::Related => {
                    let refs = text
                        .split([',', ';', '\n'])
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned)
                        .collect();
                    p.related = Some((col, refs));
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
                | Field::Controls
                | Field::StatedDirection => Ok(Some(Value::Text(text))),
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
                    date_cell(cell, self.unset_date(field), &mut warn).map(|d| d.map(Value::Date))
                }
                Field::ReviewFrequencyDays => values::frequency(cell).map(|n| Some(Value::Days(n))),
                Field::Response => match values::response(&text) {
                    Ok(r) => {
                        if let Some(note) = r.note {
                            warn(WarningCode::ResponseCombined, note);
                        }
                        Ok(Some(Value::Response(r.value)))
                    }
                    Err(e) => {
                        warn(
                            WarningCode::ResponseUnknown,
                            format!("{e}: the response is left as it is (Treat on a new risk)"),
                        );
                        Ok(None)
                    }
                },
                Field::Status => match values::status(&text) {
                    Ok(r) => {
                        if let Some(note) = r.note {
                            warn(WarningCode::StatusMapped, note);
                        }
                        p.implied_escalation = r.escalation;
                        Ok(Some(Value::Status(r.value)))
                    }
                    Err(e) => {
                        warn(
                            WarningCode::StatusUnknown,
                            format!("{e}: the status is left as it is (Open on a new risk)"),
                        );
                        Ok(None)
                    }
                },
                Field::Escalation => match values::escalation(&text) {
                    Ok(r) => Ok(Some(Value::Escalation(r.value))),
                    Err(e) => {
                        warn(
                            WarningCode::EscalationUnknown,
                            format!("{e}: the level is left as it is (Service on a new risk)"),
                        );
                        Ok(None)
                    }
                },
                Field::ActionTitle => {
                    p.actions = action_lines(&text);
                    Ok(None)
                }
                Field::ActionOwner => {
                    p.action_owner = Some(text);
                    Ok(None)
                }
                Field::Assessor => {
                    p.assessor = Some(text);
                    Ok(None)
                }
                Field::AssessmentDate => {
                    let unset = "the row's assessments are dated the day of the import";
                    date_cell(cell, unset, &mut warn).map(|d| {
                        p.assessed_on = d;
                        None
                    })
                }
                Field::ActionDue => {
                    let unset = "the actions are due at the risk's next review";
                    date_cell(cell, unset, &mut warn).map(|d| {
                        p.action_due = d;
                        None
                    })
                }
                Field::InherentScore | Field::CurrentScore | Field::TargetScore => {
                    let kind = match field {
                        Field::InherentScore => AssessmentKind::Inherent,
                        Field::TargetScore => AssessmentKind::Target,
                        _ => AssessmentKind::Current,
                    };
                    if let Cell::Text(t) = cell
                        && let Some((letter, n)) = super::scales::combined(t)
                    {
                        // "B3": likelihood B (a level's label), impact 3. A likelihood or
                        // impact column of the row, when it has one, is the more exact.
                        let (lf, imf) = match kind {
                            AssessmentKind::Inherent => {
                                (Field::InherentLikelihood, Field::InherentImpact)
                            }
                            AssessmentKind::Current => {
                                (Field::CurrentLikelihood, Field::CurrentImpact)
                            }
                            AssessmentKind::Target => {
                                (Field::TargetLikelihood, Field::TargetImpact)
                            }
                        };
                        let m = &self.register.matrix;
                        let l = values::score(&Cell::Text(letter.clone()), &m.likelihood)
                            .map_err(|e| format!("(likelihood {letter:?}) {e}"));
                        let i = values::score(&Cell::Number(f64::from(n)), &m.impact)
                            .map_err(|e| format!("(impact {n}) {e}"));
                        match (l, i) {
                            (Ok(l), Ok(i)) => {
                                p.scores.entry(lf).or_insert(l);
                                p.scores.entry(imf).or_insert(i);
                                warn(
                                    WarningCode::RatingRead,
                                    format!(
                                        "is read as likelihood {letter} ({l} of {}) and impact \
                                         {i}",
                                        m.likelihood.len()
                                    ),
                                );
                                Ok(None)
                            }
                            (Err(e), _) | (_, Err(e)) => Err(e),
                        }
                    } else {
                        let n = match cell {
                            Cell::Number(n) => Ok(*n),
                            _ => text.parse::<f64>().map_err(|_| text.clone()),
                        };
                        p.written.insert(kind, (col, n));
                        Ok(None)
                    }
                }
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
                // Read above, with the cell's colour.
                Field::Ignore | Field::InherentBand | Field::CurrentBand | Field::TargetBand => {
                    continue;
                }
            };
            match value {
                Ok(Some(v)) => {
                    p.fields.insert(field, v);
                }
                Ok(None) => {}
                Err(e) => {
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

    /// What a date cell that says "not yet" leaves.
    fn unset_date(&self, field: Field) -> &'static str {
        match field {
            Field::Identified => "the date identified is left as it is (today on a new risk)",
            _ => {
                "the next review is left as it is (on a new risk, today plus the review frequency)"
            }
        }
    }

    /// The text of a section heading, spacer or note row, which is not a risk: a row whose
    /// only cell is text that is not a reference ("STRATEGIC RISKS", "Section 2 – Finance"),
    /// or one with neither reference, title nor any score.
    fn section(&self, row: &Row) -> Option<String> {
        let filled: Vec<(usize, &Cell)> = row
            .cells
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_blank())
            .collect();
        let texts = || {
            filled
                .iter()
                .map(|(_, c)| c.text())
                .collect::<Vec<_>>()
                .join(" | ")
        };
        if let [(col, Cell::Text(t))] = filled.as_slice() {
            let t = t.trim();
            let reference_like = !t.contains(char::is_whitespace)
                && t.chars().any(|c| c.is_ascii_digit())
                && t.chars().count() <= 20;
            if self.mapping.field(*col) != Field::Reference || !reference_like {
                return Some(texts());
            }
        }
        let given = |field: Field| {
            self.mapping
                .column(field)
                .is_some_and(|c| !row.get(c).is_blank())
        };
        let scored = Field::ASSESSMENT[..6]
            .iter()
            .chain(Field::SCORES)
            .any(|f| given(*f));
        (!given(Field::Reference) && !given(Field::Title) && !scored).then(texts)
    }

    fn row(
        &self,
        row: &Row,
        seen: &mut HashMap<String, u32>,
        warnings: &mut Vec<Warning>,
        related: &mut Option<(usize, Vec<String>)>,
        new_id: &mut dyn FnMut() -> String,
    ) -> (Option<String>, Outcome) {
        let mut problems = Vec::new();
        let mut p = self.parse(row, &mut problems, warnings);
        *related = p.related.take();
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
        for (kind, (col, written)) in &p.written {
            let header = self.table.header_name(*col);
            let column = super::table::column_letter(*col);
            let pair = pairs.iter().find(|(k, ..)| k == kind);
            let shown = row.get(*col).shown();
            match (pair, written) {
                (Some((_, l, i)), Ok(n)) if *n == f64::from(l * i) => {}
                (Some((_, l, i)), Ok(_)) => warnings.push(Warning {
                    column,
                    code: WarningCode::ScoreMismatch,
                    message: format!(
                        "\"{header}\": {shown} is not likelihood × impact ({l} × {i} = {}); the \
                         register keeps {}",
                        l * i,
                        l * i
                    ),
                }),
                (Some((_, l, i)), Err(_)) => warnings.push(Warning {
                    column,
                    code: WarningCode::ScoreMismatch,
                    message: format!(
                        "\"{header}\": {shown} is not a number; the register computes the score \
                         from likelihood × impact ({l} × {i} = {})",
                        l * i
                    ),
                }),
                (None, _) => warnings.push(Warning {
                    column,
                    code: WarningCode::ScoreWithoutRatings,
                    message: format!(
                        "\"{header}\": {shown} is a score without its likelihood and impact, \
                         so no assessment is made from it"
                    ),
                }),
            }
        }
        for (kind, (col, text, fill)) in &p.bands {
            let pair = pairs
                .iter()
                .find(|(k, ..)| k == kind)
                .map(|(_, l, i)| (*l, *i));
            let header = self.table.header_name(*col);
            if let Some((code, message)) =
                super::bands::check(&self.register.matrix, text.as_deref(), *fill, pair)
            {
                warnings.push(Warning {
                    column: super::table::column_letter(*col),
                    code,
                    message: format!("\"{header}\": {message}"),
                });
            }
        }
        warnings.sort_by(|a, b| (a.column.len(), &a.column).cmp(&(b.column.len(), &b.column)));
        let existing = reference.as_deref().and_then(|r| {
            let r = r.to_lowercase();
            self.register
                .risks
                .iter()
                .find(|x| x.reference.trim().to_lowercase() == r)
        });
        // "Escalated" in the status column raises the level (never lowers it: a risk already
        // with the committee stays there); an escalation column says it outright.
        if let Some(level) = p.implied_escalation
            && !p.fields.contains_key(&Field::Escalation)
            && existing.is_none_or(|old| rank(old.escalation) < rank(level))
        {
            p.fields.insert(Field::Escalation, Value::Escalation(level));
        }
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
                    date: p.assessed_on.unwrap_or(self.today),
                    assessor: p
                        .assessor
                        .clone()
                        .unwrap_or_else(|| self.assessor.to_owned()),
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
                let actions = self.actions(&p, &risk, &[], new_id);
                Outcome::Create {
                    risk: Box::new(risk),
                    assessments,
                    actions,
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
                let has: Vec<&str> = self
                    .register
                    .actions
                    .iter()
                    .filter(|a| a.risk_id == old.id)
                    .map(|a| a.title.as_str())
                    .collect();
                let new_actions = p
                    .actions
                    .iter()
                    .any(|t| !has.iter().any(|h| h.trim().eq_ignore_ascii_case(t)));
                if changes.is_empty() && moved.is_empty() && !new_actions {
                    Outcome::Unchanged
                } else {
                    let assessments = moved
                        .into_iter()
                        .map(|s| assess(new_id(), &old.id, s))
                        .collect();
                    // The risk as the update leaves it, for the actions' defaults.
                    let mut after = old.clone();
                    for c in &changes {
                        set(&mut after, c.field, c.value.clone());
                    }
                    let actions = self.actions(&p, &after, &has, new_id);
                    Outcome::Update {
                        risk_id: old.id.clone(),
                        changes,
                        assessments,
                        actions,
                    }
                }
            }
        };
        (reference, outcome)
    }

    /// The row's actions that `risk` does not have yet (`has`: its actions' titles), each due
    /// when the row says (else at the risk's next review), done by the row's action owner
    /// (else the risk's owner), for the council that bears the risk (else its first owner).
    fn actions(
        &self,
        p: &Parsed,
        risk: &Risk,
        has: &[&str],
        new_id: &mut dyn FnMut() -> String,
    ) -> Vec<RiskAction> {
        let council = risk
            .bearing_council
            .clone()
            .or_else(|| risk.owning_councils.first().cloned())
            .unwrap_or_default();
        p.actions
            .iter()
            .filter(|t| !has.iter().any(|h| h.trim().eq_ignore_ascii_case(t)))
            .map(|title| RiskAction {
                id: new_id(),
                risk_id: risk.id.clone(),
                title: title.clone(),
                owner: p.action_owner.clone().unwrap_or_else(|| risk.owner.clone()),
                council: council.clone(),
                due: p.action_due.unwrap_or(risk.next_review),
                status: ActionStatus::NotStarted,
                expected_effect: String::new(),
            })
            .collect()
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
            stated_direction: String::new(),
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
            Value::Related(ids) => ids
                .iter()
                .map(|id| {
                    self.register
                        .risks
                        .iter()
                        .find(|r| &r.id == id)
                        .map_or(id.as_str(), |r| r.reference.as_str())
                })
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// A date cell as the date to import (`None`: a word for "not yet"), flagging a period read as
/// its last day and a "not yet" (`unset`: what that leaves).
fn date_cell(
    cell: &Cell,
    unset: &str,
    warn: &mut dyn FnMut(WarningCode, String),
) -> Result<Option<NaiveDate>, String> {
    Ok(match values::date_reading(cell)? {
        DateReading::Exact(d) => Some(d),
        DateReading::Imprecise(d, how) => {
            warn(
                WarningCode::DateImprecise,
                format!("is read as {}, the last day of {how}", values::date_text(d)),
            );
            Some(d)
        }
        DateReading::Missing => {
            warn(
                WarningCode::DateMissing,
                format!("is not a date yet: {unset}"),
            );
            None
        }
    })
}

/// The actions a cell lists, one per line, without the bullets or numbers people type
/// ("• ", "1. ", "a) ", "- ").
fn action_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // Lower-cased titles seen: a set, so a cell of thousands of lines (up to the cell limit,
    // in every row of a sheet) costs linear time, not quadratic.
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for line in text.lines() {
        let mut l = line.trim();
        l = l
            .trim_start_matches(['•', '·', '*', '-', '–', '—', '▪', '○'])
            .trim_start();
        let marker = l
            .split_once(['.', ')'])
            .filter(|(n, rest)| {
                rest.starts_with(char::is_whitespace)
                    && !n.is_empty()
                    && n.len() <= 2
                    && (n.chars().all(|c| c.is_ascii_digit())
                        || (n.len() == 1 && n.chars().all(|c| c.is_ascii_lowercase())))
            })
            .map(|(_, rest)| rest.trim_start());
        if let Some(rest) = marker {
            l = rest;
        }
        if !l.is_empty() && seen.insert(l.to_lowercase()) {
            out.push(l.to_owned());
        }
    }
    out
}

/// The assessment a stated band column speaks of.
fn band_kind(field: Field) -> Option<AssessmentKind> {
    match field {
        Field::InherentBand => Some(AssessmentKind::Inherent),
        Field::CurrentBand => Some(AssessmentKind::Current),
        Field::TargetBand => Some(AssessmentKind::Target),
        _ => None,
    }
}

/// How far up an escalation level is.
fn rank(e: Escalation) -> u8 {
    match e {
        Escalation::Service => 0,
        Escalation::JointManagementTeam => 1,
        Escalation::Committee => 2,
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
        Field::StatedDirection => Value::Text(r.stated_direction.clone()),
        Field::Related => Value::Related(r.related.clone()),
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
        (Field::StatedDirection, Value::Text(t)) => r.stated_direction = t,
        (Field::Related, Value::Related(v)) => r.related = v,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::action_lines;

    #[test]
    fn actions_are_one_per_line_without_bullets_numbers_or_repeats() {
        assert_eq!(
            action_lines(
                "1. Agree a protocol\n2) Review notice\n• agree a protocol\n\n- 1.5% saving"
            ),
            vec!["Agree a protocol", "Review notice", "1.5% saving"]
        );
        // The cell limit's worth of lines, each distinct: every one kept, in order.
        let many: String = (0..5000).map(|i| format!("a{i}\n")).collect();
        let lines = action_lines(&many);
        assert_eq!(lines.len(), 5000);
        assert_eq!(lines[4999], "a4999");
    }
}
