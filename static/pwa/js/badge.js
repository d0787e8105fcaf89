/* The outbox count in the header of every page that loads shell.js (and the capture app's own nav),
 * read from IndexedDB and kept current when any tab changes the outbox. */
import * as outbox from "./outbox.js";

export async function refreshBadges() {
  let count = 0;
  try {
    count = (await outbox.counts()).unsent;
  } catch (err) {
    return; // private mode without IndexedDB: no badge rather than a broken page
  }
  for (const el of document.querySelectorAll("[data-outbox-badge]")) {
    el.textContent = String(count);
    el.hidden = count === 0;
  }
}

export function startBadges() {
  refreshBadges();
  outbox.onChange(() => refreshBadges());
}
