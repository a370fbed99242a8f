//! Importing a council-style register workbook: header detection, mapping, per-row errors,
//! creates, updates and applying.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod fixture;

use domain::documents::risk::{AssessmentKind, Escalation, Response, RiskRegister, RiskStatus};
use exchange::import::{
    Field, FieldChange, Format, Mapping, Outcome, Preview, Table, preview, read_table,
};
use fixture::{councils, counter, day, empty_register, today};

fn table() -> Table {
    read_table(
        &fixture::workbook(&fixture::rows()),
        Format::Xlsx,
        None,
        Default::default(),
    )
    .unwrap()
}

fn run(table: &Table, register: &RiskRegister) -> Preview {
    let mut ids = counter();
    preview(
        table,
        &Mapping::guess(table),
        register,
        &councils(),
        today(),
        "Risk officer",
        &mut ids,
    )
}

fn row<'a>(p: &'a Preview, reference: &str) -> &'a Outcome {
    &p.rows
        .iter()
        .find(|r| r.reference.as_deref() == Some(reference))
        .unwrap_or_else(|| panic!("no row {reference}"))
        .outcome
}

#[test]
fn the_header_is_found_below_the_title_and_merged_headings_are_combined() {
    let t = table();
    assert_eq!(t.header_row, 3);
    assert_eq!(t.header_height, 2);
    assert_eq!(
        &t.headers[8..15],
        [
            "Date raised",
            "Inherent score Likelihood",
            "Inherent score Impact",
            "Current score Likelihood",
            "Current score Impact",
            "Target score L",
            "Target score I",
        ]
    );
    assert_eq!(t.rows[0].number, 5);
    let m = Mapping::guess(&t);
    let expected = [
        Field::Reference,
        Field::Title,
        Field::Cause,
        Field::Effect,
        Field::Category,
        Field::Owner,
        Field::OwningCouncils,
        Field::AffectedCouncils,
        Field::Identified,
        Field::InherentLikelihood,
        Field::InherentImpact,
        Field::CurrentLikelihood,
        Field::CurrentImpact,
        Field::TargetLikelihood,
        Field::TargetImpact,
        Field::Controls,
        Field::Response,
        Field::NextReview,
        Field::Status,
        Field::Escalation,
        Field::AssessmentReason,
        Field::Ignore,
    ];
    for (col, field) in expected.iter().enumerate() {
        assert_eq!(m.field(col), *field, "column {col} {:?}", t.headers[col]);
    }
    // The mapping a REST client would see and send back.
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["columns"]["A"], "reference");
    assert_eq!(json["columns"]["L"], "current-likelihood");
    assert_eq!(serde_json::from_value::<Mapping>(json).unwrap(), m);
}

#[test]
fn every_bad_row_is_reported_with_its_sheet_row_and_column() {
    let p = run(&table(), &empty_register());
    let errors: Vec<(u32, Vec<String>)> = p
        .rows
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Error { problems } => Some((r.row, problems.clone())),
            _ => None,
        })
        .collect();
    let councils = "(Ashby District Council, Brockley Borough Council)";
    let expected: Vec<(u32, Vec<String>)> = vec![
        (
            9,
            vec![r#""Current score Likelihood": 7 is outside the matrix (1–5)"#.into()],
        ),
        (
            13,
            vec![r#""Inherent score Impact": 0 is outside the matrix (1–5)"#.into()],
        ),
        (
            17,
            vec![r#""Current score Impact": "high" is not a whole number"#.into()],
        ),
        (
            19,
            vec![r#""Review date": "31/02/2026" is not a real date"#.into()],
        ),
        (
            22,
            vec![format!(
                r#""Lead council": "Cranford Town Council" is not one of the partnership's councils {councils}"#
            )],
        ),
        (
            25,
            vec![r#""Ref": "SP-08" appears again; it was first used on row 12"#.into()],
        ),
        (29, vec![r#""Risk title": is required for a new risk"#.into()]),
        (
            32,
            vec![
                r#""Date raised": "next week" is not a date (use dd/mm/yyyy)"#.into(),
                r#""Target score I": is blank but "Target score L" is given; likelihood and impact come in pairs"#.into(),
            ],
        ),
    ];
    assert_eq!(errors, expected);
    // The note typed into the title column is not a risk: listed, not refused.
    let note = p.rows.iter().find(|r| r.row == 39).unwrap();
    assert_eq!(
        note.outcome,
        Outcome::Ignored {
            text: "Scores reviewed by the JMT on 12/09/2026".into()
        }
    );
    assert_eq!(
        (
            p.creates,
            p.updates,
            p.unchanged,
            p.errors,
            p.ignored,
            p.skipped_blank
        ),
        (22, 0, 0, 8, 1, 4)
    );
    assert_eq!(p.rows.len(), 31);
}

#[test]
fn created_risks_take_parsed_values_and_defaults() {
    let p = run(&table(), &empty_register());
    let Outcome::Create {
        risk, assessments, ..
    } = row(&p, "SP-01")
    else {
        panic!("SP-01 should be created");
    };
    assert_eq!(risk.id, "id-1");
    assert_eq!(risk.title, "One council withdraws from the partnership");
    assert_eq!(risk.owner, "Joint Chief Executive");
    assert_eq!(risk.owning_councils, ["org-ashby", "org-brockley"]);
    assert_eq!(risk.affected_councils, ["org-ashby", "org-brockley"]);
    assert_eq!(risk.identified, day("2026-03-12"));
    assert_eq!(risk.next_review, day("2026-12-31"));
    assert_eq!(risk.escalation, Escalation::Committee);
    assert_eq!(risk.response, Response::Treat);
    let scores: Vec<(&str, AssessmentKind, u32, u32)> = assessments
        .iter()
        .map(|a| (a.id.as_str(), a.kind, a.likelihood, a.impact))
        .collect();
    assert_eq!(
        scores,
        [
            ("id-2", AssessmentKind::Inherent, 3, 5),
            ("id-3", AssessmentKind::Current, 2, 5),
            ("id-4", AssessmentKind::Target, 1, 5),
        ]
    );
    assert!(
        assessments
            .iter()
            .all(|a| a.date == today() && a.assessor == "Risk officer" && a.reason == "Q3 review")
    );

    // Each way of typing 12 March 2026, and "Mar 2026" as the 1st.
    for (reference, date) in [
        ("SP-02", "2026-03-12"),
        ("SP-03", "2026-03-12"),
        ("SP-04", "2026-03-12"),
        ("SP-06", "2026-03-01"),
        ("SP-07", "2026-03-12"),
        ("SP-08", "2026-04-01"),
    ] {
        let Outcome::Create { risk, .. } = row(&p, reference) else {
            panic!("{reference} should be created");
        };
        assert_eq!(risk.identified, day(date), "{reference}");
    }
    let Outcome::Create { risk, .. } = row(&p, "SP-07") else {
        panic!()
    };
    assert_eq!(risk.owning_councils, ["org-brockley"]);
    assert_eq!(risk.escalation, Escalation::JointManagementTeam);
    let Outcome::Create { risk, .. } = row(&p, "SP-10") else {
        panic!()
    };
    assert_eq!(
        (risk.response, risk.escalation),
        (Response::Tolerate, Escalation::Service)
    );
    let Outcome::Create { risk, .. } = row(&p, "SP-29") else {
        panic!()
    };
    assert_eq!(risk.status, RiskStatus::Closed);
    // Defaults for everything left blank.
    let Outcome::Create {
        risk, assessments, ..
    } = row(&p, "SP-30")
    else {
        panic!()
    };
    assert!(assessments.is_empty());
    assert_eq!(risk.category, "Uncategorised");
    assert_eq!(risk.identified, today());
    assert_eq!(risk.review_frequency_days, 90);
    assert_eq!(risk.next_review, day("2026-12-30"));
    assert_eq!(
        (risk.response, risk.status, risk.escalation),
        (Response::Treat, RiskStatus::Open, Escalation::Service)
    );
    assert!(risk.owning_councils.is_empty());
}

#[test]
fn applying_the_preview_gives_a_valid_register() {
    let p = run(&table(), &empty_register());
    let mut register = empty_register();
    p.apply_to(&mut register);
    assert_eq!(register.check(), Ok(()));
    assert_eq!(register.risks.len(), 22);
    assert_eq!(register.assessments.len(), 21 * 3);
    // Applying twice adds nothing more.
    p.apply_to(&mut register);
    assert_eq!(register.risks.len(), 22);
    // Error rows are not applied.
    assert!(!register.risks.iter().any(|r| r.reference == "SP-05"));
    // What a REST client receives.
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["skippedBlank"], 4);
    assert_eq!(json["rows"][0]["row"], 5);
    assert_eq!(json["rows"][0]["outcome"]["kind"], "create");
    assert_eq!(json["rows"][0]["outcome"]["risk"]["reference"], "SP-01");
    assert_eq!(json["rows"][4]["outcome"]["kind"], "error");
}

/// A register that already holds SP-01 (another owner, older inherent score), SP-02 exactly as
/// in the workbook, and SP-03 (closed, a different current score, reference typed in lower
/// case).
fn existing() -> RiskRegister {
    let t = table();
    let mut full = empty_register();
    run(&t, &full.clone()).apply_to(&mut full);
    let keep = ["SP-01", "SP-02", "SP-03"];
    let ids: Vec<String> = full
        .risks
        .iter()
        .filter(|r| keep.contains(&r.reference.as_str()))
        .map(|r| r.id.clone())
        .collect();
    full.risks.retain(|r| ids.contains(&r.id));
    full.assessments.retain(|a| ids.contains(&a.risk_id));
    let mut ex = full;
    for r in &mut ex.risks {
        r.id = format!("existing-{}", r.reference);
    }
    for a in &mut ex.assessments {
        let reference = ids
            .iter()
            .position(|id| *id == a.risk_id)
            .map(|i| keep[i])
            .unwrap();
        a.risk_id = format!("existing-{reference}");
        a.id = format!("old-{}", a.id);
        a.date = day("2026-07-01");
    }
    let sp01 = ex
        .risks
        .iter_mut()
        .find(|r| r.reference == "SP-01")
        .unwrap();
    sp01.owner = "Head of Shared Services".into();
    let inherent = ex
        .assessments
        .iter_mut()
        .find(|a| a.risk_id == "existing-SP-01" && a.kind == AssessmentKind::Inherent)
        .unwrap();
    inherent.likelihood = 4;
    let sp03 = ex
        .risks
        .iter_mut()
        .find(|r| r.reference == "SP-03")
        .unwrap();
    sp03.status = RiskStatus::Closed;
    sp03.reference = " sp-03".into();
    let current = ex
        .assessments
        .iter_mut()
        .find(|a| a.risk_id == "existing-SP-03" && a.kind == AssessmentKind::Current)
        .unwrap();
    current.likelihood = 5;
    ex
}

#[test]
fn existing_risks_are_updated_field_by_field_and_rescored_only_where_scores_moved() {
    let ex = existing();
    assert_eq!(ex.check(), Ok(()));
    let p = run(&table(), &ex);
    assert_eq!(
        (p.creates, p.updates, p.unchanged, p.errors, p.ignored),
        (19, 2, 1, 8, 1)
    );
    assert_eq!(row(&p, "SP-02"), &Outcome::Unchanged);

    let Outcome::Update {
        risk_id,
        changes,
        assessments,
        ..
    } = row(&p, "SP-01")
    else {
        panic!("SP-01 should be an update")
    };
    assert_eq!(risk_id, "existing-SP-01");
    let shown: Vec<(Field, &str, &str)> = changes
        .iter()
        .map(|c: &FieldChange| (c.field, c.from.as_str(), c.to.as_str()))
        .collect();
    assert_eq!(
        shown,
        [(
            Field::Owner,
            "Head of Shared Services",
            "Joint Chief Executive"
        )]
    );
    let moved: Vec<(AssessmentKind, u32, u32)> = assessments
        .iter()
        .map(|a| (a.kind, a.likelihood, a.impact))
        .collect();
    assert_eq!(moved, [(AssessmentKind::Inherent, 3, 5)]);

    let Outcome::Update {
        risk_id,
        changes,
        assessments,
        ..
    } = row(&p, "SP-03")
    else {
        panic!("SP-03 should match ' sp-03' and be an update")
    };
    assert_eq!(risk_id, "existing-SP-03");
    let shown: Vec<(Field, &str, &str)> = changes
        .iter()
        .map(|c| (c.field, c.from.as_str(), c.to.as_str()))
        .collect();
    assert_eq!(shown, [(Field::Status, "Closed", "Open")]);
    let moved: Vec<(AssessmentKind, u32, u32)> = assessments
        .iter()
        .map(|a| (a.kind, a.likelihood, a.impact))
        .collect();
    assert_eq!(moved, [(AssessmentKind::Current, 4, 3)]);

    // Applying appends, never overwrites: the old scores stay as history.
    let mut applied = ex.clone();
    p.apply_to(&mut applied);
    assert_eq!(applied.check(), Ok(()));
    let sp01 = applied
        .risks
        .iter()
        .find(|r| r.id == "existing-SP-01")
        .unwrap();
    assert_eq!(sp01.owner, "Joint Chief Executive");
    assert_eq!(
        applied
            .history("existing-SP-01", AssessmentKind::Inherent)
            .len(),
        2
    );
    let latest = applied
        .latest("existing-SP-03", AssessmentKind::Current)
        .unwrap();
    assert_eq!((latest.likelihood, latest.impact), (4, 3));
    assert_eq!(
        applied
            .risks
            .iter()
            .find(|r| r.id == "existing-SP-03")
            .unwrap()
            .status,
        RiskStatus::Open
    );
    assert_eq!(applied.risks.len(), 3 + 19);
    // The preview is exactly what applying did.
    let again = run(&table(), &applied);
    assert_eq!(
        (again.creates, again.updates, again.unchanged, again.errors),
        (0, 0, 22, 8)
    );
}

#[test]
fn a_mapping_sent_by_a_client_overrides_the_guess() {
    let t = table();
    // The client says column V ("Notes") is the cause, and drops the reason column.
    let mut json = serde_json::to_value(Mapping::guess(&t)).unwrap();
    json["columns"]["C"] = "ignore".into();
    json["columns"]["V"] = "cause".into();
    json["columns"]["U"] = "ignore".into();
    let m: Mapping = serde_json::from_value(json).unwrap();
    let mut ids = counter();
    let p = preview(
        &t,
        &m,
        &empty_register(),
        &councils(),
        today(),
        "Risk officer",
        &mut ids,
    );
    let Outcome::Create {
        risk, assessments, ..
    } = row(&p, "SP-01")
    else {
        panic!()
    };
    assert_eq!(risk.cause, "Raised by Ashby audit committee");
    assert_eq!(assessments[0].reason, "Imported from spreadsheet");
}
