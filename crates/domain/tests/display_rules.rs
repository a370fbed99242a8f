//! The display rules the browser restates for live screens (`web/src/lib/rules.ts`: a KPI's
//! RAG, a cell's band, a risk's latest assessment) held to the same cases as the domain's own:
//! `display-rules.json` beside this crate's manifest, which the web client's unit tests read
//! too. A rule changed on one side only fails one of the two.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use domain::documents::risk::{Assessment, AssessmentKind, Matrix, RiskRegister};
use domain::documents::sla::{Polarity, Rag, rag};
use serde::Deserialize;

#[derive(Deserialize)]
struct Cases {
    rag: Vec<RagCase>,
    band: BandCases,
    latest: LatestCases,
    standard: Vec<StandardCase>,
}

/// The matrix a register is given when its council picks a size (the browser builds it).
#[derive(Deserialize)]
struct StandardCase {
    size: usize,
    matrix: Matrix,
}

#[derive(Deserialize)]
struct RagCase {
    polarity: Polarity,
    target: f64,
    tolerance: f64,
    actual: f64,
    rag: Rag,
}

#[derive(Deserialize)]
struct BandCases {
    matrix: Matrix,
    cases: Vec<BandCase>,
}

#[derive(Deserialize)]
struct BandCase {
    likelihood: u32,
    impact: u32,
    band: Option<String>,
}

#[derive(Deserialize)]
struct LatestCases {
    assessments: Vec<Assessment>,
    cases: Vec<LatestCase>,
}

#[derive(Deserialize)]
struct LatestCase {
    risk: String,
    kind: AssessmentKind,
    id: Option<String>,
}

#[test]
fn the_domain_passes_the_display_rule_cases_the_browser_shares() {
    let cases: Cases = serde_json::from_str(include_str!("../display-rules.json")).unwrap();
    for c in &cases.standard {
        assert_eq!(Matrix::standard(c.size), c.matrix, "{}×{}", c.size, c.size);
    }
    for c in &cases.rag {
        assert_eq!(
            rag(c.polarity, c.target, c.tolerance, c.actual),
            c.rag,
            "{:?} target {} tolerance {} actual {}",
            c.polarity,
            c.target,
            c.tolerance,
            c.actual
        );
    }
    let m = &cases.band.matrix;
    assert_eq!(m.check(), Ok(()));
    for c in &cases.band.cases {
        assert_eq!(
            m.band(c.likelihood, c.impact).map(|b| b.id.clone()),
            c.band,
            "cell {}×{}",
            c.likelihood,
            c.impact
        );
    }
    let register = RiskRegister {
        matrix: Matrix::five_by_five(),
        appetite: vec![],
        risks: vec![],
        assessments: cases.latest.assessments,
        actions: vec![],
    };
    for c in &cases.latest.cases {
        assert_eq!(
            register.latest(&c.risk, c.kind).map(|a| a.id.clone()),
            c.id,
            "{} {:?}",
            c.risk,
            c.kind
        );
    }
}
