//! How large a document's content may grow: each text by its kind (a title, a long text) and
//! the document as a whole. Checked on every change a person makes, so that one paste cannot
//! make a document nobody can open; reading what is stored is never refused.

use serde_json::Value;

use super::check::Problem;

/// The limits, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A short text: a title, a name, a reference, an id, an owner, a status.
    pub short_text_chars: usize,
    /// Any other text: a description, a clause, a commentary.
    pub long_text_chars: usize,
    /// All of a document's text together (plus a few for every other value).
    pub document_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            short_text_chars: 1_000,
            long_text_chars: 100_000,
            document_chars: 8_000_000,
        }
    }
}

/// Fields that hold short texts, by their JSON name in any kind of document. A field not named
/// here is held to the long limit.
const SHORT: &[&str] = &[
    "id",
    "title",
    "name",
    "reference",
    "owner",
    "council",
    "category",
    "status",
    "response",
    "escalation",
    "label",
    "colour",
    "pattern",
    "band",
    "unit",
    "polarity",
    "frequency",
    "basis",
    "period",
    "role",
    "post",
    "assessor",
    "author",
    "presenter",
    "signedBy",
    "provider",
    "client",
    "riskId",
    "kpiId",
    "clauseId",
    "itemId",
    "actionId",
    "versionId",
    "documentId",
    "riskReference",
    "schema",
];

/// What a value counts for in the document's total besides its text.
const OTHER_VALUE_CHARS: usize = 8;

/// Checks every text against its kind's limit and the document against its total.
pub fn check(json: &Value, limits: &Limits) -> Result<(), Vec<Problem>> {
    let mut problems = texts(json, limits);
    if let Some(p) = total(size(json), limits) {
        problems.push(p);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Every text over its kind's limit (at most ten are reported), by path.
pub fn texts(json: &Value, limits: &Limits) -> Vec<Problem> {
    let mut problems = Vec::new();
    walk(json, "", None, limits, &mut problems);
    problems
}

/// The problem with a document of `chars` characters (as [`size`] counts them), if too large.
pub fn total(chars: usize, limits: &Limits) -> Option<Problem> {
    (chars > limits.document_chars).then(|| Problem {
        path: String::new(),
        message: format!(
            "the document would hold about {chars} characters; at most {} are allowed",
            limits.document_chars
        ),
    })
}

/// What a value counts for against [`Limits::document_chars`]: its texts' characters, its
/// keys' characters, and [`OTHER_VALUE_CHARS`] for every other value, list and map. Additive:
/// a map counts the sum of its entries plus its own, so a document's size can be kept up to
/// date entry by entry.
pub fn size(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(items) => items
            .iter()
            .fold(OTHER_VALUE_CHARS, |n, i| n.saturating_add(size(i))),
        Value::Object(map) => map.iter().fold(OTHER_VALUE_CHARS, |n, (k, i)| {
            n.saturating_add(k.chars().count()).saturating_add(size(i))
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => OTHER_VALUE_CHARS,
    }
}

fn walk(v: &Value, path: &str, key: Option<&str>, limits: &Limits, problems: &mut Vec<Problem>) {
    match v {
        Value::String(s) => {
            let chars = s.chars().count();
            let limit = if key.is_some_and(|k| SHORT.contains(&k)) {
                limits.short_text_chars
            } else {
                limits.long_text_chars
            };
            if chars > limit && problems.len() < 10 {
                problems.push(Problem {
                    path: path.to_owned(),
                    message: format!("is {chars} characters long; at most {limit} are allowed"),
                });
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                // An item of a list of texts is held to its list's limit.
                walk(item, &format!("{path}[{i}]"), key, limits, problems);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(item, &p, Some(k), limits, problems);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SMALL: Limits = Limits {
        short_text_chars: 10,
        long_text_chars: 40,
        document_chars: 200,
    };

    #[test]
    fn texts_are_held_to_their_kinds_limit() {
        let doc =
            json!({"risks": [{"id": "r1", "title": "A short title", "cause": "x".repeat(40)}]});
        let problems = check(&doc, &SMALL).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "risks[0].title");
        assert!(
            problems[0]
                .message
                .contains("13 characters long; at most 10")
        );
        let ok = json!({"risks": [{"id": "r1", "title": "Short", "cause": "x".repeat(40)}]});
        assert!(check(&ok, &SMALL).is_ok());
        let long = json!({"risks": [{"cause": "é".repeat(41)}]});
        assert_eq!(check(&long, &SMALL).unwrap_err()[0].path, "risks[0].cause");
    }

    #[test]
    fn lists_of_texts_keep_their_fields_limit_and_the_whole_is_bounded() {
        let doc = json!({"mattersArising": ["y".repeat(41)]});
        assert_eq!(
            check(&doc, &SMALL).unwrap_err()[0].path,
            "mattersArising[0]"
        );
        let many: Vec<Value> = (0..10).map(|_| json!("z".repeat(30))).collect();
        let doc = json!({ "mattersArising": many });
        let problems = check(&doc, &SMALL).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "");
        assert!(problems[0].message.contains("at most 200"));
    }
}
