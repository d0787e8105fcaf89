/* Tiny DOM helpers: build elements without innerHTML (no markup from data, ever). */
export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

/** Object URLs for stored bytes, released when the element they feed is replaced. */
export class UrlPool {
  constructor() {
    this.urls = new Map();
  }

  url(key, bytes, mime) {
    if (!this.urls.has(key)) this.urls.set(key, URL.createObjectURL(new Blob([bytes], { type: mime })));
    return this.urls.get(key);
  }

  keepOnly(keys) {
    for (const [key, url] of this.urls) {
      if (!keys.has(key)) {
        URL.revokeObjectURL(url);
        this.urls.delete(key);
      }
    }
  }
}

export function formatTime(iso, locale) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(locale === "en" ? "en-GB" : "zh-CN", {
    month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}
