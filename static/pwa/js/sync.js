/* Sending the outbox. No DOM: the page decides WHEN (open, online, visible, "sync now", the backoff
 * timer, a Background Sync wake-up) and shows the status this module reports.
 *
 * One run at a time across tabs (Web Locks, ifAvailable: a second tab simply skips). A run keeps up to
 * CONCURRENCY items in flight, oldest first; each item sends its photos in order, then its request.
 * Items that depend on each other share a chain (a finding and every action queued for it, see
 * chainOf) and go strictly one after another, in queue order. A transient failure (no network, 5xx)
 * stops the run from taking new items; the ones in flight finish, the failed one keeps its place and
 * its per-photo progress, and the retry is scheduled once. A permanent refusal moves the item to
 * "attention" with the server's reason and the others go on. 401 stops everything and keeps the
 * outbox: the inspector logs in and the next run resumes. The senders of a run share one session, so
 * a stale CSRF token is refreshed once, by whichever sender meets it first.
 */
import * as api from "./api.js";
import { kvSet } from "./db.js";
import * as outbox from "./outbox.js";

const LOCK_NAME = "xc-outbox-sync";
// Items in flight at once. One item at a time leaves the server idle while the phone does its part of
// each step. Chosen with bench/backlog.py (docs/sync-protocol.md, "Several items at once"): 4 keeps
// both of gunicorn's worker processes busy (each runs one request's Python at a time); 6 was no
// faster, only each request slower, and a phone's uplink is shared by whatever is in flight.
export const CONCURRENCY = 4;
const BACKOFF_BASE_MS = 5000;
const BACKOFF_MAX_MS = 5 * 60 * 1000;
// Photo statuses the server means for good (the bytes or the uuid are wrong, not the weather).
const PHOTO_PERMANENT = new Set([400, 403, 409, 413, 415, 422]);
const REQUEST_PERMANENT = new Set([400, 403, 404, 409, 410, 422]);

class Transient extends Error {
  constructor(message, status = null) {
    super(message);
    this.status = status;
  }
}

/** A transient failure as the item records it: a code the page translates, and the raw detail. */
function describe(err) {
  if (err instanceof api.NetworkError) return { errorCode: err.message === "timeout" ? "timeout" : "network", error: err.message };
  if (err instanceof Transient) return { errorCode: "server", error: err.message };
  return { errorCode: "client", error: String((err && err.message) || err) };
}

class Refused extends Error {
  constructor(response, where) {
    super(errorMessage(response));
    this.status = response.status;
    this.where = where;
    this.fields = (response.body && response.body.error && response.body.error.fields) || {};
    this.code = (response.body && response.body.error && response.body.error.code) || String(response.status);
  }
}

/** The server's reason, with its per-field messages: "记录内容有误… 社区不存在或已停用。" */
function errorMessage(response) {
  const error = response.body && response.body.error;
  if (!error || !error.message) return `HTTP ${response.status}`;
  const details = Object.values(error.fields || {}).filter((v) => typeof v === "string" && v !== error.message);
  return [error.message, ...details].join(" ");
}

function isCsrfFailure(response) {
  return response.status === 400 && response.body && response.body.error && response.body.error.code === "csrf_failed";
}

/** The server's `sha256` of a photo is the hash of the bytes it received (not of its re-encoding). */
export function receivedSha(photoBody) {
  return (photoBody && photoBody.sha256) || null;
}

const listeners = new EventTarget();
let status = { state: "idle", done: 0, total: 0, message: "", lastSuccessAt: null };
let failures = 0;
let timer = null;
let runningHere = false;
let askedAgain = false;

function setStatus(patch) {
  status = { ...status, ...patch };
  listeners.dispatchEvent(new CustomEvent("status", { detail: status }));
}

export function onStatus(callback) {
  listeners.addEventListener("status", (event) => callback(event.detail));
}

export function currentStatus() {
  return status;
}

export function backoffDelay(failureCount, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failureCount - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

function scheduleRetry() {
  clearTimeout(timer);
  failures += 1;
  const delay = backoffDelay(failures);
  timer = setTimeout(() => syncNow("timer"), delay);
  setStatus({ nextRetryAt: Date.now() + delay });
}

/**
 * Start a run unless one is already going (here or in another tab). Resolves with a summary:
 * { ran: false } when skipped, else { ran: true, result: "done" | "offline" | "auth" | "error" }.
 */
export async function syncNow(reason = "manual") {
  if (runningHere) {
    // Asked while running: the run re-reads the queue, and runs once more if it had already finished.
    askedAgain = true;
    return { ran: false, reason: "busy" };
  }
  if (navigator.locks && navigator.locks.request) {
    return navigator.locks.request(LOCK_NAME, { ifAvailable: true }, async (lock) => {
      if (!lock) return { ran: false, reason: "other-tab" };
      return guardedRun(reason);
    });
  }
  return guardedRun(reason);
}

async function guardedRun(reason) {
  runningHere = true;
  clearTimeout(timer);
  try {
    let result;
    do {
      askedAgain = false;
      result = await runOnce(reason);
    } while (result === "done" && askedAgain);
    if (result === "offline" || result === "error") scheduleRetry();
    else failures = 0;
    return { ran: true, result };
  } finally {
    runningHere = false;
  }
}

/**
 * Items that must reach the server in queue order share a chain: a capture and the actions queued for
 * that finding (each action carries the version it expects, one more per action before it). Any other
 * item is its own chain.
 */
export function chainOf(item) {
  const match = /\/findings\/([^/?#]+)/.exec((item.request && item.request.url) || "");
  return match ? decodeURIComponent(match[1]) : item.id;
}

/**
 * The items to start now, oldest first: at most `slots`, and only the first unsent item of each chain.
 * `queue` holds every item of this user still to send, in flight or failed included, so an item never
 * starts while an earlier one of its chain is unfinished.
 */
export function nextItems(queue, started, slots) {
  const picked = [];
  const chains = new Set();
  for (const item of queue) {
    if (picked.length >= slots) break;
    const chain = chainOf(item);
    if (chains.has(chain)) continue;
    chains.add(chain);
    if (!started.has(item.id)) picked.push(item);
  }
  return picked;
}

async function runOnce(reason) {
  setStatus({ state: "running", done: 0, total: 0, message: "", reason });
  let session;
  try {
    session = new SharedSession(await fetchSession());
  } catch (err) {
    return finish(err);
  }
  const userId = session.current.user.id;
  const mine = (item) => outbox.SENDABLE.has(item.state) && (!item.userId || item.userId === userId);
  const started = new Set();
  const inFlight = new Set();
  let done = 0;
  let settled = 0;
  let stop = null; // the failure that ended the run; no new item starts once it is set
  const halt = (err) => { stop = graver(stop, err); };
  for (;;) {
    if (!stop && inFlight.size < CONCURRENCY) {
      // Re-read the queue whenever a slot is free: a capture saved while this run is going is sent in it too.
      const settledBefore = settled;
      const queue = (await outbox.list()).filter(mine);
      setStatus({ done, total: started.size + queue.filter((item) => !started.has(item.id)).length });
      for (const item of nextItems(queue, started, CONCURRENCY - inFlight.size)) {
        started.add(item.id);
        const sending = sendOne(item, session, halt).then((failed) => {
          inFlight.delete(sending);
          settled += 1;
          if (!failed) done += 1;
          setStatus({ done });
        });
        inFlight.add(sending);
      }
      // An item finished while the queue was being read, so the copy may still show it unsent and hold
      // back the next of its chain: read again rather than wait (or stop, if nothing else is in flight).
      if (settled !== settledBefore) continue;
    }
    if (!inFlight.size) break;
    await Promise.race(inFlight);
  }
  if (stop) return finish(stop);
  setStatus({ done, total: done });
  setStatus({ state: "idle", lastSuccessAt: Date.now(), nextRetryAt: null });
  return "done";
}

/**
 * Send one item; resolves with true when it failed (never rejects). A failure calls halt(err) at once,
 * before the item's state is written, so no other sender finishing meanwhile starts a new item.
 */
async function sendOne(item, session, halt) {
  try {
    await sendItem(item, session);
    return false;
  } catch (err) {
    halt(err);
    try {
      // The item keeps its place: "failed" with the reason, or back to "pending" when it was not its fault.
      if (err instanceof api.AuthError) {
        await outbox.update(item.id, { state: outbox.STATES.pending, error: null, errorCode: null });
      } else {
        await outbox.update(item.id, { state: outbox.STATES.failed, ...describe(err) });
      }
    } catch (storageErr) {
      halt(storageErr);
    }
    return true;
  }
}

/** Several senders may fail at once: a lost login outranks the rest (retrying cannot help it). */
function graver(current, err) {
  if (!current) return err;
  return err instanceof api.AuthError && !(current instanceof api.AuthError) ? err : current;
}

function finish(err) {
  if (err instanceof api.AuthError) {
    setStatus({ state: "auth", message: "" });
    return "auth";
  }
  if (err instanceof api.NetworkError) {
    setStatus({ state: "offline", message: err.message });
    return "offline";
  }
  setStatus({ state: "error", message: String(err && err.message) });
  return "error";
}

async function fetchSession() {
  const response = await api.getSession();
  if (response.status !== 200 || !response.body || !response.body.user) {
    throw new Transient(`session: HTTP ${response.status}`, response.status);
  }
  await kvSet("session", { ...response.body, fetchedAt: new Date().toISOString() });
  return response.body;
}

/** The run's session, shared by its senders: however many meet a stale token, it is fetched once. */
class SharedSession {
  constructor(session) {
    this.current = session;
    this.refreshing = null;
  }

  async refresh(staleToken) {
    if (this.current.csrf_token !== staleToken) return; // another sender has already refreshed it
    if (!this.refreshing) {
      this.refreshing = fetchSession()
        .then((fresh) => { this.current = fresh; })
        .finally(() => { this.refreshing = null; });
    }
    await this.refreshing;
  }
}

/** Run `send(csrf)`; a stale CSRF token (400 csrf_failed) is refreshed once and the request repeated. */
async function withCsrf(session, send) {
  const token = session.current.csrf_token;
  let response = await send(token);
  if (isCsrfFailure(response)) {
    await session.refresh(token);
    response = await send(session.current.csrf_token);
  }
  return response;
}

async function sendItem(item, session) {
  await outbox.update(item.id, { state: outbox.STATES.sending, error: null, errorCode: null, attempts: (item.attempts || 0) + 1,
    lastAttemptAt: new Date().toISOString() });
  try {
    await uploadPhotos(item, session);
    let response = await withCsrf(session, (csrf) => api.sendRequest(item.request, csrf));
    const missing = missingPhotoIds(response, item);
    if (missing.length) {
      // The server has no record of photos we thought uploaded (collected, or a restore): send them again, once.
      await outbox.resetPhotos(item.id, missing);
      await uploadPhotos(await outbox.get(item.id), session);
      response = await withCsrf(session, (csrf) => api.sendRequest(item.request, csrf));
    }
    if (response.status === 200 || response.status === 201) {
      checkPhotoHashes(item, response.body);
      await outbox.markSent(item.id, {
        serverStatus: (response.body && response.body.status) || null,
        serverId: (response.body && response.body.id) || null,
      });
      return;
    }
    if (REQUEST_PERMANENT.has(response.status)) throw new Refused(response, "request");
    throw new Transient(`HTTP ${response.status}`, response.status);
  } catch (err) {
    if (err instanceof Refused) {
      await outbox.update(item.id, {
        state: outbox.STATES.attention,
        error: err.message,
        errorCode: err.code,
        errorDetail: { status: err.status, code: err.code, fields: err.fields, where: err.where },
      });
      return;
    }
    throw err;
  }
}

async function uploadPhotos(item, session) {
  for (const photo of item.photos) {
    if (photo.uploaded) continue;
    const stored = await outbox.photoBytes(photo.id);
    if (!stored) throw new Refused({ status: 0, body: { error: { code: "photo_lost", message: `photo ${photo.id} missing on this phone` } } }, "photo");
    const response = await withCsrf(session, (csrf) => api.putPhoto(photo.id, stored.bytes, stored.mime, photo.sha256, csrf));
    if (response.status === 200 || response.status === 201) {
      if (receivedSha(response.body) !== photo.sha256) {
        throw new Refused({ status: response.status, body: { error: { code: "hash_mismatch",
          message: `server received different bytes for photo ${photo.id}` } } }, "photo");
      }
      await outbox.markPhotoUploaded(item.id, photo.id);
    } else if (PHOTO_PERMANENT.has(response.status)) {
      throw new Refused(response, "photo");
    } else {
      throw new Transient(`photo HTTP ${response.status}`, response.status);
    }
  }
}

function missingPhotoIds(response, item) {
  if (response.status !== 422) return [];
  const fields = (response.body && response.body.error && response.body.error.fields) || {};
  const missing = Array.isArray(fields.missing_photo_ids) ? fields.missing_photo_ids : [];
  return item.photos.filter((p) => missing.includes(p.id)).map((p) => p.id);
}

/** The bytes are deleted only when the server's record of every photo matches what we hashed. */
function checkPhotoHashes(item, body) {
  if (!body || !Array.isArray(body.photos)) {
    if (item.kind === "finding" && item.photos.length) {
      throw new Transient("server response lacks the photo list");
    }
    return;
  }
  for (const photo of item.photos) {
    const server = body.photos.find((p) => p.id === photo.id);
    if (!server || receivedSha(server) !== photo.sha256) {
      throw new Refused({ status: 0, body: { error: { code: "hash_mismatch",
        message: `photo ${photo.id} is not on the server as sent` } } }, "request");
    }
  }
}
