//! What checking one edit against a document's schema costs, whole-document against
//! incremental, on the large documents of shared/quality.md: a risk register of 300 risks and
//! 5 000 assessments built in 30 000 changes, and an SLA of 40 KPIs × 60 monthly measurements
//! (`cargo run --release -p bench --example validation_cost`).

use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc};
use domain::documents::incremental::Checker;
use domain::documents::limits::Limits;
use domain::documents::{Content, insert_json, read_within};
use domain::model::DocumentKind;
use serde_json::json;

fn list(doc: &mut AutoCommit, key: &str) -> ObjId {
    match doc.get(ROOT, key).expect("get") {
        Some((automerge::Value::Object(ObjType::List), o)) => o,
        _ => panic!("no {key}"),
    }
}

fn register() -> AutoCommit {
    let kind = DocumentKind::RiskRegister;
    let bytes = domain::schema::document(kind, &Content::initial(kind));
    let mut doc = AutoCommit::load(&bytes).expect("load");
    let risks = list(&mut doc, "risks");
    let assessments = list(&mut doc, "assessments");
    for r in 0..300 {
        insert_json(
            &mut doc,
            &risks,
            r,
            &json!({
                "id": format!("risk-{r}"), "reference": format!("SP-{r:03}"),
                "title": format!("Risk {r} to the shared service"), "category": "finance",
                "owner": "Head of Finance", "identified": "2024-04-01", "response": "treat",
                "controls": "Quarterly monitoring.", "reviewFrequencyDays": 90,
                "nextReview": "2027-01-01", "status": "open", "escalation": "service",
            }),
        )
        .expect("risk");
        doc.commit();
    }
    let mut made = 300;
    for a in 0..5000usize {
        insert_json(
            &mut doc,
            &assessments,
            a,
            &json!({
                "id": format!("a-{a}"), "riskId": format!("risk-{}", a % 300), "kind": "current",
                "likelihood": (a % 5 + 1) as i64, "impact": ((a / 5) % 5 + 1) as i64,
                "date": "2026-11-30", "assessor": "Risk officer", "reason": "Reviewed",
            }),
        )
        .expect("assessment");
        doc.commit();
        made += 1;
        // People typing between assessments, up to 30 000 changes in all.
        while made < 300 + (a + 1) * 29_700 / 5000 {
            let (_, risk) = doc.get(&risks, made % 300).expect("get").expect("risk");
            let (_, text) = doc.get(&risk, "controls").expect("get").expect("controls");
            let at = doc.length(&text);
            doc.splice_text(&text, at, 0, " Reviewed.").expect("splice");
            doc.commit();
            made += 1;
        }
    }
    doc
}

fn sla() -> AutoCommit {
    let kind = DocumentKind::Sla;
    let bytes = domain::schema::document(kind, &Content::initial(kind));
    let mut doc = AutoCommit::load(&bytes).expect("load");
    let kpis = list(&mut doc, "kpis");
    let measurements = list(&mut doc, "measurements");
    for k in 0..40 {
        insert_json(&mut doc, &kpis, k, &json!({
            "id": format!("kpi-{k}"), "name": format!("KPI {k}"), "polarity": "higher-is-better",
            "frequency": "monthly", "unit": "%", "target": 95.0, "amberTolerance": 2.0,
        }))
        .expect("kpi");
        doc.commit();
    }
    for m in 0..2400usize {
        let month = m / 40;
        insert_json(
            &mut doc,
            &measurements,
            m,
            &json!({
                "id": format!("m-{m}"), "kpiId": format!("kpi-{}", m % 40),
                "period": format!("{}-{:02}", 2021 + month / 12, month % 12 + 1), "actual": 93.5,
                "commentary": "Within tolerance",
            }),
        )
        .expect("measurement");
        doc.commit();
    }
    doc
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Times `n` edits made by `edit`, each checked whole and incrementally.
fn measure(
    what: &str,
    kind: DocumentKind,
    mut doc: AutoCommit,
    n: usize,
    edit: impl Fn(&mut AutoCommit, usize),
) {
    let limits = Limits::default();
    let mut checker = Checker::new(kind, limits);
    let t = Instant::now();
    checker.check(doc.document(), &[]).expect("valid");
    let first = t.elapsed();
    let (mut whole, mut incremental) = (Vec::new(), Vec::new());
    for i in 0..n {
        let before = doc.get_heads();
        edit(&mut doc, i);
        doc.commit();
        let t = Instant::now();
        read_within(kind, doc.document(), &limits).expect("valid");
        whole.push(t.elapsed());
        let t = Instant::now();
        checker.check(doc.document(), &before).expect("valid");
        incremental.push(t.elapsed());
    }
    let counts = checker.counts();
    println!(
        "{what}: whole-document check {:?} per edit, incremental {:?} (median of {n}; first check, \
         building the index, {first:?}; {} of {n} judged from their parts)",
        median(whole),
        median(incremental),
        counts.incremental,
    );
}

fn main() {
    let t = Instant::now();
    let mut doc = register();
    println!(
        "register of 300 risks, 5 000 assessments, {} changes: built in {:?}, {} bytes saved",
        doc.get_changes(&[]).len(),
        t.elapsed(),
        doc.save().len()
    );
    measure(
        "register, an assessment added",
        DocumentKind::RiskRegister,
        doc.clone(),
        50,
        |d, i| {
            let l = list(d, "assessments");
            let end = d.length(&l);
            insert_json(d, &l, end, &json!({
            "id": format!("new-{i}"), "riskId": format!("risk-{}", i * 7 % 300), "kind": "current",
            "likelihood": 3, "impact": 4, "date": "2026-12-06", "assessor": "Ann",
        }))
        .expect("insert");
        },
    );
    measure(
        "register, a risk's title typed into",
        DocumentKind::RiskRegister,
        doc,
        50,
        |d, i| {
            let l = list(d, "risks");
            let (_, risk) = d.get(&l, i * 13 % 300).expect("get").expect("risk");
            let (_, title) = d.get(&risk, "title").expect("get").expect("title");
            let at = d.length(&title);
            d.splice_text(&title, at, 0, "x").expect("splice");
        },
    );
    let mut doc = sla();
    println!(
        "SLA of 40 KPIs × 60 monthly measurements: {} changes, {} bytes saved",
        doc.get_changes(&[]).len(),
        doc.save().len()
    );
    measure(
        "SLA, a measurement added",
        DocumentKind::Sla,
        doc,
        50,
        |d, i| {
            let l = list(d, "measurements");
            let end = d.length(&l);
            insert_json(
                d,
                &l,
                end,
                &json!({
                    "id": format!("new-{i}"), "kpiId": format!("kpi-{}", i % 40),
                    "period": format!("2030-{:02}", i / 40 + 1), "actual": 91.0,
                }),
            )
            .expect("insert");
        },
    );
}
