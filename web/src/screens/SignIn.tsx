import { useEffect, useState, type FormEvent } from "react";
import { acceptInvitation, ApiError, completeSso, login, lookupSetup, setUpAccount, type User } from "../api/client";

/** Why a single sign-on came back refused (`/?sso_error=…`), in words a person can act on. */
const SSO_ERRORS: Record<string, string> = {
  "not-configured": "Your organisation does not sign in through its own account system here. Sign in with your password.",
  unavailable: "Your organisation's sign-in service could not be reached. Try again in a moment.",
  provider: "Your organisation's sign-in service did not sign you in.",
  state: "That sign-in had expired or was already used. Start again.",
  token: "Your organisation's sign-in service refused the sign-in. Start again.",
  "id-token": "The answer from your organisation's sign-in service could not be trusted, so you were not signed in. Your IT team has been told.",
  email: "Your organisation's sign-in service did not confirm your email address.",
  domain: "That account's email address is not one of your organisation's.",
  account: "That account cannot sign in here. Ask your administrator.",
  "too-many": "Too many sign-ins were started from here. Wait a minute, then try again.",
  browser: "That sign-in was started in another browser. Start again here.",
};

/** What went wrong signing in, as the person can act on it. */
function signInError(err: unknown): string {
  if (!(err instanceof ApiError)) return "Could not reach Concordat. Check your connection.";
  if (err.status === 401) return "Email or password not recognised.";
  if (err.status === 429) return "Too many attempts to sign in. Wait a few minutes, then try again.";
  return err.message;
}

export function SignIn({ onSignedIn }: { onSignedIn: (u: User) => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const ssoError = new URLSearchParams(location.search).get("sso_error");
  const [error, setError] = useState<string | null>(ssoError ? (SSO_ERRORS[ssoError] ?? "You were not signed in.") : null);
  const [busy, setBusy] = useState(false);
  const [workEmail, setWorkEmail] = useState("");
  const startSso = (e: FormEvent) => {
    e.preventDefault();
    location.href = `/api/auth/sso/start?email=${encodeURIComponent(workEmail)}`;
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await login(email, password));
    } catch (err) {
      setError(signInError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="signin">
      <h1>Sign in to Concordat</h1>
      <p>Your partnership's risk registers, agreements, SLAs and meetings, shared live.</p>
      <form onSubmit={submit}>
        <label htmlFor="email">Email address</label>
        <input id="email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required />
        <label htmlFor="password">Password</label>
        <input id="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        {error && <p className="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
      </form>
      <h2>Or use your organisation's own account</h2>
      <form onSubmit={startSso}>
        <label htmlFor="sso-email">Your work address</label>
        <input id="sso-email" type="email" autoComplete="email" value={workEmail} onChange={(e) => setWorkEmail(e.target.value)} required />
        <button type="submit">Continue to your organisation's sign-in</button>
      </form>
    </main>
  );
}

/** Where a single sign-on lands (`/sso#code=…`): the one-time code is exchanged for a session. */
export function SsoComplete({ code, onSignedIn }: { code: string; onSignedIn: (u: User) => void }) {
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    completeSso(code).then(
      (user) => {
        history.replaceState(null, "", "/#/");
        onSignedIn(user);
      },
      () => setFailed(true),
    );
  }, [code, onSignedIn]);
  if (failed)
    return (
      <main id="main" className="signin">
        <h1>You were not signed in</h1>
        <p>That sign-in link had expired or was already used.</p>
        <a href="/">Sign in again</a>
      </main>
    );
  return <main id="main" className="signin"><h1>Signing you in…</h1></main>;
}

/** The page an invitation link opens (`/invite#token=…`: the token never reaches a server log). */
export function AcceptInvite({ token, onSignedIn }: { token: string; onSignedIn: (u: User) => void }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const user = await acceptInvitation(token, name, password);
      history.replaceState(null, "", "/#/");
      if (user) onSignedIn(user);
      else setDone(true);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Could not reach Concordat. Check your connection.");
    }
  };
  if (done) return <main id="main" className="signin"><h1>Invitation accepted</h1><p>Sign in with your account to see the shared documents.</p><a href="/">Sign in</a></main>;
  return (
    <main id="main" className="signin">
      <h1>You have been invited to Concordat</h1>
      <p>Choose the name partners will see and a password (at least 12 characters).</p>
      <form onSubmit={submit}>
        <label htmlFor="inv-name">Your name</label>
        <input id="inv-name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} required />
        <label htmlFor="inv-password">Password</label>
        <input id="inv-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        {error && <p className="error" role="alert">{error}</p>}
        <button type="submit">Accept invitation</button>
      </form>
    </main>
  );
}

/** The page a one-time set-up link opens (`/setup#token=…`): the platform operator's first
 * sign-in, an organisation's new administrator, a colleague an administrator added. */
export function SetupAccount({ token, onSignedIn }: { token: string; onSignedIn: (u: User) => void }) {
  const [who, setWho] = useState<{ email: string; display_name: string } | null>(null);
  const [unusable, setUnusable] = useState(false);
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    lookupSetup(token).then(setWho, () => setUnusable(true));
  }, [token]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const user = await setUpAccount(token, password);
      history.replaceState(null, "", "/#/");
      onSignedIn(user);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Could not reach Concordat. Check your connection.");
    } finally {
      setBusy(false);
    }
  };
  if (unusable)
    return (
      <main id="main" className="signin">
        <h1>This link cannot be used</h1>
        <p>A set-up link works once and for a limited time. Ask whoever sent it for a new one, or sign in if you have already chosen your password.</p>
        <a href="/">Sign in</a>
      </main>
    );
  if (!who) return <main id="main" className="signin"><h1>Set up your account</h1><p>Checking the link…</p></main>;
  return (
    <main id="main" className="signin">
      <h1>Set up your account</h1>
      <p>
        Welcome, {who.display_name}. Choose the password for <strong>{who.email}</strong>: at least 12 characters; a few unrelated words work well.
      </p>
      <form onSubmit={submit}>
        <label htmlFor="setup-password">New password</label>
        <input id="setup-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        {error && <p className="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? "Saving…" : "Save password and sign in"}</button>
      </form>
    </main>
  );
}
