//! What the demo documents hold: a shared partnership register with the risks real shared-
//! service registers name, an SLA with KPIs, measurements, cost shares, a shared post's time
//! and savings, the inter-authority agreement's clauses, a joint committee meeting, and each
//! council's private register. Dates are relative to the day of seeding, so the demo always
//! has reviews and actions just overdue and others coming up.

use chrono::{Days, NaiveDate};
use domain::documents::Content;
use domain::documents::agreement::Agreement;
use domain::documents::meeting::Meeting;
use domain::documents::risk::RiskRegister;
use domain::documents::sla::{PartnersFigures, Sla};
use serde_json::{Value, json};

/// The councils the content refers to, by organisation id.
#[derive(Debug, Clone)]
pub struct Councils {
    pub a: String,
    pub b: String,
    pub c: String,
    pub partner: String,
}

fn day(today: NaiveDate, offset: i64) -> String {
    let d = if offset >= 0 {
        today.checked_add_days(Days::new(offset as u64))
    } else {
        today.checked_sub_days(Days::new(offset.unsigned_abs()))
    };
    d.unwrap_or(today).to_string()
}

fn typed<T: serde::de::DeserializeOwned>(v: Value) -> anyhow::Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| anyhow::anyhow!("demo content: {e}"))
}

/// A risk: (reference, title, cause, event, effect, category, owner, owning councils, bearing
/// council, response, controls, review days, next review offset, escalation).
struct R<'a> {
    id: &'a str,
    title: &'a str,
    cause: &'a str,
    event: &'a str,
    effect: &'a str,
    category: &'a str,
    owner: &'a str,
    response: &'a str,
    controls: &'a str,
    review_in: i64,
    escalation: &'a str,
    /// (kind, likelihood, impact, days ago, assessor, reason)
    assessments: &'a [(&'a str, u32, u32, i64, &'a str, &'a str)],
}

/// The partnership's shared register.
pub fn shared_register(c: &Councils, today: NaiveDate) -> anyhow::Result<Content> {
    let risks = [
        R {
            id: "SP-01",
            title: "A partner council withdraws from the shared service",
            cause: "Change of political control or financial pressure in one council",
            event: "A council gives notice under clause 12 of the inter-authority agreement",
            effect: "Shared management team and service costs fall on the remaining council; \
                     service disruption during disaggregation",
            category: "Strategic",
            owner: "Joint Chief Executive",
            response: "treat",
            controls: "12-month notice period; annual review of the business case by the joint committee",
            review_in: 30,
            escalation: "committee",
            assessments: &[
                (
                    "inherent",
                    3,
                    5,
                    400,
                    "Joint Chief Executive",
                    "Identified at set-up",
                ),
                (
                    "current",
                    2,
                    5,
                    400,
                    "Joint Chief Executive",
                    "Notice period agreed",
                ),
                (
                    "current",
                    3,
                    5,
                    20,
                    "Joint Chief Executive",
                    "Budget gap reported at Brockley's October cabinet",
                ),
                (
                    "target",
                    2,
                    4,
                    400,
                    "Joint Chief Executive",
                    "Exit costs shared by agreement",
                ),
            ],
        },
        R {
            id: "SP-02",
            title: "The councils' priorities diverge",
            cause: "Different corporate plans and manifesto commitments",
            event: "Officers receive conflicting instructions from the two councils",
            effect: "Shared team capacity spread thin; neither council's priorities delivered",
            category: "Strategic",
            owner: "Director of Strategy",
            response: "treat",
            controls: "Joint corporate plan themes; quarterly joint leaders' meeting",
            review_in: 45,
            escalation: "joint-management-team",
            assessments: &[
                (
                    "inherent",
                    4,
                    3,
                    300,
                    "Director of Strategy",
                    "Identified at set-up",
                ),
                (
                    "current",
                    3,
                    3,
                    300,
                    "Director of Strategy",
                    "Joint plan themes adopted",
                ),
                (
                    "current",
                    3,
                    3,
                    60,
                    "Director of Strategy",
                    "Reviewed: no change",
                ),
                (
                    "target",
                    2,
                    3,
                    300,
                    "Director of Strategy",
                    "Aligned planning cycle",
                ),
            ],
        },
        R {
            id: "SP-03",
            title: "The joint team's time is not shared as agreed",
            cause: "Demand in one council crowds out the other",
            event: "Time recording shows a split drifting from 50/50 beyond tolerance",
            effect: "One council subsidises the other; trust between partners erodes",
            category: "Financial",
            owner: "Head of Finance (shared)",
            response: "treat",
            controls: "Quarterly time recording; re-base tolerance of 5 points in the SLA",
            review_in: -10,
            escalation: "joint-management-team",
            assessments: &[
                ("inherent", 4, 3, 200, "Head of Finance", "Identified"),
                (
                    "current",
                    3,
                    3,
                    200,
                    "Head of Finance",
                    "Time recording introduced",
                ),
                (
                    "current",
                    4,
                    3,
                    100,
                    "Head of Finance",
                    "Q1 time split 58/42 against a 50/50 plan",
                ),
                (
                    "target",
                    2,
                    2,
                    200,
                    "Head of Finance",
                    "Re-based split agreed",
                ),
            ],
        },
        R {
            id: "SP-04",
            title: "Staff morale falls after the restructure",
            cause: "Two restructures in three years; uncertainty about employer",
            event: "Turnover and sickness rise in the shared teams",
            effect: "Loss of experienced staff; slower service",
            category: "People",
            owner: "Head of HR (shared)",
            response: "treat",
            controls: "Staff survey; single terms and conditions project; wellbeing offer",
            review_in: 20,
            escalation: "joint-management-team",
            assessments: &[
                ("inherent", 4, 3, 180, "Head of HR", "Identified"),
                ("current", 4, 3, 180, "Head of HR", "Survey engagement 52%"),
                (
                    "current",
                    3,
                    3,
                    40,
                    "Head of HR",
                    "Pulse survey improved to 61%; turnover down",
                ),
                (
                    "target",
                    2,
                    3,
                    180,
                    "Head of HR",
                    "Harmonised terms in place",
                ),
            ],
        },
        R {
            id: "SP-05",
            title: "A service falls between the partners",
            cause: "Responsibilities unclear at the edges of the shared services",
            event: "A statutory duty is not delivered because each council assumes the other does it",
            effect: "Legal challenge, harm to residents, reputational damage",
            category: "Operational",
            owner: "Monitoring Officer",
            response: "treat",
            controls: "Schedule of delegated functions; service-by-service responsibility matrix",
            review_in: 60,
            escalation: "committee",
            assessments: &[
                ("inherent", 3, 4, 250, "Monitoring Officer", "Identified"),
                (
                    "current",
                    2,
                    4,
                    250,
                    "Monitoring Officer",
                    "Responsibility matrix agreed",
                ),
                (
                    "target",
                    1,
                    4,
                    250,
                    "Monitoring Officer",
                    "Matrix audited annually",
                ),
            ],
        },
        R {
            id: "SP-06",
            title: "Disparity of standards between the councils' services",
            cause: "Different policies and service levels inherited by the shared team",
            event: "Residents of one council receive a visibly poorer service",
            effect: "Complaints; members question the value of sharing",
            category: "Reputational",
            owner: "Head of Customer Services",
            response: "tolerate",
            controls: "Common service standards; complaints reported by council",
            review_in: 75,
            escalation: "service",
            assessments: &[
                (
                    "inherent",
                    3,
                    2,
                    150,
                    "Head of Customer Services",
                    "Identified",
                ),
                (
                    "current",
                    2,
                    2,
                    150,
                    "Head of Customer Services",
                    "Standards published",
                ),
                (
                    "target",
                    2,
                    2,
                    150,
                    "Head of Customer Services",
                    "Tolerated at this level",
                ),
            ],
        },
        R {
            id: "SP-07",
            title: "One partner cannot fund its share",
            cause: "Reduced government funding; reserves below the minimum",
            event: "A council asks to defer or reduce its contribution",
            effect: "Shared budget shortfall; pressure to cut the shared service",
            category: "Financial",
            owner: "Joint Section 151 Officer",
            response: "treat",
            controls: "Medium-term financial plans shared; cost-share rules in the SLA",
            review_in: 14,
            escalation: "committee",
            assessments: &[
                ("inherent", 3, 4, 320, "Joint S151 Officer", "Identified"),
                (
                    "current",
                    2,
                    4,
                    320,
                    "Joint S151 Officer",
                    "Contributions fixed for three years",
                ),
                (
                    "current",
                    4,
                    4,
                    15,
                    "Joint S151 Officer",
                    "Brockley forecasts a £2.1m gap for 2027/28",
                ),
                (
                    "target",
                    2,
                    3,
                    320,
                    "Joint S151 Officer",
                    "Savings plan delivered",
                ),
            ],
        },
        R {
            id: "SP-08",
            title: "ICT systems do not converge",
            cause: "Two revenues systems with contracts ending at different dates",
            event: "The single system is delayed beyond the contract end",
            effect: "Double licence costs; staff work in two systems",
            category: "Operational",
            owner: "Head of ICT (shared)",
            response: "treat",
            controls: "Convergence programme board; contract extension option",
            review_in: 30,
            escalation: "joint-management-team",
            assessments: &[
                ("inherent", 4, 3, 120, "Head of ICT", "Identified"),
                (
                    "current",
                    3,
                    3,
                    120,
                    "Head of ICT",
                    "Programme board in place",
                ),
                (
                    "current",
                    2,
                    3,
                    30,
                    "Head of ICT",
                    "Data migration trial passed",
                ),
                ("target", 1, 3, 120, "Head of ICT", "Single system live"),
            ],
        },
        R {
            id: "SP-09",
            title: "Personal data is disclosed across the councils' boundary",
            cause: "Shared systems and staff with access to both councils' records",
            event: "A data breach involving residents' personal data",
            effect: "ICO enforcement; harm to residents; loss of trust",
            category: "Compliance",
            owner: "Data Protection Officer",
            response: "treat",
            controls: "Data sharing agreement; role-based access; mandatory training",
            review_in: 90,
            escalation: "joint-management-team",
            assessments: &[
                (
                    "inherent",
                    3,
                    4,
                    90,
                    "Data Protection Officer",
                    "Identified",
                ),
                (
                    "current",
                    2,
                    4,
                    90,
                    "Data Protection Officer",
                    "Access reviewed",
                ),
                (
                    "target",
                    1,
                    4,
                    90,
                    "Data Protection Officer",
                    "Annual audit in place",
                ),
            ],
        },
        R {
            id: "SP-10",
            title: "Key staff leave the shared management team",
            cause: "Competitive market for senior officers; single points of failure",
            event: "Two or more senior officers leave within a year",
            effect: "Loss of knowledge and momentum",
            category: "People",
            owner: "Joint Chief Executive",
            response: "tolerate",
            controls: "Succession plans; deputies named for each head of service",
            review_in: 100,
            escalation: "joint-management-team",
            assessments: &[
                ("inherent", 3, 3, 200, "Joint Chief Executive", "Identified"),
                (
                    "current",
                    2,
                    3,
                    200,
                    "Joint Chief Executive",
                    "Succession plans in place",
                ),
                ("target", 2, 3, 200, "Joint Chief Executive", "Tolerated"),
            ],
        },
    ];
    let mut risk_values = Vec::new();
    let mut assessments = Vec::new();
    for (n, r) in risks.iter().enumerate() {
        let rid = format!("risk-{}", n + 1);
        risk_values.push(json!({
            "id": rid,
            "reference": r.id,
            "title": r.title,
            "cause": r.cause,
            "event": r.event,
            "effect": r.effect,
            "category": r.category,
            "owner": r.owner,
            "owningCouncils": [c.a, c.b],
            "bearingCouncil": if r.category == "Financial" { Value::from(c.b.clone()) } else { Value::Null },
            "affectedCouncils": [c.a, c.b],
            "identified": day(today, -400),
            "related": if r.id == "SP-07" { json!(["risk-1"]) } else { json!([]) },
            "response": r.response,
            "controls": r.controls,
            "reviewFrequencyDays": 90,
            "nextReview": day(today, r.review_in),
            "status": "open",
            "escalation": r.escalation,
        }));
        for (k, (kind, l, i, ago, who, why)) in r.assessments.iter().enumerate() {
            assessments.push(json!({
                "id": format!("{rid}-a{}", k + 1),
                "riskId": rid,
                "kind": kind,
                "likelihood": l,
                "impact": i,
                "date": day(today, -ago),
                "assessor": who,
                "reason": why,
            }));
        }
    }
    let actions = json!([
        { "id": "act-1", "riskId": "risk-1", "title": "Refresh the shared-service business case",
          "owner": "Joint Chief Executive", "council": c.a, "due": day(today, 40),
          "status": "in-progress", "expectedEffect": "Likelihood down one step" },
        { "id": "act-2", "riskId": "risk-3", "title": "Re-base the time split for 2027/28",
          "owner": "Head of Finance (shared)", "council": c.b, "due": day(today, -12),
          "status": "in-progress", "expectedEffect": "Back within tolerance" },
        { "id": "act-3", "riskId": "risk-4", "title": "Agree harmonised terms and conditions",
          "owner": "Head of HR (shared)", "council": c.a, "due": day(today, 90),
          "status": "not-started", "expectedEffect": "Likelihood down one step" },
        { "id": "act-4", "riskId": "risk-7", "title": "Joint medium-term financial plan workshop",
          "owner": "Joint Section 151 Officer", "council": c.b, "due": day(today, -3),
          "status": "not-started", "expectedEffect": "Options for the 2027/28 gap" },
        { "id": "act-5", "riskId": "risk-8", "title": "Sign the single revenues system contract",
          "owner": "Head of ICT (shared)", "council": c.a, "due": day(today, -30),
          "status": "done", "expectedEffect": "Convergence on track" },
        { "id": "act-6", "riskId": "risk-9", "title": "Data protection refresher for shared teams",
          "owner": "Data Protection Officer", "council": c.a, "due": day(today, 25),
          "status": "in-progress", "expectedEffect": "Fewer near misses" },
    ]);
    let reg: RiskRegister = typed(json!({
        "matrix": serde_json::to_value(domain::documents::risk::Matrix::five_by_five())?,
        "appetite": [
            { "category": "Financial", "maxScore": 12, "statement": "Cautious: no unplanned call on reserves" },
            { "category": "Strategic", "maxScore": 15, "statement": "Open to change that serves both councils" },
            { "category": "Compliance", "maxScore": 6, "statement": "Averse: statutory duties are met" },
        ],
        "risks": risk_values,
        "assessments": assessments,
        "actions": actions,
    }))?;
    Ok(Content::RiskRegister(reg))
}

/// A council's own register: exit planning and its view of the partnership.
pub fn private_register(
    council: &str,
    prefix: &str,
    titles: &[(&str, &str, u32, u32)],
    today: NaiveDate,
) -> anyhow::Result<Content> {
    let mut risks = Vec::new();
    let mut assessments = Vec::new();
    for (n, (title, category, l, i)) in titles.iter().enumerate() {
        let id = format!("{prefix}-{}", n + 1);
        risks.push(json!({
            "id": id, "reference": format!("{}-{:02}", prefix.to_uppercase(), n + 1),
            "title": title, "category": category, "owner": "Chief Executive",
            "owningCouncils": [council], "identified": day(today, -200),
            "response": "treat", "reviewFrequencyDays": 90, "nextReview": day(today, 30 - 20 * n as i64),
            "status": "open", "escalation": "service",
        }));
        assessments.push(json!({
            "id": format!("{id}-a1"), "riskId": id, "kind": "current", "likelihood": l,
            "impact": i, "date": day(today, -60), "assessor": "Chief Executive",
            "reason": "Quarterly review",
        }));
    }
    let reg: RiskRegister = typed(json!({
        "matrix": serde_json::to_value(domain::documents::risk::Matrix::five_by_five())?,
        "risks": risks,
        "assessments": assessments,
    }))?;
    Ok(Content::RiskRegister(reg))
}

/// The revenues and benefits SLA: Ashby provides, both councils are clients.
/// The SLA and its partners-only figures (`sla_id`, `figures_id`: the two documents' ids):
/// the councils' own cost lines, the shared director's time and the savings stay with the
/// partners; the advice contract Riverside delivers is shared with it.
pub fn sla(
    c: &Councils,
    today: NaiveDate,
    sla_id: &str,
    figures_id: &str,
) -> anyhow::Result<(Content, Content)> {
    let year = today.format("%Y").to_string();
    let last: i32 = year.parse::<i32>().unwrap_or(2026) - 1;
    let months = |y: i32| (1..=9).map(move |m| format!("{y}-{m:02}"));
    let mut measurements = Vec::new();
    let claims = [24.0, 23.5, 22.0, 21.0, 20.5, 19.8, 21.5, 22.8, 24.2];
    let collection = [97.1, 97.3, 97.6, 97.8, 97.9, 98.0, 97.7, 97.4, 97.2];
    for (k, (kpi, values)) in [("kpi-claims", &claims), ("kpi-collection", &collection)]
        .iter()
        .enumerate()
    {
        for (n, (period, actual)) in months(last).zip(values.iter()).enumerate() {
            measurements.push(json!({
                "id": format!("m-{k}-{last}-{n}"), "kpiId": kpi, "period": period,
                "actual": actual - if k == 0 { 1.5 } else { -0.3 },
            }));
        }
        for (n, (period, actual)) in months(last + 1).zip(values.iter()).enumerate() {
            measurements.push(json!({
                "id": format!("m-{k}-{}-{n}", last + 1), "kpiId": kpi, "period": period,
                "actual": actual,
                "commentary": if n == 8 && k == 0 { "Backlog after the system migration weekend" } else { "" },
                "correctiveAction": if n == 8 && k == 0 { "Overtime agreed for six weeks; agency staff from Riverside" } else { "" },
            }));
        }
    }
    let sla: Sla = typed(json!({
        "provider": c.a,
        "client": c.b,
        "specification": "Revenues (council tax and business rates billing and collection) and \
                          benefits (housing benefit and council tax support) for both councils, \
                          delivered by the shared team hosted by Ashby.",
        "termStart": format!("{last}-04-01"),
        "termEnd": format!("{}-03-31", last + 4),
        "reviewDate": day(today, 120),
        "disputeClause": "Disputes go first to the joint management team, then to the joint \
                          committee, then to an independent adjudicator agreed by both councils.",
        "exitClause": "Either council may withdraw on twelve months' notice expiring on 31 March; \
                       exit costs are shared in the proportions of the last agreed cost split.",
        "kpis": [
            { "id": "kpi-claims", "name": "Average days to process new benefit claims",
              "polarity": "lower-is-better", "frequency": "monthly", "unit": "days",
              "baseline": 26.0, "target": 22.0, "amberTolerance": 2.0,
              "councilShares": { c.a.clone(): 0.5, c.b.clone(): 0.5 } },
            { "id": "kpi-collection", "name": "Council tax collected in year (cumulative profile)",
              "polarity": "higher-is-better", "frequency": "monthly", "unit": "%",
              "baseline": 97.0, "target": 97.5, "amberTolerance": 0.5 },
        ],
        "measurements": measurements,
        "costShares": [
            { "id": "cost-advice", "description": "Benefits take-up advice contract (Riverside)",
              "basis": "equal", "totalEstimate": 6_000_000i64,
              "estimateDrivers": { c.a.clone(): 1.0, c.b.clone(): 1.0 } },
        ],
        "partnersFigures": figures_id,
    }))?;
    let figures: PartnersFigures = typed(json!({
        "sla": sla_id,
        "costShares": [
            { "id": "cost-1", "description": "Shared revenues and benefits team", "basis": "caseload",
              "totalEstimate": 412_000_000i64, "totalActual": 418_500_000i64,
              "estimateDrivers": { c.a.clone(): 41_200.0, c.b.clone(): 36_800.0 },
              "actualDrivers": { c.a.clone(): 40_100.0, c.b.clone(): 39_900.0 },
              "rebaseTolerancePoints": 2.0 },
            { "id": "cost-2", "description": "Revenues system licence", "basis": "properties",
              "totalEstimate": 38_000_000i64,
              "estimateDrivers": { c.a.clone(): 52_310.0, c.b.clone(): 47_950.0 } },
        ],
        "timeAllocations": [
            { "id": "time-1", "post": "Director of Resources (shared)",
              "planned": { c.a.clone(): 60.0, c.b.clone(): 40.0 },
              "actual": { c.a.clone(): 55.0, c.b.clone(): 45.0 } },
        ],
        "savings": [
            { "description": "Single management team", "byCouncil": { c.a.clone(): 18_500_000i64, c.b.clone(): 16_000_000i64 } },
            { "description": "One revenues system", "byCouncil": { c.a.clone(): 9_000_000i64, c.b.clone(): 8_200_000i64 } },
        ],
    }))?;
    Ok((Content::Sla(sla), Content::SlaFigures(figures)))
}

/// The inter-authority agreement, clause by clause.
pub fn agreement(today: NaiveDate) -> anyhow::Result<Content> {
    let at = |days_ago: u64| {
        today
            .checked_sub_days(Days::new(days_ago))
            .and_then(|d| d.and_hms_opt(10, 30, 0))
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or(0)
    };
    let clauses = [
        (
            "cl-1",
            "1. Definitions and interpretation",
            "In this agreement \"the Councils\" means Ashby Borough Council and Brockley District Council, and \"the Shared Service\" means the services listed in Schedule 1.",
            "agreed",
        ),
        (
            "cl-2",
            "2. Purpose",
            "The Councils enter this agreement under sections 101, 102 and 113 of the Local Government Act 1972 to deliver the Shared Service jointly, improving resilience and reducing cost.",
            "agreed",
        ),
        (
            "cl-3",
            "3. Governance",
            "A joint committee of three members from each Council oversees the Shared Service. The joint management team reports to it quarterly on performance, risk and finance.",
            "agreed",
        ),
        (
            "cl-4",
            "4. Hosting and employment",
            "Ashby Borough Council hosts the Shared Service and employs its staff. Brockley District Council staff transferred under TUPE keep their terms until harmonised terms are agreed.",
            "proposed",
        ),
        (
            "cl-5",
            "5. Costs and their sharing",
            "Costs are shared by the bases in the service-level agreement. Where a Council's actual share differs from its estimate by more than the re-base tolerance, the split is re-based from the next financial year.",
            "proposed",
        ),
        (
            "cl-6",
            "6. Information governance",
            "Each Council remains data controller for its residents' data. The data sharing agreement in Schedule 4 governs access by shared staff.",
            "draft",
        ),
        (
            "cl-12",
            "12. Withdrawal and termination",
            "A Council may withdraw by giving twelve months' written notice expiring on 31 March. The withdrawing Council bears its share of exit costs as set out in Schedule 3.",
            "draft",
        ),
    ];
    let agreement: Agreement = typed(json!({
        "clauses": clauses.iter().map(|(id, h, t, s)| json!({ "id": id, "heading": h, "text": t, "status": s })).collect::<Vec<_>>(),
        "comments": [
            { "id": "cm-1", "clauseId": "cl-12", "author": "Bella Okafor (Brockley)",
              "body": "Brockley would like the notice period to be eighteen months, given the system contracts.",
              "createdAt": at(6), "resolved": false },
            { "id": "cm-2", "clauseId": "cl-12", "parentId": "cm-1", "author": "Alice Adeyemi (Ashby)",
              "body": "Agreed in principle; legal to redraft for the committee.",
              "createdAt": at(5), "resolved": false },
        ],
        "signOffs": [],
    }))?;
    Ok(Content::Agreement(agreement))
}

/// The joint committee meeting, with decisions and actions linked to the register and the SLA.
pub fn meeting(
    c: &Councils,
    today: NaiveDate,
    register_id: &str,
    sla_id: &str,
) -> anyhow::Result<Content> {
    let meeting: Meeting = typed(json!({
        "date": day(today, 7),
        "attendees": [
            { "name": "Cllr Priya Natarajan", "council": c.a, "role": "Chair" },
            { "name": "Cllr Tom Reeve", "council": c.b, "role": "Vice-chair" },
            { "name": "Alice Adeyemi", "council": c.a, "role": "Joint Chief Executive" },
            { "name": "Bella Okafor", "council": c.b, "role": "Joint Section 151 Officer" },
            { "name": "Grace Lin", "council": c.partner, "role": "Riverside Community Trust (observer)" },
        ],
        "agenda": [
            { "id": "ag-1", "title": "Minutes and matters arising", "presenter": "Chair" },
            { "id": "ag-2", "title": "Partnership risk register: quarterly review", "presenter": "Joint Chief Executive" },
            { "id": "ag-3", "title": "Revenues and benefits performance", "presenter": "Head of Revenues" },
            { "id": "ag-4", "title": "Inter-authority agreement: notice period", "presenter": "Monitoring Officer" },
        ],
        "decisions": [
            { "id": "dec-1", "agendaItemId": "ag-2", "text": "The committee noted the register and asked for SP-07 to be reported to both councils' cabinets." },
        ],
        "actions": [
            { "id": "ma-1", "text": "Report the 2027/28 funding gap options to both cabinets",
              "owner": "Bella Okafor", "council": c.b, "due": day(today, 35), "status": "not-started",
              "links": [ { "kind": "risk", "documentId": register_id, "itemId": "risk-7" } ] },
            { "id": "ma-2", "text": "Recovery plan for benefit claim processing times",
              "owner": "Head of Revenues", "council": c.a, "due": day(today, 21), "status": "in-progress",
              "links": [ { "kind": "kpi", "documentId": sla_id, "itemId": "kpi-claims" } ] },
        ],
        "mattersArising": ["Staff survey results to come to the next meeting"],
    }))?;
    Ok(Content::Meeting(meeting))
}
