/* "我的任务" and "待核查": acknowledge, rectify (after-photos + note), dispute, verify and reopen work
 * with no signal. Each action goes into the same IndexedDB outbox as captures — its photos first,
 * then one PUT /api/v1/findings/{uuid}/actions/{action uuid} — and sync.js sends it when the network
 * is back (on `online`, on becoming visible, on its backoff timer). The action UUID makes a resend
 * harmless. Without IndexedDB the form simply posts to the server as it would without JavaScript.
 */
import { startCountdowns } from "./countdown.js";
import * as geo from "./geo.js";
import { readJson, t } from "./i18n.js";
import { preparePhoto } from "./image.js";
import * as outbox from "./outbox.js";
import * as sync from "./sync.js";
import { distanceM, sha256Hex, uuid } from "./util.js";

const config = readJson("tk-config") || {};
const $ = (id) => document.getElementById(id);
const queuedHere = new Map(); // action id → card, for the actions this page put in the outbox

function cardOf(node) {
  return node.closest("[data-finding]");
}

/** The version the server will have when this action arrives: one more per action queued before it. */
function expectedVersion(card) {
  return Number(card.dataset.version) + Number(card.dataset.queued || 0);
}

async function photosFrom(form) {
  const files = [...(form.querySelector('input[type="file"]')?.files || [])];
  const photos = [];
  for (const file of files) {
    const original = await file.arrayBuffer();
    let prepared;
    try {
      prepared = await preparePhoto(original, file.type);
    } catch (err) {
      prepared = { bytes: original, mime: file.type || "image/jpeg", thumb: null };
    }
    photos.push({
      id: uuid(), mime: prepared.mime, bytes: prepared.bytes, sha256: await sha256Hex(prepared.bytes),
      uploaded: false, width: prepared.width, height: prepared.height, thumb: prepared.thumb,
    });
  }
  return photos;
}

async function enqueue(form) {
  const card = cardOf(form);
  const type = form.dataset.action;
  const data = new FormData(form);
  const id = uuid();
  const body = { type, expected_version: expectedVersion(card), captured_at: new Date().toISOString() };
  for (const name of ["note", "reason"]) {
    const value = String(data.get(name) || "").trim();
    if (value) body[name] = value;
  }
  const position = geo.current();
  if (position) body.location = { lat: position.lat, lon: position.lon, accuracy_m: position.accuracy_m };
  let photos = [];
  if (type === "rectify") {
    photos = await photosFrom(form);
    if (!photos.length) throw new Error(t("need_photo"));
    body.photo_ids = photos.map((p) => p.id);
  }
  const first = photos.find((p) => p.thumb);
  await outbox.enqueue({
    id,
    kind: "action",
    userId: config.userId,
    photos: photos.map(({ thumb, ...photo }) => photo),
    request: { method: "PUT", url: `/api/v1/findings/${card.dataset.finding}/actions/${id}`, body },
    createdAt: new Date().toISOString(),
    summary: { title: `${t(type)}: ${card.dataset.title || ""}`, subtitle: card.dataset.subtitle || "" },
    thumb: first ? first.thumb : null,
  });
  card.dataset.queued = String(Number(card.dataset.queued || 0) + 1);
  queuedHere.set(id, card);
  showDone(card, type);
  sync.syncNow("action");
}

/** Reflect an action on its card at once: the party sees it taken, whatever the network does. */
function showDone(card, type) {
  const state = card.querySelector("[data-state]");
  if (state) {
    state.hidden = false;
    state.textContent = `${t(type)} · ${t("queued")}`;
    state.dataset.outbox = "pending";
  }
  if (type === "acknowledge") {
    const ack = card.querySelector('[data-action="acknowledge"]');
    if (ack) ack.remove();
  } else {
    const actions = card.querySelector("[data-actions]");
    for (const node of actions ? actions.querySelectorAll("form, details") : []) node.remove();
    card.classList.add("tk-done");
  }
}

function wireForms() {
  for (const form of document.querySelectorAll("form.tk-form")) {
    form.addEventListener("submit", async (event) => {
      if (!form.reportValidity()) return;
      event.preventDefault();
      const buttons = [...form.querySelectorAll("button")];
      buttons.forEach((b) => { b.disabled = true; });
      try {
        await enqueue(form);
      } catch (err) {
        buttons.forEach((b) => { b.disabled = false; });
        if (err && err.message === t("need_photo")) {
          setLine(err.message, "error");
          return;
        }
        // No IndexedDB (private mode, storage full): the server still takes the plain form.
        form.submit();
      }
    });
  }
  for (const input of document.querySelectorAll(".tk-file")) {
    input.addEventListener("change", () => previews(input));
  }
}

function previews(input) {
  const box = input.closest("form").querySelector(".tk-previews");
  if (!box) return;
  for (const img of box.querySelectorAll("img")) URL.revokeObjectURL(img.src);
  box.replaceChildren(...[...input.files].map((file) => {
    const img = document.createElement("img");
    img.src = URL.createObjectURL(file);
    img.alt = "";
    return img;
  }));
}

function setLine(text, state = "") {
  const line = $("tk-sync");
  if (!line) return;
  line.textContent = text;
  line.dataset.state = state;
}

/* The outbox, as far as this page is concerned: per-card progress and refused actions to look at. */
async function refreshFromOutbox() {
  let items;
  try {
    items = (await outbox.list()).filter((i) => i.kind === "action" && (!i.userId || i.userId === config.userId));
  } catch (err) {
    return;
  }
  const unsent = items.filter((i) => outbox.SENDABLE.has(i.state));
  for (const item of items) {
    const card = queuedHere.get(item.id) || document.getElementById(`task-${findingOf(item)}`);
    const state = card && card.querySelector("[data-state]");
    if (!state || !state.dataset.outbox) continue;
    const type = item.request.body.type;
    if (item.state === outbox.STATES.sent) state.textContent = `${t(type)} · ${t("sent")}`;
    else if (item.state === outbox.STATES.attention) state.textContent = `${t("attention")}: ${item.error || ""}`;
    state.dataset.outbox = item.state;
  }
  renderAttention(items.filter((i) => i.state === outbox.STATES.attention));
  const status = sync.currentStatus();
  if (unsent.length && status.state !== "running") {
    setLine(status.state === "offline" || !navigator.onLine ? `${t("offline")} · ${t("pending_n", { n: unsent.length })}`
      : t("pending_n", { n: unsent.length }), "offline");
  }
}

function findingOf(item) {
  const match = /\/findings\/([^/]+)\/actions\//.exec(item.request.url);
  return match ? match[1] : "";
}

function renderAttention(items) {
  const box = $("tk-attention");
  const list = $("tk-attention-list");
  if (!box || !list) return;
  box.hidden = items.length === 0;
  list.replaceChildren(...items.map((item) => {
    const li = document.createElement("li");
    li.className = "tk-attention-item";
    const text = document.createElement("span");
    text.textContent = `${item.summary ? item.summary.title : item.request.body.type} — ${item.error || ""}`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "btn btn-danger";
    remove.textContent = t("remove");
    remove.addEventListener("click", async () => {
      if (window.confirm(t("confirm_remove"))) {
        await outbox.remove(item.id);
        refreshFromOutbox();
      }
    });
    li.append(text, remove);
    return li;
  }));
}

/** A kept copy (served by the service worker) says so: a manager must know the list may be stale. */
function isKeptCopy() {
  return document.documentElement.dataset.xcCopy === "kept";
}

/** "离线 · 数据截至 08:05" (with the date when the copy is from another day), or, once the server has
 *  answered, "已恢复网络 · …" with a link to the fresh list: never reloaded under the user's hands. */
function showCopyAge(back = false) {
  const box = $("tk-copy");
  if (!box || !isKeptCopy()) return;
  let today = "";
  try {
    today = new Intl.DateTimeFormat("en-CA", { timeZone: box.dataset.tz, year: "numeric", month: "2-digit", day: "2-digit" })
      .format(new Date());
  } catch (err) {
    // Unknown zone: the longer text with the date is right on any day.
  }
  const time = today === box.dataset.day ? box.dataset.time : box.dataset.timeLong;
  box.querySelector(".tk-copy-text").textContent = (back ? box.dataset.online : box.dataset.offline).replace("{time}", time);
  box.querySelector(".tk-copy-reload").hidden = !back;
  box.dataset.state = back ? "online" : "offline";
  box.hidden = false;
}

/** On a kept copy with no signal the photos may not load (the worker never keeps /api/): a plain
 *  placeholder instead of a broken picture and a link that would lead nowhere. */
function placeholdMissingPhotos() {
  const template = $("tk-photo-offline");
  if (!template || !isKeptCopy()) return;
  const replace = (img) => {
    (img.closest("a") || img).replaceWith(template.content.firstElementChild.cloneNode(true));
  };
  for (const img of document.querySelectorAll(".tk-card img")) {
    if (img.complete && img.naturalWidth === 0) replace(img);
    else img.addEventListener("error", () => replace(img), { once: true });
  }
}

function renderStatus(status) {
  $("tk-auth").hidden = status.state !== "auth";
  if (status.state === "idle" && status.lastSuccessAt) showCopyAge(true); // the server answered
  else if (status.state === "offline") showCopyAge(false);
  if (status.state === "running" && status.total) setLine(t("sending"), "running");
  else if (status.state === "offline") setLine(t("offline"), "offline");
  else if (status.state === "error") setLine(t("failed"), "error");
  else if (status.state === "idle") setLine("", "");
  refreshFromOutbox();
}

/* 待核查: nearest first once the phone knows where it is. */
function sortByDistance(fix) {
  const list = $("tk-verify-list");
  if (!list || !fix) return;
  const here = { lat: fix.lat, lon: fix.lon };
  const cards = [...list.querySelectorAll("[data-finding]")];
  const far = Number.POSITIVE_INFINITY;
  const measured = cards.map((card) => {
    const d = card.dataset.lat ? distanceM(here, { lat: Number(card.dataset.lat), lon: Number(card.dataset.lon) }) : far;
    const label = card.querySelector("[data-distance]");
    if (label && d !== far) {
      label.hidden = false;
      label.textContent = d < 1000 ? t("metres", { m: Math.round(d) }) : t("kilometres", { km: (d / 1000).toFixed(1) });
    }
    return { card, d };
  });
  measured.sort((a, b) => a.d - b.d);
  list.append(...measured.map((m) => m.card));
  $("tk-near").hidden = false;
}

/** Actions queued by an earlier visit and not yet sent: show them taken, and count them for versions. */
async function restorePending() {
  let items = [];
  try {
    items = await outbox.list();
  } catch (err) {
    return;
  }
  for (const item of items) {
    if (item.kind !== "action" || !outbox.UNSENT.has(item.state)) continue;
    if (item.userId && item.userId !== config.userId) continue;
    const card = document.getElementById(`task-${findingOf(item)}`);
    if (!card || queuedHere.has(item.id)) continue;
    card.dataset.queued = String(Number(card.dataset.queued || 0) + 1);
    queuedHere.set(item.id, card);
    showDone(card, item.request.body.type);
  }
}

async function start() {
  showCopyAge();
  placeholdMissingPhotos();
  await restorePending();
  wireForms();
  startCountdowns();
  geo.start();
  if ($("tk-verify-list")) {
    geo.onChange(({ fix }) => sortByDistance(fix));
  }
  sync.onStatus(renderStatus);
  outbox.onChange(() => refreshFromOutbox());
  window.addEventListener("online", () => sync.syncNow("online"));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") sync.syncNow("visible");
  });
  refreshFromOutbox();
  sync.syncNow("open");
  document.body.dataset.ready = "1";
}

start();
