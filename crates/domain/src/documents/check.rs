//! Semantic checks of a document beyond its types: references that must resolve, ids that must
//! be unique, values that must be in range. Each problem names the place at fault as a JSON
//! path, so a refused edit can be explained to the person who made it.

use std::collections::HashSet;

use serde::Serialize;

/// One thing wrong with a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where, as a JSON path: `risks[3].nextReview`.
    pub path: String,
    pub message: String,
}

/// Collects problems while a document is checked.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Reports every id that appears twice in `ids` (items of list `list`).
    pub fn unique<'a>(&mut self, list: &str, ids: impl IntoIterator<Item = &'a str>) {
        let mut seen = HashSet::new();
        for (i, id) in ids.into_iter().enumerate() {
            if id.trim().is_empty() {
                self.add(format!("{list}[{i}].id"), "an id is required");
            } else if !seen.insert(id) {
                self.add(
                    format!("{list}[{i}].id"),
                    format!("id {id:?} is used twice"),
                );
            }
        }
    }

    /// Reports a reference that names no known id.
    pub fn resolves(&mut self, path: String, target: &str, known: &HashSet<&str>, what: &str) {
        if !known.contains(target) {
            self.add(
                path,
                format!("refers to {what} {target:?}, which does not exist"),
            );
        }
    }

    /// Reports a required text that is empty.
    pub fn required(&mut self, path: String, value: &str) {
        if value.trim().is_empty() {
            self.add(path, "is required");
        }
    }

    pub fn into_result(self) -> Result<(), Vec<Problem>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}
