// The console's wiring: state, live refresh, and the dispatcher's actions over the public API.

import { ApiError, ConnectionLost, PREFIX, PolledList, call, tokens } from "./api.js";
import { $ } from "./dom.js";
import { Feed } from "./live.js";
import { CourierView, DeliveryView, TRANSPORT, renderWaiting, tickWaiting } from "./view.js";

const WAITING_RETRY_MS = 60000; // a server without the waiting-orders route is asked again now and then

const state = {
  couriers: [],
  truncated: false,
  deliveries: [],
  waitingCheckedAt: -Infinity,
};
const lists = {
  couriers: new PolledList("/couriers?limit=1000"),
  deliveries: new PolledList("/deliveries?status=active&limit=1000"),
  waiting: new PolledList("/orders/waiting"),
};

// ---- messages ---------------------------------------------------------------------------------

function describe(error) {
  if (error instanceof ApiError) {
    const field = error.field ? ` (field: ${error.field})` : "";
    return `${error.message}${field} — ${error.code}, HTTP ${error.status}`;
  }
  if (error instanceof ConnectionLost) return "The server cannot be reached; the action was not done.";
  return String(error.message || error);
}

function notify(text, kind = "error") {
  const notice = $("notice");
  notice.dataset.kind = kind;
  $("notice-text").textContent = text;
  notice.hidden = false;
}

function report(connection, text) {
  document.body.dataset.connection = connection;
  const el = $("connection");
  el.dataset.state = connection;
  if (el.textContent !== text) el.textContent = text;
}

// ---- reading ----------------------------------------------------------------------------------

const filters = () => ({
  search: $("search").value,
  status: $("filter-status").value,
  transport: $("filter-transport").value,
});

function render() {
  couriersView.render(state.couriers, filters(), state.truncated);
  deliveriesView.render(state.deliveries, new Map(state.couriers.map((c) => [c.id, c])));
}

async function readWaiting() {
  const offered = feed.offers(PREFIX + "/orders/waiting");
  $("assign-wait-field").hidden = !offered;
  if (!offered) {
    $("waiting").hidden = true;
    return;
  }
  if (performance.now() - state.waitingCheckedAt < WAITING_RETRY_MS) return;
  try {
    renderWaiting((await lists.waiting.read()).items);
  } catch (error) {
    if (!(error instanceof ApiError) || ![404, 405].includes(error.status)) throw error;
    // The dispatch work has not landed on this server: no section, and ask again later.
    state.waitingCheckedAt = performance.now();
    $("waiting").hidden = true;
  }
}

async function refresh() {
  const [couriers, deliveries] = await Promise.all([lists.couriers.read(), lists.deliveries.read(), readWaiting()]);
  state.couriers = couriers.items;
  state.truncated = couriers.truncated;
  state.deliveries = deliveries.items;
  render();
  // How long until the dispatcher sees data: read by the browser test that measures the page.
  if (!performance.getEntriesByName("console:first-data").length) performance.mark("console:first-data");
}

// ---- acting -----------------------------------------------------------------------------------

/** Runs one action; its answer or its error is shown, and the page refreshes at once. */
async function act(run, success) {
  try {
    const result = await run();
    notify(success(result), "ok");
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) askToken();
    notify(describe(error));
    return false;
  } finally {
    feed.now();
  }
}

const deadlineText = (iso) => new Date(iso).toLocaleTimeString();

const actions = {
  edit: (courier) => openCourierDialog(courier),
  setStatus: (courier, status) =>
    act(
      () => call("PUT", "/courier", { id: courier.id, status }),
      () => `${courier.name} is now ${status}.`,
    ),
  assignTo: (courier) => {
    $("assign-courier").value = String(courier.id);
    $("assign-order").focus();
  },
  remove: (courier) => {
    if (!confirm(`Delete courier #${courier.id} ${courier.name}?`)) return;
    act(() => call("DELETE", `/courier/${courier.id}`), () => `Courier #${courier.id} deleted.`);
  },
  complete: (d) => act(() => call("POST", "/delivery/complete", { order_id: d.order_id }), (r) => `Order ${r.data.order_id}: ${r.data.status}.`),
  unassign: (d) =>
    act(
      () => call("POST", "/delivery/unassign", { order_id: d.order_id }),
      (r) => `Order ${r.data.order_id} unassigned from courier #${r.data.courier_id}.`,
    ),
};

async function assign(event) {
  event.preventDefault();
  const orderId = $("assign-order").value.trim();
  const chosen = $("assign-courier").value;
  const body = { order_id: orderId };
  if (chosen) body.courier_id = Number(chosen);
  if (!$("assign-wait-field").hidden && $("assign-wait").checked) body.wait = true;
  const done = await act(
    () => call("POST", "/delivery/assign", body),
    ({ data }) =>
      data.status === "waiting"
        ? `Order ${data.order_id} is waiting for a courier.`
        : `Order ${data.order_id} assigned to courier #${data.courier_id} (${TRANSPORT[data.transport_type]}), deadline ${deadlineText(data.delivery_deadline)}.`,
  );
  if (done) $("assign-form").reset();
}

// ---- the courier dialog -----------------------------------------------------------------------

const dialog = $("courier-dialog");
const form = $("courier-form");
let editing = null; // {courier, etag} while editing, null while creating

function showFormError(error) {
  const box = $("courier-error");
  box.textContent = describe(error);
  box.hidden = false;
  for (const input of form.querySelectorAll("input, select")) {
    input.toggleAttribute("aria-invalid", error instanceof ApiError && error.field === input.name);
  }
  form.querySelector("[aria-invalid]")?.focus();
}

async function openCourierDialog(courier) {
  form.reset();
  $("courier-error").hidden = true;
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  editing = null;
  $("courier-dialog-title").textContent = courier ? `Edit courier #${courier.id}` : "New courier";
  if (courier) {
    try {
      // The ETag read here makes the save fail (412) if someone else changed the courier meanwhile.
      const { data, etag } = await call("GET", `/courier/${courier.id}`);
      editing = { courier: data, etag };
      for (const name of ["name", "phone", "transport_type"]) form.elements[name].value = data[name];
      form.elements.status.value = data.status === "paused" ? "paused" : "available";
      form.elements.status.disabled = data.status === "busy";
    } catch (error) {
      notify(describe(error));
      return;
    }
  } else {
    form.elements.status.disabled = false;
  }
  dialog.showModal();
}

function changedFields() {
  const fields = {};
  for (const name of ["name", "phone", "transport_type", "status"]) {
    const input = form.elements[name];
    if (input.disabled) continue;
    const value = input.value.trim();
    if (!editing || editing.courier[name] !== value) fields[name] = value;
  }
  return fields;
}

async function saveCourier(event) {
  event.preventDefault();
  const fields = changedFields();
  if (editing && Object.keys(fields).length === 0) return dialog.close();
  try {
    if (editing) {
      const headers = editing.etag ? { "If-Match": editing.etag } : {};
      await call("PUT", "/courier", { id: editing.courier.id, ...fields }, headers);
      notify(`Courier #${editing.courier.id} updated.`, "ok");
    } else {
      const { data } = await call("POST", "/courier", fields);
      notify(`Courier #${data.id} ${fields.name} created.`, "ok");
    }
    dialog.close();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) askToken();
    showFormError(error);
  } finally {
    feed.now();
  }
}

// ---- the token --------------------------------------------------------------------------------

function askToken() {
  $("token-button").hidden = false;
  const tokenDialog = $("token-dialog");
  if (!tokenDialog.open) tokenDialog.showModal();
}

function wireToken() {
  const tokenDialog = $("token-dialog");
  $("token-button").hidden = !tokens.get();
  $("token-button").addEventListener("click", askToken);
  $("token-form").addEventListener("submit", () => {
    const value = $("token-form").elements.token.value.trim();
    if (value) tokens.set(value);
    $("token-form").reset();
    feed.now();
  });
  $("token-forget").addEventListener("click", () => {
    tokens.forget();
    tokenDialog.close();
    feed.now();
  });
}

// ---- start ------------------------------------------------------------------------------------

const couriersView = new CourierView(actions);
const deliveriesView = new DeliveryView(actions);
const feed = new Feed({
  refresh,
  report,
  updated: (date) => ($("updated").textContent = "updated " + date.toLocaleTimeString()),
  onError: (error) => {
    if (error instanceof ApiError && error.status === 401) {
      report("auth", "Token needed");
      askToken();
      return;
    }
    if (!(error instanceof ApiError)) console.error(error); // a defect of the page: let it be seen
    report("error", describe(error));
  },
});

$("new-courier").addEventListener("click", () => openCourierDialog(null));
$("courier-cancel").addEventListener("click", () => dialog.close());
form.addEventListener("submit", saveCourier);
$("assign-form").addEventListener("submit", assign);
$("courier-filters").addEventListener("input", render);
$("courier-filters").addEventListener("submit", (event) => event.preventDefault());
$("notice-close").addEventListener("click", () => ($("notice").hidden = true));
wireToken();
setInterval(() => (deliveriesView.tick(), tickWaiting()), 1000);
feed.start();
