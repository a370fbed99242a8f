//! Export → import of a whole register: random registers (risks with every field and related
//! risks, assessment histories, actions, appetite) written as a workbook and imported into an
//! empty register with the same matrix come back as the same content, ids aside; imported into
//! the register they came from, they change nothing.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod fixture;

use chrono::NaiveDate;
use domain::documents::risk::{
    ActionStatus, Appetite, Assessment, AssessmentKind, Escalation, Response, Risk, RiskAction,
    RiskRegister, RiskStatus,
};
use exchange::export;
use exchange::import::{
    Format, Mapping, Preview, preview_workbook, read_register_sheets, read_table,
};
use fixture::{councils, counter, empty_register, today};
use proptest::prelude::*;
use serde_json::{Value, json};

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
        "Importer",
        false,
        &mut counter(),
    )
}

/// Everything but ids: risks by reference (related risks as references), assessments and
/// actions as sorted lists naming their risk by reference, appetite in order.
fn content(r: &RiskRegister) -> Value {
    let reference = |id: &str| r.reference_of(id);
    let risks: Vec<Value> = r
        .risks
        .iter()
        .map(|x| {
            let mut v = serde_json::to_value(x).unwrap();
            v.as_object_mut().unwrap().remove("id");
            v["related"] = json!(x.related.iter().map(|id| reference(id)).collect::<Vec<_>>());
            v
        })
        .collect();
    let mut assessments: Vec<String> = r
        .assessments
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(a).unwrap();
            v.as_object_mut().unwrap().remove("id");
            v["riskId"] = json!(reference(&a.risk_id));
            v.to_string()
        })
        .collect();
    assessments.sort();
    let mut actions: Vec<String> = r
        .actions
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(a).unwrap();
            v.as_object_mut().unwrap().remove("id");
            v["riskId"] = json!(reference(&a.risk_id));
            v.to_string()
        })
        .collect();
    actions.sort();
    json!({
        "matrix": r.matrix,
        "risks": risks,
        "assessments": assessments,
        "actions": actions,
        "appetite": r.appetite,
    })
}

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Duration::days(i64::from(n))
}

/// Text as people write it: words, digits, punctuation, quotes, a line break now and then;
/// never blank at the ends (cells are trimmed).
fn words() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9 ,.;:£%&()\"/=+-]{0,24}(\n[A-Za-z0-9 ,.()-]{1,12})?[A-Za-z0-9.)]"
}

fn optional_words() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), words()]
}

#[derive(Debug, Clone)]
struct RiskSpec {
    risk: Risk,
    /// (kind, likelihood, impact, day, assessor, reason)
    history: Vec<(u8, u32, u32, u32, String, String)>,
    /// (title, owner, council index, day, status, effect)
    actions: Vec<(String, String, usize, u32, u8, String)>,
    related: Vec<usize>,
}

fn risk_spec() -> impl Strategy<Value = RiskSpec> {
    let ids = ["org-ashby", "org-brockley"];
    (
        (
            words(),
            optional_words(),
            optional_words(),
            optional_words(),
            words(),
            words(),
            optional_words(),
        ),
        (
            0usize..4,
            proptest::option::of(0usize..2),
            0usize..4,
            0u32..7000,
            0u8..4,
            1u32..400,
            0u32..7000,
            any::<bool>(),
            0u8..3,
            prop_oneof![
                Just(String::new()),
                Just("↑".to_owned()),
                Just("Improving".to_owned()),
                words()
            ],
        ),
        proptest::collection::vec(
            (
                0u8..3,
                1u32..=5,
                1u32..=5,
                0u32..7000,
                words(),
                optional_words(),
            ),
            0..5,
        ),
        proptest::collection::btree_map(
            "[A-Z][a-z]{2,10}( [a-z]{2,8}){0,3}",
            (words(), 0usize..2, 0u32..7000, 0u8..4, optional_words()),
            0..3,
        ),
        proptest::collection::vec(0usize..8, 0..3),
    )
        .prop_map(
            move |(
                (title, cause, event, effect, category, owner, controls),
                (
                    owning,
                    bearing,
                    affected,
                    identified,
                    response,
                    every,
                    next,
                    closed,
                    level,
                    stated,
                ),
                history,
                actions,
                related,
            )| {
                let set = |n: usize| -> Vec<String> {
                    match n {
                        0 => vec![],
                        1 => vec![ids[0].into()],
                        2 => vec![ids[1].into()],
                        _ => vec![ids[1].into(), ids[0].into()],
                    }
                };
                RiskSpec {
                    risk: Risk {
                        id: String::new(),
                        reference: String::new(),
                        title,
                        cause,
                        event,
                        effect,
                        category,
                        owner,
                        owning_councils: set(owning),
                        bearing_council: bearing.map(|b| ids[b].to_owned()),
                        affected_councils: set(affected),
                        identified: day(identified),
                        related: vec![],
                        response: [
                            Response::Tolerate,
                            Response::Treat,
                            Response::Transfer,
                            Response::Terminate,
                        ][response as usize],
                        controls,
                        review_frequency_days: every,
                        next_review: day(next),
                        status: if closed {
                            RiskStatus::Closed
                        } else {
                            RiskStatus::Open
                        },
                        escalation: [
                            Escalation::Service,
                            Escalation::JointManagementTeam,
                            Escalation::Committee,
                        ][level as usize],
                        stated_direction: stated,
                    },
                    history,
                    // Titles are unique per risk by case (the map's keys may differ only in
                    // case: keep the first).
                    actions: {
                        let mut seen = std::collections::HashSet::new();
                        actions
                            .into_iter()
                            .filter(|(t, _)| seen.insert(t.to_lowercase()))
                            .map(|(t, (o, c, d, s, e))| (t, o, c, d, s, e))
                            .collect()
                    },
                    related,
                }
            },
        )
}

fn register_of(specs: &[RiskSpec], appetite: &[(String, u32, String)]) -> RiskRegister {
    let mut r = empty_register();
    let n = specs.len();
    for (i, s) in specs.iter().enumerate() {
        let mut risk = s.risk.clone();
        risk.id = format!("risk-{i}");
        risk.reference = format!("SR-{:02}", i + 1);
        let mut related: Vec<String> = s
            .related
            .iter()
            .map(|k| k % n)
            .filter(|k| *k != i)
            .map(|k| format!("risk-{k}"))
            .collect();
        related.dedup();
        related.sort();
        related.dedup();
        risk.related = related;
        for (j, (kind, l, im, d, who, why)) in s.history.iter().enumerate() {
            r.assessments.push(Assessment {
                id: format!("a-{i}-{j}"),
                risk_id: risk.id.clone(),
                kind: [
                    AssessmentKind::Inherent,
                    AssessmentKind::Current,
                    AssessmentKind::Target,
                ][*kind as usize],
                likelihood: *l,
                impact: *im,
                date: day(*d),
                assessor: who.clone(),
                reason: why.clone(),
            });
        }
        for (j, (title, owner, council, d, status, effect)) in s.actions.iter().enumerate() {
            r.actions.push(RiskAction {
                id: format!("act-{i}-{j}"),
                risk_id: risk.id.clone(),
                title: title.clone(),
                owner: owner.clone(),
                council: ["org-ashby", "org-brockley"][*council].to_owned(),
                due: day(*d),
                status: [
                    ActionStatus::NotStarted,
                    ActionStatus::InProgress,
                    ActionStatus::Done,
                    ActionStatus::Cancelled,
                ][*status as usize],
                expected_effect: effect.clone(),
            });
        }
        r.risks.push(risk);
    }
    let mut seen = std::collections::HashSet::new();
    for (category, max, statement) in appetite {
        if seen.insert(category.to_lowercase()) {
            r.appetite.push(Appetite {
                category: category.clone(),
                max_score: *max,
                statement: statement.clone(),
            });
        }
    }
    assert_eq!(r.check(), Ok(()));
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn a_random_register_round_trips_through_its_workbook(
        specs in proptest::collection::vec(risk_spec(), 1..6),
        appetite in proptest::collection::vec(
            ("[A-Z][a-z]{2,12}", 1u32..=25, optional_words()),
            0..3,
        ),
    ) {
        let original = register_of(&specs, &appetite);
        let bytes = export::xlsx(&original, &councils(), "Register", None).unwrap();

        // Into an empty register with the same matrix: the same content.
        let mut fresh = empty_register();
        let p = import(&bytes, &fresh);
        prop_assert_eq!(p.errors, 0, "{:#?}", p.rows);
        p.apply_to(&mut fresh);
        prop_assert_eq!(fresh.check(), Ok(()));
        prop_assert_eq!(content(&fresh), content(&original));

        // Into the register it came from: nothing to do.
        let p = import(&bytes, &original);
        prop_assert_eq!((p.errors, p.creates, p.updates), (0, 0, 0), "{:#?}", p.rows);
        prop_assert!(!p.changes_anything());
    }
}

/// The other sheets' rows that cannot be read are refused by sheet and row, and a history row
/// for a risk the register holds but the risks' sheet leaves out still lands on it.
#[test]
fn other_sheets_rows_are_checked_and_land_on_their_risks() {
    let mut book = rust_xlsxwriter::Workbook::new();
    let risks = book.add_worksheet();
    risks.set_name("Risks").unwrap();
    for (c, h) in ["Ref", "Risk title", "Risk owner"].iter().enumerate() {
        risks.write_string(0, c as u16, *h).unwrap();
    }
    for (c, v) in ["SR-01", "Staff morale", "Head of HR"].iter().enumerate() {
        risks.write_string(1, c as u16, *v).unwrap();
    }
    let hist = book.add_worksheet();
    hist.set_name("History").unwrap();
    let rows: [&[&str]; 5] = [
        &[
            "Risk ref",
            "Score type",
            "Likelihood",
            "Impact",
            "Date",
            "Reason",
        ],
        &["SR-01", "Residual", "4", "3", "Q4 2025/26", "Vacancies"],
        &["SR-01", "Residual", "9", "3", "01/04/2026", ""],
        &["SR-77", "Target", "2", "2", "01/04/2026", ""],
        &[
            "OLD-1",
            "Gross",
            "5",
            "5",
            "01/01/2025",
            "From the old register",
        ],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            hist.write_string(r as u32, c as u16, *v).unwrap();
        }
    }
    let appetite = book.add_worksheet();
    appetite.set_name("Appetite").unwrap();
    for (c, h) in ["Category", "Maximum score", "Statement"]
        .iter()
        .enumerate()
    {
        appetite.write_string(0, c as u16, *h).unwrap();
    }
    appetite.write_string(1, 0, "People").unwrap();
    appetite.write_number(1, 1, 12.0).unwrap();
    appetite.write_string(2, 0, "Finance").unwrap();
    appetite.write_number(2, 1, 40.0).unwrap();
    let bytes = book.save_to_buffer().unwrap();

    let mut register = empty_register();
    register.risks.push(Risk {
        id: "old".into(),
        reference: "OLD-1".into(),
        title: "Legacy".into(),
        cause: String::new(),
        event: String::new(),
        effect: String::new(),
        category: "People".into(),
        owner: "Someone".into(),
        owning_councils: vec![],
        bearing_council: None,
        affected_councils: vec![],
        identified: day(0),
        related: vec![],
        response: Response::Treat,
        controls: String::new(),
        review_frequency_days: 90,
        next_review: day(90),
        status: RiskStatus::Open,
        escalation: Escalation::Service,
        stated_direction: String::new(),
    });
    let p = import(&bytes, &register);
    let summary: Vec<(Option<&str>, u32, String)> = p
        .rows
        .iter()
        .map(|r| {
            let what = match &r.outcome {
                exchange::import::Outcome::Create { assessments, .. } => format!(
                    "create {:?}",
                    assessments
                        .iter()
                        .map(|a| (a.likelihood, a.impact, a.date.to_string()))
                        .collect::<Vec<_>>()
                ),
                exchange::import::Outcome::Update { assessments, .. } => {
                    format!("update {}", assessments.len())
                }
                exchange::import::Outcome::Error { problems } => problems.join("; "),
                other => format!("{other:?}"),
            };
            (r.sheet.as_deref(), r.row, what)
        })
        .collect();
    assert_eq!(summary.len(), 5, "{summary:#?}");
    assert_eq!(summary[0].0, None);
    assert_eq!(summary[0].2, "create [(4, 3, \"2026-03-31\")]");
    // The imprecise date is flagged on the risk's row, named by sheet and column.
    let w = &p.rows[0].warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].column, "History!E");
    assert!(summary[1].2.contains("outside the matrix"), "{summary:?}");
    assert_eq!((summary[1].0, summary[1].1), (Some("History"), 3));
    assert!(summary[2].2.contains("no risk \"SR-77\""), "{summary:?}");
    assert_eq!(summary[3], (Some("History"), 5, "update 1".to_owned()));
    // Appetite: People is new; 40 is more than a 5×5 matrix scores.
    assert_eq!(p.appetite.len(), 1);
    assert_eq!(p.appetite[0].category, "People");
    assert!(p.rows.iter().any(|r| r.sheet.as_deref() == Some("Appetite")
        && matches!(&r.outcome, exchange::import::Outcome::Error { problems } if problems[0].contains("not a score from 1 to 25"))));
}
