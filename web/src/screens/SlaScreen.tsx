import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import type { Repo } from "@automerge/react/slim";
import { ok, rest, type DocumentView, type LiveDoc, type PartnersFigures, type Schemas, type Sla } from "../api/client";
import { rag } from "../lib/rules";
import { useLive } from "../lib/useLive";
import type { CanEdit, ScreenProps } from "./screen";

const RAG_WORD = { red: "Red", amber: "Amber", green: "Green" } as const;

export function SlaScreen({ doc, change, canEdit, view, repo }: ScreenProps<Sla>) {
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
      <Figures sla={doc} change={change} canEdit={canEdit} view={view} repo={repo} />
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
        const space = await ok(rest.GET("/api/spaces/{id}", { params: { path: { id: spaceId } } }));
        if (space.owner.kind !== "partnership") return live && setUnavailable(true);
        const d = await ok(rest.GET("/api/partnerships/{id}/dashboard", { params: { path: { id: space.owner.partnership_id } } }));
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
function TimeAllocations({ rows, names, action }: { rows: Row<TimeAllocation>[]; names: Record<string, string>; action: (r: Row<TimeAllocation>) => ReactNode }) {
  return (
    <section aria-labelledby="time-h">
      <h2 id="time-h">Shared posts' time</h2>
      <table data-testid="time-allocations">
        <thead><tr><th scope="col">Post</th><th scope="col">Council</th><th scope="col">Planned</th><th scope="col">Actual</th><th scope="col">Seen by</th></tr></thead>
        <tbody>
          {rows.flatMap((r) => {
            const t = r.line;
            const councils = Object.keys({ ...t.planned, ...t.actual }).sort((a, b) => (names[a] ?? a).localeCompare(names[b] ?? b));
            return councils.map((c, i) => (
              <tr key={`${r.where}-${t.id}-${c}`}>
                {i === 0 ? <th scope="row" rowSpan={councils.length}>{t.post}</th> : null}
                <td>{names[c] ?? c}</td>
                <td>{t.planned[c] !== undefined ? `${t.planned[c]}%` : "—"}</td>
                <td>{t.actual?.[c] !== undefined ? `${t.actual[c]}%` : "not recorded"}</td>
                {i === 0 ? <td rowSpan={councils.length}>{seenBy(r.where)} {action(r)}</td> : null}
              </tr>
            ));
          })}
        </tbody>
      </table>
    </section>
  );
}

type CostShare = Schemas["CostShare"];
type TimeAllocation = Schemas["TimeAllocation"];
type SavingsLine = Schemas["SavingsLine"];
type FigureList = "costShares" | "timeAllocations" | "savings";
/** A figure and where it is kept: in the SLA (so its guests see it) or in the partners' own
 * document. */
interface Row<T> {
  line: T;
  where: "sla" | "partners";
  index: number;
}

const seenBy = (where: Row<unknown>["where"]) =>
  where === "sla" ? <span className="tag">Partners and guests</span> : <span className="tag tag-private">Partners only</span>;

const label = (list: FigureList, line: CostShare | TimeAllocation | SavingsLine) =>
  list === "timeAllocations" ? (line as TimeAllocation).post : (line as CostShare | SavingsLine).description;

/** The SLA's cost shares, shared posts' time and savings. Those in the SLA itself are seen by
 * its guests; the rest live in the partners' own figures document, which a guest never
 * receives. An editor from a partner council moves a line between the two. */
function Figures({ sla, change, canEdit, view, repo }: {
  sla: LiveDoc<Sla>;
  change: (f: (d: LiveDoc<Sla>) => void) => void;
  canEdit: CanEdit;
  view: DocumentView;
  repo: Repo | null;
}) {
  const link = typeof sla.partnersFigures === "string" ? sla.partnersFigures : "";
  const [figView, setFigView] = useState<DocumentView | null>(null);
  const [names, setNames] = useState<Record<string, string>>({});
  const [confirming, setConfirming] = useState<string | null>(null);
  const mayArrange = canEdit(null);
  useEffect(() => {
    let live = true;
    // An SLA stored before its partners' figures had a document of their own: an editor from a
    // partner council sets one up (the server links it; the link then arrives through sync).
    const ask: Promise<DocumentView> = link
      ? ok(rest.GET("/api/documents/{id}", { params: { path: { id: link } } }))
      : mayArrange
        ? ok(rest.POST("/api/documents/{id}/partners-figures", { params: { path: { id: view.id } } }))
        : Promise.reject(new Error("none"));
    ask.then((v) => live && setFigView(v)).catch(() => live && setFigView(null));
    return () => {
      live = false;
    };
  }, [link, view.id, mayArrange]);
  useEffect(() => {
    ok(rest.GET("/api/organisations"))
      .then((list) => setNames(Object.fromEntries(list.map((o) => [o.id, o.name]))))
      .catch(() => setNames({}));
  }, []);
  const figures = useLive<LiveDoc<PartnersFigures>>(repo, figView?.url ?? null);
  const f = figures.doc;
  const canMove = mayArrange && figView?.editable.kind === "everything" && f?.schema !== undefined;

  function rows<T>(list: FigureList): Row<T>[] {
    const own = ((sla[list] ?? []) as T[]).map((line, index) => ({ line, where: "sla" as const, index }));
    const partners = ((f?.[list] ?? []) as T[]).map((line, index) => ({ line, where: "partners" as const, index }));
    return [...own, ...partners];
  }

  /** Moves a line to the other document: added there first, then removed here, so a line is
   * never in neither. Found again inside each change (by id, or by its text for savings, which
   * have none), as another person may have moved lines meanwhile. */
  const move = (list: FigureList, r: Row<CostShare | TimeAllocation | SavingsLine>) => {
    const copy = JSON.parse(JSON.stringify(r.line)) as CostShare & TimeAllocation & SavingsLine;
    const same = (x: { id?: unknown; description?: unknown; post?: unknown }) =>
      "id" in copy && copy.id !== undefined ? String(x.id) === String(copy.id) : String(x.description) === String(copy.description);
    type Lists = Record<FigureList, { id?: unknown; description?: unknown }[]>;
    const add = (d: Lists) => {
      if (!d[list].some(same)) d[list].push(copy);
    };
    const remove = (d: Lists) => {
      const at = d[list].findIndex(same);
      if (at >= 0) d[list].splice(at, 1);
    };
    if (r.where === "partners") {
      change((d) => add(d as unknown as Lists));
      figures.change((d) => remove(d as unknown as Lists));
    } else {
      figures.change((d) => add(d as unknown as Lists));
      change((d) => remove(d as unknown as Lists));
    }
    setConfirming(null);
  };

  const action = (list: FigureList) => (r: Row<CostShare | TimeAllocation | SavingsLine>) => {
    if (!canMove) return null;
    const name = label(list, r.line);
    const key = `${list}-${r.where}-${r.index}`;
    if (r.where === "sla") {
      return <button type="button" className="link" onClick={() => move(list, r)}>Keep “{name}” from guests</button>;
    }
    return confirming === key ? (
      <span className="confirm" role="group" aria-label={`Share ${name} with guests`}>
        Guests will see “{name}” and keep what they have seen.{" "}
        <button type="button" onClick={() => move(list, r)}>Share with guests</button>{" "}
        <button type="button" className="link" onClick={() => setConfirming(null)}>Cancel</button>
      </span>
    ) : (
      <button type="button" className="link" onClick={() => setConfirming(key)}>Share “{name}” with guests</button>
    );
  };

  const costs = rows<CostShare>("costShares");
  const time = rows<TimeAllocation>("timeAllocations");
  const savings = rows<SavingsLine>("savings");
  return (
    <>
      <section aria-labelledby="fig-h">
        <h2 id="fig-h">Costs</h2>
        {figView ? (
          <p className="muted">Figures marked “Partners only” are never sent to the SLA's guests.</p>
        ) : null}
        {costs.length === 0 ? (
          <p className="muted">No cost lines recorded.</p>
        ) : (
          <table data-testid="cost-lines">
            <thead><tr><th scope="col">Cost</th><th scope="col">Basis</th><th scope="col">Estimate</th><th scope="col">Actual</th><th scope="col">Seen by</th></tr></thead>
            <tbody>
              {costs.map((r) => (
                <tr key={`${r.where}-${r.line.id}`}>
                  <th scope="row">{r.line.description}</th>
                  <td>{r.line.basis}</td>
                  <td>{pounds(r.line.totalEstimate)}</td>
                  <td>{r.line.totalActual != null ? pounds(r.line.totalActual) : "not yet"}</td>
                  <td>{seenBy(r.where)} {action("costShares")(r)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <CostAndSavings documentId={view.id} spaceId={view.space_id} version={JSON.stringify([sla.costShares, sla.savings, f?.costShares, f?.savings])} />
      {time.length > 0 && <TimeAllocations rows={time} names={names} action={action("timeAllocations")} />}
      {savings.length > 0 && (
        <section aria-labelledby="savl-h">
          <h2 id="savl-h">Savings lines</h2>
          <table data-testid="savings-lines">
            <thead><tr><th scope="col">Saving</th><th scope="col">By council</th><th scope="col">Seen by</th></tr></thead>
            <tbody>
              {savings.map((r) => (
                <tr key={`${r.where}-${r.index}`}>
                  <th scope="row">{r.line.description}</th>
                  <td>{Object.entries(r.line.byCouncil).map(([c, p]) => `${names[c] ?? c} ${pounds(p)}`).join(" · ")}</td>
                  <td>{seenBy(r.where)} {action("savings")(r)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </>
  );
}
