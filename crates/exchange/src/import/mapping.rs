//! Which column holds which field.
//!
//! Every council names its columns differently ("Ref", "Risk ref", "Residual likelihood",
//! "Likelihood (current)"), so the import guesses from the header text and lets the person
//! correct the guess. The correction travels as JSON keyed by column letter — the letter a
//! person sees in Excel, stable even when two columns share a heading or one has none:
//!
//! ```json
//! {"columns": {"A": "reference", "B": "title", "J": "inherent-likelihood", "T": "ignore"}}
//! ```
//!
//! Field names are the kebab-case forms of [`Field`]; columns not listed are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::table::{Table, column_letter};

/// What a column means to the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Field {
    Reference,
    Title,
    Cause,
    Event,
    Effect,
    Category,
    Owner,
    OwningCouncils,
    BearingCouncil,
    AffectedCouncils,
    Identified,
    Response,
    Controls,
    ReviewFrequencyDays,
    NextReview,
    Status,
    Escalation,
    InherentLikelihood,
    InherentImpact,
    CurrentLikelihood,
    CurrentImpact,
    TargetLikelihood,
    TargetImpact,
    /// Why the scores moved; stored on the assessments the row creates.
    AssessmentReason,
    /// When the row's scores were assessed (default: the day of the import).
    AssessmentDate,
    /// Who assessed them (default: the person importing).
    Assessor,
    /// A score as the sheet wrote it (likelihood × impact): not stored (the register computes
    /// it), but checked, and a disagreement is flagged.
    InherentScore,
    CurrentScore,
    TargetScore,
    /// A band or RAG rating as the sheet states it, in words or by colour alone: not stored
    /// (the matrix gives the band), but checked, and a disagreement or a colour read is
    /// flagged.
    InherentBand,
    CurrentBand,
    TargetBand,
    /// Actions written in the risk's own row ("Further actions"): one per line.
    ActionTitle,
    /// Who does them (default: the risk's owner).
    ActionOwner,
    /// When they are due (default: the risk's next review).
    ActionDue,
    /// Other risks of the register this one is linked to, by reference.
    Related,
    /// The direction of travel the sheet states ("Improving", "↑"): kept as written, beside
    /// the one the register computes.
    StatedDirection,
    /// Not imported (computed columns such as score and band, notes, anything unknown).
    Ignore,
}

impl Field {
    /// A risk's own fields (not its scores), in the export's column order.
    pub const RISK: &'static [Field] = &[
        Field::Reference,
        Field::Title,
        Field::Cause,
        Field::Event,
        Field::Effect,
        Field::Category,
        Field::Owner,
        Field::OwningCouncils,
        Field::BearingCouncil,
        Field::AffectedCouncils,
        Field::Identified,
        Field::Response,
        Field::Controls,
        Field::ReviewFrequencyDays,
        Field::NextReview,
        Field::Status,
        Field::Escalation,
        Field::Related,
        Field::StatedDirection,
    ];

    /// The scores (likelihood and impact of each kind, first), the reason, the date and the
    /// assessor, which become assessments.
    pub const ASSESSMENT: &'static [Field] = &[
        Field::InherentLikelihood,
        Field::InherentImpact,
        Field::CurrentLikelihood,
        Field::CurrentImpact,
        Field::TargetLikelihood,
        Field::TargetImpact,
        Field::AssessmentReason,
        Field::AssessmentDate,
        Field::Assessor,
    ];

    /// Actions in the risk's row.
    pub const ACTIONS: &'static [Field] =
        &[Field::ActionTitle, Field::ActionOwner, Field::ActionDue];

    /// Written scores, checked against likelihood × impact.
    pub const SCORES: &'static [Field] = &[
        Field::InherentScore,
        Field::CurrentScore,
        Field::TargetScore,
    ];

    /// Stated bands, checked against the matrix's band for likelihood × impact.
    pub const BANDS: &'static [Field] =
        &[Field::InherentBand, Field::CurrentBand, Field::TargetBand];

    /// The heading the export writes for this field; [`Mapping::guess`] recognises each.
    pub fn label(self) -> &'static str {
        match self {
            Field::Reference => "Ref",
            Field::Title => "Risk title",
            Field::Cause => "Cause",
            Field::Event => "Event",
            Field::Effect => "Effect",
            Field::Category => "Category",
            Field::Owner => "Risk owner",
            Field::OwningCouncils => "Owning councils",
            Field::BearingCouncil => "Bearing council",
            Field::AffectedCouncils => "Affected councils",
            Field::Identified => "Date identified",
            Field::Response => "Response",
            Field::Controls => "Existing controls",
            Field::ReviewFrequencyDays => "Review frequency (days)",
            Field::NextReview => "Next review",
            Field::Status => "Status",
            Field::Escalation => "Escalation",
            Field::InherentLikelihood => "Inherent likelihood",
            Field::InherentImpact => "Inherent impact",
            Field::CurrentLikelihood => "Current likelihood",
            Field::CurrentImpact => "Current impact",
            Field::TargetLikelihood => "Target likelihood",
            Field::TargetImpact => "Target impact",
            Field::AssessmentReason => "Assessment reason",
            Field::AssessmentDate => "Date assessed",
            Field::Assessor => "Assessed by",
            Field::InherentScore => "Inherent score",
            Field::CurrentScore => "Current score",
            Field::TargetScore => "Target score",
            Field::InherentBand => "Inherent band",
            Field::CurrentBand => "Current band",
            Field::TargetBand => "Target band",
            Field::ActionTitle => "Further actions",
            Field::ActionOwner => "Action owner",
            Field::ActionDue => "Action due date",
            Field::Related => "Related risks",
            Field::StatedDirection => "Stated direction of travel",
            Field::Ignore => "Ignored",
        }
    }
}

/// Column index (0 = A) → field. At most one column per field, so a row never has two
/// competing values for one field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MappingJson", into = "MappingJson")]
pub struct Mapping {
    columns: BTreeMap<usize, Field>,
}

/// Why a mapping sent as JSON is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("{0:?} is not a column letter (A, B, … AA)")]
    BadColumn(String),
    #[error("columns {0} and {1} are both mapped to {2:?}; a field takes one column")]
    Twice(String, String, Field),
}

#[derive(Serialize, Deserialize)]
struct MappingJson {
    columns: BTreeMap<String, Field>,
}

impl TryFrom<MappingJson> for Mapping {
    type Error = MappingError;

    fn try_from(json: MappingJson) -> Result<Self, MappingError> {
        let mut m = Mapping::default();
        for (letter, field) in json.columns {
            let col = column_index(&letter).ok_or(MappingError::BadColumn(letter))?;
            if field != Field::Ignore
                && let Some(other) = m.column(field)
            {
                return Err(MappingError::Twice(
                    column_letter(other),
                    column_letter(col),
                    field,
                ));
            }
            m.columns.insert(col, field);
        }
        Ok(m)
    }
}

impl From<Mapping> for MappingJson {
    fn from(m: Mapping) -> Self {
        MappingJson {
            columns: m
                .columns
                .into_iter()
                .map(|(c, f)| (column_letter(c), f))
                .collect(),
        }
    }
}

/// `A` → 0, `AA` → 26; case-insensitive.
pub(crate) fn column_index(letters: &str) -> Option<usize> {
    let letters = letters.trim();
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let mut n = 0usize;
    for ch in letters.chars() {
        if !ch.is_ascii_alphabetic() {
            return None;
        }
        n = n * 26 + (ch.to_ascii_uppercase() as usize - 'A' as usize + 1);
    }
    Some(n - 1)
}

impl Mapping {
    /// Guesses each column's field from its heading. The first column naming a field wins;
    /// later ones with the same meaning are ignored.
    pub fn guess(table: &Table) -> Mapping {
        let mut m = Mapping::default();
        for (col, header) in table.headers.iter().enumerate() {
            let field = guess_field(header);
            if field != Field::Ignore && m.column(field).is_none() {
                m.columns.insert(col, field);
            }
        }
        m
    }

    /// The field of a column (0 = A).
    pub fn field(&self, col: usize) -> Field {
        self.columns.get(&col).copied().unwrap_or(Field::Ignore)
    }

    /// The column holding a field, if any.
    pub fn column(&self, field: Field) -> Option<usize> {
        self.columns
            .iter()
            .find(|(_, f)| **f == field)
            .map(|(c, _)| *c)
    }

    /// Maps a column to a field, taking the field away from any other column.
    pub fn set(&mut self, col: usize, field: Field) {
        if field != Field::Ignore {
            self.columns.retain(|_, f| *f != field);
        }
        if field == Field::Ignore {
            self.columns.remove(&col);
        } else {
            self.columns.insert(col, field);
        }
    }

    /// The mapped columns in column order.
    pub fn columns(&self) -> impl Iterator<Item = (usize, Field)> + '_ {
        self.columns.iter().map(|(c, f)| (*c, *f))
    }
}

/// Lower case, `&` as "and", punctuation as spaces, single spaces.
pub(crate) fn normalise(s: &str) -> String {
    s.to_lowercase()
        .replace('&', " and ")
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Clone, Copy)]
enum Kind {
    Inherent,
    Current,
    Target,
}

const INHERENT: &[&str] = &[
    "inherent",
    "gross",
    "original",
    "initial",
    "uncontrolled",
    "untreated",
    "unmitigated",
    "raw",
    "pre",
    "before",
];
const CURRENT: &[&str] = &[
    "current",
    "residual",
    "net",
    "controlled",
    "present",
    "after",
    "with",
    "now",
];
const TARGET: &[&str] = &["target", "mitigated", "future", "desired", "planned"];
const LIKELIHOOD: &[&str] = &["likelihood", "likelyhood", "probability", "l"];
const IMPACT: &[&str] = &["impact", "severity", "i"];
/// Words that may sit around a score heading without changing its meaning.
const SCORE_FILLER: &[&str] = &[
    "score",
    "scores",
    "rating",
    "risk",
    "level",
    "of",
    "the",
    "assessment",
    "controls",
    "control",
    "mitigation",
    "value",
];

/// Which field a heading names; [`Field::Ignore`] when none.
pub(crate) fn guess_field(header: &str) -> Field {
    let norm = normalise(header);
    if norm.is_empty() {
        return Field::Ignore;
    }
    if let Some(f) = score_field(&norm) {
        return f;
    }
    let stripped = norm.strip_prefix("risk ").unwrap_or(&norm);
    for (field, names) in PHRASES {
        if names.contains(&norm.as_str()) || names.contains(&stripped) {
            return *field;
        }
    }
    Field::Ignore
}

/// "Residual likelihood", "Likelihood (current)", "Current score L", "Gross I": a score column
/// is a likelihood or impact word, at most one kind word, and filler; a bare "Likelihood" is
/// the current one.
fn score_field(norm: &str) -> Option<Field> {
    let tokens: Vec<&str> = norm.split(' ').collect();
    let vocabulary = |t: &&str| {
        [INHERENT, CURRENT, TARGET, LIKELIHOOD, IMPACT, SCORE_FILLER]
            .iter()
            .any(|list| list.contains(t))
    };
    if !tokens.iter().all(vocabulary) {
        return None;
    }
    let has = |list: &[&str]| tokens.iter().any(|t| list.contains(t));
    let likelihood = has(LIKELIHOOD);
    if !likelihood && !has(IMPACT) {
        // "Residual score", "Risk score", "Score", "Current rating": the written product (or a
        // rating as one cell, "B3").
        if !tokens.contains(&"score") && !tokens.contains(&"rating") {
            return None;
        }
        return Some(if has(INHERENT) {
            Field::InherentScore
        } else if has(TARGET) {
            Field::TargetScore
        } else {
            Field::CurrentScore
        });
    }
    if likelihood == has(IMPACT) {
        return None;
    }
    let kind = if has(INHERENT) {
        Kind::Inherent
    } else if has(TARGET) {
        Kind::Target
    } else {
        Kind::Current
    };
    Some(match (kind, likelihood) {
        (Kind::Inherent, true) => Field::InherentLikelihood,
        (Kind::Inherent, false) => Field::InherentImpact,
        (Kind::Current, true) => Field::CurrentLikelihood,
        (Kind::Current, false) => Field::CurrentImpact,
        (Kind::Target, true) => Field::TargetLikelihood,
        (Kind::Target, false) => Field::TargetImpact,
    })
}

/// Normalised headings per field (a leading "risk" is also tried without it).
const PHRASES: &[(Field, &[&str])] = &[
    (
        Field::Reference,
        &[
            "ref",
            "reference",
            "ref no",
            "ref number",
            "reference number",
            "reference no",
            "id",
            "no",
            "number",
        ],
    ),
    (
        Field::Title,
        &[
            "title",
            "risk",
            "name",
            "description",
            "summary",
            "risk description",
            "short description",
        ],
    ),
    (
        Field::Cause,
        &["cause", "causes", "trigger", "triggers", "vulnerability"],
    ),
    (Field::Event, &["event", "events"]),
    (
        Field::Effect,
        &[
            "effect",
            "effects",
            "consequence",
            "consequences",
            "impact description",
            "potential consequences",
        ],
    ),
    (
        Field::Category,
        &["category", "type", "theme", "risk category", "risk type"],
    ),
    (
        Field::Owner,
        &[
            "owner",
            "lead officer",
            "responsible officer",
            "accountable officer",
            "lead",
            "officer",
        ],
    ),
    (
        Field::OwningCouncils,
        &[
            "owning council",
            "owning councils",
            "owning partner",
            "owning partners",
            "lead council",
            "lead councils",
            "lead partner",
            "council",
            "councils",
        ],
    ),
    (
        Field::BearingCouncil,
        &[
            "bearing council",
            "council bearing risk",
            "council bearing the risk",
            "bearer",
            "risk bearer",
            "who bears the risk",
        ],
    ),
    (
        Field::AffectedCouncils,
        &[
            "affected councils",
            "affected council",
            "councils affected",
            "affected partners",
            "partners affected",
        ],
    ),
    (
        Field::Identified,
        &[
            "identified",
            "date identified",
            "date raised",
            "raised",
            "raised on",
            "identified on",
            "date added",
            "date logged",
            "date opened",
        ],
    ),
    (
        Field::Response,
        &[
            "response",
            "treatment",
            "risk response",
            "risk treatment",
            "treatment option",
            "response option",
            "approach",
            "4ts",
            "4 ts",
        ],
    ),
    (
        Field::Controls,
        &[
            "controls",
            "existing controls",
            "current controls",
            "controls in place",
            "key controls",
            "mitigation",
            "mitigations",
            "existing mitigation",
            "existing mitigations",
            "mitigating controls",
        ],
    ),
    (
        Field::ReviewFrequencyDays,
        &[
            "review frequency",
            "review frequency days",
            "frequency",
            "review cycle",
            "review cycle days",
            "review period",
            "review interval",
        ],
    ),
    (
        Field::NextReview,
        &[
            "next review",
            "review date",
            "next review date",
            "date of next review",
            "review by",
            "review due",
        ],
    ),
    (
        Field::Status,
        &["status", "risk status", "open closed", "open or closed"],
    ),
    (
        Field::Escalation,
        &[
            "escalation",
            "escalation level",
            "escalated to",
            "reported to",
            "reporting level",
        ],
    ),
    (
        Field::InherentBand,
        &[
            "inherent band",
            "gross band",
            "inherent rag",
            "gross rag",
            "inherent rag rating",
            "gross rag rating",
            "inherent rating band",
        ],
    ),
    (
        Field::CurrentBand,
        &[
            "current band",
            "residual band",
            "net band",
            "band",
            "rag",
            "rag rating",
            "rag status",
            "current rag",
            "residual rag",
            "net rag",
            "current rag rating",
            "residual rag rating",
        ],
    ),
    (
        Field::TargetBand,
        &["target band", "target rag", "target rag rating"],
    ),
    (
        Field::StatedDirection,
        &[
            "stated direction of travel",
            "direction of travel",
            "direction",
            "dot",
            "trend",
            "travel",
            "movement",
            "stated direction",
            "direction of travel arrow",
        ],
    ),
    (
        Field::Related,
        &[
            "related risks",
            "related",
            "related risk",
            "linked risks",
            "links",
            "related refs",
            "related risk refs",
            "interdependencies",
            "dependent risks",
        ],
    ),
    (
        Field::AssessmentDate,
        &[
            "date assessed",
            "assessment date",
            "date of assessment",
            "last assessed",
            "last reviewed",
            "date reviewed",
            "date of last review",
            "last review date",
            "last review",
            "reviewed on",
        ],
    ),
    (
        Field::Assessor,
        &[
            "assessed by",
            "assessor",
            "reviewed by",
            "scored by",
            "last reviewed by",
        ],
    ),
    (
        Field::ActionTitle,
        &[
            "further actions",
            "further action",
            "actions",
            "action",
            "mitigating actions",
            "mitigating action",
            "further mitigating actions",
            "planned actions",
            "additional actions",
            "additional controls required",
            "further controls",
            "further controls required",
            "actions required",
            "action plan",
            "risk actions",
            "management actions",
        ],
    ),
    (
        Field::ActionOwner,
        &[
            "action owner",
            "action owners",
            "action lead",
            "action by",
            "actioned by",
            "responsible for action",
        ],
    ),
    (
        Field::ActionDue,
        &[
            "action due date",
            "action due",
            "due date",
            "due",
            "target date",
            "action target date",
            "completion date",
            "target completion date",
            "deadline",
            "action deadline",
            "by when",
            "action date",
        ],
    ),
    (
        Field::AssessmentReason,
        &[
            "assessment reason",
            "reason",
            "reason for change",
            "reason for score",
            "reason for scores",
            "change reason",
            "rationale",
            "score rationale",
            "commentary",
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn council_synonyms_are_recognised() {
        let cases = [
            ("Ref", Field::Reference),
            ("Risk ref", Field::Reference),
            ("Risk Ref.", Field::Reference),
            ("Risk title", Field::Title),
            ("Risk description", Field::Title),
            ("Risk owner", Field::Owner),
            ("L", Field::CurrentLikelihood),
            ("I", Field::CurrentImpact),
            ("Likelihood (current)", Field::CurrentLikelihood),
            ("Residual likelihood", Field::CurrentLikelihood),
            ("Gross likelihood", Field::InherentLikelihood),
            ("Inherent Impact", Field::InherentImpact),
            ("Target likelihood", Field::TargetLikelihood),
            ("Mitigated impact", Field::TargetImpact),
            ("Current score Likelihood", Field::CurrentLikelihood),
            ("Inherent score I", Field::InherentImpact),
            ("Review date", Field::NextReview),
            ("Next review", Field::NextReview),
            ("Date identified", Field::Identified),
            ("Date raised", Field::Identified),
            ("Existing controls", Field::Controls),
            ("Current controls", Field::Controls),
            ("Response", Field::Response),
            ("Treatment", Field::Response),
            ("Review frequency (days)", Field::ReviewFrequencyDays),
            ("Reported to", Field::Escalation),
            ("Current score", Field::CurrentScore),
            ("Residual risk score", Field::CurrentScore),
            ("Score", Field::CurrentScore),
            ("Gross score", Field::InherentScore),
            ("Target score", Field::TargetScore),
            ("Risk rating", Field::CurrentScore),
            ("Inherent rating", Field::InherentScore),
            ("Further actions", Field::ActionTitle),
            ("Mitigating actions", Field::ActionTitle),
            ("Action owner", Field::ActionOwner),
            ("Target date", Field::ActionDue),
            ("Due date", Field::ActionDue),
            ("Current band", Field::CurrentBand),
            ("Residual RAG", Field::CurrentBand),
            ("RAG", Field::CurrentBand),
            ("Gross RAG", Field::InherentBand),
            ("Direction of travel", Field::StatedDirection),
            ("Direction of travel (computed)", Field::Ignore),
            ("Notes", Field::Ignore),
            ("", Field::Ignore),
        ];
        for (header, field) in cases {
            assert_eq!(guess_field(header), field, "{header:?}");
        }
    }

    #[test]
    fn every_export_label_is_recognised() {
        for f in Field::RISK
            .iter()
            .chain(Field::ASSESSMENT)
            .chain(Field::SCORES)
            .chain(Field::ACTIONS)
        {
            assert_eq!(guess_field(f.label()), *f, "{}", f.label());
        }
    }

    #[test]
    fn mapping_json_is_keyed_by_column_letter() {
        let m: Mapping = serde_json::from_str(
            r#"{"columns": {"A": "reference", "b": "title", "AA": "current-likelihood", "C": "ignore"}}"#,
        )
        .unwrap();
        assert_eq!(m.field(0), Field::Reference);
        assert_eq!(m.field(1), Field::Title);
        assert_eq!(m.field(26), Field::CurrentLikelihood);
        assert_eq!(m.field(2), Field::Ignore);
        assert_eq!(m.column(Field::CurrentLikelihood), Some(26));
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["columns"]["AA"], "current-likelihood");
        assert_eq!(json["columns"]["B"], "title");

        let twice = serde_json::from_str::<Mapping>(r#"{"columns": {"A": "title", "C": "title"}}"#);
        assert!(twice.unwrap_err().to_string().contains("columns A and C"));
        assert!(serde_json::from_str::<Mapping>(r#"{"columns": {"A1": "title"}}"#).is_err());
        assert!(serde_json::from_str::<Mapping>(r#"{"columns": {"A": "colour"}}"#).is_err());
    }

    #[test]
    fn set_moves_a_field() {
        let mut m = Mapping::default();
        m.set(0, Field::Title);
        m.set(3, Field::Title);
        assert_eq!(m.field(0), Field::Ignore);
        assert_eq!(m.column(Field::Title), Some(3));
        m.set(3, Field::Ignore);
        assert_eq!(m.columns().count(), 0);
    }
}
