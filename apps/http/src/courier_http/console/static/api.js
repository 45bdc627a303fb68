// The public API, as any client sees it: JSON in and out, the error envelope, an optional bearer
// token kept in session storage only, and ETag revalidation for the lists the page polls.

export const PREFIX = "/api/v1";
const TOKEN_KEY = "courier.console.token";
const MAX_PAGES = 5; // lists are read 1000 at a time; past 5000 rows the page says it shows the first ones

/** An answer of the API that is not a success, carrying the error envelope's code and message. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field ?? null;
  }
}

/** The server could not be reached (network down, server stopped). */
export class ConnectionLost extends Error {}

/**
 * The server's clock, as well as the `Date` header tells it (whole seconds): countdowns use it so a
 * browser whose clock is off still counts down to the deadline the server set.
 */
export const clock = {
  offset: 0,
  now() {
    return Date.now() + this.offset;
  },
  observe(dateHeader) {
    const server = Date.parse(dateHeader ?? "");
    if (Number.isNaN(server)) return;
    const offset = server + 500 - Date.now(); // the header truncates to the second
    if (Math.abs(offset - this.offset) > 1500) this.offset = Math.abs(offset) > 1500 ? offset : 0;
  },
};

export const tokens = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  forget: () => sessionStorage.removeItem(TOKEN_KEY),
};

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy's page, say): fall through to the status line
  }
  const error = body && body.error;
  if (error && typeof error.message === "string") {
    return new ApiError(response.status, error.code, error.message, error.field);
  }
  return new ApiError(response.status, "http_" + response.status, `HTTP ${response.status} ${response.statusText}`);
}

/** One request; resolves to the Response when it is a success (or a 304), throws otherwise. */
export async function send(method, path, { body, headers = {}, signal } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, signal, cache: "no-store" };
  const token = tokens.get();
  if (token) init.headers.Authorization = "Bearer " + token;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(PREFIX + path, init);
  } catch (cause) {
    if (signal && signal.aborted) throw cause;
    throw new ConnectionLost("the server cannot be reached", { cause });
  }
  clock.observe(response.headers.get("Date"));
  if (response.ok || response.status === 304) return response;
  throw await errorOf(response);
}

export async function call(method, path, body, headers) {
  const response = await send(method, path, { body, headers });
  return { data: await response.json(), etag: response.headers.get("ETag") };
}

function nextPath(response) {
  const link = response.headers.get("Link");
  const match = link && /<([^>]+)>\s*;\s*rel="next"/.exec(link);
  if (!match) return null;
  const url = new URL(match[1], location.origin);
  return url.pathname.replace(PREFIX, "") + url.search;
}

/**
 * A list the page reads again and again. It follows `Link: rel="next"` a few pages, and sends
 * `If-None-Match` when the API gave an ETag, so an unchanged list costs a 304 and no parsing.
 */
export class PolledList {
  constructor(path) {
    this.path = path;
    this.pages = new Map(); // path -> {etag, items, next}
  }

  async read() {
    const items = [];
    let path = this.path;
    let count = 0;
    while (path && count < MAX_PAGES) {
      const page = await this.#page(path);
      items.push(...page.items);
      path = page.next;
      count += 1;
    }
    return { items, truncated: Boolean(path) };
  }

  async #page(path) {
    const cached = this.pages.get(path);
    const headers = cached && cached.etag ? { "If-None-Match": cached.etag } : {};
    const response = await send("GET", path, { headers });
    if (response.status === 304 && cached) return cached;
    const body = await response.json();
    // A list is a JSON array; an object wrapping one ({"items": [...]}) is read the same way.
    const items = Array.isArray(body) ? body : (body.items ?? body.orders ?? []);
    const page = { etag: response.headers.get("ETag"), items, next: nextPath(response) };
    this.pages.set(path, page);
    return page;
  }
}

/**
 * The API's paths, from its OpenAPI document: how the page learns whether the optional routes
 * (`/api/v1/stream`, `/api/v1/orders/waiting`) exist without asking them and logging 404s.
 * `null` when the document cannot be read (then the page simply tries the routes).
 */
export async function offeredPaths() {
  try {
    const response = await fetch("/openapi.json", { cache: "no-store" });
    if (!response.ok) return null;
    const document = await response.json();
    return new Set(Object.keys(document.paths ?? {}));
  } catch {
    return null;
  }
}
