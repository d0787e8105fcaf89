/* The sync API (/api/v1) as the phone sees it. No DOM, no storage: callers decide what to keep.
 *
 * Every call resolves with { status, body, headers } for any HTTP answer, and rejects only with
 *   NetworkError — no answer at all (offline, server down, timed out); always worth retrying
 *   AuthError    — 401: the session expired; the caller keeps its data and asks for a login
 */
import { hexToBase64 } from "./util.js";

const BASE = "/api/v1";

export class NetworkError extends Error {
  constructor(message) {
    super(message);
    this.name = "NetworkError";
  }
}

export class AuthError extends Error {
  constructor(message) {
    super(message);
    this.name = "AuthError";
  }
}

async function call(url, { method = "GET", headers = {}, body = undefined, timeoutMs = 30000 } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(url, {
      method, headers, body, credentials: "same-origin", cache: "no-store", redirect: "manual",
      signal: controller.signal,
    });
  } catch (err) {
    throw new NetworkError(err && err.name === "AbortError" ? "timeout" : String(err && err.message));
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 401) throw new AuthError("session expired");
  // A redirect from an API URL means something in between (a captive portal, a login wall) answered.
  if (response.type === "opaqueredirect") throw new NetworkError("redirected");
  let parsed = null;
  const type = response.headers.get("Content-Type") || "";
  try {
    parsed = type.includes("json") ? await response.json() : await response.text();
  } catch (err) {
    // A cut-off body is a network failure, not an answer.
    throw new NetworkError("incomplete response");
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

export function getSession() {
  return call(`${BASE}/session`, { timeoutMs: 15000 });
}

export function getReference(etag) {
  return call(`${BASE}/reference`, { headers: etag ? { "If-None-Match": etag } : {}, timeoutMs: 30000 });
}

/** The body is the bytes the outbox hashed; Content-Digest lets the server refuse a truncated upload. */
export function putPhoto(photoId, bytes, mime, sha256hex, csrfToken) {
  return call(`${BASE}/photos/${encodeURIComponent(photoId)}`, {
    method: "PUT",
    headers: {
      "Content-Type": mime,
      "Content-Digest": `sha-256=:${hexToBase64(sha256hex)}:`,
      "X-CSRFToken": csrfToken,
    },
    body: bytes,
    // Scaled photos are ~300 KB; on one bar of signal that can take a minute.
    timeoutMs: 120000,
  });
}

export function sendRequest(request, csrfToken) {
  return call(request.url, {
    method: request.method,
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
    body: JSON.stringify(request.body),
    timeoutMs: 45000,
  });
}

export function getFinding(id) {
  return call(`${BASE}/findings/${encodeURIComponent(id)}`);
}

/** The inspector's findings changed since `since` (ISO), newest change first; `cursor` pages on. */
export function listMine(since, cursor) {
  let query = "mine=1";
  if (since) query += `&since=${encodeURIComponent(since)}`;
  if (cursor) query += `&cursor=${encodeURIComponent(cursor)}`;
  return call(`${BASE}/findings?${query}`);
}
