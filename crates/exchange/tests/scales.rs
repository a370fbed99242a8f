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
    import_as(bytes, Format::Xlsx, into, false)
}

fn import_as(bytes: &[u8], format: Format, into: &RiskRegister, accept: bool) -> Preview {
    let t = read_table(bytes, format, None, Default::default()).unwrap();
    let sheets = read_register_sheets(bytes, format, None, Default::default()).unwrap();
    preview_workbook(
        &t,
        &Mapping::guess(&t),
        &sheets,
        into,
        &councils(),
        today(),
        "Risk officer",
        accept,
        &mut counter(),
    )
}

/// A register kept on a 3×3 (every rating 1 to 3), imported into a 5×5: a 3×3 is offered,
/// not forced. Declined, the rows read on the 5×5; taken, on the 3×3, and applying sets it.
#[test]
fn a_numeric_three_by_three_sheet_is_offered_its_matrix() {
    let csv = "Ref,Risk title,Risk owner,Likelihood,Impact\n\
               T1,One,Owner,3,3\nT2,Two,Owner,1,2\nT3,Three,Owner,2,3\n";
    let declined = import_as(csv.as_bytes(), Format::Csv, &empty_register(), false);
    let m = declined.matrix_proposal.as_ref().expect("an offer");
    assert_eq!(
        (m.likelihood, m.impact, m.required, m.applies),
        (3, 3, false, false)
    );
    assert!(
        m.why
            .contains("perhaps a 3×3 matrix (the register's is 5×5)"),
        "{}",
        m.why
    );
    let mut kept = empty_register();
    declined.apply_to(&mut kept);
    assert_eq!(
        kept.matrix.likelihood.len(),
        5,
        "declined: the register keeps its 5×5"
    );
    let taken = import_as(csv.as_bytes(), Format::Csv, &empty_register(), true);
    assert!(taken.matrix_proposal.as_ref().unwrap().applies);
    let mut set = empty_register();
    taken.apply_to(&mut set);
    assert_eq!(set.check(), Ok(()));
    assert_eq!(set.matrix.likelihood.len(), 3);
    // 3 × 3 is the top band of a 3×3, a middle one of a 5×5.
    let band = |r: &RiskRegister| {
        let a = r
            .assessments
            .iter()
            .find(|a| a.likelihood == 3 && a.impact == 3)
            .unwrap();
        r.matrix.band(a.likelihood, a.impact).unwrap().id.clone()
    };
    assert_eq!(band(&set), "very-high");
    assert_eq!(band(&kept), "high");
    // Too few rows to tell, or one slip beyond the matrix: no offer.
    let few = "Ref,Risk title,Risk owner,Likelihood,Impact\nT1,One,Owner,3,3\n";
    assert!(
        import_as(few.as_bytes(), Format::Csv, &empty_register(), false)
            .matrix_proposal
            .is_none()
    );
    let slip = "Ref,Risk title,Risk owner,Likelihood,Impact\nT1,One,Owner,9,3\nT2,Two,Owner,4,5\n";
    assert!(
        import_as(slip.as_bytes(), Format::Csv, &empty_register(), false)
            .matrix_proposal
            .is_none()
    );
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
