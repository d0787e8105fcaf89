/* Sending the outbox. No DOM: the page decides WHEN (open, online, visible, "sync now", the backoff
 * timer, a Background Sync wake-up) and shows the status this module reports.
 *
 * One run at a time across tabs (Web Locks, ifAvailable: a second tab simply skips). Items go oldest
 * first, one at a time: its photos in order, then its request. A transient failure (no network, 5xx)
 * stops the run and leaves the item in place with its per-photo progress; a permanent refusal moves
 * the item to "attention" with the server's reason and the run continues with the next item.
 * 401 stops everything and keeps the outbox: the inspector logs in and the next run resumes.
 */
import * as api from "./api.js";
import { kvSet } from "./db.js";
import * as outbox from "./outbox.js";

const LOCK_NAME = "xc-outbox-sync";
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

async function runOnce(reason) {
  setStatus({ state: "running", done: 0, total: 0, message: "", reason });
  let session;
  try {
    session = await fetchSession();
  } catch (err) {
    return finish(err);
  }
  const mine = (item) => outbox.SENDABLE.has(item.state) && (!item.userId || item.userId === session.user.id);
  // Re-read the queue after every item: a capture saved while this run is going is sent in it too.
  const attempted = new Set();
  for (;;) {
    const waiting = (await outbox.list()).filter((item) => mine(item) && !attempted.has(item.id));
    if (!waiting.length) break;
    const item = waiting[0];
    attempted.add(item.id);
    setStatus({ done: attempted.size - 1, total: attempted.size - 1 + waiting.length });
    try {
      await sendItem(item, session);
    } catch (err) {
      // The item keeps its place: "failed" with the reason, or back to "pending" when it was not its fault.
      if (err instanceof api.AuthError) {
        await outbox.update(item.id, { state: outbox.STATES.pending, error: null, errorCode: null });
      } else {
        await outbox.update(item.id, { state: outbox.STATES.failed, ...describe(err) });
      }
      return finish(err);
    }
  }
  setStatus({ done: attempted.size, total: attempted.size });
  setStatus({ state: "idle", lastSuccessAt: Date.now(), nextRetryAt: null });
  return "done";
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

/** Run `send(csrf)`; a stale CSRF token (400 csrf_failed) is refreshed once. */
async function withCsrf(session, send) {
  let response = await send(session.csrf_token);
  if (isCsrfFailure(response)) {
    const fresh = await fetchSession();
    session.csrf_token = fresh.csrf_token;
    response = await send(session.csrf_token);
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
