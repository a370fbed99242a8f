// The reference automerge-repo sync server (as automerge-repo-sync-server runs it): a Repo with
// the websocket server adapter and file-system storage, announcing nothing. PORT, DATA_DIR.
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { WebSocketServer } from "ws"

const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(process.env.PORT) })
new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(process.env.DATA_DIR),
  peerId: `node-sync-server-${process.pid}`,
  sharePolicy: async () => false,
})
wss.on("listening", () => console.log("listening"))
