/* Loaded by base.html on every page of the roles that work offline (inspectors, community staff,
 * market managers) and on any page with offline work: the service worker and the outbox badge. */
import { startBadges } from "./badge.js";
import { keepThisPage, registerServiceWorker } from "./sw-bridge.js";

registerServiceWorker();
keepThisPage();
startBadges();
