import { useEffect, useState, type FormEvent } from "react";
import { api, currentUser, type DocumentView, type LiveDoc, type RiskRegister, type Schemas } from "../api/client";
import { band } from "../lib/rules";
import type { CanEdit } from "./DocumentScreen";

interface AuditEntry {
  change: string;
  at: number | null;
  author: { name: string; organisation: string | null };
  edits: { path: string; action: string; from: unknown; to: unknown }[];
}

const shown = (v: unknown) => (v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));

/** One risk: its details, every assessment with its reason (never overwritten), its actions,
 * a form to record a new assessment, and its audit trail. */
export function RiskScreen({
  doc,
  change,
  canEdit,
  view,
  riskId,
}: {
  doc: LiveDoc<RiskRegister>;
  change: (f: (d: LiveDoc<RiskRegister>) => void) => void;
  canEdit: CanEdit;
  view: DocumentView;
  riskId: string;
}) {
  const risk = (doc.risks ?? []).find((r) => r.id === riskId);
  const [form, setForm] = useState({ kind: "current" as Schemas["AssessmentKind"], likelihood: 3, impact: 3, reason: "" });
  const [audit, setAudit] = useState<AuditEntry[] | null>(null);
  const assessments = (doc.assessments ?? []).filter((a) => a.riskId === riskId).sort((a, b) => a.date.localeCompare(b.date));
  const count = assessments.length;

  useEffect(() => {
    // The audit reads what the server has stored: fetch now, and again shortly after a new
    // assessment (it reaches the server a moment after it appears here), then every 15 s.
    const load = () =>
      api<{ items: AuditEntry[] }>(`/api/documents/${view.id}/audit?risk=${encodeURIComponent(riskId)}&limit=20`)
        .then((p) => setAudit(p.items))
        .catch(() => setAudit([]));
    void load();
    const soon = setTimeout(load, 1500);
    const every = setInterval(load, 15000);
    return () => {
      clearTimeout(soon);
      clearInterval(every);
    };
  }, [view.id, riskId, count]);

  if (!risk) return <p>This risk is not in the register.</p>;
  const add = (e: FormEvent) => {
    e.preventDefault();
    change((d) => {
      d.assessments?.push({
        id: crypto.randomUUID(),
        riskId,
        kind: form.kind,
        likelihood: form.likelihood,
        impact: form.impact,
        date: new Date().toISOString().slice(0, 10),
        assessor: currentUser()?.display_name ?? "",
        reason: form.reason,
      });
    });
    setForm({ ...form, reason: "" });
  };
  const levels = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  return (
    <>
      <p><a href={`#/doc/${view.id}`}>← Back to the register</a></p>
      <h2>{risk.reference}: {risk.title}</h2>
      <dl className="facts">
        <dt>Owner</dt><dd>{risk.owner}</dd>
        <dt>Category</dt><dd>{risk.category}</dd>
        <dt>Cause</dt><dd>{risk.cause || "—"}</dd>
        <dt>Event</dt><dd>{risk.event || "—"}</dd>
        <dt>Effect</dt><dd>{risk.effect || "—"}</dd>
        <dt>Existing controls</dt><dd>{risk.controls || "—"}</dd>
        <dt>Response</dt><dd>{risk.response}</dd>
        <dt>Next review</dt><dd>{risk.nextReview}</dd>
        <dt>Escalation</dt><dd>{risk.escalation}</dd>
      </dl>
      <section aria-labelledby="as-h">
        <h3 id="as-h">Assessments</h3>
        <table>
          <thead><tr><th scope="col">Date</th><th scope="col">Kind</th><th scope="col">Likelihood × impact</th><th scope="col">Band</th><th scope="col">Reason for change</th><th scope="col">Assessor</th></tr></thead>
          <tbody>
            {assessments.map((a) => {
              const b = band(doc.matrix, a.likelihood, a.impact);
              return (
                <tr key={a.id}>
                  <td>{a.date}</td><td>{a.kind}</td><td>{a.likelihood} × {a.impact} = {a.likelihood * a.impact}</td>
                  <td>{b ? b.label : "—"}</td><td>{a.reason || "—"}</td><td>{a.assessor}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {canEdit("assessments") && (
          <form onSubmit={add} className="grid-form" aria-label="Record an assessment">
            <label htmlFor="as-kind">Kind</label>
            <select id="as-kind" value={form.kind} onChange={(e) => setForm({ ...form, kind: e.target.value as typeof form.kind })}>
              <option value="inherent">Inherent</option><option value="current">Current</option><option value="target">Target</option>
            </select>
            <label htmlFor="as-l">Likelihood</label>
            <select id="as-l" value={form.likelihood} onChange={(e) => setForm({ ...form, likelihood: Number(e.target.value) })}>
              {levels(doc.matrix.likelihood.length).map((l) => <option key={l} value={l}>{l} {doc.matrix.likelihood[l - 1].label}</option>)}
            </select>
            <label htmlFor="as-i">Impact</label>
            <select id="as-i" value={form.impact} onChange={(e) => setForm({ ...form, impact: Number(e.target.value) })}>
              {levels(doc.matrix.impact.length).map((i) => <option key={i} value={i}>{i} {doc.matrix.impact[i - 1].label}</option>)}
            </select>
            <label htmlFor="as-reason">Reason for change</label>
            <input id="as-reason" value={form.reason} onChange={(e) => setForm({ ...form, reason: e.target.value })} required />
            <button type="submit">Record assessment</button>
          </form>
        )}
      </section>
      <section aria-labelledby="ra-h">
        <h3 id="ra-h">Actions</h3>
        <ul>
          {(doc.actions ?? []).filter((a) => a.riskId === riskId).map((a) => (
            <li key={a.id}>{a.title} — {a.owner}, due {a.due} ({a.status})</li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="au-h">
        <h3 id="au-h">Audit trail</h3>
        {audit === null ? <p>Loading…</p> : audit.length === 0 ? <p className="muted">No recorded changes.</p> : (
          <table data-testid="audit">
            <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Field</th><th scope="col">From</th><th scope="col">To</th></tr></thead>
            <tbody>
              {audit.flatMap((e) =>
                e.edits.map((x, i) => (
                  <tr key={`${e.change}-${i}`}>
                    <td>{e.at ? new Date(e.at).toLocaleString("en-GB") : "when the document was created"}</td>
                    <td>{e.author.name}{e.author.organisation ? `, ${e.author.organisation}` : ""}</td>
                    <td>{x.path}</td><td>{shown(x.from)}</td><td>{shown(x.to)}</td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
