/* The outbox: a FIFO of writes waiting for the server, in IndexedDB. No DOM code.
 *
 * Generic on purpose: captures ("finding") and later workflow actions ("action": acknowledge, rectify
 * with after-photos …) share it. An item is
 *
 *   { id,                      // the client UUID the server keys its idempotent write on
 *     kind: "finding" | "action",
 *     userId,                  // who captured it; only that user's session sends it
 *     photos: [{ id, mime, bytes: ArrayBuffer, sha256 (hex), uploaded: bool, width?, height? }],
 *     request: { method: "PUT", url, body },   // sent as JSON after every photo is uploaded
 *     state, error, createdAt, serverStatus,
 *     summary?, thumb? }       // for display only: { title, subtitle }, { bytes, mime }
 *
 * States: "pending" (waiting) → "sending" → "sent" (server confirmed; photo bytes deleted)
 *         "failed"    (transient: network/server trouble; retried, keeps its place in the queue)
 *         "attention" (the server refused it for good; kept, with the server's reason, until the
 *                      inspector retries or deletes it — never dropped silently)
 *
 * API
 *   enqueue(item, {draftKey})  store item + photo bytes in ONE transaction, read back and verify the
 *                              bytes' sha256; resolves with the stored item only when it is safe.
 *                              A kv draft under draftKey with the same id is deleted in that transaction.
 *   list()                     all items, oldest first (photo bytes not included)
 *   get(id), photoBytes(photoId) → { bytes, mime } | undefined
 *   update(id, patch), markPhotoUploaded(id, photoId), resetPhotos(id, photoIds)
 *   markSent(id, { serverStatus, serverId })   deletes the photo bytes; call only after the server
 *                              confirmed the item with matching photo hashes
 *   setServerStatus(map)       refresh serverStatus of sent items ({ id: status })
 *   remove(id), clearSent(), counts(), collectOrphanPhotos(keepOwners)
 *   onChange(callback)         called after changes (at most every 150 ms), in this tab and in other tabs
 */
import { req, run } from "./db.js";
import { sha256Hex } from "./util.js";

export const STATES = Object.freeze({
  pending: "pending", sending: "sending", failed: "failed", attention: "attention", sent: "sent",
});
export const UNSENT = new Set([STATES.pending, STATES.sending, STATES.failed, STATES.attention]);
export const SENDABLE = new Set([STATES.pending, STATES.sending, STATES.failed]);

const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("xc-outbox") : null;
const local = new EventTarget();

function notify() {
  local.dispatchEvent(new Event("change"));
  if (channel) channel.postMessage({ type: "changed" });
}

/** The first change calls at once; further changes within `wait` ms make one more call at its end.
 * A syncing backlog changes the outbox several times per item, and each call re-reads the whole list
 * and redraws it. */
export function onChange(callback, wait = 150) {
  let timer = null;
  let again = false;
  const tick = () => {
    if (again) {
      again = false;
      timer = setTimeout(tick, wait);
      callback();
    } else {
      timer = null;
    }
  };
  const changed = () => {
    if (timer !== null) {
      again = true;
      return;
    }
    timer = setTimeout(tick, wait);
    callback();
  };
  local.addEventListener("change", changed);
  if (channel) channel.addEventListener("message", changed);
}

function checkItem(item) {
  if (!item || !item.id || !["finding", "action"].includes(item.kind)) throw new TypeError("outbox item needs id and kind");
  if (!item.request || !item.request.url || !item.request.method) throw new TypeError("outbox item needs a request");
  for (const photo of item.photos || []) {
    if (!photo.id || !photo.mime || !(photo.bytes instanceof ArrayBuffer) || !/^[0-9a-f]{64}$/.test(photo.sha256 || "")) {
      throw new TypeError(`photo ${photo.id} needs id, mime, ArrayBuffer bytes and a sha256`);
    }
  }
}

export async function enqueue(item, { draftKey = null } = {}) {
  checkItem(item);
  const photos = item.photos || [];
  const record = {
    ...item,
    photos: photos.map(({ bytes, ...meta }) => ({ ...meta, size: bytes.byteLength, uploaded: Boolean(meta.uploaded) })),
    state: STATES.pending,
    error: null,
    serverStatus: null,
    attempts: 0,
    createdAt: item.createdAt || new Date().toISOString(),
  };
  await run(["outbox", "photos", "kv"], "readwrite", async (tx) => {
    const photoStore = tx.objectStore("photos");
    const keep = new Set(photos.map((p) => p.id));
    // Bytes of photos the inspector removed from the draft go with it.
    const old = await req(photoStore.index("owner").getAllKeys(item.id));
    for (const key of old) if (!keep.has(key)) photoStore.delete(key);
    for (const photo of photos) {
      photoStore.put({ id: photo.id, owner: item.id, mime: photo.mime, bytes: photo.bytes, sha256: photo.sha256 });
    }
    tx.objectStore("outbox").put(record);
    if (draftKey) {
      const draft = await req(tx.objectStore("kv").get(draftKey));
      if (draft && draft.id === item.id) tx.objectStore("kv").delete(draftKey);
    }
  });
  const stored = await readBack(item.id);
  notify();
  return stored;
}

/** Re-read what enqueue wrote, from a fresh transaction, and prove every photo's bytes are intact. */
async function readBack(id) {
  const { record, blobs } = await run(["outbox", "photos"], "readonly", async (tx) => {
    const rec = await req(tx.objectStore("outbox").get(id));
    const found = [];
    for (const photo of (rec && rec.photos) || []) found.push(await req(tx.objectStore("photos").get(photo.id)));
    return { record: rec, blobs: found };
  });
  if (!record) throw new Error(`outbox item ${id} was not stored`);
  for (let i = 0; i < record.photos.length; i += 1) {
    const meta = record.photos[i];
    const stored = blobs[i];
    if (!stored || !(stored.bytes instanceof ArrayBuffer) || stored.bytes.byteLength !== meta.size
        || (await sha256Hex(stored.bytes)) !== meta.sha256) {
      throw new Error(`photo ${meta.id} did not read back intact`);
    }
  }
  return record;
}

export function list() {
  return run(["outbox"], "readonly", (tx) => req(tx.objectStore("outbox").index("createdAt").getAll()));
}

export function get(id) {
  return run(["outbox"], "readonly", (tx) => req(tx.objectStore("outbox").get(id)));
}

export async function photoBytes(photoId) {
  const stored = await run(["photos"], "readonly", (tx) => req(tx.objectStore("photos").get(photoId)));
  return stored ? { bytes: stored.bytes, mime: stored.mime } : undefined;
}

async function mutate(id, change) {
  const result = await run(["outbox"], "readwrite", async (tx) => {
    const store = tx.objectStore("outbox");
    const record = await req(store.get(id));
    if (!record) return undefined;
    change(record);
    store.put(record);
    return record;
  });
  notify();
  return result;
}

export function update(id, patch) {
  return mutate(id, (record) => Object.assign(record, patch));
}

export function markPhotoUploaded(id, photoId) {
  return mutate(id, (record) => {
    for (const photo of record.photos) if (photo.id === photoId) photo.uploaded = true;
  });
}

/** The server lost track of these photos (e.g. never attached and collected): upload them again. */
export function resetPhotos(id, photoIds) {
  return mutate(id, (record) => {
    for (const photo of record.photos) if (photoIds.includes(photo.id)) photo.uploaded = false;
  });
}

export async function markSent(id, { serverStatus = null, serverId = null } = {}) {
  await run(["outbox", "photos"], "readwrite", async (tx) => {
    const store = tx.objectStore("outbox");
    const record = await req(store.get(id));
    if (!record) return;
    Object.assign(record, { state: STATES.sent, error: null, serverStatus, serverId, sentAt: new Date().toISOString() });
    for (const photo of record.photos) photo.uploaded = true;
    store.put(record);
    const photoStore = tx.objectStore("photos");
    for (const key of await req(photoStore.index("owner").getAllKeys(id))) photoStore.delete(key);
  });
  notify();
}

export async function setServerStatus(statusById) {
  let changed = false;
  await run(["outbox"], "readwrite", async (tx) => {
    const store = tx.objectStore("outbox");
    for (const record of await req(store.getAll())) {
      const status = statusById[record.id];
      if (record.state === STATES.sent && status && status !== record.serverStatus) {
        record.serverStatus = status;
        store.put(record);
        changed = true;
      }
    }
  });
  if (changed) notify();
}

async function removeWhere(pick) {
  await run(["outbox", "photos"], "readwrite", async (tx) => {
    const store = tx.objectStore("outbox");
    const photoStore = tx.objectStore("photos");
    for (const record of await req(store.getAll())) {
      if (!pick(record)) continue;
      store.delete(record.id);
      for (const key of await req(photoStore.index("owner").getAllKeys(record.id))) photoStore.delete(key);
    }
  });
  notify();
}

export function remove(id) {
  return removeWhere((record) => record.id === id);
}

export function clearSent() {
  return removeWhere((record) => record.state === STATES.sent);
}

export async function counts() {
  const items = await list();
  const result = { unsent: 0, sendable: 0, attention: 0, sent: 0 };
  for (const item of items) {
    if (UNSENT.has(item.state)) result.unsent += 1;
    if (SENDABLE.has(item.state)) result.sendable += 1;
    if (item.state === STATES.attention) result.attention += 1;
    if (item.state === STATES.sent) result.sent += 1;
  }
  return result;
}

/** Delete photo bytes whose owner is neither an outbox item nor one of keepOwners (open drafts). */
export async function collectOrphanPhotos(keepOwners = []) {
  return run(["outbox", "photos"], "readwrite", async (tx) => {
    const owners = new Set([...(await req(tx.objectStore("outbox").getAllKeys())), ...keepOwners]);
    const photoStore = tx.objectStore("photos");
    // A key cursor on the owner index: ids and owners only, never the bytes.
    const doomed = [];
    await new Promise((resolve, reject) => {
      const cursorRequest = photoStore.index("owner").openKeyCursor();
      cursorRequest.onerror = () => reject(cursorRequest.error);
      cursorRequest.onsuccess = () => {
        const cursor = cursorRequest.result;
        if (!cursor) return resolve();
        if (!owners.has(cursor.key)) doomed.push(cursor.primaryKey);
        cursor.continue();
      };
    });
    for (const key of doomed) photoStore.delete(key);
    return doomed.length;
  });
}
