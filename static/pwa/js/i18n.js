/* UI strings come from the server-rendered page (<script type="application/json" id="xc-i18n">),
 * so they are translated with the rest of the app and the JS holds no user-facing text. */
let strings = null;

function load() {
  if (strings) return strings;
  const block = document.getElementById("xc-i18n");
  strings = block ? JSON.parse(block.textContent) : {};
  return strings;
}

export function t(key, params = {}) {
  const template = load()[key];
  if (template === undefined) return key;
  return template.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

export function readJson(id) {
  const block = document.getElementById(id);
  return block ? JSON.parse(block.textContent) : null;
}
