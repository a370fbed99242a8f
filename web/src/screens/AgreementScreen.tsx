import { useState } from "react";
import type { Agreement } from "../api/client";
import { currentUser } from "../api/client";
import { setText } from "../lib/edit";
import { CollabText } from "../lib/CollabText";
import type { ScreenProps } from "./RegisterScreen";

export function AgreementScreen({ doc, change, canEdit, onFocusField, editing }: ScreenProps<Agreement>) {
  const clauses = doc.clauses ?? [];
  const comments = doc.comments ?? [];
  const editable = canEdit("clauses");
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  return (
    <section aria-labelledby="cl-h">
      <h2 id="cl-h">Clauses</h2>
      {clauses.map((c, i) => (
        <div key={c.id} className="clause" data-clause={c.id}>
          <h3 id={`h-${c.id}`}>{c.heading}</h3>
          <label htmlFor={`st-${c.id}`}>Status</label>{" "}
          <select
            id={`st-${c.id}`}
            value={c.status}
            disabled={!editable}
            onChange={(e) =>
              change((d) => {
                const cl = d.clauses?.[i];
                if (cl) cl.status = e.target.value as typeof c.status;
              })
            }
          >
            <option value="draft">Draft</option>
            <option value="proposed">Proposed</option>
            <option value="agreed">Agreed</option>
          </select>
          <label htmlFor={`tx-${c.id}`} className="sr-only">Text of {c.heading}</label>
          <CollabText
            multiline
            id={`tx-${c.id}`}
            value={c.text ?? ""}
            readOnly={!editable}
            rows={3}
            editedBy={editing(c.heading)}
            onFocus={() => onFocusField(c.heading)}
            onBlur={() => onFocusField(undefined)}
            onText={(text) => change((d) => setText(d, ["clauses", i, "text"], text))}
          />
          <ul className="comments" aria-label={`Comments on ${c.heading}`}>
            {comments.filter((m) => m.clauseId === c.id).map((m) => (
              <li key={m.id}><strong>{m.author}:</strong> {m.body}</li>
            ))}
          </ul>
          {canEdit("comments") && (
            <form
              className="inline"
              onSubmit={(e) => {
                e.preventDefault();
                const body = (drafts[c.id] ?? "").trim();
                if (!body) return;
                change((d) => {
                  d.comments?.push({ id: crypto.randomUUID(), clauseId: c.id, author: currentUser()?.display_name ?? "", body, createdAt: Date.now(), resolved: false, anchorStart: "", anchorEnd: "" });
                });
                setDrafts({ ...drafts, [c.id]: "" });
              }}
            >
              <label htmlFor={`cm-${c.id}`}>Comment</label>
              <input id={`cm-${c.id}`} value={drafts[c.id] ?? ""} onChange={(e) => setDrafts({ ...drafts, [c.id]: e.target.value })} />
              <button type="submit">Add comment</button>
            </form>
          )}
        </div>
      ))}
    </section>
  );
}
