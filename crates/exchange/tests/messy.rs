//! A quarterly register as councils keep it: a title block, section rows, a note row, statuses
//! and responses in the council's own words, periods and "TBC" for dates, a written score
//! column that disagrees with likelihood × impact. Every row is asserted field by field: what
//! was created, what was ignored and why, and each warning's column and code.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod fixture;

use domain::documents::risk::{AssessmentKind, Escalation, Response, Risk, RiskStatus};
use exchange::import::{
    Format, Mapping, Outcome, Preview, RowPreview, Warning, WarningCode, preview, read_table,
};
use fixture::{councils, counter, day, empty_register, today};
use rust_xlsxwriter::{Format as CellFormat, Workbook};

/// A cell of the sheet.
enum C {
    B,
    S(&'static str),
    N(f64),
}
use C::*;

const HEADINGS: [&str; 16] = [
    "Ref",
    "Risk",
    "Owner",
    "L",
    "I",
    "Score",
    "Response",
    "Status",
    "Next review",
    "Reported to",
    "Further actions",
    "Action owner",
    "Target date",
    "Lead council",
    "Last reviewed",
    "Reviewed by",
];

/// Sheet rows from row 4 on (row 3 is the heading).
fn rows() -> Vec<Vec<C>> {
    vec![
        // 4: a section heading in the reference column.
        vec![S("STRATEGIC RISKS")],
        // 5
        vec![
            S("SR1"),
            S("One council withdraws from the partnership"),
            S("Joint Chief Executive"),
            N(3.0),
            N(4.0),
            N(12.0),
            S("Treat / Transfer"),
            S("Escalated"),
            S("Q4 2026/27"),
            B,
            S("1. Agree an exit protocol\n2. Review the notice period"),
            S("Monitoring Officer"),
            S("Q3 2026/27"),
            S("ADC & BBC"),
        ],
        // 6
        vec![
            S("SR2"),
            S("The councils' priorities diverge"),
            S("Head of Shared Services"),
            N(2.0),
            N(4.0),
            N(12.0),
            S("Tolerate"),
            S("Under review"),
            S("TBC"),
            S("Committee"),
            S("• Refresh the joint business plan"),
            B,
            S("TBC"),
            S("Brockley BC"),
        ],
        // 7: blank.
        vec![],
        // 8: a section heading in the title column.
        vec![B, S("Operational risks")],
        // 9
        vec![
            S("OR1"),
            S("Staff morale in the joint team"),
            S("HR Business Partner"),
            N(2.0),
            N(3.0),
            N(6.0),
            S("Accept"),
            S("Closed - mitigated"),
            S("31/01/2027"),
            S("Service"),
            B,
            B,
            B,
            B,
            S("15/09/2026"),
            S("Audit Manager"),
        ],
        // 10
        vec![
            S("OR2"),
            S("Service vacuum between partners"),
            S("Director of Place"),
            N(4.0),
            N(4.0),
            S("16"),
            S("Monitor"),
            S("Parked"),
            S("Ongoing"),
            S("Board"),
        ],
        // 11: a note in the reference column.
        vec![S("Note: scores reviewed by JMT on 12/11/2026")],
        // 12
        vec![
            S("OR3"),
            S("Disparity of standards"),
            S("Director of Place"),
            B,
            B,
            N(9.0),
            S("Treat"),
            S("Open"),
            N(2027.0),
            S("JMT"),
        ],
        // 13: a reference alone is a row, not a heading (and not a complete new risk).
        vec![S("SR3")],
    ]
}

fn workbook() -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let bold = CellFormat::new().set_bold();
    ws.merge_range(
        0,
        0,
        0,
        15,
        "Eastbridge & Westbury Shared Services: risk register, Q3 2026/27",
        &bold,
    )
    .unwrap();
    for (c, h) in HEADINGS.iter().enumerate() {
        ws.write_string_with_format(2, c as u16, *h, &bold).unwrap();
    }
    for (i, row) in rows().into_iter().enumerate() {
        let r = 3 + i as u32;
        for (c, cell) in row.into_iter().enumerate() {
            let c = c as u16;
            match cell {
                B => {}
                S(s) => {
                    ws.write_string(r, c, s).unwrap();
                }
                N(n) => {
                    ws.write_number(r, c, n).unwrap();
                }
            }
        }
    }
    wb.save_to_buffer().unwrap()
}

fn run() -> Preview {
    let table = read_table(&workbook(), Format::Xlsx, None, Default::default()).unwrap();
    assert_eq!(table.header_row, 3);
    let mut ids = counter();
    preview(
        &table,
        &Mapping::guess(&table),
        &empty_register(),
        &councils(),
        today(),
        "Risk officer",
        &mut ids,
    )
}

fn at(p: &Preview, row: u32) -> &RowPreview {
    p.rows
        .iter()
        .find(|r| r.row == row)
        .unwrap_or_else(|| panic!("no row {row}"))
}

fn created(p: &Preview, row: u32) -> (&Risk, Vec<(AssessmentKind, u32, u32)>) {
    match &at(p, row).outcome {
        Outcome::Create {
            risk, assessments, ..
        } => (
            risk,
            assessments
                .iter()
                .map(|a| (a.kind, a.likelihood, a.impact))
                .collect(),
        ),
        other => panic!("row {row}: {other:?}"),
    }
}

fn codes(w: &[Warning]) -> Vec<(&str, WarningCode)> {
    w.iter().map(|w| (w.column.as_str(), w.code)).collect()
}

#[test]
fn the_counts_add_up_to_every_row_of_the_sheet() {
    let p = run();
    assert_eq!(
        (
            p.creates,
            p.updates,
            p.unchanged,
            p.errors,
            p.ignored,
            p.skipped_blank
        ),
        (5, 0, 0, 1, 3, 1)
    );
    // Rows 4 to 13, less the blank one.
    assert_eq!(
        p.rows.iter().map(|r| r.row).collect::<Vec<_>>(),
        vec![4, 5, 6, 8, 9, 10, 11, 12, 13]
    );
    assert_eq!(
        p.warnings,
        p.rows.iter().map(|r| r.warnings.len()).sum::<usize>()
    );
    assert_eq!(p.warnings, 15);
}

#[test]
fn section_and_note_rows_are_listed_as_ignored_with_their_text() {
    let p = run();
    let ignored: Vec<(u32, String)> = p
        .rows
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Ignored { text } => Some((r.row, text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        ignored,
        vec![
            (4, "STRATEGIC RISKS".to_owned()),
            (8, "Operational risks".to_owned()),
            (11, "Note: scores reviewed by JMT on 12/11/2026".to_owned()),
        ]
    );
    // A lone reference is a row with problems, not a heading.
    match &at(&p, 13).outcome {
        Outcome::Error { problems } => assert_eq!(
            problems,
            &vec![
                "\"Risk\": is required for a new risk".to_owned(),
                "\"Owner\": is required for a new risk".to_owned(),
            ]
        ),
        other => panic!("row 13: {other:?}"),
    }
}

#[test]
fn escalated_is_a_level_and_two_responses_keep_the_first() {
    let p = run();
    let (risk, scores) = created(&p, 5);
    let actions: Vec<(String, String, chrono::NaiveDate, String)> = match &at(&p, 5).outcome {
        Outcome::Create { actions, .. } => actions
            .iter()
            .map(|a| (a.title.clone(), a.owner.clone(), a.due, a.risk_id.clone()))
            .collect(),
        _ => unreachable!(),
    };
    assert_eq!(
        actions,
        vec![
            (
                "Agree an exit protocol".to_owned(),
                "Monitoring Officer".to_owned(),
                day("2026-12-31"),
                risk.id.clone()
            ),
            (
                "Review the notice period".to_owned(),
                "Monitoring Officer".to_owned(),
                day("2026-12-31"),
                risk.id.clone()
            ),
        ]
    );
    assert_eq!(risk.reference, "SR1");
    // "ADC & BBC": both councils, by their initials.
    assert_eq!(risk.owning_councils, ["org-ashby", "org-brockley"]);
    assert_eq!(risk.status, RiskStatus::Open);
    assert_eq!(risk.escalation, Escalation::JointManagementTeam);
    assert_eq!(risk.response, Response::Treat);
    assert_eq!(risk.next_review, day("2027-03-31"));
    assert_eq!(scores, vec![(AssessmentKind::Current, 3, 4)]);
    let w = &at(&p, 5).warnings;
    assert_eq!(
        codes(w),
        vec![
            ("G", WarningCode::ResponseCombined),
            ("H", WarningCode::StatusMapped),
            ("I", WarningCode::DateImprecise),
            ("M", WarningCode::DateImprecise),
        ]
    );
    assert!(w[0].message.contains("Transfer"), "{}", w[0].message);
    assert!(
        w[1].message.starts_with("\"Status\": \"Escalated\""),
        "{}",
        w[1].message
    );
    assert!(w[1].message.contains("Joint management team"));
    assert!(
        w[2].message.contains("31/03/2027") && w[2].message.contains("financial year 2026/27"),
        "{}",
        w[2].message
    );
}

#[test]
fn a_score_that_is_not_likelihood_times_impact_is_flagged_and_tbc_keeps_the_default() {
    let p = run();
    let (risk, scores) = created(&p, 6);
    assert_eq!(risk.owning_councils, ["org-brockley"]);
    assert_eq!(scores, vec![(AssessmentKind::Current, 2, 4)]);
    assert_eq!(risk.status, RiskStatus::Open);
    assert_eq!(risk.escalation, Escalation::Committee);
    assert_eq!(risk.response, Response::Tolerate);
    // TBC: today plus the default 90 days.
    assert_eq!(risk.next_review, day("2026-12-30"));
    let w = &at(&p, 6).warnings;
    assert_eq!(
        codes(w),
        vec![
            ("F", WarningCode::ScoreMismatch),
            ("H", WarningCode::StatusMapped),
            ("I", WarningCode::DateMissing),
            ("M", WarningCode::DateMissing),
        ]
    );
    // No owner or date for the action: the risk's owner, at its next review.
    match &at(&p, 6).outcome {
        Outcome::Create { actions, .. } => {
            assert_eq!(actions.len(), 1);
            assert_eq!(actions[0].title, "Refresh the joint business plan");
            assert_eq!(actions[0].owner, "Head of Shared Services");
            assert_eq!(actions[0].due, day("2026-12-30"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w[0].message,
        "\"Score\": 12 is not likelihood × impact (2 × 4 = 8); the register keeps 8"
    );
    assert!(
        w[2].message
            .starts_with("\"Next review\": \"TBC\" is not a date yet")
    );
}

#[test]
fn closed_in_other_words_and_an_agreeing_score_need_no_flag_beyond_the_status() {
    let p = run();
    let (risk, scores) = created(&p, 9);
    assert_eq!(risk.status, RiskStatus::Closed);
    assert_eq!(risk.response, Response::Tolerate);
    assert_eq!(risk.escalation, Escalation::Service);
    assert_eq!(risk.next_review, day("2027-01-31"));
    assert_eq!(scores, vec![(AssessmentKind::Current, 2, 3)]);
    assert_eq!(
        codes(&at(&p, 9).warnings),
        vec![("H", WarningCode::StatusMapped)]
    );
    // The sheet's own assessment date and assessor, not the import's.
    let Outcome::Create { assessments, .. } = &at(&p, 9).outcome else {
        unreachable!()
    };
    assert_eq!(assessments[0].date, day("2026-09-15"));
    assert_eq!(assessments[0].assessor, "Audit Manager");
    let Outcome::Create { assessments, .. } = &at(&p, 5).outcome else {
        unreachable!()
    };
    assert_eq!(assessments[0].date, today());
    assert_eq!(assessments[0].assessor, "Risk officer");
}

#[test]
fn words_that_cannot_be_mapped_are_flagged_and_the_row_still_arrives() {
    let p = run();
    let (risk, scores) = created(&p, 10);
    assert_eq!(risk.title, "Service vacuum between partners");
    assert_eq!(scores, vec![(AssessmentKind::Current, 4, 4)]);
    // The defaults of a new risk stand where the sheet's words could not be read.
    assert_eq!(risk.response, Response::Treat);
    assert_eq!(risk.status, RiskStatus::Open);
    assert_eq!(risk.escalation, Escalation::Service);
    assert_eq!(risk.next_review, day("2026-12-30"));
    let w = &at(&p, 10).warnings;
    assert_eq!(
        codes(w),
        vec![
            ("G", WarningCode::ResponseUnknown),
            ("H", WarningCode::StatusUnknown),
            ("I", WarningCode::DateMissing),
            ("J", WarningCode::EscalationUnknown),
        ]
    );
    assert!(
        w[0].message
            .starts_with("\"Response\": \"Monitor\" is not a response")
    );
    assert!(
        w[1].message
            .starts_with("\"Status\": \"Parked\" is not a status")
    );
    assert!(
        w[3].message
            .starts_with("\"Reported to\": \"Board\" is not an escalation level")
    );
}

#[test]
fn a_score_alone_makes_no_assessment_and_a_year_is_its_last_day() {
    let p = run();
    let (risk, scores) = created(&p, 12);
    assert!(scores.is_empty());
    assert_eq!(risk.escalation, Escalation::JointManagementTeam);
    assert_eq!(risk.next_review, day("2027-12-31"));
    assert_eq!(
        codes(&at(&p, 12).warnings),
        vec![
            ("F", WarningCode::ScoreWithoutRatings),
            ("I", WarningCode::DateImprecise),
        ]
    );
}

#[test]
fn applying_gives_a_valid_register_with_the_rows_actions() {
    let p = run();
    let mut register = empty_register();
    p.apply_to(&mut register);
    register.check().unwrap();
    assert_eq!(register.risks.len(), 5);
    assert_eq!(register.actions.len(), 3);
    assert_eq!(register.assessments.len(), 4);
    // SR1 went to the committee meanwhile: "Escalated" in the sheet does not bring it down.
    let sr1 = register
        .risks
        .iter_mut()
        .find(|r| r.reference == "SR1")
        .unwrap();
    sr1.escalation = Escalation::Committee;
    // Importing the same sheet again adds nothing: the actions are there by title.
    let table = read_table(&workbook(), Format::Xlsx, None, Default::default()).unwrap();
    let mut ids = counter();
    let again = preview(
        &table,
        &Mapping::guess(&table),
        &register,
        &councils(),
        today(),
        "Risk officer",
        &mut || format!("again-{}", ids()),
    );
    assert_eq!((again.creates, again.updates), (0, 0));
    assert_eq!(again.unchanged, 5);
    // From the service level, the same sheet raises it.
    let sr1 = register
        .risks
        .iter_mut()
        .find(|r| r.reference == "SR1")
        .unwrap();
    sr1.escalation = Escalation::Service;
    let raised = preview(
        &table,
        &Mapping::guess(&table),
        &register,
        &councils(),
        today(),
        "Risk officer",
        &mut counter(),
    );
    let Outcome::Update { changes, .. } = &at(&raised, 5).outcome else {
        panic!("{:?}", at(&raised, 5).outcome)
    };
    let shown: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (c.from.as_str(), c.to.as_str()))
        .collect();
    assert_eq!(shown, [("Service", "Joint management team")]);
}

#[test]
fn warnings_serialise_with_their_column_and_code_for_the_browser() {
    let p = run();
    let json = serde_json::to_value(&p).unwrap();
    let row = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == 6)
        .unwrap();
    assert_eq!(row["warnings"][0]["column"], "F");
    assert_eq!(row["warnings"][0]["code"], "score-mismatch");
    let ignored = &json["rows"][0];
    assert_eq!(ignored["outcome"]["kind"], "ignored");
    assert_eq!(json["ignored"], 3);
}

/// A RAG column councils colour in instead of writing: each colour read by its hue and checked
/// against the matrix's band for likelihood × impact; a word too; a grey stripe is decoration.
#[test]
fn a_rag_column_marked_by_colour_alone_is_read_and_checked() {
    use rust_xlsxwriter::Color;
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    for (c, h) in [
        "Ref",
        "Risk title",
        "Risk owner",
        "Likelihood",
        "Impact",
        "RAG",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let fill = |rgb: u32| CellFormat::new().set_background_color(Color::RGB(rgb));
    // (ref, likelihood, impact, RAG text, RAG fill)
    type Rag<'a> = (&'a str, Option<(f64, f64)>, Option<&'a str>, Option<u32>);
    let rows: [Rag; 6] = [
        ("R1", Some((4.0, 5.0)), None, Some(0xFF_0000)),
        ("R2", Some((1.0, 2.0)), None, Some(0xFF_0000)),
        ("R3", Some((3.0, 3.0)), Some("Amber"), Some(0xFF_C000)),
        ("R4", None, None, Some(0x00_B050)),
        ("R5", Some((1.0, 2.0)), None, Some(0xF2_F2F2)),
        ("R6", Some((1.0, 1.0)), Some("Green"), None),
    ];
    for (i, (reference, pair, text, colour)) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, *reference).unwrap();
        ws.write_string(r, 1, format!("Risk {reference}")).unwrap();
        ws.write_string(r, 2, "Head of Service").unwrap();
        if let Some((l, im)) = pair {
            ws.write_number(r, 3, *l).unwrap();
            ws.write_number(r, 4, *im).unwrap();
        }
        match (text, colour) {
            (Some(t), Some(c)) => ws.write_string_with_format(r, 5, *t, &fill(*c)).map(|_| ()),
            (Some(t), None) => ws.write_string(r, 5, *t).map(|_| ()),
            (None, Some(c)) => ws.write_blank(r, 5, &fill(*c)).map(|_| ()),
            (None, None) => Ok(()),
        }
        .unwrap();
    }
    let bytes = book.save_to_buffer().unwrap();
    let t = read_table(&bytes, Format::Xlsx, None, Default::default()).unwrap();
    let p = preview(
        &t,
        &Mapping::guess(&t),
        &empty_register(),
        &councils(),
        today(),
        "Risk officer",
        &mut counter(),
    );
    let flags: Vec<(u32, Vec<(&str, WarningCode)>)> =
        p.rows.iter().map(|r| (r.row, codes(&r.warnings))).collect();
    assert_eq!(
        flags,
        [
            (2, vec![("F", WarningCode::BandFromColour)]),
            (3, vec![("F", WarningCode::BandMismatch)]),
            (4, vec![("F", WarningCode::BandMismatch)]),
            (5, vec![("F", WarningCode::BandWithoutRatings)]),
            (6, vec![]),
            (7, vec![]),
        ]
    );
    let message = |row: u32| at(&p, row).warnings[0].message.clone();
    assert!(
        message(2).contains("filled red (#FF0000) with no text: read as Very high"),
        "{}",
        message(2)
    );
    assert!(
        message(3).contains("the register keeps Low"),
        "{}",
        message(3)
    );
    // A council whose own bands call 9 Medium: the register's matrix says High, and says so.
    assert!(
        message(4)
            .contains("\"Amber\" is Medium, but the register's matrix puts 3 × 3 = 9 in High"),
        "{}",
        message(4)
    );
    // Every row still arrives: the colour is a flag, never a lost row.
    assert_eq!((p.creates, p.errors), (6, 0));
}
