// The automerge-repo set-up: IndexedDB storage (edits made offline are kept and sync when the
// connection returns) and a websocket adapter that fetches a fresh single-use ticket for every
// (re)connection, and tells the app when the server refuses a change.
import {
  Automerge,
  Repo,
  WebSocketClientAdapter,
  IndexedDBStorageAdapter,
  initializeWasm,
  cbor,
  type PeerId,
} from "@automerge/react/slim";
// The wasm as its own asset (fetched once, cached), not inlined into the bundle as base64.
import automergeWasmUrl from "@automerge/automerge/automerge.wasm?url";
import { syncSocketUrl, syncUrl, type SyncTicket } from "./api/client";

export type Connection = "online" | "offline" | "connecting";

type Listener = {
  connection: (c: Connection) => void;
  refused: (message: string) => void;
};

/** A ticket that fails at once: what the adapter gets when it retries before a fresh one. */
function spent(): SyncTicket {
  return { url: syncSocketUrl("spent"), expires: 0 };
}

/** How long before its expiry a kept ticket counts as stale: the adapter retries 2 s after a
 * drop, and the ticket must still work when that retry reaches the server. */
const STALE_MS = 5000;

/** The adapter reads `url` each time it (re)connects: hand it the ticket fetched last, and
 * fetch the next one straight away (a ticket works once, for a minute). When a connection
 * drops and the ticket kept for the next one has expired meanwhile (a connection that lasted
 * longer than a ticket), a fresh one is fetched at once, so the first retry works. */
class TicketedAdapter extends WebSocketClientAdapter {
  #next = spent();
  hooks: Listener;

  constructor(first: SyncTicket, listeners: Listener) {
    super(first.url, 2000);
    this.hooks = listeners;
    this.#next = first;
    Object.defineProperty(this, "url", {
      get: () => {
        // A ticket works once: hand each out once, and fetch the next at once. A retry that
        // comes before the next arrives fails fast and tries again on the adapter's timer.
        const url = this.#next.url;
        this.#next = spent();
        this.refill();
        return url;
      },
      set: () => {},
    });
    this.on("peer-disconnected", () => {
      if (this.#next.expires - STALE_MS < Date.now()) this.refill();
    });
  }

  // No guard against two fetches at once: one that hangs (a network changing under it) must
  // not stop the next retry from fetching; a spare ticket just expires unused.
  refill() {
    syncUrl()
      .then((t) => {
        this.#next = t;
      })
      .catch(() => {
        // Offline, or signed out: the next retry tries again.
      });
  }

  receiveMessage(data: Uint8Array) {
    try {
      const msg = cbor.decode(new Uint8Array(data)) as { type?: string; message?: string; documentId?: string; data?: Uint8Array };
      if (msg.type === "error" && msg.message) this.hooks.refused(msg.message);
      // The server stores a change before it sends anything that reflects it: heads it sends
      // are heads it holds.
      if (msg.type === "sync" && msg.documentId && msg.data) {
        const heads = Automerge.decodeSyncMessage(msg.data).heads;
        serverHeadsListeners.forEach((f) => f(msg.documentId as string, heads));
      }
    } catch {
      // Not ours to judge: the adapter reports malformed frames itself.
    }
    super.receiveMessage(data);
  }
}

let repo: Promise<Repo> | null = null;
const connectionListeners = new Set<(c: Connection) => void>();
const refusalListeners = new Set<(m: string) => void>();
const serverHeadsListeners = new Set<(documentId: string, heads: string[]) => void>();

/** Calls `f` with the heads the server holds of a document, each time it says. */
export function onServerHeads(f: (documentId: string, heads: string[]) => void): () => void {
  serverHeadsListeners.add(f);
  return () => serverHeadsListeners.delete(f);
}
let connection: Connection = "connecting";

export function onConnection(f: (c: Connection) => void): () => void {
  connectionListeners.add(f);
  f(connection);
  return () => connectionListeners.delete(f);
}

export function onRefused(f: (m: string) => void): () => void {
  refusalListeners.add(f);
  return () => refusalListeners.delete(f);
}

function setConnection(c: Connection) {
  connection = c;
  connectionListeners.forEach((f) => f(c));
}

/** The repo for the signed-in user: one per page, however many times it is asked for. */
export function getRepo(userId: string): Promise<Repo> {
  repo ??= makeRepo(userId).catch((e) => {
    repo = null;
    throw e;
  });
  return repo;
}

async function makeRepo(userId: string): Promise<Repo> {
  await initializeWasm(automergeWasmUrl);
  // Offline (a reload with no network): start without a ticket; the adapter's retries fetch
  // one when the network returns, and documents open from this browser's own copy meanwhile.
  const adapter = new TicketedAdapter(await syncUrl().catch(() => spent()), {
    connection: setConnection,
    refused: (m) => refusalListeners.forEach((f) => f(m)),
  });
  adapter.on("peer-candidate", () => setConnection("online"));
  adapter.on("peer-disconnected", () => setConnection("offline"));
  window.addEventListener("offline", () => setConnection("offline"));
  // Back online: the socket may never have dropped (then it is online now), or it reconnects.
  window.addEventListener("online", () => {
    const socket = (adapter as unknown as { socket?: WebSocket }).socket;
    setConnection(socket?.readyState === WebSocket.OPEN ? "online" : "connecting");
  });
  return new Repo({
    network: [adapter],
    // One database per user: a shared laptop in a meeting keeps each person's copy apart.
    storage: new IndexedDBStorageAdapter(`concordat-${userId}`),
    peerId: `browser-${userId}-${crypto.randomUUID()}` as PeerId,
    sharePolicy: async () => true,
    // Each change is written to this browser's copy as soon as the previous write is done,
    // not batched for 100 ms (automerge-repo's default): a tab closed or reloaded straight
    // after a keystroke made offline would otherwise lose it.
    saveDebounceRate: 0,
  });
}
