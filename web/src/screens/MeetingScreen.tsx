import { useState, type FormEvent } from "react";
import type { Meeting } from "../api/client";
import { currentUser } from "../api/client";
import type { ScreenProps } from "./RegisterScreen";

export function MeetingScreen({ doc, change, canEdit }: ScreenProps<Meeting>) {
  const [decision, setDecision] = useState("");
  const [action, setAction] = useState({ text: "", owner: "", due: "" });
  const editable = canEdit("decisions");

  const addDecision = (e: FormEvent) => {
    e.preventDefault();
    if (!decision.trim()) return;
    change((d) => {
      d.decisions?.push({ id: crypto.randomUUID(), text: decision.trim(), agendaItemId: null });
    });
    setDecision("");
  };
  const addAction = (e: FormEvent) => {
    e.preventDefault();
    change((d) => {
      d.actions?.push({ id: crypto.randomUUID(), text: action.text, owner: action.owner, council: currentUser()?.org_id ?? "", due: action.due, status: "not-started", links: [] });
    });
    setAction({ text: "", owner: "", due: "" });
  };

  return (
    <>
      <section aria-labelledby="ag-h">
        <h2 id="ag-h">Agenda</h2>
        <ol>{(doc.agenda ?? []).map((a) => <li key={a.id}>{a.title} <span className="muted">{a.presenter}</span></li>)}</ol>
      </section>
      <section aria-labelledby="dec-h">
        <h2 id="dec-h">Decisions</h2>
        <ol data-testid="decisions">{(doc.decisions ?? []).map((d) => <li key={d.id}>{d.text}</li>)}</ol>
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
            {(doc.actions ?? []).map((a) => (
              <tr key={a.id}><td>{a.text}</td><td>{a.owner}</td><td>{a.due}</td><td>{a.status}</td><td>{(a.links ?? []).map((l) => `${l.kind} ${l.itemId}`).join(", ")}</td></tr>
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
            <button type="submit">Add action</button>
          </form>
        )}
      </section>
    </>
  );
}
