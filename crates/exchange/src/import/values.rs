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

fn month(word: &str) -> Option<u32> {
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

fn year(part: &str) -> Result<i32, String> {
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

fn key(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .replace('_', "-")
}

pub(crate) fn response(text: &str) -> Result<Response, String> {
    Ok(match key(text).as_str() {
        "treat" | "reduce" | "mitigate" | "control" | "manage" => Response::Treat,
        "tolerate" | "accept" | "retain" | "tolerate/accept" => Response::Tolerate,
        "transfer" | "share" | "insure" => Response::Transfer,
        "terminate" | "avoid" | "end" | "stop" => Response::Terminate,
        _ => return Err("is not a response (Treat, Tolerate, Transfer or Terminate)".to_owned()),
    })
}

pub(crate) fn status(text: &str) -> Result<RiskStatus, String> {
    Ok(match key(text).as_str() {
        "open" | "active" | "live" | "current" => RiskStatus::Open,
        "closed" | "close" | "archived" | "retired" | "inactive" => RiskStatus::Closed,
        _ => return Err("is not a status (Open or Closed)".to_owned()),
    })
}

pub(crate) fn escalation(text: &str) -> Result<Escalation, String> {
    Ok(match key(text).as_str() {
        "service" | "service level" | "service manager" | "operational" | "team" => {
            Escalation::Service
        }
        "jmt"
        | "joint management team"
        | "joint-management-team"
        | "joint management"
        | "management team" => Escalation::JointManagementTeam,
        "committee" | "joint committee" | "members" | "member" | "audit committee" => {
            Escalation::Committee
        }
        _ => {
            return Err(
                "is not an escalation level (Service, Joint management team or Committee)"
                    .to_owned(),
            );
        }
    })
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

/// Council names (or ids), separated by commas, semicolons or new lines; "All" (and "Both"
/// for a partnership of two) means every council. Every unknown name is reported.
pub(crate) fn councils(text: &str, councils: &crate::Councils) -> Result<Vec<String>, String> {
    let whole = key(text);
    let everyone = [
        "all",
        "all councils",
        "all partners",
        "all partner councils",
    ];
    if everyone.contains(&whole.as_str())
        || (councils.len() == 2
            && ["both", "both councils", "both partners"].contains(&whole.as_str()))
    {
        return Ok(councils.iter().map(|(id, _)| id.clone()).collect());
    }
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    for name in text
        .split([',', ';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let k = key(name);
        match councils.iter().find(|(id, n)| key(n) == k || key(id) == k) {
            Some((id, _)) if !ids.contains(id) => ids.push(id.clone()),
            Some(_) => {}
            None => unknown.push(format!("{name:?}")),
        }
    }
    if unknown.is_empty() {
        Ok(ids)
    } else {
        let known: Vec<&str> = councils.iter().map(|(_, n)| n.as_str()).collect();
        Err(format!(
            "{} {} not one of the partnership's councils ({})",
            unknown.join(", "),
            if unknown.len() == 1 { "is" } else { "are" },
            known.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::documents::risk::Matrix;

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
    fn enums_and_councils() {
        assert_eq!(response("Reduce"), Ok(Response::Treat));
        assert_eq!(response("ACCEPT"), Ok(Response::Tolerate));
        assert_eq!(status("Active"), Ok(RiskStatus::Open));
        assert_eq!(escalation("JMT"), Ok(Escalation::JointManagementTeam));
        assert_eq!(
            escalation("joint-management-team"),
            Ok(Escalation::JointManagementTeam)
        );
        assert!(escalation("Cabinet").is_err());
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
        assert_eq!(frequency(&Cell::Text("Quarterly".into())), Ok(91));
        assert_eq!(frequency(&Cell::Text("60 days".into())), Ok(60));
        assert!(frequency(&Cell::Number(0.0)).is_err());
    }
}
