// Runs static/pwa/sw-strategies.js in a stand-in service worker (Node: fetch, caches and clients faked
// in memory) against a scripted server, and prints what it did as JSON for tests/test_pwa.py to judge.
// Usage: node tests/sw_harness.mjs <sw-strategies.js> <XC_SHELL config as JSON>
import { readFileSync } from "node:fs";
import vm from "node:vm";

const [strategiesPath, configJson] = process.argv.slice(2);
const shell = JSON.parse(configJson);
const ORIGIN = "https://xc.test";
const absolute = (input) => new URL(typeof input === "string" ? input : input.url, ORIGIN).href;
const pathOf = (input) => {
  const url = new URL(absolute(input));
  return url.pathname + url.search;
};

/* ---------- the server: pages, assets and the API, up or down ---------- */

const server = { up: true, log: [], overrides: {} };
const PAGE = (path) => `<!doctype html>\n<html lang="zh-CN" data-xc-copy="live"><body>page ${path}</body></html>`;

function respond(body, { status = 200, headers = {}, redirected = false, type = "basic" } = {}) {
  const response = new Response(body, { status, headers });
  Object.defineProperty(response, "redirected", { value: redirected });
  Object.defineProperty(response, "type", { value: type });
  return response;
}

async function fakeFetch(input) {
  const path = pathOf(input);
  server.log.push(path);
  if (!server.up) throw new TypeError("Failed to fetch");
  const pathname = new URL(absolute(input)).pathname;
  if (server.overrides[pathname]) return server.overrides[pathname]();
  const html = { "Content-Type": "text/html; charset=utf-8", "X-Shell-Version": shell.version };
  if (pathname.startsWith("/api/")) return respond('{"ok": true}', { headers: { "Content-Type": "application/json" } });
  if (pathname.startsWith("/shell/") || pathname === "/manifest.webmanifest") return respond(`/* asset ${pathname} */`);
  return respond(PAGE(pathname), { headers: html });
}

/* ---------- Cache Storage, in memory ---------- */

class FakeCache {
  constructor() {
    this.entries = new Map();
  }

  async put(key, response) {
    this.entries.set(absolute(key), { body: await response.text(), status: response.status, headers: [...response.headers] });
  }

  async match(key) {
    const hit = this.entries.get(absolute(key));
    return hit ? new Response(hit.body, { status: hit.status, headers: hit.headers }) : undefined;
  }

  async addAll(requests) {
    for (const request of requests) await this.put(request, await fakeFetch(request));
  }

  async delete(key) {
    return this.entries.delete(absolute(key));
  }

  keys() {
    return [...this.entries.keys()].map((url) => pathOf(url));
  }
}

const store = new Map();
const caches = {
  async open(name) {
    if (!store.has(name)) store.set(name, new FakeCache());
    return store.get(name);
  },
  async keys() {
    return [...store.keys()];
  },
  async delete(name) {
    return store.delete(name);
  },
  async match(key, { cacheName } = {}) {
    for (const [name, cache] of store) {
      if (cacheName && name !== cacheName) continue;
      const hit = await cache.match(key);
      if (hit) return hit;
    }
    return undefined;
  },
};

/* ---------- the worker's global scope ---------- */

class SwRequest extends Request {
  constructor(input, init) {
    super(typeof input === "string" ? absolute(input) : input, init);
  }
}
const openWindows = [];
const scope = {
  caches, fetch: fakeFetch, Request: SwRequest, Response, Headers, URL, setTimeout, clearTimeout, console,
  location: new URL(ORIGIN),
  clients: { matchAll: async () => openWindows.map((url) => ({ url: new URL(url, ORIGIN).href })) },
};
scope.self = scope;
vm.createContext(scope);
vm.runInContext(readFileSync(strategiesPath, "utf-8"), scope, { filename: "sw-strategies.js" });
const sw = scope.XcStrategies;

/* ---------- scenarios ---------- */

// A navigation, a module load, a photo… as the browser would hand them to the worker.
const request = (path, { method = "GET", mode = "navigate", origin = ORIGIN } = {}) => ({
  method, mode, url: new URL(path, origin).href, headers: new Headers(),
});

async function visit(path, options) {
  const handled = sw.route(request(path, options), shell);
  if (!handled) return { handled: false };
  const response = await handled;
  const body = await response.text();
  return { handled: true, status: response.status, body, kept: body.includes('data-xc-copy="kept"') };
}

const pagesKept = async () => (await caches.open(shell.cache)).keys()
  .filter((key) => !key.startsWith("/shell/") && key !== "/manifest.webmanifest" && key !== shell.offlinePage);

const out = {};
const asset = shell.precache.find((url) => url.startsWith("/shell/"));

out.route = {
  api_navigation: sw.route(request("/api/v1/session"), shell),
  api_fetch: sw.route(request("/api/v1/findings?mine=1", { mode: "cors" }), shell),
  api_photo: sw.route(request("/api/v1/photos/abc/thumb", { mode: "no-cors" }), shell),
  post_navigation: sw.route(request("/tasks/findings/x/act", { method: "POST" }), shell),
  other_origin: sw.route(request("/tasks/", { origin: "https://elsewhere.test" }), shell),
  static_icon: sw.route(request("/static/pwa/icons/icon-192.png", { mode: "no-cors" }), shell),
  asset_handled: Boolean(sw.route(request(asset, { mode: "cors" }), shell)),
};
for (const [key, value] of Object.entries(out.route)) if (value !== null && typeof value !== "boolean") out.route[key] = "handled";

// Install: a manager is on /tasks/ (not yet controlled); /capture/ is theirs to refuse (403).
await caches.open("xc-shell-0000000000000000");
await caches.open("someone-elses-cache");
server.overrides["/capture/"] = () => respond("forbidden", { status: 403, headers: { "X-Shell-Version": shell.version } });
openWindows.push("/tasks/?from=login", "/review/queue");
await sw.precache(shell);
await sw.dropOldCaches(shell);
const heldAfterInstall = (await caches.open(shell.cache)).keys();
out.install = {
  caches: await caches.keys(), pages: await pagesKept(), fetched: [...server.log],
  // The kept page's own files came with it; nobody's page loads the ones no offline page needs.
  missingTaskAssets: shell.pageAssets["/tasks/"].filter((url) => !heldAfterInstall.includes(url)),
  assets: heldAfterInstall.filter((key) => key.startsWith("/shell/")),
};
delete server.overrides["/capture/"];

// Versioned files the install did not take are kept on first use; another version's, or a 404, never.
server.log.length = 0;
const unlisted = `${shell.assetPrefix}js/review.js`;
const missing = `${shell.assetPrefix}js/missing.js`;
const otherVersion = "/shell/0000000000000000/js/app.js";
server.overrides[missing] = () => respond("not found", { status: 404 });
const first = await sw.route(request(unlisted, { mode: "cors" }), shell);
const again = await sw.route(request(unlisted, { mode: "cors" }), shell);
out.runtime = {
  first: await first.text(),
  again: await again.text(),
  missing: (await sw.route(request(missing, { mode: "cors" }), shell)).status,
  other_version: sw.route(request(otherVersion, { mode: "cors" }), shell),
  fetched: [...server.log],
  held: (await caches.open(shell.cache)).keys().filter((key) => [unlisted, missing, otherVersion].includes(key)),
};
delete server.overrides[missing];

// Online visits: the allow-list is refreshed, anything else only passes through.
server.log.length = 0;
out.online = {
  tasks: await visit("/tasks/"),
  verify: await visit("/tasks/verify"),
  queue: await visit("/review/queue"),
  account: await visit("/account"),
  api: await visit("/api/v1/session"),
};
out.online.pages = await pagesKept();
out.online.keptTasks = await (await (await caches.open(shell.cache)).match("/tasks/")).text();

// Copies that must never be kept: a redirect to /login, an error, another version's page.
const refusals = {
  redirect: () => respond(PAGE("/login"), { headers: { "X-Shell-Version": shell.version }, redirected: true }),
  error: () => respond("boom", { status: 500, headers: { "X-Shell-Version": shell.version } }),
  other_version: () => respond(PAGE("/capture/"), { headers: { "X-Shell-Version": "ffffffffffffffff" } }),
  opaque: () => respond(PAGE("/capture/"), { headers: { "X-Shell-Version": shell.version }, type: "opaqueredirect" }),
};
out.refused = {};
for (const [name, make] of Object.entries(refusals)) {
  await sw.forgetPages(shell);
  server.overrides["/capture/"] = make;
  const seen = await visit("/capture/");
  out.refused[name] = { passedThrough: seen.handled && !seen.kept, pages: await pagesKept() };
  delete server.overrides["/capture/"];
}

// Offline: each page its own last copy, the root the first kept page, anything else /offline.
await visit("/tasks/");
server.up = false;
out.offline = {
  tasks: await visit("/tasks/"),
  tasks_query: await visit("/tasks/?zone=3"),
  root: await visit("/"),
  verify_never_opened: await visit("/tasks/verify"),
  queue: await visit("/review/queue"),
};

// keepPage (the page's own request) and logging out.
server.up = true;
server.log.length = 0;
out.keep = {
  not_listed: await sw.keepPage("/review/queue", shell),
  listed_missing: await sw.keepPage("/tasks/verify", shell),
  listed_present: await sw.keepPage("/tasks/", shell),
};
out.keep.fetched = [...server.log];
out.logout = {
  is_logout: sw.isLogout(request(shell.logoutUrl, { method: "POST" }), shell),
  get_is_not: sw.isLogout(request(shell.logoutUrl), shell),
};
await sw.forgetPages(shell);
out.logout.pages = await pagesKept();
out.logout.assetsLeft = (await caches.open(shell.cache)).keys().filter((key) => key.startsWith("/shell/")).length;
out.allKeys = (await caches.open(shell.cache)).keys();

console.log(JSON.stringify(out));
