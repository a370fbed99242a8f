import { lazy, Suspense, useEffect, useRef, useState } from "react";
import { Automerge, type DocHandle, type Repo } from "@automerge/react/slim";
import { ok, rest, ApiError, type DocumentView, type Schemas, type User } from "../api/client";
import { spaceNote } from "./Home";
import { onRefused, onServerHeads } from "../repo";
import { useLive } from "../lib/useLive";
import { canEditFor, type Caret, type Peer } from "./screen";
import { colourOf, initials } from "../lib/colour";
import { RegisterScreen } from "./RegisterScreen";
import { SlaScreen } from "./SlaScreen";
import { MeetingScreen } from "./MeetingScreen";
import { RiskScreen } from "./RiskScreen";
import { HistoryPanel, ImportPanel, SharingPanel } from "./Panels";
import { openResource } from "../lib/edit";

// The agreement's rich-text editor (ProseMirror) is loaded only when an agreement is opened.
const AgreementScreen = lazy(() => import("./AgreementScreen").then((m) => ({ default: m.AgreementScreen })));

/** Who else has the document open, what they are editing and where their caret is
 * (ephemeral, never stored). */
function usePresence(handle: ReturnType<typeof useLive>["handle"], me: User, field: string | undefined, caret: Caret | undefined) {
  const [peers, setPeers] = useState<Record<string, Peer>>({});
  const fieldRef = useRef(field);
  fieldRef.current = field;
  const caretRef = useRef(caret);
  caretRef.current = caret;
  useEffect(() => {
    if (!handle) return;
    const send = () => handle.broadcast({ name: me.display_name, field: fieldRef.current, caret: caretRef.current });
    const onMsg = ({ senderId, message }: { senderId: string; message: unknown }) => {
      const m = message as { name?: string; field?: string; caret?: Caret; leaving?: boolean };
      if (typeof m?.name !== "string") return;
      if (m.leaving === true) {
        // Gone: shown as gone at once, not when their last word goes stale.
        setPeers((p) => Object.fromEntries(Object.entries(p).filter(([id]) => id !== senderId)));
        return;
      }
      const caret =
        m.caret && typeof m.caret.text === "string" && typeof m.caret.anchor === "string" && typeof m.caret.head === "string"
          ? { text: m.caret.text, anchor: m.caret.anchor, head: m.caret.head }
          : undefined;
      // Another browser's claims: shown, so kept short (the server bounds the message's size).
      const name = m.name.slice(0, 80);
      const field = typeof m.field === "string" ? m.field.slice(0, 200) : undefined;
      setPeers((p) => ({ ...p, [senderId]: { name, field, caret, seen: Date.now() } }));
    };
    handle.on("ephemeral-message", onMsg as never);
    const leave = () => handle.broadcast({ name: me.display_name, leaving: true });
    window.addEventListener("pagehide", leave);
    send();
    const tick = setInterval(() => {
      send();
      setPeers((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => Date.now() - v.seen < 10_000)));
    }, 3000);
    return () => {
      clearInterval(tick);
      leave();
      window.removeEventListener("pagehide", leave);
      handle.off("ephemeral-message", onMsg as never);
    };
  }, [handle, me.display_name]);
  const caretKey = JSON.stringify(caret ?? null);
  useEffect(() => {
    handle?.broadcast({ name: me.display_name, field, caret: caretRef.current });
  }, [field, caretKey, handle, me.display_name]);
  return Object.values(peers);
}

/** "Saved at 10:42" once the server holds every change this person made here: announced
 * politely to screen readers, and shown. Their own changes only (not others' arriving). */
function useSaved(handle: DocHandle<unknown> | null): string {
  const [said, setSaid] = useState("");
  /** The hash of this person's latest change the server has not confirmed yet. */
  const pending = useRef<string | null>(null);
  const seen = useRef<string | null>(null);
  useEffect(() => {
    if (!handle) return;
    type Doc = Automerge.Doc<unknown>;
    const lastLocal = () => {
      const last = Automerge.getLastLocalChange(handle.doc() as Doc);
      return last ? Automerge.decodeChange(last).hash : null;
    };
    // Changes made before this screen opened are not this screen's to report.
    seen.current = lastLocal();
    const onChange = () => {
      const hash = lastLocal();
      if (hash && hash !== seen.current) {
        seen.current = hash;
        pending.current = hash;
        setSaid("Saving…");
      }
    };
    handle.on("change", onChange);
    const id = handle.documentId;
    const off = onServerHeads((documentId, heads) => {
      if (documentId !== id || !pending.current) return;
      try {
        // What this copy holds beyond the server's heads; the person's change is saved once
        // it is no longer among them. (Until this copy has the server's heads, wait.)
        const doc = handle.doc() as Doc;
        const beyond = Automerge.getChanges(Automerge.view(doc, heads), doc).map((c) => Automerge.decodeChange(c).hash);
        if (!beyond.includes(pending.current)) {
          pending.current = null;
          setSaid(`Saved at ${new Date().toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" })}`);
        }
      } catch {
        // Heads this copy does not have yet.
      }
    });
    return () => {
      handle.off("change", onChange);
      off();
    };
  }, [handle]);
  return said;
}

export function DocumentScreen({ id, repo, user, riskId }: { id: string; repo: Repo | null; user: User; riskId?: string }) {
  const [view, setView] = useState<DocumentView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [refused, setRefused] = useState<string | null>(null);
  const [field, setField] = useState<string | undefined>();
  const [caret, setCaret] = useState<Caret | undefined>();
  const live = useLive<Record<string, unknown>>(repo, view?.url ?? null);
  const peers = usePresence(live.handle, user, field, caret);
  const saved = useSaved(live.handle);

  const [space, setSpace] = useState<Schemas["Space"] | undefined>();
  useEffect(() => {
    // The document's record is kept in this browser too, so that it opens offline (its content
    // comes from the browser's own copy of the live document).
    const kept = `concordat.view.${id}`;
    ok(rest.GET("/api/documents/{id}", { params: { path: { id } } }))
      .then((v) => {
        setView(v);
        try {
          localStorage.setItem(kept, JSON.stringify(v));
        } catch {
          // Storage full or refused: only offline opening is lost.
        }
      })
      .catch((e) => {
        const offline = e instanceof ApiError ? null : localStorage.getItem(kept);
        if (offline) setView(JSON.parse(offline) as DocumentView);
        else setError(e.message ?? String(e));
      });
  }, [id]);
  useEffect(() => {
    if (view) ok(rest.GET("/api/spaces/{id}", { params: { path: { id: view.space_id } } })).then(setSpace).catch(() => setSpace(undefined));
  }, [view]);
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
  const editing = (f: string) => peers.filter((p) => p.field === f).map((p) => p.name);
  const props = {
    doc: live.doc as never,
    change: live.change as never,
    canEdit,
    view,
    onFocusField: setField,
    editing,
    handle: live.handle as never,
    peers,
    onCaret: setCaret,
    user,
    repo,
  };
  const riskRef = riskId ? ((live.doc?.risks as { id: string; reference: string }[] | undefined) ?? []).find((r) => r.id === riskId)?.reference : undefined;
  return (
    <article aria-labelledby="doc-title">
      <nav className="breadcrumb" aria-label="You are here">
        <ol>
          <li><a href="#/">Home</a></li>
          <li>{space?.name ?? "Shared with you"}</li>
          {riskId ? (
            <>
              <li><a href={`#/doc/${view.id}`}>{view.title}</a></li>
              <li aria-current="page">{riskRef ?? "Risk"}</li>
            </>
          ) : (
            <li aria-current="page">{view.title}</li>
          )}
        </ol>
      </nav>
      <div className="doc-head">
        <h1 id="doc-title">{view.title}</h1>
        <ul className="presence" aria-label="People editing now">
          {peers.map((p, i) => (
            <li key={i} title={p.field ? `${p.name} — editing ${p.field}` : p.name}>
              <span className="avatar" aria-hidden="true" style={{ backgroundColor: colourOf(p.name) }}>{initials(p.name)}</span>
              <span className="presence-name">{p.name}</span>
              {p.field && <span className="sr-only">, editing {p.field}</span>}
            </li>
          ))}
        </ul>
        <p className="saved" role="status" aria-live="polite" data-testid="saved">{saved}</p>
        <p className="muted">
          {spaceNote(space)}{" "}
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
      ) : view.kind === "risk-register" && riskId ? (
        <RiskScreen {...props} riskId={riskId} />
      ) : view.kind === "risk-register" ? (
        <RegisterScreen {...props} />
      ) : view.kind === "sla" ? (
        <SlaScreen {...props} />
      ) : view.kind === "sla-figures" ? (
        <p>
          These are an SLA's partners-only figures: they are shown, and moved to or from the guests' view, on{" "}
          <a href={`#/doc/${String(live.doc.sla ?? "")}`}>the SLA itself</a>.
        </p>
      ) : view.kind === "agreement" ? (
        <Suspense fallback={<p>Opening the agreement editor…</p>}>
          <AgreementScreen {...props} />
        </Suspense>
      ) : (
        <MeetingScreen {...props} />
      )}
      <HistoryPanel view={view} canVersion={canEdit(null)} />
      {view.kind === "sla" && (
        <p>
          <button type="button" onClick={() => openResource(`/api/documents/${view.id}/export.xlsx`, `${view.title}.xlsx`)}>Export to Excel</button>{" "}
          <button type="button" onClick={() => openResource(`/api/documents/${view.id}/export.csv`, `${view.title}.csv`)}>Export KPIs as CSV</button>
        </p>
      )}
      {(view.kind === "risk-register" || view.kind === "sla") && canEdit(null) && !user.is_guest && <ImportPanel view={view} />}
      {view.access === "admin" && <SharingPanel view={view} />}
    </article>
  );
}
