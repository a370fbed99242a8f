// A partnership's dashboard: what a joint management team looks at first — red risks with their
// direction, overdue reviews and actions, stale risks, risks outside appetite, each SLA's KPIs
// with RAG and trend — each line leading to the document it comes from.
import { useEffect, useState } from "react";
import { ok, rest, type Schemas } from "../api/client";

type Dashboard = Schemas["Dashboard"];

const DIRECTION = { new: "• new", improving: "▼ improving", stable: "► stable", worsening: "▲ worsening" } as const;
const TREND = { "no-comparison": "—", better: "▲ better", same: "► same", worse: "▼ worse" } as const;
const RAG = { red: "Red", amber: "Amber", green: "Green" } as const;

function Risks({ caption, lines, doc }: { caption: string; lines: Schemas["RiskLine"][]; doc: string }) {
  if (lines.length === 0) return <p className="muted">{caption}: none.</p>;
  return (
    <table>
      <caption>{caption}</caption>
      <thead><tr><th scope="col">Ref</th><th scope="col">Risk</th><th scope="col">Owner</th><th scope="col">Score</th><th scope="col">Band</th><th scope="col">Direction</th><th scope="col">Next review</th></tr></thead>
      <tbody>
        {lines.map((r) => (
          <tr key={r.id}>
            <td><a href={`#/doc/${doc}/risk/${r.id}`}>{r.reference}</a></td>
            <td>{r.title}</td><td>{r.owner}</td><td>{r.score ?? "—"}</td><td>{r.band ?? "—"}</td>
            <td>{DIRECTION[r.direction]}</td><td>{r.next_review}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function PartnershipScreen({ id }: { id: string }) {
  const [d, setD] = useState<Dashboard | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [names, setNames] = useState<Record<string, string>>({});
  useEffect(() => {
    ok(rest.GET("/api/partnerships/{id}/dashboard", { params: { path: { id } } })).then(setD).catch((e) => setError(String(e.message ?? e)));
    ok(rest.GET("/api/organisations"))
      .then((o) => setNames(Object.fromEntries(o.map((x) => [x.id, x.name]))))
      .catch(() => setNames({}));
  }, [id]);
  if (error) return <p role="alert" className="error">{error}</p>;
  if (!d) return <p>Loading the dashboard…</p>;
  const t = d.totals;
  return (
    <article aria-labelledby="pd-h">
      <nav className="breadcrumb" aria-label="You are here">
        <ol><li><a href="#/">Home</a></li><li aria-current="page">{d.partnership}</li></ol>
      </nav>
      <h1 id="pd-h">{d.partnership}</h1>
      <p data-testid="totals">
        <strong>{t.open_risks}</strong> open risks · <strong>{t.red_risks}</strong> red · <strong>{t.overdue_reviews}</strong> overdue reviews ·{" "}
        <strong>{t.overdue_actions}</strong> overdue actions · <strong>{t.stale_risks}</strong> stale · <strong>{t.red_kpis}</strong> red KPIs
      </p>
      {d.registers.map((r) => (
        <section key={r.document.id} aria-labelledby={`reg-${r.document.id}`}>
          <h2 id={`reg-${r.document.id}`}><a href={`#/doc/${r.document.id}`}>{r.document.title}</a></h2>
          <Risks caption="Red risks" lines={r.red_risks} doc={r.document.id} />
          <Risks caption="Overdue reviews" lines={r.overdue_reviews} doc={r.document.id} />
          <Risks caption="Stale risks (no assessment for a long time)" lines={r.stale_risks} doc={r.document.id} />
          <Risks caption="Outside the partnership's appetite" lines={r.outside_appetite} doc={r.document.id} />
          {r.overdue_actions.length === 0 ? <p className="muted">Overdue actions: none.</p> : (
            <table>
              <caption>Overdue actions</caption>
              <thead><tr><th scope="col">Risk</th><th scope="col">Action</th><th scope="col">Owner</th><th scope="col">Council</th><th scope="col">Due</th></tr></thead>
              <tbody>
                {r.overdue_actions.map((a) => (
                  <tr key={a.id}><td>{a.risk_reference}</td><td>{a.title}</td><td>{a.owner}</td><td>{names[a.council] ?? a.council}</td><td>{a.due} <span className="overdue">overdue</span></td></tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      ))}
      {d.slas.map((s) => (
        <section key={s.document.id} aria-labelledby={`sla-${s.document.id}`}>
          <h2 id={`sla-${s.document.id}`}><a href={`#/doc/${s.document.id}`}>{s.document.title}</a></h2>
          <table>
            <caption>KPIs, latest period</caption>
            <thead><tr><th scope="col">KPI</th><th scope="col">Period</th><th scope="col">Actual</th><th scope="col">Target</th><th scope="col">RAG</th><th scope="col">Trend</th></tr></thead>
            <tbody>
              {s.kpis.map((k) => (
                <tr key={k.id}>
                  <td>{k.name}</td><td>{k.period ?? "—"}</td><td>{k.actual ?? "—"} {k.actual != null ? k.unit : ""}</td><td>{k.target} {k.unit}</td>
                  <td>{k.rag ? <span className={`rag rag-${k.rag}`}>{RAG[k.rag]}</span> : "—"}</td>
                  <td>{k.trend ? TREND[k.trend] : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
      {d.other_documents.length > 0 && (
        <section aria-labelledby="od-h">
          <h2 id="od-h">Agreements and meetings</h2>
          <ul>{d.other_documents.map((o) => <li key={o.id}><a href={`#/doc/${o.id}`}>{o.title}</a></li>)}</ul>
        </section>
      )}
    </article>
  );
}
