import { useEffect, useMemo, useState } from "react";
import { ok, rest, type RiskRegister, type Schemas } from "../api/client";
import { band, heatMap, latest, standardMatrix } from "../lib/rules";
import { byId, openResource } from "../lib/edit";
import { CollabText } from "../lib/CollabText";
import type { ScreenProps } from "./screen";

function BandLabel({ b }: { b: Schemas["Band"] | undefined }) {
  if (!b) return <span className="muted">not assessed</span>;
  return (
    <span className="band">
      <span className={`swatch pattern-${b.pattern}`} style={{ backgroundColor: b.colour }} aria-hidden="true" />
      {b.label}
    </span>
  );
}

const PATTERNS = ["none", "dots", "hatch", "solid"];

/** The council's own matrix: each cell's band, the bands' names, colours and patterns, the
 * levels' labels (live, through the document, to everyone editing), and its size (through the
 * API, which refuses a size that would leave an assessment outside it, and says which). */
function MatrixEditor({ reg, change, documentId }: { reg: RiskRegister; change: (f: (d: RiskRegister) => void) => void; documentId: string }) {
  const m = reg.matrix;
  const [message, setMessage] = useState<string | null>(null);
  const resize = async (n: 3 | 4 | 5) => {
    setMessage(null);
    try {
      await ok(rest.PUT("/api/documents/{id}/matrix", { params: { path: { id: documentId } }, body: { matrix: standardMatrix(n) } }));
      setMessage(`The register's matrix is now ${n}×${n}, with the standard bands: set each cell's band below.`);
    } catch (e) {
      setMessage((e as Error).message);
    }
  };
  const levels = (axis: "likelihood" | "impact") => (
    <fieldset>
      <legend>{axis === "likelihood" ? "Likelihood levels" : "Impact levels"}</legend>
      {m[axis].map((lv, k) => (
        <p key={k}>
          <label htmlFor={`lv-${axis}-${k}`}>{axis === "likelihood" ? "Likelihood" : "Impact"} {k + 1}</label>{" "}
          <input
            id={`lv-${axis}-${k}`}
            defaultValue={String(lv.label)}
            onBlur={(e) => {
              const v = e.target.value.trim();
              if (v && v !== String(lv.label)) change((d) => { d.matrix[axis][k].label = v; });
            }}
          />
        </p>
      ))}
    </fieldset>
  );
  return (
    <details className="matrix-editor" data-testid="matrix-editor">
      <summary>Matrix and bands</summary>
      <p>Choose each cell's band as your council's own register has it; the heat map, the bands of every risk and the committee report follow.</p>
      <table className="heatmap">
        <caption>Band of each cell</caption>
        <thead>
          <tr>
            <th scope="col">Likelihood \ Impact</th>
            {m.impact.map((l, i) => <th scope="col" key={i}>{i + 1} {String(l.label)}</th>)}
          </tr>
        </thead>
        <tbody>
          {m.likelihood.map((_, li) => {
            const l = m.likelihood.length - li;
            return (
              <tr key={l}>
                <th scope="row">{l} {String(m.likelihood[l - 1].label)}</th>
                {m.impact.map((__, ii) => (
                  <td key={ii}>
                    <select
                      aria-label={`Band of likelihood ${l}, impact ${ii + 1}`}
                      value={String(m.cells[l - 1][ii])}
                      onChange={(e) => {
                        const id = e.target.value;
                        change((d) => { d.matrix.cells[l - 1][ii] = id; });
                      }}
                    >
                      {m.bands.map((b) => <option key={String(b.id)} value={String(b.id)}>{String(b.label)}</option>)}
                    </select>
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
      <table>
        <caption>Bands</caption>
        <thead><tr><th scope="col">Band</th><th scope="col">Name</th><th scope="col">Colour</th><th scope="col">Pattern (for greyscale)</th></tr></thead>
        <tbody>
          {m.bands.map((b, k) => (
            <tr key={String(b.id)}>
              <td><BandLabel b={b} /></td>
              <td>
                <input
                  aria-label={`Name of band ${String(b.label)}`}
                  defaultValue={String(b.label)}
                  onBlur={(e) => {
                    const v = e.target.value.trim();
                    if (v && v !== String(b.label)) change((d) => { d.matrix.bands[k].label = v; });
                  }}
                />
              </td>
              <td>
                <input
                  type="color"
                  aria-label={`Colour of band ${String(b.label)}`}
                  value={String(b.colour)}
                  onChange={(e) => {
                    const v = e.target.value;
                    change((d) => { d.matrix.bands[k].colour = v; });
                  }}
                />
              </td>
              <td>
                <select
                  aria-label={`Pattern of band ${String(b.label)}`}
                  value={String(b.pattern)}
                  onChange={(e) => {
                    const v = e.target.value;
                    change((d) => { d.matrix.bands[k].pattern = v; });
                  }}
                >
                  {PATTERNS.map((p) => <option key={p} value={p}>{p}</option>)}
                </select>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {levels("likelihood")}
      {levels("impact")}
      <p>
        Size:{" "}
        {([3, 4, 5] as const).map((n) => (
          <button key={n} type="button" onClick={() => void resize(n)} disabled={m.likelihood.length === n && m.impact.length === n}>
            {n}×{n}
          </button>
        ))}
      </p>
      {message && <p role="status">{message}</p>}
    </details>
  );
}

/** A cell of the heat map chosen to list its risks. */
export interface Cell {
  kind: "inherent" | "current" | "target";
  likelihood: number;
  impact: number;
}

function HeatMap({ reg, kind, then, onCell }: { reg: RiskRegister; kind: "inherent" | "current" | "target"; then?: RiskRegister; onCell: (c: Cell) => void }) {
  const counts = heatMap(reg.matrix, reg.risks ?? [], reg.assessments, kind);
  // The same cells at a chosen version (same matrix), to show movement since it.
  const before =
    then && then.matrix.likelihood.length === reg.matrix.likelihood.length && then.matrix.impact.length === reg.matrix.impact.length
      ? heatMap(then.matrix, then.risks ?? [], then.assessments, kind)
      : undefined;
  return (
    <table className="heatmap">
      <caption>{kind[0].toUpperCase() + kind.slice(1)} position — open risks per cell</caption>
      <thead>
        <tr>
          <th scope="col">Likelihood \ Impact</th>
          {reg.matrix.impact.map((l, i) => (
            <th scope="col" key={i}>{i + 1} {l.label}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {reg.matrix.likelihood.map((_, li) => {
          const l = reg.matrix.likelihood.length - li;
          return (
            <tr key={l}>
              <th scope="row">{l} {reg.matrix.likelihood[l - 1].label}</th>
              {reg.matrix.impact.map((__, ii) => {
                const b = band(reg.matrix, l, ii + 1);
                return (
                <td
                  key={ii}
                  data-band={b?.id}
                  className={b ? `fill-${b.pattern}` : undefined}
                  // A light tint of the band's colour (dark text stays readable) under its
                  // pattern: in greyscale the bands still differ by texture, not only by word.
                  style={b ? { backgroundColor: `color-mix(in srgb, ${b.colour} 28%, white)` } : undefined}
                >
                  <BandLabel b={b} />
                  {counts[l - 1][ii] > 0 ? (
                    <button
                      type="button"
                      className="count link-button"
                      aria-label={`${counts[l - 1][ii]} risks at likelihood ${l}, impact ${ii + 1}: list them`}
                      onClick={() => onCell({ kind, likelihood: l, impact: ii + 1 })}
                    >
                      {counts[l - 1][ii]}
                    </button>
                  ) : (
                    <strong className="count">0</strong>
                  )}
                  {before && before[l - 1][ii] !== counts[l - 1][ii] && (
                    <span className="was">
                      {counts[l - 1][ii] > before[l - 1][ii] ? "▲" : "▼"} was {before[l - 1][ii]}
                    </span>
                  )}
                </td>
                );
              })}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

type Row = { r: Schemas["Risk"]; index: number; a?: Schemas["Assessment"]; score: number };

/** Which way the current score last moved: from the current assessment before the latest. */
function direction(assessments: readonly Schemas["Assessment"][] | undefined, riskId: string): { symbol: string; words: string; rank: number } {
  const current = (assessments ?? []).map((a, i) => ({ a, i })).filter(({ a }) => a.riskId === riskId && a.kind === "current");
  current.sort((x, y) => x.a.date.localeCompare(y.a.date) || x.i - y.i);
  if (current.length < 2) return { symbol: "•", words: "new", rank: 0 };
  const [prev, last] = [current[current.length - 2].a, current[current.length - 1].a];
  const d = last.likelihood * last.impact - prev.likelihood * prev.impact;
  return d > 0 ? { symbol: "▲", words: "worse", rank: 1 } : d < 0 ? { symbol: "▼", words: "better", rank: -1 } : { symbol: "►", words: "no change", rank: 0 };
}

/** The register table's columns: the first two always shown, the rest chosen by the reader. */
const COLUMNS = [
  { key: "reference", label: "Ref", always: true },
  { key: "title", label: "Risk", always: true },
  { key: "owner", label: "Owner" },
  { key: "status", label: "Status" },
  { key: "category", label: "Category" },
  { key: "inherent", label: "Inherent score" },
  { key: "score", label: "Current score" },
  { key: "target", label: "Target score" },
  { key: "direction", label: "Direction of travel" },
  { key: "band", label: "Band" },
  { key: "nextReview", label: "Next review" },
  { key: "actions", label: "Open actions" },
  { key: "councils", label: "Owning councils" },
] as const;
type ColumnKey = (typeof COLUMNS)[number]["key"];
const DEFAULT_COLUMNS: ColumnKey[] = ["reference", "title", "owner", "status", "score", "band"];

function savedColumns(): ColumnKey[] {
  try {
    const v = JSON.parse(localStorage.getItem("concordat.register.columns") ?? "null");
    return Array.isArray(v) ? (v.filter((k) => COLUMNS.some((c) => c.key === k)) as ColumnKey[]) : DEFAULT_COLUMNS;
  } catch {
    return DEFAULT_COLUMNS;
  }
}

export function RegisterScreen({ doc, change, canEdit, view, onFocusField, editing, handle }: ScreenProps<RiskRegister>) {
  const [filter, setFilter] = useState("");
  const [sort, setSort] = useState<{ key: ColumnKey; descending: boolean }>({ key: "reference", descending: false });
  const [columns, setColumns] = useState<ColumnKey[]>(savedColumns);
  const [columnFilters, setColumnFilters] = useState<Partial<Record<ColumnKey, string>>>({});
  const [cell, setCell] = useState<Cell | null>(null);
  const [orgs, setOrgs] = useState<{ id: string; name: string }[]>([]);
  const [map, setMap] = useState<"inherent" | "current" | "target">("current");
  const [versions, setVersions] = useState<{ id: string; label: string }[]>([]);
  const [since, setSince] = useState("");
  const [then, setThen] = useState<RiskRegister | undefined>();
  useEffect(() => {
    ok(rest.GET("/api/documents/{id}/versions", { params: { path: { id: view.id } } })).then(setVersions).catch(() => setVersions([]));
  }, [view.id]);
  useEffect(() => {
    ok(rest.GET("/api/organisations")).then(setOrgs).catch(() => setOrgs([]));
  }, []);
  useEffect(() => {
    if (!since) return setThen(undefined);
    ok(rest.GET("/api/documents/{id}/content", { params: { path: { id: view.id }, query: { version: since } } }))
      .then((c) => setThen(c.content as unknown as RiskRegister))
      .catch(() => setThen(undefined));
  }, [view.id, since]);
  const shownColumns = COLUMNS.filter((c) => ("always" in c && c.always) || columns.includes(c.key));
  const chooseColumn = (key: ColumnKey, on: boolean) => {
    const next = on ? [...columns.filter((k) => k !== key), key] : columns.filter((k) => k !== key);
    setColumns(next);
    localStorage.setItem("concordat.register.columns", JSON.stringify(next));
  };
  const risks = doc.risks ?? [];
  const editable = canEdit("risks");
  const nameOf = (id: string) => orgs.find((o) => o.id === id)?.name ?? id;
  const today = new Date().toISOString().slice(0, 10);
  /** A column's value as text (for filtering) and as a sort key. */
  const valueOf = (key: ColumnKey, { r, a, score }: Row): [string, string | number] => {
    const scoreOf = (kind: Schemas["AssessmentKind"]) => {
      const x = latest(doc.assessments, r.id, kind);
      return x ? x.likelihood * x.impact : 0;
    };
    switch (key) {
      case "reference": return [r.reference, r.reference];
      case "title": return [r.title, r.title.toLowerCase()];
      case "owner": return [r.owner, r.owner.toLowerCase()];
      case "status": return [r.status, r.status];
      case "category": return [r.category, r.category.toLowerCase()];
      case "inherent": return [String(scoreOf("inherent")), scoreOf("inherent")];
      case "score": return [String(score), score];
      case "target": return [String(scoreOf("target")), scoreOf("target")];
      case "direction": { const d = direction(doc.assessments, r.id); return [d.words, d.rank]; }
      case "band": { const b = a ? band(doc.matrix, a.likelihood, a.impact) : undefined; return [b?.label ?? "", b ? doc.matrix.bands.indexOf(b) : -1]; }
      case "nextReview": return [r.nextReview, r.nextReview];
      case "actions": { const n = (doc.actions ?? []).filter((x) => x.riskId === r.id && x.status !== "done" && x.status !== "cancelled").length; return [String(n), n]; }
      case "councils": { const t = (r.owningCouncils ?? []).map(nameOf).join(", "); return [t, t]; }
    }
  };
  const rows = useMemo(() => {
    const withScore: Row[] = risks.map((r, index) => {
      const a = latest(doc.assessments, r.id, "current");
      return { r, index, a, score: a ? a.likelihood * a.impact : 0 };
    });
    const f = filter.trim().toLowerCase();
    const inCell = (row: Row) => {
      if (!cell) return true;
      const x = latest(doc.assessments, row.r.id, cell.kind);
      return row.r.status === "open" && !!x && x.likelihood === cell.likelihood && x.impact === cell.impact;
    };
    return withScore
      .filter(({ r }) => !f || `${r.reference} ${r.title} ${r.owner} ${r.category}`.toLowerCase().includes(f))
      .filter((row) => Object.entries(columnFilters).every(([k, v]) => !v || valueOf(k as ColumnKey, row)[0].toLowerCase().includes(v.toLowerCase())))
      .filter(inCell)
      .sort((x, y) => {
        const [a, b] = [valueOf(sort.key, x)[1], valueOf(sort.key, y)[1]];
        const c = typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
        return (sort.descending ? -c : c) || x.r.reference.localeCompare(y.r.reference);
      });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [risks, doc.assessments, doc.actions, filter, sort, columnFilters, cell, orgs]);
  const sortBy = (key: ColumnKey) => setSort((s) => (s.key === key ? { key, descending: !s.descending } : { key, descending: key === "score" || key === "inherent" || key === "target" }));

  /** A new risk, opened on its own page to be completed there. */
  const addRisk = () => {
    const id = crypto.randomUUID();
    change((d) => {
      const today = new Date().toISOString().slice(0, 10);
      const n = (d.risks ?? []).length + 1;
      d.risks?.push({
        id,
        reference: `NEW-${n}`,
        title: "New risk",
        category: "Uncategorised",
        owner: "To be assigned",
        identified: today,
        nextReview: today,
        response: "treat",
        reviewFrequencyDays: 90,
        status: "open",
        escalation: "service",
      } as Schemas["Risk"]);
    });
    location.hash = `#/doc/${view.id}/risk/${id}`;
  };

  return (
    <>
      <section aria-labelledby="risks-h">
        <h2 id="risks-h">Risks</h2>
        <div className="toolbar">
          <label htmlFor="filter">Filter</label>
          <input id="filter" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="Reference, title, owner…" />
          <label htmlFor="sort">Sort by</label>
          <select id="sort" value={sort.key} onChange={(e) => setSort({ key: e.target.value as ColumnKey, descending: ["score", "inherent", "target"].includes(e.target.value) })}>
            {COLUMNS.map((c) => <option key={c.key} value={c.key}>{c.label}</option>)}
          </select>
          {editable && <button type="button" onClick={addRisk}>Add risk</button>}
          <button type="button" onClick={() => openResource(`/api/documents/${view.id}/export.xlsx`, `${view.title}.xlsx`)}>Export to Excel</button>
          <button type="button" onClick={() => openResource(`/api/documents/${view.id}/report.html`)}>Committee report</button>
        </div>
        <details className="columns">
          <summary>Columns</summary>
          <fieldset className="checks">
            <legend>Columns shown</legend>
            {COLUMNS.filter((c) => !("always" in c && c.always)).map((c) => (
              <label key={c.key}>
                <input type="checkbox" checked={columns.includes(c.key)} onChange={(e) => chooseColumn(c.key, e.target.checked)} /> {c.label}
              </label>
            ))}
          </fieldset>
        </details>
        {cell && (
          <p role="status" className="cell-filter">
            Showing the open risks whose {cell.kind} position is likelihood {cell.likelihood}, impact {cell.impact}.{" "}
            <button type="button" onClick={() => setCell(null)}>Show all risks</button>
          </p>
        )}
        <table className="risks" data-testid="risk-table">
          <thead>
            <tr>
              {shownColumns.map((c) => (
                <th scope="col" key={c.key} aria-sort={sort.key === c.key ? (sort.descending ? "descending" : "ascending") : undefined}>
                  <button type="button" className="sort" onClick={() => sortBy(c.key)}>
                    {c.label}
                    <span aria-hidden="true">{sort.key === c.key ? (sort.descending ? " ▼" : " ▲") : ""}</span>
                  </button>
                </th>
              ))}
            </tr>
            <tr className="column-filters">
              {shownColumns.map((c) => (
                <td key={c.key}>
                  <input
                    aria-label={`Filter ${c.label}`}
                    value={columnFilters[c.key] ?? ""}
                    onChange={(e) => setColumnFilters({ ...columnFilters, [c.key]: e.target.value })}
                  />
                </td>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => {
              const { r, index, a, score } = row;
              const cellOf = (key: ColumnKey) => {
                switch (key) {
                  case "reference":
                    return <a href={`#/doc/${view.id}/risk/${r.id}`}>{r.reference}</a>;
                  case "title":
                    return (
                      <CollabText
                        aria-label={`Title of ${r.reference}`}
                        value={r.title}
                        multiline
                        rows={1}
                        className="wrap"
                        onKeyDown={(e) => e.key === "Enter" && e.preventDefault()}
                        readOnly={!editable}
                        editedBy={editing(`${r.reference} title`)}
                        onFocus={() => onFocusField(`${r.reference} title`)}
                        onBlur={() => onFocusField(undefined)}
                        handle={handle}
                        path={["risks", index, "title"]}
                      />
                    );
                  case "owner":
                    return (
                      <CollabText
                        aria-label={`Owner of ${r.reference}`}
                        value={r.owner}
                        readOnly={!editable}
                        editedBy={editing(`${r.reference} owner`)}
                        onFocus={() => onFocusField(`${r.reference} owner`)}
                        onBlur={() => onFocusField(undefined)}
                        handle={handle}
                        path={["risks", index, "owner"]}
                      />
                    );
                  case "status":
                    return (
                      <select
                        aria-label={`Status of ${r.reference}`}
                        value={r.status}
                        disabled={!editable}
                        onChange={(e) =>
                          change((d) => {
                            const risk = byId(d.risks, r.id);
                            if (risk) risk.status = e.target.value as Schemas["RiskStatus"];
                          })
                        }
                      >
                        <option value="open">Open</option>
                        <option value="closed">Closed</option>
                      </select>
                    );
                  case "score":
                    return a ? `${a.likelihood} × ${a.impact} = ${score}` : "—";
                  case "band":
                    return <BandLabel b={a ? band(doc.matrix, a.likelihood, a.impact) : undefined} />;
                  case "direction": {
                    const d = direction(doc.assessments, r.id);
                    // The council's own sheet may state one too: shown beside, never in place.
                    const stated = String(r.statedDirection ?? "");
                    return <><span aria-hidden="true">{d.symbol}</span> {d.words}{stated && <span className="muted"> (sheet: {stated})</span>}</>;
                  }
                  case "nextReview":
                    return r.nextReview < today && r.status === "open" ? <>{r.nextReview} <span className="overdue">overdue</span></> : r.nextReview;
                  default:
                    return valueOf(key, row)[0] || "—";
                }
              };
              return (
                <tr key={r.id} data-risk={r.reference}>
                  {shownColumns.map((c) => <td key={c.key} data-column={c.key}>{cellOf(c.key)}</td>)}
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="map-h">
        <h2 id="map-h">Heat map</h2>
        <fieldset className="inline">
          <legend>Position</legend>
          {(["inherent", "current", "target"] as const).map((k) => (
            <label key={k}>
              <input type="radio" name="map" checked={map === k} onChange={() => setMap(k)} /> {k}
            </label>
          ))}
        </fieldset>
        {versions.length > 0 && (
          <p>
            <label htmlFor="since">Movement since</label>{" "}
            <select id="since" value={since} onChange={(e) => setSince(e.target.value)}>
              <option value="">(no comparison)</option>
              {versions.map((v) => <option key={v.id} value={v.id}>{v.label}</option>)}
            </select>
          </p>
        )}
        <HeatMap
          reg={doc}
          kind={map}
          then={then}
          onCell={(c) => {
            setCell(c);
            document.getElementById("risks-h")?.scrollIntoView();
          }}
        />
        {canEdit(null) && <MatrixEditor reg={doc} change={change as (f: (d: RiskRegister) => void) => void} documentId={view.id} />}
      </section>
    </>
  );
}
