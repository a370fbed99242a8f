// The panels under a document: its named versions and the change report between them, who
// it is shared with (administrators), and spreadsheet import (registers, full editors).
import { useEffect, useState, type FormEvent } from "react";
import { ok, rest, type DocumentView, type Schemas } from "../api/client";
import { openResource } from "../lib/edit";
import { changed, redline, type Piece } from "../lib/redline";

interface VersionItem {
  id: string;
  label: string;
  created_at: number;
}

interface Report {
  kind: string;
  added?: { reference: string; title: string }[];
  closed?: { reference: string; title: string }[];
  moved?: { reference: string; title: string; kind: string; from?: { score: number; band: string } | null; to: { score: number; band: string }; change: number; reason: string; assessor: string }[];
  new_actions?: unknown[];
  newActions?: { title: string; owner: string; due: string }[];
  overdueActions?: { title: string; owner: string; due: string; riskReference: string }[];
  kpis?: { name: string; from?: string | null; to: string; period: string }[];
}

export function HistoryPanel({ view, canVersion }: { view: DocumentView; canVersion: boolean }) {
  const [versions, setVersions] = useState<VersionItem[]>([]);
  const [label, setLabel] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [report, setReport] = useState<Report | null>(null);
  const load = () => ok(rest.GET("/api/documents/{id}/versions", { params: { path: { id: view.id } } })).then((v) => {
    setVersions(v);
    if (!from && v.length) setFrom(v[v.length - 1].id);
  }).catch(() => {});
  useEffect(() => {
    void load();
    // Versions other people name: picked up within half a minute.
    const every = setInterval(() => void load(), 30_000);
    return () => clearInterval(every);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [view.id]);

  const [texts, setTexts] = useState<{ before: Record<string, unknown>; after: Record<string, unknown> } | null>(null);
  const compare = async (e: FormEvent) => {
    e.preventDefault();
    if (view.kind === "agreement" || view.kind === "meeting") {
      // A redline of the words: the content at both versions, compared here.
      const at = (v: string) =>
        ok(rest.GET("/api/documents/{id}/content", { params: { path: { id: view.id }, query: v ? { version: v } : {} } })).then(
          (c) => c.content as unknown as Record<string, unknown>,
        );
      const [before, after] = await Promise.all([at(from), at(to)]);
      setTexts({ before, after });
      return;
    }
    const r = await ok(rest.GET("/api/documents/{id}/changes", { params: { path: { id: view.id }, query: to ? { from, to } : { from } } }));
    setReport(r.report);
  };

  return (
    <section aria-labelledby="hist-h" className="history">
      <h2 id="hist-h">Versions and changes</h2>
      {versions.length === 0 ? <p className="muted">No named versions yet.</p> : (
        <ul>
          {versions.map((v) => (
            <li key={v.id}>
              {v.label} <span className="muted">({new Date(v.created_at).toLocaleDateString("en-GB")})</span>
              {view.kind === "risk-register" && (
                <>
                  {" "}· <button type="button" className="link" onClick={() => openResource(`/api/documents/${view.id}/export.xlsx?version=${v.id}`, `${view.title} - ${v.label}.xlsx`)}>workbook</button>
                  {" "}· <button type="button" className="link" onClick={() => openResource(`/api/documents/${view.id}/report.html?since=${v.id}`)}>committee report since</button>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      {versions.length > 0 && (
        <form className="inline" onSubmit={compare}>
          <label htmlFor="cmp-from">What changed since</label>
          <select id="cmp-from" value={from} onChange={(e) => setFrom(e.target.value)}>
            {versions.map((v) => <option key={v.id} value={v.id}>{v.label}</option>)}
          </select>
          <label htmlFor="cmp-to">up to</label>
          <select id="cmp-to" value={to} onChange={(e) => setTo(e.target.value)}>
            <option value="">now</option>
            {versions.map((v) => <option key={v.id} value={v.id}>{v.label}</option>)}
          </select>
          <button type="submit">Show changes</button>
        </form>
      )}
      {report && <ReportView report={report} />}
      {texts && <Redline kind={view.kind} before={texts.before} after={texts.after} />}
      {canVersion && (
        <form
          className="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              await ok(rest.POST("/api/documents/{id}/versions", { params: { path: { id: view.id } }, body: { label } }));
              setLabel("");
              setMessage("Version saved.");
              // Other panels listing versions (the agreement's sign-off) pick it up.
              window.dispatchEvent(new CustomEvent("concordat:versions", { detail: view.id }));
              void load();
            } catch (err) {
              setMessage((err as Error).message);
            }
          }}
        >
          <label htmlFor="version-label">Freeze as version</label>
          <input id="version-label" value={label} onChange={(e) => setLabel(e.target.value)} placeholder="Agreed at Joint Governance Committee" required />
          <button type="submit">Freeze</button>
          {message && <span role="status">{message}</span>}
        </form>
      )}
    </section>
  );
}

function ReportView({ report }: { report: Report }) {
  if (report.kind === "sla") {
    const k = report.kpis ?? [];
    return k.length === 0 ? <p>No KPI changed its RAG.</p> : (
      <table data-testid="report"><caption>KPI RAG changes</caption>
        <thead><tr><th scope="col">KPI</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Period</th></tr></thead>
        <tbody>{k.map((x, i) => <tr key={i}><td>{x.name}</td><td>{x.from ?? "—"}</td><td>{x.to}</td><td>{x.period}</td></tr>)}</tbody>
      </table>
    );
  }
  const moved = report.moved ?? [];
  return (
    <div data-testid="report">
      <table>
        <caption>Score movements</caption>
        <thead><tr><th scope="col">Risk</th><th scope="col">Assessment</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Change</th><th scope="col">Reason</th></tr></thead>
        <tbody>
          {moved.length === 0 ? <tr><td colSpan={6}>No scores moved.</td></tr> : moved.map((m, i) => (
            <tr key={i}>
              <td>{m.reference} {m.title}</td><td>{m.kind}</td>
              <td>{m.from ? `${m.from.score} (${m.from.band})` : "new"}</td><td>{m.to.score} ({m.to.band})</td>
              <td>{m.change > 0 ? `↑ +${m.change}` : m.change < 0 ? `↓ ${m.change}` : "→ 0"}</td><td>{m.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p><strong>Added:</strong> {(report.added ?? []).map((r) => `${r.reference} ${r.title}`).join("; ") || "none"}.{" "}
        <strong>Closed:</strong> {(report.closed ?? []).map((r) => `${r.reference} ${r.title}`).join("; ") || "none"}.{" "}
        <strong>New actions:</strong> {(report.newActions ?? []).length}. <strong>Overdue actions:</strong> {(report.overdueActions ?? []).length}.</p>
    </div>
  );
}

type Grant = Schemas["GrantView"];

/** Who this document is shared with by grant, and inviting a partner organisation's person. */
const ROLE_WORDS = { viewer: "Read", commenter: "Comment", editor: "Edit their part" } as const;

export function SharingPanel({ view }: { view: DocumentView }) {
  const [grants, setGrants] = useState<Grant[]>([]);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [orgs, setOrgs] = useState<{ id: string; name: string; kind: string }[]>([]);
  const [form, setForm] = useState({ email: "", organisation_id: "", role: "viewer" });
  const [link, setLink] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const load = () => ok(rest.GET("/api/documents/{id}/grants", { params: { path: { id: view.id } } })).then(setGrants).catch(() => setGrants([]));
  useEffect(() => {
    void load();
    ok(rest.GET("/api/organisations")).then((o) => {
      setOrgs(o);
      setForm((f) => ({ ...f, organisation_id: o.find((x) => x.kind === "partner")?.id ?? o[0]?.id ?? "" }));
    }).catch(() => {});
  }, [view.id]);
  const invite = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await ok(
        rest.POST("/api/invitations", { body: { ...form, role: form.role as Schemas["GrantRole"], documents: [view.id] } }),
      );
      setLink(r.link);
      setCopied(false);
      setForm({ ...form, email: "" });
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section aria-labelledby="share-h">
      <h2 id="share-h">Sharing</h2>
      {grants.length === 0 ? <p className="muted">Not shared with anyone outside the partnership.</p> : (
        <table data-testid="grants">
          <thead><tr><th scope="col">Person</th><th scope="col">Organisation</th><th scope="col">May</th><th scope="col">Until</th><th scope="col"><span className="sr-only">Revoke</span></th></tr></thead>
          <tbody>
            {grants.map((g) => {
              const who = g.grantee ? g.grantee.name : "Someone no longer listed";
              return (
                <tr key={g.id}>
                  <td>{who}{g.grantee && <><br /><span className="muted">{g.grantee.email}</span></>}</td>
                  <td>{g.grantee?.organisation ?? "—"}</td>
                  <td>{ROLE_WORDS[g.role]}</td>
                  <td>{!g.live ? "Ended" : g.expires_at ? new Date(g.expires_at).toLocaleDateString("en-GB", { dateStyle: "medium" }) : "Until revoked"}</td>
                  <td>
                    {g.live && confirming !== g.id && (
                      <button type="button" className="secondary" onClick={() => setConfirming(g.id)}>
                        Revoke<span className="sr-only"> {who}'s access</span>
                      </button>
                    )}
                    {g.live && confirming === g.id && (
                      <span role="group" aria-label={`Confirm revoking ${who}'s access`}>
                        Revoke {who}'s access now? Their open screens lose it at once.{" "}
                        <button type="button" onClick={async () => { await ok(rest.DELETE("/api/grants/{id}", { params: { path: { id: g.id } } })); setConfirming(null); void load(); }}>Yes, revoke</button>{" "}
                        <button type="button" className="secondary" onClick={() => setConfirming(null)}>Cancel</button>
                      </span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <form onSubmit={invite} className="grid-form" aria-label="Invite a guest">
        <label htmlFor="inv-email">Guest's email</label>
        <input id="inv-email" type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} required />
        <label htmlFor="inv-org">Their organisation</label>
        <select id="inv-org" value={form.organisation_id} onChange={(e) => setForm({ ...form, organisation_id: e.target.value })}>
          {orgs.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
        </select>
        <label htmlFor="inv-role">They may</label>
        <select id="inv-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
          <option value="viewer">read</option><option value="commenter">comment</option><option value="editor">edit their part</option>
        </select>
        {error && <p className="error" role="alert">{error}</p>}
        <button type="submit">Create invitation</button>
      </form>
      {link && (
        <p role="status">
          Send this single-use link to the guest: <code>{link}</code>{" "}
          <button type="button" className="secondary" onClick={() => void navigator.clipboard?.writeText(link).then(() => setCopied(true), () => setCopied(false))}>
            Copy link
          </button>
          {copied && <span> Copied.</span>}
        </p>
      )}
    </section>
  );
}

function Marked({ pieces }: { pieces: Piece[] }) {
  return (
    <span className="redline">
      {pieces.map((p, i) =>
        p.op === "same" ? <span key={i}>{p.text}</span> : p.op === "del" ? <del key={i}>{p.text}</del> : <ins key={i}>{p.text}</ins>,
      )}
    </span>
  );
}

type Item = { id: string; [k: string]: unknown };

/** A redline of an agreement's clauses or a meeting's agenda, decisions and actions between two
 * versions: each item added, removed or changed, its words marked. */
function Redline({ kind, before, after }: { kind: string; before: Record<string, unknown>; after: Record<string, unknown> }) {
  const lists: [string, string, string][] =
    kind === "agreement"
      ? [["clauses", "Clause", "text"]]
      : [["agenda", "Agenda item", "title"], ["decisions", "Decision", "text"], ["actions", "Action", "text"]];
  const str = (v: unknown) => (v === undefined || v === null ? "" : String(v)).replace(/\ufffc/g, "\n");
  const rows: { key: string; what: string; pieces: Piece[]; note: string }[] = [];
  for (const [list, what, field] of lists) {
    const was = (before[list] as Item[] | undefined) ?? [];
    const now = (after[list] as Item[] | undefined) ?? [];
    for (const item of now) {
      const old = was.find((x) => x.id === item.id);
      const name = str(item.heading ?? item.title ?? "") || what;
      const pieces = redline(str(old?.[field]), str(item[field]));
      const notes: string[] = [];
      if (!old) notes.push("added");
      for (const k of ["status", "owner", "due", "heading", "presenter"])
        if (old && str(old[k]) !== str(item[k])) notes.push(`${k} ${str(old[k]) || "—"} → ${str(item[k]) || "—"}`);
      if (!old || changed(pieces) || notes.length) rows.push({ key: `${list}-${item.id}`, what: `${what}: ${name}`, pieces, note: notes.join("; ") });
    }
    for (const old of was)
      if (!now.some((x) => x.id === old.id)) rows.push({ key: `${list}-${old.id}-gone`, what: `${what}: ${str(old.heading ?? old.title ?? "")}`, pieces: redline(str(old[field]), ""), note: "removed" });
  }
  if (rows.length === 0) return <p role="status">No changes between these versions.</p>;
  return (
    <table data-testid="redline">
      <caption>Changes between the versions: removed words struck through, added words underlined</caption>
      <thead><tr><th scope="col">What</th><th scope="col">Words</th><th scope="col">Also</th></tr></thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.key}><td>{r.what}</td><td><Marked pieces={r.pieces} /></td><td>{r.note}</td></tr>
        ))}
      </tbody>
    </table>
  );
}

interface PreviewRow {
  /** Set for a row of the workbook's other sheets (history, actions, appetite). */
  sheet?: string;
  row: number;
  reference: string | null;
  outcome: { kind: string; problems?: string[]; text?: string; changes?: { field: string; from: unknown; to: unknown }[] };
  /** How a cell was read differently from what it says ("Escalated" as Open, escalated). */
  warnings: { column: string; code: string; message: string }[];
}

/** What a preview row will do, in words. */
function previewDetails(r: PreviewRow): string {
  if (r.outcome.kind === "ignored") return `Not a risk (section, spacer or note row): ${r.outcome.text ?? ""}`;
  return r.outcome.problems?.join("; ") ?? r.outcome.changes?.map((c) => `${c.field}: ${String(c.from)} → ${String(c.to)}`).join("; ") ?? "";
}

interface Counts { creates: number; updates: number; unchanged: number }

/** A preview row's flagged cells: the column, and how it was read. */
function CellWarnings({ warnings }: { warnings: { column: string; code: string; message: string }[] }) {
  if (warnings.length === 0) return null;
  return (
    <ul data-testid="import-warnings">
      {warnings.map((w, i) => <li key={i} data-code={w.code}><span aria-label={`column ${w.column}`}>{w.column}</span>: {w.message}</li>)}
    </ul>
  );
}

/** An SLA import's preview: each sheet as recognised, then its rows (KPIs with their figures,
 * measurements, cost lines). */
interface SlaPreview {
  sheets: { name: string; kind: string | null; headerRow: number | null; note: string | null; columns: { column: string; heading: string; field: string }[] }[];
  rows: {
    sheet: string; row: number; label: string | null;
    outcome: {
      kind: string; action?: string; problems?: string[]; text?: string; sharedWithGuests?: boolean; field?: string; shown?: string;
      changes?: { field: string; from: string; to: string }[];
      measurements?: { action: string; from: number | null; measurement: { period: string; actual: number } }[];
      measurement?: { action: string; from: number | null; measurement: { period: string; actual: number } };
    };
    warnings: { column: string; code: string; message: string }[];
  }[];
  kpis: Counts; measurements: Counts; costShares: Counts; timeAllocations: Counts; savings: Counts; terms: Counts;
  errors: number; ignored: number; warnings: number;
}

const SHEET_KINDS: Record<string, string> = {
  kpis: "KPIs", measurements: "measurements", "cost-shares": "cost shares", "time-allocations": "shared posts' time", savings: "savings", agreement: "the agreement's terms",
};

function slaDetails(r: SlaPreview["rows"][number]): string {
  const o = r.outcome;
  if (o.kind === "ignored") return `Not imported (section, note or total row): ${o.text ?? ""}`;
  if (o.kind === "error") return (o.problems ?? []).join("; ");
  const figures = [...(o.measurements ?? []), ...(o.measurement ? [o.measurement] : [])]
    .filter((m) => m.action !== "unchanged")
    .map((m) => `${m.measurement.period}: ${m.from === null ? "" : `${m.from} → `}${m.measurement.actual}`);
  const changes = (o.changes ?? []).map((c) => `${c.field}: ${c.from} → ${c.to}`);
  const where = ["cost-share", "time-allocation", "saving"].includes(o.kind) ? [o.sharedWithGuests ? "shared with guests" : "kept in the partners' figures"] : [];
  if (o.kind === "term") return `${o.field}: ${o.shown ?? ""} (${o.action})`;
  return [o.action ? `${o.kind.replace("-", " ")} ${o.action}` : "", ...changes, ...figures, ...where].filter(Boolean).join("; ");
}

/** Import an SLA's KPIs, monthly figures and cost lines from XLSX or CSV. */
/** What an SLA sheet's column can be read as (a council's columns are added per council). */
const SLA_FIELDS: [string, string][] = [
  ["ignore", "(not imported)"], ["kpi", "KPI"], ["reference", "KPI reference"], ["unit", "Unit"], ["polarity", "Polarity"],
  ["frequency", "Frequency"], ["baseline", "Baseline"], ["target", "Target"], ["amber-tolerance", "Amber tolerance"],
  ["amber-threshold", "Amber threshold"], ["period", "Period"], ["actual", "Actual"], ["commentary", "Commentary"],
  ["corrective-action", "Corrective action"], ["cost-line", "Cost line"], ["basis", "Basis"], ["total-estimate", "Total estimate"],
  ["total-actual", "Total actual"], ["rebase-tolerance", "Re-base tolerance"], ["shared-with-guests", "Shared with guests"],
  ["post", "Shared post"], ["saving", "Saving"],
];

function slaOptions(councils: { id: string; name: string }[], current: string): [string, string][] {
  const options: [string, string][] = [...SLA_FIELDS];
  for (const c of councils) {
    options.push([`driver:${c.id}`, `${c.name}: figure (driver, planned time, saving)`]);
    options.push([`actual-driver:${c.id}`, `${c.name}: actual figure`]);
    options.push([`share:${c.id}`, `${c.name}: share of a KPI's target`]);
  }
  if (current.startsWith("period:")) options.push([current, `Figures for ${current.slice(7)}`]);
  return options;
}

function SlaImportPreview({ preview, councils, onRemap }: {
  preview: SlaPreview;
  councils: { id: string; name: string }[];
  onRemap: (sheet: string, column: string, field: string) => void;
}) {
  const n = (c: Counts) => `${c.creates} new, ${c.updates} changed`;
  return (
    <>
      <ul data-testid="import-sheets">
        {preview.sheets.map((s) => (
          <li key={s.name}>Sheet “{s.name}”: {s.kind ? `${SHEET_KINDS[s.kind] ?? s.kind} (headings on row ${s.headerRow})` : s.note}</li>
        ))}
      </ul>
      {preview.sheets.filter((s) => s.columns.length > 0 && s.kind !== "agreement").map((s) => (
        <details className="columns" key={s.name} data-testid="import-columns">
          <summary>Columns of “{s.name}”: how each is read</summary>
          <table>
            <thead><tr><th scope="col">Column</th><th scope="col">Heading in the file</th><th scope="col">Read as</th></tr></thead>
            <tbody>
              {s.columns.map((c) => (
                <tr key={c.column}>
                  <td>{c.column}</td><td>{c.heading}</td>
                  <td>
                    <select aria-label={`Column ${c.column} (${c.heading}) of ${s.name} is read as`} value={c.field} onChange={(e) => onRemap(s.name, c.column, e.target.value)}>
                      {slaOptions(councils, c.field).map(([value, label]) => <option key={value} value={value}>{label}</option>)}
                    </select>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      ))}
      <p data-testid="import-summary">KPIs: {n(preview.kpis)}; figures: {n(preview.measurements)}; cost lines: {n(preview.costShares)}{preview.timeAllocations.creates + preview.timeAllocations.updates > 0 ? `; shared posts: ${n(preview.timeAllocations)}` : ""}{preview.savings.creates + preview.savings.updates > 0 ? `; savings: ${n(preview.savings)}` : ""}{preview.terms.creates + preview.terms.updates > 0 ? `; terms: ${n(preview.terms)}` : ""}; {preview.errors} with errors, {preview.ignored} ignored, {preview.warnings} {preview.warnings === 1 ? "cell" : "cells"} flagged.</p>
      <table data-testid="import-preview">
        <thead><tr><th scope="col">Sheet</th><th scope="col">Row</th><th scope="col">Name</th><th scope="col">Outcome</th><th scope="col">Details</th><th scope="col">Warnings</th></tr></thead>
        <tbody>
          {preview.rows.map((r) => (
            <tr key={`${r.sheet}-${r.row}`}>
              <td>{r.sheet}</td><td>{r.row}</td><td>{r.label ?? "—"}</td><td>{r.outcome.kind}</td>
              <td>{slaDetails(r)}</td>
              <td>
                <CellWarnings warnings={r.warnings} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** Import a register or an SLA from XLSX or CSV: preview row by row, then apply as one change. */
/** The fields a register's column can be read as, in the export's order, with its headings. */
const REGISTER_FIELDS: [string, string][] = [
  ["ignore", "(not imported)"], ["reference", "Ref"], ["title", "Risk title"], ["cause", "Cause"], ["event", "Event"],
  ["effect", "Effect"], ["category", "Category"], ["owner", "Risk owner"], ["owning-councils", "Owning councils"],
  ["bearing-council", "Bearing council"], ["affected-councils", "Affected councils"], ["identified", "Date identified"],
  ["response", "Response"], ["controls", "Existing controls"], ["review-frequency-days", "Review frequency (days)"],
  ["next-review", "Next review"], ["status", "Status"], ["escalation", "Escalation"], ["related", "Related risks"],
  ["inherent-likelihood", "Inherent likelihood"], ["inherent-impact", "Inherent impact"], ["inherent-score", "Inherent score"],
  ["inherent-band", "Inherent band"], ["current-likelihood", "Current likelihood"], ["current-impact", "Current impact"],
  ["current-score", "Current score"], ["current-band", "Current band"], ["target-likelihood", "Target likelihood"],
  ["target-impact", "Target impact"], ["target-score", "Target score"], ["target-band", "Target band"],
  ["assessment-reason", "Assessment reason"], ["assessment-date", "Date assessed"], ["assessor", "Assessed by"],
  ["action-title", "Further actions"], ["action-owner", "Action owner"], ["action-due", "Action due date"],
];

interface ColumnView { column: string; heading: string; field: string }

/** Where a register's saved column mapping lives: this browser, per register, by heading. */
const savedKey = (id: string) => `concordat.import-mapping.${id}`;
const headingKey = (h: string) => h.trim().toLowerCase().replace(/\s+/g, " ");

/** Import a register or an SLA from XLSX or CSV: preview row by row (for a register: choose
 * the sheet, correct the mapping column by column, save it for next quarter's file), then
 * apply as one change. */
export function ImportPanel({ view }: { view: DocumentView }) {
  const [body, setBody] = useState<{ format: string; file: string } | null>(null);
  const [preview, setPreview] = useState<{
    rows: (PreviewRow & { values?: Record<string, string>; band?: string })[]; creates: number; updates: number; errors: number; unchanged: number; ignored: number; warnings: number;
    appetite?: { category: string }[];
    matrixProposal?: { likelihood: number; impact: number; why: string; blocked: string | null; required: boolean; applies: boolean } | null;
    unknownCouncils?: string[];
  } | null>(null);
  const [columns, setColumns] = useState<ColumnView[]>([]);
  const [councils, setCouncils] = useState<{ id: string; name: string }[]>([]);
  /** What the officer said an unknown council name means: name → organisation id. */
  const [names, setNames] = useState<Record<string, string>>({});
  const [sheets, setSheets] = useState<string[]>([]);
  const [sheet, setSheet] = useState<string | null>(null);
  const [mapping, setMapping] = useState<Record<string, string> | null>(null);
  const [acceptMatrix, setAcceptMatrix] = useState(false);
  const [sla, setSla] = useState<SlaPreview | null>(null);
  /** An SLA's mapping as the preview used it, per sheet: column letter → field. */
  const [slaMapping, setSlaMapping] = useState<Record<string, Record<string, string>> | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);

  /** Previews `b` (with a sheet and a mapping, when chosen); answers the columns as read. */
  const run = async (b: { format: string; file: string }, chosenSheet: string | null, chosenMapping: Record<string, string> | null, councilNames: Record<string, string> = names, accept: boolean = acceptMatrix) => {
    const r = await ok(rest.POST("/api/documents/{id}/import/preview", {
      params: { path: { id: view.id } },
      body: { ...b, ...(chosenSheet ? { sheet: chosenSheet } : {}), ...(chosenMapping ? { mapping: (view.kind === "sla" ? { sheets: chosenMapping } : { columns: chosenMapping }) as never } : {}), councils: councilNames, accept_matrix: accept },
    }));
    // The preview's rows are the exchange crate's types, declared to the API as an object.
    if (view.kind === "sla") {
      const got = r as unknown as { preview: SlaPreview; mapping: { sheets: Record<string, Record<string, string>> }; councils: { id: string; name: string }[] };
      setSla(got.preview);
      setSlaMapping(got.mapping.sheets);
      setCouncils(got.councils);
      return [] as ColumnView[];
    }
    const reg = r as unknown as { preview: typeof preview; columns: ColumnView[]; sheets: string[]; sheet: string | null; mapping: { columns: Record<string, string> }; councils: { id: string; name: string }[] };
    setPreview(reg.preview);
    setCouncils(reg.councils);
    setColumns(reg.columns);
    setSheets(reg.sheets);
    setSheet(reg.sheet);
    setMapping(reg.mapping.columns);
    return reg.columns;
  };

  const choose = async (file: File | undefined) => {
    setPreview(null);
    setSla(null);
    setAcceptMatrix(false);
    setMessage(null);
    setNote(null);
    setMapping(null);
    setSlaMapping(null);
    // Names an officer said mean a council, saved for this register with its mapping.
    const savedNames = JSON.parse(localStorage.getItem(`${savedKey(view.id)}.councils`) ?? "{}") as Record<string, string>;
    setNames(savedNames);
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    const b = { format: file.name.toLowerCase().endsWith(".csv") ? "csv" : "xlsx", file: btoa(binary) };
    setBody(b);
    try {
      const cols = await run(b, null, null, savedNames, false);
      // A mapping saved for this register: its headings read the same way again.
      const saved = JSON.parse(localStorage.getItem(savedKey(view.id)) ?? "null") as Record<string, string> | null;
      if (saved && cols.length) {
        const adjusted: Record<string, string> = {};
        let changed = 0;
        for (const c of cols) {
          const want = saved[headingKey(c.heading)] ?? c.field;
          if (want !== c.field) changed += 1;
          if (want !== "ignore") adjusted[c.column] = want;
        }
        if (changed > 0) {
          await run(b, null, adjusted, savedNames, false);
          setNote(`Read with the mapping saved for this register (${changed} ${changed === 1 ? "column" : "columns"} as saved).`);
        }
      }
    } catch (err) {
      setMessage((err as Error).message);
    }
  };

  const remap = async (column: string, field: string) => {
    if (!body) return;
    const next: Record<string, string> = { ...(mapping ?? {}) };
    // A field takes one column: the one chosen now.
    for (const [k, v] of Object.entries(next)) if (v === field && k !== column) delete next[k];
    if (field === "ignore") delete next[column];
    else next[column] = field;
    try {
      await run(body, sheet, next);
    } catch (err) {
      setMessage((err as Error).message);
    }
  };

  /** An SLA column read otherwise: the sheet's whole mapping is sent back, edited. */
  const remapSla = async (sheetName: string, column: string, field: string) => {
    if (!body || !slaMapping) return;
    const next: Record<string, Record<string, string>> = { ...slaMapping, [sheetName]: { ...(slaMapping[sheetName] ?? {}) } };
    if (field === "ignore") delete next[sheetName][column];
    else next[sheetName][column] = field;
    try {
      await run(body, null, next as unknown as Record<string, string>);
      setSlaMapping(next);
    } catch (err) {
      setMessage((err as Error).message);
    }
  };

  const chooseSheet = async (name: string) => {
    if (!body) return;
    try {
      await run(body, name, null);
    } catch (err) {
      setMessage((err as Error).message);
    }
  };

  const nameCouncil = async (name: string, id: string) => {
    if (!body) return;
    const next = { ...names };
    if (id) next[name] = id;
    else delete next[name];
    setNames(next);
    try {
      await run(body, sheet, mapping, next);
    } catch (err) {
      setMessage((err as Error).message);
    }
  };

  const saveMapping = () => {
    const byHeading: Record<string, string> = {};
    for (const c of columns) if (c.heading.trim()) byHeading[headingKey(c.heading)] = mapping?.[c.column] ?? "ignore";
    localStorage.setItem(savedKey(view.id), JSON.stringify(byHeading));
    localStorage.setItem(`${savedKey(view.id)}.councils`, JSON.stringify(names));
    setNote("Mapping saved: next time, columns with these headings are read the same way.");
  };

  const apply = async () => {
    if (!body) return;
    try {
      const r = await ok(rest.POST("/api/documents/{id}/import/apply", {
        params: { path: { id: view.id } },
        body: {
          ...body,
          ...(sheet ? { sheet } : {}),
          ...(view.kind === "sla" ? (slaMapping ? { mapping: { sheets: slaMapping } as never } : {}) : mapping ? { mapping: { columns: mapping } as never } : {}),
          accept_matrix: acceptMatrix,
          councils: names,
        },
      }));
      setMessage(`Imported: ${r.created} created, ${r.updated} updated, ${r.errors} rows skipped for errors.`);
      setPreview(null);
      setSla(null);
    } catch (err) {
      setMessage((err as Error).message);
    }
  };
  const mapped = columns.filter((c) => (mapping?.[c.column] ?? "ignore") !== "ignore");
  return (
    <section aria-labelledby="imp-h">
      <h2 id="imp-h">Import from a spreadsheet</h2>
      <label htmlFor="imp-file">Workbook or CSV</label>{" "}
      <input id="imp-file" type="file" accept=".xlsx,.csv" onChange={(e) => void choose(e.target.files?.[0])} />
      {message && <p role="status">{message}</p>}
      {note && <p role="status" data-testid="import-note">{note}</p>}
      {sla && (
        <>
          <SlaImportPreview preview={sla} councils={councils} onRemap={(s, c, f) => void remapSla(s, c, f)} />
          <button type="button" onClick={apply} disabled={[sla.kpis, sla.measurements, sla.costShares, sla.timeAllocations, sla.savings, sla.terms].every((c) => c.creates + c.updates === 0)}>Apply import</button>
        </>
      )}
      {preview && (
        <>
          {sheets.length > 1 && (
            <p>
              <label htmlFor="imp-sheet">Sheet with the risks</label>{" "}
              <select id="imp-sheet" value={sheet ?? ""} onChange={(e) => void chooseSheet(e.target.value)}>
                {sheets.map((s) => <option key={s} value={s}>{s}</option>)}
              </select>
            </p>
          )}
          <details className="columns" data-testid="import-columns">
            <summary>Columns: how each is read</summary>
            <table>
              <thead><tr><th scope="col">Column</th><th scope="col">Heading in the file</th><th scope="col">Read as</th></tr></thead>
              <tbody>
                {columns.filter((c) => c.heading.trim()).map((c) => (
                  <tr key={c.column}>
                    <td>{c.column}</td><td>{c.heading}</td>
                    <td>
                      <select aria-label={`Column ${c.column} (${c.heading}) is read as`} value={mapping?.[c.column] ?? "ignore"} onChange={(e) => void remap(c.column, e.target.value)}>
                        {REGISTER_FIELDS.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
                      </select>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <button type="button" onClick={saveMapping}>Save this mapping for next time</button>
          </details>
          {(preview.unknownCouncils?.length ?? 0) + Object.keys(names).length > 0 && (
            <fieldset data-testid="import-councils">
              <legend>Councils the file names that Concordat does not know</legend>
              {[...new Set([...(preview.unknownCouncils ?? []), ...Object.keys(names)])].map((n) => (
                <p key={n}>
                  <label htmlFor={`imp-council-${n}`}>“{n}” means</label>{" "}
                  <select id={`imp-council-${n}`} value={names[n] ?? ""} onChange={(e) => void nameCouncil(n, e.target.value)}>
                    <option value="">(not known: rows naming it are refused)</option>
                    {councils.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
                  </select>
                </p>
              ))}
            </fieldset>
          )}
          <p data-testid="import-summary">{preview.creates} to create, {preview.updates} to update, {preview.unchanged} unchanged, {preview.errors} with errors, {preview.ignored} ignored (not a risk), {preview.warnings} {preview.warnings === 1 ? "cell" : "cells"} flagged{preview.appetite?.length ? `; appetite for ${preview.appetite.map((a) => a.category).join(", ")}` : ""}.</p>
          {preview.matrixProposal && (
            <div className="notice" data-testid="matrix-proposal">
              <p>{preview.matrixProposal.why}.</p>
              {preview.matrixProposal.blocked ? (
                <p>It cannot be set: {preview.matrixProposal.blocked}.</p>
              ) : (
                <p>
                  <input
                    id="imp-matrix"
                    type="checkbox"
                    checked={acceptMatrix}
                    onChange={(e) => {
                      const on = e.target.checked;
                      setAcceptMatrix(on);
                      // Worked out again on the matrix chosen, so the rows show their bands on it.
                      if (body) void run(body, sheet, mapping, names, on).catch((err) => setMessage((err as Error).message));
                    }}
                  />{" "}
                  <label htmlFor="imp-matrix">Set the {preview.matrixProposal.likelihood}×{preview.matrixProposal.impact} matrix on this register with the import</label>
                </p>
              )}
            </div>
          )}
          <table data-testid="import-preview">
            <thead><tr><th scope="col">Row</th><th scope="col">Reference</th><th scope="col">Outcome</th><th scope="col">Details</th><th scope="col">Warnings</th></tr></thead>
            <tbody>
              {preview.rows.map((r) => (
                <tr key={`${r.sheet ?? ""}-${r.row}`}>
                  <td>{r.sheet ? `${r.sheet} ${r.row}` : r.row}</td><td>{r.reference ?? "—"}</td><td>{r.outcome.kind}</td>
                  <td>{previewDetails(r)}</td>
                  <td>
                    <CellWarnings warnings={r.warnings} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="table-scroll">
            <table data-testid="import-values">
              <caption>Each row's cells as they will be read; a flagged cell is marked ⚑ and says why</caption>
              <thead>
                <tr>
                  <th scope="col">Row</th>
                  {mapped.map((c) => <th scope="col" key={c.column}>{c.heading} ({c.column})</th>)}
                  <th scope="col">Band</th>
                </tr>
              </thead>
              <tbody>
                {preview.rows.filter((r) => !r.sheet && r.outcome.kind !== "ignored").map((r) => (
                  <tr key={r.row} data-outcome={r.outcome.kind}>
                    <th scope="row">{r.row}</th>
                    {mapped.map((c) => {
                      const flags = r.warnings.filter((w) => w.column === c.column);
                      return (
                        <td key={c.column} data-code={flags[0]?.code} className={flags.length ? "flagged" : undefined}>
                          {r.values?.[c.column] ?? ""}
                          {flags.map((w, i) => <span key={i} className="flag"> ⚑ {w.message}</span>)}
                        </td>
                      );
                    })}
                    <td>{r.band ?? "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <button type="button" onClick={apply} disabled={(preview.creates + preview.updates === 0 && !preview.appetite?.length) || (!!preview.matrixProposal && preview.matrixProposal.required && !preview.matrixProposal.blocked && !acceptMatrix)}>Apply import</button>
        </>
      )}
    </section>
  );
}
