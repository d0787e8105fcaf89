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
import { nearestSite, sitesByDistance } from "./reference.js";
import { isoLocal, sha256Hex, uuid } from "./util.js";

const COLLAPSED_CATEGORIES = 6;
const MAX_SITE_CHIPS = 8;
const MAX_CAPTURE_AGE_MS = 7 * 24 * 3600 * 1000;

export function createCapture({ getUserId, locale, onSaved, toast }) {
  let ref = null;
  let draft = null;
  let usage = {};
  let showAllCategories = false;
  let siteQuery = "";
  let processing = Promise.resolve();
  let saving = false;
  const thumbs = new UrlPool();

  const catName = (c) => (locale === "en" ? c.name_en : c.name_zh) || c.code;
  const byId = (list, id) => (list || []).find((x) => x.id === id) || null;
  const community = () => byId(ref && ref.communities, draft.communityId);
  const site = () => byId(ref && ref.sites, draft.siteId);

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
    const market = site() && site().kind === "market";
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

  /* ---------- place ---------- */

  function renderCommunities() {
    const select = $("xc-community");
    const streets = (ref && ref.streets) || [];
    const groups = streets.map((street) => {
      const options = ref.communities.filter((c) => c.street_id === street.id)
        .map((c) => el("option", { value: c.id, text: c.name, selected: c.id === draft.communityId }));
      return options.length ? el("optgroup", { label: street.name }, options) : null;
    }).filter(Boolean);
    const placeholder = el("option", { value: "", text: t("choose_community"), selected: !draft.communityId });
    select.replaceChildren(placeholder, ...groups);
  }

  function chooseSite(chosen) {
    if (chosen) {
      draft.siteId = chosen.id;
      draft.communityId = chosen.community_id;
    } else {
      draft.siteId = null;
    }
    draft.zoneId = null;
    siteQuery = "";
    $("xc-site-search").value = "";
    showError("");
    persist();
    renderPlace();
    renderCategories();
  }

  function siteChoices() {
    const sites = (ref && ref.sites) || [];
    const fix = geo.current();
    if (siteQuery) {
      const q = siteQuery.toLowerCase();
      return sites.filter((s) => s.name.toLowerCase().includes(q) || (s.address || "").toLowerCase().includes(q))
        .slice(0, MAX_SITE_CHIPS * 2);
    }
    let local = sites.filter((s) => s.community_id === draft.communityId);
    if (fix) {
      const order = new Map(sitesByDistance({ sites: local }, fix).map((x, i) => [x.site.id, i]));
      local = [...local].sort((a, b) => (order.get(a.id) ?? 1e9) - (order.get(b.id) ?? 1e9));
    }
    return local.slice(0, MAX_SITE_CHIPS);
  }

  function renderSites() {
    const chips = [];
    const selected = site();
    if (selected) {
      chips.push(el("button", { type: "button", class: "xc-chip", "aria-pressed": "true", text: selected.name,
        onclick: () => chooseSite(null) }));
      chips.push(el("button", { type: "button", class: "xc-chip xc-chip-clear", text: t("no_site"), onclick: () => chooseSite(null) }));
    }
    for (const s of siteChoices()) {
      if (selected && s.id === selected.id) continue;
      const other = s.community_id !== draft.communityId ? byId(ref.communities, s.community_id) : null;
      const label = other ? t("site_other_community", { site: s.name, community: other.name }) : s.name;
      chips.push(el("button", { type: "button", class: "xc-chip", "aria-pressed": "false", text: label, onclick: () => chooseSite(s) }));
    }
    if (!chips.length && siteQuery) chips.push(el("span", { class: "muted", text: t("no_sites_found") }));
    $("xc-sites").replaceChildren(...chips);
  }

  function renderZones() {
    const s = site();
    const zones = s && s.kind === "market" ? ref.zones.filter((z) => z.site_id === s.id) : [];
    $("xc-zone-field").hidden = zones.length === 0;
    $("xc-zones").replaceChildren(...zones.map((zone) => el("button", {
      type: "button", class: "xc-chip", "aria-pressed": String(zone.id === draft.zoneId), text: zone.name,
      onclick: () => {
        draft.zoneId = draft.zoneId === zone.id ? null : zone.id;
        persist();
        renderZones();
        renderSummary();
      },
    })));
  }

  function distanceText(metres) {
    return metres < 1000 ? t("metres", { n: Math.round(metres) }) : t("kilometres", { n: (metres / 1000).toFixed(1) });
  }

  function renderNearby() {
    const button = $("xc-nearby");
    const fix = geo.current();
    const near = ref && fix ? nearestSite(ref, fix) : null;
    if (!near || near.site.id === draft.siteId) {
      button.hidden = true;
      return;
    }
    button.textContent = t("nearby", { name: near.site.name, distance: distanceText(near.distance) });
    button.hidden = false;
    button.onclick = () => chooseSite(near.site);
  }

  function renderSummary() {
    const link = $("xc-place-summary");
    const zone = byId(ref && ref.zones, draft.zoneId);
    const parts = [community() && community().name, site() && site().name, zone && zone.name].filter(Boolean);
    link.textContent = parts.length ? t("place_summary", { place: parts.join(" · ") }) : t("place_none");
    link.classList.toggle("xc-place-missing", !parts.length);
  }

  function renderPlace() {
    renderSummary();
    renderCommunities();
    renderNearby();
    renderSites();
    renderZones();
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
    const zone = byId(ref.zones, draft.zoneId);
    return {
      title: kind === "ok" ? t("kind_ok") : catName(cat),
      subtitle: [community() && community().name, site() && site().name, zone && zone.name].filter(Boolean).join(" · "),
    };
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
      siteQuery = "";
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
    renderPlace();
  }

  /* ---------- wiring ---------- */

  function wire() {
    for (const id of ["xc-camera", "xc-gallery"]) {
      const input = $(id);
      // The tags reach IndexedDB before the camera app takes the phone's memory.
      input.addEventListener("click", () => persist());
      input.addEventListener("change", () => onFiles(input).catch((err) => showError(t("save_failed", { reason: err.message }))));
    }
    $("xc-community").addEventListener("change", (event) => {
      draft.communityId = Number(event.target.value) || null;
      const s = site();
      if (s && s.community_id !== draft.communityId) {
        draft.siteId = null;
        draft.zoneId = null;
      }
      showError("");
      persist();
      renderPlace();
      renderCategories();
    });
    $("xc-site-search").addEventListener("input", (event) => {
      siteQuery = event.target.value.trim();
      renderSites();
    });
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
      renderNearby();
      if (!siteQuery) renderSites();
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
