//! SLA export: the agreement's KPIs, every measurement with its RAG and trend, and the cost
//! shares with each council's driver and split, as a workbook; the KPIs and measurements as
//! CSV. The KPI, Measurements and Cost shares sheets' headings are ones the SLA import
//! recognises, so an exported workbook imports back into an empty SLA as the same content.

use std::collections::BTreeMap;

use domain::documents::risk::Band;
use domain::documents::sla::{
    Measurement, PartnersFigures, Rag, Sla, Trend, rag, same_period_last_year, split,
};

use super::values::{basis_name, frequency_name, polarity_name};
use crate::Councils;
use crate::export::{ExportError, Out, SheetWriter, Styles, csv_field, defuse, text, workbook};
use crate::import::values::council_name;

fn rag_name(r: Rag) -> &'static str {
    match r {
        Rag::Red => "Red",
        Rag::Amber => "Amber",
        Rag::Green => "Green",
    }
}

fn trend_name(t: Trend) -> &'static str {
    match t {
        Trend::NoComparison => "No comparison",
        Trend::Better => "Better",
        Trend::Same => "Same",
        Trend::Worse => "Worse",
    }
}

/// RAG as bands, so a RAG cell is its word and its colour (GOV.UK's red, amber, green).
fn rag_bands() -> Vec<Band> {
    [
        ("red", "Red", "#d4351c"),
        ("amber", "Amber", "#f47738"),
        ("green", "Green", "#00703c"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (id, label, colour))| Band {
        id: (*id).to_owned(),
        label: (*label).to_owned(),
        colour: (*colour).to_owned(),
        pattern: "solid".to_owned(),
        rank: 3 - i as u32,
    })
    .collect()
}

/// A measurement's RAG and trend against the same period a year before.
fn status(sla: &Sla, m: &Measurement) -> Option<(Rag, Trend)> {
    let k = sla.kpis.iter().find(|k| k.id == m.kpi_id)?;
    let last_year = same_period_last_year(&m.period).and_then(|p| {
        sla.measurements
            .iter()
            .find(|x| x.kpi_id == m.kpi_id && x.period == p)
            .map(|x| x.actual)
    });
    Some((
        rag(k.polarity, k.target, k.amber_tolerance, m.actual),
        domain::documents::sla::trend(k.polarity, last_year, m.actual),
    ))
}

/// Measurements in KPI order, then period order.
fn measurements_in_order(sla: &Sla) -> Vec<&Measurement> {
    let order: BTreeMap<&str, usize> = sla
        .kpis
        .iter()
        .enumerate()
        .map(|(i, k)| (k.id.as_str(), i))
        .collect();
    let mut ms: Vec<&Measurement> = sla.measurements.iter().collect();
    ms.sort_by(|a, b| {
        (order.get(a.kpi_id.as_str()), &a.period).cmp(&(order.get(b.kpi_id.as_str()), &b.period))
    });
    ms
}

/// A council's value in a per-council map, or a blank cell.
fn value_of(m: &BTreeMap<String, f64>, council: &str) -> Out<'static> {
    m.get(council).map_or_else(|| text(""), |v| Out::Number(*v))
}

const KPI_HEADERS: [&str; 7] = [
    "KPI",
    "Unit",
    "Polarity",
    "Frequency",
    "Baseline",
    "Target",
    "Amber tolerance",
];

fn kpi_cells(k: &domain::documents::sla::Kpi) -> Vec<Out<'static>> {
    vec![
        text(&k.name),
        text(&k.unit),
        text(polarity_name(k.polarity)),
        text(frequency_name(k.frequency)),
        k.baseline.map_or_else(|| text(""), Out::Number),
        Out::Number(k.target),
        Out::Number(k.amber_tolerance),
    ]
}

/// The SLA as a workbook: sheets Agreement, KPIs, Measurements, Cost shares, Time allocation
/// and Savings. `figures` are the partners-only figures, for a reader who may see them (a
/// partner council's, never a guest): their lines are marked as not shared with guests.
pub fn xlsx(
    sla: &Sla,
    figures: Option<&PartnersFigures>,
    councils: &Councils,
    title: &str,
    created: Option<chrono::NaiveDateTime>,
) -> Result<Vec<u8>, ExportError> {
    let bands = rag_bands();
    let styles = Styles::with_bands(&bands);
    let band = |r: Rag| bands.iter().find(|b| b.label == rag_name(r));
    let mut book = workbook(title, created)?;
    let name = |id: &str| {
        if id.is_empty() {
            String::new()
        } else {
            council_name(id, councils)
        }
    };

    let mut s = SheetWriter::new(
        book.add_worksheet(),
        &styles,
        "Agreement",
        title,
        &["Field", "Value"],
    )?;
    let date = |d: Option<chrono::NaiveDate>| d.map_or_else(|| text(""), Out::Date);
    for (field, value) in [
        ("Provider", Out::Text(name(&sla.provider))),
        ("Client", Out::Text(name(&sla.client))),
        ("Service specification", text(&sla.specification)),
        ("Term start", date(sla.term_start)),
        ("Term end", date(sla.term_end)),
        ("Review date", date(sla.review_date)),
        ("Dispute clause", text(&sla.dispute_clause)),
        ("Exit clause", text(&sla.exit_clause)),
    ] {
        s.row(&[text(field), value])?;
    }
    s.finish()?;

    let latest: BTreeMap<String, domain::documents::sla::KpiStatus> = sla
        .kpi_status()
        .into_iter()
        .map(|st| (st.kpi_id.clone(), st))
        .collect();
    let ids: Vec<&str> = councils.iter().map(|(id, _)| id.as_str()).collect();
    let mut headers: Vec<String> = KPI_HEADERS.map(str::to_owned).to_vec();
    headers.extend(["Latest period", "Latest actual", "RAG", "Trend"].map(str::to_owned));
    // Each council's share of an outcome target.
    headers.extend(
        ids.iter()
            .map(|id| format!("{} share", council_name(id, councils))),
    );
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut s = SheetWriter::new(book.add_worksheet(), &styles, "KPIs", title, &refs)?;
    for k in &sla.kpis {
        let mut row = kpi_cells(k);
        match latest.get(&k.id) {
            Some(st) => row.extend([
                text(&st.period),
                Out::Number(st.actual),
                Out::Band(band(st.rag)),
                text(trend_name(st.trend)),
            ]),
            None => row.extend([text(""), text(""), Out::Band(None), text("")]),
        }
        row.extend(ids.iter().map(|id| value_of(&k.council_shares, id)));
        s.row(&row)?;
    }
    s.finish()?;

    let mut s = SheetWriter::new(
        book.add_worksheet(),
        &styles,
        "Measurements",
        title,
        &[
            "KPI",
            "Period",
            "Actual",
            "RAG",
            "Trend",
            "Commentary",
            "Corrective action",
        ],
    )?;
    for m in measurements_in_order(sla) {
        let kpi = sla.kpis.iter().find(|k| k.id == m.kpi_id);
        let st = status(sla, m);
        s.row(&[
            Out::Text(kpi.map(|k| k.name.clone()).unwrap_or_default()),
            text(&m.period),
            Out::Number(m.actual),
            Out::Band(st.and_then(|(r, _)| band(r))),
            text(st.map_or("", |(_, t)| trend_name(t))),
            text(&m.commentary),
            text(&m.corrective_action),
        ])?;
    }
    s.finish()?;

    let mut headers: Vec<String> = [
        "Cost line",
        "Basis",
        "Total estimate (£)",
        "Total actual (£)",
        "Re-base tolerance",
        "Shared with guests",
    ]
    .map(str::to_owned)
    .to_vec();
    for id in &ids {
        let n = council_name(id, councils);
        headers.extend([
            format!("{n} estimate"),
            format!("{n} actual"),
            format!("{n} split (£)"),
        ]);
    }
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut s = SheetWriter::new(book.add_worksheet(), &styles, "Cost shares", title, &refs)?;
    let shared = sla.cost_shares.iter().map(|c| (c, true));
    let kept = figures
        .into_iter()
        .flat_map(|f| f.cost_shares.iter().map(|c| (c, false)));
    for (c, shared) in shared.chain(kept) {
        let shares = split(c.total_estimate, c.basis, &c.estimate_drivers).unwrap_or_default();
        let mut row = vec![
            text(&c.description),
            text(basis_name(c.basis)),
            Out::Number(c.total_estimate as f64 / 100.0),
            c.total_actual
                .map_or_else(|| text(""), |p| Out::Number(p as f64 / 100.0)),
            Out::Number(c.rebase_tolerance_points),
            text(if shared { "Yes" } else { "No" }),
        ];
        for id in &ids {
            let get = |m: &BTreeMap<String, f64>| value_of(m, id);
            row.extend([
                get(&c.estimate_drivers),
                get(&c.actual_drivers),
                shares
                    .get(*id)
                    .map_or_else(|| text(""), |p| Out::Number(*p as f64 / 100.0)),
            ]);
        }
        s.row(&row)?;
    }
    s.finish()?;

    let mut headers: Vec<String> = vec!["Post".to_owned(), "Shared with guests".to_owned()];
    for id in &ids {
        let n = council_name(id, councils);
        headers.extend([format!("{n} planned %"), format!("{n} actual %")]);
    }
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut s = SheetWriter::new(
        book.add_worksheet(),
        &styles,
        "Time allocation",
        title,
        &refs,
    )?;
    let yes = |shared: bool| text(if shared { "Yes" } else { "No" });
    let kept_posts = figures.into_iter().flat_map(|f| &f.time_allocations);
    for (t, shared) in sla
        .time_allocations
        .iter()
        .map(|t| (t, true))
        .chain(kept_posts.map(|t| (t, false)))
    {
        let mut row = vec![text(&t.post), yes(shared)];
        for id in &ids {
            let get = |m: &BTreeMap<String, f64>| value_of(m, id);
            row.extend([get(&t.planned), get(&t.actual)]);
        }
        s.row(&row)?;
    }
    s.finish()?;

    let mut headers: Vec<String> = vec!["Saving".to_owned(), "Shared with guests".to_owned()];
    for id in &ids {
        headers.push(format!("{} (£)", council_name(id, councils)));
    }
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut s = SheetWriter::new(book.add_worksheet(), &styles, "Savings", title, &refs)?;
    let kept_savings = figures.into_iter().flat_map(|f| &f.savings);
    for (line, shared) in sla
        .savings
        .iter()
        .map(|l| (l, true))
        .chain(kept_savings.map(|l| (l, false)))
    {
        let mut row = vec![text(&line.description), yes(shared)];
        for id in &ids {
            row.push(
                line.by_council
                    .get(*id)
                    .map_or_else(|| text(""), |p| Out::Number(*p as f64 / 100.0)),
            );
        }
        s.row(&row)?;
    }
    s.finish()?;

    Ok(book.save_to_buffer()?)
}

/// The KPIs (with each council's share of a target) and their measurements as CSV: one row per
/// measurement with its KPI's columns
/// (a KPI without measurements has one row with no period), the RAG and trend, the commentary.
/// Cost shares are in the workbook only (a CSV holds one table).
pub fn csv(sla: &Sla, councils: &Councils) -> String {
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let cells: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    };
    let ids: Vec<&str> = councils.iter().map(|(id, _)| id.as_str()).collect();
    let mut headers: Vec<String> = KPI_HEADERS.map(str::to_owned).to_vec();
    headers.extend(
        ids.iter()
            .map(|id| format!("{} share", council_name(id, councils))),
    );
    headers.extend(
        [
            "Period",
            "Actual",
            "RAG",
            "Trend",
            "Commentary",
            "Corrective action",
        ]
        .map(str::to_owned),
    );
    line(headers);
    let cell = |o: &Out| match o {
        Out::Text(t) => defuse(t),
        other => other.text(),
    };
    for k in &sla.kpis {
        let mut base: Vec<String> = kpi_cells(k).iter().map(cell).collect();
        base.extend(ids.iter().map(|id| value_of(&k.council_shares, id).text()));
        let ms: Vec<&Measurement> = measurements_in_order(sla)
            .into_iter()
            .filter(|m| m.kpi_id == k.id)
            .collect();
        if ms.is_empty() {
            let mut row = base.clone();
            row.extend(std::iter::repeat_n(String::new(), 6));
            line(row);
        }
        for m in ms {
            let st = status(sla, m);
            let mut row = base.clone();
            row.extend([
                m.period.clone(),
                Out::Number(m.actual).text(),
                st.map_or("", |(r, _)| rag_name(r)).to_owned(),
                st.map_or("", |(_, t)| trend_name(t)).to_owned(),
                defuse(&m.commentary),
                defuse(&m.corrective_action),
            ]);
            line(row);
        }
    }
    out
}
