// The REST client: the session's tokens, one error shape, types generated from the server's
// own OpenAPI document (src/api/schema.d.ts, from openapi.json; see tests/tests/e2e/web_types.rs).
import type { components } from "./schema";

export type Schemas = components["schemas"];
export type DocumentView = Schemas["DocumentView"];
export type RiskRegister = Schemas["RiskRegister"];
export type Risk = Schemas["Risk"];
export type Assessment = Schemas["Assessment"];
export type Sla = Schemas["Sla"];
export type PartnersFigures = Schemas["PartnersFigures"];
export type Agreement = Schemas["Agreement"];
export type Meeting = Schemas["Meeting"];
export type Version = Schemas["Version"];
export type User = Schemas["User"];

/** What a live document holds: its kind's schema plus the schema tag. */
export type LiveDoc<T> = T & { schema: string; schemaVersion: number };

const KEY = "concordat.session";

interface Session {
  access_token: string;
  refresh_token: string;
  user: User;
}

let session: Session | null = (() => {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
})();

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field?: string,
  ) {
    super(message);
  }
}

export function currentUser(): User | null {
  return session?.user ?? null;
}

function save(s: Session | null) {
  session = s;
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

// One refresh at a time: a refresh token works once, and the server ends the whole session
// when one is presented twice, so requests that meet an expired token together share one.
let refreshing: Promise<boolean> | null = null;

function refreshOnce(current: Session): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const r = await fetch("/api/auth/refresh", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: current.refresh_token }),
      });
      if (!r.ok) {
        save(null);
        return false;
      }
      const tokens = await r.json();
      save({ ...current, access_token: tokens.access_token, refresh_token: tokens.refresh_token });
      return true;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function call(path: string, init: RequestInit, retry = true): Promise<Response> {
  const headers = new Headers(init.headers);
  const sent = session?.access_token;
  if (sent) headers.set("authorization", `Bearer ${sent}`);
  if (init.body && !headers.has("content-type")) headers.set("content-type", "application/json");
  const resp = await fetch(path, { ...init, headers });
  if (resp.status === 401 && retry && session) {
    // The access token is short-lived: exchange the refresh token, unless another request
    // already has since this one was sent.
    if (session.access_token !== sent || (await refreshOnce(session))) {
      return call(path, init, false);
    }
  }
  return resp;
}

async function errorOf(resp: Response): Promise<ApiError> {
  try {
    const body = await resp.json();
    return new ApiError(resp.status, body.error.code, body.error.message, body.error.field);
  } catch {
    return new ApiError(resp.status, "http", `${resp.status} ${resp.statusText}`);
  }
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const resp = await call(path, init);
  if (!resp.ok) throw await errorOf(resp);
  return (resp.status === 204 ? undefined : await resp.json()) as T;
}

export async function login(email: string, password: string): Promise<User> {
  const resp = await fetch("/api/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  if (!resp.ok) throw await errorOf(resp);
  const tokens = await resp.json();
  save({ access_token: tokens.access_token, refresh_token: tokens.refresh_token, user: tokens.user });
  return tokens.user as User;
}

/** Accepts an invitation: a new guest account is created and signed in. An invitation for
 * an existing account is attached to it; that person then signs in as usual. */
export async function acceptInvitation(token: string, displayName: string, password: string): Promise<User | null> {
  const resp = await fetch("/api/invitations/accept", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, display_name: displayName, password }),
  });
  if (!resp.ok) throw await errorOf(resp);
  const body = await resp.json();
  if (!body.session) return null;
  save({ access_token: body.session.access_token, refresh_token: body.session.refresh_token, user: body.session.user });
  return body.session.user as User;
}

export async function signOut() {
  try {
    await api("/api/auth/logout", { method: "POST" });
  } catch {
    // Signed out locally either way.
  }
  save(null);
  // The documents' records kept for opening offline go with the session.
  for (const key of Object.keys(localStorage)) if (key.startsWith("concordat.view.")) localStorage.removeItem(key);
}

/** A single-use websocket URL for live sync, on this page's own host (tickets replace
 * tokens in URLs: a URL is logged by proxies, a ticket works once). */
export async function syncUrl(): Promise<string> {
  const t = await api<{ ticket: string }>("/api/sync/ticket", { method: "POST" });
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/sync?ticket=${encodeURIComponent(t.ticket)}`;
}
