// The unmodified JS automerge-repo client (2.5.x, websocket adapter) against a running
// Concordat server at $CONCORDAT_BASE (demo workspace). Prints one JSON line of results and
// exits non-zero if any check fails.
//
// Two users of two partner councils edit one document and converge; a read-only user's edit
// never reaches them; a user of a third council gets "unavailable".

import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const BASE = process.env.CONCORDAT_BASE
const PASSWORD = "concordat-demo"
if (!BASE) throw new Error("set CONCORDAT_BASE")

const sleep = ms => new Promise(r => setTimeout(r, ms))

async function api(path, { token, body, method } = {}) {
  const res = await fetch(BASE + path, {
    method: method ?? (body ? "POST" : "GET"),
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method ?? "GET"} ${path}: ${res.status} ${text}`)
  return text ? JSON.parse(text) : null
}

const login = async (email, password = PASSWORD) =>
  (await api("/api/auth/login", { body: { email, password } })).access_token

async function repoFor(token, name) {
  const { url } = await api("/api/sync/ticket", { token, body: {} })
  // The adapter retries the same URL; a ticket works once, so give it a long retry interval:
  // these checks run well within one connection.
  const adapter = new WebSocketClientAdapter(url, 60_000)
  return new Repo({ network: [adapter], peerId: `js-${name}-${Math.random().toString(36).slice(2)}` })
}

async function until(check, ms = 5000) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (check()) return true
    await sleep(25)
  }
  return check()
}

const results = {}
let failures = 0
function record(name, ok, detail) {
  results[name] = ok ? "pass" : `FAIL${detail ? ": " + detail : ""}`
  if (!ok) failures++
}

const repos = []
try {
  const arun = await login("arun@ashby.gov.uk")
  const ben = await login("ben@brockley.gov.uk")
  const carl = await login("carl@carrow.gov.uk")
  const alice = await login("alice@ashby.gov.uk")
  const docs = await api("/api/documents?limit=200", { token: arun })
  const register = docs.items.find(d => d.title === "Shared services partnership risk register")

  // A viewer: a guest invited read-only to the register.
  const orgs = await api("/api/organisations", { token: alice })
  const riverside = orgs.find(o => o.name === "Riverside Community Trust")
  const email = `viewer-${Date.now()}@riverside.org.uk`
  const inv = await api("/api/invitations", {
    token: alice,
    body: { email, organisation_id: riverside.id, documents: [register.id], role: "viewer" },
  })
  await api("/api/invitations/accept", {
    body: { token: inv.token, display_name: "Read-only viewer", password: "a long viewer password" },
  })
  const viewer = await login(email, "a long viewer password")

  const repoA = await repoFor(arun, "arun")
  const repoB = await repoFor(ben, "ben")
  repos.push(repoA, repoB)
  const a = await repoA.find(register.url)
  const b = await repoB.find(register.url)
  // The server writes `schema` as an immutable (scalar) string: JS shows it as ImmutableString.
  const schemaOf = h => h.doc() && String(h.doc().schema)
  record("both partners open the document", schemaOf(a) === "concordat/risk-register" && schemaOf(b) === "concordat/risk-register", JSON.stringify([schemaOf(a), schemaOf(b)]))

  // Each council edits a risk's controls (a top-level key outside the schema is refused).
  const controls = (h, i) => h.doc()?.risks?.[i]?.controls !== undefined ? String(h.doc().risks[i].controls) : undefined
  a.change(d => { d.risks[0].controls = "edited in Ashby" })
  b.change(d => { d.risks[1].controls = "edited in Brockley" })
  const converged = await until(() =>
    controls(a, 1) === "edited in Brockley" && controls(b, 0) === "edited in Ashby" &&
    JSON.stringify(a.heads()) === JSON.stringify(b.heads()))
  record("two councils' edits converge", converged, JSON.stringify({ a: a.heads(), b: b.heads() }))

  const repoV = await repoFor(viewer, "viewer")
  repos.push(repoV)
  const v = await repoV.find(register.url)
  record("a viewer receives the document", controls(v, 0) === "edited in Ashby")
  v.change(d => { d.viewerEdit = "should never arrive" })
  await sleep(1500)
  record("a read-only user's edit reaches no one", a.doc().viewerEdit === undefined && b.doc().viewerEdit === undefined)

  // A fresh client sees what the server stored: still no viewer edit.
  const repoB2 = await repoFor(ben, "ben2")
  repos.push(repoB2)
  const b2 = await repoB2.find(register.url)
  record("the server stored no viewer edit", b2.doc().viewerEdit === undefined && controls(b2, 0) === "edited in Ashby")

  const repoC = await repoFor(carl, "carl")
  repos.push(repoC)
  let unavailable = false
  try {
    const c = await Promise.race([repoC.find(register.url), sleep(5000).then(() => "timeout")])
    unavailable = c !== "timeout" && c.doc() === undefined
  } catch (e) {
    unavailable = /unavailable/i.test(String(e))
  }
  record("a third council's user gets unavailable", unavailable)
} catch (e) {
  record("scenario ran", false, String(e && e.stack || e))
} finally {
  for (const r of repos) {
    try { await r.shutdown() } catch {}
  }
}
console.log(JSON.stringify(results))
process.exit(failures ? 1 : 0)
