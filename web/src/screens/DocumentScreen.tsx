import { useEffect, useRef, useState } from "react";
import type { Repo } from "@automerge/react/slim";
import { api, type DocumentView, type User } from "../api/client";
import { onRefused } from "../repo";
import { useLive } from "../lib/useLive";
import { RegisterScreen } from "./RegisterScreen";
import { SlaScreen } from "./SlaScreen";
import { AgreementScreen } from "./AgreementScreen";
import { MeetingScreen } from "./MeetingScreen";

/** May the caller change things inside this top-level list (or anywhere, for null)? */
export type CanEdit = (list: string | null) => boolean;

export function canEditFor(view: DocumentView): CanEdit {
  const e = view.editable;
  return (list) => e.kind === "everything" || (e.kind === "only" && list !== null && e.lists.includes(list));
}

interface Peer {
  name: string;
  field?: string;
  seen: number;
}

/** Who else has the document open, and what they are editing (ephemeral, never stored). */
function usePresence(handle: ReturnType<typeof useLive>["handle"], me: User, field: string | undefined) {
  const [peers, setPeers] = useState<Record<string, Peer>>({});
  const fieldRef = useRef(field);
  fieldRef.current = field;
  useEffect(() => {
    if (!handle) return;
    const send = () => handle.broadcast({ name: me.display_name, field: fieldRef.current });
    const onMsg = ({ senderId, message }: { senderId: string; message: unknown }) => {
      const m = message as { name?: string; field?: string };
      if (typeof m?.name !== "string") return;
      setPeers((p) => ({ ...p, [senderId]: { name: m.name as string, field: m.field, seen: Date.now() } }));
    };
    handle.on("ephemeral-message", onMsg as never);
    send();
    const tick = setInterval(() => {
      send();
      setPeers((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => Date.now() - v.seen < 10_000)));
    }, 3000);
    return () => {
      clearInterval(tick);
      handle.off("ephemeral-message", onMsg as never);
    };
  }, [handle, me.display_name]);
  useEffect(() => {
    handle?.broadcast({ name: me.display_name, field });
  }, [field, handle, me.display_name]);
  return Object.values(peers);
}

export function DocumentScreen({ id, repo, user }: { id: string; repo: Repo | null; user: User }) {
  const [view, setView] = useState<DocumentView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [refused, setRefused] = useState<string | null>(null);
  const [field, setField] = useState<string | undefined>();
  const live = useLive<Record<string, unknown>>(repo, view?.url ?? null);
  const peers = usePresence(live.handle, user, field);

  useEffect(() => {
    api<DocumentView>(`/api/documents/${id}`).then(setView).catch((e) => setError(e.message ?? String(e)));
  }, [id]);
  useEffect(
    () =>
      onRefused((m) => {
        setRefused(m);
        void live.reload();
      }),
    [live.reload],
  );

  if (error) return <p role="alert" className="error">{error}</p>;
  if (!view) return <p>Loading…</p>;
  const canEdit = canEditFor(view);
  const props = { doc: live.doc as never, change: live.change as never, canEdit, view, onFocusField: setField };
  return (
    <article aria-labelledby="doc-title">
      <div className="doc-head">
        <h1 id="doc-title">{view.title}</h1>
        <ul className="presence" aria-label="People editing now">
          {peers.map((p, i) => (
            <li key={i} title={p.field ? `${p.name} — editing ${p.field}` : p.name}>
              <span className="avatar" aria-hidden="true">{p.name.slice(0, 1)}</span>
              <span className="sr-only">{p.name}{p.field ? `, editing ${p.field}` : ""}</span>
            </li>
          ))}
        </ul>
        <p className="muted">
          {view.editable.kind === "nothing" ? "You can read this document." : view.editable.kind === "only" ? `You can add to: ${view.editable.lists.join(", ")}.` : "You can edit this document."}
        </p>
      </div>
      {refused && (
        <div className="refused" role="alert" data-testid="refused">
          <strong>Your last change was not saved.</strong> {refused} The document has been reloaded.
          <button type="button" onClick={() => setRefused(null)}>Dismiss</button>
        </div>
      )}
      {live.error ? (
        <p role="alert" className="error">The document could not be opened: {live.error}</p>
      ) : !live.doc || live.doc.schema === undefined ? (
        <p>Opening the live document…</p>
      ) : view.kind === "risk-register" ? (
        <RegisterScreen {...props} />
      ) : view.kind === "sla" ? (
        <SlaScreen {...props} />
      ) : view.kind === "agreement" ? (
        <AgreementScreen {...props} />
      ) : (
        <MeetingScreen {...props} />
      )}
      <History view={view} canVersion={canEdit(null)} />
    </article>
  );
}

function History({ view, canVersion }: { view: DocumentView; canVersion: boolean }) {
  const [versions, setVersions] = useState<{ id: string; label: string; created_at: number }[]>([]);
  const [label, setLabel] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const load = () => api<typeof versions>(`/api/documents/${view.id}/versions`).then(setVersions).catch(() => {});
  useEffect(() => {
    void load();
  }, [view.id]);
  return (
    <section aria-labelledby="hist-h" className="history">
      <h2 id="hist-h">Versions and exports</h2>
      {versions.length === 0 ? <p className="muted">No named versions yet.</p> : (
        <ul>
          {versions.map((v) => (
            <li key={v.id}>
              {v.label} <span className="muted">({new Date(v.created_at).toLocaleDateString("en-GB")})</span>
              {view.kind === "risk-register" && (
                <> · <a href={`/api/documents/${view.id}/report.html?since=${v.id}`} target="_blank" rel="noreferrer">changes since (report)</a></>
              )}
            </li>
          ))}
        </ul>
      )}
      {canVersion && (
        <form
          className="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              await api(`/api/documents/${view.id}/versions`, { method: "POST", body: JSON.stringify({ label }) });
              setLabel("");
              setMessage("Version saved.");
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
