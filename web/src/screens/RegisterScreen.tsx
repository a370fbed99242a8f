import { useEffect, useMemo, useState } from "react";
import type { DocHandle } from "@automerge/react/slim";
import { api, type DocumentView, type LiveDoc, type RiskRegister, type Schemas, type User } from "../api/client";
import { band, heatMap, latest } from "../lib/rules";
import { openResource } from "../lib/edit";
import { CollabText } from "../lib/CollabText";
import type { CanEdit, Caret, Peer } from "./DocumentScreen";

export interface ScreenProps<T> {
  doc: LiveDoc<T>;
  change: (f: (d: LiveDoc<T>) => void) => void;
  canEdit: CanEdit;
  view: DocumentView;
  onFocusField: (f: string | undefined) => void;
  /** The names of the others editing a field (as named by `onFocusField`). */
  editing: (field: string) => string[];
  /** The live document's handle (for editors bound to it directly, like rich text). */
  handle: DocHandle<unknown>;
  /** The others on this document and where their carets are. */
  peers: Peer[];
  /** Tells the others where this user's caret is (or that it is nowhere). */
  onCaret: (c: Caret | undefined) => void;
  user: User;
}

function BandLabel({ b }: { b: Schemas["Band"] | undefined }) {
  if (!b) return <span className="muted">not assessed</span>;
  return (
    <span className="band">
      <span className={`swatch pattern-${b.pattern}`} style={{ backgroundColor: b.colour }} aria-hidden="true" />
      {b.label}
    </span>
  );
}

function HeatMap({ reg, kind, then }: { reg: RiskRegister; kind: "inherent" | "current" | "target"; then?: RiskRegister }) {
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
              {reg.matrix.impact.map((__, ii) => (
                <td key={ii}>
                  <BandLabel b={band(reg.matrix, l, ii + 1)} />
                  <strong className="count">{counts[l - 1][ii]}</strong>
                  {before && before[l - 1][ii] !== counts[l - 1][ii] && (
                    <span className="was">
                      {counts[l - 1][ii] > before[l - 1][ii] ? "▲" : "▼"} was {before[l - 1][ii]}
                    </span>
                  )}
                </td>
              ))}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function RegisterScreen({ doc, change, canEdit, view, onFocusField, editing, handle }: ScreenProps<RiskRegister>) {
  const [filter, setFilter] = useState("");
  const [sort, setSort] = useState<"reference" | "score">("reference");
  const [map, setMap] = useState<"inherent" | "current" | "target">("current");
  const [versions, setVersions] = useState<{ id: string; label: string }[]>([]);
  const [since, setSince] = useState("");
  const [then, setThen] = useState<RiskRegister | undefined>();
  useEffect(() => {
    api<{ id: string; label: string }[]>(`/api/documents/${view.id}/versions`).then(setVersions).catch(() => setVersions([]));
  }, [view.id]);
  useEffect(() => {
    if (!since) return setThen(undefined);
    api<{ content: RiskRegister }>(`/api/documents/${view.id}/content?version=${since}`)
      .then((c) => setThen(c.content))
      .catch(() => setThen(undefined));
  }, [view.id, since]);
  const risks = doc.risks ?? [];
  const editable = canEdit("risks");
  const rows = useMemo(() => {
    const withScore = risks.map((r, index) => {
      const a = latest(doc.assessments, r.id, "current");
      return { r, index, a, score: a ? a.likelihood * a.impact : 0 };
    });
    const f = filter.trim().toLowerCase();
    return withScore
      .filter(({ r }) => !f || `${r.reference} ${r.title} ${r.owner} ${r.category}`.toLowerCase().includes(f))
      .sort((x, y) => (sort === "score" ? y.score - x.score : x.r.reference.localeCompare(y.r.reference)));
  }, [risks, doc.assessments, filter, sort]);

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
          <select id="sort" value={sort} onChange={(e) => setSort(e.target.value as typeof sort)}>
            <option value="reference">Reference</option>
            <option value="score">Current score</option>
          </select>
          {editable && <button type="button" onClick={addRisk}>Add risk</button>}
          <button type="button" onClick={() => openResource(`/api/documents/${view.id}/export.xlsx`, `${view.title}.xlsx`)}>Export to Excel</button>
          <button type="button" onClick={() => openResource(`/api/documents/${view.id}/report.html`)}>Committee report</button>
        </div>
        <table className="risks" data-testid="risk-table">
          <thead>
            <tr>
              <th scope="col">Ref</th>
              <th scope="col">Risk</th>
              <th scope="col">Owner</th>
              <th scope="col">Status</th>
              <th scope="col">Current score</th>
              <th scope="col">Band</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ r, index, a, score }) => (
              <tr key={r.id} data-risk={r.reference}>
                <td>
                  <a href={`#/doc/${view.id}/risk/${r.id}`}>{r.reference}</a>
                </td>
                <td>
                  <CollabText
                    aria-label={`Title of ${r.reference}`}
                    value={r.title}
                    readOnly={!editable}
                    editedBy={editing(`${r.reference} title`)}
                    onFocus={() => onFocusField(`${r.reference} title`)}
                    onBlur={() => onFocusField(undefined)}
                    handle={handle}
                    path={["risks", index, "title"]}
                  />
                </td>
                <td>
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
                </td>
                <td>
                  <select
                    aria-label={`Status of ${r.reference}`}
                    value={r.status}
                    disabled={!editable}
                    onChange={(e) =>
                      change((d) => {
                        const risk = d.risks?.[index];
                        if (risk) risk.status = e.target.value as Schemas["RiskStatus"];
                      })
                    }
                  >
                    <option value="open">Open</option>
                    <option value="closed">Closed</option>
                  </select>
                </td>
                <td>{a ? `${a.likelihood} × ${a.impact} = ${score}` : "—"}</td>
                <td>
                  <BandLabel b={a ? band(doc.matrix, a.likelihood, a.impact) : undefined} />
                </td>
              </tr>
            ))}
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
        <HeatMap reg={doc} kind={map} then={then} />
      </section>
    </>
  );
}
