/* "我的记录": the inspector's recent findings with their server status, kept in IndexedDB so the list
 * reads offline as of the last sync. Fetched incrementally: `since` the newest update already seen. */
import * as api from "./api.js";
import { kvGet, kvSet } from "./db.js";
import { $, el, formatTime } from "./dom.js";
import { t } from "./i18n.js";
import * as outbox from "./outbox.js";

const KEY = "mine";
const KEEP = 200;
const MAX_PAGES = 10;
// Rows are stamped when their transaction flushes, and commits may land out of that order: asking
// again for a little before the newest stamp seen costs a few repeated rows and misses none.
const SINCE_MARGIN_MS = 2 * 60 * 1000;

function sinceFor(newestUpdate) {
  if (!newestUpdate) return null;
  return new Date(new Date(newestUpdate).getTime() - SINCE_MARGIN_MS).toISOString();
}

export async function refreshMine() {
  const cached = (await kvGet(KEY)) || { findings: [], syncedAt: null, newestUpdate: null };
  const byId = new Map(cached.findings.map((f) => [f.id, f]));
  const since = sinceFor(cached.newestUpdate);
  let response = await api.listMine(since);
  for (let page = 0; page < MAX_PAGES; page += 1) {
    if (response.status !== 200 || !response.body || !Array.isArray(response.body.findings)) {
      throw new api.NetworkError(`findings: HTTP ${response.status}`);
    }
    for (const finding of response.body.findings) byId.set(finding.id, finding);
    if (!response.body.next) break;
    response = await api.listMine(since, response.body.next);
  }
  const findings = [...byId.values()].sort((a, b) => new Date(b.captured_at) - new Date(a.captured_at)).slice(0, KEEP);
  const newestUpdate = findings.reduce((max, f) => (f.updated_at && (!max || f.updated_at > max) ? f.updated_at : max), null);
  await kvSet(KEY, { findings, syncedAt: new Date().toISOString(), newestUpdate });
  // Sent items in the outbox show the same, current status.
  await outbox.setServerStatus(Object.fromEntries(findings.map((f) => [f.id, f.status])));
  return findings;
}

export function createMineView({ locale, getReference }) {
  function names(finding) {
    const ref = getReference() || {};
    const find = (list, id) => (list || []).find((x) => x.id === id);
    const cat = (ref.categories || []).find((c) => c.code === finding.category_code);
    const title = finding.kind === "ok" ? t("kind_ok") : (cat ? (locale === "en" ? cat.name_en : cat.name_zh) : finding.category_code);
    const community = find(ref.communities, finding.community_id);
    const site = find(ref.sites, finding.site_id);
    return { title, subtitle: [community && community.name, site && site.name].filter(Boolean).join(" · ") };
  }

  function row(finding) {
    const { title, subtitle } = names(finding);
    const photo = (finding.photos || [])[0];
    let picture = el("span", { class: "xc-thumb xc-thumb-none" });
    if (photo && photo.thumb_url) {
      picture = el("img", { class: "xc-thumb", src: photo.thumb_url, alt: "", loading: "lazy" });
      // Offline and not in the HTTP cache: an empty frame, not a broken-image icon.
      picture.addEventListener("error", () => picture.replaceWith(el("span", { class: "xc-thumb xc-thumb-none" })));
    }
    return el("li", { class: "xc-item", dataset: { id: finding.id, status: finding.status } }, [
      picture,
      el("div", { class: "xc-item-body" }, [
        el("strong", { class: "xc-item-title", text: title || "" }),
        el("span", { class: "xc-item-sub", text: [subtitle, formatTime(finding.captured_at, locale)].filter(Boolean).join(" · ") }),
        el("span", { class: "xc-item-meta" }, [
          el("span", { class: `xc-pill xc-status-${finding.status}`, text: t(`status_${finding.status}`) }),
        ]),
      ]),
    ]);
  }

  async function render({ offline = false } = {}) {
    const cached = (await kvGet(KEY)) || { findings: [], syncedAt: null };
    const when = cached.syncedAt ? formatTime(cached.syncedAt, locale) : t("never");
    $("xc-mine-meta").textContent = offline ? t("mine_offline", { time: when }) : t("mine_synced", { time: when });
    const list = $("xc-mine");
    list.replaceChildren(...(cached.findings.length ? cached.findings.map(row) : [el("li", { class: "empty", text: t("empty_mine") })]));
  }

  return { render };
}
