import { useEffect, useRef, useState } from "react";
import type { Repo } from "@automerge/react/slim";
import { currentUser, signOut, type User } from "./api/client";
import { getRepo, onConnection, type Connection } from "./repo";
import { AcceptInvite, SetupAccount, SignIn, SsoComplete } from "./screens/SignIn";
import { AdminScreen } from "./screens/AdminScreen";
import { Home } from "./screens/Home";
import { DocumentScreen } from "./screens/DocumentScreen";
import { PartnershipScreen } from "./screens/PartnershipScreen";

/** `#/` home, `#/doc/<id>` a document, `#/doc/<id>/risk/<risk id>` one risk,
 * `#/partnership/<id>` a partnership's dashboard, `#/admin` administration. */
function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

/** On every route change, focus moves to the new page's main heading (once it is drawn), so a
 * screen reader announces where the person is and keyboard users start from the top. */
function useFocusHeading(route: string[]) {
  const key = route.join("/");
  const first = useRef(true);
  useEffect(() => {
    // Not on the first page shown: the browser's own start (and whatever the person has
    // already tabbed to) is left alone.
    if (first.current) {
      first.current = false;
      return;
    }
    let tries = 0;
    let timer = 0;
    // Whatever has the focus as the new page starts (the link followed, or nothing once it is
    // gone). If the person moves it before the heading arrives (keyboard users do not wait for
    // a slow page), it is theirs: taking it back would swallow their next key.
    const start = document.activeElement;
    const moved = () => document.activeElement !== start && document.activeElement !== document.body;
    const seek = () => {
      if (moved()) return;
      const h = document.querySelector<HTMLElement>("main h1");
      // The document's title arrives after it loads; a risk's page has its own heading.
      const target = route[2] === "risk" ? document.querySelector<HTMLElement>("main h2") ?? h : h;
      if (target && !target.closest("[hidden]")) {
        target.tabIndex = -1;
        target.focus({ preventScroll: false });
      } else if (tries++ < 40) {
        timer = window.setTimeout(seek, 50);
      }
    };
    seek();
    return () => window.clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
}

function ConnectionBadge() {
  const [c, setC] = useState<Connection>("connecting");
  useEffect(() => onConnection(setC), []);
  const words = { online: "Online", offline: "Offline — edits are kept and sync on reconnect", connecting: "Connecting…" };
  return (
    <span className={`connection connection-${c}`} role="status" aria-live="polite" data-testid="connection">
      <span aria-hidden="true" className="dot" /> {words[c]}
    </span>
  );
}

export function App() {
  const [user, setUser] = useState<User | null>(currentUser());
  const [repo, setRepo] = useState<Repo | null>(null);
  const route = useRoute();
  useFocusHeading(route);

  useEffect(() => {
    if (user) getRepo(user.id).then(setRepo).catch(() => setRepo(null));
  }, [user]);

  const invite = location.pathname === "/invite" ? new URLSearchParams(location.hash.slice(1)).get("token") : null;
  if (invite) return <AcceptInvite token={invite} onSignedIn={setUser} />;
  const setup = location.pathname === "/setup" ? new URLSearchParams(location.hash.slice(1)).get("token") : null;
  if (setup) return <SetupAccount token={setup} onSignedIn={setUser} />;
  const sso = location.pathname === "/sso" ? new URLSearchParams(location.hash.slice(1)).get("code") : null;
  if (sso) return <SsoComplete code={sso} onSignedIn={setUser} />;
  if (!user) return <SignIn onSignedIn={setUser} />;
  return (
    <>
      <a className="skip" href="#main">Skip to content</a>
      <header className="top">
        <a href="#/" className="brand">Concordat</a>
        <ConnectionBadge />
        <span className="who">{user.display_name}</span>
        {(user.role === "admin" || user.platform_operator) && !user.is_guest && <a href="#/admin">Administration</a>}
        <button
          type="button"
          onClick={async () => {
            await signOut();
            setUser(null);
            location.hash = "";
            location.reload();
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main">
        {route[0] === "doc" && route[1] ? (
          <DocumentScreen key={route[1]} id={route[1]} repo={repo} user={user} riskId={route[2] === "risk" ? route[3] : undefined} />
        ) : route[0] === "admin" ? (
          <AdminScreen user={user} />
        ) : route[0] === "partnership" && route[1] ? (
          <PartnershipScreen key={route[1]} id={route[1]} />
        ) : (
          <Home />
        )}
      </main>
    </>
  );
}
