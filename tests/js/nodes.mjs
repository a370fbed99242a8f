// The JS half of the several-nodes test (tests/tests/e2e/several_nodes.rs): the unmodified JS
// automerge-repo client, connected to one of two server nodes sharing one PostgreSQL, writes
// its own key, waits for the key another client writes through the other node, then waits
// until nothing more arrives and prints its heads (hex) and what it saw, as one JSON line.
// Env: CONCORDAT_BASE (this client's node), DOC_URL, USER_EMAIL; MINE and THEIRS name the
// fields (of the document's schema) and MINE_VALUE / THEIRS_VALUE what is written in them.

import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import * as A from "@automerge/automerge"
import { sleep, syncUrl, until } from "./lib.mjs"

const { CONCORDAT_BASE: BASE, DOC_URL, USER_EMAIL, MINE, MINE_VALUE, THEIRS, THEIRS_VALUE } = process.env
if (!BASE || !DOC_URL || !USER_EMAIL || !MINE || !MINE_VALUE || !THEIRS || !THEIRS_VALUE) {
  throw new Error("set CONCORDAT_BASE, DOC_URL, USER_EMAIL, MINE, MINE_VALUE, THEIRS, THEIRS_VALUE")
}

const url = await syncUrl(BASE, USER_EMAIL)
const repo = new Repo({ network: [new WebSocketClientAdapter(url, 60_000)], peerId: `js-node-${MINE}-${Date.now()}` })
try {
  const h = await repo.find(DOC_URL)
  h.change(d => { d[MINE] = MINE_VALUE })
  await until(() => String(h.doc()?.[THEIRS]) === THEIRS_VALUE, `${THEIRS} from the other node`, 30000)
  // Then until the heads stop moving: both clients' changes, and nothing else in flight.
  let heads = JSON.stringify(A.getHeads(h.doc()))
  for (let quiet = 0; quiet < 10; ) {
    await sleep(100)
    const now = JSON.stringify(A.getHeads(h.doc()))
    quiet = now === heads ? quiet + 1 : 0
    heads = now
  }
  const doc = h.doc()
  console.log(JSON.stringify({ heads: A.getHeads(doc), theirs: String(doc[THEIRS]) }))
} finally {
  await repo.shutdown().catch(() => {})
}
process.exit(0)
