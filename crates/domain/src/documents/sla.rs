//! The service-level agreement's derived rules: KPI RAG by polarity and amber tolerance, trend
//! against the same period last year, cost split by basis with the re-base check, and savings
//! per council. Money is integer pence throughout, so a split always adds up to the total.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which way is good for a KPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Polarity {
    HigherIsBetter,
    LowerIsBetter,
}

/// Red / amber / green, always shown with its word as well as its colour.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// How often a KPI is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Frequency {
    Monthly,
    Quarterly,
    Annual,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Kpi {
    pub id: String,
    pub name: String,
    pub polarity: Polarity,
    pub frequency: Frequency,
    /// "%", "days", "£" …
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub baseline: Option<f64>,
    pub target: f64,
    /// How far short of the target is still amber, in the KPI's units.
    pub amber_tolerance: f64,
    /// Each council's share of an outcome target (organisation id → share of the target).
    #[serde(default)]
    pub council_shares: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    pub id: String,
    pub kpi_id: String,
    /// `2026-03`, `2026-Q2`, `2026/27` or `2026`.
    pub period: String,
    pub actual: f64,
    #[serde(default)]
    pub commentary: String,
    #[serde(default)]
    pub corrective_action: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostShare {
    pub id: String,
    pub description: String,
    pub basis: Basis,
    /// Pence.
    pub total_estimate: i64,
    #[serde(default)]
    pub total_actual: Option<i64>,
    /// Organisation id → driver value (caseload, headcount, properties, hours).
    #[serde(default)]
    pub estimate_drivers: BTreeMap<String, f64>,
    #[serde(default)]
    pub actual_drivers: BTreeMap<String, f64>,
    /// Percentage points a council's actual share may drift before the split is re-based.
    #[serde(default)]
    pub rebase_tolerance_points: f64,
}

/// A shared post's time, planned and actual, per council (percentages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeAllocation {
    pub id: String,
    pub post: String,
    pub planned: BTreeMap<String, f64>,
    #[serde(default)]
    pub actual: BTreeMap<String, f64>,
}

/// The SLA document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sla {
    /// Organisation ids (empty until chosen).
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub client: String,
    #[serde(default)]
    pub specification: String,
    #[serde(default)]
    pub term_start: Option<chrono::NaiveDate>,
    #[serde(default)]
    pub term_end: Option<chrono::NaiveDate>,
    #[serde(default)]
    pub review_date: Option<chrono::NaiveDate>,
    #[serde(default)]
    pub dispute_clause: String,
    #[serde(default)]
    pub exit_clause: String,
    #[serde(default)]
    pub kpis: Vec<Kpi>,
    #[serde(default)]
    pub measurements: Vec<Measurement>,
    #[serde(default)]
    pub cost_shares: Vec<CostShare>,
    #[serde(default)]
    pub time_allocations: Vec<TimeAllocation>,
    #[serde(default)]
    pub savings: Vec<SavingsLine>,
    /// The id of the document holding the figures the partner councils keep from the SLA's
    /// guests ([`PartnersFigures`]); empty until the server creates it. The cost shares, time
    /// allocations and savings in the SLA itself are the ones shared with guests.
    #[serde(default)]
    pub partners_figures: String,
}

/// The cost shares, shared posts' time and savings lines of an SLA that its guests do not
/// see. A guest granted an SLA receives the whole SLA document, history included, so figures
/// kept from guests live in a document of their own in the same space, which members reach
/// through the space and a guest only through a grant of its own. Sharing a line with guests
/// moves it into the SLA; once there, guests keep what they have synced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnersFigures {
    /// The id of the SLA these figures belong to.
    #[serde(default)]
    pub sla: String,
    #[serde(default)]
    pub cost_shares: Vec<CostShare>,
    #[serde(default)]
    pub time_allocations: Vec<TimeAllocation>,
    #[serde(default)]
    pub savings: Vec<SavingsLine>,
}

impl PartnersFigures {
    /// Everything that must hold beyond the types: the same rules as the SLA's own lines.
    pub fn check(&self) -> Result<(), Vec<super::check::Problem>> {
        let mut p = super::check::Problems::default();
        check_figures(&mut p, &self.cost_shares, &self.time_allocations);
        p.into_result()
    }
}

/// The rules every cost share and time allocation keeps, wherever it is held.
fn check_figures(
    p: &mut super::check::Problems,
    cost_shares: &[CostShare],
    time_allocations: &[TimeAllocation],
) {
    p.unique("costShares", cost_shares.iter().map(|c| c.id.as_str()));
    p.unique(
        "timeAllocations",
        time_allocations.iter().map(|t| t.id.as_str()),
    );
    for (i, c) in cost_shares.iter().enumerate() {
        if c.total_estimate < 0 {
            p.add(
                format!("costShares[{i}].totalEstimate"),
                "must not be negative",
            );
        }
        if let Err(e) = split(c.total_estimate, c.basis, &c.estimate_drivers) {
            p.add(format!("costShares[{i}].estimateDrivers"), e.to_string());
        }
    }
    for (i, t) in time_allocations.iter().enumerate() {
        let total: f64 = t.planned.values().sum();
        if (total - 100.0).abs() > 0.01 {
            p.add(
                format!("timeAllocations[{i}].planned"),
                format!("planned time adds up to {total}%, not 100%"),
            );
        }
    }
}

impl Sla {
    /// The SLA as its partner councils see it: its own lines (those shared with guests) and
    /// then the partners-only ones.
    pub fn with_partners(&self, figures: &PartnersFigures) -> Sla {
        let mut all = self.clone();
        all.cost_shares.extend(figures.cost_shares.iter().cloned());
        all.time_allocations
            .extend(figures.time_allocations.iter().cloned());
        all.savings.extend(figures.savings.iter().cloned());
        all
    }

    /// A new, empty SLA.
    pub fn empty() -> Sla {
        Sla {
            provider: String::new(),
            client: String::new(),
            specification: String::new(),
            term_start: None,
            term_end: None,
            review_date: None,
            dispute_clause: String::new(),
            exit_clause: String::new(),
            kpis: vec![],
            measurements: vec![],
            cost_shares: vec![],
            time_allocations: vec![],
            savings: vec![],
            partners_figures: String::new(),
        }
    }
}

/// A KPI's latest position.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KpiStatus {
    pub kpi_id: String,
    pub period: String,
    pub actual: f64,
    pub rag: Rag,
    pub trend: Trend,
}

impl Sla {
    /// The latest measurement of each KPI (the last period in sort order) with its RAG and
    /// trend against the same period a year earlier.
    pub fn kpi_status(&self) -> Vec<KpiStatus> {
        self.kpis
            .iter()
            .filter_map(|k| {
                let ms: Vec<&Measurement> = self
                    .measurements
                    .iter()
                    .filter(|m| m.kpi_id == k.id)
                    .collect();
                let latest = ms.iter().max_by(|a, b| a.period.cmp(&b.period))?;
                let last_year = same_period_last_year(&latest.period)
                    .and_then(|p| ms.iter().find(|m| m.period == p))
                    .map(|m| m.actual);
                Some(KpiStatus {
                    kpi_id: k.id.clone(),
                    period: latest.period.clone(),
                    actual: latest.actual,
                    rag: rag(k.polarity, k.target, k.amber_tolerance, latest.actual),
                    trend: trend(k.polarity, last_year, latest.actual),
                })
            })
            .collect()
    }

    /// Everything that must hold beyond the types.
    pub fn check(&self) -> Result<(), Vec<super::check::Problem>> {
        let mut p = super::check::Problems::default();
        if let (Some(start), Some(end)) = (self.term_start, self.term_end)
            && end < start
        {
            p.add("termEnd", "ends before the term starts");
        }
        p.unique("kpis", self.kpis.iter().map(|k| k.id.as_str()));
        p.unique(
            "measurements",
            self.measurements.iter().map(|m| m.id.as_str()),
        );
        let kpis: std::collections::HashSet<&str> =
            self.kpis.iter().map(|k| k.id.as_str()).collect();
        for (i, k) in self.kpis.iter().enumerate() {
            p.required(format!("kpis[{i}].name"), &k.name);
            if k.amber_tolerance.is_nan() || k.amber_tolerance < 0.0 {
                p.add(format!("kpis[{i}].amberTolerance"), "must be zero or more");
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, m) in self.measurements.iter().enumerate() {
            p.resolves(format!("measurements[{i}].kpiId"), &m.kpi_id, &kpis, "KPI");
            if same_period_last_year(&m.period).is_none() {
                p.add(
                    format!("measurements[{i}].period"),
                    format!(
                        "{:?} is not a period (2026-03, 2026-Q2, 2026/27 or 2026)",
                        m.period
                    ),
                );
            }
            if !seen.insert((m.kpi_id.as_str(), m.period.as_str())) {
                p.add(
                    format!("measurements[{i}].period"),
                    format!(
                        "KPI {:?} already has a measurement for {}",
                        m.kpi_id, m.period
                    ),
                );
            }
            if !m.actual.is_finite() {
                p.add(format!("measurements[{i}].actual"), "must be a number");
            }
        }
        check_figures(&mut p, &self.cost_shares, &self.time_allocations);
        p.into_result()
    }
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

    fn sla() -> Sla {
        Sla {
            provider: "ashby".into(),
            client: "brockley".into(),
            specification: "Revenues and benefits".into(),
            term_start: Some("2026-04-01".parse().unwrap()),
            term_end: Some("2029-03-31".parse().unwrap()),
            review_date: Some("2027-03-31".parse().unwrap()),
            dispute_clause: String::new(),
            exit_clause: String::new(),
            kpis: vec![Kpi {
                id: "k1".into(),
                name: "Council tax collection rate".into(),
                polarity: Polarity::HigherIsBetter,
                frequency: Frequency::Monthly,
                unit: "%".into(),
                baseline: Some(96.2),
                target: 97.0,
                amber_tolerance: 0.5,
                council_shares: BTreeMap::new(),
            }],
            measurements: vec![],
            cost_shares: vec![],
            time_allocations: vec![],
            savings: vec![],
            partners_figures: String::new(),
        }
    }

    fn measure(id: &str, period: &str, actual: f64) -> Measurement {
        Measurement {
            id: id.into(),
            kpi_id: "k1".into(),
            period: period.into(),
            actual,
            commentary: String::new(),
            corrective_action: String::new(),
        }
    }

    #[test]
    fn kpi_status_takes_the_latest_period_and_last_years() {
        let mut s = sla();
        s.measurements = vec![
            measure("m1", "2025-03", 96.0),
            measure("m3", "2026-03", 96.7),
            measure("m2", "2026-02", 97.5),
        ];
        let st = s.kpi_status();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].period, "2026-03");
        assert_eq!(st[0].rag, Rag::Amber);
        assert_eq!(st[0].trend, Trend::Better);
        assert_eq!(s.check(), Ok(()));
    }

    #[test]
    fn sla_check_names_each_problem() {
        let mut s = sla();
        s.term_end = Some("2025-01-01".parse().unwrap());
        s.measurements = vec![
            measure("m1", "March", 1.0),
            measure("m2", "2026-03", 1.0),
            measure("m3", "2026-03", 2.0),
        ];
        s.measurements[0].kpi_id = "nope".into();
        s.time_allocations = vec![TimeAllocation {
            id: "t1".into(),
            post: "Joint chief executive".into(),
            planned: [("ashby".to_owned(), 60.0), ("brockley".to_owned(), 30.0)].into(),
            actual: BTreeMap::new(),
        }];
        let paths: Vec<String> = s.check().unwrap_err().into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                "termEnd",
                "measurements[0].kpiId",
                "measurements[0].period",
                "measurements[2].period",
                "timeAllocations[0].planned"
            ]
        );
    }

    #[test]
    fn partners_figures_keep_the_same_rules_and_join_the_sla_after_its_own_lines() {
        let line = |id: &str, total: i64| CostShare {
            id: id.into(),
            description: format!("line {id}"),
            basis: Basis::Equal,
            total_estimate: total,
            total_actual: None,
            estimate_drivers: [("ashby".to_owned(), 1.0)].into(),
            actual_drivers: BTreeMap::new(),
            rebase_tolerance_points: 0.0,
        };
        let mut f = PartnersFigures {
            sla: "sla-id".into(),
            cost_shares: vec![line("c2", -5), line("c2", 10)],
            ..PartnersFigures::default()
        };
        let paths: Vec<String> = f.check().unwrap_err().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["costShares[1].id", "costShares[0].totalEstimate"]);
        f.cost_shares.remove(0);
        assert_eq!(f.check(), Ok(()));
        let mut s = sla();
        s.cost_shares = vec![line("c1", 100)];
        let all = s.with_partners(&f);
        let ids: Vec<&str> = all.cost_shares.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2"]);
        assert_eq!(s.cost_shares.len(), 1, "the SLA's own lines are unchanged");
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
