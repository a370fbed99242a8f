//! Reading one cell as a typed value, the way people type them in council registers.
//!
//! Each parser returns the reason a value is refused, without the column name; the preview
//! prefixes the heading so that every message says where to look.

use chrono::{Datelike, Duration, NaiveDate};
use domain::documents::risk::{Escalation, Response, RiskStatus};

use super::table::Cell;

/// A date, if it exists.
pub(crate) fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

/// Excel serial dates this side of 1950 or past 2200 are typing slips (a year, a score), not
/// dates anyone means in a risk register.
const SERIAL_RANGE: std::ops::RangeInclusive<f64> = 18_264.0..=110_960.0;

fn from_serial(serial: f64) -> Option<NaiveDate> {
    if !SERIAL_RANGE.contains(&serial) {
        return None;
    }
    // Serial 1 is 1900-01-01 and Excel counts a 29 February 1900 that never was, so from
    // March 1900 on the epoch is 1899-12-30.
    let epoch = ymd(1899, 12, 30)?;
    epoch.checked_add_signed(Duration::days(serial.floor() as i64))
}

/// Whether text is a number or something a date parser would take: a data row, not headings.
pub(crate) fn looks_like_number_or_date(text: &str) -> bool {
    let t = text.trim();
    t.parse::<f64>().is_ok() || parse_date_text(t).is_ok()
}

pub(crate) fn month(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let w = word.to_lowercase();
    if w.len() < 3 {
        return None;
    }
    let w = if w == "sept" { "sep".to_owned() } else { w };
    MONTHS
        .iter()
        .position(|m| m.starts_with(&w))
        .map(|i| i as u32 + 1)
}

pub(crate) fn year(part: &str) -> Result<i32, String> {
    let y: i32 = part.parse().map_err(|_| NOT_A_DATE.to_owned())?;
    match part.len() {
        2 => Ok(2000 + y),
        4 => Ok(y),
        _ => Err(NOT_A_DATE.to_owned()),
    }
}

fn day(part: &str) -> Result<u32, String> {
    let p = part.to_lowercase();
    let p = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| p.strip_suffix(s))
        .unwrap_or(&p);
    if p.is_empty() || p.len() > 2 {
        return Err(NOT_A_DATE.to_owned());
    }
    p.parse().map_err(|_| NOT_A_DATE.to_owned())
}

const NOT_A_DATE: &str = "is not a date (use dd/mm/yyyy)";
const NO_SUCH_DAY: &str = "is not a real date";

/// Parses typed dates: `dd/mm/yyyy`, `d/m/yy`, `yyyy-mm-dd`, `12 March 2026`, `12-Mar-26`,
/// `March 12, 2026`, `Mar 2026` (the 1st), and 5-digit Excel serials. Day before month, as
/// in the UK. `Mar-26` is refused: 26 March or March 2026?
pub(crate) fn parse_date_text(text: &str) -> Result<NaiveDate, String> {
    let t = text.trim();
    // ISO date-times as some tools write them.
    let t = match t.find('T') {
        Some(10) => &t[..10],
        _ => t,
    };
    if t.len() == 5
        && t.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = t.parse::<f64>()
    {
        return from_serial(n).ok_or_else(|| NOT_A_DATE.to_owned());
    }
    let parts: Vec<&str> = t
        .split(|c: char| c == '/' || c == '-' || c == '.' || c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect();
    let numeric = |p: &&str| p.bytes().all(|b| b.is_ascii_digit());
    let (y, m, d) = match parts.as_slice() {
        [a, b, c] if parts.iter().all(numeric) => {
            if a.len() == 4 {
                (year(a)?, day(b)?, day(c)?)
            } else {
                (year(c)?, day(b)?, day(a)?)
            }
        }
        [d, mon, y] if month(mon).is_some() => (year(y)?, month(mon).unwrap_or(0), day(d)?),
        [mon, d, y] if month(mon).is_some() && y.len() == 4 => {
            (year(y)?, month(mon).unwrap_or(0), day(d)?)
        }
        [mon, y] if month(mon).is_some() && y.len() == 4 && numeric(y) => {
            (year(y)?, month(mon).unwrap_or(0), 1)
        }
        [mon, y] if month(mon).is_some() && numeric(y) => {
            return Err("is ambiguous: give the day and a four-digit year".to_owned());
        }
        _ => return Err(NOT_A_DATE.to_owned()),
    };
    ymd(y, m, d).ok_or_else(|| NO_SUCH_DAY.to_owned())
}

/// A date cell, serial number or typed date.
pub(crate) fn date(cell: &Cell) -> Result<NaiveDate, String> {
    match cell {
        Cell::Date(d) => Ok(*d),
        Cell::Number(n) => from_serial(*n).ok_or_else(|| NOT_A_DATE.to_owned()),
        Cell::Text(t) => parse_date_text(t),
        Cell::Bool(_) | Cell::Empty | Cell::TooLong { .. } => Err(NOT_A_DATE.to_owned()),
    }
}

/// How a date cell was read: exactly, as a period's last day, or as no date at all.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DateReading {
    Exact(NaiveDate),
    /// A period ("Q4 2026/27", "2027"): its last day, and how it was read.
    Imprecise(NaiveDate, String),
    /// A word that stands for no date yet ("TBC", "Ongoing").
    Missing,
}

/// Words councils write where a date is not known yet.
const NO_DATE: &[&str] = &[
    "tbc",
    "tba",
    "tbd",
    "to be confirmed",
    "to be agreed",
    "to be decided",
    "ongoing",
    "on-going",
    "on going",
    "n/a",
    "na",
    "n.a.",
    "none",
    "various",
    "asap",
    "continuous",
    "as required",
    "as needed",
    "-",
    "–",
    "—",
    "?",
    "unknown",
    "not known",
    "rolling",
];

fn last_of_month(y: i32, m: u32) -> Option<NaiveDate> {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    ymd(ny, nm, 1).map(|d| d - Duration::days(1))
}

/// "Q4 2026/27" (a financial year, April to March), "2026/27 Q4", "Q4 2026" (a calendar
/// year), "2027": the period's last day.
fn period(text: &str) -> Option<(NaiveDate, String)> {
    let k = key(text);
    let parts: Vec<&str> = k.split([' ', '-', ',']).filter(|p| !p.is_empty()).collect();
    let quarter = |p: &str| {
        p.strip_prefix('q')
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=4).contains(n))
    };
    let financial = |p: &str| -> Option<i32> {
        let (a, b) = p.split_once('/')?;
        let start: i32 = year(a).ok()?;
        let end: i32 = b.parse().ok()?;
        (end % 100 == (start + 1) % 100).then_some(start)
    };
    match parts.as_slice() {
        [q, fy] | [fy, q] if quarter(q).is_some() && financial(fy).is_some() => {
            let (q, start) = (quarter(q)?, financial(fy)?);
            // Q1 is April to June of the first year; Q4 is January to March of the next.
            let (y, m) = if q == 4 {
                (start + 1, 3)
            } else {
                (start, 3 + 3 * q)
            };
            Some((
                last_of_month(y, m)?,
                format!(
                    "Q{q} of the financial year {start}/{:02}",
                    (start + 1) % 100
                ),
            ))
        }
        [q, y] | [y, q] if quarter(q).is_some() && y.len() == 4 && year(y).is_ok() => {
            let (q, y) = (quarter(q)?, year(y).ok()?);
            Some((
                last_of_month(y, 3 * q)?,
                format!("Q{q} of the calendar year {y}"),
            ))
        }
        [fy] if financial(fy).is_some() => {
            let start = financial(fy)?;
            Some((
                last_of_month(start + 1, 3)?,
                format!("the financial year {start}/{:02}", (start + 1) % 100),
            ))
        }
        [y] if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) => {
            let y = year(y).ok().filter(|y| (1990..=2100).contains(y))?;
            Some((last_of_month(y, 12)?, format!("the year {y}")))
        }
        _ => None,
    }
}

/// A date cell, read as exactly as it allows: a date, a period, or a word for "not yet".
pub(crate) fn date_reading(cell: &Cell) -> Result<DateReading, String> {
    if let Cell::Number(n) = cell
        && n.fract() == 0.0
        && (1990.0..=2100.0).contains(n)
    {
        return period(&format_year(*n)).map_or_else(
            || Err(NOT_A_DATE.to_owned()),
            |(d, how)| Ok(DateReading::Imprecise(d, how)),
        );
    }
    if let Cell::Text(t) = cell {
        let k = key(t);
        if NO_DATE.contains(&k.as_str()) {
            return Ok(DateReading::Missing);
        }
        if let Some((d, how)) = period(t) {
            return Ok(DateReading::Imprecise(d, how));
        }
    }
    date(cell).map(DateReading::Exact)
}

fn format_year(n: f64) -> String {
    format!("{n:.0}")
}

/// A score: a whole number from 1 to the number of levels, or a level's label ("Likely").
pub(crate) fn score(cell: &Cell, levels: &[domain::documents::risk::Level]) -> Result<u32, String> {
    let n = match cell {
        Cell::Number(n) => *n,
        Cell::Text(t) => {
            let t = t.trim();
            if let Some(i) = levels.iter().position(|l| l.label.eq_ignore_ascii_case(t)) {
                return Ok(i as u32 + 1);
            }
            t.parse::<f64>()
                .map_err(|_| "is not a whole number".to_owned())?
        }
        _ => return Err("is not a whole number".to_owned()),
    };
    let range = format!("(1–{})", levels.len());
    if n.fract() != 0.0 || !n.is_finite() {
        return Err(format!("is not a whole number {range}"));
    }
    if n < 1.0 || n > levels.len() as f64 {
        return Err(format!("is outside the matrix {range}"));
    }
    Ok(n as u32)
}

/// Days between reviews: a number of days, "90 days", or a word such as "Quarterly".
pub(crate) fn frequency(cell: &Cell) -> Result<u32, String> {
    let bad = || "is not a number of days".to_owned();
    let n = match cell {
        Cell::Number(n) => *n,
        Cell::Text(t) => {
            let w = t.trim().to_lowercase();
            let named = match w.replace(['-', ' '], "").as_str() {
                "weekly" => Some(7),
                "fortnightly" => Some(14),
                "monthly" => Some(30),
                "bimonthly" => Some(61),
                "quarterly" => Some(91),
                "sixmonthly" | "halfyearly" | "biannually" => Some(182),
                "annually" | "annual" | "yearly" => Some(365),
                _ => None,
            };
            if let Some(d) = named {
                return Ok(d);
            }
            let w = w
                .strip_suffix("days")
                .or_else(|| w.strip_suffix("day"))
                .unwrap_or(&w);
            w.trim().parse::<f64>().map_err(|_| bad())?
        }
        _ => return Err(bad()),
    };
    if n.fract() != 0.0 || !(1.0..=3660.0).contains(&n) {
        return Err("must be a whole number of days from 1 to 3660".to_owned());
    }
    Ok(n as u32)
}

pub(crate) fn key(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .replace('_', "-")
}

fn response_word(word: &str) -> Option<Response> {
    Some(match word {
        "treat" | "reduce" | "mitigate" | "control" | "manage" | "treating" | "treated" => {
            Response::Treat
        }
        "tolerate" | "accept" | "retain" | "tolerated" | "accepted" => Response::Tolerate,
        "transfer" | "share" | "insure" | "transferred" | "shared" => Response::Transfer,
        "terminate" | "avoid" | "end" | "stop" | "terminated" => Response::Terminate,
        _ => return None,
    })
}

/// A response as councils write it: one of the four Ts or a synonym ("Reduce", "Accept"),
/// or several at once ("Treat / Transfer"), read as the first with a note of the rest.
pub(crate) fn response(text: &str) -> Result<Reading<Response>, String> {
    let k = key(text);
    if let Some(r) = response_word(&k) {
        return Ok(Reading::exact(r));
    }
    let words: Vec<&str> = k
        .split(['/', '&', ',', ';', '+', '\n'])
        .flat_map(|p| p.split(" and "))
        .flat_map(|p| p.split(" or "))
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    let read: Vec<Response> = words.iter().filter_map(|w| response_word(w)).collect();
    match read.as_slice() {
        [first, rest @ ..] if read.len() == words.len() => {
            let others: Vec<&str> = rest.iter().map(|r| response_name(*r)).collect();
            Ok(Reading::noted(
                *first,
                if others.is_empty() {
                    format!("read as {}", response_name(*first))
                } else {
                    format!(
                        "names more than one response; read as {} (the first), {} kept in \
                         this note only",
                        response_name(*first),
                        others.join(", ")
                    )
                },
            ))
        }
        _ => Err("is not a response (Treat, Tolerate, Transfer or Terminate)".to_owned()),
    }
}

/// A typed value, and what a person should know about how it was read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading<T> {
    pub value: T,
    pub note: Option<String>,
    /// A status that says the risk is escalated ("Escalated to JMT"): the level it names.
    pub escalation: Option<Escalation>,
}

impl<T> Reading<T> {
    fn exact(value: T) -> Self {
        Reading {
            value,
            note: None,
            escalation: None,
        }
    }
    fn noted(value: T, note: String) -> Self {
        Reading {
            value,
            note: Some(note),
            escalation: None,
        }
    }
}

/// A status as councils write it. Open and closed and their synonyms are exact; words that
/// mean "still open" in some other state ("Under review", "Proposed") are read as Open with a
/// note; "Escalated" is not a status but a level: read as Open, escalated (to the level it
/// names, else the joint management team).
pub(crate) fn status(text: &str) -> Result<Reading<RiskStatus>, String> {
    let k = key(text);
    let exact = match k.as_str() {
        "open" | "active" | "live" | "current" => Some(RiskStatus::Open),
        "closed" | "close" | "archived" | "retired" | "inactive" => Some(RiskStatus::Closed),
        _ => None,
    };
    if let Some(s) = exact {
        return Ok(Reading::exact(s));
    }
    if let Some(rest) = k
        .strip_prefix("escalated")
        .or_else(|| k.strip_prefix("escalate"))
    {
        let named = rest
            .trim_start_matches([' ', '-', ':', '/'])
            .trim_start_matches("to ")
            .trim();
        let level = escalation(named).map_or(Escalation::JointManagementTeam, |r| r.value);
        return Ok(Reading {
            value: RiskStatus::Open,
            note: Some(format!(
                "is an escalation, not a status: read as Open, escalated to {}",
                escalation_name(level)
            )),
            escalation: Some(level),
        });
    }
    let closed = [
        "closed",
        "complete",
        "completed",
        "resolved",
        "mitigated",
        "treated",
        "expired",
        "removed",
        "superseded",
        "merged",
        "no longer",
    ];
    if closed.iter().any(|w| k.starts_with(w)) {
        return Ok(Reading::noted(
            RiskStatus::Closed,
            "read as Closed".to_owned(),
        ));
    }
    let open = [
        "new",
        "ongoing",
        "on-going",
        "in progress",
        "monitor",
        "monitoring",
        "under review",
        "review",
        "reviewing",
        "proposed",
        "draft",
        "emerging",
        "open",
        "red",
        "amber",
        "green",
        "static",
        "stable",
        "increasing",
        "decreasing",
        "improving",
        "worsening",
        "reduced",
    ];
    if open.iter().any(|w| k.starts_with(w)) {
        return Ok(Reading::noted(RiskStatus::Open, "read as Open".to_owned()));
    }
    Err("is not a status (Open or Closed)".to_owned())
}

pub(crate) fn escalation(text: &str) -> Result<Reading<Escalation>, String> {
    Ok(Reading::exact(match key(text).as_str() {
        "service" | "service level" | "service manager" | "operational" | "team"
        | "service management" | "head of service" | "hos" | "directorate" => Escalation::Service,
        "jmt"
        | "joint management team"
        | "joint-management-team"
        | "joint management"
        | "management team"
        | "smt"
        | "cmt"
        | "senior management team"
        | "corporate management team"
        | "shared management team" => Escalation::JointManagementTeam,
        "committee"
        | "joint committee"
        | "members"
        | "member"
        | "audit committee"
        | "cabinet"
        | "joint committee (members)"
        | "audit and governance committee"
        | "audit & governance committee"
        | "governance committee" => Escalation::Committee,
        _ => {
            return Err(
                "is not an escalation level (Service, Joint management team or Committee)"
                    .to_owned(),
            );
        }
    }))
}

/// How the export and previews show enum values.
pub(crate) fn response_name(r: Response) -> &'static str {
    match r {
        Response::Tolerate => "Tolerate",
        Response::Treat => "Treat",
        Response::Transfer => "Transfer",
        Response::Terminate => "Terminate",
    }
}

pub(crate) fn status_name(s: RiskStatus) -> &'static str {
    match s {
        RiskStatus::Open => "Open",
        RiskStatus::Closed => "Closed",
    }
}

pub(crate) fn escalation_name(e: Escalation) -> &'static str {
    match e {
        Escalation::Service => "Service",
        Escalation::JointManagementTeam => "Joint management team",
        Escalation::Committee => "Committee",
    }
}

pub(crate) fn date_text(d: NaiveDate) -> String {
    format!("{:02}/{:02}/{:04}", d.day(), d.month(), d.year())
}

/// A council's name for a sheet; an id with no name is written as it is.
pub(crate) fn council_name(id: &str, councils: &crate::Councils) -> String {
    councils
        .iter()
        .find(|(i, _)| i == id)
        .map_or_else(|| id.to_owned(), |(_, n)| n.clone())
}

pub(crate) fn council_names(ids: &[String], councils: &crate::Councils) -> String {
    ids.iter()
        .map(|id| council_name(id, councils))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Words that end a council's name and that partnerships shorten ("District Council" → "DC").
const COUNCIL_SUFFIXES: &[&str] = &[
    "metropolitan borough council",
    "district council",
    "borough council",
    "city council",
    "county council",
    "town council",
    "parish council",
    "council",
];

/// The short forms partnerships write for a council: its initials ("EDC"), its name without
/// the kind of council ("Eastbridge"), and that with the kind's initials ("Eastbridge DC").
fn aliases(name: &str) -> Vec<String> {
    let k = key(&name.replace(['.', ','], " "));
    let initials = |s: &str| -> String {
        s.split(' ')
            .filter(|w| !w.is_empty() && *w != "of" && *w != "and" && *w != "&")
            .filter_map(|w| w.chars().next())
            .collect()
    };
    let mut out = Vec::new();
    if k.split(' ').count() >= 2 {
        out.push(initials(&k));
    }
    if let Some(suffix) = COUNCIL_SUFFIXES
        .iter()
        .find(|s| k.ends_with(&format!(" {s}")))
    {
        let stem = k[..k.len() - suffix.len()].trim().to_owned();
        if !stem.is_empty() {
            out.push(format!("{stem} {}", initials(suffix)));
            out.push(stem);
        }
    }
    out.retain(|a| a.chars().count() >= 2);
    out
}

/// Councils named by short forms, possibly several joined ("EDC & WBC", "Eastbridge DC and
/// Westbury"): every part must be one council's name or unambiguous alias, else `None`.
fn by_alias(text: &str, councils: &crate::Councils) -> Option<Vec<String>> {
    // Alias → the council it names; an alias two councils share names neither.
    let mut table: Vec<(String, Option<&String>)> = Vec::new();
    for (id, name) in councils {
        for a in std::iter::once(key(name)).chain(aliases(name)) {
            match table.iter_mut().find(|(k, _)| *k == a) {
                Some((_, owner)) if *owner != Some(id) => *owner = None,
                Some(_) => {}
                None => table.push((a, Some(id))),
            }
        }
    }
    let mut found = Vec::new();
    for part in text
        .split(['&', '/', '+'])
        .flat_map(|p| p.split(" and "))
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let part = part.trim_end_matches('.');
        match table.iter().find(|(a, _)| a == part) {
            Some((_, Some(id))) => found.push((*id).clone()),
            _ => return None,
        }
    }
    (!found.is_empty()).then_some(found)
}

/// Council names (or ids), separated by commas, semicolons or new lines; "All" (and "Both"
/// for a partnership of two) means every council. Every unknown name is reported. `councils`
/// may name a council more than once (its name first, then aliases an officer gave).
pub(crate) fn councils(text: &str, councils: &crate::Councils) -> Result<Vec<String>, String> {
    let (ids, unknown) = read_councils(text, councils);
    if unknown.is_empty() {
        Ok(ids)
    } else {
        let mut known: Vec<&str> = Vec::new();
        for (id, n) in councils {
            // A council once, by its own (first) name.
            if councils
                .iter()
                .find(|(i, _)| i == id)
                .map(|(_, first)| first)
                == Some(n)
            {
                known.push(n.as_str());
            }
        }
        let shown: Vec<String> = unknown.iter().map(|u| format!("{u:?}")).collect();
        Err(format!(
            "{} {} not one of the partnership's councils ({})",
            shown.join(", "),
            if unknown.len() == 1 { "is" } else { "are" },
            known.join(", ")
        ))
    }
}

/// The names in `text` that name no council (as [`councils`] reads them).
pub(crate) fn unknown_councils(text: &str, councils: &crate::Councils) -> Vec<String> {
    read_councils(text, councils).1
}

/// The councils `text` names, and the names it uses that name none.
fn read_councils(text: &str, councils: &crate::Councils) -> (Vec<String>, Vec<String>) {
    let whole = key(text);
    let everyone = [
        "all",
        "all councils",
        "all partners",
        "all partner councils",
    ];
    let mut distinct: Vec<String> = Vec::new();
    for (id, _) in councils {
        if !distinct.contains(id) {
            distinct.push(id.clone());
        }
    }
    if everyone.contains(&whole.as_str())
        || (distinct.len() == 2
            && ["both", "both councils", "both partners"].contains(&whole.as_str()))
    {
        return (distinct, Vec::new());
    }
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    let mut add = |id: &String| {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    };
    for name in text
        .split([',', ';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let k = key(name);
        match councils.iter().find(|(id, n)| key(n) == k || key(id) == k) {
            Some((id, _)) => add(id),
            None => match by_alias(&k, councils) {
                Some(found) => found.iter().for_each(&mut add),
                // Which of the joined parts ("Ashby (old name) & BDC") names no council: those
                // are the ones to ask about.
                None => {
                    for part in name
                        .split(['&', '/', '+'])
                        .flat_map(|p| p.split(" and "))
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                    {
                        let pk = key(part);
                        match councils
                            .iter()
                            .find(|(id, n)| key(n) == pk || key(id) == pk)
                        {
                            Some((id, _)) => add(id),
                            None => match by_alias(&pk, councils) {
                                Some(found) => found.iter().for_each(&mut add),
                                None => unknown.push(part.to_owned()),
                            },
                        }
                    }
                }
            },
        }
    }
    (ids, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::documents::risk::Matrix;

    #[test]
    fn names_an_officer_gave_resolve_and_unknown_ones_are_listed() {
        let partnership: Vec<(String, String)> = vec![
            ("a".into(), "Eastbridge District Council".into()),
            ("b".into(), "Westbury Borough Council".into()),
        ];
        assert_eq!(
            unknown_councils("EDC, Old Eastbridge", &partnership),
            ["Old Eastbridge"]
        );
        let given = std::collections::BTreeMap::from([
            ("Old Eastbridge".to_owned(), "a".to_owned()),
            ("Nowhere".to_owned(), "z".to_owned()),
        ]);
        let (all, refused) = crate::with_names(&partnership, &given);
        assert_eq!(refused, ["Nowhere"]);
        assert_eq!(
            councils("Old Eastbridge & WBC", &all),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        // Still two councils: "Both" and "All" are each of them once.
        assert_eq!(
            councils("Both", &all),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(councils("All", &all).unwrap().len(), 2);
        let e = councils("Elsewhere", &all).unwrap_err();
        assert!(
            e.ends_with("(Eastbridge District Council, Westbury Borough Council)"),
            "{e}"
        );
        // Shown by its own name, not the one an officer gave.
        assert_eq!(council_name("a", &all), "Eastbridge District Council");
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn typed_dates() {
        let ok = [
            ("12/03/2026", "2026-03-12"),
            ("2/3/26", "2026-03-02"),
            ("2026-03-12", "2026-03-12"),
            ("2026-03-12T00:00:00", "2026-03-12"),
            ("12 March 2026", "2026-03-12"),
            ("12th March 2026", "2026-03-12"),
            ("12-Mar-26", "2026-03-12"),
            ("12 Sept 2026", "2026-09-12"),
            ("March 12, 2026", "2026-03-12"),
            ("Mar 2026", "2026-03-01"),
            ("12.03.2026", "2026-03-12"),
            ("46093", "2026-03-12"),
        ];
        for (text, want) in ok {
            assert_eq!(parse_date_text(text), Ok(d(want)), "{text}");
        }
        assert_eq!(parse_date_text("31/02/2026"), Err(NO_SUCH_DAY.into()));
        assert_eq!(parse_date_text("next week"), Err(NOT_A_DATE.into()));
        assert!(parse_date_text("Mar-26").unwrap_err().contains("ambiguous"));
        assert_eq!(parse_date_text("12/03/226"), Err(NOT_A_DATE.into()));
        assert_eq!(date(&Cell::Number(46093.0)), Ok(d("2026-03-12")));
        assert!(
            date(&Cell::Number(2026.0)).is_err(),
            "a year is not a serial"
        );
    }

    #[test]
    fn scores_are_whole_numbers_or_labels_inside_the_matrix() {
        let m = Matrix::five_by_five();
        let l = &m.likelihood;
        assert_eq!(score(&Cell::Number(3.0), l), Ok(3));
        assert_eq!(score(&Cell::Text(" 4 ".into()), l), Ok(4));
        assert_eq!(score(&Cell::Text("almost certain".into()), l), Ok(5));
        assert_eq!(
            score(&Cell::Number(7.0), l),
            Err("is outside the matrix (1–5)".into())
        );
        assert_eq!(
            score(&Cell::Number(0.0), l),
            Err("is outside the matrix (1–5)".into())
        );
        assert_eq!(
            score(&Cell::Number(2.5), l),
            Err("is not a whole number (1–5)".into())
        );
        assert_eq!(
            score(&Cell::Text("high".into()), l),
            Err("is not a whole number".into())
        );
    }

    #[test]
    fn statuses_and_responses_as_councils_write_them() {
        let escalated = status("Escalated").unwrap();
        assert_eq!(escalated.value, RiskStatus::Open);
        assert_eq!(escalated.escalation, Some(Escalation::JointManagementTeam));
        assert!(escalated.note.unwrap().contains("not a status"));
        let to_committee = status("Escalated to Audit Committee").unwrap();
        assert_eq!(to_committee.escalation, Some(Escalation::Committee));
        let closed = status("Closed - mitigated").unwrap();
        assert_eq!(
            (closed.value, closed.note.is_some()),
            (RiskStatus::Closed, true)
        );
        let review = status("Under review").unwrap();
        assert_eq!(
            (review.value, review.note.is_some()),
            (RiskStatus::Open, true)
        );
        assert_eq!(status("Open").unwrap().note, None);
        assert!(status("Purple").is_err());

        let both = response("Treat / Transfer").unwrap();
        assert_eq!(both.value, Response::Treat);
        assert!(
            both.note.unwrap().contains("Transfer"),
            "the second is named"
        );
        assert_eq!(
            response("tolerate and transfer").unwrap().value,
            Response::Tolerate
        );
        assert_eq!(response("Treat").unwrap().note, None);
        assert!(
            response("Treat / maybe").is_err(),
            "every part must be a response"
        );
    }

    #[test]
    fn imprecise_and_missing_dates() {
        let imprecise = |t: &str| match date_reading(&Cell::Text(t.into())) {
            Ok(DateReading::Imprecise(d, _)) => d,
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(imprecise("Q4 2026/27"), d("2027-03-31"));
        assert_eq!(imprecise("Q1 2026/27"), d("2026-06-30"));
        assert_eq!(imprecise("2026/27 Q3"), d("2026-12-31"));
        assert_eq!(imprecise("Q4 2026"), d("2026-12-31"));
        assert_eq!(imprecise("q2 2027"), d("2027-06-30"));
        assert_eq!(imprecise("2026/27"), d("2027-03-31"));
        assert_eq!(imprecise("2027"), d("2027-12-31"));
        assert!(matches!(
            date_reading(&Cell::Number(2027.0)),
            Ok(DateReading::Imprecise(..))
        ));
        for missing in ["TBC", "tbc", "Ongoing", "N/A", "-", "To be confirmed"] {
            assert_eq!(
                date_reading(&Cell::Text(missing.into())),
                Ok(DateReading::Missing),
                "{missing}"
            );
        }
        assert_eq!(
            date_reading(&Cell::Text("12/03/2026".into())),
            Ok(DateReading::Exact(d("2026-03-12")))
        );
        assert!(date_reading(&Cell::Text("Q5 2026".into())).is_err());
        assert!(date_reading(&Cell::Text("2026/28".into())).is_err());
    }

    #[test]
    fn enums_and_councils() {
        let v = |r: Result<Reading<Response>, String>| r.map(|r| r.value);
        assert_eq!(v(response("Reduce")), Ok(Response::Treat));
        assert_eq!(v(response("ACCEPT")), Ok(Response::Tolerate));
        assert_eq!(status("Active").map(|r| r.value), Ok(RiskStatus::Open));
        assert_eq!(
            escalation("JMT").map(|r| r.value),
            Ok(Escalation::JointManagementTeam)
        );
        assert_eq!(
            escalation("joint-management-team").map(|r| r.value),
            Ok(Escalation::JointManagementTeam)
        );
        assert!(escalation("Cabinet").is_ok());
        assert!(escalation("Board").is_err());
        let c = vec![
            ("org-a".to_owned(), "Ashby District Council".to_owned()),
            ("org-b".to_owned(), "Brockley Borough Council".to_owned()),
        ];
        assert_eq!(
            councils("brockley borough council; Ashby District  Council", &c),
            Ok(vec!["org-b".into(), "org-a".into()])
        );
        assert_eq!(
            councils("Both", &c),
            Ok(vec!["org-a".into(), "org-b".into()])
        );
        assert_eq!(
            councils("Cranford, Ashby District Council", &c),
            Err("\"Cranford\" is not one of the partnership's councils (Ashby District Council, Brockley Borough Council)".into())
        );
        let partners = vec![
            ("org-e".to_owned(), "Eastbridge District Council".to_owned()),
            ("org-w".to_owned(), "Westbury Borough Council".to_owned()),
            (
                "org-h".to_owned(),
                "Brighton and Hove City Council".to_owned(),
            ),
        ];
        let read = |t: &str| councils(t, &partners);
        assert_eq!(read("EDC & WBC"), Ok(vec!["org-e".into(), "org-w".into()]));
        assert_eq!(read("Eastbridge DC"), Ok(vec!["org-e".into()]));
        assert_eq!(read("Westbury"), Ok(vec!["org-w".into()]));
        assert_eq!(
            read("Eastbridge and Westbury"),
            Ok(vec!["org-e".into(), "org-w".into()])
        );
        assert_eq!(
            read("Brighton and Hove City Council"),
            Ok(vec!["org-h".into()])
        );
        assert_eq!(read("BHCC, E.D.C."), Err("\"E.D.C.\" is not one of the partnership's councils (Eastbridge District Council, Westbury Borough Council, Brighton and Hove City Council)".into()));
        assert!(
            read("EDC & Cranford").is_err(),
            "every part must be a council"
        );
        // Initials two councils share name neither.
        let twins = vec![
            ("org-e".to_owned(), "Eastbridge District Council".to_owned()),
            ("org-l".to_owned(), "Elmfield District Council".to_owned()),
        ];
        assert!(councils("EDC", &twins).is_err());
        assert_eq!(councils("Elmfield", &twins), Ok(vec!["org-l".into()]));
        assert_eq!(frequency(&Cell::Text("Quarterly".into())), Ok(91));
        assert_eq!(frequency(&Cell::Text("60 days".into())), Ok(60));
        assert!(frequency(&Cell::Number(0.0)).is_err());
    }
}
