/* The capture screen. The common case is three taps or fewer after the photo: the community is
 * remembered, the category grid puts the inspector's most-used first, then "保存问题".
 *
 * Durability order (a low-memory phone may kill the tab while the camera is up): the draft's tags
 * are in IndexedDB before the camera opens, the picked bytes the moment the picker returns, then
 * each photo is downscaled and replaced; saving writes the record and its photos in one transaction
 * and reads them back before the screen says "已保存".
 */
import { kvGet, kvSet } from "./db.js";
import { $, el, UrlPool } from "./dom.js";
import * as drafts from "./draft.js";
import * as geo from "./geo.js";
import { t } from "./i18n.js";
import { preparePhoto } from "./image.js";
import * as outbox from "./outbox.js";
import { createPlacePicker } from "./place.js";
import { isoLocal, sha256Hex, uuid } from "./util.js";

const COLLAPSED_CATEGORIES = 6;
const MAX_CAPTURE_AGE_MS = 7 * 24 * 3600 * 1000;

export function createCapture({ getUserId, locale, onSaved, toast }) {
  let ref = null;
  let draft = null;
  let usage = {};
  let showAllCategories = false;
  let processing = Promise.resolve();
  let saving = false;
  const thumbs = new UrlPool();

  const catName = (c) => (locale === "en" ? c.name_en : c.name_zh) || c.code;
  const place = createPlacePicker({
    getRef: () => ref,
    getDraft: () => draft,
    onChange: () => {
      showError("");
      persist();
      renderCategories(); // a market puts its own categories first
    },
  });

  function persist() {
    return drafts.save(draft).catch(() => {});
  }

  function showError(message) {
    const box = $("xc-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  /* ---------- photos ---------- */

  function capturedAt(file) {
    // A camera shot's lastModified is "now"; a gallery pick's is when it was taken, which is what counts.
    const now = Date.now();
    const stamp = file.lastModified;
    return stamp && stamp <= now + 60000 && now - stamp < MAX_CAPTURE_AGE_MS ? new Date(Math.min(stamp, now)) : new Date(now);
  }

  async function onFiles(input) {
    const files = [...input.files];
    input.value = "";
    if (!files.length) return;
    showError("");
    if (!draft.capturedAt) {
      draft.capturedAt = isoLocal(capturedAt(files[0]));
      draft.location = geo.current();
    }
    const raws = [];
    for (const file of files) {
      raws.push({ id: uuid(), mime: file.type || "image/jpeg", bytes: await file.arrayBuffer() });
    }
    await drafts.addRawPhotos(draft, raws);
    renderPhotos();
    for (const raw of raws) queuePrepare(raw.id, raw.bytes, raw.mime);
  }

  function queuePrepare(photoId, bytes, mime) {
    // One at a time: two 12 MP decodes at once is how low-memory phones lose the tab.
    processing = processing.then(() => prepare(photoId, bytes, mime)).catch(() => {});
  }

  async function prepare(photoId, bytes, mime) {
    const draftId = draft.id;
    let prepared;
    try {
      prepared = await preparePhoto(bytes, mime);
      prepared.sha256 = await sha256Hex(prepared.bytes);
    } catch (err) {
      // Undecodable here (e.g. HEIC outside Safari): keep the original, the server judges it.
      prepared = { sha256: await sha256Hex(bytes), mime };
    }
    if (draft.id !== draftId) return;
    await drafts.replacePhoto(draft, photoId, prepared);
    renderPhotos();
  }

  async function restorePending() {
    for (const photo of draft.photos) {
      if (photo.state !== "raw") continue;
      const stored = await drafts.photoBytes(photo.id);
      if (stored) queuePrepare(photo.id, stored.bytes, stored.mime);
      else draft.photos = draft.photos.filter((p) => p.id !== photo.id);
    }
  }

  function renderPhotos() {
    const list = $("xc-photos");
    const keys = new Set();
    list.replaceChildren(...draft.photos.map((photo) => {
      keys.add(photo.id);
      const remove = el("button", {
        type: "button", class: "xc-photo-remove", "aria-label": t("remove_photo"), text: "×",
        onclick: async () => {
          await drafts.removePhoto(draft, photo.id);
          if (!draft.photos.length) draft.capturedAt = null;
          renderPhotos();
        },
      });
      let body;
      if (photo.thumb) {
        body = el("img", { src: thumbs.url(photo.id, photo.thumb.bytes, photo.thumb.mime), alt: "" });
      } else {
        body = el("span", { class: "xc-photo-wait", text: photo.state === "raw" ? t("processing") : t("photo_original") });
      }
      return el("li", { class: "xc-photo", dataset: { state: photo.state } }, [body, remove]);
    }));
    thumbs.keepOnly(keys);
    list.hidden = draft.photos.length === 0;
  }

  /* ---------- categories ---------- */

  function sortedCategories() {
    const cats = [...((ref && ref.categories) || [])];
    const market = place.site() && place.site().kind === "market";
    return cats.sort((a, b) => {
      // At a market the market rules come first: that is what the inspector is there to check.
      if (market && (a.routes_to === "market") !== (b.routes_to === "market")) return a.routes_to === "market" ? -1 : 1;
      return (usage[b.code] || 0) - (usage[a.code] || 0) || a.sort_order - b.sort_order;
    });
  }

  function renderCategories() {
    const all = sortedCategories();
    let shown = showAllCategories ? all : all.slice(0, COLLAPSED_CATEGORIES);
    const chosen = all.find((c) => c.code === draft.categoryCode);
    if (chosen && !shown.includes(chosen)) shown = [...shown, chosen];
    $("xc-categories").replaceChildren(...shown.map((cat) => el("button", {
      type: "button", class: "xc-cat", "aria-pressed": String(cat.code === draft.categoryCode),
      dataset: { code: cat.code }, text: catName(cat),
      onclick: () => {
        draft.categoryCode = draft.categoryCode === cat.code ? null : cat.code;
        showError("");
        persist();
        renderCategories();
      },
    })));
    const more = $("xc-more-cats");
    more.hidden = all.length <= COLLAPSED_CATEGORIES;
    more.textContent = showAllCategories ? t("fewer_categories") : t("more_categories", { n: all.length - COLLAPSED_CATEGORIES });
  }

  function renderGeo({ fix, problem }) {
    const line = $("xc-geo");
    if (fix) line.textContent = t("geo_ok", { n: Math.round(fix.accuracy_m) });
    else if (problem === "denied") line.textContent = t("geo_denied");
    else if (problem) line.textContent = t("geo_unavailable");
    else line.textContent = t("geo_waiting");
  }

  /* ---------- saving ---------- */

  function validate(kind) {
    if (!ref) return t("no_reference");
    if (kind === "problem" && !draft.photos.length) return t("need_photo");
    if (!draft.communityId) return t("need_community");
    if (kind === "problem" && !draft.categoryCode) return t("need_category");
    if (kind === "ok" && !draft.siteId) return t("need_site_for_ok");
    return null;
  }

  function requestBody(kind) {
    const body = {
      kind,
      captured_at: draft.capturedAt || isoLocal(),
      community_id: draft.communityId,
      photo_ids: draft.photos.map((p) => p.id),
    };
    if (draft.siteId) body.site_id = draft.siteId;
    if (draft.zoneId) body.zone_id = draft.zoneId;
    if (kind === "problem") body.category_code = draft.categoryCode;
    const note = draft.note.trim();
    if (note) body.note = note;
    const location = draft.location || geo.current();
    if (location) body.location = location;
    return body;
  }

  function summary(kind) {
    const cat = ((ref && ref.categories) || []).find((c) => c.code === draft.categoryCode);
    return { title: kind === "ok" ? t("kind_ok") : catName(cat), subtitle: place.describe() };
  }

  async function save(kind) {
    if (saving) return;
    const problem = validate(kind);
    if (problem) {
      showError(problem);
      return;
    }
    saving = true;
    $("xc-save").disabled = true;
    $("xc-ok").disabled = true;
    showError("");
    try {
      await processing;
      if (draft.photos.some((p) => p.state === "raw")) throw new Error(t("wait_photos"));
      const photos = [];
      for (const meta of draft.photos) {
        const stored = await drafts.photoBytes(meta.id);
        if (!stored) throw new Error(`photo ${meta.id} missing`);
        photos.push({ id: meta.id, mime: stored.mime, bytes: stored.bytes, sha256: meta.sha256, uploaded: false,
          width: meta.width, height: meta.height });
      }
      const first = draft.photos.find((p) => p.thumb);
      const item = {
        id: draft.id,
        kind: "finding",
        userId: getUserId(),
        photos,
        request: { method: "PUT", url: `/api/v1/findings/${draft.id}`, body: requestBody(kind) },
        createdAt: new Date().toISOString(),
        summary: summary(kind),
        thumb: first ? first.thumb : null,
      };
      const stored = await outbox.enqueue(item, { draftKey: drafts.DRAFT_KEY });
      if (kind === "problem") {
        usage[draft.categoryCode] = (usage[draft.categoryCode] || 0) + 1;
        await kvSet("categoryUsage", usage);
      }
      await kvSet("prefs", { lastCommunityId: draft.communityId });
      // The next capture is usually at the same place: keep community and site, clear the rest.
      draft = drafts.fresh({ communityId: draft.communityId, siteId: draft.siteId });
      await persist();
      $("xc-note").value = "";
      $("xc-note-box").open = false;
      renderAll();
      onSaved(stored);
    } catch (err) {
      showError(t("save_failed", { reason: err.message || err }));
    } finally {
      saving = false;
      $("xc-save").disabled = false;
      $("xc-ok").disabled = false;
    }
  }

  function renderAll() {
    renderPhotos();
    renderCategories();
    place.render();
  }

  /* ---------- wiring ---------- */

  function wire() {
    for (const id of ["xc-camera", "xc-gallery"]) {
      const input = $(id);
      // The tags reach IndexedDB before the camera app takes the phone's memory.
      input.addEventListener("click", () => persist());
      input.addEventListener("change", () => onFiles(input).catch((err) => showError(t("save_failed", { reason: err.message }))));
    }
    place.wire();
    $("xc-more-cats").addEventListener("click", () => {
      showAllCategories = !showAllCategories;
      renderCategories();
    });
    $("xc-note").addEventListener("input", (event) => {
      draft.note = event.target.value;
      persist();
    });
    $("xc-save").addEventListener("click", () => save("problem"));
    $("xc-ok").addEventListener("click", () => save("ok"));
    geo.onChange((state) => {
      renderGeo(state);
      if (!draft.location && draft.capturedAt && state.fix) draft.location = geo.current();
    });
  }

  async function start(reference) {
    ref = reference;
    usage = (await kvGet("categoryUsage")) || {};
    const prefs = (await kvGet("prefs")) || {};
    const restored = await drafts.load();
    if (restored) {
      draft = restored;
      if (draft.photos.length) toast(t("draft_restored"));
      await restorePending();
    } else {
      draft = drafts.fresh({ communityId: prefs.lastCommunityId || null });
      await persist();
    }
    $("xc-note").value = draft.note || "";
    if (draft.note) $("xc-note-box").open = true;
    // Whatever the drafts no longer list (a removed photo, a crash mid-save) is released now.
    outbox.collectOrphanPhotos([draft.id]).catch(() => {});
    wire();
    renderGeo({ fix: null, problem: null });
    geo.start();
    renderAll();
  }

  function setReference(reference) {
    ref = reference;
    renderAll();
  }

  return { start, setReference };
}
