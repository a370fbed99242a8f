// Concordat's offline app shell. The page itself (index.html) and its hashed assets are kept in
// a cache as they are fetched, so a reload with no network still opens the app: documents come
// from the browser's own copy (IndexedDB) and sync when the network returns. API calls and the
// sync socket are never cached here (the API answers `no-store`).
const SHELL = "concordat-shell-v1";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.add("/")).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/sync")) return;
  if (req.mode === "navigate") {
    // The page: the network's when there is one (a new release), the kept one otherwise.
    event.respondWith(
      fetch(req)
        .then((resp) => {
          const copy = resp.clone();
          if (resp.ok) caches.open(SHELL).then((c) => c.put("/", copy));
          return resp;
        })
        .catch(() => caches.match("/").then((r) => r ?? Response.error())),
    );
    return;
  }
  if (url.pathname.startsWith("/assets/")) {
    // Hashed, so never stale: the kept copy first.
    event.respondWith(
      caches.match(req).then(
        (hit) =>
          hit ??
          fetch(req).then((resp) => {
            const copy = resp.clone();
            if (resp.ok) caches.open(SHELL).then((c) => c.put(req, copy));
            return resp;
          }),
      ),
    );
  }
});
