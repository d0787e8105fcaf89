/* Caching strategies for sw.js (a classic script, loaded with importScripts).
 *
 * - Shell assets (/shell/<version>/…): cache-first. A versioned URL names its content, so whatever is
 *   fetched under this worker's version is kept on first use. Installing precaches only what the
 *   capture page loads (and /offline, the manifest); each other offline page's files (shell.pageAssets)
 *   are kept with the page itself, so a page that loaded before the worker controlled it works offline.
 * - Navigations: network first with a short timeout. The pages that hold offline work (shell.pages:
 *   /capture/, /tasks/, /tasks/verify) keep a "last good copy": each time one comes from the network
 *   rendered for this worker's version, it replaces the stored copy. Offline, a page gets its own last
 *   copy, the site root (the installed app's start) the first stored one, anything else /offline.
 *   Copies are user-specific, so they are kept only for pages the user opened (not precached for
 *   everyone, except /capture/ as before) and dropped when the user logs out.
 * - /api/ and everything else: not handled, so the browser's network stack and HTTP cache apply.
 */
/* exported XcStrategies */
const XcStrategies = (() => {
  const NAV_TIMEOUT_MS = 4000;
  // base.html marks every page it renders as live; a stored copy says "kept", so a page served from
  // here can tell the user its data is as of its last load. Same length, so nothing else shifts.
  const LIVE_MARK = 'data-xc-copy="live"';
  const KEPT_MARK = 'data-xc-copy="kept"';

  function isShellPage(url, shell) {
    return shell.shellPages.includes(url.pathname);
  }

  function isKeptPage(pathname, shell) {
    return shell.pages.includes(pathname);
  }

  function isVersioned(url, shell) {
    return url.pathname.startsWith(shell.assetPrefix);
  }

  // A redirect (to /login), an error, or a page that links another version's assets must never
  // become an offline copy.
  function storable(response, shell) {
    return Boolean(response && response.ok && !response.redirected && response.type === "basic"
      && response.headers.get("X-Shell-Version") === shell.version);
  }

  /** Store a page as its offline copy: marked "kept", and without headers that described the wire. */
  async function keep(cache, pathname, response) {
    const html = await response.text();
    const headers = new Headers(response.headers);
    for (const name of ["Content-Length", "Content-Encoding", "Set-Cookie"]) headers.delete(name);
    headers.set("X-Kept-At", new Date().toISOString());
    await cache.put(pathname, new Response(html.replace(LIVE_MARK, KEPT_MARK), {
      status: response.status, statusText: response.statusText, headers,
    }));
  }

  /** The files a kept page loads, those not held yet. Versioned, so the HTTP cache's copy (the one the
   *  page has just loaded) is the right one: usually nothing goes over the network. */
  async function keepAssets(pathname, shell) {
    const cache = await caches.open(shell.cache);
    for (const url of shell.pageAssets[pathname] || []) {
      if (await cache.match(url)) continue;
      const response = await fetch(new Request(url, { credentials: "same-origin" }));
      if (response.ok) await cache.put(url, response);
    }
  }

  /** Fetch a page with the user's cookies and keep it, with its files, if it is a good copy; false
   *  when it is not. "no-cache": the server is always asked, but the page a window has just loaded comes
   *  back as a 304 (the offline pages carry an ETag), not a second download. */
  async function refreshPage(pathname, shell) {
    try {
      const response = await fetch(new Request(pathname, { cache: "no-cache", credentials: "same-origin" }));
      if (!storable(response, shell)) return false;
      await keep(await caches.open(shell.cache), pathname, response);
      await keepAssets(pathname, shell).catch(() => {}); // the next visit, controlled, keeps the rest
      return true;
    } catch (err) {
      return false; // offline or logged out: the next online visit stores it
    }
  }

  /** Offline pages open in a window right now (the first visit, or an update installing under them). */
  async function openPages(shell) {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    return windows.map((client) => new URL(client.url))
      .filter((url) => url.origin === self.location.origin && isKeptPage(url.pathname, shell))
      .map((url) => url.pathname);
  }

  async function precache(shell) {
    const cache = await caches.open(shell.cache);
    const assets = shell.precache.filter((url) => !shell.shellPages.includes(url));
    // A versioned shell URL names its content, so the copy the page has just loaded into the HTTP cache
    // is the right one and the first install need not download it again. Unversioned URLs (manifest,
    // offline page) are revalidated ("no-cache"), so a new version never precaches a stale file, and
    // the manifest the browser has just read costs a 304.
    await cache.addAll(assets.map((url) => new Request(url, {
      cache: url.startsWith(shell.assetPrefix) ? "default" : "no-cache",
    })));
    // The capture page for every inspector as before, and whichever offline page is open right now:
    // best effort, never a reason for the install to fail.
    const pages = new Set([...shell.shellPages, ...(await openPages(shell).catch(() => []))]);
    for (const pathname of pages) await refreshPage(pathname, shell);
  }

  async function dropOldCaches(shell) {
    const names = await caches.keys();
    await Promise.all(
      names.filter((name) => name.startsWith(shell.cachePrefix) && name !== shell.cache)
        .map((name) => caches.delete(name)),
    );
  }

  /** The stored page a navigation falls back to, or undefined. */
  async function fallback(url, shell) {
    const cache = await caches.open(shell.cache);
    const own = await cache.match(url.pathname);
    if (own) return own;
    if (url.pathname === "/") {
      // The installed app starts at "/": the user's first kept page is their home (capture or tasks).
      for (const page of shell.pages) {
        const copy = await cache.match(page);
        if (copy) return copy;
      }
    }
    const capture = shell.shellPages.find((page) => url.pathname.startsWith(page));
    if (capture) {
      const copy = await cache.match(capture);
      if (copy) return copy;
    }
    return caches.match(shell.offlinePage, { cacheName: shell.cache });
  }

  async function navigate(request, shell) {
    const url = new URL(request.url);
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), NAV_TIMEOUT_MS);
    });
    const network = fetch(request).then(async (response) => {
      // Refreshed on every online visit, before the page sees it: what it shows is what is kept.
      if (isKeptPage(url.pathname, shell) && storable(response, shell)) {
        await keep(await caches.open(shell.cache), url.pathname, response.clone());
      }
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
    const cached = await fallback(url, shell);
    if (cached) return cached;
    // Nothing stored yet (first visit while offline): keep waiting for the network after all.
    return network.catch(() => new Response("offline", { status: 503, headers: { "Content-Type": "text/plain" } }));
  }

  async function cacheFirst(request, shell, { store = false } = {}) {
    const cache = await caches.open(shell.cache);
    const cached = await cache.match(request);
    if (cached) return cached;
    const response = await fetch(request);
    if (store && response.ok && response.type === "basic") await cache.put(request, response.clone());
    return response;
  }

  function route(request, shell) {
    if (request.method !== "GET") return null;
    const url = new URL(request.url);
    if (url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return null;
    if (request.mode === "navigate") return navigate(request, shell);
    if (isVersioned(url, shell)) return cacheFirst(request, shell, { store: true });
    if (shell.precache.includes(url.pathname) && !isShellPage(url, shell)) return cacheFirst(request, shell);
    return null;
  }

  /** Logging out (a form POST to /logout): the next person on this phone must not see these pages. */
  function isLogout(request, shell) {
    return request.method === "POST" && new URL(request.url).pathname === shell.logoutUrl;
  }

  async function forgetPages(shell) {
    const cache = await caches.open(shell.cache);
    await Promise.all(shell.pages.map((page) => cache.delete(page)));
  }

  /** A page asks to be kept (it loaded from the network before this worker controlled it, or after
   *  a logout dropped the copies); a page that already has a copy only needs its files. */
  async function keepPage(pathname, shell) {
    if (!isKeptPage(pathname, shell)) return false;
    if (await (await caches.open(shell.cache)).match(pathname)) {
      await keepAssets(pathname, shell).catch(() => {});
      return true;
    }
    return refreshPage(pathname, shell);
  }

  async function wakeClients() {
    const clients = await self.clients.matchAll({ type: "window" });
    for (const client of clients) client.postMessage({ type: "SYNC_NOW" });
  }

  return { precache, dropOldCaches, route, isLogout, forgetPages, keepPage, wakeClients };
})();
self.XcStrategies = XcStrategies;
