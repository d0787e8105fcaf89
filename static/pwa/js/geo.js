/* The device position, watched in the background while capturing: a capture never waits for GPS,
 * it takes the latest fix (with its accuracy) when there is a recent one. */
const MAX_AGE_MS = 2 * 60 * 1000;

let latest = null;
let watchId = null;
let problem = null;
const listeners = new Set();

function emit() {
  for (const callback of listeners) callback({ fix: latest, problem });
}

export function onChange(callback) {
  listeners.add(callback);
}

export function start() {
  if (watchId !== null || !("geolocation" in navigator)) {
    if (!("geolocation" in navigator)) {
      problem = "unsupported";
      emit();
    }
    return;
  }
  watchId = navigator.geolocation.watchPosition(
    (pos) => {
      latest = {
        lat: pos.coords.latitude, lon: pos.coords.longitude,
        accuracy_m: Math.round(pos.coords.accuracy * 10) / 10, at: pos.timestamp || Date.now(),
      };
      problem = null;
      emit();
    },
    (err) => {
      problem = err.code === err.PERMISSION_DENIED ? "denied" : "unavailable";
      emit();
    },
    { enableHighAccuracy: true, maximumAge: 30000, timeout: 60000 },
  );
}

export function stop() {
  if (watchId !== null) navigator.geolocation.clearWatch(watchId);
  watchId = null;
}

/** The latest fix if it is recent enough to describe where the photo was taken, else null. */
export function current() {
  if (!latest || Date.now() - latest.at > MAX_AGE_MS) return null;
  return { lat: latest.lat, lon: latest.lon, accuracy_m: latest.accuracy_m };
}
