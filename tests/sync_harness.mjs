// Runs the real static/pwa/js/sync.js in Node against an in-memory outbox and a scripted server, and
// prints what happened in each scenario as JSON for tests/test_sync_scheduler.py to judge: which
// requests overlapped, in what order they started and ended, and what the outbox holds afterwards.
// Usage: node tests/sync_harness.mjs <static/pwa/js directory>
// sync.js is copied into a temporary folder next to stand-ins for api.js, db.js and outbox.js (its
// only imports), so the module under test is byte for byte the one the phone runs.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [jsDir] = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), "xc-sync-"));
copyFileSync(join(jsDir, "sync.js"), join(dir, "sync.js"));

/* ---------- api.js: every call goes to globalThis.server, which decides the answer and how long it takes */
writeFileSync(join(dir, "api.js"), `
export class NetworkError extends Error { constructor(m) { super(m); this.name = "NetworkError"; } }
export class AuthError extends Error { constructor(m) { super(m); this.name = "AuthError"; } }
const call = (what, csrf) => globalThis.server.call(what, csrf, { NetworkError, AuthError });
export const getSession = () => call({ kind: "session" });
export const putPhoto = (id, bytes, mime, sha, csrf) => call({ kind: "photo", id, sha }, csrf);
export const sendRequest = (request, csrf) => call({ kind: "request", url: request.url }, csrf);
`);
writeFileSync(join(dir, "db.js"), "export async function kvSet() {}\n");

/* ---------- outbox.js: the same API over a Map; list() hands out copies, as IndexedDB does */
writeFileSync(join(dir, "outbox.js"), `
export const STATES = Object.freeze({ pending: "pending", sending: "sending", failed: "failed", attention: "attention", sent: "sent" });
export const SENDABLE = new Set(["pending", "sending", "failed"]);
const items = new Map();
const copy = (x) => structuredClone(x);
const tick = () => new Promise((r) => setTimeout(r, 0));
export function reset(list) { items.clear(); for (const item of list) items.set(item.id, copy(item)); }
export async function list() { await tick(); return [...items.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map(copy); }
export async function get(id) { await tick(); return items.has(id) ? copy(items.get(id)) : undefined; }
export async function photoBytes(id) { await tick(); return { bytes: new ArrayBuffer(8), mime: "image/jpeg" }; }
export async function update(id, patch) { await tick(); if (items.has(id)) Object.assign(items.get(id), patch); }
export async function markPhotoUploaded(id, photoId) {
  await tick(); for (const p of items.get(id)?.photos || []) if (p.id === photoId) p.uploaded = true;
}
export async function resetPhotos(id, ids) { await tick(); for (const p of items.get(id).photos) if (ids.includes(p.id)) p.uploaded = false; }
export async function markSent(id, { serverStatus }) {
  await tick(); const it = items.get(id); if (it) Object.assign(it, { state: "sent", serverStatus });
}
`);

const sync = await import(pathToFileURL(join(dir, "sync.js")).href);
const outbox = await import(pathToFileURL(join(dir, "outbox.js")).href);
rmSync(dir, { recursive: true, force: true });
globalThis.navigator = {}; // no Web Locks in Node: syncNow runs directly

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let seq = 0;

function capture(n, photos = 1) {
  const id = `f${n}`;
  return {
    id, kind: "finding", userId: 7, state: "pending", createdAt: `2026-01-01T00:00:${String(seq++).padStart(3, "0")}`,
    photos: Array.from({ length: photos }, (_, i) => ({ id: `${id}-p${i}`, sha256: `sha-${id}-p${i}`, uploaded: false })),
    request: { method: "PUT", url: `/api/v1/findings/${id}`, body: {} },
  };
}

function action(findingId, n, photos = 0) {
  const id = `a${n}`;
  return {
    id, kind: "action", userId: 7, state: "pending", createdAt: `2026-01-01T00:00:${String(seq++).padStart(3, "0")}`,
    photos: Array.from({ length: photos }, (_, i) => ({ id: `${id}-p${i}`, sha256: `sha-${id}-p${i}`, uploaded: false })),
    request: { method: "PUT", url: `/api/v1/findings/${findingId}/actions/${id}`, body: {} },
  };
}

/**
 * A server that answers after `delay(what)` ms with `answer(what, csrf)` (default: stored), and logs
 * every request's start and end. Photos are answered with the sha the phone sent; requests with the
 * photos they name, so the client's hash check passes.
 */
const photos = new Map(); // what the server holds, across the scenarios' servers (a retry meets the same server)

function makeServer({ delay = () => 10, answer = () => null, session = () => ({ csrf_token: "t1" }) } = {}) {
  const log = [];
  let active = 0;
  let peak = 0;
  let calls = 0;
  return {
    log, get peak() { return peak; },
    async call(what, csrf, errors) {
      const name = what.kind === "photo" ? `photo:${what.id}` : what.kind === "request" ? `put:${what.url}` : "session";
      const n = (calls += 1); // this request's number, for scripts that pick "the fourth PUT"
      active += 1;
      peak = Math.max(peak, active);
      log.push({ event: "start", name, csrf });
      try {
        await sleep(delay(what, n));
        const scripted = answer(what, csrf, errors, n);
        if (scripted instanceof Error) throw scripted;
        if (scripted) return scripted;
        if (what.kind === "session") return { status: 200, body: { user: { id: 7 }, ...session() } };
        if (what.kind === "photo") {
          photos.set(what.id, what.sha);
          return { status: 201, body: { sha256: what.sha } };
        }
        const owner = what.url.split("/")[4];
        const body = { status: "submitted", photos: [...photos].filter(([id]) => id.startsWith(`${owner}-`) || id.startsWith(`${what.url.split("/").pop()}-`))
          .map(([id, sha256]) => ({ id, sha256 })) };
        return { status: 201, body };
      } finally {
        active -= 1;
        log.push({ event: "end", name });
      }
    },
  };
}

let statuses = [];
sync.onStatus((s) => statuses.push({ state: s.state, done: s.done, total: s.total }));

async function scenario(items, server) {
  outbox.reset(items);
  globalThis.server = server;
  statuses = [];
  const result = await sync.syncNow("test");
  const after = (await outbox.list()).map((i) => ({ id: i.id, state: i.state, error: i.error || null,
    uploaded: i.photos.map((p) => p.uploaded) }));
  return { result, log: server.log, peak: server.peak, items: after, statuses };
}

const out = { concurrency: sync.CONCURRENCY };

// 1. Twelve independent captures, one photo each: several in flight, never more than the limit.
let jitter = 0;
out.independent = await scenario(Array.from({ length: 12 }, (_, n) => capture(n)),
  makeServer({ delay: () => 5 + (jitter++ % 4) * 3 }));

// 2. A finding, three actions on it (the second with an after-photo), and captures around them; the
//    finding's first answer is slow, so anything not held back by its chain would overtake it.
{
  const items = [capture(100), action("f100", 1), capture(101), action("f100", 2, 1), capture(102), action("f100", 3),
    action("f999", 4), action("f999", 5)];
  out.chain = await scenario(items, makeServer({ delay: (w) => (w.url === "/api/v1/findings/f100" ? 60 : 8) }));
}

// 3. Ten captures; the fourth finding's PUT gets a 503 while others are in flight.
{
  const items = Array.from({ length: 10 }, (_, n) => capture(200 + n));
  const failing = "/api/v1/findings/f203";
  out.transient = await scenario(items, makeServer({
    delay: (w) => (w.url === failing ? 15 : 25),
    answer: (w) => (w.url === failing ? { status: 503, body: { error: { code: "unavailable", message: "busy" } } } : null),
  }));
  // The retry, with a healthy server: finishes the backlog.
  out.transientRetry = await scenario((await outbox.list()), makeServer());
}

// 4. A stale CSRF token: every PUT with the old token is refused with csrf_failed; the session is fetched again once.
{
  let sessions = 0;
  const stale = { status: 400, body: { error: { code: "csrf_failed", message: "stale" } } };
  out.csrf = await scenario(Array.from({ length: 6 }, (_, n) => capture(300 + n, 2)), makeServer({
    delay: () => 10,
    session: () => ({ csrf_token: sessions++ === 0 ? "old" : "new" }),
    answer: (w, csrf) => (w.kind !== "session" && csrf === "old" ? stale : null),
  }));
}

// 5. The session ends mid-run: one sender gets 401, and a little before that answer another one meets
//    a network error (so the run hears of the network first).
out.auth = await scenario(Array.from({ length: 8 }, (_, n) => capture(400 + n)), makeServer({
  delay: (w) => (w.url === "/api/v1/findings/f400" ? 40 : 10),
  answer: (w, csrf, { AuthError, NetworkError }) => {
    if (w.url === "/api/v1/findings/f400") return new AuthError("session expired");
    if (w.url === "/api/v1/findings/f401") return new NetworkError("Failed to fetch");
    return null;
  },
}));

// 6. One capture refused for good (409): the others are sent all the same.
out.refused = await scenario(Array.from({ length: 5 }, (_, n) => capture(500 + n)), makeServer({
  answer: (w) => (w.url === "/api/v1/findings/f501" ? { status: 409, body: { error: { code: "conflict", message: "taken" } } } : null),
}));

process.stdout.write(JSON.stringify(out));
process.exit(0); // the backoff timer of a failed run would keep Node waiting
