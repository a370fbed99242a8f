//! The committee report: one HTML page built to be printed (or saved as PDF from the browser)
//! for committee papers. What committees ask for: short views (heat maps, the red risks), what
//! changed since the last report and why, overdue actions and reviews. Column headings repeat
//! on every printed page (`thead` as a table-header group); bands and directions are always
//! written as words, with colour and pattern only as a second signal.

use std::fmt::Write as _;

use chrono::NaiveDate;
use domain::Version;
use domain::documents::changes::ChangeReport;
use domain::documents::risk::{AssessmentKind, Band, Direction, RiskRegister, RiskStatus, score};

/// What the report is made from.
#[allow(missing_debug_implementations)] // holds a closure
pub struct ReportInput<'a> {
    pub title: &'a str,
    pub register: &'a RiskRegister,
    pub today: NaiveDate,
    /// The version "changes since" is measured from, and the report of those changes.
    pub since: Option<(&'a Version, &'a ChangeReport)>,
    pub council_name: &'a dyn Fn(&str) -> String,
    /// The protective marking printed at the head of every page (e.g. `OFFICIAL`).
    pub marking: &'a str,
}

/// Text for the inside of a CSS string: quotes, backslashes and anything that could end the
/// style element are escaped; control characters dropped.
fn css_string(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' | '\\' | '<' | '>' => {
                let _ = write!(out, "\\{:x} ", u32::from(c));
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A colour safe to put in a style attribute (`#rgb` to `#rrggbbaa`), or none.
fn colour(c: &str) -> Option<&str> {
    let hex = c.strip_prefix('#')?;
    ((3..=8).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(c)
}

fn swatch(band: Option<&Band>) -> String {
    let Some(b) = band else {
        return String::new();
    };
    let pattern = match b.pattern.as_str() {
        p @ ("solid" | "hatch" | "dots" | "cross") => p,
        _ => "none",
    };
    let style = colour(&b.colour)
        .map(|c| format!(" style=\"background-color:{c}\""))
        .unwrap_or_default();
    format!(
        "<span class=\"swatch pattern-{pattern}\"{style} aria-hidden=\"true\"></span>{}",
        esc(&b.label)
    )
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::New => "● New",
        Direction::Improving => "↓ Improving",
        Direction::Stable => "→ Stable",
        Direction::Worsening => "↑ Worsening",
    }
}

fn kind_name(k: AssessmentKind) -> &'static str {
    match k {
        AssessmentKind::Inherent => "Inherent",
        AssessmentKind::Current => "Current",
        AssessmentKind::Target => "Target",
    }
}

/// Every printed page carries the protective marking at its head and foot and its number out
/// of the total (CSS page margin boxes; `{MARKING}` is replaced, escaped for a CSS string).
const PAGE_STYLE: &str = r#"
@page {
  size: A4 landscape; margin: 16mm 14mm;
  @top-center { content: "{MARKING}"; font: bold 10pt Arial, Helvetica, sans-serif; }
  @bottom-center { content: "{MARKING}"; font: bold 10pt Arial, Helvetica, sans-serif; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font: 9pt Arial, Helvetica, sans-serif; }
}
"#;

const STYLE: &str = r#"
body { font-family: Arial, Helvetica, sans-serif; font-size: 11pt; color: #0b0c0c; margin: 1.5em; }
h1 { font-size: 18pt; margin: 0 0 .2em; }
h2 { font-size: 14pt; margin: 1.2em 0 .4em; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1em; }
caption { text-align: left; font-weight: bold; padding: .3em 0; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th, td { border: 1px solid #505a5f; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #f3f2f1; }
td.num { text-align: right; }
td:first-child { white-space: nowrap; }
.marking { font-weight: bold; text-align: center; letter-spacing: .05em; margin: 0 0 .6em; }
@media print { .marking { display: none; } }
.maps { display: flex; gap: 1.5em; flex-wrap: wrap; }
.maps table { width: auto; }
.swatch { display: inline-block; width: .9em; height: .9em; margin-right: .35em; border: 1px solid #0b0c0c; vertical-align: -.1em; }
.pattern-hatch { background-image: repeating-linear-gradient(45deg, rgba(0,0,0,.45) 0 1px, transparent 1px 4px); }
.pattern-dots { background-image: radial-gradient(rgba(0,0,0,.55) 1px, transparent 1.4px); background-size: 4px 4px; }
.pattern-cross { background-image: repeating-linear-gradient(45deg, rgba(0,0,0,.45) 0 1px, transparent 1px 4px), repeating-linear-gradient(-45deg, rgba(0,0,0,.45) 0 1px, transparent 1px 4px); }
.none { color: #505a5f; font-style: italic; }
@media print { body { margin: 0; } .swatch { print-color-adjust: exact; -webkit-print-color-adjust: exact; } }
"#;

/// Writes a table with a caption, its header row and its body rows (already escaped HTML).
fn table(out: &mut String, caption: &str, headings: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        let _ = writeln!(out, "<p class=\"none\">{}: none.</p>", esc(caption));
        return;
    }
    let _ = write!(out, "<table><caption>{}</caption><thead><tr>", esc(caption));
    for h in headings {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
}

/// The report as a complete HTML page.
pub fn committee_report(input: &ReportInput<'_>) -> String {
    let reg = input.register;
    let m = &reg.matrix;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — committee report</title><style>{}{STYLE}</style></head><body><main>\
         <p class=\"marking\">{}</p><h1>{}</h1><p>Risk report for committee, {}.",
        esc(input.title),
        PAGE_STYLE.replace("{MARKING}", &css_string(input.marking)),
        esc(input.marking),
        esc(input.title),
        input.today.format("%-d %B %Y"),
    );
    if let Some((v, _)) = input.since {
        let _ = write!(out, " Changes are shown since “{}”.", esc(&v.label));
    }
    out.push_str("</p>\n<h2>Heat maps</h2><div class=\"maps\">");
    for kind in [
        AssessmentKind::Inherent,
        AssessmentKind::Current,
        AssessmentKind::Target,
    ] {
        let counts = reg.heat_map(kind);
        let _ = write!(
            out,
            "<table><caption>{} position (open risks)</caption><thead><tr>\
             <th scope=\"col\">Likelihood \\ Impact</th>",
            kind_name(kind)
        );
        for (i, level) in m.impact.iter().enumerate() {
            let _ = write!(
                out,
                "<th scope=\"col\">{} {}</th>",
                i + 1,
                esc(&level.label)
            );
        }
        out.push_str("</tr></thead><tbody>");
        for l in (1..=m.likelihood.len()).rev() {
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{l} {}</th>",
                esc(&m.likelihood[l - 1].label)
            );
            for i in 1..=m.impact.len() {
                let n = counts
                    .get(l - 1)
                    .and_then(|r| r.get(i - 1))
                    .copied()
                    .unwrap_or(0);
                let _ = write!(
                    out,
                    "<td class=\"num\">{}<br><strong>{n}</strong></td>",
                    swatch(m.band(l as u32, i as u32))
                );
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</div>\n");

    let top = m.bands.iter().map(|b| b.rank).max().unwrap_or(0);
    let line = |r: &domain::documents::risk::Risk| {
        let current = reg.latest(&r.id, AssessmentKind::Current);
        vec![
            esc(&r.reference),
            esc(&r.title),
            esc(&r.owner),
            current
                .map(|a| score(a.likelihood, a.impact).to_string())
                .unwrap_or_else(|| "not assessed".into()),
            swatch(current.and_then(|a| m.band(a.likelihood, a.impact))),
            direction(reg.direction(&r.id)).to_owned(),
            r.next_review.format("%d/%m/%Y").to_string(),
        ]
    };
    let risk_headings = [
        "Ref",
        "Risk",
        "Owner",
        "Current score",
        "Band",
        "Direction",
        "Next review",
    ];
    out.push_str("<h2>Red risks</h2>");
    let red: Vec<Vec<String>> = reg
        .risks
        .iter()
        .filter(|r| r.status == RiskStatus::Open)
        .filter(|r| {
            reg.latest(&r.id, AssessmentKind::Current)
                .and_then(|a| m.band(a.likelihood, a.impact))
                .is_some_and(|b| b.rank == top)
        })
        .map(line)
        .collect();
    table(
        &mut out,
        "Risks in the most severe band",
        &risk_headings,
        &red,
    );

    if let Some((v, ChangeReport::RiskRegister(c))) = input.since {
        let _ = write!(out, "<h2>What changed since “{}”</h2>", esc(&v.label));
        let moved: Vec<Vec<String>> = c
            .moved
            .iter()
            .map(|mv| {
                let pos = |p: &domain::documents::changes::Position| {
                    format!(
                        "{} × {} = {} ({})",
                        p.likelihood,
                        p.impact,
                        p.score,
                        esc(&p.band)
                    )
                };
                vec![
                    esc(&mv.risk.reference),
                    esc(&mv.risk.title),
                    kind_name(mv.kind).to_owned(),
                    mv.from.as_ref().map(pos).unwrap_or_else(|| "new".into()),
                    pos(&mv.to),
                    if mv.change > 0 {
                        format!("↑ +{}", mv.change)
                    } else if mv.change < 0 {
                        format!("↓ {}", mv.change)
                    } else {
                        "→ 0".into()
                    },
                    esc(&mv.reason),
                    format!("{}, {}", esc(&mv.assessor), mv.date.format("%d/%m/%Y")),
                ]
            })
            .collect();
        table(
            &mut out,
            "Score movements",
            &[
                "Ref",
                "Risk",
                "Assessment",
                "From",
                "To",
                "Change",
                "Reason",
                "By, on",
            ],
            &moved,
        );
        let refs = |v: &[domain::documents::changes::RiskRef]| {
            v.iter()
                .map(|r| vec![esc(&r.reference), esc(&r.title)])
                .collect::<Vec<_>>()
        };
        table(&mut out, "Risks added", &["Ref", "Risk"], &refs(&c.added));
        table(&mut out, "Risks closed", &["Ref", "Risk"], &refs(&c.closed));
        table(
            &mut out,
            "Risks reopened",
            &["Ref", "Risk"],
            &refs(&c.reopened),
        );
        let actions = |v: &[domain::documents::changes::ActionRef]| {
            v.iter()
                .map(|a| {
                    vec![
                        esc(&a.risk_reference),
                        esc(&a.title),
                        esc(&a.owner),
                        a.due.format("%d/%m/%Y").to_string(),
                    ]
                })
                .collect::<Vec<_>>()
        };
        let action_headings = ["Risk", "Action", "Owner", "Due"];
        table(
            &mut out,
            "New actions",
            &action_headings,
            &actions(&c.new_actions),
        );
        table(
            &mut out,
            "Actions completed",
            &action_headings,
            &actions(&c.completed_actions),
        );
    }

    out.push_str("<h2>Overdue</h2>");
    let overdue: Vec<Vec<String>> = reg
        .overdue_actions(input.today)
        .into_iter()
        .map(|a| {
            vec![
                esc(&reg.reference_of(&a.risk_id)),
                esc(&a.title),
                esc(&a.owner),
                esc(&(input.council_name)(&a.council)),
                a.due.format("%d/%m/%Y").to_string(),
            ]
        })
        .collect();
    table(
        &mut out,
        "Overdue actions",
        &["Risk", "Action", "Owner", "Council", "Due"],
        &overdue,
    );
    let reviews: Vec<Vec<String>> = reg
        .overdue_reviews(input.today)
        .into_iter()
        .map(line)
        .collect();
    table(&mut out, "Overdue reviews", &risk_headings, &reviews);
    let _ = write!(out, "<p class=\"marking\">{}</p>", esc(input.marking));
    out.push_str("</main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_colours_are_checked() {
        assert_eq!(
            esc("<b>\"A&B\"</b>"),
            "&lt;b&gt;&quot;A&amp;B&quot;&lt;/b&gt;"
        );
        assert_eq!(colour("#d4351c"), Some("#d4351c"));
        assert_eq!(colour("red;background:url(x)"), None);
        assert_eq!(colour("#12345z"), None);
    }
}

#[cfg(test)]
mod marking_tests {
    use super::css_string;

    #[test]
    fn a_marking_cannot_end_its_css_string_or_the_style_element() {
        let hostile = "OFFICIAL\"; } body { display: none } </style><script>";
        let safe = css_string(hostile);
        assert!(!safe.contains('"') && !safe.contains('<') && !safe.contains('>'));
        assert!(safe.starts_with("OFFICIAL\\22 "));
        assert_eq!(css_string("OFFICIAL-SENSITIVE"), "OFFICIAL-SENSITIVE");
        assert_eq!(css_string("A\nB"), "AB");
    }
}
