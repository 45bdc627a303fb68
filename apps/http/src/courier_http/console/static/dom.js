// Small DOM helpers: elements are built with textContent only (never innerHTML), so no name or
// order id from the API can inject markup.

export const $ = (id) => document.getElementById(id);

/** h("button", {class: "x", onclick: f}, "text", child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Keyed rendering of a table body: a row whose signature did not change is kept as it is, so
 * polling every 2 s never steals the keyboard focus from a button in an unchanged row.
 */
export class KeyedRows {
  constructor(tbody) {
    this.tbody = tbody;
    this.rows = new Map(); // key -> {sig, el}
  }

  render(items, key, signature, build) {
    const next = new Map();
    const elements = items.map((item) => {
      const k = key(item);
      const sig = signature(item);
      const old = this.rows.get(k);
      const el = old && old.sig === sig ? old.el : build(item);
      next.set(k, { sig, el });
      return el;
    });
    this.rows = next;
    const current = this.tbody.children;
    if (current.length === elements.length && elements.every((el, i) => current[i] === el)) return;
    const focused = this.tbody.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = focused?.closest("[data-key]")?.dataset.key;
    this.tbody.replaceChildren(...elements);
    // Moving a node drops its focus: give it back (or to the same action of the rebuilt row).
    if (!focused || document.activeElement === focused) return;
    if (this.tbody.contains(focused)) focused.focus();
    else if (focusKey) this.#refocus(focusKey, focused.dataset.action);
  }

  #refocus(key, action) {
    const row = this.tbody.querySelector(`[data-key="${CSS.escape(key)}"]`);
    const target = row && (row.querySelector(`[data-action="${action}"]`) || row.querySelector("button"));
    if (target) target.focus();
  }
}
