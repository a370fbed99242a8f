//! SLA workbooks as councils keep them: a cover sheet, a KPI sheet with a column per month
//! (some headings real dates, some text), "n/a" and "awaiting data" where a figure would be,
//! targets written as "≥ 97%" or "20 days", amber thresholds instead of tolerances, section
//! rows, and a cost sheet with a column per council by initials. Asserted row by row; then
//! export → import into an empty SLA reproduces the content, as a workbook and as CSV.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod fixture;

use std::collections::BTreeMap;

use domain::documents::sla::{
    Basis, CostShare, Frequency, Kpi, Measurement, PartnersFigures, Polarity, SavingsLine, Sla,
    TimeAllocation,
};
use exchange::import::{Format, WarningCode};
use exchange::sla::{
    Action, SheetKind, SlaField, SlaMapping, SlaOutcome, SlaPreview, export, preview_sla, read_sla,
};
use fixture::{councils, counter};
use proptest::prelude::*;
use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};

fn existing() -> (Sla, PartnersFigures) {
    let mut sla = Sla::empty();
    sla.kpis.push(Kpi {
        id: "kpi-rb1".into(),
        name: "RB1 Average days to process new claims".into(),
        polarity: Polarity::LowerIsBetter,
        frequency: Frequency::Monthly,
        unit: "days".into(),
        baseline: None,
        target: 20.0,
        amber_tolerance: 5.0,
        council_shares: BTreeMap::new(),
    });
    sla.measurements.push(Measurement {
        id: "m-rb1-apr".into(),
        kpi_id: "kpi-rb1".into(),
        period: "2026-04".into(),
        actual: 19.0,
        commentary: String::new(),
        corrective_action: String::new(),
    });
    (sla, PartnersFigures::default())
}

/// The council's quarterly SLA return, as a workbook.
fn council_workbook() -> Vec<u8> {
    let mut book = Workbook::new();
    let cover = book.add_worksheet();
    cover.set_name("Cover").unwrap();
    cover
        .write_string(0, 0, "Revenues & Benefits shared service — SLA monitoring")
        .unwrap();
    cover
        .write_string(2, 0, "Prepared for the Joint Committee, Q1 2026/27")
        .unwrap();

    let k = book.add_worksheet();
    k.set_name("KPIs 2026-27").unwrap();
    k.write_string(0, 0, "KPI monitoring 2026/27").unwrap();
    let date = XFormat::new().set_num_format("mmm-yy");
    for (c, h) in [
        "Ref",
        "Performance indicator",
        "Good is",
        "Target",
        "Amber threshold",
    ]
    .iter()
    .enumerate()
    {
        k.write_string(2, c as u16, *h).unwrap();
    }
    // April and May as real dates formatted "Apr-26"; June typed as text.
    k.write_datetime_with_format(2, 5, ExcelDateTime::from_ymd(2026, 4, 1).unwrap(), &date)
        .unwrap();
    k.write_datetime_with_format(2, 6, ExcelDateTime::from_ymd(2026, 5, 1).unwrap(), &date)
        .unwrap();
    k.write_string(2, 7, "Jun-26").unwrap();
    k.write_string(2, 8, "Commentary").unwrap();
    let text = |k: &mut rust_xlsxwriter::Worksheet, r: u32, c: u16, s: &str| {
        k.write_string(r, c, s).unwrap();
    };
    let num = |k: &mut rust_xlsxwriter::Worksheet, r: u32, c: u16, n: f64| {
        k.write_number(r, c, n).unwrap();
    };
    // Row 4: a section heading.
    text(k, 3, 0, "Benefits");
    // Row 5: an existing KPI (by ref and name), April corrected, May "n/a", June as text.
    text(k, 4, 0, "RB1");
    text(k, 4, 1, "Average days to process new claims");
    text(k, 4, 2, "Low");
    text(k, 4, 3, "20 days");
    num(k, 4, 4, 25.0);
    num(k, 4, 5, 18.5);
    text(k, 4, 6, "n/a");
    text(k, 4, 7, "22");
    text(k, 4, 8, "Two vacancies in June");
    // Row 6: a new KPI whose polarity is in its target ("≥ 97%").
    text(k, 5, 0, "RB2");
    text(k, 5, 1, "Council tax collected in year (%)");
    text(k, 5, 3, "≥ 97%");
    text(k, 5, 4, "95%");
    text(k, 5, 5, "9.8%");
    num(k, 5, 6, 18.9);
    text(k, 5, 7, "awaiting data");
    // Row 7: a section heading, then a KPI with a polarity word not understood.
    text(k, 6, 0, "Human resources");
    text(k, 7, 0, "HR1");
    text(k, 7, 1, "Sickness days per FTE");
    text(k, 7, 2, "sideways");
    num(k, 7, 3, 8.0);
    num(k, 7, 4, 9.0);
    num(k, 7, 5, 0.7);
    num(k, 7, 6, 0.6);
    num(k, 7, 7, 0.8);
    // Row 9: figures with no name; row 10: no target; row 11: RB2 again.
    num(k, 8, 5, 3.0);
    num(k, 8, 6, 4.0);
    text(k, 9, 1, "Calls answered within 60 seconds");
    num(k, 9, 5, 80.0);
    text(k, 10, 0, "RB2");
    text(k, 10, 1, "Council tax collected in year (%)");
    num(k, 10, 3, 97.0);

    let c = book.add_worksheet();
    c.set_name("Costs").unwrap();
    for (i, h) in [
        "Cost line",
        "Basis",
        "Budget 2026/27",
        "ADC",
        "BBC",
        "Shared with guests",
    ]
    .iter()
    .enumerate()
    {
        c.write_string(0, i as u16, *h).unwrap();
    }
    text(c, 1, 0, "Revenues & benefits team");
    text(c, 1, 1, "Caseload");
    text(c, 1, 2, "£1,200,000");
    num(c, 1, 3, 6_000.0);
    num(c, 1, 4, 4_000.0);
    text(c, 1, 5, "No");
    text(c, 2, 0, "Shared ICT licences");
    text(c, 2, 1, "50/50");
    text(c, 2, 2, "£45k");
    text(c, 2, 5, "Yes");
    text(c, 3, 0, "Fraud team");
    text(c, 3, 1, "Population");
    num(c, 3, 2, 80_000.0);
    text(c, 4, 0, "Total");
    num(c, 4, 2, 1_325_000.0);
    book.save_to_buffer().unwrap()
}

fn preview(bytes: &[u8], format: Format, sla: &Sla, figures: &PartnersFigures) -> SlaPreview {
    let book = read_sla(bytes, format, Default::default(), &councils(), None).unwrap();
    preview_sla(&book, sla, figures, &councils(), &mut counter())
}

fn row<'a>(p: &'a SlaPreview, sheet: &str, n: u32) -> &'a exchange::sla::SlaRowPreview {
    p.rows
        .iter()
        .find(|r| r.sheet == sheet && r.row == n)
        .unwrap_or_else(|| panic!("no row {n} of {sheet}"))
}

fn codes(r: &exchange::sla::SlaRowPreview) -> Vec<(String, WarningCode)> {
    r.warnings
        .iter()
        .map(|w| (w.column.clone(), w.code))
        .collect()
}

#[test]
fn a_council_sla_workbook_row_by_row() {
    let (sla, figures) = existing();
    let p = preview(&council_workbook(), Format::Xlsx, &sla, &figures);

    let kinds: Vec<(&str, Option<SheetKind>)> =
        p.sheets.iter().map(|s| (s.name.as_str(), s.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("Cover", None),
            ("KPIs 2026-27", Some(SheetKind::Kpis)),
            ("Costs", Some(SheetKind::CostShares))
        ]
    );
    assert!(
        p.sheets[0]
            .note
            .as_deref()
            .unwrap()
            .contains("not imported")
    );
    let kpis = &p.sheets[1];
    assert_eq!(kpis.header_row, Some(3));
    let fields: Vec<(&str, &str, SlaField)> = kpis
        .columns
        .iter()
        .map(|c| (c.column.as_str(), c.heading.as_str(), c.field.clone()))
        .collect();
    assert_eq!(
        fields,
        [
            ("A", "Ref", SlaField::Reference),
            ("B", "Performance indicator", SlaField::Kpi),
            ("C", "Good is", SlaField::Polarity),
            ("D", "Target", SlaField::Target),
            ("E", "Amber threshold", SlaField::AmberThreshold),
            ("F", "Apr 2026", SlaField::Figures("2026-04".into())),
            ("G", "May 2026", SlaField::Figures("2026-05".into())),
            ("H", "Jun-26", SlaField::Figures("2026-06".into())),
            ("I", "Commentary", SlaField::Commentary),
        ]
    );

    // Section rows are ignored, with their text.
    for (n, text) in [(4, "Benefits"), (7, "Human resources")] {
        assert_eq!(
            row(&p, "KPIs 2026-27", n).outcome,
            SlaOutcome::Ignored { text: text.into() }
        );
    }

    // RB1: the KPI is unchanged; April corrected (update), May "n/a" (flagged), June new,
    // with the row's commentary on June, the latest figure.
    let rb1 = row(&p, "KPIs 2026-27", 5);
    assert_eq!(
        rb1.label.as_deref(),
        Some("RB1 Average days to process new claims")
    );
    let SlaOutcome::Kpi {
        action,
        kpi,
        changes,
        measurements,
    } = &rb1.outcome
    else {
        panic!("{:?}", rb1.outcome)
    };
    assert_eq!((*action, kpi.id.as_str()), (Action::Unchanged, "kpi-rb1"));
    assert!(changes.is_empty(), "{changes:?}");
    let ms: Vec<(Action, &str, f64, Option<f64>, &str)> = measurements
        .iter()
        .map(|m| {
            (
                m.action,
                m.measurement.period.as_str(),
                m.measurement.actual,
                m.from,
                m.measurement.commentary.as_str(),
            )
        })
        .collect();
    assert_eq!(
        ms,
        [
            (Action::Update, "2026-04", 18.5, Some(19.0), ""),
            (
                Action::Create,
                "2026-06",
                22.0,
                None,
                "Two vacancies in June"
            ),
        ]
    );
    assert_eq!(codes(rb1), [("G".into(), WarningCode::NoFigure)]);
    assert!(
        rb1.warnings[0].message.contains("May 2026"),
        "{:?}",
        rb1.warnings
    );

    // RB2: new; higher is better from "≥ 97%" (no warning for that); tolerance from the
    // amber threshold; "awaiting data" flagged in its cell.
    let rb2 = row(&p, "KPIs 2026-27", 6);
    let SlaOutcome::Kpi {
        action,
        kpi,
        measurements,
        ..
    } = &rb2.outcome
    else {
        panic!("{:?}", rb2.outcome)
    };
    assert_eq!(*action, Action::Create);
    assert_eq!(kpi.name, "RB2 Council tax collected in year (%)");
    assert_eq!(kpi.polarity, Polarity::HigherIsBetter);
    assert_eq!(kpi.frequency, Frequency::Monthly);
    assert_eq!((kpi.target, kpi.amber_tolerance), (97.0, 2.0));
    let ms: Vec<(&str, f64)> = measurements
        .iter()
        .map(|m| (m.measurement.period.as_str(), m.measurement.actual))
        .collect();
    assert_eq!(ms, [("2026-04", 9.8), ("2026-05", 18.9)]);
    assert_eq!(codes(rb2), [("H".into(), WarningCode::NoFigure)]);
    assert!(rb2.warnings[0].message.contains("awaiting data"));

    // HR1: "sideways" is flagged; lower is better worked out from threshold 9 over target 8.
    let hr1 = row(&p, "KPIs 2026-27", 8);
    let SlaOutcome::Kpi { kpi, .. } = &hr1.outcome else {
        panic!("{:?}", hr1.outcome)
    };
    assert_eq!(kpi.polarity, Polarity::LowerIsBetter);
    assert_eq!(kpi.amber_tolerance, 1.0);
    assert_eq!(codes(hr1), [("C".into(), WarningCode::PolarityAssumed)]);

    // Refusals, each with its reason.
    let problems = |n: u32| match &row(&p, "KPIs 2026-27", n).outcome {
        SlaOutcome::Error { problems } => problems.join("; "),
        other => panic!("row {n}: {other:?}"),
    };
    assert!(problems(9).contains("name is blank"), "{}", problems(9));
    assert!(problems(10).contains("needs a target"), "{}", problems(10));
    assert!(
        problems(11).contains("already in this file"),
        "{}",
        problems(11)
    );

    // Costs: caseload drivers by council initials; "50/50" an equal split between both
    // councils; "Population" refused; the total row ignored.
    let line = |n: u32| match &row(&p, "Costs", n).outcome {
        SlaOutcome::CostShare {
            action,
            line,
            shared_with_guests,
            ..
        } => (*action, line.clone(), *shared_with_guests),
        other => panic!("row {n}: {other:?}"),
    };
    let (action, team, shared) = line(2);
    assert_eq!((action, shared), (Action::Create, false));
    assert_eq!(team.basis, Basis::Caseload);
    assert_eq!(team.total_estimate, 120_000_000);
    assert_eq!(
        team.estimate_drivers,
        BTreeMap::from([
            ("org-ashby".to_owned(), 6_000.0),
            ("org-brockley".to_owned(), 4_000.0)
        ])
    );
    let (_, ict, shared) = line(3);
    assert!(shared);
    assert_eq!((ict.basis, ict.total_estimate), (Basis::Equal, 4_500_000));
    assert_eq!(ict.estimate_drivers.len(), 2);
    match &row(&p, "Costs", 4).outcome {
        SlaOutcome::Error { problems } => assert!(problems[0].contains("\"Population\"")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        row(&p, "Costs", 5).outcome,
        SlaOutcome::Ignored { .. }
    ));

    // The counts say the same.
    assert_eq!(
        (p.kpis.creates, p.kpis.updates, p.kpis.unchanged),
        (2, 0, 1)
    );
    assert_eq!(
        (
            p.measurements.creates,
            p.measurements.updates,
            p.measurements.unchanged
        ),
        (6, 1, 0)
    );
    assert_eq!((p.cost_shares.creates, p.errors, p.ignored), (2, 4, 3));
    assert_eq!(p.warnings, 3);

    // Applied: the SLA holds what the preview said, and keeps its rules.
    let (mut after, mut figs) = (sla.clone(), figures.clone());
    p.apply_to(&mut after, &mut figs);
    after.check().unwrap();
    assert_eq!(after.kpis.len(), 3);
    assert_eq!(after.measurements.len(), 7);
    let apr = after
        .measurements
        .iter()
        .find(|m| m.id == "m-rb1-apr")
        .unwrap();
    assert_eq!(apr.actual, 18.5);
    assert_eq!(after.cost_shares.len(), 1, "the shared line is in the SLA");
    assert_eq!(
        figs.cost_shares.len(),
        1,
        "the other in the partners' figures"
    );
    // Applying the same file again changes nothing.
    let again = preview(&council_workbook(), Format::Xlsx, &after, &figs);
    assert!(!again.changes_anything(), "{:?}", again.rows);
}

#[test]
fn a_mapping_sent_back_names_a_column_and_a_council() {
    // A heading the import cannot place ("Wk 1"), mapped by hand to a period, and a driver
    // column named by the council's short name.
    let csv = "KPI,Target,Polarity,Wk 1\nCalls answered,80,Higher,75\n";
    let mapping = SlaMapping {
        sheets: BTreeMap::from([(
            "CSV".to_owned(),
            BTreeMap::from([
                ("A".to_owned(), SlaField::Kpi),
                ("B".to_owned(), SlaField::Target),
                ("C".to_owned(), SlaField::Polarity),
                ("D".to_owned(), SlaField::Figures("2026-04".into())),
            ]),
        )]),
    };
    let json = serde_json::to_value(&mapping).unwrap();
    assert_eq!(json["sheets"]["CSV"]["D"], "period:2026-04");
    let back: SlaMapping = serde_json::from_value(json).unwrap();
    let book = read_sla(
        csv.as_bytes(),
        Format::Csv,
        Default::default(),
        &councils(),
        Some(&back),
    )
    .unwrap();
    let (sla, figures) = (Sla::empty(), PartnersFigures::default());
    let p = preview_sla(&book, &sla, &figures, &councils(), &mut counter());
    let SlaOutcome::Kpi { measurements, .. } = &p.rows[0].outcome else {
        panic!("{:?}", p.rows)
    };
    assert_eq!(measurements[0].measurement.period, "2026-04");
    assert_eq!(measurements[0].measurement.actual, 75.0);
    // A period that is not one, in a mapping, is refused with the reason.
    let bad: Result<SlaField, _> = serde_json::from_value(serde_json::json!("period:week 1"));
    assert!(bad.unwrap_err().to_string().contains("not a period"));
    let driver: SlaField = serde_json::from_value(serde_json::json!("driver:BBC")).unwrap();
    let mapping = SlaMapping {
        sheets: BTreeMap::from([(
            "CSV".to_owned(),
            BTreeMap::from([
                ("A".to_owned(), SlaField::CostLine),
                ("B".to_owned(), SlaField::Basis),
                ("C".to_owned(), SlaField::TotalEstimate),
                ("D".to_owned(), driver),
            ]),
        )]),
    };
    let csv = "Item,How split,Cost,Brockley share\nPayroll,Headcount,1000,7\n";
    let book = read_sla(
        csv.as_bytes(),
        Format::Csv,
        Default::default(),
        &councils(),
        Some(&mapping),
    );
    // The header is still found by its words ("Item", "Cost" and a council): the mapping
    // then says what each column is.
    let book = book.unwrap();
    let p = preview_sla(&book, &sla, &figures, &councils(), &mut counter());
    let SlaOutcome::CostShare { line, .. } = &p.rows[0].outcome else {
        panic!("{:?}", p.rows)
    };
    assert_eq!(
        line.estimate_drivers,
        BTreeMap::from([("org-brockley".to_owned(), 7.0)])
    );
}

/// A KPI to build: name, higher is better, frequency (0–2), target, tolerance, and its figures
/// as (month, actual, commentary).
type KpiSpec = (String, bool, u8, f64, f64, Vec<(u8, f64, String)>);

/// An SLA with `n` KPIs, each with some months of figures (awkward text in commentary), and
/// cost lines shared and kept.
fn sla_of(kpis: &[KpiSpec]) -> (Sla, PartnersFigures) {
    let mut sla = Sla::empty();
    for (i, (name, higher, freq, target, tol, ms)) in kpis.iter().enumerate() {
        sla.kpis.push(Kpi {
            id: format!("k{i}"),
            name: name.clone(),
            polarity: if *higher {
                Polarity::HigherIsBetter
            } else {
                Polarity::LowerIsBetter
            },
            frequency: match freq % 3 {
                0 => Frequency::Monthly,
                1 => Frequency::Quarterly,
                _ => Frequency::Annual,
            },
            unit: if i % 2 == 0 {
                "%".into()
            } else {
                "days".into()
            },
            baseline: (i % 3 == 0).then_some(*target - 1.5),
            target: *target,
            amber_tolerance: *tol,
            // Every other KPI shares its target between the councils.
            council_shares: if i % 2 == 1 {
                BTreeMap::from([("org-ashby".into(), 60.0), ("org-brockley".into(), 40.5)])
            } else {
                BTreeMap::new()
            },
        });
        for (j, (month, actual, comment)) in ms.iter().enumerate() {
            sla.measurements.push(Measurement {
                id: format!("m{i}-{j}"),
                kpi_id: format!("k{i}"),
                period: format!("2026-{:02}", month),
                actual: *actual,
                commentary: comment.clone(),
                corrective_action: if j % 2 == 1 {
                    "Agency staff from August".into()
                } else {
                    String::new()
                },
            });
        }
    }
    // The agreement's terms, and a shared post and a saving that guests see.
    sla.provider = "org-ashby".into();
    sla.client = "org-brockley".into();
    sla.specification = "Revenues and benefits, \"end to end\"".into();
    sla.term_start = chrono::NaiveDate::from_ymd_opt(2026, 4, 1);
    sla.term_end = chrono::NaiveDate::from_ymd_opt(2029, 3, 31);
    sla.review_date = chrono::NaiveDate::from_ymd_opt(2027, 9, 30);
    sla.dispute_clause = "Referred to the chief executives,\nthen to mediation".into();
    sla.exit_clause = "Twelve months' notice".into();
    sla.time_allocations.push(TimeAllocation {
        id: "t-shared".into(),
        post: "Revenues manager".into(),
        planned: BTreeMap::from([("org-ashby".into(), 50.0), ("org-brockley".into(), 50.0)]),
        actual: BTreeMap::from([("org-ashby".into(), 55.5)]),
    });
    sla.savings.push(SavingsLine {
        description: "Shared software licences".into(),
        by_council: BTreeMap::from([("org-brockley".into(), 1_234_567)]),
    });
    sla.cost_shares.push(CostShare {
        id: "c-shared".into(),
        description: "Shared ICT licences".into(),
        basis: Basis::Equal,
        total_estimate: 4_500_000,
        total_actual: Some(4_612_345),
        estimate_drivers: BTreeMap::from([("org-ashby".into(), 1.0), ("org-brockley".into(), 1.0)]),
        actual_drivers: BTreeMap::new(),
        rebase_tolerance_points: 0.0,
    });
    let figures = PartnersFigures {
        sla: "sla".into(),
        cost_shares: vec![CostShare {
            id: "c-kept".into(),
            description: "Revenues & benefits team".into(),
            basis: Basis::Caseload,
            total_estimate: 120_000_001,
            total_actual: None,
            estimate_drivers: BTreeMap::from([
                ("org-ashby".into(), 6_000.5),
                ("org-brockley".into(), 4_000.0),
            ]),
            actual_drivers: BTreeMap::from([("org-ashby".into(), 6_100.0)]),
            rebase_tolerance_points: 2.5,
        }],
        time_allocations: vec![TimeAllocation {
            id: "t".into(),
            post: "Director".into(),
            planned: BTreeMap::from([("org-ashby".into(), 60.0), ("org-brockley".into(), 40.0)]),
            actual: BTreeMap::new(),
        }],
        savings: vec![SavingsLine {
            description: "One head of service".into(),
            by_council: BTreeMap::from([("org-ashby".into(), 4_000_000)]),
        }],
    };
    (sla, figures)
}

/// What must survive a round trip: everything but ids (KPIs by name, measurements by KPI
/// name and period, cost lines by description and where they are kept).
fn content(sla: &Sla, figures: &PartnersFigures) -> serde_json::Value {
    let name = |id: &str| {
        sla.kpis
            .iter()
            .find(|k| k.id == id)
            .map(|k| k.name.clone())
            .unwrap_or_default()
    };
    let kpis: Vec<serde_json::Value> = sla
        .kpis
        .iter()
        .map(|k| {
            let mut v = serde_json::to_value(k).unwrap();
            v.as_object_mut().unwrap().remove("id");
            v
        })
        .collect();
    let mut ms: Vec<serde_json::Value> = sla
        .measurements
        .iter()
        .map(|m| {
            let mut v = serde_json::to_value(m).unwrap();
            v.as_object_mut().unwrap().remove("id");
            v["kpiId"] = serde_json::Value::String(name(&m.kpi_id));
            v
        })
        .collect();
    ms.sort_by_key(|v| v.to_string());
    let posts = |ts: &[TimeAllocation]| -> Vec<serde_json::Value> {
        ts.iter()
            .map(|t| {
                let mut v = serde_json::to_value(t).unwrap();
                v.as_object_mut().unwrap().remove("id");
                v
            })
            .collect()
    };
    let lines = |ls: &[CostShare]| -> Vec<serde_json::Value> {
        ls.iter()
            .map(|c| {
                let mut v = serde_json::to_value(c).unwrap();
                v.as_object_mut().unwrap().remove("id");
                v
            })
            .collect()
    };
    serde_json::json!({
        "kpis": kpis,
        "measurements": ms,
        "shared": lines(&sla.cost_shares),
        "kept": lines(&figures.cost_shares),
        "posts": [posts(&sla.time_allocations), posts(&figures.time_allocations)],
        "savings": [&sla.savings, &figures.savings],
        "terms": [&sla.provider, &sla.client, &sla.specification, sla.term_start, sla.term_end,
                  sla.review_date, &sla.dispute_clause, &sla.exit_clause],
    })
}

fn round_trip_xlsx(sla: &Sla, figures: &PartnersFigures) -> (SlaPreview, Sla, PartnersFigures) {
    let bytes = export::xlsx(sla, Some(figures), &councils(), "SLA", None).unwrap();
    let (mut to, mut figs) = (Sla::empty(), PartnersFigures::default());
    let p = preview(&bytes, Format::Xlsx, &to, &figs);
    p.apply_to(&mut to, &mut figs);
    (p, to, figs)
}

#[test]
fn an_exported_workbook_imports_back_as_the_same_sla() {
    let (sla, figures) = sla_of(&[
        (
            "Average days to process new claims".into(),
            false,
            0,
            20.0,
            5.0,
            vec![
                (4, 18.5, "On target".into()),
                (5, 21.25, "=SUM(A1) \"quoted\", two\nlines".into()),
            ],
        ),
        (
            "Calls answered within 60s".into(),
            true,
            1,
            80.0,
            0.0,
            vec![],
        ),
    ]);
    let (p, to, figs) = round_trip_xlsx(&sla, &figures);
    assert_eq!(p.errors, 0, "{:?}", p.rows);
    let kinds: Vec<(&str, Option<SheetKind>)> =
        p.sheets.iter().map(|s| (s.name.as_str(), s.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("Agreement", Some(SheetKind::Agreement)),
            ("KPIs", Some(SheetKind::Kpis)),
            ("Measurements", Some(SheetKind::Measurements)),
            ("Cost shares", Some(SheetKind::CostShares)),
            ("Time allocation", Some(SheetKind::TimeAllocations)),
            ("Savings", Some(SheetKind::Savings)),
        ]
    );
    to.check().unwrap();
    assert_eq!(content(&to, &figs), content(&sla, &figures));
}

#[test]
fn an_exported_csv_imports_back_as_the_same_kpis_and_measurements() {
    let (sla, _) = sla_of(&[
        (
            "Average days to process new claims".into(),
            false,
            0,
            20.0,
            5.0,
            vec![
                (4, 18.5, "-3 on last year".into()),
                (5, 21.0, String::new()),
            ],
        ),
        (
            "Calls answered within 60s".into(),
            true,
            2,
            80.0,
            2.5,
            vec![],
        ),
    ]);
    let csv = export::csv(&sla, &councils());
    let (mut to, mut figs) = (Sla::empty(), PartnersFigures::default());
    let p = preview(csv.as_bytes(), Format::Csv, &to, &figs);
    assert_eq!(p.errors, 0, "{:?}", p.rows);
    p.apply_to(&mut to, &mut figs);
    // A CSV holds one table: the KPIs and their figures, not the terms, posts or savings.
    let mut want = Sla {
        kpis: sla.kpis.clone(),
        measurements: sla.measurements.clone(),
        ..Sla::empty()
    };
    want.cost_shares.clear();
    assert_eq!(
        content(&to, &PartnersFigures::default()),
        content(&want, &PartnersFigures::default())
    );
}

fn kpi_strategy() -> impl Strategy<Value = KpiSpec> {
    (
        "[A-Za-z][A-Za-z0-9 ()%&-]{0,30}[A-Za-z0-9)]",
        any::<bool>(),
        0u8..3,
        (0i32..100_000).prop_map(|n| f64::from(n) / 100.0),
        (0i32..1_000).prop_map(|n| f64::from(n) / 10.0),
        proptest::collection::btree_map(1u8..=12, ((-1000i32..100_000), "[ -~]{0,20}"), 0..6)
            .prop_map(|m| {
                m.into_iter()
                    .map(|(month, (n, c))| (month, f64::from(n) / 100.0, c.trim().to_owned()))
                    .collect()
            }),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    /// Random SLAs (names, polarity, frequency, targets, tolerances, figures with awkward
    /// commentary) → workbook → import into an empty SLA → the same content.
    #[test]
    fn random_slas_round_trip_through_a_workbook(
        kpis in proptest::collection::vec(kpi_strategy(), 1..5)
    ) {
        let mut seen = std::collections::HashSet::new();
        let kpis: Vec<_> = kpis
            .into_iter()
            .filter(|k| seen.insert(k.0.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ")))
            .collect();
        let (sla, figures) = sla_of(&kpis);
        let (p, to, figs) = round_trip_xlsx(&sla, &figures);
        prop_assert_eq!(p.errors, 0, "{:?}", p.rows);
        prop_assert_eq!(content(&to, &figs), content(&sla, &figures));
    }
}

/// A workbook of more sheets than an import reads is refused whole, before any is planned.
#[test]
fn a_workbook_of_too_many_sheets_is_refused() {
    let mut book = Workbook::new();
    for n in 0..=exchange::sla::import::MAX_SHEETS {
        book.add_worksheet()
            .write_string(0, 0, format!("Sheet {n}"))
            .unwrap();
    }
    let bytes = book.save_to_buffer().unwrap();
    let e = read_sla(&bytes, Format::Xlsx, Default::default(), &councils(), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the workbook has {} sheets; an import reads at most {}",
            exchange::sla::import::MAX_SHEETS + 1,
            exchange::sla::import::MAX_SHEETS
        )
    );
}
