/* The capture in progress, kept in IndexedDB from the first tap so a killed tab loses nothing:
 * the tags are written before the camera opens, the picked file's bytes the moment the picker
 * returns, and each photo is replaced by its downscaled version once ready. No DOM.
 *
 * draft = { id (the future finding's UUID), startedAt, capturedAt, communityId, siteId, zoneId,
 *           categoryCode, note, location, photos: [{ id, mime, state: "raw"|"ready"|"original",
 *           sha256?, size?, width?, height?, thumb? }] }
 */
import { kvGet, kvSet, req, run } from "./db.js";
import { uuid } from "./util.js";

export const DRAFT_KEY = "draft";

export function fresh(tags = {}) {
  return {
    id: uuid(), startedAt: new Date().toISOString(), capturedAt: null, communityId: null, siteId: null,
    zoneId: null, categoryCode: null, note: "", location: null, photos: [], ...tags,
  };
}

export async function load() {
  return (await kvGet(DRAFT_KEY)) || null;
}

export function save(draft) {
  return kvSet(DRAFT_KEY, draft);
}

/** Store the picked files' bytes as they are, together with the draft that lists them. */
export async function addRawPhotos(draft, files) {
  await run(["photos", "kv"], "readwrite", async (tx) => {
    for (const file of files) {
      tx.objectStore("photos").put({ id: file.id, owner: draft.id, mime: file.mime, bytes: file.bytes, raw: true });
      draft.photos.push({ id: file.id, mime: file.mime, state: "raw", size: file.bytes.byteLength });
    }
    tx.objectStore("kv").put(draft, DRAFT_KEY);
  });
  return draft;
}

/** Swap a raw photo for its prepared version (or mark the original as final when it could not be scaled). */
export async function replacePhoto(draft, photoId, prepared) {
  const meta = draft.photos.find((p) => p.id === photoId);
  if (!meta) return draft; // removed by the inspector meanwhile
  await run(["photos", "kv"], "readwrite", async (tx) => {
    const store = tx.objectStore("photos");
    if (prepared.bytes) {
      store.put({ id: photoId, owner: draft.id, mime: prepared.mime, bytes: prepared.bytes, sha256: prepared.sha256, raw: false });
    } else {
      const stored = await req(store.get(photoId));
      if (stored) store.put({ ...stored, sha256: prepared.sha256, raw: false });
    }
    Object.assign(meta, {
      state: prepared.bytes ? "ready" : "original", mime: prepared.mime || meta.mime, sha256: prepared.sha256,
      size: prepared.bytes ? prepared.bytes.byteLength : meta.size, width: prepared.width, height: prepared.height,
      thumb: prepared.thumb || null,
    });
    tx.objectStore("kv").put(draft, DRAFT_KEY);
  });
  return draft;
}

export async function removePhoto(draft, photoId) {
  draft.photos = draft.photos.filter((p) => p.id !== photoId);
  await run(["photos", "kv"], "readwrite", async (tx) => {
    tx.objectStore("photos").delete(photoId);
    tx.objectStore("kv").put(draft, DRAFT_KEY);
  });
  return draft;
}

export async function photoBytes(photoId) {
  return run(["photos"], "readonly", (tx) => req(tx.objectStore("photos").get(photoId)));
}
