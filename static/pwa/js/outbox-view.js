/* The outbox screen: what is waiting, what the server refused ("需要处理", with its reason), what was
 * sent (with the server's status, until the inspector clears it), and how much storage is left. */
import { $, el, formatTime, UrlPool } from "./dom.js";
import { t } from "./i18n.js";
import * as outbox from "./outbox.js";

const LOW_FREE_BYTES = 200 * 1024 * 1024;

export function createOutboxView({ locale, getUserId, onSyncNow }) {
  const thumbs = new UrlPool();

  function stateLabel(item) {
    return t(`state_${item.state}`);
  }

  // Our own failure codes are explained in the inspector's words; a server refusal shows the
  // server's reason as it gave it (it is already translated there).
  const LOCAL_ERRORS = new Set(["network", "timeout", "server", "client", "hash_mismatch", "photo_lost"]);

  function errorText(item) {
    if (!item.error && !item.errorCode) return "";
    if (LOCAL_ERRORS.has(item.errorCode)) return t(`error_${item.errorCode}`, { detail: item.error || "" });
    return item.error;
  }

  function itemRow(item) {
    const keyUrl = item.thumb ? thumbs.url(item.id, item.thumb.bytes, item.thumb.mime) : null;
    const picture = keyUrl ? el("img", { class: "xc-thumb", src: keyUrl, alt: "" }) : el("span", { class: "xc-thumb xc-thumb-none" });
    const uploaded = item.photos.filter((p) => p.uploaded).length;
    const lines = [
      el("strong", { class: "xc-item-title", text: (item.summary && item.summary.title) || item.kind }),
      el("span", { class: "xc-item-sub", text: [(item.summary && item.summary.subtitle) || "", formatTime(item.createdAt, locale)].filter(Boolean).join(" · ") }),
    ];
    const pill = el("span", { class: `xc-pill xc-pill-${item.state}`, text: stateLabel(item) });
    const meta = [pill];
    if (item.photos.length && item.state !== outbox.STATES.sent) {
      meta.push(el("span", { class: "xc-progress", text: t("photos_progress", { done: uploaded, total: item.photos.length }) }));
    }
    if (item.state === outbox.STATES.sent && item.serverStatus) {
      meta.push(el("span", { class: "xc-server", text: t("server_status", { status: t(`status_${item.serverStatus}`) }) }));
    }
    lines.push(el("span", { class: "xc-item-meta" }, meta));
    const reason = errorText(item);
    if (reason && item.state !== outbox.STATES.sent) lines.push(el("span", { class: "xc-item-error", text: reason }));
    const userId = getUserId();
    if (item.userId && userId && item.userId !== userId && item.state !== outbox.STATES.sent) {
      lines.push(el("span", { class: "xc-item-error", text: t("other_user") }));
    }
    const actions = [];
    if (item.state === outbox.STATES.attention) {
      actions.push(el("button", { type: "button", class: "btn xc-small", text: t("retry"), onclick: async () => {
        await outbox.update(item.id, { state: outbox.STATES.pending, error: null });
        onSyncNow();
      } }));
    }
    if (item.state !== outbox.STATES.sent && item.state !== outbox.STATES.sending) {
      const question = item.state === outbox.STATES.attention ? t("confirm_delete_attention") : t("confirm_delete");
      actions.push(el("button", { type: "button", class: "btn btn-danger xc-small", text: t("delete"), onclick: async () => {
        // eslint-disable-next-line no-alert -- a native confirm is the one dialog every phone renders well
        if (window.confirm(question)) await outbox.remove(item.id);
      } }));
    }
    return el("li", { class: `xc-item xc-item-${item.state}`, dataset: { id: item.id, state: item.state } }, [
      picture,
      el("div", { class: "xc-item-body" }, lines),
      actions.length ? el("div", { class: "xc-item-actions" }, actions) : null,
    ]);
  }

  function fill(listId, items, emptyText) {
    const list = $(listId);
    list.replaceChildren(...(items.length ? items.map(itemRow) : [el("li", { class: "empty", text: emptyText })]));
  }

  async function render() {
    const items = await outbox.list();
    const attention = items.filter((i) => i.state === outbox.STATES.attention);
    const pending = items.filter((i) => outbox.SENDABLE.has(i.state));
    const sent = items.filter((i) => i.state === outbox.STATES.sent).reverse();
    $("xc-attention-box").hidden = attention.length === 0;
    fill("xc-attention", attention, t("empty_attention"));
    fill("xc-pending", pending, t("empty_outbox"));
    fill("xc-sent", sent, t("empty_sent"));
    $("xc-clear-sent").hidden = sent.length === 0;
    thumbs.keepOnly(new Set(items.filter((i) => i.thumb).map((i) => i.id)));
  }

  function size(bytes) {
    if (bytes >= 1024 ** 3) return t("gb", { n: (bytes / 1024 ** 3).toFixed(1) });
    return t("mb", { n: (bytes / 1024 ** 2).toFixed(bytes < 10 * 1024 ** 2 ? 1 : 0) });
  }

  async function renderStorage() {
    const box = $("xc-storage");
    const lines = [];
    let low = false;
    if (navigator.storage && navigator.storage.persisted) {
      const persisted = await navigator.storage.persisted().catch(() => false);
      // Unpersisted storage only matters while something is waiting to be sent.
      const { unsent } = await outbox.counts();
      let text = t("storage_persisted");
      if (!persisted) text = unsent ? t("storage_not_persisted_warn") : t("storage_not_persisted");
      lines.push(el("p", { class: !persisted && unsent ? "xc-storage-risk" : null, text }));
    }
    if (navigator.storage && navigator.storage.estimate) {
      const { usage = 0, quota = 0 } = await navigator.storage.estimate().catch(() => ({}));
      const free = Math.max(0, quota - usage);
      lines.push(el("p", { text: t("storage_usage", { used: size(usage), free: size(free) }) }));
      low = quota > 0 && (free < LOW_FREE_BYTES || usage / quota > 0.9);
      if (low) lines.push(el("p", { class: "xc-storage-low", role: "alert", text: t("storage_low") }));
    } else {
      lines.push(el("p", { text: t("storage_unknown") }));
    }
    box.classList.toggle("xc-storage-warn", low);
    box.replaceChildren(...lines);
  }

  function wire() {
    $("xc-sync-now").addEventListener("click", () => onSyncNow());
    $("xc-clear-sent").addEventListener("click", () => outbox.clearSent());
    outbox.onChange(() => {
      render();
      renderStorage();
    });
  }

  return { render, renderStorage, wire };
}
