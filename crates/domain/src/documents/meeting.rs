//! A joint meeting: attendees by council, the agenda, decisions, and actions with an owner, a
//! council and a due date, each linkable to a risk or a KPI in another document.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::risk::ActionStatus;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    pub name: String,
    /// Organisation id.
    pub council: String,
    #[serde(default)]
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgendaItem {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub presenter: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub id: String,
    #[serde(default)]
    pub agenda_item_id: Option<String>,
    /// The resolution as recorded.
    pub text: String,
}

/// What an action is linked to: a risk in a register or a KPI in an SLA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub kind: LinkKind,
    pub document_id: String,
    /// The risk's or KPI's id in that document.
    pub item_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    Risk,
    Kpi,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeetingAction {
    pub id: String,
    pub text: String,
    pub owner: String,
    pub council: String,
    pub due: NaiveDate,
    pub status: ActionStatus,
    #[serde(default)]
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Meeting {
    #[serde(default)]
    pub date: Option<NaiveDate>,
    #[serde(default)]
    pub attendees: Vec<Attendee>,
    #[serde(default)]
    pub agenda: Vec<AgendaItem>,
    #[serde(default)]
    pub decisions: Vec<Decision>,
    #[serde(default)]
    pub actions: Vec<MeetingAction>,
    #[serde(default)]
    pub matters_arising: Vec<String>,
}

impl Meeting {
    pub fn check(&self) -> Result<(), Vec<super::check::Problem>> {
        let mut p = super::check::Problems::default();
        p.unique("agenda", self.agenda.iter().map(|a| a.id.as_str()));
        p.unique("decisions", self.decisions.iter().map(|d| d.id.as_str()));
        p.unique("actions", self.actions.iter().map(|a| a.id.as_str()));
        let items: std::collections::HashSet<&str> =
            self.agenda.iter().map(|a| a.id.as_str()).collect();
        for (i, d) in self.decisions.iter().enumerate() {
            if let Some(item) = &d.agenda_item_id {
                p.resolves(
                    format!("decisions[{i}].agendaItemId"),
                    item,
                    &items,
                    "agenda item",
                );
            }
            p.required(format!("decisions[{i}].text"), &d.text);
        }
        for (i, a) in self.actions.iter().enumerate() {
            p.required(format!("actions[{i}].owner"), &a.owner);
            p.required(format!("actions[{i}].council"), &a.council);
            for (k, l) in a.links.iter().enumerate() {
                if l.document_id.parse::<crate::DocumentId>().is_err() {
                    p.add(
                        format!("actions[{i}].links[{k}].documentId"),
                        "is not a document id",
                    );
                }
            }
        }
        p.into_result()
    }

    /// Unfinished actions past their due date.
    pub fn overdue_actions(&self, today: NaiveDate) -> Vec<&MeetingAction> {
        self.actions
            .iter()
            .filter(|a| !a.status.is_finished() && a.due < today)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_and_links_must_resolve() {
        let mut m = Meeting {
            date: Some("2026-03-12".parse().unwrap()),
            attendees: vec![],
            agenda: vec![AgendaItem {
                id: "i1".into(),
                title: "Risk register review".into(),
                presenter: String::new(),
            }],
            decisions: vec![Decision {
                id: "d1".into(),
                agenda_item_id: Some("i1".into()),
                text: "The register was noted.".into(),
            }],
            actions: vec![MeetingAction {
                id: "a1".into(),
                text: "Refresh the exit plan".into(),
                owner: "Monitoring officer".into(),
                council: "ashby".into(),
                due: "2026-04-30".parse().unwrap(),
                status: ActionStatus::NotStarted,
                links: vec![Link {
                    kind: LinkKind::Risk,
                    document_id: crate::DocumentId::random().to_string(),
                    item_id: "r1".into(),
                }],
            }],
            matters_arising: vec![],
        };
        assert_eq!(m.check(), Ok(()));
        assert_eq!(m.overdue_actions("2026-05-01".parse().unwrap()).len(), 1);
        m.decisions[0].agenda_item_id = Some("i9".into());
        m.actions[0].links[0].document_id = "not-an-id".into();
        let paths: Vec<String> = m.check().unwrap_err().into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                "decisions[0].agendaItemId",
                "actions[0].links[0].documentId"
            ]
        );
    }
}
