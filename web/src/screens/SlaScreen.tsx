import { useState, type FormEvent } from "react";
import type { Sla } from "../api/client";
import { rag } from "../lib/rules";
import type { ScreenProps } from "./RegisterScreen";

const RAG_WORD = { red: "Red", amber: "Amber", green: "Green" } as const;

export function SlaScreen({ doc, change, canEdit }: ScreenProps<Sla>) {
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
