/* The "地点" part of the capture form: community (optgroups by street), the nearest site by GPS as a
 * one-tap suggestion, a searchable site list (this community's sites nearest first; a search looks
 * across all communities and switches community with the site), market zones, and the one-line
 * summary under the photos. It edits the draft it is given and reports every change. */
import { $, el } from "./dom.js";
import * as geo from "./geo.js";
import { t } from "./i18n.js";
import { nearestSite, sitesByDistance } from "./reference.js";

const MAX_SITE_CHIPS = 8;

const byId = (list, id) => (list || []).find((x) => x.id === id) || null;

export function createPlacePicker({ getRef, getDraft, onChange }) {
  let siteQuery = "";
  const ref = () => getRef() || { streets: [], communities: [], sites: [], zones: [] };
  const community = () => byId(ref().communities, getDraft().communityId);
  const site = () => byId(ref().sites, getDraft().siteId);
  const zone = () => byId(ref().zones, getDraft().zoneId);

  function changed() {
    onChange();
    render();
  }

  function renderCommunities() {
    const draft = getDraft();
    const groups = ref().streets.map((street) => {
      const options = ref().communities.filter((c) => c.street_id === street.id)
        .map((c) => el("option", { value: c.id, text: c.name, selected: c.id === draft.communityId }));
      return options.length ? el("optgroup", { label: street.name }, options) : null;
    }).filter(Boolean);
    const placeholder = el("option", { value: "", text: t("choose_community"), selected: !draft.communityId });
    $("xc-community").replaceChildren(placeholder, ...groups);
  }

  function chooseSite(chosen) {
    const draft = getDraft();
    draft.siteId = chosen ? chosen.id : null;
    if (chosen) draft.communityId = chosen.community_id;
    draft.zoneId = null;
    siteQuery = "";
    $("xc-site-search").value = "";
    changed();
  }

  function siteChoices() {
    const { sites } = ref();
    if (siteQuery) {
      const q = siteQuery.toLowerCase();
      return sites.filter((s) => s.name.toLowerCase().includes(q) || (s.address || "").toLowerCase().includes(q))
        .slice(0, MAX_SITE_CHIPS * 2);
    }
    let local = sites.filter((s) => s.community_id === getDraft().communityId);
    const fix = geo.current();
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
      const other = s.community_id !== getDraft().communityId ? byId(ref().communities, s.community_id) : null;
      const label = other ? t("site_other_community", { site: s.name, community: other.name }) : s.name;
      chips.push(el("button", { type: "button", class: "xc-chip", "aria-pressed": "false", text: label, onclick: () => chooseSite(s) }));
    }
    if (!chips.length && siteQuery) chips.push(el("span", { class: "muted", text: t("no_sites_found") }));
    $("xc-sites").replaceChildren(...chips);
  }

  function renderZones() {
    const s = site();
    const zones = s && s.kind === "market" ? ref().zones.filter((z) => z.site_id === s.id) : [];
    $("xc-zone-field").hidden = zones.length === 0;
    $("xc-zones").replaceChildren(...zones.map((z) => el("button", {
      type: "button", class: "xc-chip", "aria-pressed": String(z.id === getDraft().zoneId), text: z.name,
      onclick: () => {
        const draft = getDraft();
        draft.zoneId = draft.zoneId === z.id ? null : z.id;
        changed();
      },
    })));
  }

  function distanceText(metres) {
    return metres < 1000 ? t("metres", { n: Math.round(metres) }) : t("kilometres", { n: (metres / 1000).toFixed(1) });
  }

  function renderNearby() {
    const button = $("xc-nearby");
    const fix = geo.current();
    const near = getRef() && fix ? nearestSite(getRef(), fix) : null;
    if (!near || near.site.id === getDraft().siteId) {
      button.hidden = true;
      return;
    }
    button.textContent = t("nearby", { name: near.site.name, distance: distanceText(near.distance) });
    button.hidden = false;
    button.onclick = () => chooseSite(near.site);
  }

  function renderSummary() {
    const parts = [community(), site(), zone()].filter(Boolean).map((x) => x.name);
    const link = $("xc-place-summary");
    link.textContent = parts.length ? t("place_summary", { place: parts.join(" · ") }) : t("place_none");
    link.classList.toggle("xc-place-missing", !parts.length);
  }

  function render() {
    renderSummary();
    renderCommunities();
    renderNearby();
    renderSites();
    renderZones();
  }

  function wire() {
    $("xc-community").addEventListener("change", (event) => {
      const draft = getDraft();
      draft.communityId = Number(event.target.value) || null;
      const s = site();
      if (s && s.community_id !== draft.communityId) {
        draft.siteId = null;
        draft.zoneId = null;
      }
      changed();
    });
    $("xc-site-search").addEventListener("input", (event) => {
      siteQuery = event.target.value.trim();
      renderSites();
    });
    geo.onChange(() => {
      renderNearby();
      if (!siteQuery) renderSites();
    });
  }

  /** A short "社区 · 点位 · 分区" line for the outbox's list. */
  function describe() {
    return [community(), site(), zone()].filter(Boolean).map((x) => x.name).join(" · ");
  }

  return { render, wire, site, describe };
}
