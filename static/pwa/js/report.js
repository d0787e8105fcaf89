// Report pages: one-tap copy of the chat text and the print button. Strings come from the page
// (#report-i18n), so this file holds no user-facing text.
const i18n = JSON.parse(document.getElementById("report-i18n")?.textContent || "{}");
const status = document.querySelector(".copy-status");

async function writeClipboard(text, textarea) {
  // The async clipboard needs a secure context (https or localhost); a LAN http deployment falls
  // back to selecting the text and the legacy copy command, which still works from a user gesture.
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // permission refused: try the fallback below
    }
  }
  textarea.focus();
  textarea.select();
  textarea.setSelectionRange(0, text.length);
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

function announce(button, ok) {
  const label = ok ? i18n.copied : i18n.failed;
  button.textContent = label;
  button.classList.toggle("is-done", ok);
  if (status) status.textContent = label;
  clearTimeout(button._reset);
  button._reset = setTimeout(() => {
    button.textContent = i18n.copy;
    button.classList.remove("is-done");
  }, 2500);
}

document.addEventListener("click", async (event) => {
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const textarea = document.getElementById(copy.dataset.copy);
    if (textarea) announce(copy, await writeClipboard(textarea.value, textarea));
    return;
  }
  if (event.target.closest("[data-print]")) window.print();
});
