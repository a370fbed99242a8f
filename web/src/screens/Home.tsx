import { useEffect, useState } from "react";
import { ok, rest, type DocumentView, type Schemas } from "../api/client";

const KIND = { "risk-register": "Risk register", sla: "Service-level agreement", "sla-figures": "SLA figures (partners only)", agreement: "Agreement", meeting: "Meeting" } as const;

interface Overview {
  organisation: string;
  partnerships: { partnership_id: string; partnership: string; totals: Totals }[];
  private_totals: Totals;
}
interface Totals {
  red_risks: number;
  overdue_actions: number;
  overdue_reviews: number;
  red_kpis: number;
}
type Space = Schemas["Space"];

/** What a space is, in a sentence: who else can see what is in it. */
export function spaceNote(space: Space | undefined): string {
  if (!space) return "Documents a partnership has invited you to. You see only these, nothing else in its space.";
  return space.owner.kind === "private"
    ? "Private to your council: no partner council or guest can see these."
    : "Shared with every member council of the partnership; guests see only what they are invited to.";
}

export function Home() {
  const [docs, setDocs] = useState<DocumentView[] | null>(null);
  // `null` / `undefined` while loading: the page is shown once all three have answered, so that
  // nothing moves under the pointer when the later ones arrive (a link clicked as the cards
  // appeared above it was missed).
  const [spaces, setSpaces] = useState<Space[] | null>(null);
  const [overview, setOverview] = useState<Overview | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    // An SLA's partners' figures are shown on the SLA's page, not as a document of their own.
    ok(rest.GET("/api/documents", { params: { query: { limit: 200 } } })).then((p) => setDocs(p.items.filter((d) => d.kind !== "sla-figures"))).catch((e) => setError(String(e.message ?? e)));
    ok(rest.GET("/api/spaces")).then(setSpaces).catch(() => setSpaces([]));
    ok(rest.GET("/api/overview")).then(setOverview).catch(() => setOverview(null));
  }, []);

  if (error) return <p role="alert" className="error">{error}</p>;
  if (!docs || !spaces || overview === undefined) return <p>Loading your documents…</p>;
  const bySpace = new Map<string, DocumentView[]>();
  for (const d of docs) bySpace.set(d.space_id, [...(bySpace.get(d.space_id) ?? []), d]);

  return (
    <>
      <h1>{overview?.organisation ?? "Your documents"}</h1>
      {overview && overview.partnerships.length > 0 && (
        <section aria-labelledby="p-h">
          <h2 id="p-h">Partnerships</h2>
          <ul className="cards">
            {overview.partnerships.map((p) => (
              <li key={p.partnership_id} className="card">
                <h3><a href={`#/partnership/${p.partnership_id}`}>{p.partnership}</a></h3>
                <p>
                  <strong>{p.totals.red_risks}</strong> red risks · <strong>{p.totals.overdue_actions}</strong> overdue actions ·{" "}
                  <strong>{p.totals.overdue_reviews}</strong> overdue reviews · <strong>{p.totals.red_kpis}</strong> red KPIs
                </p>
                <p><a href={`#/partnership/${p.partnership_id}`}>Open the dashboard<span className="sr-only"> of {p.partnership}</span></a></p>
              </li>
            ))}
          </ul>
        </section>
      )}
      {[...bySpace.entries()].map(([spaceId, list]) => (
        <section key={spaceId} aria-labelledby={`s-${spaceId}`}>
          <h2 id={`s-${spaceId}`}>{spaces.find((s) => s.id === spaceId)?.name ?? "Shared with you"}</h2>
          <p className="muted space-note">{spaceNote(spaces.find((s) => s.id === spaceId))}</p>
          <ul className="doclist">
            {list.map((d) => (
              <li key={d.id}>
                <a href={`#/doc/${d.id}`}>{d.title}</a> <span className="muted">{KIND[d.kind]} · {d.access}</span>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </>
  );
}
