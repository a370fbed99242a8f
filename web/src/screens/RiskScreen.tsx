import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { byId } from "../lib/edit";
import { ok, rest, currentUser, type DocumentView, type Meeting, type RiskRegister, type Schemas } from "../api/client";
import { CollabText } from "../lib/CollabText";
import { band } from "../lib/rules";
import type { ScreenProps } from "./screen";

type AuditEntry = Schemas["AuditEntry"];

/** One edit in words: "Risk SP-07 · Owner: X → Y", "Current assessment of SP-07 added: 5 × 4 = 20". */
function Edit({ e }: { e: Schemas["FieldEdit"] }) {
  const from = e.from ?? "";
  const to = e.to ?? "";
  if (e.action === "add") return <>{e.label}{to ? <>: <q>{to}</q></> : null}</>;
  if (e.action === "delete") return <>{e.label}{from ? <>: <del>{from}</del></> : null}</>;
  if (e.action === "format") return <>{e.label}: formatting changed</>;
  return (
    <>
      {e.label}: {from ? <><del>{from}</del> → </> : null}<ins>{to || "(empty)"}</ins>
    </>
  );
}

type Organisation = { id: string; name: string; kind: string };

const RESPONSES: [Schemas["Response"], string][] = [
  ["tolerate", "Tolerate"],
  ["treat", "Treat"],
  ["transfer", "Transfer"],
  ["terminate", "Terminate"],
];
const ESCALATIONS: [Schemas["Escalation"], string][] = [
  ["service", "Service"],
  ["joint-management-team", "Joint management team"],
  ["committee", "Committee"],
];
const ACTION_STATUSES: [Schemas["ActionStatus"], string][] = [
  ["not-started", "Not started"],
  ["in-progress", "In progress"],
  ["done", "Done"],
  ["cancelled", "Cancelled"],
];

/** Actions recorded in the space's meetings and linked to this risk (their own documents). */
function useMeetingActions(spaceId: string, registerId: string, riskId: string) {
  const [found, setFound] = useState<{ meeting: DocumentView; action: Schemas["MeetingAction"] }[] | null>(null);
  useEffect(() => {
    let live = true;
    const load = async () => {
      const docs = await ok(rest.GET("/api/documents", { params: { query: { limit: 200 } } }));
      const out: { meeting: DocumentView; action: Schemas["MeetingAction"] }[] = [];
      for (const m of docs.items.filter((d) => d.space_id === spaceId && d.kind === "meeting")) {
        const c = await ok(rest.GET("/api/documents/{id}/content", { params: { path: { id: m.id } } }))
          .then((v) => ({ content: v.content as unknown as Meeting }))
          .catch(() => null);
        for (const a of c?.content.actions ?? [])
          if ((a.links ?? []).some((l) => l.kind === "risk" && l.documentId === registerId && l.itemId === riskId)) out.push({ meeting: m, action: a });
      }
      if (live) setFound(out);
    };
    void load().catch(() => live && setFound([]));
    const every = setInterval(() => void load().catch(() => {}), 15000);
    return () => {
      live = false;
      clearInterval(every);
    };
  }, [spaceId, registerId, riskId]);
  return found;
}

/** Who changed one field, when, from what to what: the field's own history, from the audit. */
function FieldHistory({ label, audit }: { label: string; audit: AuditEntry[] | null }) {
  const lines = (audit ?? []).flatMap((e) =>
    e.edits.filter((x) => x.label.endsWith(` · ${label}`) && (x.action === "set" || x.action === "text")).map((x) => ({ e, x })),
  );
  if (lines.length === 0) return null;
  return (
    <details className="field-history">
      <summary>History<span className="sr-only"> of {label}</span> ({lines.length})</summary>
      <ul>
        {lines.map(({ e, x }, i) => (
          <li key={`${e.change}-${i}`}>
            {e.author.name} changed {label.toLowerCase()} {x.from ? <>from <q>{x.from}</q> </> : null}to <q>{x.to}</q>
            {e.at ? `, ${new Date(e.at).toLocaleString("en-GB", { day: "numeric", month: "long", hour: "2-digit", minute: "2-digit" })}` : ""}
          </li>
        ))}
      </ul>
    </details>
  );
}

/** A label and its control, in a two-column form. */
function Row({ id, label, children }: { id: string; label: string; children: ReactNode }) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      {children}
    </>
  );
}

/** One risk: its details (each editable by those who may edit the register), every assessment
 * with its reason (never overwritten), its actions (added, reassigned, progressed, completed
 * here), a form to record a new assessment, and its audit trail. */
export function RiskScreen({
  doc,
  change,
  canEdit,
  view,
  riskId,
  handle,
  editing,
  onFocusField,
}: ScreenProps<RiskRegister> & { riskId: string }) {
  const index = (doc.risks ?? []).findIndex((r) => r.id === riskId);
  const risk = index >= 0 ? doc.risks?.[index] : undefined;
  const [orgs, setOrgs] = useState<Organisation[]>([]);
  useEffect(() => {
    ok(rest.GET("/api/organisations")).then(setOrgs).catch(() => setOrgs([]));
  }, []);
  const [draft, setDraft] = useState({ title: "", owner: "", council: "", due: "", expectedEffect: "" });
  const fromMeetings = useMeetingActions(view.space_id, view.id, riskId);
  const [form, setForm] = useState({ kind: "current" as Schemas["AssessmentKind"], likelihood: 3, impact: 3, reason: "" });
  const [audit, setAudit] = useState<AuditEntry[] | null>(null);
  const assessments = (doc.assessments ?? []).filter((a) => a.riskId === riskId).sort((a, b) => a.date.localeCompare(b.date));
  const count = assessments.length;
  // The risk's fields as they stand, settled for a second: a burst of typing reloads the audit once.
  const riskNow = JSON.stringify((doc.risks ?? []).find((r) => r.id === riskId) ?? null);
  const [riskState, setRiskState] = useState(riskNow);
  useEffect(() => {
    const t = setTimeout(() => setRiskState(riskNow), 1000);
    return () => clearTimeout(t);
  }, [riskNow]);

  useEffect(() => {
    // The audit reads what the server has stored: fetch now, and again shortly after the risk
    // or its assessments change (a change reaches the server a moment after it appears here),
    // then every 15 s.
    const load = () =>
      ok(rest.GET("/api/documents/{id}/audit", { params: { path: { id: view.id }, query: { risk: riskId, limit: 20 } } }))
        .then((p) => setAudit(p.items))
        .catch(() => setAudit([]));
    void load();
    const soon = setTimeout(load, 1500);
    const every = setInterval(load, 15000);
    return () => {
      clearTimeout(soon);
      clearInterval(every);
    };
  }, [view.id, riskId, count, riskState]);

  if (!risk) return <p>This risk is not in the register.</p>;
  const editable = canEdit("risks");
  const actionsEditable = canEdit("actions");
  const councils = orgs.filter((o) => o.kind === "council");
  const nameOf = (id: string | null | undefined) => orgs.find((o) => o.id === id)?.name ?? id ?? "—";
  /** Changes this risk (found by id: others may add or remove risks meanwhile). */
  const setRisk = (f: (r: Schemas["Risk"]) => void) =>
    change((d) => {
      const r = byId(d.risks, riskId);
      if (r) f(r);
    });
  const toggle = (list: string[] | undefined, id: string, on: boolean) => {
    const next = (list ?? []).filter((x) => x !== id);
    return on ? [...next, id] : next;
  };
  /** A text field bound to the live text, with presence. */
  const text = (field: keyof Schemas["Risk"], label: string, multiline = false) => {
    const id = `risk-${String(field)}`;
    const name = `${risk.reference} ${label.toLowerCase()}`;
    const others = editing(name);
    return (
      <Row id={id} label={label}>
        <div>
          <CollabText
            id={id}
            handle={handle}
            path={["risks", index, String(field)]}
            value={String(risk[field] ?? "")}
            multiline={multiline}
            readOnly={!editable}
            editedBy={others}
            onFocus={() => onFocusField(name)}
            onBlur={() => onFocusField(undefined)}
          />
          <FieldHistory label={label} audit={audit} />
        </div>
      </Row>
    );
  };
  const myActions = (doc.actions ?? []).map((a, i) => ({ a, i })).filter(({ a }) => a.riskId === riskId);
  const addAction = (e: FormEvent) => {
    e.preventDefault();
    change((d) => {
      d.actions?.push({
        id: crypto.randomUUID(),
        riskId,
        title: draft.title,
        owner: draft.owner,
        council: draft.council,
        due: draft.due,
        status: "not-started",
        expectedEffect: draft.expectedEffect,
      });
    });
    setDraft({ title: "", owner: "", council: draft.council, due: "", expectedEffect: "" });
  };
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
      <section aria-labelledby="details-h">
        <h3 id="details-h">Details</h3>
        <div className="grid-form risk-details">
          {text("reference", "Reference")}
          {text("title", "Title")}
          {text("owner", "Owner")}
          <Row id="risk-category" label="Category">
            <input
              id="risk-category"
              defaultValue={risk.category}
              key={risk.category}
              readOnly={!editable}
              onBlur={(e) => e.target.value !== risk.category && setRisk((r) => (r.category = e.target.value))}
            />
          </Row>
          {text("cause", "Cause", true)}
          {text("event", "Event", true)}
          {text("effect", "Effect", true)}
          {text("controls", "Existing controls", true)}
          <Row id="risk-response" label="Response">
            <select id="risk-response" value={risk.response} disabled={!editable} onChange={(e) => setRisk((r) => (r.response = e.target.value as Schemas["Response"]))}>
              {RESPONSES.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
            </select>
          </Row>
          <Row id="risk-status" label="Status">
            <select id="risk-status" value={risk.status} disabled={!editable} onChange={(e) => setRisk((r) => (r.status = e.target.value as Schemas["RiskStatus"]))}>
              <option value="open">Open</option>
              <option value="closed">Closed</option>
            </select>
          </Row>
          <Row id="risk-escalation" label="Escalation">
            <select id="risk-escalation" value={risk.escalation} disabled={!editable} onChange={(e) => setRisk((r) => (r.escalation = e.target.value as Schemas["Escalation"]))}>
              {ESCALATIONS.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
            </select>
          </Row>
          <Row id="risk-next-review" label="Next review">
            <input id="risk-next-review" type="date" value={risk.nextReview} readOnly={!editable} onChange={(e) => e.target.value && setRisk((r) => (r.nextReview = e.target.value))} />
          </Row>
          <Row id="risk-frequency" label="Review every (days)">
            <input
              id="risk-frequency"
              type="number"
              min={1}
              value={risk.reviewFrequencyDays}
              readOnly={!editable}
              onChange={(e) => Number(e.target.value) >= 1 && setRisk((r) => (r.reviewFrequencyDays = Math.floor(Number(e.target.value))))}
            />
          </Row>
          <Row id="risk-bearing" label="Council bearing the risk">
            <select id="risk-bearing" value={risk.bearingCouncil ?? ""} disabled={!editable} onChange={(e) => setRisk((r) => (r.bearingCouncil = e.target.value || null))}>
              <option value="">—</option>
              {councils.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
            </select>
          </Row>
        </div>
        <fieldset className="checks" disabled={!editable}>
          <legend>Owning councils</legend>
          {councils.map((o) => (
            <label key={o.id}>
              <input type="checkbox" checked={(risk.owningCouncils ?? []).includes(o.id)} onChange={(e) => setRisk((r) => (r.owningCouncils = toggle(r.owningCouncils, o.id, e.target.checked)))} /> {o.name}
            </label>
          ))}
        </fieldset>
        <fieldset className="checks" disabled={!editable}>
          <legend>Councils affected</legend>
          {councils.map((o) => (
            <label key={o.id}>
              <input type="checkbox" checked={(risk.affectedCouncils ?? []).includes(o.id)} onChange={(e) => setRisk((r) => (r.affectedCouncils = toggle(r.affectedCouncils, o.id, e.target.checked)))} /> {o.name}
            </label>
          ))}
        </fieldset>
        <fieldset className="checks" disabled={!editable}>
          <legend>Related risks</legend>
          {(doc.risks ?? []).filter((r) => r.id !== riskId).map((r) => (
            <label key={r.id}>
              <input type="checkbox" checked={(risk.related ?? []).includes(r.id)} onChange={(e) => setRisk((x) => (x.related = toggle(x.related, r.id, e.target.checked)))} /> {r.reference}: {r.title}
            </label>
          ))}
        </fieldset>
      </section>
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
        {myActions.length === 0 ? <p className="muted">No actions yet.</p> : (
          <table data-testid="risk-actions">
            <thead><tr><th scope="col">Action</th><th scope="col">Owner</th><th scope="col">Council</th><th scope="col">Due</th><th scope="col">Status</th><th scope="col">Expected effect</th></tr></thead>
            <tbody>
              {myActions.map(({ a, i }) => {
                const setAction = (f: (x: Schemas["RiskAction"]) => void) =>
                  change((d) => {
                    const x = byId(d.actions, a.id);
                    if (x) f(x);
                  });
                const overdue = a.status !== "done" && a.status !== "cancelled" && a.due < new Date().toISOString().slice(0, 10);
                return (
                  <tr key={a.id} data-action={a.title}>
                    <td><CollabText aria-label={`Action: ${a.title}`} handle={handle} path={["actions", i, "title"]} value={a.title} readOnly={!actionsEditable} /></td>
                    <td><CollabText aria-label={`Owner of “${a.title}”`} handle={handle} path={["actions", i, "owner"]} value={a.owner} readOnly={!actionsEditable} /></td>
                    <td>
                      <select aria-label={`Council doing “${a.title}”`} value={a.council} disabled={!actionsEditable} onChange={(e) => setAction((x) => (x.council = e.target.value))}>
                        {!councils.some((o) => o.id === a.council) && <option value={a.council}>{nameOf(a.council)}</option>}
                        {councils.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
                      </select>
                    </td>
                    <td>
                      <input type="date" aria-label={`Due date of “${a.title}”`} value={a.due} readOnly={!actionsEditable} onChange={(e) => e.target.value && setAction((x) => (x.due = e.target.value))} />
                      {overdue && <span className="overdue"> overdue</span>}
                    </td>
                    <td>
                      <select aria-label={`Status of “${a.title}”`} value={a.status} disabled={!actionsEditable} onChange={(e) => setAction((x) => (x.status = e.target.value as Schemas["ActionStatus"]))}>
                        {ACTION_STATUSES.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
                      </select>
                    </td>
                    <td><CollabText aria-label={`Expected effect of “${a.title}”`} handle={handle} path={["actions", i, "expectedEffect"]} value={a.expectedEffect ?? ""} readOnly={!actionsEditable} /></td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        {actionsEditable && (
          <form onSubmit={addAction} className="grid-form" aria-label="Add an action">
            <Row id="na-title" label="Action">
              <input id="na-title" value={draft.title} onChange={(e) => setDraft({ ...draft, title: e.target.value })} required />
            </Row>
            <Row id="na-owner" label="Owner">
              <input id="na-owner" value={draft.owner} onChange={(e) => setDraft({ ...draft, owner: e.target.value })} required />
            </Row>
            <Row id="na-council" label="Council">
              <select id="na-council" value={draft.council} onChange={(e) => setDraft({ ...draft, council: e.target.value })} required>
                <option value="">Choose a council</option>
                {councils.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
              </select>
            </Row>
            <Row id="na-due" label="Due">
              <input id="na-due" type="date" value={draft.due} onChange={(e) => setDraft({ ...draft, due: e.target.value })} required />
            </Row>
            <Row id="na-effect" label="Expected effect">
              <input id="na-effect" value={draft.expectedEffect} onChange={(e) => setDraft({ ...draft, expectedEffect: e.target.value })} />
            </Row>
            <button type="submit">Add action</button>
          </form>
        )}
      </section>
      <section aria-labelledby="rm-h">
        <h3 id="rm-h">Actions raised in meetings</h3>
        {fromMeetings === null ? <p>Loading…</p> : fromMeetings.length === 0 ? <p className="muted">No meeting has linked an action to this risk.</p> : (
          <table data-testid="meeting-actions">
            <thead><tr><th scope="col">Action</th><th scope="col">Owner</th><th scope="col">Due</th><th scope="col">Status</th><th scope="col">Meeting</th></tr></thead>
            <tbody>
              {fromMeetings.map(({ meeting, action }) => (
                <tr key={`${meeting.id}-${action.id}`}>
                  <td>{action.text}</td><td>{action.owner}</td><td>{action.due}</td>
                  <td>{ACTION_STATUSES.find(([v]) => v === action.status)?.[1] ?? action.status}</td>
                  <td><a href={`#/doc/${meeting.id}`}>{meeting.title}</a></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="au-h">
        <h3 id="au-h">Audit trail</h3>
        {audit === null ? <p>Loading…</p> : audit.length === 0 ? <p className="muted">No recorded changes.</p> : (
          <table data-testid="audit">
            <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What changed</th></tr></thead>
            <tbody>
              {audit.map((e) => (
                <tr key={e.change}>
                  <td>{e.at ? new Date(e.at).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" }) : "when the document was created"}</td>
                  <td>{e.author.name}{e.author.organisation ? `, ${e.author.organisation}` : ""}</td>
                  <td>
                    <ul className="edits">
                      {e.edits.map((x, i) => <li key={i}><Edit e={x} /></li>)}
                    </ul>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
