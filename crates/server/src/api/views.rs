//! Read views for committee papers and partnership managers, built from the documents the
//! caller may see and nothing else: a partnership's dashboard (heat maps inherent / current /
//! target, red risks, overdue reviews and actions, red KPIs, cost split, savings) and a
//! council's overview across all its partnerships plus its private registers.
//!
//! Every view starts from `list_documents` with the caller's principal, so a document the
//! caller may not see cannot contribute a number, a name or a count.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use chrono::NaiveDate;
use domain::documents::Content;
use domain::documents::risk::{AssessmentKind, Direction, RiskRegister, score};
use domain::documents::sla::{self, Rag, Sla, Trend};
use domain::{Access, DocumentKind, SpaceOwner};
use serde::Serialize;
use store::{DocumentFilter, DocumentRow};
use utoipa::ToSchema;
use uuid::Uuid;

use super::parse_uuid;
use crate::AppState;
use crate::auth::Caller;
use crate::content;
use crate::error::{ApiError, ApiResult};

/// A document named in a view.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentRef {
    pub id: String,
    pub title: String,
    pub kind: DocumentKind,
    pub url: String,
    pub access: Access,
}

/// One cell's band, readable without colour.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CellBand {
    pub label: String,
    pub colour: String,
    pub pattern: String,
    pub rank: u32,
}

/// Heat maps of one register: `counts[l - 1][i - 1]` open risks whose latest assessment of
/// each kind sits in that cell.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeatMaps {
    pub likelihood: Vec<String>,
    pub impact: Vec<String>,
    pub bands: Vec<Vec<CellBand>>,
    pub inherent: Vec<Vec<u32>>,
    pub current: Vec<Vec<u32>>,
    pub target: Vec<Vec<u32>>,
}

/// A risk in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskLine {
    pub id: String,
    pub reference: String,
    pub title: String,
    pub owner: String,
    /// Current score and band label, if assessed.
    pub score: Option<u32>,
    pub band: Option<String>,
    pub direction: Direction,
    pub next_review: NaiveDate,
}

/// An action in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionLine {
    pub id: String,
    pub risk_reference: String,
    pub title: String,
    pub owner: String,
    pub council: String,
    pub due: NaiveDate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterSummary {
    pub document: DocumentRef,
    pub open_risks: usize,
    pub heat_maps: HeatMaps,
    /// Open risks whose current position is in the matrix's most severe band.
    pub red_risks: Vec<RiskLine>,
    pub outside_appetite: Vec<RiskLine>,
    pub overdue_reviews: Vec<RiskLine>,
    /// Open risks with no assessment within their review frequency.
    pub stale_risks: Vec<RiskLine>,
    pub overdue_actions: Vec<ActionLine>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KpiLine {
    pub id: String,
    pub name: String,
    pub unit: String,
    pub target: f64,
    /// Latest measurement, if any.
    pub period: Option<String>,
    pub actual: Option<f64>,
    pub rag: Option<Rag>,
    pub trend: Option<Trend>,
}

/// One cost-share rule split between councils (pence, by council name).
#[derive(Debug, Serialize, ToSchema)]
pub struct CostLine {
    pub id: String,
    pub description: String,
    pub basis: sla::Basis,
    pub estimate: BTreeMap<String, i64>,
    pub actual: Option<BTreeMap<String, i64>>,
    /// Councils whose actual share drifted past the re-base tolerance (percentage points).
    pub rebase: BTreeMap<String, f64>,
    /// Why the split could not be made, if it could not.
    pub problem: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaSummary {
    pub document: DocumentRef,
    pub kpis: Vec<KpiLine>,
    pub red_kpis: usize,
    pub cost_split: Vec<CostLine>,
    /// Savings per council name, pence.
    pub savings: BTreeMap<String, i64>,
}

/// Counts over a set of documents.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Totals {
    pub open_risks: usize,
    pub red_risks: usize,
    pub overdue_reviews: usize,
    pub overdue_actions: usize,
    pub stale_risks: usize,
    pub red_kpis: usize,
    /// Savings per council name, pence.
    pub savings: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    pub partnership_id: Uuid,
    pub partnership: String,
    pub today: NaiveDate,
    pub totals: Totals,
    pub registers: Vec<RegisterSummary>,
    pub slas: Vec<SlaSummary>,
    /// Agreements and meetings the caller may open.
    pub other_documents: Vec<DocumentRef>,
}

/// A partnership's dashboard, from the shared documents the caller may see.
#[utoipa::path(get, path = "/api/partnerships/{id}/dashboard", tag = "views", security(("bearer" = [])),
    responses((status = 200, body = Dashboard), (status = 404, body = crate::error::ErrorBody)))]
pub async fn dashboard(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Dashboard>> {
    let id = parse_uuid(&id, "partnership")?;
    let (partnership, _) = state
        .store
        .get_partnership(&caller.principal, id)
        .await?
        .ok_or(ApiError::NotFound("partnership"))?;
    let views = Views::new(&state, &caller).await?;
    let rows = views.documents(|o| *o == SpaceOwner::Partnership { partnership_id: id })?;
    let (registers, slas, other_documents) = views.summarise(rows).await?;
    Ok(Json(Dashboard {
        partnership_id: id,
        partnership: partnership.name,
        today: views.today,
        totals: totals(&registers, &slas),
        registers,
        slas,
        other_documents,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnershipOverview {
    pub partnership_id: Uuid,
    pub partnership: String,
    pub totals: Totals,
    pub registers: Vec<RegisterSummary>,
    pub slas: Vec<SlaSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    pub organisation_id: Uuid,
    pub organisation: String,
    pub today: NaiveDate,
    pub partnerships: Vec<PartnershipOverview>,
    /// The council's own private registers (never a partner's).
    pub private_registers: Vec<RegisterSummary>,
    pub private_totals: Totals,
}

/// The caller's council across all its partnerships, plus its private registers. A guest sees
/// only what was granted to them.
#[utoipa::path(get, path = "/api/overview", tag = "views", security(("bearer" = [])),
    responses((status = 200, body = Overview)))]
pub async fn overview(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Overview>> {
    let views = Views::new(&state, &caller).await?;
    let own = caller.principal.org_id;
    let mut partnerships = Vec::new();
    for p in state.store.list_partnerships(&caller.principal).await? {
        let rows = views.documents(|o| {
            *o == SpaceOwner::Partnership {
                partnership_id: p.id,
            }
        })?;
        if rows.is_empty() {
            continue;
        }
        let (registers, slas, _) = views.summarise(rows).await?;
        partnerships.push(PartnershipOverview {
            partnership_id: p.id,
            partnership: p.name,
            totals: totals(&registers, &slas),
            registers,
            slas,
        });
    }
    let rows = views.documents(|o| *o == SpaceOwner::Private { org_id: own })?;
    let (private_registers, _, _) = views.summarise(rows).await?;
    Ok(Json(Overview {
        organisation_id: own,
        organisation: views.name(&own.to_string()),
        today: views.today,
        partnerships,
        private_totals: totals(&private_registers, &[]),
        private_registers,
    }))
}

/// What every view needs: the caller, their visible documents, organisation names, today.
struct Views<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    visible: Vec<(DocumentRow, Access)>,
    names: BTreeMap<String, String>,
    today: NaiveDate,
}

impl<'a> Views<'a> {
    async fn new(state: &'a AppState, caller: &'a Caller) -> ApiResult<Views<'a>> {
        let filter = DocumentFilter {
            space_id: None,
            kind: None,
            include_archived: false,
        };
        let ctx = state.store.caller_context(&caller.principal).await?;
        let mut visible = Vec::new();
        let mut after = None;
        // Bounded: a view reads at most this many documents.
        let max = state.config.max_view_documents;
        loop {
            let page = state
                .store
                .list_documents(&caller.principal, &filter, after.as_ref(), 200, caller.at)
                .await?;
            let last = page.last().map(|r| store::Cursor {
                created_at: r.document.created_at,
                id: r.document.id.to_string(),
            });
            let n = page.len();
            for row in page {
                let access = crate::access::access_of(caller, &ctx, &row, store::now_millis());
                if access != Access::None {
                    visible.push((row, access));
                }
            }
            if n < 200 || visible.len() >= max {
                break;
            }
            after = last;
        }
        visible.truncate(max);
        let names = super::organisations::names(state, &caller.principal).await?;
        Ok(Views {
            state,
            caller,
            visible,
            names,
            today: chrono::Utc::now().date_naive(),
        })
    }

    fn name(&self, org: &str) -> String {
        self.names
            .get(org)
            .cloned()
            .unwrap_or_else(|| org.to_owned())
    }

    fn documents(
        &self,
        owner: impl Fn(&SpaceOwner) -> bool,
    ) -> ApiResult<Vec<(DocumentRow, Access)>> {
        Ok(self
            .visible
            .iter()
            .filter(|(r, _)| owner(&r.owner))
            .cloned()
            .collect())
    }

    async fn summarise(
        &self,
        rows: Vec<(DocumentRow, Access)>,
    ) -> ApiResult<(Vec<RegisterSummary>, Vec<SlaSummary>, Vec<DocumentRef>)> {
        let mut registers = Vec::new();
        let mut slas = Vec::new();
        let mut others = Vec::new();
        // An SLA's partners-only figures are summarised with the SLA (its cost split, time and
        // savings), not listed on their own.
        let (figure_rows, rows): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|(r, _)| r.document.kind == DocumentKind::SlaFigures);
        let mut figures = BTreeMap::new();
        for (row, access) in figure_rows {
            let id = row.document.id.to_string();
            let opened = content::open_row(self.state, self.caller, row, access).await?;
            if let Content::SlaFigures(f) = content::typed(DocumentKind::SlaFigures, &opened.doc)? {
                figures.insert(id, f);
            }
        }
        for (row, access) in rows {
            let doc_ref = DocumentRef {
                id: row.document.id.to_string(),
                title: row.document.title.clone(),
                kind: row.document.kind,
                url: row.document.id.url(),
                access,
            };
            if !matches!(
                row.document.kind,
                DocumentKind::RiskRegister | DocumentKind::Sla
            ) {
                others.push(doc_ref);
                continue;
            }
            let opened = content::open_row(self.state, self.caller, row, access).await?;
            match content::typed(opened.row.document.kind, &opened.doc)? {
                Content::RiskRegister(reg) => {
                    registers.push(register_summary(doc_ref, &reg, self.today, &|o| {
                        self.name(o)
                    }))
                }
                Content::Sla(s) => {
                    let s = match figures.get(&s.partners_figures) {
                        Some(f) => s.with_partners(f),
                        None => s,
                    };
                    slas.push(self.sla_summary(doc_ref, &s))
                }
                _ => others.push(doc_ref),
            }
        }
        Ok((registers, slas, others))
    }

    fn by_name<V: Clone>(&self, m: &BTreeMap<String, V>) -> BTreeMap<String, V> {
        m.iter().map(|(k, v)| (self.name(k), v.clone())).collect()
    }

    fn sla_summary(&self, document: DocumentRef, s: &Sla) -> SlaSummary {
        let status = s.kpi_status();
        let kpis: Vec<KpiLine> = s
            .kpis
            .iter()
            .map(|k| {
                let st = status.iter().find(|x| x.kpi_id == k.id);
                KpiLine {
                    id: k.id.clone(),
                    name: k.name.clone(),
                    unit: k.unit.clone(),
                    target: k.target,
                    period: st.map(|x| x.period.clone()),
                    actual: st.map(|x| x.actual),
                    rag: st.map(|x| x.rag),
                    trend: st.map(|x| x.trend),
                }
            })
            .collect();
        let cost_split = s
            .cost_shares
            .iter()
            .map(|c| {
                let estimate = sla::split(c.total_estimate, c.basis, &c.estimate_drivers);
                let actual = c.total_actual.map(|t| {
                    let drivers = if c.actual_drivers.is_empty() {
                        &c.estimate_drivers
                    } else {
                        &c.actual_drivers
                    };
                    sla::split(t, c.basis, drivers)
                });
                let problem = match (&estimate, &actual) {
                    (Err(e), _) | (_, Some(Err(e))) => Some(e.to_string()),
                    _ => None,
                };
                CostLine {
                    id: c.id.clone(),
                    description: c.description.clone(),
                    basis: c.basis,
                    estimate: estimate.map(|m| self.by_name(&m)).unwrap_or_default(),
                    actual: actual.and_then(Result::ok).map(|m| self.by_name(&m)),
                    rebase: if c.actual_drivers.is_empty() {
                        BTreeMap::new()
                    } else {
                        self.by_name(&sla::rebase_needed(
                            &c.estimate_drivers,
                            &c.actual_drivers,
                            c.rebase_tolerance_points,
                        ))
                    },
                    problem,
                }
            })
            .collect();
        SlaSummary {
            document,
            red_kpis: kpis.iter().filter(|k| k.rag == Some(Rag::Red)).count(),
            kpis,
            cost_split,
            savings: self.by_name(&sla::savings_per_council(&s.savings)),
        }
    }
}

fn risk_line(reg: &RiskRegister, r: &domain::documents::risk::Risk) -> RiskLine {
    let current = reg.latest(&r.id, AssessmentKind::Current);
    RiskLine {
        id: r.id.clone(),
        reference: r.reference.clone(),
        title: r.title.clone(),
        owner: r.owner.clone(),
        score: current.map(|a| score(a.likelihood, a.impact)),
        band: current
            .and_then(|a| reg.matrix.band(a.likelihood, a.impact))
            .map(|b| b.label.clone()),
        direction: reg.direction(&r.id),
        next_review: r.next_review,
    }
}

/// A register's heat maps, red risks, appetite breaches, overdue and stale items.
pub fn register_summary(
    document: DocumentRef,
    reg: &RiskRegister,
    today: NaiveDate,
    name: &dyn Fn(&str) -> String,
) -> RegisterSummary {
    use domain::documents::risk::RiskStatus;
    let m = &reg.matrix;
    let top = m.bands.iter().map(|b| b.rank).max().unwrap_or(0);
    let open: Vec<_> = reg
        .risks
        .iter()
        .filter(|r| r.status == RiskStatus::Open)
        .collect();
    let red_risks = open
        .iter()
        .filter(|r| {
            reg.latest(&r.id, AssessmentKind::Current)
                .and_then(|a| m.band(a.likelihood, a.impact))
                .is_some_and(|b| b.rank == top)
        })
        .map(|r| risk_line(reg, r))
        .collect();
    let bands = (1..=m.likelihood.len() as u32)
        .map(|l| {
            (1..=m.impact.len() as u32)
                .map(|i| {
                    m.band(l, i)
                        .map(|b| CellBand {
                            label: b.label.clone(),
                            colour: b.colour.clone(),
                            pattern: b.pattern.clone(),
                            rank: b.rank,
                        })
                        .unwrap_or(CellBand {
                            label: String::new(),
                            colour: String::new(),
                            pattern: "none".into(),
                            rank: 0,
                        })
                })
                .collect()
        })
        .collect();
    RegisterSummary {
        document,
        open_risks: open.len(),
        heat_maps: HeatMaps {
            likelihood: m.likelihood.iter().map(|l| l.label.clone()).collect(),
            impact: m.impact.iter().map(|l| l.label.clone()).collect(),
            bands,
            inherent: reg.heat_map(AssessmentKind::Inherent),
            current: reg.heat_map(AssessmentKind::Current),
            target: reg.heat_map(AssessmentKind::Target),
        },
        red_risks,
        outside_appetite: open
            .iter()
            .filter(|r| reg.outside_appetite(r))
            .map(|r| risk_line(reg, r))
            .collect(),
        overdue_reviews: reg
            .overdue_reviews(today)
            .into_iter()
            .map(|r| risk_line(reg, r))
            .collect(),
        stale_risks: reg
            .stale_risks(today)
            .into_iter()
            .map(|r| risk_line(reg, r))
            .collect(),
        overdue_actions: reg
            .overdue_actions(today)
            .into_iter()
            .map(|a| ActionLine {
                id: a.id.clone(),
                risk_reference: reg.reference_of(&a.risk_id),
                title: a.title.clone(),
                owner: a.owner.clone(),
                council: name(&a.council),
                due: a.due,
            })
            .collect(),
    }
}

fn totals(registers: &[RegisterSummary], slas: &[SlaSummary]) -> Totals {
    let mut t = Totals::default();
    for r in registers {
        t.open_risks += r.open_risks;
        t.red_risks += r.red_risks.len();
        t.overdue_reviews += r.overdue_reviews.len();
        t.overdue_actions += r.overdue_actions.len();
        t.stale_risks += r.stale_risks.len();
    }
    for s in slas {
        t.red_kpis += s.red_kpis;
        for (k, v) in &s.savings {
            *t.savings.entry(k.clone()).or_insert(0) += v;
        }
    }
    t
}
