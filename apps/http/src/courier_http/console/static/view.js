// What the page shows: couriers, active deliveries with their countdown, waiting orders.
// Pure rendering: actions are handed in as callbacks by main.js.

import { $, h, KeyedRows } from "./dom.js";
import { clock } from "./api.js";

export const TRANSPORT = { on_foot: "on foot", scooter: "scooter", car: "car" };
const AT_RISK = 0.8; // past 80 % of its window a delivery is at risk (dispatch-plus.md, service levels)

export function duration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const [hours, minutes, seconds] = [Math.floor(total / 3600), Math.floor(total / 60) % 60, total % 60];
  const mm = hours ? String(minutes).padStart(2, "0") : String(minutes);
  return (hours ? hours + ":" : "") + mm + ":" + String(seconds).padStart(2, "0");
}

const clockTime = (iso) =>
  new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** Where a delivery stands at `now`: its text and its state (ok, at-risk, overdue). */
export function countdown(delivery, now) {
  const deadline = Date.parse(delivery.deadline);
  const assigned = Date.parse(delivery.assigned_at);
  const left = deadline - now;
  if (left < 0) return { state: "overdue", text: "overdue " + duration(-left) };
  const used = (now - assigned) / Math.max(1, deadline - assigned);
  return { state: used >= AT_RISK ? "at-risk" : "ok", text: duration(left) + " left" };
}

export function matches(courier, { search, status, transport }) {
  if (status && courier.status !== status) return false;
  if (transport && courier.transport_type !== transport) return false;
  if (!search) return true;
  const needle = search.trim().toLowerCase();
  return (
    courier.name.toLowerCase().includes(needle) ||
    courier.phone.includes(needle) ||
    String(courier.id) === needle.replace(/^#/, "")
  );
}

const cell = (label, ...content) => h("td", { "data-label": label }, ...content);
const badge = (status) => h("span", { class: "badge " + status }, status);

function button(text, action, label, onclick) {
  return h("button", { type: "button", class: "small", "data-action": action, "aria-label": label, onclick }, text);
}

/** The couriers' table, their counts by status, and the assign form's list of available couriers. */
export class CourierView {
  constructor(actions) {
    this.actions = actions; // {edit, setStatus, assignTo, remove}
    this.rows = new KeyedRows($("courier-rows"));
  }

  render(couriers, filters, truncated) {
    const shown = couriers.filter((c) => matches(c, filters));
    this.rows.render(shown, (c) => String(c.id), (c) => JSON.stringify(c), (c) => this.#row(c));
    $("courier-empty").hidden = shown.length > 0;
    $("courier-more").hidden = !truncated;
    $("courier-more").textContent = truncated ? `Showing the first ${couriers.length} couriers.` : "";
    this.#counts(couriers);
    this.#assignOptions(couriers);
  }

  #row(c) {
    const a = this.actions;
    const name = c.name;
    const buttons = [button("Edit", "edit", `Edit ${name}`, () => a.edit(c))];
    if (c.status === "available") {
      buttons.push(button("Assign…", "assign", `Assign an order to ${name}`, () => a.assignTo(c)));
      buttons.push(button("Pause", "pause", `Pause ${name}`, () => a.setStatus(c, "paused")));
    } else if (c.status === "paused") {
      buttons.push(button("Resume", "resume", `Resume ${name}`, () => a.setStatus(c, "available")));
    }
    buttons.push(button("Delete", "delete", `Delete ${name}`, () => a.remove(c)));
    return h(
      "tr",
      { "data-key": c.id, class: c.status },
      cell("#", c.id),
      cell("Name", name),
      cell("Phone", c.phone),
      cell("Status", badge(c.status)),
      cell("Transport", TRANSPORT[c.transport_type] ?? c.transport_type),
      cell("Actions", h("div", { class: "actions" }, buttons)),
    );
  }

  #counts(couriers) {
    const by = { available: 0, busy: 0, paused: 0 };
    for (const c of couriers) by[c.status] = (by[c.status] ?? 0) + 1;
    $("courier-counts").replaceChildren(
      ...Object.entries(by).map(([status, n]) => h("span", { class: "count " + status }, `${status} ${n}`)),
    );
  }

  #assignOptions(couriers) {
    const select = $("assign-courier");
    const chosen = select.value;
    const available = couriers.filter((c) => c.status === "available");
    const signature = JSON.stringify(available.map((c) => [c.id, c.name, c.transport_type]));
    if (select.dataset.signature === signature) return;
    select.dataset.signature = signature;
    select.replaceChildren(
      h("option", { value: "" }, "automatic (least loaded)"),
      ...available.map((c) => h("option", { value: c.id }, `#${c.id} ${c.name} (${TRANSPORT[c.transport_type]})`)),
    );
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  }
}

/** Active deliveries; their countdown cells are updated every second by `tick()`. */
export class DeliveryView {
  constructor(actions) {
    this.actions = actions; // {complete, unassign}
    this.rows = new KeyedRows($("delivery-rows"));
    this.deliveries = [];
  }

  render(deliveries, couriersById) {
    this.deliveries = deliveries;
    const who = (d) => couriersById.get(d.courier_id);
    const signature = (d) => JSON.stringify([d, who(d)?.name]);
    this.rows.render(deliveries, (d) => d.order_id, signature, (d) => this.#row(d, who(d)));
    $("delivery-empty").hidden = deliveries.length > 0;
    this.tick();
  }

  tick() {
    const now = clock.now();
    for (const tr of $("delivery-rows").children) {
      const left = tr.querySelector(".left");
      const status = countdown(JSON.parse(tr.dataset.times), now);
      if (left.textContent !== status.text) left.textContent = status.text;
      if (tr.dataset.state !== status.state) tr.dataset.state = status.state;
    }
  }

  #row(d, courier) {
    const a = this.actions;
    const times = JSON.stringify({ deadline: d.deadline, assigned_at: d.assigned_at });
    const courierText = courier ? `#${d.courier_id} ${courier.name}` : `#${d.courier_id}`;
    return h(
      "tr",
      { "data-key": d.order_id, dataset: { times } },
      cell("Order", h("code", {}, d.order_id)),
      cell("Courier", courierText),
      cell(
        "Deadline",
        h(
          "div",
          {},
          h("span", { class: "left", role: "timer" }),
          h("small", {}, "due ", h("time", { datetime: d.deadline }, clockTime(d.deadline))),
        ),
      ),
      cell(
        "Actions",
        h(
          "div",
          { class: "actions" },
          button("Complete", "complete", `Complete order ${d.order_id}`, () => a.complete(d)),
          button("Unassign", "unassign", `Unassign order ${d.order_id}`, () => a.unassign(d)),
        ),
      ),
    );
  }
}

/** Waiting orders, oldest first, with their age (shown only when the API has the route). */
export function renderWaiting(orders) {
  $("waiting").hidden = false;
  const now = clock.now();
  $("waiting-rows").replaceChildren(
    ...orders.map((o) => {
      const since = o.since ? Date.parse(o.since) : now - (o.age_seconds ?? 0) * 1000;
      const age = h("span", { class: "age" });
      return h("li", { "data-key": o.order_id, dataset: { since } }, h("code", {}, o.order_id), age);
    }),
  );
  $("waiting-empty").hidden = orders.length > 0;
  tickWaiting();
}

/** The waiting orders' ages grow every second between two reads. */
export function tickWaiting() {
  const now = clock.now();
  for (const li of $("waiting-rows").children) {
    li.querySelector(".age").textContent = "waiting " + duration(now - Number(li.dataset.since));
  }
}
