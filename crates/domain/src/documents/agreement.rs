//! The partnership agreement: ordered clauses of rich text edited together, each with a status,
//! comment threads anchored to the text, and each member council's sign-off of a named version.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClauseStatus {
    Draft,
    Proposed,
    Agreed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Clause {
    pub id: String,
    /// "4. Withdrawal and termination".
    pub heading: String,
    /// The clause text (an automerge text object with marks in the live document).
    #[serde(default)]
    pub text: String,
    pub status: ClauseStatus,
    /// Where the clause stands among the others, lowest first; without one, a clause keeps its
    /// place in the list. Moving a clause changes only this number, never the list, so its live
    /// text and the comments anchored to it are not cut (moving a list element in automerge is
    /// a delete and an insert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<f64>,
}

impl Agreement {
    /// The clauses in reading order: by `order`, a clause without one at its list position.
    pub fn ordered(&self) -> Vec<&Clause> {
        let key = |i: usize, c: &Clause| c.order.unwrap_or(i as f64 * 1024.0);
        let mut v: Vec<(f64, usize, &Clause)> = self
            .clauses
            .iter()
            .enumerate()
            .map(|(i, c)| (key(i, c), i, c))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        v.into_iter().map(|(_, _, c)| c).collect()
    }
}

/// A comment, anchored to a stretch of a clause's text by automerge cursors; a reply names its
/// parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: String,
    pub clause_id: String,
    #[serde(default)]
    pub parent_id: Option<String>,
    /// automerge cursors for the start and end of the anchored text.
    #[serde(default)]
    pub anchor_start: String,
    #[serde(default)]
    pub anchor_end: String,
    pub author: String,
    pub body: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    #[serde(default)]
    pub resolved: bool,
}

/// One council's sign-off of a named version of the agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignOff {
    /// Organisation id.
    pub council: String,
    /// The named version signed (its id).
    pub version_id: String,
    pub signed_by: String,
    pub date: chrono::NaiveDate,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    #[serde(default)]
    pub clauses: Vec<Clause>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    #[serde(default)]
    pub sign_offs: Vec<SignOff>,
}

impl Agreement {
    pub fn check(&self) -> Result<(), Vec<super::check::Problem>> {
        let mut p = super::check::Problems::default();
        p.unique("clauses", self.clauses.iter().map(|c| c.id.as_str()));
        p.unique("comments", self.comments.iter().map(|c| c.id.as_str()));
        let clauses: std::collections::HashSet<&str> =
            self.clauses.iter().map(|c| c.id.as_str()).collect();
        let comments: std::collections::HashSet<&str> =
            self.comments.iter().map(|c| c.id.as_str()).collect();
        for (i, c) in self.clauses.iter().enumerate() {
            p.required(format!("clauses[{i}].heading"), &c.heading);
        }
        for (i, c) in self.comments.iter().enumerate() {
            p.resolves(
                format!("comments[{i}].clauseId"),
                &c.clause_id,
                &clauses,
                "clause",
            );
            if let Some(parent) = &c.parent_id {
                p.resolves(
                    format!("comments[{i}].parentId"),
                    parent,
                    &comments,
                    "comment",
                );
            }
            p.required(format!("comments[{i}].body"), &c.body);
        }
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.sign_offs.iter().enumerate() {
            if !seen.insert((s.council.as_str(), s.version_id.as_str())) {
                p.add(
                    format!("signOffs[{i}]"),
                    "this council has already signed this version",
                );
            }
            p.required(format!("signOffs[{i}].signedBy"), &s.signed_by);
        }
        p.into_result()
    }

    /// True when every clause is agreed (what a council signs).
    pub fn all_agreed(&self) -> bool {
        !self.clauses.is_empty()
            && self
                .clauses
                .iter()
                .all(|c| c.status == ClauseStatus::Agreed)
    }
}

/// Rich text as words to read: automerge's block markers (paragraphs, list items, which read
/// as U+FFFC in a text's plain form) become line breaks; marks (bold, italic) carry no text.
pub fn readable(text: &str) -> String {
    text.replace('\u{fffc}', "\n")
        .trim_start_matches('\n')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_read_in_their_order_and_unordered_ones_keep_their_place() {
        let mut a = Agreement {
            clauses: vec![
                clause("a", ClauseStatus::Draft),
                clause("b", ClauseStatus::Draft),
                clause("c", ClauseStatus::Draft),
            ],
            ..Agreement::default()
        };
        let ids = |a: &Agreement| a.ordered().iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ["a", "b", "c"]);
        // "c" moved between "a" (0) and "b" (1024).
        a.clauses[2].order = Some(512.0);
        assert_eq!(ids(&a), ["a", "c", "b"]);
        a.clauses[0].order = Some(4096.0);
        assert_eq!(ids(&a), ["c", "b", "a"]);
    }

    fn clause(id: &str, status: ClauseStatus) -> Clause {
        Clause {
            order: None,
            id: id.into(),
            heading: format!("Clause {id}"),
            text: "The councils shall share a chief executive.".into(),
            status,
        }
    }

    #[test]
    fn block_markers_read_as_line_breaks() {
        assert_eq!(
            readable("\u{fffc}Either council may withdraw.\u{fffc}Notice: 12 months."),
            "Either council may withdraw.\nNotice: 12 months."
        );
        assert_eq!(readable("Plain clause"), "Plain clause");
    }

    #[test]
    fn comments_and_sign_offs_must_resolve_once() {
        let mut a = Agreement {
            clauses: vec![
                clause("c1", ClauseStatus::Agreed),
                clause("c2", ClauseStatus::Proposed),
            ],
            comments: vec![Comment {
                id: "n1".into(),
                clause_id: "c2".into(),
                parent_id: None,
                anchor_start: String::new(),
                anchor_end: String::new(),
                author: "Ben (Brockley)".into(),
                body: "Notice period should be 12 months".into(),
                created_at: 0,
                resolved: false,
            }],
            sign_offs: vec![],
        };
        assert_eq!(a.check(), Ok(()));
        assert!(!a.all_agreed());
        a.clauses[1].status = ClauseStatus::Agreed;
        assert!(a.all_agreed());
        let mut reply = a.comments[0].clone();
        reply.id = "n2".into();
        reply.parent_id = Some("gone".into());
        reply.clause_id = "c9".into();
        a.comments.push(reply);
        let s = SignOff {
            council: "ashby".into(),
            version_id: "v1".into(),
            signed_by: "Leader of Ashby".into(),
            date: "2026-03-12".parse().unwrap(),
        };
        a.sign_offs = vec![s.clone(), s];
        let paths: Vec<String> = a.check().unwrap_err().into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                "comments[1].clauseId",
                "comments[1].parentId",
                "signOffs[1]"
            ]
        );
    }
}
