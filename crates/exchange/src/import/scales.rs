//! The rating scales a sheet implies. Councils rate likelihood by letter (A–D, A the most
//! likely) as often as by number, write a rating as one cell ("B3": likelihood B, impact 3),
//! and keep 3×3 and 4×4 matrices as well as 5×5. When a sheet rates by letter and the
//! register's matrix is not lettered so, the import proposes the matrix the ratings imply; the preview is worked out as
//! if it were set, and applying sets it, once the officer has confirmed it.

use domain::documents::risk::{Matrix, RiskRegister};
use serde::Serialize;

use super::table::{Cell, Table};
use super::{Field, Mapping};

/// A matrix the sheet implies, to be confirmed before it is set.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixProposal {
    /// Levels of likelihood and of impact.
    pub likelihood: usize,
    pub impact: usize,
    /// What in the sheet implies it, in words.
    pub why: String,
    pub matrix: Matrix,
    /// Why it cannot be set (an assessment the register holds would fall outside it); the
    /// preview is then worked out on the register's own matrix.
    pub blocked: Option<String>,
    /// Whether the rows cannot be read without it (ratings by letter): applying is refused
    /// until the officer confirms it. A matrix implied by numbers alone (a sheet rated 1–3)
    /// is offered, not needed: the rows read on the register's own matrix too.
    pub required: bool,
    /// Whether the preview was worked out on it, so that applying sets it.
    pub applies: bool,
}

/// What one axis's cells hold.
#[derive(Default)]
struct Seen {
    /// The furthest letter (0 = A).
    letter: Option<u32>,
    number: Option<u32>,
    /// How many cells hold each number (1 to 10).
    counts: [usize; 11],
}

impl Seen {
    fn cell(&mut self, cell: &Cell) {
        match cell {
            Cell::Number(n) if n.fract() == 0.0 && (1.0..=10.0).contains(n) => {
                self.number(*n as u32);
            }
            Cell::Text(t) => {
                let t = t.trim();
                if let Some(l) = letter(t) {
                    self.letter = Some(self.letter.map_or(l, |x| x.max(l)));
                } else if let Ok(n) = t.parse::<u32>()
                    && (1..=10).contains(&n)
                {
                    self.number(n);
                }
            }
            _ => {}
        }
    }

    fn number(&mut self, n: u32) {
        self.number = Some(self.number.map_or(n, |x| x.max(n)));
        self.counts[n as usize] += 1;
    }

    /// How many cells hold a number, and how many a number above `levels`.
    fn rated(&self, levels: usize) -> (usize, usize) {
        let total = self.counts.iter().sum();
        let over = self.counts.iter().skip(levels + 1).sum();
        (total, over)
    }

    /// Levels this axis needs: as many as its letters; as many as its highest number when the
    /// sheet is on a scale of its own (`own`: letters somewhere), else the register's (a
    /// number beyond them is a row's error, "outside the matrix", not a new matrix: a 9 in a
    /// 5×5 register is more often a slip than a scale).
    fn levels(&self, current: usize, own: bool) -> usize {
        match (self.letter, self.number) {
            (Some(l), _) => (l as usize + 1).max(2),
            (None, Some(n)) if own => (n as usize).max(2),
            (None, _) => current,
        }
    }

    fn shown(&self, levels: usize) -> String {
        match self.letter {
            Some(_) => format!("A–{} (A the highest)", letter_of(levels - 1)),
            None => format!("1–{levels}"),
        }
    }
}

/// "A" … "J" (0 … 9).
pub(crate) fn letter(t: &str) -> Option<u32> {
    let mut chars = t.chars();
    let c = chars.next()?.to_ascii_uppercase();
    (chars.next().is_none() && ('A'..='J').contains(&c)).then(|| c as u32 - 'A' as u32)
}

fn letter_of(i: usize) -> char {
    char::from(b'A' + u8::try_from(i).unwrap_or(0))
}

/// "B3", "b 3", "B/3", "B-3": a rating as one cell, likelihood letter then impact number.
pub(crate) fn combined(t: &str) -> Option<(String, u32)> {
    let t = t.trim();
    let first = t.chars().next()?;
    letter(&first.to_string())?;
    let rest = t[first.len_utf8()..].trim_start_matches([' ', '/', '-']);
    let n: u32 = rest.parse().ok()?;
    (1..=10)
        .contains(&n)
        .then(|| (first.to_ascii_uppercase().to_string(), n))
}

/// The matrix a sheet's ratings imply, when it is not the register's: ratings by letter
/// (with the numbers beside them setting the other axis). A register rated by number on
/// another size is given its matrix first (the matrix editor, or `PUT …/matrix`).
pub fn propose_matrix(
    table: &Table,
    mapping: &Mapping,
    register: &RiskRegister,
) -> Option<MatrixProposal> {
    let (mut l, mut i) = (Seen::default(), Seen::default());
    for row in &table.rows {
        for (col, field) in mapping.columns() {
            let cell = row.get(col);
            match field {
                Field::InherentLikelihood | Field::CurrentLikelihood | Field::TargetLikelihood => {
                    l.cell(cell);
                }
                Field::InherentImpact | Field::CurrentImpact | Field::TargetImpact => {
                    i.cell(cell);
                }
                Field::InherentScore | Field::CurrentScore | Field::TargetScore => {
                    if let Cell::Text(t) = cell
                        && let Some((letter, n)) = combined(t)
                    {
                        l.cell(&Cell::Text(letter));
                        i.cell(&Cell::Number(f64::from(n)));
                    }
                }
                _ => {}
            }
        }
    }
    let current = &register.matrix;
    let (cl, ci) = (current.likelihood.len(), current.impact.len());
    let own = l.letter.is_some() || i.letter.is_some();
    if !own {
        return numeric(&l, &i, register);
    }
    let (nl, ni) = (l.levels(cl, own).min(10), i.levels(ci, own).min(10));
    let lettered = |levels: &[domain::documents::risk::Level], n: usize| {
        levels.len() == n
            && levels
                .iter()
                .enumerate()
                .all(|(k, lv)| lv.label == letter_of(n - 1 - k).to_string())
    };
    let fits = |seen: &Seen, levels: &[domain::documents::risk::Level], n: usize| {
        if seen.letter.is_some() {
            lettered(levels, n)
        } else {
            levels.len() == n
        }
    };
    if fits(&l, &current.likelihood, nl) && fits(&i, &current.impact, ni) {
        return None;
    }
    let mut matrix = Matrix::sized(nl, ni);
    for (seen, levels, n) in [
        (&l, &mut matrix.likelihood, nl),
        (&i, &mut matrix.impact, ni),
    ] {
        if seen.letter.is_some() {
            for (k, level) in levels.iter_mut().enumerate() {
                level.descriptor = std::mem::take(&mut level.label);
                level.label = letter_of(n - 1 - k).to_string();
            }
        }
    }
    let blocked = register
        .assessments
        .iter()
        .find(|a| !matrix.contains(a.likelihood, a.impact))
        .map(|a| {
            format!(
                "risk {} has an assessment of likelihood {} × impact {}, outside a {nl}×{ni} \
                 matrix: the register keeps its {cl}×{ci} matrix",
                register.reference_of(&a.risk_id),
                a.likelihood,
                a.impact
            )
        });
    Some(MatrixProposal {
        required: true,
        applies: false,
        likelihood: nl,
        impact: ni,
        why: format!(
            "the sheet rates likelihood {} and impact {}: a {nl}×{ni} matrix (the register's is \
             {cl}×{ci})",
            l.shown(nl),
            i.shown(ni)
        ),
        matrix,
        blocked,
    })
}

/// A sheet rated by number on another scale: every rating at most 3 (or 4) over at least
/// three rows on a larger register suggests a 3×3 (4×4); two or more ratings beyond the
/// register's levels suggest a matrix that holds them (one alone is more likely a slip, and
/// its row says "outside the matrix").
fn numeric(l: &Seen, i: &Seen, register: &RiskRegister) -> Option<MatrixProposal> {
    let current = &register.matrix;
    let (cl, ci) = (current.likelihood.len(), current.impact.len());
    let ((lt, lo), (it, io)) = (l.rated(cl), i.rated(ci));
    let (ml, mi) = (
        l.number.unwrap_or(0) as usize,
        i.number.unwrap_or(0) as usize,
    );
    let (nl, ni, why) = if lo >= 2 || io >= 2 {
        (
            ml.max(cl).min(10),
            mi.max(ci).min(10),
            "ratings beyond the register's levels",
        )
    } else {
        let n = ml.max(mi);
        if lt + it < 6 || n < 2 || n >= cl.min(ci) {
            return None;
        }
        (n, n, "no rating above")
    };
    if (nl, ni) == (cl, ci) {
        return None;
    }
    let matrix = Matrix::sized(nl, ni);
    let blocked = register
        .assessments
        .iter()
        .find(|a| !matrix.contains(a.likelihood, a.impact))
        .map(|a| {
            format!(
                "risk {} has an assessment of likelihood {} × impact {}, outside a {nl}×{ni} \
                 matrix",
                register.reference_of(&a.risk_id),
                a.likelihood,
                a.impact
            )
        });
    Some(MatrixProposal {
        likelihood: nl,
        impact: ni,
        why: format!(
            "the sheet rates likelihood 1–{ml} and impact 1–{mi} ({why} {}): perhaps a \
             {nl}×{ni} matrix (the register's is {cl}×{ci}); the rows read on either",
            if why.starts_with("no") {
                nl.to_string()
            } else {
                format!("{cl}×{ci}")
            }
        ),
        matrix,
        blocked,
        required: false,
        applies: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_combined_ratings() {
        assert_eq!(letter("b"), Some(1));
        assert_eq!(letter("BB"), None);
        assert_eq!(letter("K"), None);
        assert_eq!(combined("B3"), Some(("B".into(), 3)));
        assert_eq!(combined("c / 2"), Some(("C".into(), 2)));
        assert_eq!(combined("12"), None);
        assert_eq!(combined("High"), None);
    }
}
