//! A 4×4 register rated A–D for likelihood (A the most likely) and 1–4 for impact, some rows
//! rated in one cell ("B3"): the import proposes the 4×4 matrix the sheet implies, works the
//! rows out on it, and sets it when applied; a register whose assessments would not fit keeps
//! its matrix and the lettered rows are refused with the reason.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod fixture;

use domain::documents::risk::{Assessment, AssessmentKind, RiskRegister};
use exchange::import::{
    Format, Mapping, Outcome, Preview, WarningCode, preview_workbook, read_register_sheets,
    read_table,
};
use fixture::{councils, counter, day, empty_register, today};

fn workbook() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    let rows: [[&str; 7]; 4] = [
        [
            "Ref",
            "Risk",
            "Owner",
            "Likelihood",
            "Impact",
            "Current rating",
            "Target rating",
        ],
        ["R1", "Shared ICT outage", "Head of ICT", "B", "3", "", ""],
        ["R2", "Fraud", "Head of Audit", "", "", "D1", ""],
        ["R3", "Staff morale", "Head of HR", "C", "4", "", "D2"],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            match v.parse::<f64>() {
                Ok(n) if r > 0 => ws.write_number(r as u32, c as u16, n).map(|_| ()),
                _ => ws.write_string(r as u32, c as u16, *v).map(|_| ()),
            }
            .unwrap();
        }
    }
    book.save_to_buffer().unwrap()
}

fn import(bytes: &[u8], into: &RiskRegister) -> Preview {
    let t = read_table(bytes, Format::Xlsx, None, Default::default()).unwrap();
    let sheets = read_register_sheets(bytes, Format::Xlsx, None, Default::default()).unwrap();
    preview_workbook(
        &t,
        &Mapping::guess(&t),
        &sheets,
        into,
        &councils(),
        today(),
        "Risk officer",
        &mut counter(),
    )
}

fn scores(p: &Preview, row: usize) -> Vec<(AssessmentKind, u32, u32)> {
    match &p.rows[row].outcome {
        Outcome::Create { assessments, .. } => assessments
            .iter()
            .map(|a| (a.kind, a.likelihood, a.impact))
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lettered_four_by_four_register_proposes_its_matrix_and_sets_it() {
    let bytes = workbook();
    let p = import(&bytes, &empty_register());
    let m = p.matrix_proposal.as_ref().expect("a proposal");
    assert_eq!((m.likelihood, m.impact, m.blocked.as_deref()), (4, 4, None));
    assert!(
        m.why.contains(
            "likelihood A–D (A the highest) and impact 1–4: a 4×4 matrix (the register's is 5×5)"
        ),
        "{}",
        m.why
    );
    let labels: Vec<(&str, &str)> = m
        .matrix
        .likelihood
        .iter()
        .map(|l| (l.label.as_str(), l.descriptor.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("D", "Unlikely"),
            ("C", "Possible"),
            ("B", "Likely"),
            ("A", "Almost certain")
        ]
    );
    assert_eq!(p.errors, 0, "{:#?}", p.rows);
    assert_eq!(scores(&p, 0), [(AssessmentKind::Current, 3, 3)]);
    assert_eq!(scores(&p, 1), [(AssessmentKind::Current, 1, 1)]);
    assert_eq!(
        scores(&p, 2),
        [
            (AssessmentKind::Current, 2, 4),
            (AssessmentKind::Target, 1, 2)
        ]
    );
    let flags: Vec<(&str, WarningCode)> = p.rows[1]
        .warnings
        .iter()
        .map(|w| (w.column.as_str(), w.code))
        .collect();
    assert_eq!(flags, [("F", WarningCode::RatingRead)]);
    assert!(
        p.rows[1].warnings[0]
            .message
            .contains("is read as likelihood D (1 of 4) and impact 1"),
        "{}",
        p.rows[1].warnings[0].message
    );

    // Applied: the register is 4×4 and valid; the same file again changes nothing and
    // proposes nothing.
    let mut register = empty_register();
    p.apply_to(&mut register);
    assert_eq!(register.check(), Ok(()));
    assert_eq!(
        (
            register.matrix.likelihood.len(),
            register.matrix.impact.len()
        ),
        (4, 4)
    );
    let again = import(&bytes, &register);
    assert!(again.matrix_proposal.is_none());
    assert_eq!((again.unchanged, again.errors), (3, 0), "{:#?}", again.rows);
}

#[test]
fn a_register_whose_assessments_would_not_fit_keeps_its_matrix() {
    let mut register = empty_register();
    let t = read_table(
        b"Ref,Risk title,Risk owner,Likelihood,Impact\nOLD,Legacy,Someone,5,5\n",
        Format::Csv,
        None,
        Default::default(),
    )
    .unwrap();
    exchange::import::preview(
        &t,
        &Mapping::guess(&t),
        &register.clone(),
        &councils(),
        day("2026-01-01"),
        "Risk officer",
        &mut counter(),
    )
    .apply_to(&mut register);
    assert!(
        register
            .assessments
            .iter()
            .any(|a: &Assessment| a.likelihood == 5)
    );
    let p = import(&workbook(), &register);
    let m = p.matrix_proposal.as_ref().unwrap();
    assert!(
        m.blocked
            .as_deref()
            .unwrap()
            .contains("risk OLD has an assessment of likelihood 5 × impact 5"),
        "{:?}",
        m.blocked
    );
    let refused: Vec<String> = p
        .rows
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Error { problems } => Some(problems.join("; ")),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(
        refused[0].contains("\"B\" is not a whole number"),
        "{refused:?}"
    );
    let mut kept = register.clone();
    p.apply_to(&mut kept);
    assert_eq!(kept.matrix, register.matrix);
}
