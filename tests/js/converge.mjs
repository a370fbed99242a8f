// The JS half of the samod ↔ JS convergence test (tests/tests/e2e/samod_interop.rs): the
// unmodified JS automerge-repo client, as a user of a second council, edits the same Concordat
// document as a samod client. Protocol between the two (through the document itself):
//   samod writes disputeClause → JS waits for it, writes exitClause → samod waits for that, writes
//   specification → JS waits for it and prints its heads (hex) and what it saw as one JSON line.
// Env: CONCORDAT_BASE, DOC_URL, USER_EMAIL.

import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import * as A from "@automerge/automerge"
import { syncUrl, until } from "./lib.mjs"

const { CONCORDAT_BASE: BASE, DOC_URL, USER_EMAIL } = process.env
if (!BASE || !DOC_URL || !USER_EMAIL) throw new Error("set CONCORDAT_BASE, DOC_URL, USER_EMAIL")

const url = await syncUrl(BASE, USER_EMAIL)
const repo = new Repo({ network: [new WebSocketClientAdapter(url, 60_000)], peerId: `js-converge-${Date.now()}` })
try {
  const h = await repo.find(DOC_URL)
  await until(() => String(h.doc()?.disputeClause) === "written by samod", "samod's edit")
  h.change(d => { d.exitClause = "written by the JS client" })
  await until(() => String(h.doc()?.specification) === "samod saw the JS edit", "samod to see the JS edit")
  const doc = h.doc()
  console.log(JSON.stringify({ heads: A.getHeads(doc), fromSamod: String(doc.disputeClause) }))
} finally {
  await repo.shutdown().catch(() => {})
}
process.exit(0)
