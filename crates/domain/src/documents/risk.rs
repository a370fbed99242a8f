//! The risk register: its matrix as data, risks, assessments that are never overwritten, and
//! actions — and the rules derived from them (score and band, direction of travel, overdue
//! reviews and actions, stale risks).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One step of the likelihood or impact scale: "Almost certain", "Major (£250k–£1m)".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Level {
    pub label: String,
    /// What the step means, e.g. a £ range or a frequency.
    #[serde(default)]
    pub descriptor: String,
}

/// A band of the heat map. Readable without colour: every band has a text label and a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Band {
    pub id: String,
    pub label: String,
    /// CSS colour, e.g. `#d4351c`.
    pub colour: String,
    /// A fill pattern for greyscale and colour-blind readers: `solid`, `hatch`, `dots`, `none`.
    pub pattern: String,
    /// Severity order: higher is worse.
    pub rank: u32,
}

/// The risk matrix: likelihood × impact, each cell mapped to a band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Matrix {
    /// From 1 (rare) upwards.
    pub likelihood: Vec<Level>,
    /// From 1 (negligible) upwards.
    pub impact: Vec<Level>,
    pub bands: Vec<Band>,
    /// `cells[likelihood - 1][impact - 1]` is a band id.
    pub cells: Vec<Vec<String>>,
}

/// Why a matrix is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    #[error("a matrix needs 2 to 10 likelihood and impact levels")]
    Size,
    #[error("the cells must form a {0} × {1} grid")]
    Shape(usize, usize),
    #[error("cell ({0}, {1}) names band {2:?}, which the matrix does not define")]
    UnknownBand(usize, usize, String),
    #[error("band ids must be unique; {0:?} repeats")]
    DuplicateBand(String),
}

impl Matrix {
    /// The common 5×5 council matrix: low / medium / high / very high by score, each band with
    /// a pattern as well as a colour.
    pub fn five_by_five() -> Matrix {
        Self::standard(5)
    }

    /// An n×n matrix (3, 4 or 5 are usual) banded by the product of likelihood and impact
    /// as a fraction of the largest score.
    pub fn standard(n: usize) -> Matrix {
        Self::sized(n, n)
    }

    /// A `likelihood` × `impact` matrix (each 2 to 10 levels) banded as [`Matrix::standard`].
    pub fn sized(likelihood: usize, impact: usize) -> Matrix {
        let (nl, ni) = (likelihood.clamp(2, 10), impact.clamp(2, 10));
        let names = |kind: &str| -> Vec<Level> {
            let n = if kind == "likelihood" { nl } else { ni };
            let words: &[&str] = if kind == "likelihood" {
                match n {
                    3 => &["Unlikely", "Possible", "Likely"],
                    4 => &["Unlikely", "Possible", "Likely", "Almost certain"],
                    _ => &["Rare", "Unlikely", "Possible", "Likely", "Almost certain"],
                }
            } else {
                match n {
                    3 => &["Minor", "Moderate", "Major"],
                    4 => &["Minor", "Moderate", "Major", "Critical"],
                    _ => &["Negligible", "Minor", "Moderate", "Major", "Critical"],
                }
            };
            (0..n)
                .map(|i| Level {
                    label: words
                        .get(i)
                        .map_or_else(|| format!("{kind} {}", i + 1), |w| (*w).to_owned()),
                    descriptor: String::new(),
                })
                .collect()
        };
        let bands = vec![
            band("low", "Low", "#00703c", "none", 1),
            band("medium", "Medium", "#ffdd00", "dots", 2),
            band("high", "High", "#f47738", "hatch", 3),
            band("very-high", "Very high", "#d4351c", "solid", 4),
        ];
        let max = (nl * ni) as f64;
        let cells = (1..=nl)
            .map(|l| {
                (1..=ni)
                    .map(|i| {
                        let f = (l * i) as f64 / max;
                        match f {
                            f if f >= 0.6 => "very-high",
                            f if f >= 0.35 => "high",
                            f if f >= 0.15 => "medium",
                            _ => "low",
                        }
                        .to_owned()
                    })
                    .collect()
            })
            .collect();
        Matrix {
            likelihood: names("likelihood"),
            impact: names("impact"),
            bands,
            cells,
        }
    }

    pub fn check(&self) -> Result<(), MatrixError> {
        let (l, i) = (self.likelihood.len(), self.impact.len());
        if !(2..=10).contains(&l) || !(2..=10).contains(&i) {
            return Err(MatrixError::Size);
        }
        if self.cells.len() != l || self.cells.iter().any(|row| row.len() != i) {
            return Err(MatrixError::Shape(l, i));
        }
        for (k, b) in self.bands.iter().enumerate() {
            if self.bands[..k].iter().any(|o| o.id == b.id) {
                return Err(MatrixError::DuplicateBand(b.id.clone()));
            }
        }
        for (li, row) in self.cells.iter().enumerate() {
            for (ii, id) in row.iter().enumerate() {
                if !self.bands.iter().any(|b| &b.id == id) {
                    return Err(MatrixError::UnknownBand(li + 1, ii + 1, id.clone()));
                }
            }
        }
        Ok(())
    }

    /// True if (likelihood, impact) is a cell of this matrix (both from 1).
    pub fn contains(&self, likelihood: u32, impact: u32) -> bool {
        likelihood >= 1
            && impact >= 1
            && (likelihood as usize) <= self.likelihood.len()
            && (impact as usize) <= self.impact.len()
    }

    /// The band of a cell, if the cell exists.
    pub fn band(&self, likelihood: u32, impact: u32) -> Option<&Band> {
        if !self.contains(likelihood, impact) {
            return None;
        }
        let id = self
            .cells
            .get(likelihood as usize - 1)?
            .get(impact as usize - 1)?;
        self.bands.iter().find(|b| &b.id == id)
    }
}

fn band(id: &str, label: &str, colour: &str, pattern: &str, rank: u32) -> Band {
    Band {
        id: id.into(),
        label: label.into(),
        colour: colour.into(),
        pattern: pattern.into(),
        rank,
    }
}

/// The score of a cell: likelihood × impact.
pub fn score(likelihood: u32, impact: u32) -> u32 {
    likelihood * impact
}

/// Which assessment of a risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AssessmentKind {
    /// Before any controls.
    Inherent,
    /// With the controls in place now.
    Current,
    /// Where the actions should bring it.
    Target,
}

/// One assessment; assessments are appended, never overwritten, so history and direction of
/// travel survive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Assessment {
    pub id: String,
    pub risk_id: String,
    pub kind: AssessmentKind,
    pub likelihood: u32,
    pub impact: u32,
    pub date: NaiveDate,
    /// Who assessed it (a name; the audit trail ties the edit to a user).
    pub assessor: String,
    /// Why the score moved: what a committee asks first.
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RiskStatus {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Response {
    Tolerate,
    Treat,
    Transfer,
    Terminate,
}

/// Who the risk is reported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Escalation {
    Service,
    JointManagementTeam,
    Committee,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Risk {
    pub id: String,
    /// The register's own reference, e.g. "SP-07".
    pub reference: String,
    pub title: String,
    #[serde(default)]
    pub cause: String,
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub effect: String,
    pub category: String,
    /// The named person who owns it.
    pub owner: String,
    /// Organisation ids.
    #[serde(default)]
    pub owning_councils: Vec<String>,
    #[serde(default)]
    pub bearing_council: Option<String>,
    #[serde(default)]
    pub affected_councils: Vec<String>,
    pub identified: NaiveDate,
    #[serde(default)]
    pub related: Vec<String>,
    pub response: Response,
    #[serde(default)]
    pub controls: String,
    pub review_frequency_days: u32,
    pub next_review: NaiveDate,
    pub status: RiskStatus,
    pub escalation: Escalation,
    /// The direction of travel as the council's own sheet stated it ("Improving", "↑"), kept
    /// as written beside the one computed from the assessments ([`RiskRegister::direction`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stated_direction: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ActionStatus {
    NotStarted,
    InProgress,
    Done,
    Cancelled,
}

impl ActionStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, ActionStatus::Done | ActionStatus::Cancelled)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiskAction {
    pub id: String,
    pub risk_id: String,
    pub title: String,
    pub owner: String,
    /// Organisation id of the council doing it.
    pub council: String,
    pub due: NaiveDate,
    pub status: ActionStatus,
    /// What it should do to the score, in words.
    #[serde(default)]
    pub expected_effect: String,
}

/// Appetite for a category: risks scoring above `max_score` are outside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Appetite {
    pub category: String,
    pub max_score: u32,
    #[serde(default)]
    pub statement: String,
}

/// The whole register document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiskRegister {
    pub matrix: Matrix,
    #[serde(default)]
    pub appetite: Vec<Appetite>,
    #[serde(default)]
    pub risks: Vec<Risk>,
    #[serde(default)]
    pub assessments: Vec<Assessment>,
    #[serde(default)]
    pub actions: Vec<RiskAction>,
}

/// Which way a risk is moving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Only one current assessment so far: never shown as a missing arrow.
    New,
    Improving,
    Stable,
    Worsening,
}

impl RiskRegister {
    /// Everything that must hold beyond the types: a usable matrix, unique ids, assessments
    /// inside the matrix and attached to a risk, actions and related risks that resolve.
    pub fn check(&self) -> Result<(), Vec<super::check::Problem>> {
        let mut p = super::check::Problems::default();
        if let Err(e) = self.matrix.check() {
            p.add("matrix", e.to_string());
        }
        p.unique("risks", self.risks.iter().map(|r| r.id.as_str()));
        p.unique(
            "assessments",
            self.assessments.iter().map(|a| a.id.as_str()),
        );
        p.unique("actions", self.actions.iter().map(|a| a.id.as_str()));
        let risks: std::collections::HashSet<&str> =
            self.risks.iter().map(|r| r.id.as_str()).collect();
        for (i, r) in self.risks.iter().enumerate() {
            p.required(format!("risks[{i}].title"), &r.title);
            p.required(format!("risks[{i}].owner"), &r.owner);
            if r.review_frequency_days == 0 {
                p.add(
                    format!("risks[{i}].reviewFrequencyDays"),
                    "must be at least one day",
                );
            }
            for (k, rel) in r.related.iter().enumerate() {
                p.resolves(format!("risks[{i}].related[{k}]"), rel, &risks, "risk");
            }
        }
        for (i, a) in self.assessments.iter().enumerate() {
            p.resolves(
                format!("assessments[{i}].riskId"),
                &a.risk_id,
                &risks,
                "risk",
            );
            if !self.matrix.contains(a.likelihood, a.impact) {
                p.add(
                    format!("assessments[{i}]"),
                    format!(
                        "likelihood {} × impact {} is outside the {}×{} matrix",
                        a.likelihood,
                        a.impact,
                        self.matrix.likelihood.len(),
                        self.matrix.impact.len()
                    ),
                );
            }
        }
        for (i, a) in self.actions.iter().enumerate() {
            p.resolves(format!("actions[{i}].riskId"), &a.risk_id, &risks, "risk");
            p.required(format!("actions[{i}].owner"), &a.owner);
        }
        p.into_result()
    }

    /// The register's own reference of a risk ("SP-07"); empty if there is no such risk.
    pub fn reference_of(&self, risk_id: &str) -> String {
        self.risks
            .iter()
            .find(|r| r.id == risk_id)
            .map(|r| r.reference.clone())
            .unwrap_or_default()
    }

    /// A risk's assessments of one kind, oldest first (by date, then by position: the later
    /// entry wins on the same day).
    pub fn history(&self, risk_id: &str, kind: AssessmentKind) -> Vec<&Assessment> {
        let mut v: Vec<(usize, &Assessment)> = self
            .assessments
            .iter()
            .enumerate()
            .filter(|(_, a)| a.risk_id == risk_id && a.kind == kind)
            .collect();
        v.sort_by_key(|(i, a)| (a.date, *i));
        v.into_iter().map(|(_, a)| a).collect()
    }

    /// The latest assessment of a kind, if any.
    pub fn latest(&self, risk_id: &str, kind: AssessmentKind) -> Option<&Assessment> {
        self.history(risk_id, kind).pop()
    }

    /// Direction of travel from the last two current assessments: by score, then band rank.
    pub fn direction(&self, risk_id: &str) -> Direction {
        let h = self.history(risk_id, AssessmentKind::Current);
        let [.., prev, last] = h.as_slice() else {
            return Direction::New;
        };
        let (a, b) = (
            score(prev.likelihood, prev.impact),
            score(last.likelihood, last.impact),
        );
        match b.cmp(&a) {
            std::cmp::Ordering::Less => Direction::Improving,
            std::cmp::Ordering::Greater => Direction::Worsening,
            std::cmp::Ordering::Equal => Direction::Stable,
        }
    }

    /// Open risks whose review date has passed.
    pub fn overdue_reviews(&self, today: NaiveDate) -> Vec<&Risk> {
        self.risks
            .iter()
            .filter(|r| r.status == RiskStatus::Open && r.next_review < today)
            .collect()
    }

    /// Unfinished actions past their due date.
    pub fn overdue_actions(&self, today: NaiveDate) -> Vec<&RiskAction> {
        self.actions
            .iter()
            .filter(|a| !a.status.is_finished() && a.due < today)
            .collect()
    }

    /// Open risks with no assessment (of any kind) within their review frequency.
    pub fn stale_risks(&self, today: NaiveDate) -> Vec<&Risk> {
        self.risks
            .iter()
            .filter(|r| r.status == RiskStatus::Open)
            .filter(|r| {
                let last = self
                    .assessments
                    .iter()
                    .filter(|a| a.risk_id == r.id)
                    .map(|a| a.date)
                    .max();
                match last {
                    None => true,
                    Some(d) => (today - d).num_days() > i64::from(r.review_frequency_days),
                }
            })
            .collect()
    }

    /// Heat-map counts for one kind of assessment: `counts[l - 1][i - 1]` open risks whose
    /// latest assessment of that kind sits in that cell.
    pub fn heat_map(&self, kind: AssessmentKind) -> Vec<Vec<u32>> {
        let mut counts = vec![vec![0u32; self.matrix.impact.len()]; self.matrix.likelihood.len()];
        for r in self.risks.iter().filter(|r| r.status == RiskStatus::Open) {
            if let Some(a) = self.latest(&r.id, kind)
                && self.matrix.contains(a.likelihood, a.impact)
            {
                counts[a.likelihood as usize - 1][a.impact as usize - 1] += 1;
            }
        }
        counts
    }

    /// Whether a risk's current score is outside its category's appetite.
    pub fn outside_appetite(&self, risk: &Risk) -> bool {
        let Some(app) = self.appetite.iter().find(|a| a.category == risk.category) else {
            return false;
        };
        self.latest(&risk.id, AssessmentKind::Current)
            .is_some_and(|a| score(a.likelihood, a.impact) > app.max_score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(d: &str) -> NaiveDate {
        d.parse().unwrap()
    }

    fn risk(id: &str) -> Risk {
        Risk {
            id: id.into(),
            reference: format!("SP-{id}"),
            title: "One council withdraws from the partnership".into(),
            cause: String::new(),
            event: String::new(),
            effect: String::new(),
            category: "Partnership".into(),
            owner: "Joint chief executive".into(),
            owning_councils: vec![],
            bearing_council: None,
            affected_councils: vec![],
            identified: day("2026-01-10"),
            related: vec![],
            response: Response::Treat,
            controls: String::new(),
            review_frequency_days: 90,
            next_review: day("2026-06-30"),
            status: RiskStatus::Open,
            escalation: Escalation::Committee,
            stated_direction: String::new(),
        }
    }

    fn assess(risk: &str, kind: AssessmentKind, l: u32, i: u32, date: &str) -> Assessment {
        Assessment {
            id: format!("{risk}-{date}-{l}{i}"),
            risk_id: risk.into(),
            kind,
            likelihood: l,
            impact: i,
            date: day(date),
            assessor: "Risk officer".into(),
            reason: "quarterly review".into(),
        }
    }

    fn register() -> RiskRegister {
        RiskRegister {
            matrix: Matrix::five_by_five(),
            appetite: vec![Appetite {
                category: "Partnership".into(),
                max_score: 9,
                statement: String::new(),
            }],
            risks: vec![risk("1"), risk("2")],
            assessments: vec![],
            actions: vec![],
        }
    }

    #[test]
    fn standard_matrices_are_valid_and_banded_monotonically() {
        for n in [3, 4, 5] {
            let m = Matrix::standard(n);
            m.check().unwrap();
            for l in 1..=n as u32 {
                for i in 1..=n as u32 {
                    let here = m.band(l, i).unwrap().rank;
                    if l < n as u32 {
                        assert!(m.band(l + 1, i).unwrap().rank >= here);
                    }
                    if i < n as u32 {
                        assert!(m.band(l, i + 1).unwrap().rank >= here);
                    }
                }
            }
            assert_eq!(m.band(1, 1).unwrap().id, "low");
            assert_eq!(m.band(n as u32, n as u32).unwrap().id, "very-high");
            assert!(m.band(0, 1).is_none() && m.band(1, n as u32 + 1).is_none());
        }
    }

    #[test]
    fn a_malformed_matrix_is_refused() {
        let mut m = Matrix::five_by_five();
        m.cells[2][3] = "purple".into();
        assert_eq!(
            m.check(),
            Err(MatrixError::UnknownBand(3, 4, "purple".into()))
        );
        let mut m = Matrix::five_by_five();
        m.cells.pop();
        assert_eq!(m.check(), Err(MatrixError::Shape(5, 5)));
        let mut m = Matrix::five_by_five();
        m.bands.push(m.bands[0].clone());
        assert_eq!(m.check(), Err(MatrixError::DuplicateBand("low".into())));
    }

    #[test]
    fn direction_of_travel_is_never_missing() {
        let mut r = register();
        assert_eq!(r.direction("1"), Direction::New);
        r.assessments
            .push(assess("1", AssessmentKind::Current, 4, 4, "2026-01-10"));
        assert_eq!(r.direction("1"), Direction::New);
        r.assessments
            .push(assess("1", AssessmentKind::Current, 3, 4, "2026-04-10"));
        assert_eq!(r.direction("1"), Direction::Improving);
        // Entered out of order: dates decide, not position.
        r.assessments
            .push(assess("1", AssessmentKind::Current, 5, 5, "2026-02-10"));
        assert_eq!(r.direction("1"), Direction::Improving);
        r.assessments
            .push(assess("1", AssessmentKind::Current, 4, 4, "2026-07-01"));
        assert_eq!(r.direction("1"), Direction::Worsening);
        // Inherent and target assessments do not move the arrow.
        r.assessments
            .push(assess("1", AssessmentKind::Target, 1, 1, "2026-08-01"));
        assert_eq!(r.direction("1"), Direction::Worsening);
    }

    #[test]
    fn overdue_stale_and_appetite() {
        let mut r = register();
        let today = day("2026-07-15");
        assert_eq!(r.overdue_reviews(today).len(), 2);
        r.risks[1].status = RiskStatus::Closed;
        assert_eq!(r.overdue_reviews(today).len(), 1);
        // Risk 1 assessed 100 days ago with a 90-day frequency: stale. Closed risks never are.
        r.assessments
            .push(assess("1", AssessmentKind::Current, 4, 3, "2026-04-06"));
        assert_eq!(r.stale_risks(today).len(), 1);
        r.assessments
            .push(assess("1", AssessmentKind::Current, 4, 3, "2026-07-01"));
        assert!(r.stale_risks(today).is_empty());
        assert!(r.outside_appetite(&r.risks[0]), "12 > appetite 9");
        r.actions.push(RiskAction {
            id: "a1".into(),
            risk_id: "1".into(),
            title: "Agree exit terms".into(),
            owner: "Monitoring officer".into(),
            council: "ashby".into(),
            due: day("2026-07-01"),
            status: ActionStatus::InProgress,
            expected_effect: "likelihood down one step".into(),
        });
        assert_eq!(r.overdue_actions(today).len(), 1);
        r.actions[0].status = ActionStatus::Done;
        assert!(r.overdue_actions(today).is_empty());
    }

    #[test]
    fn heat_map_counts_latest_open_assessments() {
        let mut r = register();
        r.assessments
            .push(assess("1", AssessmentKind::Current, 5, 5, "2026-01-10"));
        r.assessments
            .push(assess("1", AssessmentKind::Current, 2, 3, "2026-03-10"));
        r.assessments
            .push(assess("2", AssessmentKind::Current, 2, 3, "2026-03-10"));
        let map = r.heat_map(AssessmentKind::Current);
        assert_eq!(map[1][2], 2);
        assert_eq!(map[4][4], 0, "superseded assessments do not count");
        assert_eq!(map.iter().flatten().sum::<u32>(), 2);
    }

    #[test]
    fn check_names_each_problem_by_path() {
        let mut r = register();
        assert_eq!(r.check(), Ok(()));
        r.assessments
            .push(assess("9", AssessmentKind::Current, 6, 1, "2026-01-10"));
        r.risks[1].id = "1".into();
        r.risks[0].related = vec!["missing".into()];
        let problems = r.check().unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "risks[1].id",
                "risks[0].related[0]",
                "assessments[0].riskId",
                "assessments[0]"
            ],
            "{problems:?}"
        );
    }

    proptest! {
        /// Whatever the order assessments were entered in, the arrow compares the two latest
        /// by date, and the heat map counts each open risk at most once per kind.
        #[test]
        fn direction_and_heat_map_hold_for_any_history(
            entries in proptest::collection::vec((1u32..=5, 1u32..=5, 0i64..400, 0usize..2), 0..20)
        ) {
            let mut r = register();
            for (k, (l, i, d, who)) in entries.iter().enumerate() {
                let date = day("2026-01-01") + chrono::Duration::days(*d);
                let mut a = assess(&format!("{}", who + 1), AssessmentKind::Current, *l, *i, "2026-01-01");
                a.date = date;
                a.id = format!("a{k}");
                r.assessments.push(a);
            }
            for id in ["1", "2"] {
                let h = r.history(id, AssessmentKind::Current);
                prop_assert!(h.windows(2).all(|w| w[0].date <= w[1].date));
                let expected = match h.as_slice() {
                    [.., a, b] => match score(b.likelihood, b.impact).cmp(&score(a.likelihood, a.impact)) {
                        std::cmp::Ordering::Less => Direction::Improving,
                        std::cmp::Ordering::Greater => Direction::Worsening,
                        std::cmp::Ordering::Equal => Direction::Stable,
                    },
                    _ => Direction::New,
                };
                prop_assert_eq!(r.direction(id), expected);
            }
            let total: u32 = r.heat_map(AssessmentKind::Current).iter().flatten().sum();
            let assessed = ["1", "2"].iter().filter(|id| r.latest(id, AssessmentKind::Current).is_some()).count();
            prop_assert_eq!(total as usize, assessed);
        }
    }
}
