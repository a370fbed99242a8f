// What the JS client scenarios share: signing in to a Concordat server and waiting for a
// document to reach a state.

export const sleep = ms => new Promise(r => setTimeout(r, ms))

/** POSTs JSON to `base + path` (with a bearer token if given); the answer's JSON. */
export async function post(base, path, body, token) {
  const res = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`)
  return res.json()
}

/** Signs in as a demo user and takes a websocket ticket: the URL to open. */
export async function syncUrl(base, email) {
  const { access_token } = await post(base, "/api/auth/login", { email, password: "concordat-demo" })
  const { url } = await post(base, "/api/sync/ticket", {}, access_token)
  return url
}

/** Waits until `check()` holds, or throws naming `what`. */
export async function until(check, what, ms = 15000) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (check()) return
    await sleep(20)
  }
  throw new Error(`timed out waiting for ${what}`)
}
