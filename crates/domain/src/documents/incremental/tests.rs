use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::documents::{insert_json, put_json, read_within};

/// Small enough that texts and the whole document reach their limits in a few edits.
const SMALL: Limits = Limits {
    short_text_chars: 24,
    long_text_chars: 80,
    document_chars: 6_000,
};

fn risk(id: &str, title: &str) -> Value {
    json!({
        "id": id, "reference": format!("SP-{id}"), "title": title, "category": "finance",
        "owner": "Ann", "identified": "2026-01-05", "response": "treat",
        "reviewFrequencyDays": 30, "nextReview": "2026-02-05", "status": "open",
        "escalation": "service", "related": [],
    })
}

fn assessment(id: &str, risk: &str, likelihood: i64) -> Value {
    json!({
        "id": id, "riskId": risk, "kind": "current", "likelihood": likelihood, "impact": 3,
        "date": "2026-01-06", "assessor": "Ann",
    })
}

fn action(id: &str, risk: &str, owner: &str) -> Value {
    json!({
        "id": id, "riskId": risk, "title": "Do it", "owner": owner, "council": "c1",
        "due": "2026-03-01", "status": "not-started",
    })
}

fn register() -> AutoCommit {
    let bytes = crate::schema::document(
        DocumentKind::RiskRegister,
        &super::super::Content::initial(DocumentKind::RiskRegister),
    );
    let mut doc = AutoCommit::load(&bytes).unwrap();
    let risks = list(&mut doc, "risks");
    insert_json(&mut doc, &risks, 0, &risk("r1", "Funding")).unwrap();
    insert_json(&mut doc, &risks, 1, &risk("r2", "Staffing")).unwrap();
    let assessments = list(&mut doc, "assessments");
    insert_json(&mut doc, &assessments, 0, &assessment("a1", "r1", 2)).unwrap();
    doc.commit();
    doc
}

fn list(doc: &mut AutoCommit, key: &str) -> ObjId {
    match doc.get(ROOT, key).unwrap() {
        Some((automerge::Value::Object(ObjType::List), o)) => o,
        _ => panic!("no list {key}"),
    }
}

/// Adds `value` at the end of the top-level list `key`.
fn append(doc: &mut AutoCommit, key: &str, value: &Value) -> Result<(), automerge::AutomergeError> {
    let l = list(doc, key);
    let end = doc.length(&l);
    insert_json(doc, &l, end, value)
}

fn item(doc: &mut AutoCommit, key: &str, i: usize) -> Option<ObjId> {
    let l = list(doc, key);
    let n = doc.length(&l);
    if n == 0 {
        return None;
    }
    doc.get(&l, i % n).unwrap().map(|(_, o)| o)
}

/// One person's edit, as the web client would make it (or as a hostile one could).
#[derive(Debug, Clone)]
enum Edit {
    AddRisk {
        id: u8,
        title: &'static str,
    },
    AddAssessment {
        id: u8,
        risk: u8,
        likelihood: i64,
    },
    AddAction {
        id: u8,
        risk: u8,
        owner: &'static str,
    },
    /// Types into a risk's title (a text object): appends, or empties it.
    Title {
        which: usize,
        text: &'static str,
        empty: bool,
    },
    Likelihood {
        which: usize,
        value: i64,
    },
    PointAssessment {
        which: usize,
        risk: u8,
    },
    Relate {
        which: usize,
        risk: u8,
    },
    LongCause {
        which: usize,
        chars: usize,
    },
    ChangeId {
        list: &'static str,
        which: usize,
        id: u8,
    },
    Remove {
        list: &'static str,
        which: usize,
    },
    Matrix,
    WrongType {
        which: usize,
    },
    StrayKey {
        which: usize,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    let titles = prop::sample::select(vec!["Fuel", "", "Data breach in the shared service"]);
    let owners = prop::sample::select(vec!["Bo", ""]);
    let lists = prop::sample::select(vec!["risks", "assessments", "actions"]);
    prop_oneof![
        3 => (0u8..6, titles.clone()).prop_map(|(id, title)| Edit::AddRisk { id, title }),
        4 => (0u8..8, 0u8..7, 0i64..8)
            .prop_map(|(id, risk, likelihood)| Edit::AddAssessment { id, risk, likelihood }),
        2 => (0u8..5, 0u8..7, owners).prop_map(|(id, risk, owner)| Edit::AddAction { id, risk, owner }),
        4 => (0usize..9, titles, any::<bool>())
            .prop_map(|(which, text, empty)| Edit::Title { which, text, empty }),
        2 => (0usize..9, 0i64..8).prop_map(|(which, value)| Edit::Likelihood { which, value }),
        2 => (0usize..9, 0u8..7).prop_map(|(which, risk)| Edit::PointAssessment { which, risk }),
        2 => (0usize..9, 0u8..7).prop_map(|(which, risk)| Edit::Relate { which, risk }),
        2 => (0usize..9, prop::sample::select(vec![10usize, 90, 900]))
            .prop_map(|(which, chars)| Edit::LongCause { which, chars }),
        1 => (lists.clone(), 0usize..9, 0u8..8).prop_map(|(list, which, id)| Edit::ChangeId { list, which, id }),
        1 => (lists, 0usize..9).prop_map(|(list, which)| Edit::Remove { list, which }),
        1 => Just(Edit::Matrix),
        1 => (0usize..9).prop_map(|which| Edit::WrongType { which }),
        1 => (0usize..9).prop_map(|which| Edit::StrayKey { which }),
    ]
}

fn apply(doc: &mut AutoCommit, e: &Edit) -> Result<(), automerge::AutomergeError> {
    let rid = |n: u8| format!("r{n}");
    match e {
        Edit::AddRisk { id, title } => {
            append(doc, "risks", &risk(&rid(*id), title))?;
        }
        Edit::AddAssessment {
            id,
            risk,
            likelihood,
        } => {
            append(
                doc,
                "assessments",
                &assessment(&format!("a{id}"), &rid(*risk), *likelihood),
            )?;
        }
        Edit::AddAction { id, risk, owner } => {
            append(
                doc,
                "actions",
                &action(&format!("x{id}"), &rid(*risk), owner),
            )?;
        }
        Edit::Title { which, text, empty } => {
            if let Some(r) = item(doc, "risks", *which)
                && let Some((_, t)) = doc.get(&r, "title")?
            {
                let len = doc.length(&t);
                if *empty {
                    doc.splice_text(&t, 0, len as isize, "")?;
                } else {
                    doc.splice_text(&t, len, 0, text)?;
                }
            }
        }
        Edit::Likelihood { which, value } => {
            if let Some(a) = item(doc, "assessments", *which) {
                doc.put(&a, "likelihood", *value)?;
            }
        }
        Edit::PointAssessment { which, risk } => {
            if let Some(a) = item(doc, "assessments", *which) {
                doc.put(&a, "riskId", rid(*risk))?;
            }
        }
        Edit::Relate { which, risk } => {
            if let Some(r) = item(doc, "risks", *which)
                && let Some((_, related)) = doc.get(&r, "related")?
            {
                let end = doc.length(&related);
                doc.insert(&related, end, rid(*risk))?;
            }
        }
        Edit::LongCause { which, chars } => {
            if let Some(r) = item(doc, "risks", *which) {
                put_json(doc, &r, "cause", &json!("c".repeat(*chars)))?;
            }
        }
        Edit::ChangeId { list: l, which, id } => {
            if let Some(o) = item(doc, l, *which) {
                doc.put(&o, "id", format!("{}{id}", &l[..1]))?;
            }
        }
        Edit::Remove { list: l, which } => {
            let lo = list(doc, l);
            let n = doc.length(&lo);
            if n > 0 {
                doc.delete(&lo, which % n)?;
            }
        }
        Edit::Matrix => {
            let (_, m) = doc.get(ROOT, "matrix")?.expect("matrix");
            let (_, levels) = doc.get(&m, "likelihood")?.expect("levels");
            let n = doc.length(&levels);
            if n > 1 {
                doc.delete(&levels, n - 1)?;
            }
        }
        Edit::WrongType { which } => {
            if let Some(a) = item(doc, "assessments", *which) {
                doc.put(&a, "impact", "high")?;
            }
        }
        Edit::StrayKey { which } => {
            if let Some(r) = item(doc, "risks", *which) {
                doc.put(&r, "colour", "red")?;
            }
        }
    }
    Ok(())
}

/// Plays `steps` — each one person's edit, or two people's made at once from the same state —
/// against `server`, holding the checker to the whole-document check throughout.
fn run<E>(
    mut server: AutoCommit,
    (kind, limits): (DocumentKind, &Limits),
    steps: &[(E, Option<E>)],
    apply: fn(&mut AutoCommit, &E) -> Result<(), automerge::AutomergeError>,
) -> Counts {
    let mut checker = Checker::new(kind, *limits);
    assert!(checker.check(server.document(), &[]).is_ok());
    for (first, second) in steps {
        let at = server.get_heads();
        let mut clients = Vec::new();
        for e in std::iter::once(first).chain(second) {
            let mut c = server.fork();
            apply(&mut c, e).unwrap();
            c.commit();
            clients.push(c);
        }
        step(&mut server, &mut checker, clients, &at, (kind, limits));
    }
    checker.counts()
}

/// Applies `clients`' changes to the server one after another, as the room does, and holds
/// the incremental verdict to the whole-document one at every step.
fn step(
    server: &mut AutoCommit,
    checker: &mut Checker,
    clients: Vec<AutoCommit>,
    at: &[ChangeHash],
    (kind, limits): (DocumentKind, &Limits),
) {
    for mut client in clients {
        let changes = client.get_changes(at);
        let before = server.get_heads();
        server.apply_changes(changes).unwrap();
        let whole = read_within(kind, server.document(), limits).map(|_| ());
        let inc = checker.check(server.document(), &before);
        match (&inc, &whole) {
            (Ok(()), Ok(())) => {
                let json = crate::documents::to_json(server.document());
                assert_eq!(
                    checker.indexed_size(),
                    Some(limits::size(&json)),
                    "size drifted"
                );
                // Our JSON form is automerge's own.
                let theirs = serde_json::to_value(automerge::AutoSerde::from(server.document()));
                assert_eq!(Some(&json), theirs.as_ref().ok());
            }
            (Err(i), Err(w)) => {
                // The size is kept entry by entry: it must agree to the character.
                let total = |ps: &[Problem]| {
                    ps.iter()
                        .find(|p| p.message.starts_with("the document would hold"))
                        .map(|p| p.message.clone())
                };
                if let (Some(a), Some(b)) = (total(i), total(w)) {
                    assert_eq!(a, b);
                }
                *server = server.fork_at(&before).unwrap();
            }
            _ => panic!(
                "incremental {inc:?} but whole {whole:?} on {}",
                crate::documents::to_json(server.document())
            ),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The reference: on random edit sequences, one person at a time or two at once (their
    /// changes concurrent), the checker accepts exactly what the whole-document check accepts.
    #[test]
    fn incremental_agrees_with_the_whole(
        steps in prop::collection::vec((edit(), prop::option::of(edit())), 1..40)
    ) {
        run(register(), (DocumentKind::RiskRegister, &SMALL), &steps, apply);
    }
}

/// A register as one of the benchmark's: `risks` risks with `per` assessments each.
fn large(risks: usize, per: usize) -> AutoCommit {
    let mut doc = register();
    let rl = list(&mut doc, "risks");
    let al = list(&mut doc, "assessments");
    for r in 0..risks {
        let end = doc.length(&rl);
        insert_json(&mut doc, &rl, end, &risk(&format!("big{r}"), "A risk")).unwrap();
        for a in 0..per {
            let end = doc.length(&al);
            insert_json(
                &mut doc,
                &al,
                end,
                &assessment(
                    &format!("big{r}-{a}"),
                    &format!("big{r}"),
                    1 + (a as i64 % 5),
                ),
            )
            .unwrap();
        }
    }
    doc.commit();
    doc
}

#[test]
fn edits_of_items_are_judged_from_their_parts() {
    let limits = Limits::default();
    let mut doc = large(60, 10);
    let mut checker = Checker::new(DocumentKind::RiskRegister, limits);
    assert!(checker.check(doc.document(), &[]).is_ok());
    type Change = Box<dyn Fn(&mut AutoCommit)>;
    let cases: Vec<(&str, Change, bool)> = vec![
        (
            "an assessment added",
            Box::new(|d| {
                apply(
                    d,
                    &Edit::AddAssessment {
                        id: 7,
                        risk: 1,
                        likelihood: 4,
                    },
                )
                .unwrap()
            }),
            true,
        ),
        (
            "a title typed into",
            Box::new(|d| {
                apply(
                    d,
                    &Edit::Title {
                        which: 30,
                        text: "!",
                        empty: false,
                    },
                )
                .unwrap()
            }),
            true,
        ),
        (
            "an assessment pointed at no risk",
            Box::new(|d| apply(d, &Edit::PointAssessment { which: 40, risk: 9 }).unwrap()),
            false,
        ),
        (
            "an assessment outside the matrix",
            Box::new(|d| {
                apply(
                    d,
                    &Edit::Likelihood {
                        which: 41,
                        value: 6,
                    },
                )
                .unwrap()
            }),
            false,
        ),
        (
            "a duplicate id",
            Box::new(|d| {
                let l = list(d, "assessments");
                insert_json(d, &l, 3, &assessment("big5-5", "big5", 1)).unwrap();
            }),
            false,
        ),
    ];
    for (n, (what, change, ok)) in cases.into_iter().enumerate() {
        let before = doc.get_heads();
        let mut client = doc.fork();
        change(&mut client);
        client.commit();
        doc.apply_changes(client.get_changes(&before)).unwrap();
        let verdict = checker.check(doc.document(), &before);
        assert_eq!(verdict.is_ok(), ok, "{what}: {verdict:?}");
        assert_eq!(
            checker.counts(),
            Counts {
                incremental: n as u64 + 1,
                whole: 1
            },
            "{what} was judged whole"
        );
        if !ok {
            let problems = verdict.unwrap_err();
            let whole =
                read_within(DocumentKind::RiskRegister, doc.document(), &limits).unwrap_err();
            assert!(
                problems
                    .iter()
                    .all(|p| whole.iter().any(|w| w.message == p.message)),
                "{what}: {problems:?} against {whole:?}"
            );
            doc = doc.fork_at(&before).unwrap();
        }
    }
    // The problem is named where the person made it.
    let before = doc.get_heads();
    let mut client = doc.fork();
    apply(
        &mut client,
        &Edit::Likelihood {
            which: 45,
            value: 0,
        },
    )
    .unwrap();
    client.commit();
    doc.apply_changes(client.get_changes(&before)).unwrap();
    let problems = checker.check(doc.document(), &before).unwrap_err();
    assert_eq!(problems[0].path, "assessments[45]", "{problems:?}");
}

#[test]
fn what_the_parts_cannot_judge_is_judged_whole() {
    let mut doc = large(10, 2);
    let mut checker = Checker::new(DocumentKind::RiskRegister, Limits::default());
    assert!(checker.check(doc.document(), &[]).is_ok());
    for (what, e) in [
        (
            "a removal",
            Edit::Remove {
                list: "risks",
                which: 2,
            },
        ),
        (
            "an id changed",
            Edit::ChangeId {
                list: "risks",
                which: 2,
                id: 7,
            },
        ),
        ("the matrix", Edit::Matrix),
    ] {
        let before = doc.get_heads();
        let whole = checker.counts().whole;
        let mut client = doc.fork();
        apply(&mut client, &e).unwrap();
        client.commit();
        doc.apply_changes(client.get_changes(&before)).unwrap();
        let verdict = checker.check(doc.document(), &before);
        assert_eq!(checker.counts().whole, whole + 1, "{what}");
        // Removing a risk with assessments, renaming one they refer to, shrinking the matrix
        // under them: each refused, as the whole check refuses it.
        assert!(verdict.is_err(), "{what}");
        doc = doc.fork_at(&before).unwrap();
    }
}

#[test]
fn the_index_counts_size_as_the_whole_check_does() {
    let mut doc = large(5, 3);
    let json = crate::documents::to_json(doc.document());
    let ix = Index::build(doc.document(), &json, spec(DocumentKind::RiskRegister)).unwrap();
    assert_eq!(ix.size(&RISK, &ix.sections), limits::size(&json));
}

/// An SLA's edits: KPIs and measurements, where a KPI may have one measurement per period.
#[derive(Debug, Clone)]
enum SlaEdit {
    AddKpi {
        id: u8,
        name: &'static str,
    },
    AddMeasurement {
        id: u8,
        kpi: u8,
        period: &'static str,
    },
    Period {
        which: usize,
        period: &'static str,
    },
    PointMeasurement {
        which: usize,
        kpi: u8,
    },
    Specification {
        text: &'static str,
    },
    RemoveMeasurement {
        which: usize,
    },
}

fn sla_edit() -> impl Strategy<Value = SlaEdit> {
    let periods = prop::sample::select(vec!["2026-01", "2026-02", "2026-Q1", "soon"]);
    prop_oneof![
        2 => (0u8..4, prop::sample::select(vec!["Calls answered", ""]))
            .prop_map(|(id, name)| SlaEdit::AddKpi { id, name }),
        5 => (0u8..10, 0u8..5, periods.clone())
            .prop_map(|(id, kpi, period)| SlaEdit::AddMeasurement { id, kpi, period }),
        3 => (0usize..9, periods).prop_map(|(which, period)| SlaEdit::Period { which, period }),
        2 => (0usize..9, 0u8..5).prop_map(|(which, kpi)| SlaEdit::PointMeasurement { which, kpi }),
        2 => prop::sample::select(vec!["Revenues and benefits", "x"])
            .prop_map(|text| SlaEdit::Specification { text }),
        1 => (0usize..9).prop_map(|which| SlaEdit::RemoveMeasurement { which }),
    ]
}

fn apply_sla(doc: &mut AutoCommit, e: &SlaEdit) -> Result<(), automerge::AutomergeError> {
    match e {
        SlaEdit::AddKpi { id, name } => {
            append(
                doc,
                "kpis",
                &json!({
                    "id": format!("k{id}"), "name": name, "polarity": "higher-is-better",
                    "frequency": "monthly", "target": 95.0, "amberTolerance": 1.0,
                }),
            )?;
        }
        SlaEdit::AddMeasurement { id, kpi, period } => {
            append(
                doc,
                "measurements",
                &json!({
                    "id": format!("m{id}"), "kpiId": format!("k{kpi}"), "period": period,
                    "actual": 94.5,
                }),
            )?;
        }
        SlaEdit::Period { which, period } => {
            if let Some(m) = item(doc, "measurements", *which) {
                doc.put(&m, "period", *period)?;
            }
        }
        SlaEdit::PointMeasurement { which, kpi } => {
            if let Some(m) = item(doc, "measurements", *which) {
                doc.put(&m, "kpiId", format!("k{kpi}"))?;
            }
        }
        SlaEdit::Specification { text } => {
            put_json(doc, &ROOT, "specification", &json!(text))?;
        }
        SlaEdit::RemoveMeasurement { which } => {
            let l = list(doc, "measurements");
            let n = doc.length(&l);
            if n > 0 {
                doc.delete(&l, which % n)?;
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The same reference on an SLA: one measurement per KPI and period, measurements of KPIs
    /// that exist, KPIs with names; one person or two at once.
    #[test]
    fn incremental_agrees_with_the_whole_on_an_sla(
        steps in prop::collection::vec((sla_edit(), prop::option::of(sla_edit())), 1..40)
    ) {
        let kind = DocumentKind::Sla;
        let bytes = crate::schema::document(kind, &super::super::Content::initial(kind));
        let mut server = AutoCommit::load(&bytes).unwrap();
        apply_sla(&mut server, &SlaEdit::AddKpi { id: 0, name: "Calls answered" }).unwrap();
        server.commit();
        let counts = run(server, (kind, &Limits::default()), &steps, apply_sla);
        prop_assert!(counts.incremental > 0 || steps.len() < 3);
    }
}

#[test]
fn comments_and_decisions_refer_to_what_exists() {
    let kind = DocumentKind::Agreement;
    let bytes = crate::schema::document(kind, &super::super::Content::initial(kind));
    let mut doc = AutoCommit::load(&bytes).unwrap();
    let clauses = list(&mut doc, "clauses");
    insert_json(
        &mut doc,
        &clauses,
        0,
        &json!({"id": "c1", "heading": "Scope", "text": "…", "status": "draft"}),
    )
    .unwrap();
    let comments = list(&mut doc, "comments");
    insert_json(
        &mut doc,
        &comments,
        0,
        &json!({
            "id": "n1", "clauseId": "c1", "body": "Agreed", "author": "Ann", "createdAt": 1,
        }),
    )
    .unwrap();
    doc.commit();
    let whole = read_within(kind, doc.document(), &Limits::default());
    assert!(whole.is_ok(), "{whole:?}");
    let mut checker = Checker::new(kind, Limits::default());
    assert!(checker.check(doc.document(), &[]).is_ok());
    for (clause, parent, ok) in [("c1", "n1", true), ("c9", "n1", false), ("c1", "n9", false)] {
        let before = doc.get_heads();
        let mut c = doc.fork();
        let l = list(&mut c, "comments");
        let end = c.length(&l);
        insert_json(
            &mut c,
            &l,
            end,
            &json!({
                "id": format!("r-{clause}-{parent}"), "clauseId": clause, "parentId": parent,
                "body": "Reply", "author": "Bo", "createdAt": 2,
            }),
        )
        .unwrap();
        c.commit();
        doc.apply_changes(c.get_changes(&before)).unwrap();
        let inc = checker.check(doc.document(), &before);
        let whole = read_within(kind, doc.document(), &Limits::default()).map(|_| ());
        assert_eq!(inc.is_ok(), ok, "{clause}/{parent}: {inc:?}");
        assert_eq!(whole.is_ok(), ok, "{clause}/{parent}: {whole:?}");
        if !ok {
            doc = doc.fork_at(&before).unwrap();
        }
    }
    assert_eq!(
        checker.counts(),
        Counts {
            incremental: 3,
            whole: 1
        }
    );
}
