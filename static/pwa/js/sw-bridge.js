/* The page's side of the service worker: register it, and when a new version has installed, offer
 * "有新版本 — 点击刷新". Only that tap activates the new worker (SKIP_WAITING) and reloads: code is
 * never swapped under an inspector in the middle of a capture. */
const UPDATE_CHECK_MS = 60 * 60 * 1000;

function offerUpdate(worker, onAccept) {
  const box = document.getElementById("xc-update");
  const button = document.getElementById("xc-update-button");
  if (!box || !button) return;
  box.hidden = false;
  button.addEventListener("click", () => {
    button.disabled = true;
    onAccept(worker);
  }, { once: true });
}

export async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return null;
  let reloadRequested = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // The first install also changes the controller (clients.claim); only a requested update reloads.
    if (reloadRequested) window.location.reload();
  });
  let registration;
  try {
    registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch (err) {
    return null;
  }
  const accept = (worker) => {
    reloadRequested = true;
    worker.postMessage({ type: "SKIP_WAITING" });
  };
  const watch = (worker) => {
    worker.addEventListener("statechange", () => {
      if (worker.state === "installed" && navigator.serviceWorker.controller) offerUpdate(worker, accept);
    });
  };
  if (registration.waiting && navigator.serviceWorker.controller) offerUpdate(registration.waiting, accept);
  if (registration.installing) watch(registration.installing);
  registration.addEventListener("updatefound", () => {
    if (registration.installing) watch(registration.installing);
  });
  let lastCheck = Date.now();
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && Date.now() - lastCheck > UPDATE_CHECK_MS) {
      lastCheck = Date.now();
      registration.update().catch(() => {});
    }
  });
  return registration;
}

/**
 * Ask the worker to keep this page for offline use when it has no copy yet: the first visit loads the
 * page before the worker controls it, and logging out drops the copies. The worker decides which pages
 * qualify (its allow-list) and ignores the rest; a page it already holds costs nothing.
 */
export function keepThisPage() {
  if (!("serviceWorker" in navigator)) return;
  const ask = () => {
    const worker = navigator.serviceWorker.controller;
    if (worker) worker.postMessage({ type: "KEEP_PAGE", path: window.location.pathname });
  };
  ask();
  navigator.serviceWorker.addEventListener("controllerchange", ask);
}

/** Background Sync where it exists (Chromium): an extra wake-up, never relied upon. */
export async function requestBackgroundSync() {
  try {
    const registration = await navigator.serviceWorker.ready;
    if (registration.sync) await registration.sync.register("xc-outbox");
  } catch (err) {
    /* unsupported or refused: the page's own triggers cover it */
  }
}

export function onWorkerMessage(type, callback) {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data && event.data.type === type) callback(event.data);
  });
}
