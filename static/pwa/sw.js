/* The service worker: event wiring only. The server prepends self.XC_SHELL (version, cache names,
 * precache list, the pages kept for offline use and the files each one loads) when it serves /sw.js;
 * the strategies live in sw-strategies.js. Nothing under /api/ is ever cached here: the outbox in
 * IndexedDB is the only offline copy of what a user did. */
/* global XcStrategies */
importScripts(self.XC_SHELL.helper);

const shell = self.XC_SHELL;

self.addEventListener("install", (event) => {
  // No skipWaiting(): a new version waits until the inspector taps "reload" (see sw-bridge.js).
  event.waitUntil(XcStrategies.precache(shell));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(XcStrategies.dropOldCaches(shell).then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  if (XcStrategies.isLogout(event.request, shell)) event.waitUntil(XcStrategies.forgetPages(shell));
  const response = XcStrategies.route(event.request, shell);
  if (response) event.respondWith(response);
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "SKIP_WAITING") self.skipWaiting();
  if (event.data && event.data.type === "KEEP_PAGE") event.waitUntil(XcStrategies.keepPage(String(event.data.path), shell));
});

// Background Sync is an extra where it exists (never on iOS): it only wakes an open page, whose
// outbox code does the sending. The page syncs on open/online/visible/timer without it.
self.addEventListener("sync", (event) => {
  if (event.tag === "xc-outbox") event.waitUntil(XcStrategies.wakeClients());
});
