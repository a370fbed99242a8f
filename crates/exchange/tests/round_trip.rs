//! Export → import round trips, and what the exported workbook holds.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod fixture;

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use domain::documents::risk::{
    ActionStatus, Appetite, AssessmentKind, Escalation, RiskAction, RiskRegister, RiskStatus,
};
use exchange::export;
use exchange::import::{Format, Mapping, Outcome, Preview, preview, read_table};
use fixture::{councils, counter, day, empty_register, today};

/// The fixture's valid rows imported, then made more varied: history, a bearing council,
/// closed and escalated risks, awkward text, actions and appetite.
fn register() -> RiskRegister {
    let t = read_table(
        &fixture::workbook(&fixture::rows()),
        Format::Xlsx,
        None,
        Default::default(),
    )
    .unwrap();
    let mut r = empty_register();
    let mut ids = counter();
    preview(
        &t,
        &Mapping::guess(&t),
        &r.clone(),
        &councils(),
        day("2026-07-01"),
        "Risk officer",
        &mut ids,
    )
    .apply_to(&mut r);
    let first = r.risks[0].id.clone();
    let mut later = r.latest(&first, AssessmentKind::Current).unwrap().clone();
    later.id = "later".into();
    later.likelihood = 1;
    later.date = day("2026-09-30");
    later.reason = "Notice period extended, \"24 months\"".into();
    r.assessments.push(later);
    r.risks[1].bearing_council = Some("org-brockley".into());
    r.risks[1].controls = "Joint plan, agreed by both cabinets;\nreviewed \"annually\"".into();
    r.risks[2].status = RiskStatus::Closed;
    r.risks[3].escalation = Escalation::JointManagementTeam;
    r.risks[4].review_frequency_days = 30;
    r.actions.push(RiskAction {
        id: "act-1".into(),
        risk_id: first.clone(),
        title: "Agree exit terms in the partnership agreement".into(),
        owner: "Monitoring Officer".into(),
        council: "org-ashby".into(),
        due: day("2026-11-30"),
        status: ActionStatus::InProgress,
        expected_effect: "Likelihood down one step".into(),
    });
    r.appetite.push(Appetite {
        category: "Partnership".into(),
        max_score: 9,
        statement: "Cautious".into(),
    });
    assert_eq!(r.check(), Ok(()));
    r
}

fn import(bytes: &[u8], format: Format, into: &RiskRegister) -> Preview {
    let t = read_table(bytes, format, None, Default::default()).unwrap();
    let mut ids = counter();
    preview(
        &t,
        &Mapping::guess(&t),
        into,
        &councils(),
        today(),
        "Risk officer",
        &mut ids,
    )
}

fn round_trip(bytes: &[u8], format: Format) {
    let original = register();
    let n = original.risks.len();

    // Into a copy of the same register: nothing to do.
    let p = import(bytes, format, &original);
    let not_unchanged: Vec<_> = p
        .rows
        .iter()
        .filter(|r| r.outcome != Outcome::Unchanged)
        .collect();
    assert!(not_unchanged.is_empty(), "{not_unchanged:#?}");
    assert_eq!((p.errors, p.creates, p.updates, p.unchanged), (0, 0, 0, n));

    // Into an empty register with the same matrix: the same risks again.
    let mut fresh = RiskRegister {
        matrix: original.matrix.clone(),
        ..empty_register()
    };
    let p = import(bytes, format, &fresh);
    assert_eq!((p.errors, p.creates), (0, n), "{:#?}", p.rows);
    p.apply_to(&mut fresh);
    assert_eq!(fresh.check(), Ok(()));
    assert_eq!(fresh.risks.len(), n);
    for (a, b) in original.risks.iter().zip(&fresh.risks) {
        let mut b2 = b.clone();
        b2.id = a.id.clone();
        assert_eq!(*a, b2, "{} should come back the same", a.reference);
        for kind in [
            AssessmentKind::Inherent,
            AssessmentKind::Current,
            AssessmentKind::Target,
        ] {
            let score =
                |r: &RiskRegister, id: &str| r.latest(id, kind).map(|s| (s.likelihood, s.impact));
            assert_eq!(
                score(&original, &a.id),
                score(&fresh, &b.id),
                "{} {kind:?}",
                a.reference
            );
        }
    }
}

#[test]
fn exported_xlsx_round_trips() {
    let bytes = export::xlsx(&register(), &councils(), fixture::TITLE, None).unwrap();
    round_trip(&bytes, Format::Xlsx);
}

#[test]
fn exported_csv_round_trips() {
    let csv = export::csv(&register(), &councils());
    round_trip(csv.as_bytes(), Format::Csv);
}

fn sheet(book: &mut Xlsx<Cursor<Vec<u8>>>, name: &str) -> calamine::Range<Data> {
    book.worksheet_range(name).unwrap()
}

fn text(range: &calamine::Range<Data>, row: u32, col: u32) -> String {
    range
        .get_value((row, col))
        .map(|d| d.to_string())
        .unwrap_or_default()
}

#[test]
fn the_workbook_has_a_sheet_per_entity_with_bands_as_text_and_colour() {
    let reg = register();
    let bytes = export::xlsx(&reg, &councils(), fixture::TITLE, None).unwrap();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    assert_eq!(
        book.sheet_names(),
        ["Risks", "Assessments", "Actions", "Matrix", "Appetite"]
    );

    let risks = sheet(&mut book, "Risks");
    let header: Vec<String> = (0..risks.width() as u32)
        .map(|c| text(&risks, 0, c))
        .collect();
    assert_eq!(header[..3], ["Ref", "Risk title", "Cause"]);
    assert!(header.contains(&"Current band".to_owned()));
    assert!(header.contains(&"Direction of travel (computed)".to_owned()));
    assert!(header.contains(&"Stated direction of travel".to_owned()));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap() as u32;
    // SP-01: current 1 × 5 after the later assessment, inherent 3 × 5.
    assert_eq!(text(&risks, 1, col("Ref")), "SP-01");
    assert_eq!(text(&risks, 1, col("Current score")), "5");
    assert_eq!(text(&risks, 1, col("Current band")), "Medium");
    assert_eq!(text(&risks, 1, col("Inherent band")), "Very high");
    assert_eq!(
        text(&risks, 1, col("Direction of travel (computed)")),
        "Improving"
    );
    assert_eq!(
        text(&risks, 1, col("Owning councils")),
        "Ashby District Council, Brockley Borough Council"
    );
    assert_eq!(
        text(&risks, 2, col("Bearing council")),
        "Brockley Borough Council"
    );
    // Dates are real dates, not text.
    assert!(matches!(
        risks.get_value((1, col("Date identified"))),
        Some(Data::DateTime(_))
    ));

    // The band cell is filled with the band colour as well as labelled.
    let styles = book.worksheet_style("Risks").unwrap();
    let fill = |row, c| {
        styles
            .get((row, c))
            .and_then(|s| s.fill.as_ref())
            .and_then(|f| f.get_color())
            .map(|c| c.to_argb() & 0xFF_FFFF)
    };
    assert_eq!(fill(1, col("Inherent band")), Some(0xd4_351c));
    assert_eq!(fill(1, col("Current band")), Some(0xff_dd00));
    let bold = styles
        .get((0, 0))
        .and_then(|s| s.font.as_ref())
        .is_some_and(|f| f.is_bold());
    assert!(bold, "the header row is bold");

    let history = sheet(&mut book, "Assessments");
    assert_eq!(text(&history, 0, 2), "Assessment");
    assert_eq!(
        history.height() - 1,
        reg.assessments.len(),
        "every assessment, not just the latest"
    );
    // SP-01's two current assessments, oldest first.
    let sp01_current: Vec<String> = (1..history.height() as u32)
        .filter(|r| text(&history, *r, 0) == "SP-01" && text(&history, *r, 2) == "Current")
        .map(|r| text(&history, r, 3))
        .collect();
    assert_eq!(sp01_current, ["2", "1"]);

    let actions = sheet(&mut book, "Actions");
    assert_eq!(text(&actions, 1, 0), "SP-01");
    assert_eq!(text(&actions, 1, 4), "Ashby District Council");
    assert_eq!(text(&actions, 1, 6), "In progress");

    let matrix = sheet(&mut book, "Matrix");
    assert_eq!(text(&matrix, 0, 5), "5 Critical");
    assert_eq!(text(&matrix, 1, 0), "5 Almost certain");
    assert_eq!(text(&matrix, 1, 5), "Very high", "likelihood 5 × impact 5");
    assert_eq!(text(&matrix, 5, 1), "Low", "likelihood 1 × impact 1");
    let mstyles = book.worksheet_style("Matrix").unwrap();
    let mfill = mstyles
        .get((1, 5))
        .and_then(|s| s.fill.as_ref())
        .and_then(|f| f.get_color())
        .map(|c| c.to_argb() & 0xFF_FFFF);
    assert_eq!(mfill, Some(0xd4_351c));

    let appetite = sheet(&mut book, "Appetite");
    assert_eq!(text(&appetite, 0, 1), "Maximum score");
    assert_eq!(text(&appetite, 1, 0), "Partnership");

    // Another sheet can be read by name.
    let t = read_table(
        &bytes_again(&reg),
        Format::Xlsx,
        Some("Actions"),
        Default::default(),
    )
    .unwrap();
    assert_eq!(t.headers[2], "Action");
    assert_eq!(t.rows.len(), 1);
    assert_eq!(
        read_table(
            &bytes_again(&reg),
            Format::Xlsx,
            Some("Risks 2"),
            Default::default()
        ),
        Err(exchange::import::ImportError::NoSuchSheet("Risks 2".into()))
    );

    // The header row repeats on every printed page of every sheet.
    let names = book.defined_names().to_vec();
    for s in ["Risks", "Assessments", "Actions", "Matrix", "Appetite"] {
        assert!(
            names
                .iter()
                .any(|(n, v)| n == "_xlnm.Print_Titles" && v.contains(s) && v.contains("$1:$1")),
            "{s}: {names:?}"
        );
    }
}

fn bytes_again(reg: &RiskRegister) -> Vec<u8> {
    export::xlsx(reg, &councils(), fixture::TITLE, None).unwrap()
}

#[test]
fn csv_has_the_same_columns_and_quotes_awkward_text() {
    let reg = register();
    let csv = export::csv(&reg, &councils());
    let bytes = export::xlsx(&reg, &councils(), fixture::TITLE, None).unwrap();
    let x = read_table(&bytes, Format::Xlsx, None, Default::default()).unwrap();
    let c = read_table(csv.as_bytes(), Format::Csv, None, Default::default()).unwrap();
    assert_eq!(x.headers, c.headers);
    assert!(csv.contains("\"Joint plan, agreed by both cabinets;\nreviewed \"\"annually\"\"\""));
    assert_eq!(
        csv.lines().next().map(|l| l.starts_with("Ref,Risk title,")),
        Some(true)
    );
}

/// A title that a spreadsheet would run as a formula is exported as text and imported back
/// unchanged.
#[test]
fn csv_export_defuses_formulas_and_import_restores_them() {
    let mut reg = register();
    reg.risks[0].title = "=HYPERLINK(\"http://evil\",\"click\")".into();
    reg.risks[1].owner = "-Head of Finance".into();
    let csv = export::csv(&reg, &councils());
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(
        !csv.lines()
            .any(|l| l.split(',').any(|c| c.starts_with('=')))
    );
    let mut empty = reg.clone();
    empty.risks.clear();
    empty.assessments.clear();
    empty.actions.clear();
    let t = read_table(csv.as_bytes(), Format::Csv, None, Default::default()).unwrap();
    let p = exchange::import::preview(
        &t,
        &exchange::import::Mapping::guess(&t),
        &empty,
        &councils(),
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        "tester",
        &mut {
            let mut n = 0;
            move || {
                n += 1;
                format!("id-{n}")
            }
        },
    );
    let mut back = empty.clone();
    p.apply_to(&mut back);
    assert_eq!(back.risks[0].title, reg.risks[0].title);
    assert_eq!(back.risks[1].owner, reg.risks[1].owner);
}
