//! A register workbook's other sheets: the assessment history, the actions and the appetite
//! statements, as the export writes them and as councils keep them beside their risks.
//!
//! The risks' sheet is read by [`super::read_table`] and planned by [`super::preview`]; this
//! module recognises the other sheets by their headings and folds their rows into that
//! preview: each assessment and action joins its risk's row (found by reference in the file or
//! in the register), so a register exported and imported into an empty one comes back with its
//! whole history, its actions and its appetite. A row that cannot be read is an error of its
//! own, named by sheet and row; a cell read other than as written is flagged on the risk's row
//! as `Sheet!F`.

use std::collections::HashMap;

use chrono::NaiveDate;
use domain::documents::risk::{
    ActionStatus, Appetite, Assessment, AssessmentKind, RiskAction, RiskRegister,
};

use super::mapping::normalise;
use super::preview::{Outcome, Preview, RowPreview, Warning, WarningCode};
use super::table::{Cell, Row, Table, column_letter, detect_with, heading, read_sheets};
use super::values::{self, DateReading};
use super::{Format, ImportError, Limits};
use crate::Councils;

/// What a column of one of the other sheets holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Col {
    Reference,
    Kind,
    Likelihood,
    Impact,
    Date,
    Assessor,
    Reason,
    Action,
    Owner,
    Council,
    Due,
    Status,
    Effect,
    Category,
    MaxScore,
    Statement,
    /// Known and not imported (the risk's title, a computed score or band).
    Computed,
}

const PHRASES: &[(Col, &[&str])] = &[
    (
        Col::Reference,
        &[
            "ref",
            "reference",
            "risk ref",
            "risk reference",
            "risk no",
            "risk id",
        ],
    ),
    (
        Col::Kind,
        &[
            "assessment",
            "assessment type",
            "kind",
            "type",
            "score type",
            "rating type",
        ],
    ),
    (Col::Likelihood, &["likelihood", "l", "probability"]),
    (Col::Impact, &["impact", "i", "severity"]),
    (
        Col::Date,
        &["date", "assessment date", "date assessed", "assessed on"],
    ),
    (Col::Assessor, &["assessor", "assessed by", "by"]),
    (
        Col::Reason,
        &["reason", "reason for change", "why", "reason for movement"],
    ),
    (
        Col::Action,
        &[
            "action",
            "action title",
            "actions",
            "mitigating action",
            "further action",
        ],
    ),
    (
        Col::Owner,
        &["owner", "action owner", "lead", "responsible officer"],
    ),
    (Col::Council, &["council", "lead council"]),
    (
        Col::Due,
        &[
            "due",
            "due date",
            "target date",
            "deadline",
            "completion date",
        ],
    ),
    (Col::Status, &["status", "action status", "progress"]),
    (
        Col::Effect,
        &[
            "expected effect",
            "effect",
            "expected impact",
            "effect on score",
        ],
    ),
    (Col::Category, &["category", "risk category"]),
    (
        Col::MaxScore,
        &[
            "maximum score",
            "max score",
            "appetite score",
            "maximum",
            "tolerance score",
        ],
    ),
    (Col::Statement, &["statement", "appetite statement"]),
    (
        Col::Computed,
        &["risk title", "title", "score", "band", "rating"],
    ),
];

fn col_of(heading: &str) -> Option<Col> {
    let n = normalise(heading);
    PHRASES
        .iter()
        .find(|(_, names)| names.contains(&n.as_str()))
        .map(|(c, _)| *c)
}

/// Which of the other sheets a sheet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Assessments,
    Actions,
    Appetite,
}

/// One of the other sheets, with its columns.
#[derive(Debug, Clone)]
pub struct OtherSheet {
    pub name: String,
    table: Table,
    columns: HashMap<Col, usize>,
}

impl OtherSheet {
    fn cell<'r>(&self, row: &'r Row, c: Col) -> Option<(usize, &'r Cell)> {
        let col = *self.columns.get(&c)?;
        let cell = row.get(col);
        (!cell.is_blank()).then_some((col, cell))
    }

    fn text(&self, row: &Row, c: Col) -> Option<String> {
        self.cell(row, c).map(|(_, cell)| cell.text())
    }

    fn heading(&self, col: usize) -> String {
        self.table.header_name(col)
    }

    /// A warning's column as Excel names a cell on another sheet: `Actions!F`.
    fn at(&self, col: usize) -> String {
        format!("{}!{}", self.name, column_letter(col))
    }
}

/// The other sheets of a register workbook that the import reads.
#[derive(Debug, Clone, Default)]
pub struct RegisterSheets {
    pub assessments: Option<OtherSheet>,
    pub actions: Option<OtherSheet>,
    pub appetite: Option<OtherSheet>,
}

/// Reads the sheets of a register workbook other than `main` (the risks' sheet; the first
/// when `None`) and recognises the assessment history, actions and appetite among them by
/// their headings. A CSV has one table: none.
pub fn read_register_sheets(
    bytes: &[u8],
    format: Format,
    main: Option<&str>,
    limits: Limits,
) -> Result<RegisterSheets, ImportError> {
    let mut out = RegisterSheets::default();
    if format == Format::Csv {
        return Ok(out);
    }
    let sheets = read_sheets(bytes, format, limits, crate::sla::import::MAX_SHEETS)?;
    let main = main.map_or_else(
        || sheets.first().map(|s| s.name.clone()).unwrap_or_default(),
        str::to_owned,
    );
    let known = |h: &[String]| {
        let mut cols: Vec<Col> = h.iter().filter_map(|h| col_of(h)).collect();
        cols.sort();
        cols.dedup();
        cols.len()
    };
    for s in sheets {
        if s.name.eq_ignore_ascii_case(&main) {
            continue;
        }
        let Some(table) = detect_with(s.grid, s.merges.as_deref(), &known, heading) else {
            continue;
        };
        let mut columns = HashMap::new();
        for (i, h) in table.headers.iter().enumerate() {
            if let Some(c) = col_of(h) {
                columns.entry(c).or_insert(i);
            }
        }
        let has = |c: Col| columns.contains_key(&c);
        let kind = if has(Col::Kind) && has(Col::Likelihood) && has(Col::Impact) {
            Kind::Assessments
        } else if has(Col::Action) && has(Col::Reference) {
            Kind::Actions
        } else if has(Col::Category) && has(Col::MaxScore) {
            Kind::Appetite
        } else {
            continue;
        };
        let sheet = OtherSheet {
            name: s.name,
            table,
            columns,
        };
        let slot = match kind {
            Kind::Assessments => &mut out.assessments,
            Kind::Actions => &mut out.actions,
            Kind::Appetite => &mut out.appetite,
        };
        if slot.is_none() {
            *slot = Some(sheet);
        }
    }
    Ok(out)
}

/// What the other sheets need to know.
pub(crate) struct Ctx<'a> {
    pub register: &'a RiskRegister,
    pub councils: &'a Councils,
    pub today: NaiveDate,
    pub importer: &'a str,
}

fn kind(text: &str) -> Option<AssessmentKind> {
    match normalise(text).as_str() {
        "inherent" | "gross" | "original" | "initial" | "untreated" | "unmitigated" => {
            Some(AssessmentKind::Inherent)
        }
        "current" | "residual" | "net" | "controlled" => Some(AssessmentKind::Current),
        "target" | "mitigated" | "future" | "desired" => Some(AssessmentKind::Target),
        _ => None,
    }
}

fn action_status(text: &str) -> Option<ActionStatus> {
    match normalise(text).as_str() {
        "not started" | "open" | "planned" | "to do" | "new" => Some(ActionStatus::NotStarted),
        "in progress" | "ongoing" | "started" | "underway" | "under way" | "on track"
        | "behind" | "delayed" => Some(ActionStatus::InProgress),
        "done" | "complete" | "completed" | "closed" | "finished" | "implemented" => {
            Some(ActionStatus::Done)
        }
        "cancelled" | "canceled" | "withdrawn" | "superseded" | "no longer required" => {
            Some(ActionStatus::Cancelled)
        }
        _ => None,
    }
}

/// Where a row of another sheet lands: the index of its risk's row in the preview.
struct Targets {
    by_reference: HashMap<String, usize>,
}

impl Targets {
    fn new(p: &Preview) -> Targets {
        let by_reference = p
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.sheet.is_none())
            .filter_map(|(i, r)| r.reference.as_ref().map(|x| (x.trim().to_lowercase(), i)))
            .collect();
        Targets { by_reference }
    }

    /// The preview row of `reference`'s risk: its row in the risks' sheet, or (a risk of the
    /// register the sheet does not list) a row added for it. `Err` says why there is none.
    fn find(
        &mut self,
        p: &mut Preview,
        register: &RiskRegister,
        sheet: &str,
        row: u32,
        reference: &str,
    ) -> Result<usize, String> {
        let k = reference.trim().to_lowercase();
        if let Some(&i) = self.by_reference.get(&k) {
            return match &p.rows[i].outcome {
                Outcome::Error { .. } | Outcome::Ignored { .. } => Err(format!(
                    "its risk {reference:?} is not imported (row {} of the risks' sheet)",
                    p.rows[i].row
                )),
                _ => Ok(i),
            };
        }
        if register
            .risks
            .iter()
            .any(|r| r.reference.trim().to_lowercase() == k)
        {
            p.rows.push(RowPreview {
                sheet: Some(sheet.to_owned()),
                row,
                reference: Some(reference.trim().to_owned()),
                outcome: Outcome::Unchanged,
                warnings: Vec::new(),
                values: Default::default(),
                band: None,
            });
            self.by_reference.insert(k, p.rows.len() - 1);
            return Ok(p.rows.len() - 1);
        }
        Err(format!(
            "no risk {reference:?} in the register or in the risks' sheet"
        ))
    }
}

/// The risk a preview row creates or changes, as it will be.
fn risk_of<'a>(
    p: &'a Preview,
    register: &'a RiskRegister,
    i: usize,
) -> Option<&'a domain::documents::risk::Risk> {
    match &p.rows[i].outcome {
        Outcome::Create { risk, .. } => Some(risk),
        Outcome::Update { risk_id, .. } => register.risks.iter().find(|r| &r.id == risk_id),
        _ => {
            let reference = p.rows[i].reference.as_deref()?;
            register
                .risks
                .iter()
                .find(|r| r.reference.trim().eq_ignore_ascii_case(reference))
        }
    }
}

/// The outcome's lists of new assessments and actions, turning an unchanged risk into an
/// update.
fn lists<'a>(
    p: &'a mut Preview,
    register: &RiskRegister,
    i: usize,
) -> Option<(&'a mut Vec<Assessment>, &'a mut Vec<RiskAction>)> {
    if matches!(p.rows[i].outcome, Outcome::Unchanged) {
        let id = risk_of(p, register, i)?.id.clone();
        p.rows[i].outcome = Outcome::Update {
            risk_id: id,
            changes: Vec::new(),
            assessments: Vec::new(),
            actions: Vec::new(),
        };
    }
    match &mut p.rows[i].outcome {
        Outcome::Create {
            assessments,
            actions,
            ..
        }
        | Outcome::Update {
            assessments,
            actions,
            ..
        } => Some((assessments, actions)),
        _ => None,
    }
}

/// Folds the other sheets' rows into the preview of the risks' sheet.
pub(crate) fn extend(
    p: &mut Preview,
    sheets: &RegisterSheets,
    ctx: &Ctx,
    new_id: &mut dyn FnMut() -> String,
) {
    let mut targets = Targets::new(p);
    // The assessments each row had before the history was added (read from the risk's row).
    let from_rows: Vec<usize> = p
        .rows
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Create { assessments, .. } | Outcome::Update { assessments, .. } => {
                assessments.len()
            }
            _ => 0,
        })
        .collect();
    if let Some(s) = &sheets.assessments {
        let mut history: HashMap<usize, Vec<Assessment>> = HashMap::new();
        for row in &s.table.rows {
            if row.is_blank() {
                continue;
            }
            let mut warnings = Vec::new();
            match assessment(s, row, ctx, p, &mut targets, &mut warnings) {
                Ok((i, a)) => {
                    history
                        .entry(i)
                        .or_default()
                        .push(Assessment { id: new_id(), ..a });
                    p.rows[i].warnings.extend(warnings);
                }
                Err(problems) => error_row(p, s, row, problems, warnings),
            }
        }
        let mut order: Vec<usize> = history.keys().copied().collect();
        order.sort_unstable();
        for i in order {
            let mut entries = history.remove(&i).unwrap_or_default();
            let risk_id = match risk_of(p, ctx.register, i) {
                Some(r) => r.id.clone(),
                None => continue,
            };
            let held: Vec<&Assessment> = ctx
                .register
                .assessments
                .iter()
                .filter(|a| a.risk_id == risk_id)
                .collect();
            // What the register already holds is not added again.
            entries.retain(|e| {
                !held.iter().any(|h| {
                    (h.kind, h.likelihood, h.impact, h.date)
                        == (e.kind, e.likelihood, e.impact, e.date)
                })
            });
            for e in &mut entries {
                e.risk_id = risk_id.clone();
            }
            if entries.is_empty() {
                continue;
            }
            let creating = matches!(p.rows[i].outcome, Outcome::Create { .. });
            let row_made = from_rows.get(i).copied().unwrap_or(0);
            let Some((assessments, _)) = lists(p, ctx.register, i) else {
                continue;
            };
            let kinds: Vec<AssessmentKind> = entries.iter().map(|e| e.kind).collect();
            let mut k = 0;
            assessments.retain(|a| {
                k += 1;
                // The risk's row repeats the history's latest scores: the history stands
                // for those kinds (on a new risk), or the row's equals its latest (else).
                let from_row = k <= row_made;
                !(from_row
                    && kinds.contains(&a.kind)
                    && (creating
                        || entries
                            .iter()
                            .filter(|e| e.kind == a.kind)
                            .max_by_key(|e| e.date)
                            .is_some_and(|e| (e.likelihood, e.impact) == (a.likelihood, a.impact))))
            });
            assessments.splice(0..0, entries);
        }
    }
    if let Some(s) = &sheets.actions {
        for row in &s.table.rows {
            if row.is_blank() {
                continue;
            }
            let mut warnings = Vec::new();
            match action(s, row, ctx, p, &mut targets, &mut warnings, new_id) {
                Ok(Some((i, a))) => {
                    p.rows[i].warnings.extend(warnings);
                    if let Some((_, actions)) = lists(p, ctx.register, i) {
                        // The sheet's action replaces one the risk's row named by title.
                        actions.retain(|x| !x.title.trim().eq_ignore_ascii_case(a.title.trim()));
                        actions.push(a);
                    }
                }
                Ok(None) => {}
                Err(problems) => error_row(p, s, row, problems, warnings),
            }
        }
    }
    if let Some(s) = &sheets.appetite {
        let mut seen: HashMap<String, u32> = HashMap::new();
        for row in &s.table.rows {
            if row.is_blank() {
                continue;
            }
            match appetite(s, row, ctx, &mut seen) {
                Ok(Some(a)) => p.appetite.push(a),
                Ok(None) => {}
                Err(problems) => error_row(p, s, row, problems, Vec::new()),
            }
        }
    }
    p.recount();
}

fn error_row(
    p: &mut Preview,
    s: &OtherSheet,
    row: &Row,
    problems: Vec<String>,
    warnings: Vec<Warning>,
) {
    p.rows.push(RowPreview {
        sheet: Some(s.name.clone()),
        row: row.number,
        reference: s.text(row, Col::Reference),
        outcome: Outcome::Error { problems },
        warnings,
        values: Default::default(),
        band: None,
    });
}

fn date_of(
    s: &OtherSheet,
    row: &Row,
    c: Col,
    unset: &str,
    problems: &mut Vec<String>,
    warnings: &mut Vec<Warning>,
) -> Option<NaiveDate> {
    let (col, cell) = s.cell(row, c)?;
    let flag = |code, message: String| Warning {
        column: s.at(col),
        code,
        message: format!(
            "row {}: \"{}\": {} {message}",
            row.number,
            s.heading(col),
            cell.shown()
        ),
    };
    match values::date_reading(cell) {
        Ok(DateReading::Exact(d)) => Some(d),
        Ok(DateReading::Imprecise(d, how)) => {
            warnings.push(flag(
                WarningCode::DateImprecise,
                format!("is read as {}, the last day of {how}", values::date_text(d)),
            ));
            Some(d)
        }
        Ok(DateReading::Missing) => {
            warnings.push(flag(
                WarningCode::DateMissing,
                format!("is not a date yet: {unset}"),
            ));
            None
        }
        Err(e) => {
            problems.push(format!("\"{}\": {} {e}", s.heading(col), cell.shown()));
            None
        }
    }
}

fn assessment(
    s: &OtherSheet,
    row: &Row,
    ctx: &Ctx,
    p: &mut Preview,
    targets: &mut Targets,
    warnings: &mut Vec<Warning>,
) -> Result<(usize, Assessment), Vec<String>> {
    let mut problems = Vec::new();
    let target = match s.text(row, Col::Reference) {
        None => Err("the risk's reference is blank".to_owned()),
        Some(r) => targets.find(p, ctx.register, &s.name, row.number, &r),
    };
    let kind = match s.cell(row, Col::Kind) {
        None => {
            problems.push("the assessment (inherent, current or target) is blank".to_owned());
            None
        }
        Some((col, cell)) => {
            let k = kind(&cell.text());
            if k.is_none() {
                problems.push(format!(
                    "\"{}\": {} is not inherent, current or target",
                    s.heading(col),
                    cell.shown()
                ));
            }
            k
        }
    };
    let matrix = &ctx.register.matrix;
    let mut rating = |c: Col, levels| match s.cell(row, c) {
        None => {
            problems.push(format!(
                "the {} is blank",
                if c == Col::Likelihood {
                    "likelihood"
                } else {
                    "impact"
                }
            ));
            None
        }
        Some((col, cell)) => match values::score(cell, levels) {
            Ok(n) => Some(n),
            Err(e) => {
                problems.push(format!("\"{}\": {} {e}", s.heading(col), cell.shown()));
                None
            }
        },
    };
    let likelihood = rating(Col::Likelihood, &matrix.likelihood);
    let impact = rating(Col::Impact, &matrix.impact);
    let date = date_of(
        s,
        row,
        Col::Date,
        "dated the day of the import",
        &mut problems,
        warnings,
    );
    let target = target.map_err(|e| problems.insert(0, e));
    match (target, kind, likelihood, impact, problems.is_empty()) {
        (Ok(i), Some(kind), Some(likelihood), Some(impact), true) => Ok((
            i,
            Assessment {
                id: String::new(),
                risk_id: String::new(),
                kind,
                likelihood,
                impact,
                date: date.unwrap_or(ctx.today),
                assessor: s
                    .text(row, Col::Assessor)
                    .unwrap_or_else(|| ctx.importer.to_owned()),
                reason: s.text(row, Col::Reason).unwrap_or_default(),
            },
        )),
        _ => Err(problems),
    }
}

fn action(
    s: &OtherSheet,
    row: &Row,
    ctx: &Ctx,
    p: &mut Preview,
    targets: &mut Targets,
    warnings: &mut Vec<Warning>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Option<(usize, RiskAction)>, Vec<String>> {
    let mut problems = Vec::new();
    let target = match s.text(row, Col::Reference) {
        None => Err("the risk's reference is blank".to_owned()),
        Some(r) => targets.find(p, ctx.register, &s.name, row.number, &r),
    };
    let title = s.text(row, Col::Action);
    if title.is_none() {
        problems.push("the action is blank".to_owned());
    }
    let council = match s.cell(row, Col::Council) {
        None => None,
        Some((col, cell)) => match values::councils(&cell.text(), ctx.councils) {
            Ok(ids) if ids.len() == 1 => ids.into_iter().next(),
            Ok(_) => {
                problems.push(format!(
                    "\"{}\": {} names more than one council; one council does an action",
                    s.heading(col),
                    cell.shown()
                ));
                None
            }
            Err(e) => {
                problems.push(format!("\"{}\": {e}", s.heading(col)));
                None
            }
        },
    };
    let due = date_of(
        s,
        row,
        Col::Due,
        "due at the risk's next review",
        &mut problems,
        warnings,
    );
    let status = match s.cell(row, Col::Status) {
        None => ActionStatus::NotStarted,
        Some((col, cell)) => action_status(&cell.text()).unwrap_or_else(|| {
            warnings.push(Warning {
                column: s.at(col),
                code: WarningCode::StatusUnknown,
                message: format!(
                    "row {}: \"{}\": {} is not an action's status (not started, in progress, \
                     done, cancelled): not started",
                    row.number,
                    s.heading(col),
                    cell.shown()
                ),
            });
            ActionStatus::NotStarted
        }),
    };
    let i = match target {
        Ok(i) => i,
        Err(e) => {
            problems.insert(0, e);
            return Err(problems);
        }
    };
    let (Some(title), true) = (title, problems.is_empty()) else {
        return Err(problems);
    };
    let Some(risk) = risk_of(p, ctx.register, i) else {
        return Err(vec!["its risk is not imported".to_owned()]);
    };
    let a = RiskAction {
        id: String::new(),
        risk_id: risk.id.clone(),
        title,
        owner: s
            .text(row, Col::Owner)
            .unwrap_or_else(|| risk.owner.clone()),
        council: council
            .or_else(|| risk.bearing_council.clone())
            .or_else(|| risk.owning_councils.first().cloned())
            .unwrap_or_default(),
        due: due.unwrap_or(risk.next_review),
        status,
        expected_effect: s.text(row, Col::Effect).unwrap_or_default(),
    };
    // An action the register holds (by title) is kept as the register has it.
    if let Some(held) = ctx
        .register
        .actions
        .iter()
        .find(|x| x.risk_id == a.risk_id && x.title.trim().eq_ignore_ascii_case(a.title.trim()))
    {
        if *held
            != (RiskAction {
                id: held.id.clone(),
                ..a.clone()
            })
        {
            let col = s.columns.get(&Col::Action).copied().unwrap_or(0);
            p.rows[i].warnings.push(Warning {
                column: s.at(col),
                code: WarningCode::AlreadyHeld,
                message: format!(
                    "row {}: the register already has the action {:?}, differently: its own \
                     is kept (change it in Concordat)",
                    row.number, a.title
                ),
            });
        }
        return Ok(None);
    }
    Ok(Some((i, RiskAction { id: new_id(), ..a })))
}

fn appetite(
    s: &OtherSheet,
    row: &Row,
    ctx: &Ctx,
    seen: &mut HashMap<String, u32>,
) -> Result<Option<Appetite>, Vec<String>> {
    let Some(category) = s.text(row, Col::Category) else {
        return Err(vec!["the category is blank".to_owned()]);
    };
    let k = category.trim().to_lowercase();
    if let Some(first) = seen.get(&k) {
        return Err(vec![format!(
            "the category {category:?} is already on row {first}"
        )]);
    }
    seen.insert(k, row.number);
    let m = &ctx.register.matrix;
    let most = (m.likelihood.len() * m.impact.len()) as f64;
    let max_score = match s.cell(row, Col::MaxScore) {
        None => return Err(vec!["the maximum score is blank".to_owned()]),
        Some((col, cell)) => {
            let n = match cell {
                Cell::Number(n) => Some(*n),
                other => other.text().trim().parse::<f64>().ok(),
            };
            match n {
                Some(n) if n.fract() == 0.0 && (1.0..=most).contains(&n) => n as u32,
                _ => {
                    return Err(vec![format!(
                        "\"{}\": {} is not a score from 1 to {most}",
                        s.heading(col),
                        cell.shown()
                    )]);
                }
            }
        }
    };
    let a = Appetite {
        category,
        max_score,
        statement: s.text(row, Col::Statement).unwrap_or_default(),
    };
    let held = ctx
        .register
        .appetite
        .iter()
        .find(|x| x.category.trim().eq_ignore_ascii_case(a.category.trim()));
    Ok((held != Some(&a)).then_some(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_for_kinds_and_statuses() {
        assert_eq!(kind("Residual"), Some(AssessmentKind::Current));
        assert_eq!(kind("Gross"), Some(AssessmentKind::Inherent));
        assert_eq!(kind("Target"), Some(AssessmentKind::Target));
        assert_eq!(kind("Latest"), None);
        assert_eq!(action_status("Completed"), Some(ActionStatus::Done));
        assert_eq!(action_status("In progress"), Some(ActionStatus::InProgress));
        assert_eq!(action_status("Withdrawn"), Some(ActionStatus::Cancelled));
        assert_eq!(action_status("Maybe"), None);
    }
}
