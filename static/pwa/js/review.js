/* The desk's pages: keyboard triage and the photo viewer. Every action is a plain form post, so the
 * pages work without this file; it only adds the keys and the zoom.
 *
 * Queue:   J/K move between findings, Enter opens, "select all" and the picked count for bulk accept.
 * Finding: A accept+dispatch, R reject, D duplicate, J/K next/previous finding,
 *          ←/→ previous/next photo, click the photo to zoom (scroll or drag to pan), Esc closes.
 */
import { startCountdowns } from "./countdown.js";

const $ = (id) => document.getElementById(id);

function typing(event, { checksAreKeys = false } = {}) {
  const t = event.target;
  if (!t) return false;
  // In the queue a ticked checkbox keeps focus and J/K should still move; on a finding page a
  // focused radio (the duplicate choice) must not let "A" accept by accident.
  if (checksAreKeys && t.tagName === "INPUT" && ["checkbox", "radio"].includes(t.type)) return false;
  return t.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName);
}

function setupQueue() {
  const items = [...document.querySelectorAll(".rv-item")];
  let index = -1;
  const focus = (i) => {
    if (!items.length) return;
    index = Math.max(0, Math.min(items.length - 1, i));
    items[index].focus();
    items[index].scrollIntoView({ block: "nearest" });
  };
  document.addEventListener("keydown", (event) => {
    if (typing(event, { checksAreKeys: true }) || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    if (key === "j") { event.preventDefault(); focus(index + 1); }
    if (key === "k") { event.preventDefault(); focus(index - 1); }
  });
  const all = $("rv-pick-all");
  const picks = () => [...document.querySelectorAll('input[name="pick"]:not(:disabled)')];
  const count = $("rv-picked");
  const submit = $("rv-bulk-submit");
  const refresh = () => {
    const n = picks().filter((p) => p.checked).length;
    if (count) count.textContent = n ? `(${n})` : "";
    if (submit) submit.disabled = n === 0;
  };
  if (all) all.addEventListener("change", () => { for (const p of picks()) p.checked = all.checked; refresh(); });
  for (const p of picks()) p.addEventListener("change", refresh);
  refresh();
}

function setupViewer() {
  const stage = $("fd-stage");
  const main = $("fd-main");
  const strip = $("fd-strip");
  const master = $("fd-master");
  if (!stage || !main || !strip) return null;
  const thumbs = [...strip.querySelectorAll(".fd-thumb")];
  let current = 0;
  const show = (i) => {
    if (!thumbs.length) return;
    current = (i + thumbs.length) % thumbs.length;
    const t = thumbs[current];
    stage.classList.remove("zoomed");
    main.src = t.dataset.view;
    if (master) master.href = t.dataset.master;
    thumbs.forEach((x, j) => x.classList.toggle("active", j === current));
  };
  thumbs.forEach((t, i) => t.addEventListener("click", () => show(i)));
  // Zoom to where the desk clicked: the image grows inside a scrolling stage, scrolled to that point.
  main.addEventListener("click", (event) => {
    const rect = main.getBoundingClientRect();
    const fx = (event.clientX - rect.left) / rect.width;
    const fy = (event.clientY - rect.top) / rect.height;
    const zoomed = stage.classList.toggle("zoomed");
    if (zoomed) {
      requestAnimationFrame(() => {
        stage.scrollLeft = fx * main.clientWidth - stage.clientWidth / 2;
        stage.scrollTop = fy * main.clientHeight - stage.clientHeight / 2;
      });
    }
  });
  // Drag to pan with a mouse (touch scrolls natively).
  let drag = null;
  stage.addEventListener("mousedown", (e) => {
    if (!stage.classList.contains("zoomed")) return;
    drag = { x: e.clientX, y: e.clientY, left: stage.scrollLeft, top: stage.scrollTop, moved: false };
  });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    drag.moved = drag.moved || Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 4;
    stage.scrollLeft = drag.left - (e.clientX - drag.x);
    stage.scrollTop = drag.top - (e.clientY - drag.y);
  });
  window.addEventListener("mouseup", () => { drag = null; });
  return { next: () => show(current + 1), prev: () => show(current - 1), unzoom: () => stage.classList.remove("zoomed") };
}

function openPanel(id, focusSelector) {
  const panel = $(id);
  if (!panel) return false;
  panel.open = true;
  const target = panel.querySelector(focusSelector);
  if (target) target.focus();
  panel.scrollIntoView({ block: "nearest" });
  return true;
}

function setupFinding() {
  const viewer = setupViewer();
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && viewer) { viewer.unzoom(); return; }
    if (typing(event)) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const go = (id) => { const link = $(id); if (link) window.location.assign(link.href); };
    const accept = $("fd-accept");
    switch (key) {
      case "a":
        if (accept) { event.preventDefault(); accept.requestSubmit(); }
        break;
      case "r":
        if (openPanel("fd-reject-panel", "select")) event.preventDefault();
        break;
      case "d":
        if (openPanel("fd-duplicate-panel", "input")) event.preventDefault();
        break;
      case "j": event.preventDefault(); go("fd-next"); break;
      case "k": event.preventDefault(); go("fd-prev"); break;
      case "ArrowRight": if (viewer) { event.preventDefault(); viewer.next(); } break;
      case "ArrowLeft": if (viewer) { event.preventDefault(); viewer.prev(); } break;
      default:
    }
  });
  // A submitted form disables its buttons: a second click must not race the first.
  for (const form of document.querySelectorAll(".fd-actions form")) {
    form.addEventListener("submit", () => {
      setTimeout(() => { for (const b of form.querySelectorAll("button")) b.disabled = true; }, 0);
    });
  }
  startCountdowns();
}

if (document.body.classList.contains("fd")) setupFinding();
else if (document.getElementById("rv-bulk")) setupQueue();
