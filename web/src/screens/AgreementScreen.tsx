import { useEffect, useState, type FormEvent } from "react";
import { byId } from "../lib/edit";
import { Automerge } from "@automerge/react/slim";
import { ok, rest, type Agreement, type DocumentView, type Schemas, type User, type Version } from "../api/client";
import { RichText, type Selected } from "../lib/RichText";
import { textBetween } from "../lib/cursors";
import type { ScreenProps } from "./screen";

type Comment = Schemas["Comment"];

const STATUS = { draft: "Draft", proposed: "Proposed", agreed: "Agreed" } as const;

/** The text a comment is anchored to, as it reads now (others may have edited it since). */
function quoteOf(doc: unknown, path: (string | number)[], c: Comment): string {
  return c.anchorStart && c.anchorEnd ? textBetween(doc as Automerge.Doc<unknown>, path, c.anchorStart, c.anchorEnd) : "";
}

/** Clauses changed since the version a council last signed: clause id → that version's label.
 * Compared by words, heading and status against the signed version's content. */
function useChangedSinceSigned(view: DocumentView, doc: Agreement): Record<string, string> {
  const signed = [...new Set((doc.signOffs ?? []).map((s) => s.versionId))];
  const key = signed.join(",");
  const [then, setThen] = useState<{ label: string; clauses: Schemas["Clause"][] }[]>([]);
  useEffect(() => {
    let live = true;
    Promise.all(
      signed.map(async (id) => {
        const [v, c] = await Promise.all([
          ok(rest.GET("/api/versions/{id}", { params: { path: { id } } })),
          ok(rest.GET("/api/documents/{id}/content", { params: { path: { id: view.id }, query: { version: id } } })),
        ]);
        const content = c.content as unknown as Agreement;
        return { label: v.version.label, at: v.version.created_at, clauses: content.clauses ?? [] };
      }),
    )
      .then((vs) => live && setThen(vs.sort((a, b) => b.at - a.at)))
      .catch(() => live && setThen([]));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [view.id, key]);
  const out: Record<string, string> = {};
  const latest = then[0];
  if (!latest) return out;
  for (const c of doc.clauses ?? []) {
    const was = latest.clauses.find((x) => x.id === c.id);
    if (!was || was.text !== c.text || was.heading !== c.heading || was.status !== c.status) out[c.id] = latest.label;
  }
  return out;
}

/** The clauses in reading order: by `order`, a clause without one at its list position (as the
 * server reads them). Each keeps its list index, which is where its live text is. */
function ordered(clauses: Schemas["Clause"][]) {
  return clauses
    .map((c, index) => ({ c, index, key: c.order ?? index * 1024 }))
    .sort((x, y) => x.key - y.key || x.index - y.index);
}

export function AgreementScreen({ doc, change, canEdit, handle, peers, onCaret, onFocusField, user, view }: ScreenProps<Agreement>) {
  const clauses = doc.clauses ?? [];
  const sorted = ordered(clauses);
  /** Moves a clause one place up or down by giving it an order between its new neighbours;
   * where there is no room between them, every clause is numbered afresh first. */
  const move = (id: string, by: -1 | 1) =>
    change((d) => {
      const list = d.clauses ?? [];
      const read = () => ordered(list.map((c) => ({ ...c, id: String(c.id) })));
      let now = read();
      const at = now.findIndex((x) => x.c.id === id);
      const to = at + by;
      if (at < 0 || to < 0 || to >= now.length) return;
      const gap = (): [number, number] => {
        const k = (i: number) => now[i]?.key;
        return by < 0 ? [k(to - 1) ?? k(to)! - 2048, k(to)!] : [k(to)!, k(to + 1) ?? k(to)! + 2048];
      };
      let [lo, hi] = gap();
      if (hi - lo < 1e-6) {
        now.forEach((x, i) => {
          list[x.index].order = i * 1024;
        });
        now = read();
        [lo, hi] = gap();
      }
      const target = byId(list, id);
      if (target) target.order = (lo + hi) / 2;
    });
  const comments = doc.comments ?? [];
  const editable = canEdit("clauses");
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  const [selection, setSelection] = useState<{ clause: string; sel: Selected } | null>(null);
  const live = handle.doc();
  const changedSince = useChangedSinceSigned(view, doc);
  const [newClause, setNewClause] = useState("");
  const addClause = (e: FormEvent) => {
    e.preventDefault();
    if (!newClause.trim()) return;
    change((d) => {
      d.clauses?.push({ id: `cl-${crypto.randomUUID().slice(0, 8)}`, heading: newClause.trim(), text: "", status: "draft" });
    });
    setNewClause("");
  };
  /** Changes one comment, found by id. */
  const setComment = (id: string, f: (c: Comment) => void) =>
    change((d) => {
      const c = byId(d.comments, id);
      if (c) f(c);
    });

  const addComment = (e: FormEvent, clauseId: string, parentId?: string) => {
    e.preventDefault();
    const key = parentId ?? clauseId;
    const body = (drafts[key] ?? "").trim();
    if (!body) return;
    const sel = !parentId && selection?.clause === clauseId && selection.sel.quote ? selection.sel : null;
    change((d) => {
      d.comments?.push({
        id: crypto.randomUUID(),
        clauseId,
        parentId: parentId ?? null,
        author: user.display_name,
        body,
        createdAt: Date.now(),
        resolved: false,
        anchorStart: sel?.start ?? "",
        anchorEnd: sel?.end ?? "",
      });
    });
    setDrafts({ ...drafts, [key]: "" });
  };

  return (
    <>
      <section aria-labelledby="cl-h">
        <h2 id="cl-h">Clauses</h2>
        <p className="muted">
          Everyone's edits appear as they type. Select words in a clause, then add a comment to anchor it to them.
          {editable && " Ctrl+B bold, Ctrl+I italic, Ctrl+Z undo."}
        </p>
        {sorted.map(({ c, index: i }, place) => {
          const path = ["clauses", i, "text"];
          const mine = comments.filter((m) => m.clauseId === c.id);
          const selected = selection?.clause === c.id && selection.sel.quote ? selection.sel.quote : "";
          return (
            <div key={c.id} className="clause" data-clause={c.id}>
              <h3 id={`h-${c.id}`}>{c.heading}</h3>
              {editable && (
                <span className="move">
                  <button type="button" className="secondary" disabled={place === 0} onClick={() => move(c.id, -1)}>
                    Move up<span className="sr-only"> {c.heading}</span>
                  </button>{" "}
                  <button type="button" className="secondary" disabled={place === sorted.length - 1} onClick={() => move(c.id, 1)}>
                    Move down<span className="sr-only"> {c.heading}</span>
                  </button>
                </span>
              )}
              {changedSince[c.id] && (
                <p className="changed-since" data-testid={`changed-${c.id}`}>
                  <strong>Changed</strong> since “{changedSince[c.id]}” was signed off.
                </p>
              )}
              <label htmlFor={`st-${c.id}`}>Status</label>{" "}
              <select
                id={`st-${c.id}`}
                value={c.status}
                disabled={!editable}
                onChange={(e) =>
                  change((d) => {
                    // By id: someone may have added a clause meanwhile.
                    const cl = byId(d.clauses, c.id);
                    if (cl) cl.status = e.target.value as typeof c.status;
                  })
                }
              >
                {Object.entries(STATUS).map(([v, w]) => <option key={v} value={v}>{w}</option>)}
              </select>
              <RichText
                handle={handle}
                path={path}
                id={`tx-${c.id}`}
                label={`Text of ${c.heading}`}
                editable={editable}
                carets={peers.filter((p) => p.caret?.text === c.id).map((p) => ({ name: p.name, anchor: p.caret!.anchor, head: p.caret!.head }))}
                anchors={mine.filter((m) => m.anchorStart && !m.resolved).map((m) => ({ id: m.id, start: m.anchorStart ?? "", end: m.anchorEnd ?? "", label: `Comment by ${m.author}: ${m.body}` }))}
                onSelect={(sel) => {
                  if (sel) setSelection({ clause: c.id, sel });
                  onCaret(sel ? { text: c.id, anchor: sel.anchor, head: sel.head } : undefined);
                }}
                onFocus={() => onFocusField(c.heading)}
                onBlur={() => {
                  onFocusField(undefined);
                  onCaret(undefined);
                }}
              />
              <ul className="comments" aria-label={`Comments on ${c.heading}`}>
                {mine.filter((m) => !m.parentId).map((m) => (
                  <li key={m.id} data-comment={m.id}>
                    <CommentBody c={m} quote={quoteOf(live, path, m)} />
                    {canEdit("comments") && !m.resolved && (
                      <button type="button" className="link" onClick={() => setComment(m.id, (x) => (x.resolved = true))}>
                        Resolve<span className="sr-only"> the comment by {m.author}</span>
                      </button>
                    )}
                    {mine.some((r) => r.parentId === m.id) && (
                      <ul aria-label="Replies">
                        {mine.filter((r) => r.parentId === m.id).map((r) => (
                          <li key={r.id}><CommentBody c={r} quote="" /></li>
                        ))}
                      </ul>
                    )}
                    {canEdit("comments") && (
                      <form className="inline reply" onSubmit={(e) => addComment(e, c.id, m.id)}>
                        <label htmlFor={`re-${m.id}`} className="sr-only">Reply to {m.author}</label>
                        <input id={`re-${m.id}`} placeholder="Reply" value={drafts[m.id] ?? ""} onChange={(e) => setDrafts({ ...drafts, [m.id]: e.target.value })} />
                        <button type="submit" className="secondary">Reply</button>
                      </form>
                    )}
                  </li>
                ))}
              </ul>
              {canEdit("comments") && (
                <form className="inline" onSubmit={(e) => addComment(e, c.id)}>
                  <label htmlFor={`cm-${c.id}`}>{selected ? <>Comment on “{selected}”</> : "Comment on this clause"}</label>
                  <input id={`cm-${c.id}`} value={drafts[c.id] ?? ""} onChange={(e) => setDrafts({ ...drafts, [c.id]: e.target.value })} />
                  <button type="submit">Add comment</button>
                </form>
              )}
            </div>
          );
        })}
        {editable && (
          <form className="inline" onSubmit={addClause}>
            <label htmlFor="new-clause">Add a clause</label>
            <input id="new-clause" value={newClause} onChange={(e) => setNewClause(e.target.value)} placeholder="Heading, e.g. 13. Data protection" />
            <button type="submit">Add clause</button>
          </form>
        )}
      </section>
      <SignOffs view={view} agreement={doc} canSign={canEdit(null) && !user.is_guest} user={user} />
    </>
  );
}

function CommentBody({ c, quote }: { c: Comment; quote: string }) {
  return (
    <>
      {quote && <q className="anchor-quote">{quote}</q>} <strong>{c.author}:</strong> {c.body}
      {c.resolved && <span className="muted"> (resolved)</span>}
    </>
  );
}

/** Each member council's sign-off of a named version: recorded by the server, which checks
 * that the council is a member, the version is this agreement's and every clause in it is
 * agreed. */
function SignOffs({ view, agreement, canSign, user }: { view: DocumentView; agreement: Agreement; canSign: boolean; user: User }) {
  const [versions, setVersions] = useState<Version[]>([]);
  const [orgs, setOrgs] = useState<Record<string, string>>({});
  const [chosen, setChosen] = useState("");
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [confirming, setConfirming] = useState(false);
  const loadVersions = (newest = false) =>
    ok(rest.GET("/api/documents/{id}/versions", { params: { path: { id: view.id } } }))
      .then((vs) => {
        setVersions(vs);
        setChosen((c) => (newest || !c ? (vs[vs.length - 1]?.id ?? "") : c));
      })
      .catch(() => setVersions([]));
  useEffect(() => {
    void loadVersions();
    ok(rest.GET("/api/organisations"))
      .then((list) => setOrgs(Object.fromEntries(list.map((o) => [o.id, o.name]))))
      .catch(() => setOrgs({}));
    const onVersion = () => void loadVersions(true);
    window.addEventListener("concordat:versions", onVersion);
    return () => window.removeEventListener("concordat:versions", onVersion);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [view.id]);
  const signs = agreement.signOffs ?? [];
  // A sign-off of a version made since the list was fetched (by another council): fetch again.
  const unknown = signs.some((s) => !versions.some((v) => v.id === s.versionId));
  useEffect(() => {
    if (unknown) void loadVersions();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [unknown, signs.length]);
  const label = (id: string) => versions.find((v) => v.id === id)?.label ?? "a named version";
  const allAgreed = (agreement.clauses ?? []).length > 0 && (agreement.clauses ?? []).every((c) => c.status === "agreed");

  const council = orgs[user.org_id] ?? "your council";
  const sign = async (e: FormEvent) => {
    e.preventDefault();
    setMessage(null);
    if (!confirming) {
      setConfirming(true);
      return;
    }
    setConfirming(false);
    try {
      await ok(rest.POST("/api/documents/{id}/sign-offs", { params: { path: { id: view.id } }, body: { version_id: chosen } }));
      setMessage({ ok: true, text: `Signed off “${label(chosen)}” for ${orgs[user.org_id] ?? "your council"}.` });
    } catch (err) {
      setMessage({ ok: false, text: (err as Error).message });
    }
  };

  return (
    <section aria-labelledby="so-h">
      <h2 id="so-h">Sign-off</h2>
      <p className="muted">
        Each member council signs a named version in which every clause is agreed. {allAgreed ? "Every clause is agreed now." : "Not every clause is agreed yet."}
      </p>
      {signs.length === 0 ? (
        <p>No council has signed a version yet.</p>
      ) : (
        <table data-testid="sign-offs">
          <thead><tr><th scope="col">Council</th><th scope="col">Version</th><th scope="col">Signed by</th><th scope="col">Date</th></tr></thead>
          <tbody>
            {signs.map((s) => (
              <tr key={`${s.council}-${s.versionId}`}>
                <td>{orgs[s.council] ?? s.council}</td><td>{label(s.versionId)}</td><td>{s.signedBy}</td><td>{s.date}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canSign && (
        <form className="inline" onSubmit={sign}>
          <label htmlFor="so-version">Version to sign</label>
          <select id="so-version" value={chosen} onChange={(e) => setChosen(e.target.value)}>
            {versions.length === 0 && <option value="">No named version yet — freeze one below</option>}
            {versions.map((v) => <option key={v.id} value={v.id}>{v.label}</option>)}
          </select>
          {!confirming && <button type="submit" disabled={!chosen}>Sign off for {orgs[user.org_id] ?? "my council"}</button>}
          {confirming && (
            <div className="confirm" role="group" aria-labelledby="so-confirm">
              <p id="so-confirm">
                Sign off “{label(chosen)}” for {council}? This records that {council} agrees to the agreement as it stood in
                that version; later edits are not covered.
              </p>
              <button type="submit">Confirm sign-off</button>{" "}
              <button type="button" className="secondary" onClick={() => setConfirming(false)}>Cancel</button>
            </div>
          )}
        </form>
      )}
      {/* Always mounted, so a screen reader announces the text when it arrives. */}
      <p role="status" aria-live="polite" className={message && !message.ok ? "error" : ""}>{message?.text}</p>
    </section>
  );
}
