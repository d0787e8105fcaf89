/* Reference data (streets, communities, sites, zones, categories) cached in IndexedDB for offline
 * capture, refreshed with If-None-Match so an unchanged list costs a 304. No DOM. */
import * as api from "./api.js";
import { kvGet, kvSet } from "./db.js";
import { distanceM } from "./util.js";

const KEY = "reference";

export async function cached() {
  const entry = await kvGet(KEY);
  return entry ? entry.data : null;
}

/** Returns the fresh data, or null when the server said 304 (keep using the cached copy). */
export async function refresh() {
  const entry = await kvGet(KEY);
  const response = await api.getReference(entry && entry.data ? entry.etag : null);
  if (response.status === 304 && entry) {
    await kvSet(KEY, { ...entry, checkedAt: new Date().toISOString() });
    return null;
  }
  if (response.status !== 200 || !response.body || !Array.isArray(response.body.communities)) {
    throw new api.NetworkError(`reference: HTTP ${response.status}`);
  }
  const now = new Date().toISOString();
  await kvSet(KEY, { etag: response.headers.get("ETag"), data: response.body, fetchedAt: now, checkedAt: now });
  return response.body;
}

/** Sites with coordinates, nearest first, with their distance in metres. */
export function sitesByDistance(data, position) {
  if (!data || !position) return [];
  return data.sites
    .filter((site) => typeof site.lat === "number" && typeof site.lon === "number")
    .map((site) => ({ site, distance: distanceM(position, { lat: site.lat, lon: site.lon }) }))
    .sort((a, b) => a.distance - b.distance);
}

/** The site to suggest: the nearest one, if it is plausibly where the inspector stands. */
export function nearestSite(data, position, maxMetres = 400) {
  const [first] = sitesByDistance(data, position);
  if (!first) return null;
  // A fix worse than the distance limit cannot tell neighbouring sites apart.
  const slack = Math.min(position.accuracy_m || 0, maxMetres);
  return first.distance <= maxMetres + slack ? first : null;
}
