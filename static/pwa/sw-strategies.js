/* Caching strategies for sw.js (a classic script, loaded with importScripts).
 *
 * - Shell assets (/shell/<version>/…, the manifest, /offline): cache-first from the versioned precache.
 * - Navigations: network first with a short timeout. A shell page (/capture/) rendered for this
 *   worker's version is stored; offline, /capture/ and the site root get the stored page, any other
 *   page the stored /offline page.
 * - /api/ and everything else: not handled, so the browser's network stack and HTTP cache apply.
 */
/* exported XcStrategies */
const XcStrategies = (() => {
  const NAV_TIMEOUT_MS = 4000;

  function isShellPage(url, shell) {
    return shell.shellPages.includes(url.pathname);
  }

  // A redirect (to /login), an error, or a page that links another version's assets must never
  // become the offline shell.
  function storable(response, shell) {
    return Boolean(response && response.ok && !response.redirected && response.type === "basic"
      && response.headers.get("X-Shell-Version") === shell.version);
  }

  async function precache(shell) {
    const cache = await caches.open(shell.cache);
    const assets = shell.precache.filter((url) => !shell.shellPages.includes(url));
    // cache: "reload" skips the HTTP cache, so a new version never precaches a stale file.
    await cache.addAll(assets.map((url) => new Request(url, { cache: "reload" })));
    for (const url of shell.shellPages) {
      try {
        const response = await fetch(new Request(url, { cache: "reload", credentials: "same-origin" }));
        if (storable(response, shell)) await cache.put(url, response);
      } catch (err) {
        // Offline or logged out during install: the next online visit stores the page.
      }
    }
  }

  async function dropOldCaches(shell) {
    const names = await caches.keys();
    await Promise.all(
      names.filter((name) => name.startsWith(shell.cachePrefix) && name !== shell.cache)
        .map((name) => caches.delete(name)),
    );
  }

  function fallbackFor(url, shell) {
    if (url.pathname === "/" || shell.shellPages.some((page) => url.pathname.startsWith(page))) {
      return shell.shellPages[0];
    }
    return shell.offlinePage;
  }

  async function navigate(request, shell) {
    const url = new URL(request.url);
    const cache = await caches.open(shell.cache);
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), NAV_TIMEOUT_MS);
    });
    const network = fetch(request).then(async (response) => {
      if (isShellPage(url, shell) && storable(response, shell)) await cache.put(url.pathname, response.clone());
      return response;
    });
    try {
      const response = await Promise.race([network, timeout]);
      if (response) return response;
    } catch (err) {
      // Network down or server unreachable: fall through to the cache.
    } finally {
      clearTimeout(timer);
    }
    const cached = await cache.match(fallbackFor(url, shell));
    if (cached) return cached;
    // Nothing stored yet (first visit while offline): keep waiting for the network after all.
    return network.catch(() => new Response("offline", { status: 503, headers: { "Content-Type": "text/plain" } }));
  }

  async function cacheFirst(request, shell) {
    const cached = await caches.match(request, { cacheName: shell.cache, ignoreSearch: false });
    return cached || fetch(request);
  }

  function route(request, shell) {
    if (request.method !== "GET") return null;
    const url = new URL(request.url);
    if (url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return null;
    if (request.mode === "navigate") return navigate(request, shell);
    if (shell.precache.includes(url.pathname) && !isShellPage(url, shell)) return cacheFirst(request, shell);
    return null;
  }

  async function wakeClients() {
    const clients = await self.clients.matchAll({ type: "window" });
    for (const client of clients) client.postMessage({ type: "SYNC_NOW" });
  }

  return { precache, dropOldCaches, route, wakeClients };
})();
self.XcStrategies = XcStrategies;
