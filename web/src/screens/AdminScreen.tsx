import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { ok, rest, type Schemas, type User } from "../api/client";
import { openResource } from "../lib/edit";

type Organisation = Schemas["Organisation"];
type PartnershipView = Schemas["PartnershipView"];
type Invitation = Schemas["Invitation"];

const LEGAL_BASIS: Record<Schemas["LegalBasis"], string> = {
  "inter-authority-agreement": "Inter-authority agreement",
  "s101-delegation": "Section 101 delegation",
  "joint-committee": "Joint committee",
  other: "Other",
};

/** A one-time link to pass on (there is no mail server), with a copy button. */
function LinkToPass({ who, link }: { who: string; link: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <p role="status" className="link-to-pass">
      Pass this one-time link to {who} (it works once, for 7 days): <code>{link}</code>{" "}
      <button type="button" className="secondary" onClick={() => void navigator.clipboard?.writeText(link).then(() => setCopied(true), () => setCopied(false))}>
        Copy link<span className="sr-only"> for {who}</span>
      </button>
      {copied && <span> Copied.</span>}
    </p>
  );
}

function Failure({ error }: { error: string | null }) {
  return error ? <p className="error" role="alert">{error}</p> : null;
}

function Section({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <section aria-labelledby={id} className="admin-section">
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

/** The names partners' spreadsheets use for the administrator's own council: an import reads
 * them as it reads the council's name. */
function Aliases({ user }: { user: User }) {
  const [text, setText] = useState("");
  const [saved, setSaved] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    ok(rest.GET("/api/organisations/{id}/aliases", { params: { path: { id: user.org_id } } }))
      .then((a) => setText(a.aliases.join(", ")))
      .catch(() => setText(""));
  }, [user.org_id]);
  const save = async () => {
    setError(null);
    setSaved(null);
    try {
      const aliases = text.split(/[,;\n]/).map((a) => a.trim()).filter(Boolean);
      const r = await ok(rest.PUT("/api/organisations/{id}/aliases", { params: { path: { id: user.org_id } }, body: { aliases } }));
      setText(r.aliases.join(", "));
      setSaved(`Saved: spreadsheets naming ${r.aliases.length ? r.aliases.map((a) => `“${a}”`).join(", ") : "no other names"} are read as your council.`);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Section id="aliases-h" title="Other names for your council">
      <p>Short names, initials and old names partners' spreadsheets use for your council (its initials and its name without “District Council” are known already).</p>
      <label htmlFor="aliases">Other names, separated by commas</label>{" "}
      <input id="aliases" value={text} onChange={(e) => setText(e.target.value)} />{" "}
      <button type="button" onClick={() => void save()}>Save names</button>
      {saved && <p role="status">{saved}</p>}
      <Failure error={error} />
    </Section>
  );
}

/** The people of the administrator's own council, and adding a colleague by one-time link. */
function People({ user }: { user: User }) {
  const [people, setPeople] = useState<User[]>([]);
  const [form, setForm] = useState({ display_name: "", email: "", role: "member" as Schemas["OrgRole"] });
  const [made, setMade] = useState<{ who: string; link: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const load = () => ok(rest.GET("/api/users")).then(setPeople).catch(() => setPeople([]));
  const change = async (p: User, body: { disabled?: boolean; role?: Schemas["OrgRole"] }) => {
    setError(null);
    try {
      await ok(rest.PATCH("/api/users/{id}", { params: { path: { id: p.id } }, body }));
      setConfirming(null);
      void load();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  useEffect(() => void load(), []);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await ok(rest.POST("/api/users/setup-links", { body: form }));
      setMade({ who: r.user.display_name, link: r.link });
      setForm({ display_name: "", email: "", role: "member" });
      void load();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Section id="people-h" title="People of your council">
      <table data-testid="people">
        <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Access</th></tr></thead>
        <tbody>
          {people.map((p) => (
            <tr key={p.id}>
              <td>{p.display_name}{p.id === user.id && <span className="muted"> (you)</span>}</td>
              <td>{p.email}</td>
              <td>{p.role === "admin" ? "Administrator" : "Member"}{p.platform_operator && ", platform operator"}</td>
              <td>
                {p.disabled ? "Disabled" : "Can sign in"}
                {p.id !== user.id && !p.disabled && confirming !== p.id && (
                  <>
                    {" "}
                    <button type="button" className="secondary" onClick={() => setConfirming(p.id)}>
                      Disable<span className="sr-only"> {p.display_name}</span>
                    </button>
                  </>
                )}
                {p.id !== user.id && !p.disabled && confirming === p.id && (
                  <span role="group" aria-label={`Confirm disabling ${p.display_name}`}>
                    {" "}Disable {p.display_name}? They are signed out everywhere at once.{" "}
                    <button type="button" onClick={() => void change(p, { disabled: true })}>Yes, disable</button>{" "}
                    <button type="button" className="secondary" onClick={() => setConfirming(null)}>Cancel</button>
                  </span>
                )}
                {p.id !== user.id && p.disabled && (
                  <>
                    {" "}
                    <button type="button" className="secondary" onClick={() => void change(p, { disabled: false })}>
                      Enable<span className="sr-only"> {p.display_name}</span>
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form onSubmit={add} className="grid-form" aria-label="Add a colleague">
        <label htmlFor="col-name">Colleague's name</label>
        <input id="col-name" value={form.display_name} onChange={(e) => setForm({ ...form, display_name: e.target.value })} required />
        <label htmlFor="col-email">Their email</label>
        <input id="col-email" type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} required />
        <label htmlFor="col-role">Role</label>
        <select id="col-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Schemas["OrgRole"] })}>
          <option value="member">Member</option>
          <option value="admin">Administrator</option>
        </select>
        <Failure error={error} />
        <button type="submit">Add colleague</button>
      </form>
      {made && <LinkToPass who={made.who} link={made.link} />}
    </Section>
  );
}

/** The partnerships in which the user's council currently holds `role`, with their members. */
async function partnershipsAs(user: User, role: Schemas["MemberRole"]): Promise<PartnershipView[]> {
  try {
    const all = await ok(rest.GET("/api/partnerships"));
    const views = await Promise.all(all.map((p) => ok(rest.GET("/api/partnerships/{id}", { params: { path: { id: p.id } } }))));
    return views.filter((v) => v.members.some((m) => m.org_id === user.org_id && m.role === role && !m.left_at));
  } catch {
    return [];
  }
}

/** The partnerships the administrator's council hosts: their members, added and removed here. */
function Hosted({ user, orgs }: { user: User; orgs: Organisation[] }) {
  const [hosted, setHosted] = useState<PartnershipView[]>([]);
  const [adding, setAdding] = useState<Record<string, { organisation_id: string; role: Schemas["MemberRole"] }>>({});
  const [confirming, setConfirming] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = async () => setHosted(await partnershipsAs(user, "host"));
  useEffect(() => void load(), [user.org_id]);
  const add = async (e: FormEvent, p: PartnershipView) => {
    e.preventDefault();
    setError(null);
    const choice = adding[p.id];
    if (!choice?.organisation_id) return;
    try {
      await ok(rest.POST("/api/partnerships/{id}/members", { params: { path: { id: p.id } }, body: choice }));
      void load();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const remove = async (p: PartnershipView, orgId: string) => {
    setError(null);
    try {
      await ok(rest.DELETE("/api/partnerships/{id}/members/{org_id}", { params: { path: { id: p.id, org_id: orgId } } }));
      setConfirming(null);
      void load();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Section id="hosted-h" title="Partnerships your council hosts">
      {hosted.length === 0 && <p className="muted">Your council hosts no partnership.</p>}
      <Failure error={error} />
      {hosted.map((p) => {
        const current = p.members.filter((m) => !m.left_at);
        const choice = adding[p.id] ?? { organisation_id: "", role: "member" as Schemas["MemberRole"] };
        const candidates = orgs.filter((o) => !current.some((m) => m.org_id === o.id));
        return (
          <div key={p.id} className="hosted">
            <h3>{p.name}</h3>
            <table aria-label={`Members of ${p.name}`}>
              <thead><tr><th scope="col">Organisation</th><th scope="col">As</th><th scope="col"><span className="sr-only">Remove</span></th></tr></thead>
              <tbody>
                {current.map((m) => (
                  <tr key={m.org_id}>
                    <td>{m.organisation_name}</td>
                    <td>{m.role === "host" ? "Host" : m.role === "member" ? "Member" : "Guest"}</td>
                    <td>
                      {m.role !== "host" && confirming !== `${p.id}/${m.org_id}` && (
                        <button type="button" className="secondary" onClick={() => setConfirming(`${p.id}/${m.org_id}`)}>
                          Remove<span className="sr-only"> {m.organisation_name}</span>
                        </button>
                      )}
                      {confirming === `${p.id}/${m.org_id}` && (
                        <span role="group" aria-label={`Confirm removing ${m.organisation_name}`}>
                          Remove {m.organisation_name}? Its people lose the shared documents at once.{" "}
                          <button type="button" onClick={() => void remove(p, m.org_id)}>Yes, remove</button>{" "}
                          <button type="button" className="secondary" onClick={() => setConfirming(null)}>Cancel</button>
                        </span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <form onSubmit={(e) => void add(e, p)} className="grid-form" aria-label={`Add an organisation to ${p.name}`}>
              <label htmlFor={`add-org-${p.id}`}>Organisation</label>
              <select id={`add-org-${p.id}`} value={choice.organisation_id} onChange={(e) => setAdding({ ...adding, [p.id]: { ...choice, organisation_id: e.target.value } })} required>
                <option value="">Choose…</option>
                {candidates.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
              </select>
              <label htmlFor={`add-role-${p.id}`}>As</label>
              <select id={`add-role-${p.id}`} value={choice.role} onChange={(e) => setAdding({ ...adding, [p.id]: { ...choice, role: e.target.value as Schemas["MemberRole"] } })}>
                <option value="member">Member council</option>
                <option value="guest">Guest organisation</option>
              </select>
              <button type="submit">Add to {p.name}</button>
            </form>
          </div>
        );
      })}
    </Section>
  );
}

/** The partnerships the council belongs to as a member, and leaving one: before access ends,
 * every shared document is recorded as a named version and the council keeps a complete export
 * (downloadable here afterwards). */
function Membership({ user }: { user: User }) {
  const [memberOf, setMemberOf] = useState<PartnershipView[]>([]);
  const [exports, setExports] = useState<Schemas["ExitExportView"][]>([]);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = async () => {
    setMemberOf(await partnershipsAs(user, "member"));
    ok(rest.GET("/api/exits")).then(setExports).catch(() => setExports([]));
  };
  useEffect(() => void load(), [user.org_id]);
  const leave = async (p: PartnershipView) => {
    setBusy(true);
    setError(null);
    try {
      const r = await ok(rest.POST("/api/partnerships/{id}/exit", { params: { path: { id: p.id } } }));
      setDone(`Your council has left ${p.name}. ${r.shared_documents.length} shared documents were recorded as they stood; the export is below.`);
      setConfirming(null);
      void load();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const when = (ms: number) => new Date(ms).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
  return (
    <Section id="member-h" title="Partnerships your council is a member of">
      {memberOf.length === 0 && <p className="muted">Your council is a member of no partnership it does not host.</p>}
      <Failure error={error} />
      {done && <p role="status">{done}</p>}
      <ul className="plain">
        {memberOf.map((p) => (
          <li key={p.id}>
            <strong>{p.name}</strong>{" "}
            {confirming !== p.id ? (
              <button type="button" className="secondary" onClick={() => setConfirming(p.id)}>
                Leave<span className="sr-only"> {p.name}</span>…
              </button>
            ) : (
              <span role="group" aria-label={`Confirm leaving ${p.name}`}>
                Leave {p.name}? Your council's people lose its shared documents at once. Each shared document is recorded as a named version the
                partners keep, and your council keeps a complete export of them and of its own documents.{" "}
                <button type="button" disabled={busy} onClick={() => void leave(p)}>{busy ? "Leaving…" : "Yes, leave and export"}</button>{" "}
                <button type="button" className="secondary" onClick={() => setConfirming(null)}>Cancel</button>
              </span>
            )}
          </li>
        ))}
      </ul>
      {exports.length > 0 && (
        <table data-testid="exits" aria-label="Exit exports">
          <thead><tr><th scope="col">Taken</th><th scope="col">Size</th><th scope="col"><span className="sr-only">Download</span></th></tr></thead>
          <tbody>
            {exports.map((e) => (
              <tr key={e.id}>
                <td>{when(e.created_at)}</td>
                <td>{Math.max(1, Math.round(e.bytes / 1024))} KB</td>
                <td>
                  <button type="button" className="secondary" onClick={() => void openResource(e.download, `concordat-exit-${e.id}.zip`)}>
                    Download export<span className="sr-only"> taken {when(e.created_at)}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

/** The invitations the council has sent, and revoking one not yet accepted. */
function Invitations({ orgs }: { orgs: Organisation[] }) {
  const [list, setList] = useState<Invitation[]>([]);
  const load = () => ok(rest.GET("/api/invitations")).then(setList).catch(() => setList([]));
  useEffect(() => void load(), []);
  const state = (i: Invitation) =>
    i.accepted_at ? "Accepted" : i.revoked_at ? "Revoked" : i.expires_at < Date.now() ? "Expired" : "Waiting";
  return (
    <Section id="inv-h" title="Invitations sent">
      {list.length === 0 ? <p className="muted">No invitations. Invite a guest from a document's Sharing panel.</p> : (
        <table data-testid="invitations">
          <thead><tr><th scope="col">Guest</th><th scope="col">Organisation</th><th scope="col">State</th><th scope="col"><span className="sr-only">Revoke</span></th></tr></thead>
          <tbody>
            {list.map((i) => (
              <tr key={i.id}>
                <td>{i.email}</td>
                <td>{orgs.find((o) => o.id === i.guest_org_id)?.name ?? "—"}</td>
                <td>{state(i)}</td>
                <td>
                  {state(i) === "Waiting" && (
                    <button type="button" className="secondary" onClick={async () => { await ok(rest.DELETE("/api/invitations/{id}", { params: { path: { id: i.id } } })); void load(); }}>
                      Revoke<span className="sr-only"> the invitation to {i.email}</span>
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

/** The platform operator's work: organisations with their domains, their administrators, and
 * partnerships. */
function Platform({ orgs, reload }: { orgs: Organisation[]; reload: () => void }) {
  const [org, setOrg] = useState({ name: "", kind: "council" as Schemas["OrgKind"], domains: "" });
  const [admin, setAdmin] = useState({ organisation: "", display_name: "", email: "" });
  const [partnership, setPartnership] = useState({ name: "", legal_basis: "inter-authority-agreement" as Schemas["LegalBasis"], host: "" });
  const [sso, setSso] = useState({ organisation: "", issuer: "", client_id: "", client_secret: "" });
  const [made, setMade] = useState<{ who: string; link: string } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const councils = orgs.filter((o) => o.kind === "council");
  const attempt = async (f: () => Promise<void>) => {
    setError(null);
    setDone(null);
    try {
      await f();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Section id="platform-h" title="Platform">
      <table data-testid="organisations">
        <thead><tr><th scope="col">Organisation</th><th scope="col">Kind</th><th scope="col">Verified domains</th></tr></thead>
        <tbody>
          {orgs.map((o) => (
            <tr key={o.id}><td>{o.name}</td><td>{o.kind === "council" ? "Council" : "Partner body"}</td><td>{o.domains?.join(", ") || "—"}</td></tr>
          ))}
        </tbody>
      </table>
      <Failure error={error} />
      {done && <p role="status">{done}</p>}
      <form
        className="grid-form"
        aria-label="New organisation"
        onSubmit={(e) => {
          e.preventDefault();
          void attempt(async () => {
            const domains = org.domains.split(",").map((d) => d.trim()).filter(Boolean);
            const o = await ok(rest.POST("/api/platform/organisations", { body: { name: org.name, kind: org.kind, domains } }));
            setDone(`${o.name} created.`);
            setOrg({ name: "", kind: "council", domains: "" });
            reload();
          });
        }}
      >
        <label htmlFor="org-name">New organisation's name</label>
        <input id="org-name" value={org.name} onChange={(e) => setOrg({ ...org, name: e.target.value })} required />
        <label htmlFor="org-kind">Kind</label>
        <select id="org-kind" value={org.kind} onChange={(e) => setOrg({ ...org, kind: e.target.value as Schemas["OrgKind"] })}>
          <option value="council">Council</option>
          <option value="partner">Partner body (guests)</option>
        </select>
        <label htmlFor="org-domains">Verified e-mail domains (comma-separated)</label>
        <input id="org-domains" value={org.domains} onChange={(e) => setOrg({ ...org, domains: e.target.value })} placeholder="brockley.gov.uk" />
        <button type="submit">Create organisation</button>
      </form>
      <form
        className="grid-form"
        aria-label="Single sign-on"
        onSubmit={(e) => {
          e.preventDefault();
          void attempt(async () => {
            const { organisation, ...body } = sso;
            const r = await ok(rest.PUT("/api/platform/organisations/{id}/sso", { params: { path: { id: organisation } }, body }));
            setDone(`${orgs.find((o) => o.id === organisation)?.name ?? "The organisation"} now signs in through ${r.issuer}.`);
            setSso({ organisation, issuer: "", client_id: "", client_secret: "" });
          });
        }}
      >
        <label htmlFor="sso-org">Single sign-on for</label>
        <select id="sso-org" value={sso.organisation} onChange={(e) => setSso({ ...sso, organisation: e.target.value })} required>
          <option value="">Choose…</option>
          {orgs.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
        </select>
        <label htmlFor="sso-issuer">Issuer (from the identity provider)</label>
        <input id="sso-issuer" type="url" value={sso.issuer} onChange={(e) => setSso({ ...sso, issuer: e.target.value })} placeholder="https://login.microsoftonline.com/…/v2.0" required />
        <label htmlFor="sso-client">Client ID</label>
        <input id="sso-client" value={sso.client_id} onChange={(e) => setSso({ ...sso, client_id: e.target.value })} required />
        <label htmlFor="sso-secret">Client secret</label>
        <input id="sso-secret" type="password" autoComplete="off" value={sso.client_secret} onChange={(e) => setSso({ ...sso, client_secret: e.target.value })} required />
        <button type="submit">Set single sign-on</button>
      </form>
      <form
        className="grid-form"
        aria-label="New administrator"
        onSubmit={(e) => {
          e.preventDefault();
          void attempt(async () => {
            const r = await ok(
              rest.POST("/api/platform/organisations/{id}/administrators", {
                params: { path: { id: admin.organisation } },
                body: { display_name: admin.display_name, email: admin.email },
              }),
            );
            setMade({ who: r.user.display_name, link: r.link });
            setAdmin({ organisation: admin.organisation, display_name: "", email: "" });
          });
        }}
      >
        <label htmlFor="adm-org">Administrator of</label>
        <select id="adm-org" value={admin.organisation} onChange={(e) => setAdmin({ ...admin, organisation: e.target.value })} required>
          <option value="">Choose…</option>
          {orgs.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
        </select>
        <label htmlFor="adm-name">Their name</label>
        <input id="adm-name" value={admin.display_name} onChange={(e) => setAdmin({ ...admin, display_name: e.target.value })} required />
        <label htmlFor="adm-email">Their email</label>
        <input id="adm-email" type="email" value={admin.email} onChange={(e) => setAdmin({ ...admin, email: e.target.value })} required />
        <button type="submit">Create administrator</button>
      </form>
      {made && <LinkToPass who={made.who} link={made.link} />}
      <form
        className="grid-form"
        aria-label="New partnership"
        onSubmit={(e) => {
          e.preventDefault();
          void attempt(async () => {
            const p = await ok(
              rest.POST("/api/platform/partnerships", {
                body: { name: partnership.name, legal_basis: partnership.legal_basis, host_organisation_id: partnership.host },
              }),
            );
            setDone(`${p.name} created: its host council's administrators now add its members.`);
            setPartnership({ ...partnership, name: "" });
          });
        }}
      >
        <label htmlFor="par-name">New partnership's name</label>
        <input id="par-name" value={partnership.name} onChange={(e) => setPartnership({ ...partnership, name: e.target.value })} required />
        <label htmlFor="par-basis">Legal basis</label>
        <select id="par-basis" value={partnership.legal_basis} onChange={(e) => setPartnership({ ...partnership, legal_basis: e.target.value as Schemas["LegalBasis"] })}>
          {Object.entries(LEGAL_BASIS).map(([v, words]) => <option key={v} value={v}>{words}</option>)}
        </select>
        <label htmlFor="par-host">Host council</label>
        <select id="par-host" value={partnership.host} onChange={(e) => setPartnership({ ...partnership, host: e.target.value })} required>
          <option value="">Choose…</option>
          {councils.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
        </select>
        <button type="submit">Create partnership</button>
      </form>
    </Section>
  );
}

/** `#/admin`: a council administrator's people, hosted partnerships and invitations; and, for
 * the platform operator, organisations and partnerships. */
export function AdminScreen({ user }: { user: User }) {
  const [orgs, setOrgs] = useState<Organisation[]>([]);
  const loadOrgs = () => ok(rest.GET("/api/organisations")).then(setOrgs).catch(() => setOrgs([]));
  useEffect(() => void loadOrgs(), []);
  const admin = user.role === "admin" && !user.is_guest;
  return (
    <div className="admin">
      <h1>Administration</h1>
      {!admin && !user.platform_operator && <p>Only your council's administrators manage its people and partnerships.</p>}
      {admin && <People user={user} />}
      {admin && <Aliases user={user} />}
      {admin && <Hosted user={user} orgs={orgs} />}
      {admin && <Membership user={user} />}
      {admin && <Invitations orgs={orgs} />}
      {user.platform_operator && <Platform orgs={orgs} reload={() => void loadOrgs()} />}
    </div>
  );
}
