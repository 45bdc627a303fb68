// Live updates: the API's server-sent events when it has `GET /api/v1/stream`, else polling at most
// every 2 s. Failures back off and show "connection lost / reconnecting" until the API answers again.

import { ApiError, ConnectionLost, PREFIX, offeredPaths, tokens } from "./api.js";

const POLL_MS = 2000; // the ceiling: never poll more often than this
const STREAM_SAFETY_MS = 30000; // with a stream, a slow poll still catches anything a gap lost
const MAX_BACKOFF_MS = 16000;
const STREAM_RETRY_MS = 60000; // a server without the stream is asked again now and then

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Transient: the network, an unavailable or overloaded server. Anything else is the page's to show. */
export const transient = (error) =>
  error instanceof ConnectionLost ||
  (error instanceof ApiError && (error.status >= 500 || error.status === 429 || error.status === 408));

export class Feed {
  /**
   * refresh(): reads and renders everything, throws on failure.
   * report(state, text): shows the connection state; updated(date): when data last came.
   * onError(error): a non-transient failure.
   */
  constructor({ refresh, report, updated, onError }) {
    Object.assign(this, { refresh, report, updated, onError });
    this.failures = 0;
    this.streaming = false;
    this.lastEventId = null;
    this.streamCheckedAt = -Infinity;
    this.wake = new AbortController();
    this.checked = false;
    this.lostSince = null;
    this.stuck = false;
    this.paths = null; // the API's paths (null: unknown), read at start and after each reconnection
  }

  start() {
    this.#loop();
  }

  /** Whether the API offers `path` (when its document cannot be read: assume so, and try). */
  offers(path) {
    return this.paths === null || this.paths.has(path);
  }

  /** Refresh now (after an action) instead of waiting for the next poll. */
  now() {
    this.wake.abort();
  }

  async #loop() {
    for (;;) {
      // A console left in a background tab stops asking; it catches up as soon as it is shown.
      if (document.hidden) await new Promise((shown) => document.addEventListener("visibilitychange", shown, { once: true }));
      // A new waker before the cycle: a call to now() during the cycle then skips the next wait.
      this.wake = new AbortController();
      await this.#cycle();
      if (!this.streaming && this.failures === 0) this.#maybeStream();
      await sleep(this.#delay(), this.wake.signal);
    }
  }

  #delay() {
    if (this.failures) return Math.min(POLL_MS * 2 ** (this.failures - 1), MAX_BACKOFF_MS);
    return this.streaming || this.stuck ? STREAM_SAFETY_MS : POLL_MS;
  }

  async #cycle() {
    try {
      if (this.failures || !this.checked) {
        this.paths = await offeredPaths();
        this.checked = true;
      }
      await this.refresh();
      this.failures = 0;
      this.stuck = false;
      this.lostSince = null;
      this.#reportLive();
    } catch (error) {
      if (!transient(error)) {
        // Asking again soon would fail the same way (a token is needed, say): wait for the
        // dispatcher, whose next action or token calls now().
        this.stuck = true;
        this.onError(error);
        return;
      }
      this.failures += 1;
      this.lostSince ??= new Date().toLocaleTimeString();
      const seconds = Math.round(this.#delay() / 1000);
      this.report("lost", `Connection lost at ${this.lostSince} · reconnecting in ${seconds} s…`);
    }
  }

  #reportLive() {
    // The status text changes only with the state (a screen reader announces each change); the
    // time of the last update is shown beside it, outside the live region.
    this.report("live", this.streaming ? "Live · live stream" : "Live · updates every 2 s");
    this.updated(new Date());
  }

  async #maybeStream() {
    if (!this.offers(PREFIX + "/stream")) return;
    if (performance.now() - this.streamCheckedAt < STREAM_RETRY_MS) return;
    this.streamCheckedAt = performance.now();
    const response = await this.#openStream();
    if (!response) return;
    this.streaming = true;
    this.#reportLive();
    try {
      await this.#read(response.body.getReader());
    } catch {
      // the stream broke: polling takes over and the stream is tried again later
    }
    this.streaming = false;
    this.streamCheckedAt = -Infinity;
    this.now();
  }

  async #openStream() {
    const headers = { Accept: "text/event-stream" };
    const token = tokens.get();
    if (token) headers.Authorization = "Bearer " + token;
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    try {
      const response = await fetch(PREFIX + "/stream", { headers, cache: "no-store" });
      const type = response.headers.get("Content-Type") || "";
      if (response.ok && type.startsWith("text/event-stream") && response.body) return response;
      await response.body?.cancel();
    } catch {
      // no stream today: polling goes on
    }
    return null;
  }

  async #read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop();
      if (blocks.some((block) => this.#event(block))) this.now();
    }
  }

  /** One event block; true when it carries data (comments and keep-alives do not). */
  #event(block) {
    let data = false;
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("id:")) this.lastEventId = line.slice(3).trim();
      if (line.startsWith("data:")) data = true;
    }
    return data;
  }
}
