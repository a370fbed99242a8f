// The REST client: the session's tokens, one error shape, and typed calls generated from the
// server's own OpenAPI document (src/api/schema.d.ts, from openapi.json; see
// tests/tests/e2e/web_types.rs): `ok(rest.GET("/api/documents/{id}", { params: { path: { id } } }))`
// checks the path, its parameters, the body and the answer against the server's types.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

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

/** Sends a request with the session's bearer token. The access token is short-lived: on a
 * 401 the refresh token is exchanged (unless another request already has since this one was
 * sent) and the request sent once more. */
async function authorised(req: Request, retry = true): Promise<Response> {
  const again = retry ? req.clone() : null;
  const sent = session?.access_token;
  if (sent) req.headers.set("authorization", `Bearer ${sent}`);
  const resp = await fetch(req);
  if (resp.status === 401 && again && session) {
    if (session.access_token !== sent || (await refreshOnce(session))) {
      return authorised(again, false);
    }
  }
  return resp;
}

/** An authenticated GET of a resource that is not JSON (a workbook, the committee report):
 * links cannot carry the bearer token, so it is fetched here, with the same refresh on 401. */
export async function fetchResource(path: string): Promise<Blob> {
  const resp = await authorised(new Request(path));
  if (!resp.ok) throw await errorOf(resp);
  return resp.blob();
}

/** Typed REST calls (openapi-fetch over the generated schema), each with the session's token.
 * Take the answer with {@link ok}. */
export const rest = createClient<paths>({ fetch: (req: Request) => authorised(req) });

/** A typed call's answer, or the API's error thrown as an {@link ApiError}. */
export async function ok<R extends { data?: unknown; error?: unknown; response: Response }>(
  call: Promise<R>,
): Promise<NonNullable<R["data"]>> {
  const { data, error, response } = await call;
  if (response.ok) return data as NonNullable<R["data"]>;
  const body = error as { error?: { code?: string; message?: string; field?: string } } | undefined;
  throw new ApiError(
    response.status,
    body?.error?.code ?? "http",
    body?.error?.message ?? `${response.status} ${response.statusText}`,
    body?.error?.field,
  );
}

async function errorOf(resp: Response): Promise<ApiError> {
  try {
    const body = await resp.json();
    return new ApiError(resp.status, body.error.code, body.error.message, body.error.field);
  } catch {
    return new ApiError(resp.status, "http", `${resp.status} ${resp.statusText}`);
  }
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

/** Who a one-time set-up link is for (the page greets them); throws 404 if it is not usable. */
export async function lookupSetup(token: string): Promise<{ email: string; display_name: string }> {
  const resp = await fetch("/api/auth/setup/lookup", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token }),
  });
  if (!resp.ok) throw await errorOf(resp);
  return resp.json();
}

/** Chooses an account's password with its one-time link, and signs in. */
export async function setUpAccount(token: string, password: string): Promise<User> {
  const resp = await fetch("/api/auth/setup", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, password }),
  });
  if (!resp.ok) throw await errorOf(resp);
  const tokens = await resp.json();
  save({ access_token: tokens.access_token, refresh_token: tokens.refresh_token, user: tokens.user });
  return tokens.user as User;
}

/** Finishes a single sign-on: exchanges the one-time hand-off code (`/sso#code=…`) for tokens. */
export async function completeSso(code: string): Promise<User> {
  const resp = await fetch("/api/auth/sso/complete", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code }),
  });
  if (!resp.ok) throw await errorOf(resp);
  const tokens = await resp.json();
  save({ access_token: tokens.access_token, refresh_token: tokens.refresh_token, user: tokens.user });
  return tokens.user as User;
}

export async function signOut() {
  try {
    await ok(rest.POST("/api/auth/logout"));
  } catch {
    // Signed out locally either way.
  }
  save(null);
  // The documents' records kept for opening offline go with the session.
  for (const key of Object.keys(localStorage)) if (key.startsWith("concordat.view.")) localStorage.removeItem(key);
}

/** A websocket URL for live sync, and when (ms since the epoch) its ticket stops working. */
export interface SyncTicket {
  url: string;
  expires: number;
}

/** A single-use websocket URL for live sync, on this page's own host (tickets replace
 * tokens in URLs: a URL is logged by proxies, a ticket works once). */
export async function syncUrl(): Promise<SyncTicket> {
  const t = await ok(rest.POST("/api/sync/ticket"));
  return { url: syncSocketUrl(t.ticket), expires: Date.now() + t.expires_in * 1000 };
}

/** The sync websocket's URL on this page's own host, with `ticket`. */
export function syncSocketUrl(ticket: string): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/sync?ticket=${encodeURIComponent(ticket)}`;
}
