//! Reading the values of an SLA workbook: periods as councils head their columns, figures as
//! they type them ("95%", "£1,200", "3 days", "n/a"), money, polarity, frequency and basis.

use chrono::Datelike;
use domain::documents::sla::{Basis, Frequency, Polarity};

use crate::import::values::{key, month, year};
use crate::import::{Cell, Warning, WarningCode};

/// A period as the SLA stores it (`2026-04`, `2026-Q2`, `2026/27`, `2026`), and how it was
/// read when that is not obvious from the text (a financial quarter turned into a calendar
/// one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Period {
    pub key: String,
    pub note: Option<String>,
}

/// "Apr-26", "April 2026", "2026-04", "04/2026", "Q1 2026/27", "Q2 2026", "2026/27",
/// "2026": the period a column heading or a cell names. A month without a year ("Apr") is not
/// a period: the year is not the import's to guess.
pub(crate) fn period(text: &str) -> Option<Period> {
    let k = key(text);
    let parts: Vec<&str> = k
        .split([' ', '-', ',', '/', '.'])
        .filter(|p| !p.is_empty())
        .collect();
    let plain = |key: String| Some(Period { key, note: None });
    let quarter = |p: &str| {
        p.strip_prefix('q')
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=4).contains(n))
    };
    let four = |p: &str| {
        (p.len() == 4 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<i32>().ok())
            .flatten()
            .filter(|y| (1990..=2100).contains(y))
    };
    let two_or_four = |p: &str| {
        (p.bytes().all(|b| b.is_ascii_digit()) && (p.len() == 2 || p.len() == 4))
            .then(|| year(p).ok())
            .flatten()
            .filter(|y| (1990..=2100).contains(y))
    };
    let numeric_month = |p: &str| {
        (p.len() <= 2)
            .then(|| p.parse::<u32>().ok())
            .flatten()
            .filter(|m| (1..=12).contains(m))
    };
    // A financial year is two parts split at the "/": the start and the end's last two digits.
    let financial = |a: &str, b: &str| -> Option<i32> {
        let start = four(a)?;
        let end: i32 = b.parse().ok()?;
        (b.len() == 2 && end == (start + 1) % 100).then_some(start)
    };
    let fq = |q: u32, start: i32| {
        // Q1 of 2026/27 is April–June 2026: the calendar's second quarter.
        let (y, cq) = if q == 4 {
            (start + 1, 1)
        } else {
            (start, q + 1)
        };
        Some(Period {
            key: format!("{y}-Q{cq}"),
            note: Some(format!(
                "Q{q} of the financial year {start}/{:02} is stored as the calendar quarter {y}-Q{cq}",
                (start + 1) % 100
            )),
        })
    };
    match parts.as_slice() {
        [m, y] if month(m).is_some() && two_or_four(y).is_some() => {
            plain(format!("{}-{:02}", two_or_four(y)?, month(m)?))
        }
        [y, m] if four(y).is_some() && numeric_month(m).is_some() => {
            plain(format!("{}-{:02}", four(y)?, numeric_month(m)?))
        }
        [m, y] if numeric_month(m).is_some() && four(y).is_some() => {
            plain(format!("{}-{:02}", four(y)?, numeric_month(m)?))
        }
        [q, a, b] | [a, b, q] if quarter(q).is_some() && financial(a, b).is_some() => {
            fq(quarter(q)?, financial(a, b)?)
        }
        [q, y] | [y, q] if quarter(q).is_some() && four(y).is_some() => {
            plain(format!("{}-Q{}", four(y)?, quarter(q)?))
        }
        [a, b] if financial(a, b).is_some() => {
            let start = financial(a, b)?;
            plain(format!("{start}/{:02}", (start + 1) % 100))
        }
        [y] if four(y).is_some() => plain(four(y)?.to_string()),
        _ => None,
    }
}

/// A heading cell for an SLA sheet: text as it is, a date as its month ("Apr 2026": councils'
/// monthly columns are often real dates), a whole number that is a year as the year.
pub(crate) fn heading(cell: &Cell) -> String {
    match cell {
        Cell::Date(d) => d.format("%b %Y").to_string(),
        Cell::Number(n) if n.fract() == 0.0 && (1990.0..=2100.0).contains(n) => {
            format!("{}", *n as i64)
        }
        other => crate::import::table::heading(other),
    }
}

/// A figure as read: a number, or a word for "no figure".
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Figure {
    Value(f64),
    /// "n/a", "-", "nil return": the period has no figure.
    None,
}

/// Words for "no figure this period".
const NO_FIGURE: &[&str] = &[
    "n/a",
    "na",
    "n.a.",
    "n/k",
    "nk",
    "-",
    "–",
    "—",
    "tbc",
    "tba",
    "nil return",
    "no return",
    "not available",
    "not yet available",
    "not known",
    "not measured",
    "not reported",
    "no data",
    "data not available",
    "awaiting data",
    "pending",
    "?",
    "x",
];

/// Units councils write after a figure; stripped.
const UNITS: &[&str] = &[
    "%",
    "days",
    "day",
    "working days",
    "hours",
    "hrs",
    "hr",
    "weeks",
    "wks",
    "mins",
    "minutes",
    "pts",
    "points",
    "per cent",
    "percent",
];

/// Which way a comparison in a target points: "≥ 95%" means higher is better.
pub(crate) fn comparison(text: &str) -> Option<Polarity> {
    let t = text.trim();
    if t.starts_with(['≥', '>']) || key(t).ends_with("or more") || key(t).ends_with("or above") {
        Some(Polarity::HigherIsBetter)
    } else if t.starts_with(['≤', '<'])
        || key(t).ends_with("or less")
        || key(t).ends_with("or fewer")
        || key(t).ends_with("or below")
    {
        Some(Polarity::LowerIsBetter)
    } else {
        None
    }
}

/// A number as councils type it: "95%", "95.2 %", "≥ 95%", "1,234", "£1,200", "3 days",
/// "(12)" for a negative. Blank is `Ok(None)`.
pub(crate) fn figure(cell: &Cell) -> Result<Option<Figure>, String> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Number(n) if n.is_finite() => Ok(Some(Figure::Value(*n))),
        Cell::Text(t) => {
            let k = key(t);
            if k.is_empty() {
                return Ok(None);
            }
            if NO_FIGURE.contains(&k.as_str()) {
                return Ok(Some(Figure::None));
            }
            number_text(&k).map(|n| Some(Figure::Value(n)))
        }
        Cell::TooLong { chars, .. } => Err(format!("is {chars} characters of text, not a figure")),
        other => Err(format!("{} is not a number", other.shown())),
    }
}

fn number_text(k: &str) -> Result<f64, String> {
    let mut t = k
        .trim_start_matches(['≥', '≤', '>', '<', '='])
        .trim()
        .to_owned();
    for w in ["or more", "or above", "or less", "or fewer", "or below"] {
        if let Some(rest) = t.strip_suffix(w) {
            t = rest.trim().to_owned();
        }
    }
    for u in UNITS {
        if let Some(rest) = t.strip_suffix(u) {
            t = rest.trim().to_owned();
            break;
        }
    }
    let negative = t.starts_with('(') && t.ends_with(')');
    let t: String = t
        .chars()
        .filter(|c| !matches!(c, '£' | ',' | '(' | ')' | ' '))
        .collect();
    let (t, scale) = match t.strip_suffix('k') {
        Some(rest) => (rest.to_owned(), 1e3),
        None => match t.strip_suffix('m') {
            Some(rest) => (rest.to_owned(), 1e6),
            None => (t, 1.0),
        },
    };
    match t.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(if negative { -n * scale } else { n * scale }),
        _ => Err(format!("{k:?} is not a number")),
    }
}

/// Pounds as councils type them ("£12,345.67", "12345.67", "£45k") in pence.
pub(crate) fn money(cell: &Cell) -> Result<Option<i64>, String> {
    match figure(cell)? {
        None | Some(Figure::None) => Ok(None),
        Some(Figure::Value(pounds)) => {
            let pence = (pounds * 100.0).round();
            if pence.abs() > 1e15 {
                Err(format!("{} is not an amount of money", cell.shown()))
            } else {
                Ok(Some(pence as i64))
            }
        }
    }
}

/// "Higher is better", "High", "↑", "Maximise"; "Lower is better", "Low", "↓", "Minimise".
pub(crate) fn polarity(text: &str) -> Option<Polarity> {
    let k = key(text);
    let k = k
        .trim_end_matches(" is better")
        .trim_end_matches(" is good");
    match k {
        "higher" | "high" | "bigger" | "more" | "up" | "↑" | "increase" | "maximise"
        | "maximize" | "h" | "+" | "higher-is-better" | "aim high" => {
            Some(Polarity::HigherIsBetter)
        }
        "lower" | "low" | "smaller" | "less" | "fewer" | "down" | "↓" | "decrease" | "minimise"
        | "minimize" | "l" | "-" | "lower-is-better" | "aim low" => Some(Polarity::LowerIsBetter),
        _ => None,
    }
}

pub(crate) fn polarity_name(p: Polarity) -> &'static str {
    match p {
        Polarity::HigherIsBetter => "Higher is better",
        Polarity::LowerIsBetter => "Lower is better",
    }
}

/// "Monthly", "Quarterly", "Annual" and the ways councils write them.
pub(crate) fn frequency(text: &str) -> Option<Frequency> {
    match key(text).as_str() {
        "monthly" | "month" | "m" | "every month" | "per month" => Some(Frequency::Monthly),
        "quarterly" | "quarter" | "q" | "every quarter" | "per quarter" => {
            Some(Frequency::Quarterly)
        }
        "annual" | "annually" | "yearly" | "year" | "a" | "y" | "per year" | "every year" => {
            Some(Frequency::Annual)
        }
        _ => None,
    }
}

pub(crate) fn frequency_name(f: Frequency) -> &'static str {
    match f {
        Frequency::Monthly => "Monthly",
        Frequency::Quarterly => "Quarterly",
        Frequency::Annual => "Annual",
    }
}

/// The frequency a period's form implies: a month, a quarter, a year.
pub(crate) fn frequency_of(period: &str) -> Frequency {
    if period.contains("-Q") {
        Frequency::Quarterly
    } else if period.contains('-') {
        Frequency::Monthly
    } else {
        Frequency::Annual
    }
}

/// "Equal", "Caseload", "Headcount", "Properties", "Time recorded" and their synonyms.
pub(crate) fn basis(text: &str) -> Option<Basis> {
    match key(text).as_str() {
        "equal" | "equally" | "equal shares" | "equal split" | "50/50" | "50:50" | "even" => {
            Some(Basis::Equal)
        }
        "caseload" | "cases" | "case load" | "volume" | "transactions" | "claims" => {
            Some(Basis::Caseload)
        }
        "headcount" | "head count" | "fte" | "staff" | "staffing" | "posts" => {
            Some(Basis::Headcount)
        }
        "properties" | "property" | "dwellings" | "council tax base" | "tax base"
        | "band d equivalents" | "households" => Some(Basis::Properties),
        "time recorded" | "time" | "timesheets" | "time sheets" | "hours" | "recorded time"
        | "time-recorded" => Some(Basis::TimeRecorded),
        _ => None,
    }
}

pub(crate) fn basis_name(b: Basis) -> &'static str {
    match b {
        Basis::Equal => "Equal",
        Basis::Caseload => "Caseload",
        Basis::Headcount => "Headcount",
        Basis::Properties => "Properties",
        Basis::TimeRecorded => "Time recorded",
    }
}

/// "Yes"/"No" as councils write it.
pub(crate) fn yes_no(text: &str) -> Option<bool> {
    match key(text).as_str() {
        "yes" | "y" | "true" | "shared" | "x" | "✓" => Some(true),
        "no" | "n" | "false" | "not shared" | "" | "partners only" | "partners" => Some(false),
        _ => None,
    }
}

/// A warning on one cell.
pub(crate) fn warn(column: usize, code: WarningCode, message: String) -> Warning {
    Warning {
        column: crate::import::column_letter(column),
        code,
        message,
    }
}

/// A period's display form in a message: a month as "April 2026", others as stored.
pub(crate) fn period_shown(p: &str) -> String {
    if let Some((y, m)) = p.split_once('-')
        && let (Ok(y), Ok(m)) = (y.parse::<i32>(), m.parse::<u32>())
        && let Some(d) = chrono::NaiveDate::from_ymd_opt(y, m, 1)
    {
        return format!("{} {}", d.format("%B"), d.year());
    }
    p.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_as_councils_head_their_columns() {
        let ok = [
            ("Apr-26", "2026-04"),
            ("April 2026", "2026-04"),
            ("Apr 2026", "2026-04"),
            ("2026-04", "2026-04"),
            ("04/2026", "2026-04"),
            ("Sept 26", "2026-09"),
            ("Q2 2026", "2026-Q2"),
            ("2026 Q2", "2026-Q2"),
            ("Q1 2026/27", "2026-Q2"),
            ("Q4 2026/27", "2027-Q1"),
            ("2026/27", "2026/27"),
            ("2026", "2026"),
        ];
        for (text, want) in ok {
            assert_eq!(period(text).map(|p| p.key), Some(want.to_owned()), "{text}");
        }
        assert!(period("Q1 2026/27").unwrap().note.is_some());
        for bad in [
            "Apr", "Target", "Q5 2026", "2026/28", "13/2026", "1850", "KPI 1",
        ] {
            assert_eq!(period(bad), None, "{bad}");
        }
        // Every period read is one the SLA accepts.
        for (text, _) in ok {
            let p = period(text).unwrap();
            assert!(
                domain::documents::sla::same_period_last_year(&p.key).is_some(),
                "{text}"
            );
        }
    }

    #[test]
    fn figures_as_councils_type_them() {
        let t = |s: &str| figure(&Cell::Text(s.into()));
        assert_eq!(t("95%"), Ok(Some(Figure::Value(95.0))));
        assert_eq!(t("95.2 %"), Ok(Some(Figure::Value(95.2))));
        assert_eq!(t("≥ 95%"), Ok(Some(Figure::Value(95.0))));
        assert_eq!(t("1,234"), Ok(Some(Figure::Value(1234.0))));
        assert_eq!(t("£1,200"), Ok(Some(Figure::Value(1200.0))));
        assert_eq!(t("12 days"), Ok(Some(Figure::Value(12.0))));
        assert_eq!(t("(12)"), Ok(Some(Figure::Value(-12.0))));
        assert_eq!(t("£45k"), Ok(Some(Figure::Value(45_000.0))));
        assert_eq!(t("n/a"), Ok(Some(Figure::None)));
        assert_eq!(t("N/A"), Ok(Some(Figure::None)));
        assert_eq!(t("Nil return"), Ok(Some(Figure::None)));
        assert_eq!(t(" "), Ok(None));
        assert!(t("about ninety").is_err());
        assert_eq!(money(&Cell::Text("£12,345.67".into())), Ok(Some(1_234_567)));
        assert_eq!(money(&Cell::Number(0.1 + 0.2)), Ok(Some(30)));
        assert_eq!(comparison("≥ 95%"), Some(Polarity::HigherIsBetter));
        assert_eq!(comparison("< 10 days"), Some(Polarity::LowerIsBetter));
        assert_eq!(comparison("10 days or less"), Some(Polarity::LowerIsBetter));
        assert_eq!(comparison("95"), None);
    }

    #[test]
    fn words_for_polarity_frequency_and_basis() {
        assert_eq!(polarity("Higher is better"), Some(Polarity::HigherIsBetter));
        assert_eq!(polarity("↓"), Some(Polarity::LowerIsBetter));
        assert_eq!(polarity("Low is good"), Some(Polarity::LowerIsBetter));
        assert_eq!(polarity("sideways"), None);
        assert_eq!(frequency("Quarterly"), Some(Frequency::Quarterly));
        assert_eq!(frequency("Annually"), Some(Frequency::Annual));
        assert_eq!(basis("FTE"), Some(Basis::Headcount));
        assert_eq!(basis("Council tax base"), Some(Basis::Properties));
        assert_eq!(basis("Population"), None);
        for b in [
            Basis::Equal,
            Basis::Caseload,
            Basis::Headcount,
            Basis::Properties,
            Basis::TimeRecorded,
        ] {
            assert_eq!(basis(basis_name(b)), Some(b));
        }
        assert_eq!(frequency_of("2026-04"), Frequency::Monthly);
        assert_eq!(frequency_of("2026-Q2"), Frequency::Quarterly);
        assert_eq!(frequency_of("2026/27"), Frequency::Annual);
    }
}
