/* Deadline countdowns ("还剩 3小时12分" / "已超期 40分") for the desk's and the parties' pages.
 * Words come from the page's <script type="application/json" id="xc-i18n"> block. */
export function countdownText(ms, words = {}) {
  const minutes = Math.floor(Math.abs(ms) / 60000);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  const span = h ? `${h}${words.hours || "h"}${m}${words.minutes || "m"}` : `${m}${words.minutes || "m"}`;
  return ms >= 0 ? `${words.left || ""}${span}` : `${words.overdue || "-"}${span}`;
}

/** Fill every .countdown[data-deadline] (not marked data-done="1") now and every 30 s. */
export function startCountdowns(root = document) {
  const nodes = [...root.querySelectorAll(".countdown[data-deadline]")].filter((n) => n.dataset.done !== "1");
  if (!nodes.length) return;
  const block = document.getElementById("xc-i18n");
  const words = block ? JSON.parse(block.textContent) : {};
  const tick = () => {
    const now = Date.now();
    for (const node of nodes) {
      const left = Date.parse(node.dataset.deadline) - now;
      node.textContent = countdownText(left, words);
      node.classList.toggle("late", left < 0);
      node.classList.toggle("soon", left >= 0 && left < 2 * 3600 * 1000);
    }
  };
  tick();
  setInterval(tick, 30000);
}
