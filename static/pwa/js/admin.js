/* The admin console's small enhancements; every page works without them.
 * - pickers: filter a long list of places by name; show only the pickers the checked roles use
 * - forms with data-confirm ask first (retire, disable, revoke …)
 * - "use my position" fills a site's coordinates from the admin's phone
 * - copy a temporary password
 * Strings come from the page's <script type="application/json" id="admin-i18n"> block. */

const strings = (() => {
  const block = document.getElementById("admin-i18n");
  return block ? JSON.parse(block.textContent) : {};
})();
const t = (key, params = {}) =>
  (strings[key] ?? key).replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));

function setupPickers() {
  for (const input of document.querySelectorAll(".picker-filter")) {
    const list = input.parentElement.querySelector(".picker-list");
    input.addEventListener("input", () => {
      const needle = input.value.trim().toLowerCase();
      for (const label of list.querySelectorAll("label")) {
        const match = !needle || label.textContent.toLowerCase().includes(needle);
        label.hidden = !match;
      }
      for (const group of list.querySelectorAll(".picker-group")) {
        let next = group.nextElementSibling;
        let any = false;
        while (next && !next.classList.contains("picker-group")) {
          if (!next.hidden) any = true;
          next = next.nextElementSibling;
        }
        group.hidden = !any;
      }
    });
  }
  const roles = document.getElementById("roles");
  if (!roles) return;
  const sync = () => {
    const checked = new Set([...roles.querySelectorAll("input:checked")].map((i) => i.value));
    for (const fieldset of document.querySelectorAll("[data-for-role]")) {
      const wanted = checked.has(fieldset.dataset.forRole);
      const chosen = fieldset.querySelector("input[type=checkbox]:checked");
      // A picker with something chosen stays visible, so a scope is never removed unseen.
      fieldset.hidden = !wanted && !chosen;
    }
  };
  roles.addEventListener("change", sync);
  sync();
}

function setupConfirm() {
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

function setupLocate() {
  for (const button of document.querySelectorAll("[data-locate]")) {
    if (!("geolocation" in navigator)) continue;
    button.hidden = false;
    const form = button.closest("form");
    const status = form.querySelector("[data-locate-status]");
    button.addEventListener("click", () => {
      button.disabled = true;
      status.textContent = t("locating");
      navigator.geolocation.getCurrentPosition(
        (pos) => {
          form.querySelector("[data-coord=lat]").value = pos.coords.latitude.toFixed(6);
          form.querySelector("[data-coord=lon]").value = pos.coords.longitude.toFixed(6);
          status.textContent = t("located", { accuracy: Math.round(pos.coords.accuracy) });
          button.disabled = false;
        },
        (err) => {
          status.textContent = err.code === err.PERMISSION_DENIED ? t("locate_denied") : t("locate_failed");
          button.disabled = false;
        },
        { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 },
      );
    });
  }
}

function setupCopy() {
  for (const button of document.querySelectorAll("[data-copy]")) {
    const source = document.querySelector(button.dataset.copy);
    if (!source || !navigator.clipboard) {
      button.hidden = true;
      continue;
    }
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = t("copied");
      } catch {
        button.textContent = t("copy_failed");
      }
    });
  }
}

setupPickers();
setupConfirm();
setupLocate();
setupCopy();
