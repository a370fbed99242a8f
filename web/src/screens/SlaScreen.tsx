import { useEffect, useState, type FormEvent } from "react";
import { api, type Schemas, type Sla } from "../api/client";
import { rag } from "../lib/rules";
import type { ScreenProps } from "./RegisterScreen";

const RAG_WORD = { red: "Red", amber: "Amber", green: "Green" } as const;

export function SlaScreen({ doc, change, canEdit, view }: ScreenProps<Sla>) {
  const kpis = doc.kpis ?? [];
  const measurements = doc.measurements ?? [];
  const [kpiId, setKpiId] = useState(kpis[0]?.id ?? "");
  const [period, setPeriod] = useState("");
  const [actual, setActual] = useState("");
  const [commentary, setCommentary] = useState("");
  const [problem, setProblem] = useState<string | null>(null);

  const add = (e: FormEvent) => {
    e.preventDefault();
    const value = Number(actual);
    if (!/^\d{4}(-\d{2}|-Q[1-4]|\/\d{2})?$/.test(period)) return setProblem("Period must look like 2026-03, 2026-Q2, 2026/27 or 2026.");
    if (!Number.isFinite(value)) return setProblem("Actual must be a number.");
    setProblem(null);
    change((d) => {
      d.measurements?.push({ id: crypto.randomUUID(), kpiId, period, actual: value, commentary, correctiveAction: "" });
    });
    setPeriod("");
    setActual("");
    setCommentary("");
  };

  return (
    <>
      <section aria-labelledby="kpi-h">
        <h2 id="kpi-h">KPIs</h2>
        <table data-testid="kpi-table">
          <thead>
            <tr>
              <th scope="col">KPI</th>
              <th scope="col">Target</th>
              <th scope="col">Latest</th>
              <th scope="col">RAG</th>
              <th scope="col">Trend (last 6)</th>
            </tr>
          </thead>
          <tbody>
            {kpis.map((k) => {
              const ms = measurements.filter((m) => m.kpiId === k.id).sort((a, b) => a.period.localeCompare(b.period));
              const last = ms[ms.length - 1];
              const r = last ? rag(k.polarity, k.target, k.amberTolerance, last.actual) : undefined;
              return (
                <tr key={k.id}>
                  <th scope="row">{k.name}</th>
                  <td>{k.target} {k.unit}</td>
                  <td>{last ? `${last.actual} ${k.unit} (${last.period})` : "none yet"}</td>
                  <td>{r ? <span className={`rag rag-${r}`}>{RAG_WORD[r]}</span> : "—"}</td>
                  <td>
                    <Sparkline values={ms.slice(-6).map((m) => m.actual)} label={`${k.name}, last ${Math.min(6, ms.length)} periods`} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
      <CostAndSavings documentId={view.id} spaceId={view.space_id} version={JSON.stringify([doc.costShares, doc.savings])} />
      {(doc.timeAllocations ?? []).length > 0 && <TimeAllocations sla={doc} />}
      {canEdit("measurements") && (
        <section aria-labelledby="m-h">
          <h2 id="m-h">Enter a measurement</h2>
          <form onSubmit={add} className="grid-form">
            <label htmlFor="m-kpi">KPI</label>
            <select id="m-kpi" value={kpiId} onChange={(e) => setKpiId(e.target.value)}>
              {kpis.map((k) => <option key={k.id} value={k.id}>{k.name}</option>)}
            </select>
            <label htmlFor="m-period">Period</label>
            <input id="m-period" value={period} onChange={(e) => setPeriod(e.target.value)} placeholder="2026-10" required />
            <label htmlFor="m-actual">Actual</label>
            <input id="m-actual" inputMode="decimal" value={actual} onChange={(e) => setActual(e.target.value)} required />
            <label htmlFor="m-comm">Commentary</label>
            <input id="m-comm" value={commentary} onChange={(e) => setCommentary(e.target.value)} />
            {problem && <p className="error" role="alert">{problem}</p>}
            <button type="submit">Add measurement</button>
          </form>
        </section>
      )}
    </>
  );
}

function Sparkline({ values, label }: { values: number[]; label: string }) {
  if (values.length < 2) return <span className="muted">—</span>;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const points = values.map((v, i) => `${(i / (values.length - 1)) * 80},${20 - ((v - min) / (max - min || 1)) * 18 - 1}`).join(" ");
  return (
    <svg width="80" height="20" role="img" aria-label={`${label}: ${values.join(", ")}`}>
      <polyline points={points} fill="none" stroke="currentColor" strokeWidth="1.5" />
    </svg>
  );
}

const pounds = (pence: number) => `£${Math.round(pence / 100).toLocaleString("en-GB")}`;

/** The cost split (estimate and actual, by each line's basis) and savings per council, as the
 * server's partnership dashboard works them out (the same figures the committee report uses). */
function CostAndSavings({ documentId, spaceId, version }: { documentId: string; spaceId: string; version: string }) {
  const [summary, setSummary] = useState<Schemas["SlaSummary"] | null>(null);
  const [unavailable, setUnavailable] = useState(false);
  useEffect(() => {
    let live = true;
    const timer = setTimeout(async () => {
      try {
        const space = await api<Schemas["Space"]>(`/api/spaces/${spaceId}`);
        if (space.owner.kind !== "partnership") return live && setUnavailable(true);
        const d = await api<Schemas["Dashboard"]>(`/api/partnerships/${space.owner.partnership_id}/dashboard`);
        if (live) {
          setSummary(d.slas.find((x) => x.document.id === documentId) ?? null);
          setUnavailable(false);
        }
      } catch {
        if (live) setUnavailable(true);
      }
    }, 300);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [documentId, spaceId, version]);
  if (unavailable) return <p className="muted">The cost split and savings are shown to the partnership's member councils.</p>;
  if (!summary) return null;
  const councils = [...new Set(summary.cost_split.flatMap((c) => Object.keys(c.estimate)).concat(Object.keys(summary.savings)))].sort();
  return (
    <>
      <section aria-labelledby="cost-h">
        <h2 id="cost-h">Cost split</h2>
        <ul className="legend" aria-hidden="true">
          {councils.map((c, i) => (
            <li key={c}><span className={`swatch part part-${i % 3}`} /> {c}</li>
          ))}
        </ul>
        {summary.cost_split.map((line) => (
          <figure key={line.id} className="chart" data-testid="cost-chart">
            <figcaption><strong>{line.description}</strong> <span className="muted">({line.basis} basis)</span></figcaption>
            {([["Estimate", line.estimate], ["Actual", line.actual]] as const).map(([what, split]) =>
              split ? <SplitBar key={what} what={what} split={split} councils={councils} /> : null,
            )}
            {line.problem && <p className="error">{line.problem}</p>}
            {Object.entries(line.rebase).map(([c, points]) => (
              <p key={c} className="rag rag-amber">Re-base needed: {c}'s actual share is {points > 0 ? "+" : ""}{points.toFixed(1)} percentage points from its estimate.</p>
            ))}
          </figure>
        ))}
      </section>
      <section aria-labelledby="sav-h">
        <h2 id="sav-h">Savings</h2>
        <SavingsBars savings={summary.savings} />
      </section>
    </>
  );
}

/** One split as a stacked bar (each council's part in its own fill and pattern) and in words:
 * name, amount and share. */
function SplitBar({ what, split, councils }: { what: string; split: Record<string, number>; councils: string[] }) {
  const total = Object.values(split).reduce((a, b) => a + b, 0) || 1;
  const parts = councils.filter((c) => split[c] !== undefined).map((c) => ({ c, i: councils.indexOf(c), pct: (split[c] / total) * 100 }));
  return (
    <div className="split">
      <span className="split-what">{what}</span>
      <div className="split-bar" aria-hidden="true">
        {parts.map(({ c, i, pct }) => (
          <span key={c} className={`part part-${i % 3}`} style={{ width: `${pct}%` }} title={`${c} ${pct.toFixed(1)}%`} />
        ))}
      </div>
      <span className="split-words">{parts.map(({ c, pct }) => `${c} ${pounds(split[c])} (${pct.toFixed(1)}%)`).join(" · ")}</span>
    </div>
  );
}

function SavingsBars({ savings }: { savings: Record<string, number> }) {
  const entries = Object.entries(savings);
  if (entries.length === 0) return <p className="muted">No savings lines recorded.</p>;
  const max = Math.max(...entries.map(([, v]) => v), 1);
  return (
    <table className="chart" data-testid="savings-chart">
      <caption className="sr-only">Savings per council</caption>
      <thead><tr><th scope="col">Council</th><th scope="col">Saving</th><th scope="col" aria-hidden="true"></th></tr></thead>
      <tbody>
        {entries.map(([council, pence]) => (
          <tr key={council}>
            <th scope="row">{council}</th>
            <td>{pounds(pence)}</td>
            <td aria-hidden="true" style={{ width: "50%" }}><div style={{ background: "#00703c", height: "1rem", width: `${(pence / max) * 100}%` }} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Shared posts' time by council, planned against actual (percentages as recorded). */
function TimeAllocations({ sla }: { sla: Sla }) {
  const [names, setNames] = useState<Record<string, string>>({});
  useEffect(() => {
    api<{ id: string; name: string }[]>("/api/organisations")
      .then((list) => setNames(Object.fromEntries(list.map((o) => [o.id, o.name]))))
      .catch(() => setNames({}));
  }, []);
  return (
    <section aria-labelledby="time-h">
      <h2 id="time-h">Shared posts' time</h2>
      <table data-testid="time-allocations">
        <thead><tr><th scope="col">Post</th><th scope="col">Council</th><th scope="col">Planned</th><th scope="col">Actual</th></tr></thead>
        <tbody>
          {(sla.timeAllocations ?? []).flatMap((t) => {
            const councils = Object.keys({ ...t.planned, ...t.actual }).sort((a, b) => (names[a] ?? a).localeCompare(names[b] ?? b));
            return councils.map((c, i) => (
              <tr key={`${t.id}-${c}`}>
                {i === 0 ? <th scope="row" rowSpan={councils.length}>{t.post}</th> : null}
                <td>{names[c] ?? c}</td>
                <td>{t.planned[c] !== undefined ? `${t.planned[c]}%` : "—"}</td>
                <td>{t.actual?.[c] !== undefined ? `${t.actual[c]}%` : "not recorded"}</td>
              </tr>
            ));
          })}
        </tbody>
      </table>
    </section>
  );
}
