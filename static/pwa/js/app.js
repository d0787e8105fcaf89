/* The inspector app on /capture/: three views (采集, 待发送, 我的记录) in one cached page, and the
 * decisions about WHEN to sync — on open, `online`, becoming visible, "立即同步", the backoff timer
 * in sync.js, and a Background Sync wake-up where the browser has it. */
import * as api from "./api.js";
import { createCapture } from "./capture.js";
import { kvGet } from "./db.js";
import { $, formatTime } from "./dom.js";
import { readJson, t } from "./i18n.js";
import { createMineView, refreshMine } from "./mine.js";
import * as outbox from "./outbox.js";
import { createOutboxView } from "./outbox-view.js";
import * as reference from "./reference.js";
import { onWorkerMessage, requestBackgroundSync } from "./sw-bridge.js";
import * as sync from "./sync.js";

const config = readJson("xc-config") || {};
const locale = config.locale || "zh_CN";
let session = null;
let ref = null;
let toastTimer = null;

const userId = () => (session && session.user && session.user.id) || (config.user && config.user.id) || null;

function toast(message) {
  const box = $("xc-toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    box.hidden = true;
  }, 3500);
}

/* ---------- views ---------- */

const VIEWS = ["capture", "outbox", "mine"];

function currentView() {
  const name = window.location.hash.replace("#", "");
  return VIEWS.includes(name) ? name : "capture";
}

function showView() {
  const name = currentView();
  for (const view of VIEWS) $(`xc-view-${view}`).hidden = view !== name;
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.body.dataset.view = name;
  if (name === "outbox") {
    outboxView.render();
    outboxView.renderStorage();
  }
  if (name === "mine") {
    mineView.render({ offline: !navigator.onLine });
    refreshMineQuietly();
  }
}

/* ---------- sync status ---------- */

function renderStatus(status) {
  const line = $("xc-syncline");
  $("xc-auth").hidden = status.state !== "auth";
  let text = "";
  if (status.state === "running") text = t("sync_running", { done: status.done, total: status.total });
  else if (status.state === "offline") text = t("sync_offline");
  else if (status.state === "error") text = t("sync_error", { reason: status.message });
  else if (status.state === "idle" && status.lastSuccessAt) text = t("sync_idle", { time: formatTime(new Date(status.lastSuccessAt).toISOString(), locale) });
  if (status.nextRetryAt && (status.state === "offline" || status.state === "error")) {
    text += ` · ${t("sync_retry_at", { time: new Date(status.nextRetryAt).toLocaleTimeString(locale === "en" ? "en-GB" : "zh-CN") })}`;
  }
  line.textContent = text;
  line.dataset.state = status.state;
}

async function runSync(reason) {
  const result = await sync.syncNow(reason);
  if (!result.ran && result.reason === "other-tab") $("xc-syncline").textContent = t("sync_other_tab");
  if (result.ran && result.result === "done") {
    session = (await kvGet("session")) || session;
    refreshMineQuietly();
  }
  return result;
}

async function refreshMineQuietly() {
  try {
    await refreshMine();
    if (currentView() === "mine") mineView.render();
  } catch (err) {
    if (err instanceof api.AuthError) renderStatus({ ...sync.currentStatus(), state: "auth" });
  }
}

async function refreshReference() {
  try {
    const fresh = await reference.refresh();
    if (fresh) {
      ref = fresh;
      capture.setReference(ref);
    }
  } catch (err) {
    // Offline or logged out: the cached copy serves; the sync status already says why.
  }
}

/* ---------- start ---------- */

const capture = createCapture({
  getUserId: userId,
  locale,
  toast,
  onSaved: async () => {
    const { unsent } = await outbox.counts();
    toast(t("saved", { n: unsent }));
    requestBackgroundSync();
    runSync("saved");
  },
});
const outboxView = createOutboxView({ locale, getUserId: userId, onSyncNow: () => runSync("manual") });
const mineView = createMineView({ locale, getReference: () => ref });

async function start() {
  session = (await kvGet("session")) || null;
  ref = await reference.cached();
  if (!ref) {
    // First visit: the capture form needs the places and categories before it can work offline.
    await refreshReference();
    ref = ref || (await reference.cached());
  } else {
    refreshReference();
  }
  await capture.start(ref);
  outboxView.wire();
  sync.onStatus(renderStatus);
  window.addEventListener("hashchange", showView);
  showView();

  if (navigator.storage && navigator.storage.persist) {
    navigator.storage.persist().then(() => currentView() === "outbox" && outboxView.renderStorage()).catch(() => {});
  }
  window.addEventListener("online", () => {
    refreshReference();
    runSync("online");
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") runSync("visible");
  });
  onWorkerMessage("SYNC_NOW", () => runSync("background-sync"));
  document.body.dataset.ready = "1";
  runSync("open");
}

start();
