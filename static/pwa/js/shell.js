/* Loaded by base.html on every inspector page: the service worker and the outbox badge. */
import { startBadges } from "./badge.js";
import { registerServiceWorker } from "./sw-bridge.js";

registerServiceWorker();
startBadges();
