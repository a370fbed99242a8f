//! The service-level agreement's derived rules: KPI RAG by polarity and amber tolerance, trend
//! against the same period last year, cost split by basis with the re-base check, and savings
//! per council. Money is integer pence throughout, so a split always adds up to the total.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which way is good for a KPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Polarity {
    HigherIsBetter,
    LowerIsBetter,
}

/// Red / amber / green, always shown with its word as well as its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rag {
    Red,
    Amber,
    Green,
}

/// RAG of an actual against a target: green when it meets the target, amber when it misses by
/// no more than `tolerance` (in the KPI's own units), red beyond.
pub fn rag(polarity: Polarity, target: f64, tolerance: f64, actual: f64) -> Rag {
    let tolerance = tolerance.abs();
    let shortfall = match polarity {
        Polarity::HigherIsBetter => target - actual,
        Polarity::LowerIsBetter => actual - target,
    };
    if shortfall <= 0.0 {
        Rag::Green
    } else if shortfall <= tolerance {
        Rag::Amber
    } else {
        Rag::Red
    }
}

/// Direction of travel of a KPI against the same period a year earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trend {
    /// No measurement for the same period last year.
    NoComparison,
    Better,
    Same,
    Worse,
}

pub fn trend(polarity: Polarity, last_year: Option<f64>, actual: f64) -> Trend {
    let Some(prev) = last_year else {
        return Trend::NoComparison;
    };
    let delta = match polarity {
        Polarity::HigherIsBetter => actual - prev,
        Polarity::LowerIsBetter => prev - actual,
    };
    if delta.abs() < f64::EPSILON * prev.abs().max(1.0) {
        Trend::Same
    } else if delta > 0.0 {
        Trend::Better
    } else {
        Trend::Worse
    }
}

/// The same period one year earlier: `2026-03` → `2025-03`, `2026-Q2` → `2025-Q2`,
/// `2026/27` → `2025/26`, `2026` → `2025`. `None` for a period it does not recognise.
pub fn same_period_last_year(period: &str) -> Option<String> {
    let digits = period
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(period.len());
    if digits != 4 {
        return None;
    }
    let (year, rest) = period.split_at(4);
    let y: i32 = year.parse().ok()?;
    if let Some(two) = rest.strip_prefix('/') {
        // Financial year "2026/27".
        let next: i32 = two.parse().ok()?;
        return Some(format!("{}/{:02}", y - 1, (next + 99) % 100));
    }
    Some(format!("{}{rest}", y - 1))
}

/// How a shared cost is split between councils.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    Equal,
    Caseload,
    Headcount,
    Properties,
    TimeRecorded,
}

/// Why a split cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("no councils to split between")]
    NoCouncils,
    #[error("a driver value is negative ({0})")]
    Negative(String),
    #[error("every driver value is zero: nothing to split by")]
    AllZero,
}

/// Splits `total` pence between councils by basis. `drivers` holds each council's driver value
/// (ignored for `Equal`, where only the keys count). The shares add up to `total` exactly:
/// proportional shares are rounded down and the pennies left over go to the largest
/// remainders (ties to the council that sorts first).
pub fn split(
    total: i64,
    basis: Basis,
    drivers: &BTreeMap<String, f64>,
) -> Result<BTreeMap<String, i64>, SplitError> {
    if drivers.is_empty() {
        return Err(SplitError::NoCouncils);
    }
    let weights: Vec<(&String, f64)> = match basis {
        Basis::Equal => drivers.keys().map(|k| (k, 1.0)).collect(),
        _ => {
            if let Some((k, _)) = drivers.iter().find(|(_, v)| **v < 0.0 || v.is_nan()) {
                return Err(SplitError::Negative(k.clone()));
            }
            drivers.iter().map(|(k, v)| (k, *v)).collect()
        }
    };
    let sum: f64 = weights.iter().map(|(_, w)| w).sum();
    if sum <= 0.0 {
        return Err(SplitError::AllZero);
    }
    let mut shares: Vec<(&String, i64, f64)> = weights
        .iter()
        .map(|(k, w)| {
            let exact = total as f64 * w / sum;
            let floor = exact.floor();
            (*k, floor as i64, exact - floor)
        })
        .collect();
    let mut left = total - shares.iter().map(|(_, s, _)| s).sum::<i64>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| shares[*b].2.total_cmp(&shares[*a].2).then(a.cmp(b)));
    let n = order.len();
    let mut k = 0;
    while left > 0 {
        shares[order[k % n]].1 += 1;
        left -= 1;
        k += 1;
    }
    while left < 0 {
        shares[order[n - 1 - (k % n)]].1 -= 1;
        left += 1;
        k += 1;
    }
    Ok(shares.into_iter().map(|(k, s, _)| (k.clone(), s)).collect())
}

/// The re-base check: councils whose actual share of the drivers differs from the estimated
/// share by more than `tolerance_points` percentage points, with the difference (actual −
/// estimate, in points).
pub fn rebase_needed(
    estimate: &BTreeMap<String, f64>,
    actual: &BTreeMap<String, f64>,
    tolerance_points: f64,
) -> BTreeMap<String, f64> {
    let share = |m: &BTreeMap<String, f64>, k: &str| {
        let sum: f64 = m.values().filter(|v| **v > 0.0).sum();
        if sum <= 0.0 {
            0.0
        } else {
            m.get(k).copied().unwrap_or(0.0).max(0.0) / sum * 100.0
        }
    };
    estimate
        .keys()
        .chain(actual.keys())
        .map(|k| (k.clone(), share(actual, k) - share(estimate, k)))
        .filter(|(_, d)| d.abs() > tolerance_points.abs())
        .collect()
}

/// A savings line: what the partnership saves, and how much of it falls to each council (pence).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavingsLine {
    pub description: String,
    pub by_council: BTreeMap<String, i64>,
}

/// Total savings per council.
pub fn savings_per_council(lines: &[SavingsLine]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for line in lines {
        for (k, v) in &line.by_council {
            *out.entry(k.clone()).or_insert(0) += v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const POUND: i64 = 100;

    fn drivers(v: &[(&str, f64)]) -> BTreeMap<String, f64> {
        v.iter().map(|(k, x)| ((*k).to_owned(), *x)).collect()
    }

    #[test]
    fn rag_follows_polarity_and_tolerance() {
        use Polarity::*;
        // Collection rate, higher is better: target 97%, amber within 1 point.
        assert_eq!(rag(HigherIsBetter, 97.0, 1.0, 97.4), Rag::Green);
        assert_eq!(rag(HigherIsBetter, 97.0, 1.0, 96.5), Rag::Amber);
        assert_eq!(rag(HigherIsBetter, 97.0, 1.0, 95.0), Rag::Red);
        // Days to process a claim, lower is better: target 10, amber within 2.
        assert_eq!(rag(LowerIsBetter, 10.0, 2.0, 9.0), Rag::Green);
        assert_eq!(rag(LowerIsBetter, 10.0, 2.0, 12.0), Rag::Amber);
        assert_eq!(rag(LowerIsBetter, 10.0, 2.0, 12.5), Rag::Red);
    }

    #[test]
    fn trend_compares_the_same_period_last_year() {
        assert_eq!(same_period_last_year("2026-03").as_deref(), Some("2025-03"));
        assert_eq!(same_period_last_year("2026-Q2").as_deref(), Some("2025-Q2"));
        assert_eq!(same_period_last_year("2026/27").as_deref(), Some("2025/26"));
        assert_eq!(same_period_last_year("2000/01").as_deref(), Some("1999/00"));
        assert_eq!(same_period_last_year("2026").as_deref(), Some("2025"));
        assert_eq!(same_period_last_year("March"), None);
        assert_eq!(same_period_last_year("20261"), None);
        assert_eq!(
            trend(Polarity::LowerIsBetter, Some(12.0), 10.0),
            Trend::Better
        );
        assert_eq!(
            trend(Polarity::HigherIsBetter, Some(97.0), 96.0),
            Trend::Worse
        );
        assert_eq!(
            trend(Polarity::HigherIsBetter, None, 96.0),
            Trend::NoComparison
        );
        assert_eq!(
            trend(Polarity::HigherIsBetter, Some(96.0), 96.0),
            Trend::Same
        );
    }

    #[test]
    fn splits_by_basis() {
        let d = drivers(&[("ashby", 60.0), ("brockley", 40.0)]);
        let s = split(100_000 * POUND, Basis::TimeRecorded, &d).unwrap();
        assert_eq!(s["ashby"], 60_000 * POUND);
        assert_eq!(s["brockley"], 40_000 * POUND);
        let s = split(
            100,
            Basis::Equal,
            &drivers(&[("a", 0.0), ("b", 0.0), ("c", 0.0)]),
        )
        .unwrap();
        assert_eq!(s.values().sum::<i64>(), 100);
        assert_eq!(s["a"], 34, "the odd penny goes to the first council");
        assert_eq!(
            split(100, Basis::Caseload, &drivers(&[("a", 0.0)])),
            Err(SplitError::AllZero)
        );
        assert_eq!(
            split(100, Basis::Caseload, &drivers(&[("a", -1.0)])),
            Err(SplitError::Negative("a".into()))
        );
        assert_eq!(
            split(100, Basis::Equal, &BTreeMap::new()),
            Err(SplitError::NoCouncils)
        );
    }

    #[test]
    fn rebase_flags_councils_whose_share_moved_beyond_tolerance() {
        let estimate = drivers(&[("ashby", 50.0), ("brockley", 50.0)]);
        let actual = drivers(&[("ashby", 560.0), ("brockley", 440.0)]);
        let flagged = rebase_needed(&estimate, &actual, 5.0);
        assert_eq!(flagged.len(), 2);
        assert!((flagged["ashby"] - 6.0).abs() < 1e-9);
        assert!(rebase_needed(&estimate, &actual, 7.0).is_empty());
    }

    #[test]
    fn savings_add_up_per_council() {
        let lines = vec![
            SavingsLine {
                description: "Shared chief executive".into(),
                by_council: [
                    ("ashby".to_owned(), 60_000 * POUND),
                    ("brockley".to_owned(), 40_000 * POUND),
                ]
                .into(),
            },
            SavingsLine {
                description: "One revenues system".into(),
                by_council: [("ashby".to_owned(), 10_000 * POUND)].into(),
            },
        ];
        let s = savings_per_council(&lines);
        assert_eq!(s["ashby"], 70_000 * POUND);
        assert_eq!(s["brockley"], 40_000 * POUND);
    }

    proptest! {
        /// A split always adds up to the total to the penny, and each share is within a penny
        /// of its exact proportion.
        #[test]
        fn split_adds_up_and_is_fair(
            total in -1_000_000_000i64..1_000_000_000,
            values in proptest::collection::vec(0.0f64..10_000.0, 1..12),
            equal in any::<bool>(),
        ) {
            let d: BTreeMap<String, f64> =
                values.iter().enumerate().map(|(i, v)| (format!("c{i:02}"), *v)).collect();
            let basis = if equal { Basis::Equal } else { Basis::Caseload };
            let sum: f64 = if equal { d.len() as f64 } else { d.values().sum() };
            match split(total, basis, &d) {
                Ok(s) => {
                    prop_assert_eq!(s.values().sum::<i64>(), total);
                    for (k, share) in &s {
                        let w = if equal { 1.0 } else { d[k] };
                        let exact = total as f64 * w / sum;
                        prop_assert!((*share as f64 - exact).abs() <= 1.0 + exact.abs() * 1e-12,
                            "{k}: {share} vs {exact}");
                    }
                }
                Err(SplitError::AllZero) => prop_assert!(!equal && sum == 0.0),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }

        /// RAG never gets worse as the actual improves.
        #[test]
        fn rag_is_monotonic(target in -1000.0f64..1000.0, tol in 0.0f64..100.0,
                            a in -2000.0f64..2000.0, b in -2000.0f64..2000.0, higher in any::<bool>()) {
            let p = if higher { Polarity::HigherIsBetter } else { Polarity::LowerIsBetter };
            let (worse, better) = if higher == (a <= b) { (a, b) } else { (b, a) };
            prop_assert!(rag(p, target, tol, better) >= rag(p, target, tol, worse));
        }
    }
}
