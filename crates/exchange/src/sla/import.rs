//! SLA import: KPIs with their monthly (or quarterly, or annual) figures, measurements one per
//! row, and cost-share lines, from the sheets of one workbook (or one CSV).
//!
//! Councils keep an SLA's figures as a sheet of KPIs with a column per month ("Apr-26",
//! "May-26" … or real dates), often with a target, an amber threshold and a commentary
//! column, and a second sheet of cost lines with a column per council. Each sheet is
//! recognised by its headings; what a sheet is not (a cover sheet, a chart's data) is listed
//! as not imported, with the reason. Every row comes out as created, updated, unchanged,
//! refused (with every reason) or ignored (a section heading), and every cell read other than
//! as written is flagged with a [`Warning`].

use std::collections::{BTreeMap, HashMap};

use domain::documents::sla::{
    Basis, CostShare, Frequency, Kpi, Measurement, PartnersFigures, Polarity, SavingsLine, Sla,
    TimeAllocation, split,
};
use serde::{Deserialize, Serialize};

use super::values::{
    self, Figure, basis, basis_name, comparison, figure, frequency, frequency_name, frequency_of,
    money, period, period_shown, polarity, polarity_name, warn, yes_no,
};
use crate::Councils;
use crate::import::mapping::normalise;
use crate::import::table::{Sheet, detect_with, read_sheets};
use crate::import::values::{councils as council_ids, key};
use crate::import::{
    Cell, Format, ImportError, Limits, Row, Table, Warning, WarningCode, column_letter,
};

/// How many sheets one SLA workbook may have: a council's SLA file has a handful.
pub const MAX_SHEETS: usize = 20;

/// What a column of an SLA sheet holds. As JSON, a string: `"kpi"`, `"target"`,
/// `"period:2026-04"` (a column of figures for one period), `"driver:<council>"` /
/// `"actual-driver:<council>"` (a council's driver value), `"ignore"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum SlaField {
    Ignore,
    Kpi,
    Reference,
    Unit,
    Polarity,
    Frequency,
    Baseline,
    Target,
    AmberTolerance,
    AmberThreshold,
    Period,
    Actual,
    Commentary,
    CorrectiveAction,
    CostLine,
    Basis,
    TotalEstimate,
    TotalActual,
    RebaseTolerance,
    SharedWithGuests,
    /// A column of figures for one period (`2026-04`): the wide layout.
    Figures(String),
    /// A council's driver value (organisation id): the estimate's, or the actual's. On a
    /// shared posts' sheet, its planned or actual percentage; on a savings sheet, its saving.
    Driver {
        council: String,
        actual: bool,
    },
    /// A shared post (the time allocation sheet).
    Post,
    /// A savings line (the savings sheet).
    Saving,
    /// A council's share of a KPI's outcome target (organisation id).
    Share(String),
    /// The agreement sheet's two columns: which term, and its value.
    Label,
    Value,
}

const NAMES: &[(SlaField, &str)] = &[
    (SlaField::Ignore, "ignore"),
    (SlaField::Kpi, "kpi"),
    (SlaField::Reference, "reference"),
    (SlaField::Unit, "unit"),
    (SlaField::Polarity, "polarity"),
    (SlaField::Frequency, "frequency"),
    (SlaField::Baseline, "baseline"),
    (SlaField::Target, "target"),
    (SlaField::AmberTolerance, "amber-tolerance"),
    (SlaField::AmberThreshold, "amber-threshold"),
    (SlaField::Period, "period"),
    (SlaField::Actual, "actual"),
    (SlaField::Commentary, "commentary"),
    (SlaField::CorrectiveAction, "corrective-action"),
    (SlaField::CostLine, "cost-line"),
    (SlaField::Basis, "basis"),
    (SlaField::TotalEstimate, "total-estimate"),
    (SlaField::TotalActual, "total-actual"),
    (SlaField::RebaseTolerance, "rebase-tolerance"),
    (SlaField::SharedWithGuests, "shared-with-guests"),
    (SlaField::Post, "post"),
    (SlaField::Saving, "saving"),
    (SlaField::Label, "label"),
    (SlaField::Value, "value"),
];

impl From<SlaField> for String {
    fn from(f: SlaField) -> String {
        match f {
            SlaField::Figures(p) => format!("period:{p}"),
            SlaField::Driver {
                council,
                actual: false,
            } => format!("driver:{council}"),
            SlaField::Driver {
                council,
                actual: true,
            } => format!("actual-driver:{council}"),
            SlaField::Share(council) => format!("share:{council}"),
            other => NAMES
                .iter()
                .find(|(f, _)| *f == other)
                .map(|(_, n)| (*n).to_owned())
                .unwrap_or_default(),
        }
    }
}

impl TryFrom<String> for SlaField {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if let Some(p) = s.strip_prefix("period:") {
            return match period(p) {
                Some(p) => Ok(SlaField::Figures(p.key)),
                None => Err(format!("{p:?} is not a period (2026-04, 2026-Q2, 2026/27)")),
            };
        }
        if let Some(c) = s.strip_prefix("actual-driver:") {
            return Ok(SlaField::Driver {
                council: c.to_owned(),
                actual: true,
            });
        }
        if let Some(c) = s.strip_prefix("share:") {
            return Ok(SlaField::Share(c.to_owned()));
        }
        if let Some(c) = s.strip_prefix("driver:") {
            return Ok(SlaField::Driver {
                council: c.to_owned(),
                actual: false,
            });
        }
        NAMES
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(f, _)| f.clone())
            .ok_or_else(|| format!("{s:?} is not an SLA column"))
    }
}

/// What a sheet of an SLA workbook holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SheetKind {
    /// KPIs, one per row, possibly with a column of figures per period.
    Kpis,
    /// Measurements one per row: KPI, period, actual.
    Measurements,
    /// Cost-share lines, with a column per council for the drivers.
    CostShares,
    /// Shared posts, with each council's planned and actual percentage.
    TimeAllocations,
    /// Savings lines, with each council's saving.
    Savings,
    /// The agreement's terms: provider, client, dates, clauses (a Field and a Value column).
    Agreement,
}

/// One sheet as the import reads it.
#[derive(Debug, Clone)]
pub struct SlaSheet {
    pub name: String,
    /// `None`: not imported ([`SlaSheet::note`] says why).
    pub kind: Option<SheetKind>,
    pub table: Option<Table>,
    pub mapping: BTreeMap<usize, SlaField>,
    pub note: Option<String>,
}

/// The workbook's sheets, each recognised (or not).
#[derive(Debug, Clone)]
pub struct SlaWorkbook {
    pub sheets: Vec<SlaSheet>,
}

/// A mapping sent back by a person: per sheet name, column letter → field. A sheet named
/// here takes exactly these columns (an empty map: the sheet is not imported); others are
/// guessed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaMapping {
    pub sheets: BTreeMap<String, BTreeMap<String, SlaField>>,
}

/// Reads every sheet of an SLA workbook (or the CSV) and recognises what each holds.
/// `councils` name the driver columns. A sheet with no recognisable header is kept, not
/// imported, with the reason.
pub fn read_sla(
    bytes: &[u8],
    format: Format,
    limits: Limits,
    councils: &Councils,
    mapping: Option<&SlaMapping>,
) -> Result<SlaWorkbook, ImportError> {
    let sheets = read_sheets(bytes, format, limits, MAX_SHEETS)?;
    let mut out = Vec::new();
    for Sheet { name, grid, merges } in sheets {
        let given = mapping.and_then(|m| m.sheets.get(&name));
        out.push(recognise(name, grid, merges.as_deref(), councils, given)?);
    }
    Ok(SlaWorkbook { sheets: out })
}

fn recognise(
    name: String,
    grid: Vec<Row>,
    merges: Option<&[crate::import::table::Merge]>,
    councils: &Councils,
    given: Option<&BTreeMap<String, SlaField>>,
) -> Result<SlaSheet, ImportError> {
    let kpi_known = |h: &[String]| distinct(h.iter().filter_map(|h| kpi_field(h, councils)));
    let cost_known = |h: &[String]| distinct(h.iter().filter_map(|h| cost_field(h, councils)));
    // Posts and savings: each council's column counts (a sheet of a post and two councils).
    let other_known = |h: &[String]| {
        let mut v: Vec<SlaField> = h
            .iter()
            .filter_map(|h| other_field(h, councils))
            .map(|f| match f {
                SlaField::Driver { council, .. } => SlaField::Share(council),
                other => other,
            })
            .collect();
        v.sort();
        v.dedup();
        v.len()
    };
    // The agreement's terms: a "Field" and a "Value" column.
    let terms = |h: &[String]| {
        let w: Vec<String> = h.iter().map(|x| words(x)).collect();
        if w.first().map(String::as_str) == Some("field")
            && w.get(1).map(String::as_str) == Some("value")
        {
            usize::MAX
        } else {
            0
        }
    };
    if given.is_none()
        && let Some(t) = detect_with(grid.clone(), merges, &terms, values::heading)
    {
        return Ok(SlaSheet {
            name,
            kind: Some(SheetKind::Agreement),
            table: Some(t),
            mapping: BTreeMap::from([(0, SlaField::Label), (1, SlaField::Value)]),
            note: None,
        });
    }
    let as_kpis = detect_with(grid.clone(), merges, &kpi_known, values::heading);
    let as_costs = detect_with(grid.clone(), merges, &cost_known, values::heading);
    let as_other = detect_with(grid.clone(), merges, &other_known, values::heading);
    if given.is_some() && as_kpis.is_none() && as_costs.is_none() && as_other.is_none() {
        // Headings the import does not know, mapped by a person: the first row with any text
        // is the header.
        let any = |h: &[String]| {
            if h.iter().any(|x| !x.is_empty()) {
                usize::MAX
            } else {
                0
            }
        };
        let table = detect_with(grid, merges, &any, values::heading);
        return mapped(name, table, councils, given);
    }
    let score =
        |t: &Option<Table>, f: &dyn Fn(&[String]) -> usize| t.as_ref().map_or(0, |t| f(&t.headers));
    let (k, c, o) = (
        score(&as_kpis, &kpi_known),
        score(&as_costs, &cost_known),
        score(&as_other, &other_known),
    );
    let found = match (as_kpis, as_costs, as_other) {
        (Some(t), ..) if k >= c && k >= o => {
            let m = guess(&t, |h| kpi_field(h, councils));
            Some((t, m))
        }
        (_, Some(t), _) if c >= o => {
            let m = guess(&t, |h| cost_field(h, councils));
            Some((t, m))
        }
        (.., Some(t)) => {
            let m = guess(&t, |h| other_field(h, councils));
            Some((t, m))
        }
        _ => None,
    };
    let Some((table, guessed)) = found else {
        return Ok(SlaSheet {
            name,
            kind: None,
            table: None,
            mapping: BTreeMap::new(),
            note: Some(
                "not imported: no header row naming KPIs (KPI, Target, a column per month) \
                 or cost lines (Cost line, Basis, Total estimate) in its first 10 rows"
                    .to_owned(),
            ),
        });
    };
    if given.is_some() {
        return mapped(name, Some(table), councils, given);
    }
    let kind = kind_of(&guessed);
    Ok(SlaSheet {
        name,
        kind,
        table: Some(table),
        mapping: guessed,
        note: kind.is_none().then(not_imported),
    })
}

fn not_imported() -> String {
    "not imported: it has no KPI column (KPIs, measurements) and no cost-line column (cost \
     shares)"
        .to_owned()
}

fn kind_of(mapping: &BTreeMap<usize, SlaField>) -> Option<SheetKind> {
    let has = |f: &SlaField| mapping.values().any(|v| v == f);
    let figures = mapping.values().any(|f| matches!(f, SlaField::Figures(_)));
    if has(&SlaField::Kpi) && has(&SlaField::Period) && has(&SlaField::Actual) && !figures {
        Some(SheetKind::Measurements)
    } else if has(&SlaField::Kpi) {
        Some(SheetKind::Kpis)
    } else if has(&SlaField::CostLine) {
        Some(SheetKind::CostShares)
    } else if has(&SlaField::Post) {
        Some(SheetKind::TimeAllocations)
    } else if has(&SlaField::Saving) {
        Some(SheetKind::Savings)
    } else if has(&SlaField::Label) && has(&SlaField::Value) {
        Some(SheetKind::Agreement)
    } else {
        None
    }
}

/// The sheet with a person's mapping (or, with `given` `None`, none yet).
fn mapped(
    name: String,
    table: Option<Table>,
    councils: &Councils,
    given: Option<&BTreeMap<String, SlaField>>,
) -> Result<SlaSheet, ImportError> {
    let Some(table) = table else {
        return Ok(SlaSheet {
            name,
            kind: None,
            table: None,
            mapping: BTreeMap::new(),
            note: Some("not imported: the sheet is empty".to_owned()),
        });
    };
    let mapping = match given {
        Some(given) => {
            let mut m = BTreeMap::new();
            for (letter, field) in given {
                let col = crate::import::mapping::column_index(letter)
                    .ok_or_else(|| ImportError::Mapping(format!("{letter:?} is not a column")))?;
                if let SlaField::Driver { council, .. } = field
                    && !councils.iter().any(|(id, _)| id == council)
                {
                    let ids = council_ids(council, councils).map_err(ImportError::Mapping)?;
                    let [id] = ids.as_slice() else {
                        return Err(ImportError::Mapping(format!(
                            "{council:?} names more than one council"
                        )));
                    };
                    let actual = matches!(field, SlaField::Driver { actual: true, .. });
                    m.insert(
                        col,
                        SlaField::Driver {
                            council: id.clone(),
                            actual,
                        },
                    );
                    continue;
                }
                if *field != SlaField::Ignore {
                    m.insert(col, field.clone());
                }
            }
            m
        }
        None => BTreeMap::new(),
    };
    let kind = kind_of(&mapping);
    let note = kind.is_none().then(not_imported);
    Ok(SlaSheet {
        name,
        kind,
        table: Some(table),
        mapping,
        note,
    })
}

fn distinct(fields: impl Iterator<Item = SlaField>) -> usize {
    let mut v: Vec<SlaField> = fields
        .map(|f| match f {
            // Every period column is one kind of thing; every council's driver too.
            SlaField::Figures(_) => SlaField::Figures(String::new()),
            SlaField::Driver { .. } => SlaField::Driver {
                council: String::new(),
                actual: false,
            },
            SlaField::Share(_) => SlaField::Share(String::new()),
            other => other,
        })
        .collect();
    v.sort();
    v.dedup();
    v.len()
}

/// The first column naming a field takes it; a computed column (known, ignored) takes none.
fn guess(table: &Table, field: impl Fn(&str) -> Option<SlaField>) -> BTreeMap<usize, SlaField> {
    let mut m: BTreeMap<usize, SlaField> = BTreeMap::new();
    for (col, h) in table.headers.iter().enumerate() {
        if let Some(f) = field(h)
            && f != SlaField::Ignore
            && !m.values().any(|v| *v == f)
        {
            m.insert(col, f);
        }
    }
    m
}

/// Headings without the years and numbers in them ("Target 2026/27" is a target).
fn words(heading: &str) -> String {
    normalise(heading)
        .split(' ')
        .filter(|w| !w.bytes().all(|b| b.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A KPI sheet's heading: `Some(Ignore)` for a computed column the export writes (RAG, trend).
fn kpi_field(heading: &str, councils: &Councils) -> Option<SlaField> {
    if let Some(p) = period(heading) {
        return Some(SlaField::Figures(p.key));
    }
    let w = words(heading);
    let w = w.as_str();
    let f = match w {
        "ref" | "kpi ref" | "pi ref" | "reference" | "kpi reference" | "no" | "kpi no" | "code"
        | "kpi code" | "pi code" | "kpi id" => SlaField::Reference,
        "kpi"
        | "kpi name"
        | "kpi description"
        | "kpi title"
        | "indicator"
        | "performance indicator"
        | "key performance indicator"
        | "pi"
        | "measure"
        | "performance measure"
        | "description"
        | "kpi measure"
        | "indicator name" => SlaField::Kpi,
        "unit" | "units" | "unit of measure" => SlaField::Unit,
        "polarity"
        | "good is"
        | "good performance is"
        | "better is"
        | "aim"
        | "higher or lower is better"
        | "direction of good" => SlaField::Polarity,
        "frequency" | "reporting frequency" | "reported" | "how often" | "measured" => {
            SlaField::Frequency
        }
        "baseline" | "base line" | "baseline value" => SlaField::Baseline,
        "target" | "annual target" | "target value" | "kpi target" | "standard" => SlaField::Target,
        "amber tolerance" | "tolerance" | "amber tolerance units" => SlaField::AmberTolerance,
        "amber threshold" | "amber" | "amber trigger" | "amber level" | "threshold"
        | "intervention level" => SlaField::AmberThreshold,
        "period" | "month" | "quarter" | "reporting period" => SlaField::Period,
        "actual" | "value" | "result" | "outturn" | "actual value" | "figure" => SlaField::Actual,
        "commentary" | "comments" | "comment" | "narrative" | "notes" => SlaField::Commentary,
        "corrective action" | "remedial action" | "improvement action" | "action plan"
        | "action" | "actions" => SlaField::CorrectiveAction,
        "rag"
        | "status"
        | "trend"
        | "direction of travel"
        | "latest period"
        | "latest actual"
        | "latest"
        | "latest rag" => SlaField::Ignore,
        _ => return share(w, councils),
    };
    Some(f)
}

/// "Eastbridge share", "EDC share of target": a council's share of a KPI's outcome target.
fn share(w: &str, councils: &Councils) -> Option<SlaField> {
    let tokens: Vec<&str> = w.split(' ').collect();
    if !tokens.contains(&"share") {
        return None;
    }
    let rest: Vec<&str> = tokens
        .iter()
        .copied()
        .filter(|t| !["share", "of", "target", "percent", "percentage"].contains(t))
        .collect();
    match council_ids(&rest.join(" "), councils) {
        Ok(ids) if ids.len() == 1 => Some(SlaField::Share(ids[0].clone())),
        _ => None,
    }
}

/// A shared posts' or savings sheet's heading: the post or the saving, whether it is shared
/// with guests, and a column per council (planned and actual percentage, or the saving).
fn other_field(heading: &str, councils: &Councils) -> Option<SlaField> {
    let w = words(heading);
    let f = match w.as_str() {
        "post" | "shared post" | "role" | "position" | "job title" => SlaField::Post,
        "saving" | "savings" | "savings line" | "saving line" | "efficiency" => SlaField::Saving,
        "shared with guests" | "visible to guests" | "guests" | "shared" | "share with guests" => {
            SlaField::SharedWithGuests
        }
        _ => return driver(&w, councils),
    };
    Some(f)
}

/// Words around a council's name in a driver heading ("EDC caseload", "Westbury actual").
const DRIVER_WORDS: &[&str] = &[
    "driver",
    "drivers",
    "caseload",
    "cases",
    "headcount",
    "fte",
    "properties",
    "hours",
    "time",
    "estimate",
    "estimated",
    "est",
    "budget",
    "budgeted",
    "actual",
    "outturn",
    "share",
    "percent",
    "percentage",
    "value",
    "no",
    "number",
    "of",
    "planned",
    "saving",
    "savings",
];

/// A cost sheet's heading: a council's split in pounds (which the export writes) is computed.
fn cost_field(heading: &str, councils: &Councils) -> Option<SlaField> {
    let w = words(heading);
    let f = match w.as_str() {
        "cost line" | "line" | "item" | "description" | "service" | "cost centre" | "cost item"
        | "budget line" | "activity" | "function" | "cost" => SlaField::CostLine,
        "basis"
        | "split basis"
        | "apportionment basis"
        | "apportionment"
        | "allocation basis"
        | "basis of split"
        | "recharge basis"
        | "method" => SlaField::Basis,
        "total estimate" | "estimate" | "budget" | "total budget" | "estimated cost"
        | "total cost" | "annual cost" | "gross cost" | "net cost" | "amount" | "total" => {
            SlaField::TotalEstimate
        }
        "total actual" | "actual" | "outturn" | "actual cost" | "actual spend" | "spend" => {
            SlaField::TotalActual
        }
        "rebase tolerance"
        | "re base tolerance"
        | "tolerance"
        | "rebasing tolerance"
        | "re basing tolerance"
        | "tolerance points" => SlaField::RebaseTolerance,
        "shared with guests" | "visible to guests" | "guests" | "shared" | "share with guests" => {
            SlaField::SharedWithGuests
        }
        _ => return driver(&w, councils),
    };
    Some(f)
}

fn driver(w: &str, councils: &Councils) -> Option<SlaField> {
    let tokens: Vec<&str> = w.split(' ').collect();
    if tokens.contains(&"split") {
        // "Eastbridge split" is the export's computed share in pounds.
        let rest: Vec<&str> = tokens.iter().copied().filter(|t| *t != "split").collect();
        return council_ids(&rest.join(" "), councils)
            .ok()
            .filter(|ids| ids.len() == 1)
            .map(|_| SlaField::Ignore);
    }
    let actual = tokens.contains(&"actual") || tokens.contains(&"outturn");
    let rest: Vec<&str> = tokens
        .iter()
        .copied()
        .filter(|t| !DRIVER_WORDS.contains(t))
        .collect();
    if rest.is_empty() {
        return None;
    }
    match council_ids(&rest.join(" "), councils) {
        Ok(ids) if ids.len() == 1 => Some(SlaField::Driver {
            council: ids[0].clone(),
            actual,
        }),
        _ => None,
    }
}

/// What a row does to an existing thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Unchanged,
}

/// One field that changes, as a person reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub field: String,
    pub from: String,
    pub to: String,
}

/// A measurement the import creates or changes (or finds as it is).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeasurementChange {
    pub action: Action,
    /// The figure it had, for an update.
    pub from: Option<f64>,
    pub measurement: Measurement,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SlaOutcome {
    /// A KPI row: the KPI as it will be, and the figures in its row.
    Kpi {
        action: Action,
        kpi: Kpi,
        changes: Vec<Change>,
        measurements: Vec<MeasurementChange>,
    },
    /// A measurement row (the long layout).
    Measurement { measurement: MeasurementChange },
    /// A cost-share line, and whether it is shared with the SLA's guests (else it is kept in
    /// the partners' own figures).
    CostShare {
        action: Action,
        line: CostShare,
        #[serde(rename = "sharedWithGuests")]
        shared_with_guests: bool,
        changes: Vec<Change>,
    },
    /// A shared post's time, planned and actual per council, and whether guests see it.
    TimeAllocation {
        action: Action,
        allocation: TimeAllocation,
        #[serde(rename = "sharedWithGuests")]
        shared_with_guests: bool,
        changes: Vec<Change>,
    },
    /// A savings line, per council, and whether guests see it.
    Saving {
        action: Action,
        line: SavingsLine,
        #[serde(rename = "sharedWithGuests")]
        shared_with_guests: bool,
        changes: Vec<Change>,
    },
    /// A term of the agreement: `field` is the SLA's (`provider`, `termStart`,
    /// `exitClause` …), `value` as stored (an organisation id, a date as 2026-04-01, text).
    Term {
        action: Action,
        field: String,
        value: String,
        /// The value as a person reads it (a council's name).
        shown: String,
    },
    /// Nothing from this row is applied.
    Error { problems: Vec<String> },
    /// A section heading or note: not imported, shown.
    Ignored { text: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaRowPreview {
    pub sheet: String,
    pub row: u32,
    /// The KPI's or cost line's name, when the row has one.
    pub label: Option<String>,
    pub outcome: SlaOutcome,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub creates: usize,
    pub updates: usize,
    pub unchanged: usize,
}

impl Counts {
    fn add(&mut self, a: Action) {
        match a {
            Action::Create => self.creates += 1,
            Action::Update => self.updates += 1,
            Action::Unchanged => self.unchanged += 1,
        }
    }
}

/// One column as read, for the person checking the mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaColumn {
    pub column: String,
    pub heading: String,
    pub field: SlaField,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SheetView {
    pub name: String,
    pub kind: Option<SheetKind>,
    pub header_row: Option<u32>,
    pub columns: Vec<SlaColumn>,
    /// Why the sheet is not imported.
    pub note: Option<String>,
}

/// The SLA import as it would happen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaPreview {
    pub sheets: Vec<SheetView>,
    pub rows: Vec<SlaRowPreview>,
    pub kpis: Counts,
    pub measurements: Counts,
    pub cost_shares: Counts,
    pub time_allocations: Counts,
    pub savings: Counts,
    /// The agreement's terms (provider, client, dates, clauses).
    pub terms: Counts,
    pub errors: usize,
    pub ignored: usize,
    pub warnings: usize,
    pub skipped_blank: usize,
}

impl SlaPreview {
    /// Whether applying changes anything.
    pub fn changes_anything(&self) -> bool {
        [
            self.kpis,
            self.measurements,
            self.cost_shares,
            self.time_allocations,
            self.savings,
            self.terms,
        ]
        .iter()
        .any(|c| c.creates + c.updates > 0)
    }

    /// Applies the preview to the SLA and its partners' figures it was made from. Created
    /// things already present by id (applied twice) are not added again.
    pub fn apply_to(&self, sla: &mut Sla, figures: &mut PartnersFigures) {
        let put_measurement = |sla: &mut Sla, m: &MeasurementChange| match m.action {
            Action::Create => {
                if !sla.measurements.iter().any(|x| x.id == m.measurement.id) {
                    sla.measurements.push(m.measurement.clone());
                }
            }
            Action::Update => {
                if let Some(x) = sla
                    .measurements
                    .iter_mut()
                    .find(|x| x.id == m.measurement.id)
                {
                    *x = m.measurement.clone();
                }
            }
            Action::Unchanged => {}
        };
        for row in &self.rows {
            match &row.outcome {
                SlaOutcome::Kpi {
                    action,
                    kpi,
                    measurements,
                    ..
                } => {
                    match action {
                        Action::Create => {
                            if !sla.kpis.iter().any(|k| k.id == kpi.id) {
                                sla.kpis.push(kpi.clone());
                            }
                        }
                        Action::Update => {
                            if let Some(k) = sla.kpis.iter_mut().find(|k| k.id == kpi.id) {
                                *k = kpi.clone();
                            }
                        }
                        Action::Unchanged => {}
                    }
                    for m in measurements {
                        put_measurement(sla, m);
                    }
                }
                SlaOutcome::Measurement { measurement } => put_measurement(sla, measurement),
                SlaOutcome::CostShare {
                    action,
                    line,
                    shared_with_guests,
                    ..
                } => put(
                    *action,
                    line,
                    *shared_with_guests,
                    &mut sla.cost_shares,
                    &mut figures.cost_shares,
                    |a, b| a.id == b.id,
                ),
                SlaOutcome::TimeAllocation {
                    action,
                    allocation,
                    shared_with_guests,
                    ..
                } => put(
                    *action,
                    allocation,
                    *shared_with_guests,
                    &mut sla.time_allocations,
                    &mut figures.time_allocations,
                    |a, b| a.id == b.id,
                ),
                SlaOutcome::Saving {
                    action,
                    line,
                    shared_with_guests,
                    ..
                } => put(
                    *action,
                    line,
                    *shared_with_guests,
                    &mut sla.savings,
                    &mut figures.savings,
                    |a, b| key(&a.description) == key(&b.description),
                ),
                SlaOutcome::Term {
                    action,
                    field,
                    value,
                    ..
                } => {
                    if *action != Action::Unchanged {
                        set_term(sla, field, value);
                    }
                }
                SlaOutcome::Error { .. } | SlaOutcome::Ignored { .. } => {}
            }
        }
    }
}

/// Creates a line in the SLA (`shared`: guests see it) or in the partners' figures, unless it
/// is there already (`same`), or updates it wherever it is.
fn put<T: Clone>(
    action: Action,
    item: &T,
    shared: bool,
    own: &mut Vec<T>,
    kept: &mut Vec<T>,
    same: impl Fn(&T, &T) -> bool,
) {
    match action {
        Action::Create => {
            let list = if shared { own } else { kept };
            if !list.iter().any(|x| same(x, item)) {
                list.push(item.clone());
            }
        }
        Action::Update => {
            for x in own.iter_mut().chain(kept.iter_mut()) {
                if same(x, item) {
                    *x = item.clone();
                }
            }
        }
        Action::Unchanged => {}
    }
}

/// What an SLA import would do: KPI sheets first (so measurement rows can name KPIs they
/// create), then measurement sheets, then cost shares. `sla` is the SLA as its partner
/// councils see it, `figures` its partners-only figures.
pub fn preview_sla(
    book: &SlaWorkbook,
    sla: &Sla,
    figures: &PartnersFigures,
    councils: &Councils,
    new_id: &mut dyn FnMut() -> String,
) -> SlaPreview {
    let mut p = Planner {
        sla,
        figures,
        councils,
        kpis: sla
            .kpis
            .iter()
            .map(|k| (key(&k.name), (k.clone(), None)))
            .collect(),
        measurements: sla
            .measurements
            .iter()
            .map(|m| ((m.kpi_id.clone(), m.period.clone()), (m.actual, None)))
            .collect(),
        lines: HashMap::new(),
        out: SlaPreview {
            sheets: Vec::new(),
            rows: Vec::new(),
            kpis: Counts::default(),
            measurements: Counts::default(),
            cost_shares: Counts::default(),
            time_allocations: Counts::default(),
            savings: Counts::default(),
            terms: Counts::default(),
            errors: 0,
            ignored: 0,
            warnings: 0,
            skipped_blank: 0,
        },
    };
    for s in &book.sheets {
        p.out.sheets.push(SheetView {
            name: s.name.clone(),
            kind: s.kind,
            header_row: s.table.as_ref().map(|t| t.header_row),
            columns: s
                .table
                .as_ref()
                .map(|t| {
                    t.headers
                        .iter()
                        .enumerate()
                        .filter(|(_, h)| !h.is_empty())
                        .map(|(c, h)| SlaColumn {
                            column: column_letter(c),
                            heading: h.clone(),
                            field: s.mapping.get(&c).cloned().unwrap_or(SlaField::Ignore),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            note: s.note.clone(),
        });
    }
    for kind in [
        SheetKind::Agreement,
        SheetKind::Kpis,
        SheetKind::Measurements,
        SheetKind::CostShares,
        SheetKind::TimeAllocations,
        SheetKind::Savings,
    ] {
        for s in book.sheets.iter().filter(|s| s.kind == Some(kind)) {
            let Some(table) = &s.table else { continue };
            for row in &table.rows {
                if row.is_blank() {
                    p.out.skipped_blank += 1;
                    continue;
                }
                let sheet = Ctx {
                    name: &s.name,
                    table,
                    mapping: &s.mapping,
                };
                let mut warnings = Vec::new();
                let (label, outcome) = match kind {
                    SheetKind::Kpis => p.kpi_row(&sheet, row, &mut warnings, new_id),
                    SheetKind::Measurements => {
                        p.measurement_row(&sheet, row, &mut warnings, new_id)
                    }
                    SheetKind::CostShares => p.cost_row(&sheet, row, &mut warnings, new_id),
                    SheetKind::TimeAllocations => p.time_row(&sheet, row, new_id),
                    SheetKind::Savings => p.saving_row(&sheet, row),
                    SheetKind::Agreement => p.term_row(&sheet, row),
                };
                match &outcome {
                    SlaOutcome::Error { .. } => p.out.errors += 1,
                    SlaOutcome::Ignored { .. } => p.out.ignored += 1,
                    _ => {}
                }
                p.out.warnings += warnings.len();
                p.out.rows.push(SlaRowPreview {
                    sheet: s.name.clone(),
                    row: row.number,
                    label,
                    outcome,
                    warnings,
                });
            }
        }
    }
    p.out
}

struct Ctx<'a> {
    name: &'a str,
    table: &'a Table,
    mapping: &'a BTreeMap<usize, SlaField>,
}

impl Ctx<'_> {
    fn col(&self, f: &SlaField) -> Option<usize> {
        self.mapping.iter().find(|(_, v)| *v == f).map(|(c, _)| *c)
    }

    fn cell<'r>(&self, row: &'r Row, f: &SlaField) -> Option<(usize, &'r Cell)> {
        self.col(f)
            .map(|c| (c, row.get(c)))
            .filter(|(_, cell)| !cell.is_blank())
    }

    fn text(&self, row: &Row, f: &SlaField) -> Option<String> {
        self.cell(row, f).map(|(_, c)| c.text())
    }

    fn heading(&self, col: usize) -> String {
        self.table.header_name(col)
    }

    /// A figure in a column: `Ok(None)` when blank or a "no figure" word (with a warning).
    fn number(&self, row: &Row, f: &SlaField, problems: &mut Vec<String>) -> Option<f64> {
        let (col, cell) = self.cell(row, f)?;
        match figure(cell) {
            Ok(Some(Figure::Value(n))) => Some(n),
            Ok(_) => None,
            Err(e) => {
                problems.push(format!("{:?}: {e}", self.heading(col)));
                None
            }
        }
    }

    /// A row with one text cell and nothing else ("Revenues", "Figures are provisional"),
    /// or no name and no figures: a heading or a note.
    fn section(&self, row: &Row, name: &SlaField) -> Option<String> {
        let filled: Vec<&Cell> = row.cells.iter().filter(|c| !c.is_blank()).collect();
        let named = self.cell(row, name).is_some();
        let only_text = filled.len() == 1 && matches!(filled[0], Cell::Text(_));
        let has_number = filled.iter().any(|c| matches!(c, Cell::Number(_)));
        (only_text || (!named && !has_number)).then(|| {
            filled
                .iter()
                .map(|c| c.text())
                .collect::<Vec<_>>()
                .join(" · ")
        })
    }
}

/// The sheet and row of the file that gave something.
type FromRow = (String, u32);

struct Planner<'a> {
    sla: &'a Sla,
    figures: &'a PartnersFigures,
    councils: &'a Councils,
    /// KPI name key → the KPI as it will be, and the import row that made or changed it.
    kpis: HashMap<String, (Kpi, Option<(String, u32)>)>,
    /// (KPI id, period) → the figure, and the import row that gave it.
    measurements: HashMap<(String, String), (f64, Option<FromRow>)>,
    /// Cost line key → the row that gave it.
    lines: HashMap<String, (String, u32)>,
    out: SlaPreview,
}

fn fmt(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn pounds(pence: i64) -> String {
    format!("£{}.{:02}", pence / 100, (pence % 100).abs())
}

/// Sets one of the agreement's terms from its stored form.
fn set_term(sla: &mut Sla, field: &str, value: &str) {
    let date = || chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").ok();
    match field {
        "provider" => sla.provider = value.to_owned(),
        "client" => sla.client = value.to_owned(),
        "specification" => sla.specification = value.to_owned(),
        "termStart" => sla.term_start = date(),
        "termEnd" => sla.term_end = date(),
        "reviewDate" => sla.review_date = date(),
        "disputeClause" => sla.dispute_clause = value.to_owned(),
        "exitClause" => sla.exit_clause = value.to_owned(),
        _ => {}
    }
}

/// A term's stored form in `sla`.
fn term_of(sla: &Sla, field: &str) -> String {
    let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    match field {
        "provider" => sla.provider.clone(),
        "client" => sla.client.clone(),
        "specification" => sla.specification.clone(),
        "termStart" => date(sla.term_start),
        "termEnd" => date(sla.term_end),
        "reviewDate" => date(sla.review_date),
        "disputeClause" => sla.dispute_clause.clone(),
        "exitClause" => sla.exit_clause.clone(),
        _ => String::new(),
    }
}

/// What a term is called in a sheet → (the SLA's field, how its value is read).
fn term_field(label: &str) -> Option<(&'static str, TermKind)> {
    Some(match normalise(label).as_str() {
        "provider" | "provider council" | "service provider" => ("provider", TermKind::Council),
        "client" | "client council" | "commissioner" => ("client", TermKind::Council),
        "service specification" | "specification" | "service" => ("specification", TermKind::Text),
        "term start" | "start date" | "start" | "commencement" => ("termStart", TermKind::Date),
        "term end" | "end date" | "end" | "expiry" => ("termEnd", TermKind::Date),
        "review date" | "review" | "next review" => ("reviewDate", TermKind::Date),
        "dispute clause" | "disputes" | "dispute resolution" => ("disputeClause", TermKind::Text),
        "exit clause" | "exit" | "termination" => ("exitClause", TermKind::Text),
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TermKind {
    Council,
    Date,
    Text,
}

impl Planner<'_> {
    /// Whether the row says its line is shared with the SLA's guests.
    fn shared(&self, s: &Ctx, row: &Row, problems: &mut Vec<String>) -> bool {
        match s.cell(row, &SlaField::SharedWithGuests) {
            None => false,
            Some((col, cell)) => yes_no(&cell.text()).unwrap_or_else(|| {
                problems.push(format!(
                    "{:?}: {} is not yes or no",
                    s.heading(col),
                    cell.shown()
                ));
                false
            }),
        }
    }

    /// Each council's figure in the row (its columns), planned (or estimated) and actual.
    fn per_council(
        &self,
        s: &Ctx,
        row: &Row,
        problems: &mut Vec<String>,
    ) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
        let (mut first, mut actual) = (BTreeMap::new(), BTreeMap::new());
        for (col, f) in s.mapping {
            let SlaField::Driver {
                council,
                actual: is_actual,
            } = f
            else {
                continue;
            };
            match figure(row.get(*col)) {
                Ok(Some(Figure::Value(v))) => {
                    if *is_actual {
                        actual.insert(council.clone(), v);
                    } else {
                        first.insert(council.clone(), v);
                    }
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("{:?}: {e}", s.heading(*col))),
            }
        }
        (first, actual)
    }

    /// The row's name, or why it has none (a section heading is ignored).
    fn named(
        &mut self,
        s: &Ctx,
        row: &Row,
        name: &SlaField,
        what: &str,
    ) -> Result<String, Box<SlaOutcome>> {
        match s.text(row, name) {
            Some(n) => {
                let k = format!("{what}:{}", key(&n));
                if let Some((sheet, at)) = self.lines.get(&k) {
                    return Err(Box::new(SlaOutcome::Error {
                        problems: vec![format!(
                            "the {what} is already in this file (sheet {sheet:?}, row {at})"
                        )],
                    }));
                }
                self.lines.insert(k, (s.name.to_owned(), row.number));
                Ok(n)
            }
            None => Err(Box::new(match s.section(row, name) {
                Some(text) => SlaOutcome::Ignored { text },
                None => SlaOutcome::Error {
                    problems: vec![format!("the {what} is blank")],
                },
            })),
        }
    }

    fn time_row(
        &mut self,
        s: &Ctx,
        row: &Row,
        new_id: &mut dyn FnMut() -> String,
    ) -> (Option<String>, SlaOutcome) {
        let post = match self.named(s, row, &SlaField::Post, "post") {
            Ok(p) => p,
            Err(outcome) => return (s.text(row, &SlaField::Post), *outcome),
        };
        let mut problems = Vec::new();
        let (planned, actual) = self.per_council(s, row, &mut problems);
        let shared = self.shared(s, row, &mut problems);
        let existing = self
            .sla
            .time_allocations
            .iter()
            .chain(&self.figures.time_allocations)
            .find(|t| key(&t.post) == key(&post));
        let allocation = match existing {
            None => TimeAllocation {
                id: new_id(),
                post: post.clone(),
                planned,
                actual,
            },
            Some(old) => {
                let mut t = old.clone();
                if !planned.is_empty() {
                    t.planned = planned;
                }
                if !actual.is_empty() {
                    t.actual = actual;
                }
                t
            }
        };
        let total: f64 = allocation.planned.values().sum();
        if (total - 100.0).abs() > 0.01 {
            problems.push(format!("planned time adds up to {}%, not 100%", fmt(total)));
        }
        if !problems.is_empty() {
            return (Some(post), SlaOutcome::Error { problems });
        }
        let mut changes = Vec::new();
        if let Some(old) = existing {
            let text = |m: &BTreeMap<String, f64>| drivers_text(m, self.councils);
            change(
                &mut changes,
                "planned",
                text(&old.planned),
                text(&allocation.planned),
            );
            change(
                &mut changes,
                "actual",
                text(&old.actual),
                text(&allocation.actual),
            );
        }
        let action = action_of(existing.is_some(), &changes);
        let shared_with_guests = match existing {
            Some(old) => self.sla.time_allocations.iter().any(|t| t.id == old.id),
            None => shared,
        };
        self.out.time_allocations.add(action);
        (
            Some(post),
            SlaOutcome::TimeAllocation {
                action,
                allocation,
                shared_with_guests,
                changes,
            },
        )
    }

    fn saving_row(&mut self, s: &Ctx, row: &Row) -> (Option<String>, SlaOutcome) {
        let description = match self.named(s, row, &SlaField::Saving, "saving") {
            Ok(d) => d,
            Err(outcome) => return (s.text(row, &SlaField::Saving), *outcome),
        };
        let mut problems = Vec::new();
        let mut by_council = BTreeMap::new();
        for (col, f) in s.mapping {
            if let SlaField::Driver { council, .. } = f {
                match money(row.get(*col)) {
                    Ok(Some(p)) => {
                        by_council.insert(council.clone(), p);
                    }
                    Ok(None) => {}
                    Err(e) => problems.push(format!("{:?}: {e}", s.heading(*col))),
                }
            }
        }
        let shared = self.shared(s, row, &mut problems);
        if !problems.is_empty() {
            return (Some(description), SlaOutcome::Error { problems });
        }
        let existing = self
            .sla
            .savings
            .iter()
            .chain(&self.figures.savings)
            .find(|x| key(&x.description) == key(&description));
        let line = match existing {
            Some(old) if by_council.is_empty() => old.clone(),
            Some(old) => SavingsLine {
                description: old.description.clone(),
                by_council,
            },
            None => SavingsLine {
                description: description.clone(),
                by_council,
            },
        };
        let mut changes = Vec::new();
        if let Some(old) = existing {
            let text = |m: &BTreeMap<String, i64>| {
                m.iter()
                    .map(|(id, p)| {
                        format!(
                            "{}: {}",
                            crate::import::values::council_name(id, self.councils),
                            pounds(*p)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            change(
                &mut changes,
                "byCouncil",
                text(&old.by_council),
                text(&line.by_council),
            );
        }
        let action = action_of(existing.is_some(), &changes);
        let shared_with_guests = match existing {
            Some(old) => self.sla.savings.iter().any(|x| x == old),
            None => shared,
        };
        self.out.savings.add(action);
        (
            Some(description),
            SlaOutcome::Saving {
                action,
                line,
                shared_with_guests,
                changes,
            },
        )
    }

    fn term_row(&mut self, s: &Ctx, row: &Row) -> (Option<String>, SlaOutcome) {
        let Some(label) = s.text(row, &SlaField::Label) else {
            let text = row
                .cells
                .iter()
                .filter(|c| !c.is_blank())
                .map(Cell::text)
                .collect::<Vec<_>>()
                .join(" · ");
            return (None, SlaOutcome::Ignored { text });
        };
        let Some((field, kind)) = term_field(&label) else {
            return (
                Some(label.clone()),
                SlaOutcome::Ignored {
                    text: format!("{label}: not one of the agreement's terms"),
                },
            );
        };
        let current = term_of(self.sla, field);
        let cell = s.cell(row, &SlaField::Value);
        let read: Result<(String, String), String> = match (cell, kind) {
            // A blank leaves the term as it is.
            (None, _) => Ok((current.clone(), current.clone())),
            (Some((_, c)), TermKind::Text) => Ok((c.text(), c.text())),
            (Some((_, c)), TermKind::Date) => crate::import::values::date(c)
                .map(|d| (d.to_string(), crate::import::values::date_text(d)))
                .map_err(|e| format!("{} {e}", c.shown())),
            (Some((_, c)), TermKind::Council) => match council_ids(&c.text(), self.councils) {
                Ok(ids) if ids.len() == 1 => Ok((ids[0].clone(), c.text())),
                Ok(_) => Err(format!("{} names more than one council", c.shown())),
                Err(e) => Err(e),
            },
        };
        let (value, shown) = match read {
            Ok(v) => v,
            Err(e) => {
                return (
                    Some(label.clone()),
                    SlaOutcome::Error {
                        problems: vec![format!("{label:?}: {e}")],
                    },
                );
            }
        };
        let action = if value == current {
            Action::Unchanged
        } else if current.is_empty() {
            Action::Create
        } else {
            Action::Update
        };
        self.out.terms.add(action);
        (
            Some(label),
            SlaOutcome::Term {
                action,
                field: field.to_owned(),
                value,
                shown,
            },
        )
    }

    fn kpi_row(
        &mut self,
        s: &Ctx,
        row: &Row,
        warnings: &mut Vec<Warning>,
        new_id: &mut dyn FnMut() -> String,
    ) -> (Option<String>, SlaOutcome) {
        let mut problems = Vec::new();
        let name = s.text(row, &SlaField::Kpi);
        let reference = s.text(row, &SlaField::Reference);
        let figures: Vec<(usize, String)> = s
            .mapping
            .iter()
            .filter_map(|(c, f)| match f {
                SlaField::Figures(p) => Some((*c, p.clone())),
                _ => None,
            })
            .collect();
        let Some(name) = name else {
            if let Some(text) = s.section(row, &SlaField::Kpi) {
                return (None, SlaOutcome::Ignored { text });
            }
            return (
                reference,
                SlaOutcome::Error {
                    problems: vec!["the KPI's name is blank".to_owned()],
                },
            );
        };
        if s.section(row, &SlaField::Kpi).is_some()
            && reference.is_none()
            && !self.kpis.contains_key(&key(&name))
        {
            let only_name = row.cells.iter().filter(|c| !c.is_blank()).count() == 1;
            if only_name {
                return (None, SlaOutcome::Ignored { text: name });
            }
        }
        // "RB1" and "Average days to process new claims": the model has no KPI reference, so
        // the reference leads the name (unless the name already starts with it).
        let name = match &reference {
            Some(r) if !key(&name).starts_with(&key(r)) => format!("{r} {name}"),
            _ => name,
        };
        let k = key(&name);
        if let Some((_, Some((sheet, at)))) = self.kpis.get(&k) {
            return (
                Some(name),
                SlaOutcome::Error {
                    problems: vec![format!(
                        "the KPI is already in this file (sheet {sheet:?}, row {at}): a KPI is \
                         imported once"
                    )],
                },
            );
        }
        let existing = self.kpis.get(&k).map(|(kpi, _)| kpi.clone());
        let unit = s.text(row, &SlaField::Unit);
        let target_text = s.text(row, &SlaField::Target);
        let target = s.number(row, &SlaField::Target, &mut problems);
        let baseline = s.number(row, &SlaField::Baseline, &mut problems);
        let tolerance = s.number(row, &SlaField::AmberTolerance, &mut problems);
        let threshold = s.number(row, &SlaField::AmberThreshold, &mut problems);
        let polarity_cell = s.cell(row, &SlaField::Polarity);
        let mut polarity_read = None;
        if let Some((col, cell)) = polarity_cell {
            match polarity(&cell.text()) {
                Some(p) => polarity_read = Some(p),
                None => warnings.push(warn(
                    col,
                    WarningCode::PolarityAssumed,
                    format!(
                        "{:?}: {} is not a polarity (higher is better, lower is better)",
                        s.heading(col),
                        cell.shown()
                    ),
                )),
            }
        }
        let frequency_cell = s.cell(row, &SlaField::Frequency);
        let mut frequency_read = None;
        if let Some((col, cell)) = frequency_cell {
            match frequency(&cell.text()) {
                Some(f) => frequency_read = Some(f),
                None => problems.push(format!(
                    "{:?}: {} is not a frequency (monthly, quarterly, annual)",
                    s.heading(col),
                    cell.shown()
                )),
            }
        }
        if existing.is_none() && target.is_none() && problems.is_empty() {
            problems.push(match s.col(&SlaField::Target) {
                Some(c) => format!("{:?} is blank: a new KPI needs a target", s.heading(c)),
                None => "no target column: a new KPI needs a target".to_owned(),
            });
        }
        if !problems.is_empty() {
            return (Some(name), SlaOutcome::Error { problems });
        }
        let first_period = figures
            .iter()
            .find(|(c, _)| !row.get(*c).is_blank())
            .or(figures.first())
            .map(|(_, p)| p.clone());
        let mut shares = BTreeMap::new();
        for (col, f) in s.mapping {
            if let SlaField::Share(council) = f {
                match figure(row.get(*col)) {
                    Ok(Some(Figure::Value(v))) => {
                        shares.insert(council.clone(), v);
                    }
                    Ok(_) => {}
                    Err(e) => warnings.push(warn(
                        *col,
                        WarningCode::NoFigure,
                        format!("{:?}: {e}: no share recorded", s.heading(*col)),
                    )),
                }
            }
        }
        let kpi = match &existing {
            None => {
                let target = target.unwrap_or(0.0);
                let polarity = polarity_read.unwrap_or_else(|| {
                    let stated = target_text.as_deref().and_then(comparison);
                    let inferred = stated.or_else(|| {
                        threshold.map(|a| {
                            if a < target {
                                Polarity::HigherIsBetter
                            } else {
                                Polarity::LowerIsBetter
                            }
                        })
                    });
                    if stated.is_none() {
                        let (col, why) = match (inferred, s.col(&SlaField::Polarity)) {
                            (Some(_), c) => (
                                c.or(s.col(&SlaField::AmberThreshold)).unwrap_or(0),
                                "worked out from the amber threshold against the target",
                            ),
                            (None, c) => (
                                c.or(s.col(&SlaField::Kpi)).unwrap_or(0),
                                "not stated: assumed",
                            ),
                        };
                        let p = inferred.unwrap_or(Polarity::HigherIsBetter);
                        if polarity_cell.is_none() {
                            warnings.push(warn(
                                col,
                                WarningCode::PolarityAssumed,
                                format!("polarity {why}: {}", polarity_name(p).to_lowercase()),
                            ));
                        }
                    }
                    inferred.unwrap_or(Polarity::HigherIsBetter)
                });
                let frequency = frequency_read.unwrap_or_else(|| match &first_period {
                    Some(p) => frequency_of(p),
                    None => {
                        warnings.push(warn(
                            s.col(&SlaField::Kpi).unwrap_or(0),
                            WarningCode::FrequencyAssumed,
                            "frequency not stated and no figures to tell it by: assumed monthly"
                                .to_owned(),
                        ));
                        Frequency::Monthly
                    }
                });
                let amber_tolerance = tolerance
                    .map(f64::abs)
                    .or(threshold.map(|a| (target - a).abs()))
                    .unwrap_or(0.0);
                Kpi {
                    id: new_id(),
                    name: name.clone(),
                    polarity,
                    frequency,
                    unit: unit.clone().unwrap_or_default(),
                    baseline,
                    target,
                    amber_tolerance,
                    council_shares: shares,
                }
            }
            Some(old) => {
                let mut k = old.clone();
                if let Some(p) = polarity_read {
                    k.polarity = p;
                }
                if let Some(f) = frequency_read {
                    k.frequency = f;
                }
                if let Some(u) = &unit {
                    k.unit = u.clone();
                }
                if let Some(b) = baseline {
                    k.baseline = Some(b);
                }
                if let Some(t) = target {
                    k.target = t;
                }
                if let Some(t) = tolerance {
                    k.amber_tolerance = t.abs();
                } else if let Some(a) = threshold {
                    k.amber_tolerance = (k.target - a).abs();
                }
                if !shares.is_empty() {
                    k.council_shares = shares;
                }
                k
            }
        };
        let changes = existing
            .as_ref()
            .map_or_else(Vec::new, |old| kpi_changes(old, &kpi, self.councils));
        let action = action_of(existing.is_some(), &changes);
        // The figures in the row, one per period column.
        let mut measurements = Vec::new();
        let mut last_measured: Option<usize> = None;
        for (col, p) in &figures {
            let cell = row.get(*col);
            let f = match figure(cell) {
                Ok(f) => f,
                Err(e) => {
                    warnings.push(warn(
                        *col,
                        WarningCode::NoFigure,
                        format!(
                            "{:?}: {e}: no figure recorded for {}",
                            s.heading(*col),
                            period_shown(p)
                        ),
                    ));
                    continue;
                }
            };
            match f {
                None => {}
                Some(Figure::None) => warnings.push(warn(
                    *col,
                    WarningCode::NoFigure,
                    format!(
                        "{:?}: {} means no figure: none recorded for {}",
                        s.heading(*col),
                        cell.shown(),
                        period_shown(p)
                    ),
                )),
                Some(Figure::Value(v)) => {
                    if let Some(m) = self.measurement(s, row, *col, &kpi.id, p, v, warnings, new_id)
                    {
                        last_measured = Some(measurements.len());
                        measurements.push(m);
                    }
                }
            }
        }
        // A commentary in a wide sheet speaks of the latest figure in the row.
        let commentary = s.cell(row, &SlaField::Commentary);
        let corrective = s.cell(row, &SlaField::CorrectiveAction);
        if commentary.is_some() || corrective.is_some() {
            match last_measured {
                Some(i) => {
                    let m = &mut measurements[i];
                    if let Some((_, c)) = commentary {
                        m.measurement.commentary = c.text();
                    }
                    if let Some((_, c)) = corrective {
                        m.measurement.corrective_action = c.text();
                    }
                    self.settle(m);
                }
                None if !figures.is_empty() => {
                    let col = commentary.or(corrective).map_or(0, |(c, _)| c);
                    warnings.push(warn(
                        col,
                        WarningCode::NoFigure,
                        format!(
                            "{:?}: no figure in the row to attach it to: not imported",
                            s.heading(col)
                        ),
                    ));
                }
                None => {}
            }
        }
        self.out.kpis.add(action);
        for m in &measurements {
            self.out.measurements.add(m.action);
        }
        self.kpis
            .insert(k, (kpi.clone(), Some((s.name.to_owned(), row.number))));
        (
            Some(name),
            SlaOutcome::Kpi {
                action,
                kpi,
                changes,
                measurements,
            },
        )
    }

    /// A measurement's commentary changed after it was planned: an unchanged one becomes an
    /// update.
    fn settle(&self, m: &mut MeasurementChange) {
        if m.action == Action::Unchanged
            && let Some(old) = self
                .sla
                .measurements
                .iter()
                .find(|x| x.id == m.measurement.id)
            && *old != m.measurement
        {
            m.action = Action::Update;
        }
    }

    /// Plans one figure for a KPI and period: create, update (another figure), unchanged, or
    /// `None` when the file already gave this KPI and period (a warning if differently).
    #[allow(clippy::too_many_arguments)]
    fn measurement(
        &mut self,
        s: &Ctx,
        _row: &Row,
        col: usize,
        kpi_id: &str,
        p: &str,
        v: f64,
        warnings: &mut Vec<Warning>,
        new_id: &mut dyn FnMut() -> String,
    ) -> Option<MeasurementChange> {
        let at = (kpi_id.to_owned(), p.to_owned());
        if let Some((before, Some((sheet, r)))) = self.measurements.get(&at) {
            if *before != v {
                warnings.push(warn(
                    col,
                    WarningCode::FigureConflict,
                    format!(
                        "{:?}: {} for {} differs from {} given in sheet {sheet:?} row {r}: \
                         the first stands",
                        s.heading(col),
                        fmt(v),
                        period_shown(p),
                        fmt(*before)
                    ),
                ));
            }
            return None;
        }
        let old = self
            .sla
            .measurements
            .iter()
            .find(|m| m.kpi_id == kpi_id && m.period == p);
        let change = match old {
            None => MeasurementChange {
                action: Action::Create,
                from: None,
                measurement: Measurement {
                    id: new_id(),
                    kpi_id: kpi_id.to_owned(),
                    period: p.to_owned(),
                    actual: v,
                    commentary: String::new(),
                    corrective_action: String::new(),
                },
            },
            Some(m) => MeasurementChange {
                action: if m.actual == v {
                    Action::Unchanged
                } else {
                    Action::Update
                },
                from: Some(m.actual),
                measurement: Measurement {
                    actual: v,
                    ..m.clone()
                },
            },
        };
        self.measurements
            .insert(at, (v, Some((s.name.to_owned(), _row.number))));
        Some(change)
    }

    fn measurement_row(
        &mut self,
        s: &Ctx,
        row: &Row,
        warnings: &mut Vec<Warning>,
        new_id: &mut dyn FnMut() -> String,
    ) -> (Option<String>, SlaOutcome) {
        let Some(name) = s.text(row, &SlaField::Kpi) else {
            if let Some(text) = s.section(row, &SlaField::Kpi) {
                return (None, SlaOutcome::Ignored { text });
            }
            return (
                None,
                SlaOutcome::Error {
                    problems: vec!["the KPI's name is blank".to_owned()],
                },
            );
        };
        // A long sheet that also holds the KPIs' own columns (the CSV export: one row per
        // measurement, the KPI repeated): the KPI's first row in the file defines it.
        let defines = s.col(&SlaField::Target).is_some()
            && !matches!(self.kpis.get(&key(&name)), Some((_, Some(_))));
        let mut defined = None;
        if defines {
            let (label, outcome) = self.kpi_row(s, row, warnings, new_id);
            match outcome {
                SlaOutcome::Kpi { .. } => defined = Some(outcome),
                other => return (label, other),
            }
        }
        if let Some(kpi_only) = defined
            .clone()
            .filter(|_| s.cell(row, &SlaField::Period).is_none())
        {
            // A KPI without figures yet.
            return (Some(name), kpi_only);
        }
        let mut problems = Vec::new();
        let kpi = self.kpis.get(&key(&name)).map(|(k, _)| k.id.clone());
        if kpi.is_none() {
            problems.push(format!(
                "no KPI named {name:?} in the SLA or in this file's KPI sheet"
            ));
        }
        let period_read = match s.cell(row, &SlaField::Period) {
            None => {
                problems.push("the period is blank".to_owned());
                None
            }
            Some((col, cell)) => {
                let text = match cell {
                    Cell::Date(d) => d.format("%b %Y").to_string(),
                    other => other.text(),
                };
                match period(&text) {
                    Some(p) => {
                        if let Some(note) = &p.note {
                            warnings.push(warn(col, WarningCode::PeriodConverted, note.clone()));
                        }
                        Some((col, p.key))
                    }
                    None => {
                        problems.push(format!(
                            "{:?}: {} is not a period (Apr-26, 2026-04, Q1 2026/27, 2026/27)",
                            s.heading(col),
                            cell.shown()
                        ));
                        None
                    }
                }
            }
        };
        let actual = match s.cell(row, &SlaField::Actual) {
            None => {
                problems.push("the figure is blank".to_owned());
                None
            }
            Some((col, cell)) => match figure(cell) {
                Ok(Some(Figure::Value(v))) => Some(v),
                Ok(_) => {
                    warnings.push(warn(
                        col,
                        WarningCode::NoFigure,
                        format!(
                            "{:?}: {} means no figure: nothing recorded",
                            s.heading(col),
                            cell.shown()
                        ),
                    ));
                    let ignored = SlaOutcome::Ignored { text: cell.text() };
                    return (Some(name), defined.unwrap_or(ignored));
                }
                Err(e) => {
                    problems.push(format!("{:?}: {e}", s.heading(col)));
                    None
                }
            },
        };
        let (Some(kpi), Some((col, p)), Some(v), true) =
            (kpi, period_read, actual, problems.is_empty())
        else {
            if let Some(defined) = defined {
                // The KPI stands; its figure in this row could not be read.
                let col = s.col(&SlaField::Actual).unwrap_or(0);
                for problem in problems {
                    warnings.push(warn(
                        col,
                        WarningCode::NoFigure,
                        format!("{problem}: no figure recorded from this row"),
                    ));
                }
                return (Some(name), defined);
            }
            return (Some(name), SlaOutcome::Error { problems });
        };
        let Some(mut m) = self.measurement(s, row, col, &kpi, &p, v, warnings, new_id) else {
            let text = format!("{name} {}: given earlier in the file", period_shown(&p));
            return (Some(name), SlaOutcome::Ignored { text });
        };
        if let Some(c) = s.text(row, &SlaField::Commentary) {
            m.measurement.commentary = c;
        }
        if let Some(c) = s.text(row, &SlaField::CorrectiveAction) {
            m.measurement.corrective_action = c;
        }
        self.settle(&mut m);
        self.out.measurements.add(m.action);
        match defined {
            Some(SlaOutcome::Kpi {
                action,
                kpi,
                changes,
                mut measurements,
            }) => {
                measurements.push(m);
                (
                    Some(name),
                    SlaOutcome::Kpi {
                        action,
                        kpi,
                        changes,
                        measurements,
                    },
                )
            }
            _ => (Some(name), SlaOutcome::Measurement { measurement: m }),
        }
    }

    fn cost_row(
        &mut self,
        s: &Ctx,
        row: &Row,
        _warnings: &mut [Warning],
        new_id: &mut dyn FnMut() -> String,
    ) -> (Option<String>, SlaOutcome) {
        let Some(name) = s.text(row, &SlaField::CostLine) else {
            if let Some(text) = s.section(row, &SlaField::CostLine) {
                return (None, SlaOutcome::Ignored { text });
            }
            return (
                None,
                SlaOutcome::Error {
                    problems: vec!["the cost line's description is blank".to_owned()],
                },
            );
        };
        if let Some(text) = s.section(row, &SlaField::CostLine) {
            return (None, SlaOutcome::Ignored { text });
        }
        let k = key(&name);
        // A total row adds up the lines above it: not a line of its own.
        if ["total", "totals", "grand total", "total cost", "net total"].contains(&k.as_str()) {
            return (None, SlaOutcome::Ignored { text: name });
        }
        if let Some((sheet, at)) = self.lines.get(&k) {
            return (
                Some(name),
                SlaOutcome::Error {
                    problems: vec![format!(
                        "the cost line is already in this file (sheet {sheet:?}, row {at})"
                    )],
                },
            );
        }
        let mut problems = Vec::new();
        let basis_read = match s.cell(row, &SlaField::Basis) {
            None => None,
            Some((col, cell)) => match basis(&cell.text()) {
                Some(b) => Some(b),
                None => {
                    problems.push(format!(
                        "{:?}: {} is not a basis the SLA splits by (equal, caseload, \
                         headcount, properties, time recorded)",
                        s.heading(col),
                        cell.shown()
                    ));
                    None
                }
            },
        };
        let amount = |f: &SlaField, problems: &mut Vec<String>| match s.cell(row, f) {
            None => None,
            Some((col, cell)) => match money(cell) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("{:?}: {e}", s.heading(col)));
                    None
                }
            },
        };
        let estimate = amount(&SlaField::TotalEstimate, &mut problems);
        let actual = amount(&SlaField::TotalActual, &mut problems);
        let tolerance = s.number(row, &SlaField::RebaseTolerance, &mut problems);
        let shared = match s.cell(row, &SlaField::SharedWithGuests) {
            None => false,
            Some((col, cell)) => yes_no(&cell.text()).unwrap_or_else(|| {
                problems.push(format!(
                    "{:?}: {} is not yes or no",
                    s.heading(col),
                    cell.shown()
                ));
                false
            }),
        };
        let mut est_drivers = BTreeMap::new();
        let mut act_drivers = BTreeMap::new();
        for (col, f) in s.mapping {
            let SlaField::Driver { council, actual } = f else {
                continue;
            };
            let cell = row.get(*col);
            match figure(cell) {
                Ok(Some(Figure::Value(v))) => {
                    if *actual {
                        act_drivers.insert(council.clone(), v);
                    } else {
                        est_drivers.insert(council.clone(), v);
                    }
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("{:?}: {e}", s.heading(*col))),
            }
        }
        let existing = self
            .sla
            .cost_shares
            .iter()
            .chain(&self.figures.cost_shares)
            .find(|c| key(&c.description) == k);
        if existing.is_none() {
            if basis_read.is_none() && s.col(&SlaField::Basis).is_none() {
                problems.push("no basis column: a new cost line needs its basis".to_owned());
            } else if basis_read.is_none() && problems.is_empty() {
                problems.push("the basis is blank: a new cost line needs one".to_owned());
            }
            if estimate.is_none() && problems.is_empty() {
                problems.push("the total estimate is blank: a new cost line needs one".to_owned());
            }
        }
        if !problems.is_empty() {
            return (Some(name), SlaOutcome::Error { problems });
        }
        let line = match existing {
            None => {
                let basis = basis_read.unwrap_or(Basis::Equal);
                if basis == Basis::Equal && est_drivers.is_empty() {
                    // An equal split is between every council of the partnership.
                    est_drivers = self
                        .councils
                        .iter()
                        .map(|(id, _)| (id.clone(), 1.0))
                        .collect();
                }
                CostShare {
                    id: new_id(),
                    description: name.clone(),
                    basis,
                    total_estimate: estimate.unwrap_or(0),
                    total_actual: actual,
                    estimate_drivers: est_drivers,
                    actual_drivers: act_drivers,
                    rebase_tolerance_points: tolerance.map_or(0.0, f64::abs),
                }
            }
            Some(old) => {
                let mut c = old.clone();
                if let Some(b) = basis_read {
                    c.basis = b;
                }
                if let Some(e) = estimate {
                    c.total_estimate = e;
                }
                if actual.is_some() {
                    c.total_actual = actual;
                }
                if !est_drivers.is_empty() {
                    c.estimate_drivers = est_drivers;
                }
                if !act_drivers.is_empty() {
                    c.actual_drivers = act_drivers;
                }
                if let Some(t) = tolerance {
                    c.rebase_tolerance_points = t.abs();
                }
                c
            }
        };
        if let Err(e) = split(line.total_estimate, line.basis, &line.estimate_drivers) {
            let why = match e {
                domain::documents::sla::SplitError::NoCouncils => format!(
                    "a {} split needs each council's figure (a column per council)",
                    basis_name(line.basis).to_lowercase()
                ),
                other => other.to_string(),
            };
            return (
                Some(name),
                SlaOutcome::Error {
                    problems: vec![why],
                },
            );
        }
        if line.total_estimate < 0 {
            return (
                Some(name),
                SlaOutcome::Error {
                    problems: vec!["the total estimate is negative".to_owned()],
                },
            );
        }
        let changes = existing.map_or_else(Vec::new, |old| cost_changes(old, &line, self.councils));
        let action = action_of(existing.is_some(), &changes);
        let shared_with_guests = match existing {
            Some(old) => self.sla.cost_shares.iter().any(|c| c.id == old.id),
            None => shared,
        };
        self.lines.insert(k, (s.name.to_owned(), row.number));
        self.out.cost_shares.add(action);
        (
            Some(name),
            SlaOutcome::CostShare {
                action,
                line,
                shared_with_guests,
                changes,
            },
        )
    }
}

/// A row's action on a thing: new, changed (some `changes`), or as it was.
fn action_of(exists: bool, changes: &[Change]) -> Action {
    match (exists, changes.is_empty()) {
        (false, _) => Action::Create,
        (true, false) => Action::Update,
        (true, true) => Action::Unchanged,
    }
}

fn change(out: &mut Vec<Change>, field: &str, from: String, to: String) {
    if from != to {
        out.push(Change {
            field: field.to_owned(),
            from,
            to,
        });
    }
}

fn kpi_changes(old: &Kpi, new: &Kpi, councils: &Councils) -> Vec<Change> {
    let mut c = Vec::new();
    change(
        &mut c,
        "councilShares",
        drivers_text(&old.council_shares, councils),
        drivers_text(&new.council_shares, councils),
    );
    let opt = |v: Option<f64>| v.map(fmt).unwrap_or_default();
    change(
        &mut c,
        "polarity",
        polarity_name(old.polarity).into(),
        polarity_name(new.polarity).into(),
    );
    change(
        &mut c,
        "frequency",
        frequency_name(old.frequency).into(),
        frequency_name(new.frequency).into(),
    );
    change(&mut c, "unit", old.unit.clone(), new.unit.clone());
    change(&mut c, "baseline", opt(old.baseline), opt(new.baseline));
    change(&mut c, "target", fmt(old.target), fmt(new.target));
    change(
        &mut c,
        "amberTolerance",
        fmt(old.amber_tolerance),
        fmt(new.amber_tolerance),
    );
    c
}

fn drivers_text(d: &BTreeMap<String, f64>, councils: &Councils) -> String {
    d.iter()
        .map(|(id, v)| {
            format!(
                "{}: {}",
                crate::import::values::council_name(id, councils),
                fmt(*v)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn cost_changes(old: &CostShare, new: &CostShare, councils: &Councils) -> Vec<Change> {
    let mut c = Vec::new();
    let opt = |v: Option<i64>| v.map(pounds).unwrap_or_default();
    change(
        &mut c,
        "basis",
        basis_name(old.basis).into(),
        basis_name(new.basis).into(),
    );
    change(
        &mut c,
        "totalEstimate",
        pounds(old.total_estimate),
        pounds(new.total_estimate),
    );
    change(
        &mut c,
        "totalActual",
        opt(old.total_actual),
        opt(new.total_actual),
    );
    change(
        &mut c,
        "estimateDrivers",
        drivers_text(&old.estimate_drivers, councils),
        drivers_text(&new.estimate_drivers, councils),
    );
    change(
        &mut c,
        "actualDrivers",
        drivers_text(&old.actual_drivers, councils),
        drivers_text(&new.actual_drivers, councils),
    );
    change(
        &mut c,
        "rebaseTolerancePoints",
        fmt(old.rebase_tolerance_points),
        fmt(new.rebase_tolerance_points),
    );
    c
}
