import { useEffect, useState, type FormEvent } from "react";
import { byId } from "../lib/edit";
import { ok, rest, type Meeting, type RiskRegister, type Schemas, type Sla } from "../api/client";
import { currentUser } from "../api/client";
import { CollabText } from "../lib/CollabText";
import type { ScreenProps } from "./screen";

const ACTION_STATUSES: [Schemas["ActionStatus"], string][] = [
  ["not-started", "Not started"],
  ["in-progress", "In progress"],
  ["done", "Done"],
  ["cancelled", "Cancelled"],
];

type Link = Schemas["Link"];

/** Something an action can be linked to: a risk of a register or a KPI of an SLA in the
 * meeting's own space. */
interface Target {
  link: Link;
  label: string;
  href: string;
}

const keyOf = (l: Link) => `${l.kind}|${l.documentId}|${l.itemId}`;

/** The risks and KPIs of the registers and SLAs in the meeting's space (fetched only for
 * someone who can link an action, and `links` shown by label once fetched). */
function useTargets(spaceId: string, wanted: boolean): Target[] {
  const [targets, setTargets] = useState<Target[]>([]);
  useEffect(() => {
    if (!wanted) return;
    let live = true;
    (async () => {
      const docs = await ok(rest.GET("/api/documents", { params: { query: { limit: 200 } } }));
      const found: Target[] = [];
      for (const d of docs.items.filter((d) => d.space_id === spaceId && (d.kind === "risk-register" || d.kind === "sla"))) {
        const c = await ok(rest.GET("/api/documents/{id}/content", { params: { path: { id: d.id } } }))
          .then((v) => ({ content: v.content as unknown as RiskRegister & Sla }))
          .catch(() => null);
        if (!c) continue;
        if (d.kind === "risk-register") {
          for (const r of c.content.risks ?? [])
            found.push({ link: { kind: "risk", documentId: d.id, itemId: r.id }, label: `Risk ${r.reference}: ${r.title}`, href: `#/doc/${d.id}/risk/${r.id}` });
        } else {
          for (const k of c.content.kpis ?? [])
            found.push({ link: { kind: "kpi", documentId: d.id, itemId: k.id }, label: `KPI: ${k.name}`, href: `#/doc/${d.id}` });
        }
      }
      if (live) setTargets(found);
    })().catch(() => live && setTargets([]));
    return () => {
      live = false;
    };
  }, [spaceId, wanted]);
  return targets;
}

export function MeetingScreen({ doc, change, canEdit, view, handle }: ScreenProps<Meeting>) {
  const [decision, setDecision] = useState("");
  const [item, setItem] = useState({ title: "", presenter: "" });
  const [action, setAction] = useState({ text: "", owner: "", due: "", link: "" });
  const targets = useTargets(view.space_id, canEdit("actions"));
  const targetOf = (key: string) => targets.find((t) => keyOf(t.link) === key);
  const editable = canEdit("decisions");

  const addDecision = (e: FormEvent) => {
    e.preventDefault();
    if (!decision.trim()) return;
    change((d) => {
      d.decisions?.push({ id: crypto.randomUUID(), text: decision.trim(), agendaItemId: null });
    });
    setDecision("");
  };
  const addItem = (e: FormEvent) => {
    e.preventDefault();
    if (!item.title.trim()) return;
    change((d) => {
      d.agenda?.push({ id: crypto.randomUUID(), title: item.title.trim(), presenter: item.presenter.trim() });
    });
    setItem({ title: "", presenter: "" });
  };
  /** Changes one action, found by id (others may add actions meanwhile). */
  const setAction_ = (id: string, f: (a: Schemas["MeetingAction"]) => void) =>
    change((d) => {
      const row = byId(d.actions, id);
      if (row) f(row);
    });
  const agendaEditable = canEdit("agenda");
  const actionsEditable = canEdit("actions");
  const addAction = (e: FormEvent) => {
    e.preventDefault();
    const link = targetOf(action.link)?.link;
    change((d) => {
      d.actions?.push({ id: crypto.randomUUID(), text: action.text, owner: action.owner, council: currentUser()?.org_id ?? "", due: action.due, status: "not-started", links: link ? [{ ...link }] : [] });
    });
    setAction({ text: "", owner: "", due: "", link: "" });
  };

  return (
    <>
      <section aria-labelledby="ag-h">
        <h2 id="ag-h">Agenda</h2>
        <ol data-testid="agenda">
          {(doc.agenda ?? []).map((a, i) => (
            <li key={a.id}>
              <CollabText aria-label={`Agenda item ${i + 1}`} handle={handle} path={["agenda", i, "title"]} value={a.title} readOnly={!agendaEditable} />{" "}
              <CollabText aria-label={`Presenter of agenda item ${i + 1}`} handle={handle} path={["agenda", i, "presenter"]} value={a.presenter ?? ""} readOnly={!agendaEditable} placeholder="Presenter" />
            </li>
          ))}
        </ol>
        {agendaEditable && (
          <form onSubmit={addItem} className="inline">
            <label htmlFor="ag-title">Add an agenda item</label>
            <input id="ag-title" value={item.title} onChange={(e) => setItem({ ...item, title: e.target.value })} />
            <label htmlFor="ag-presenter">Presenter</label>
            <input id="ag-presenter" value={item.presenter} onChange={(e) => setItem({ ...item, presenter: e.target.value })} />
            <button type="submit">Add item</button>
          </form>
        )}
      </section>
      <section aria-labelledby="dec-h">
        <h2 id="dec-h">Decisions</h2>
        <ol data-testid="decisions">
          {(doc.decisions ?? []).map((d, i) => (
            <li key={d.id}>
              <CollabText aria-label={`Decision ${i + 1}`} handle={handle} path={["decisions", i, "text"]} value={d.text} readOnly={!editable} multiline className="decision" />
            </li>
          ))}
        </ol>
        {editable && (
          <form onSubmit={addDecision} className="inline">
            <label htmlFor="decision">Record a decision</label>
            <input id="decision" value={decision} onChange={(e) => setDecision(e.target.value)} />
            <button type="submit">Record</button>
          </form>
        )}
      </section>
      <section aria-labelledby="act-h">
        <h2 id="act-h">Actions</h2>
        <table>
          <thead><tr><th scope="col">Action</th><th scope="col">Owner</th><th scope="col">Due</th><th scope="col">Status</th><th scope="col">Linked to</th></tr></thead>
          <tbody>
            {(doc.actions ?? []).map((a, i) => (
              <tr key={a.id} data-action={a.text}>
                <td><CollabText aria-label={`Action ${i + 1}`} handle={handle} path={["actions", i, "text"]} value={a.text} readOnly={!actionsEditable} /></td>
                <td><CollabText aria-label={`Owner of action ${i + 1}`} handle={handle} path={["actions", i, "owner"]} value={a.owner} readOnly={!actionsEditable} /></td>
                <td>
                  <input type="date" aria-label={`Due date of action ${i + 1}`} value={a.due} readOnly={!actionsEditable} onChange={(e) => e.target.value && setAction_(a.id, (x) => (x.due = e.target.value))} />
                </td>
                <td>
                  <select aria-label={`Status of action ${i + 1}`} value={a.status} disabled={!actionsEditable} onChange={(e) => setAction_(a.id, (x) => (x.status = e.target.value as Schemas["ActionStatus"]))}>
                    {ACTION_STATUSES.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
                  </select>
                </td>
                <td>
                  <ul className="links">
                    {(a.links ?? []).map((l) => {
                      const t = targetOf(keyOf(l));
                      return <li key={keyOf(l)}>{t ? <a href={t.href}>{t.label}</a> : `${l.kind} ${l.itemId}`}</li>;
                    })}
                  </ul>
                  {canEdit(null) && targets.length > 0 && (
                    <select
                      aria-label={`Link “${a.text}” to a risk or KPI`}
                      value=""
                      onChange={(e) => {
                        const link = targetOf(e.target.value)?.link;
                        if (link)
                          change((d) => {
                            const row = byId(d.actions, a.id);
                            if (row && !(row.links ?? []).some((x) => keyOf(x) === keyOf(link))) row.links?.push({ ...link });
                          });
                      }}
                    >
                      <option value="">Add a link…</option>
                      {targets.filter((t) => !(a.links ?? []).some((l) => keyOf(l) === keyOf(t.link))).map((t) => <option key={keyOf(t.link)} value={keyOf(t.link)}>{t.label}</option>)}
                    </select>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {canEdit("actions") && (
          <form onSubmit={addAction} className="grid-form">
            <label htmlFor="a-text">Action</label>
            <input id="a-text" value={action.text} onChange={(e) => setAction({ ...action, text: e.target.value })} required />
            <label htmlFor="a-owner">Owner</label>
            <input id="a-owner" value={action.owner} onChange={(e) => setAction({ ...action, owner: e.target.value })} required />
            <label htmlFor="a-due">Due</label>
            <input id="a-due" type="date" value={action.due} onChange={(e) => setAction({ ...action, due: e.target.value })} required />
            <label htmlFor="a-link">Linked to</label>
            <select id="a-link" value={action.link} onChange={(e) => setAction({ ...action, link: e.target.value })}>
              <option value="">Nothing</option>
              {targets.map((t) => <option key={keyOf(t.link)} value={keyOf(t.link)}>{t.label}</option>)}
            </select>
            <button type="submit">Add action</button>
          </form>
        )}
      </section>
    </>
  );
}
