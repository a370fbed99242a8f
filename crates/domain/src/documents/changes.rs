//! "What changed since the last report": the difference between two versions of a document,
//! in the terms a committee reads — risks added, closed and reopened, score moves with their
//! reasons, new, completed and overdue actions, KPI RAG changes. Pure: the two versions come in
//! as typed content.

use chrono::NaiveDate;
use serde::Serialize;

use super::Content;
use super::risk::{AssessmentKind, RiskRegister, RiskStatus, score};
use super::sla::{Rag, Sla};

/// A risk named in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiskRef {
    pub risk_id: String,
    pub reference: String,
    pub title: String,
}

/// A position on the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub likelihood: u32,
    pub impact: u32,
    pub score: u32,
    /// The band's label (text, so the report never relies on colour).
    pub band: String,
}

/// A risk whose latest assessment of one kind moved between the versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScoreMove {
    #[serde(flatten)]
    pub risk: RiskRef,
    pub kind: AssessmentKind,
    /// Absent when the earlier version had no assessment of this kind.
    pub from: Option<Position>,
    pub to: Position,
    /// `to.score - from.score` (0 when new).
    pub change: i64,
    /// The reason recorded with the new assessment, and by whom and when.
    pub reason: String,
    pub assessor: String,
    pub date: NaiveDate,
}

/// An action named in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionRef {
    pub action_id: String,
    pub risk_reference: String,
    pub title: String,
    pub owner: String,
    pub due: NaiveDate,
}

/// What changed in a risk register.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterChanges {
    pub added: Vec<RiskRef>,
    pub closed: Vec<RiskRef>,
    pub reopened: Vec<RiskRef>,
    /// Deleted outright (a register should close risks, not delete them: worth showing).
    pub removed: Vec<RiskRef>,
    pub moved: Vec<ScoreMove>,
    pub new_actions: Vec<ActionRef>,
    pub completed_actions: Vec<ActionRef>,
    /// Unfinished actions past due on `today`, whether or not they changed.
    pub overdue_actions: Vec<ActionRef>,
}

/// A KPI whose latest RAG changed (or that gained its first measurement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RagChange {
    pub kpi_id: String,
    pub name: String,
    pub from: Option<Rag>,
    pub to: Rag,
    /// The period of the latest measurement in the later version.
    pub period: String,
}

/// The report between two versions of one document.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ChangeReport {
    RiskRegister(RegisterChanges),
    Sla {
        kpis: Vec<RagChange>,
    },
    /// Agreements and meetings are compared as text; no structured report.
    Other,
}

/// The report from `before` to `after` (two versions of the same document).
pub fn report(before: &Content, after: &Content, today: NaiveDate) -> ChangeReport {
    match (before, after) {
        (Content::RiskRegister(a), Content::RiskRegister(b)) => {
            ChangeReport::RiskRegister(register(a, b, today))
        }
        (Content::Sla(a), Content::Sla(b)) => ChangeReport::Sla { kpis: kpis(a, b) },
        _ => ChangeReport::Other,
    }
}

fn risk_ref(r: &super::risk::Risk) -> RiskRef {
    RiskRef {
        risk_id: r.id.clone(),
        reference: r.reference.clone(),
        title: r.title.clone(),
    }
}

/// The register's view of an action, with its risk's reference.
fn action_ref(reg: &RiskRegister, a: &super::risk::RiskAction) -> ActionRef {
    ActionRef {
        action_id: a.id.clone(),
        risk_reference: reg.reference_of(&a.risk_id),
        title: a.title.clone(),
        owner: a.owner.clone(),
        due: a.due,
    }
}

/// Risks added, closed, reopened and removed; latest-score moves of every kind with their
/// reasons; actions added, completed and overdue.
pub fn register(before: &RiskRegister, after: &RiskRegister, today: NaiveDate) -> RegisterChanges {
    let mut out = RegisterChanges::default();
    for r in &after.risks {
        match before.risks.iter().find(|b| b.id == r.id) {
            None => out.added.push(risk_ref(r)),
            Some(b) if b.status == RiskStatus::Open && r.status == RiskStatus::Closed => {
                out.closed.push(risk_ref(r))
            }
            Some(b) if b.status == RiskStatus::Closed && r.status == RiskStatus::Open => {
                out.reopened.push(risk_ref(r))
            }
            Some(_) => {}
        }
        for kind in [
            AssessmentKind::Inherent,
            AssessmentKind::Current,
            AssessmentKind::Target,
        ] {
            let Some(now) = after.latest(&r.id, kind) else {
                continue;
            };
            let was = before.latest(&r.id, kind);
            if was.is_some_and(|w| w.id == now.id) {
                continue;
            }
            let position = |reg: &RiskRegister, l: u32, i: u32| Position {
                likelihood: l,
                impact: i,
                score: score(l, i),
                band: reg
                    .matrix
                    .band(l, i)
                    .map(|b| b.label.clone())
                    .unwrap_or_default(),
            };
            let from = was.map(|w| position(before, w.likelihood, w.impact));
            let to = position(after, now.likelihood, now.impact);
            // A new assessment that repeats the old position is a review, not a move.
            if from
                .as_ref()
                .is_some_and(|f| (f.likelihood, f.impact) == (to.likelihood, to.impact))
            {
                continue;
            }
            out.moved.push(ScoreMove {
                risk: risk_ref(r),
                kind,
                change: from
                    .as_ref()
                    .map_or(0, |f| i64::from(to.score) - i64::from(f.score)),
                from,
                to,
                reason: now.reason.clone(),
                assessor: now.assessor.clone(),
                date: now.date,
            });
        }
    }
    for b in &before.risks {
        if !after.risks.iter().any(|r| r.id == b.id) {
            out.removed.push(risk_ref(b));
        }
    }
    for a in &after.actions {
        match before.actions.iter().find(|b| b.id == a.id) {
            None => out.new_actions.push(action_ref(after, a)),
            Some(b) if !b.status.is_finished() && a.status.is_finished() => {
                out.completed_actions.push(action_ref(after, a))
            }
            Some(_) => {}
        }
    }
    out.overdue_actions = after
        .overdue_actions(today)
        .into_iter()
        .map(|a| action_ref(after, a))
        .collect();
    out
}

/// KPIs whose latest RAG differs between the versions.
pub fn kpis(before: &Sla, after: &Sla) -> Vec<RagChange> {
    let was = before.kpi_status();
    after
        .kpi_status()
        .into_iter()
        .filter_map(|now| {
            let from = was.iter().find(|w| w.kpi_id == now.kpi_id).map(|w| w.rag);
            if from == Some(now.rag) {
                return None;
            }
            let name = after
                .kpis
                .iter()
                .find(|k| k.id == now.kpi_id)
                .map(|k| k.name.clone())
                .unwrap_or_default();
            Some(RagChange {
                kpi_id: now.kpi_id,
                name,
                from,
                to: now.rag,
                period: now.period,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::risk::*;

    fn day(d: &str) -> NaiveDate {
        d.parse().unwrap()
    }

    fn risk(id: &str, status: RiskStatus) -> Risk {
        Risk {
            id: id.into(),
            reference: format!("SP-{id}"),
            title: format!("risk {id}"),
            cause: String::new(),
            event: String::new(),
            effect: String::new(),
            category: "Financial".into(),
            owner: "A. Owner".into(),
            owning_councils: vec![],
            bearing_council: None,
            affected_councils: vec![],
            identified: day("2026-01-01"),
            related: vec![],
            response: Response::Treat,
            controls: String::new(),
            review_frequency_days: 90,
            next_review: day("2026-06-01"),
            status,
            escalation: Escalation::Service,
            stated_direction: String::new(),
        }
    }

    fn assess(id: &str, risk: &str, l: u32, i: u32, date: &str, reason: &str) -> Assessment {
        Assessment {
            id: id.into(),
            risk_id: risk.into(),
            kind: AssessmentKind::Current,
            likelihood: l,
            impact: i,
            date: day(date),
            assessor: "R. Officer".into(),
            reason: reason.into(),
        }
    }

    fn action(id: &str, risk: &str, due: &str, status: ActionStatus) -> RiskAction {
        RiskAction {
            id: id.into(),
            risk_id: risk.into(),
            title: format!("action {id}"),
            owner: "A. Owner".into(),
            council: "org".into(),
            due: day(due),
            status,
            expected_effect: String::new(),
        }
    }

    fn register_of(
        risks: Vec<Risk>,
        assessments: Vec<Assessment>,
        actions: Vec<RiskAction>,
    ) -> RiskRegister {
        RiskRegister {
            matrix: Matrix::five_by_five(),
            appetite: vec![],
            risks,
            assessments,
            actions,
        }
    }

    #[test]
    fn register_report_names_every_kind_of_change() {
        let before = register_of(
            vec![
                risk("1", RiskStatus::Open),
                risk("2", RiskStatus::Open),
                risk("3", RiskStatus::Closed),
                risk("4", RiskStatus::Open),
            ],
            vec![
                assess("a1", "1", 3, 3, "2026-01-10", "first"),
                assess("a2", "2", 4, 4, "2026-01-10", "first"),
            ],
            vec![
                action("x1", "1", "2026-02-01", ActionStatus::InProgress),
                action("x2", "2", "2026-09-01", ActionStatus::InProgress),
            ],
        );
        let mut after = before.clone();
        after.risks[1].status = RiskStatus::Closed;
        after.risks[2].status = RiskStatus::Open;
        after.risks.retain(|r| r.id != "4");
        after.risks.push(risk("5", RiskStatus::Open));
        after.assessments.push(assess(
            "a3",
            "1",
            4,
            5,
            "2026-03-01",
            "partner gave notice of withdrawal",
        ));
        // Re-assessed at the same position: a review, not a move.
        after
            .assessments
            .push(assess("a4", "2", 4, 4, "2026-03-01", "reviewed"));
        after
            .assessments
            .push(assess("a5", "5", 2, 2, "2026-03-01", "new"));
        after.actions[1].status = ActionStatus::Done;
        after
            .actions
            .push(action("x3", "5", "2026-04-01", ActionStatus::NotStarted));

        let r = register(&before, &after, day("2026-03-12"));
        let ids = |v: &[RiskRef]| v.iter().map(|r| r.risk_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&r.added), ["5"]);
        assert_eq!(ids(&r.closed), ["2"]);
        assert_eq!(ids(&r.reopened), ["3"]);
        assert_eq!(ids(&r.removed), ["4"]);
        assert_eq!(r.moved.len(), 2, "{:?}", r.moved);
        let m = &r.moved[0];
        assert_eq!(m.risk.reference, "SP-1");
        assert_eq!(m.from.as_ref().map(|f| f.score), Some(9));
        assert_eq!(m.to.score, 20);
        assert_eq!(m.change, 11);
        assert_eq!(m.reason, "partner gave notice of withdrawal");
        assert!(!m.to.band.is_empty());
        assert_eq!(r.moved[1].risk.risk_id, "5");
        assert_eq!(r.moved[1].from, None);
        let actions = |v: &[ActionRef]| v.iter().map(|a| a.action_id.clone()).collect::<Vec<_>>();
        assert_eq!(actions(&r.new_actions), ["x3"]);
        assert_eq!(actions(&r.completed_actions), ["x2"]);
        assert_eq!(actions(&r.overdue_actions), ["x1"]);
        assert_eq!(r.overdue_actions[0].risk_reference, "SP-1");
    }

    #[test]
    fn no_change_reports_nothing_but_overdue() {
        let reg = register_of(
            vec![risk("1", RiskStatus::Open)],
            vec![assess("a1", "1", 3, 3, "2026-01-10", "first")],
            vec![action("x1", "1", "2026-02-01", ActionStatus::InProgress)],
        );
        let r = register(&reg, &reg, day("2026-03-12"));
        assert!(r.added.is_empty() && r.moved.is_empty() && r.new_actions.is_empty());
        assert_eq!(r.overdue_actions.len(), 1);
    }

    #[test]
    fn kpi_rag_changes() {
        use crate::documents::sla::*;
        let mut before = Sla::empty();
        before.kpis.push(Kpi {
            id: "k1".into(),
            name: "Days to process new claims".into(),
            polarity: Polarity::LowerIsBetter,
            frequency: Frequency::Monthly,
            unit: "days".into(),
            baseline: None,
            target: 20.0,
            amber_tolerance: 2.0,
            council_shares: Default::default(),
        });
        before.measurements.push(Measurement {
            id: "m1".into(),
            kpi_id: "k1".into(),
            period: "2026-01".into(),
            actual: 19.0,
            commentary: String::new(),
            corrective_action: String::new(),
        });
        let mut after = before.clone();
        after.measurements.push(Measurement {
            id: "m2".into(),
            kpi_id: "k1".into(),
            period: "2026-02".into(),
            actual: 25.0,
            commentary: String::new(),
            corrective_action: String::new(),
        });
        let changes = kpis(&before, &after);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].from, Some(Rag::Green));
        assert_eq!(changes[0].to, Rag::Red);
        assert_eq!(changes[0].period, "2026-02");
        assert!(kpis(&after, &after).is_empty());
    }
}
