// The page's client of /api/v1: the bearer token (asked for when the API answers 401, kept
// for the tab's session), JSON calls, and Server-Sent Events read over fetch, since an
// EventSource cannot send the Authorization header.

const TOKEN_KEY = "ktrdr-api-token";
let pendingPrompt = null;

/** A refusal of the API, in its error shape: `{success: false, error: {code, message, details}}`. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

function headers(extra) {
  const result = new Headers(extra || {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) result.set("Authorization", "Bearer " + token);
  return result;
}

/** The API's error from a refused `response`. */
async function refusal(response) {
  const text = await response.text();
  let error = {};
  try {
    error = JSON.parse(text).error || {};
  } catch {
    // Not the API's shape (a proxy's page): the text is the message.
  }
  return new ApiError(
    response.status,
    error.code || "HTTP-" + response.status,
    error.message || text || response.statusText,
    error.details,
  );
}

/** Asks for the token (once, however many calls are waiting) and resolves when it is given. */
export function askToken(reason) {
  if (pendingPrompt) return pendingPrompt;
  pendingPrompt = new Promise((resolve) => {
    const dialog = document.getElementById("token-dialog");
    const form = document.getElementById("token-form");
    const input = document.getElementById("token-input");
    dialog.querySelector(".token-reason").textContent = reason;
    input.value = "";
    form.addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        dialog.close();
        pendingPrompt = null;
        resolve();
      },
      { once: true },
    );
    dialog.showModal();
    input.focus();
  });
  return pendingPrompt;
}

/** `fetch` of an API path with the token, asking for it again on 401. */
async function authorised(path, init) {
  for (;;) {
    const response = await fetch("/api/v1" + path, { ...init, headers: headers(init.headers) });
    if (response.status !== 401) return response;
    const error = await refusal(response);
    const had = sessionStorage.getItem(TOKEN_KEY);
    await askToken(had ? "The server refused the token: " + error.message : "This server requires a token.");
  }
}

/** Calls `method path` with the JSON `body`; the answer's JSON, or throws an `ApiError`. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const init = { method, signal, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await authorised(path, init);
  if (!response.ok) throw await refusal(response);
  return response.status === 204 ? null : response.json();
}

/**
 * Reads the event stream at `path` until it ends, calling `onEvent({type, id, data})` for each
 * event and `onOpen()` once connected. Throws on a refusal or a broken connection.
 */
export async function readEvents(path, onEvent, { signal, onOpen } = {}) {
  const response = await authorised(path, {
    signal,
    cache: "no-store",
    headers: { accept: "text/event-stream" },
  });
  if (!response.ok) throw await refusal(response);
  if (onOpen) onOpen();
  if (response.status === 204 || !response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new EventParser(onEvent);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    parser.push(value);
  }
}

/** The `text/event-stream` format: lines of `field: value`, an empty line ends an event. */
class EventParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.reset();
  }

  reset() {
    this.type = "message";
    this.id = null;
    this.data = [];
  }

  push(text) {
    this.buffer += text;
    for (;;) {
      const end = this.buffer.search(/\r\n|\r|\n/);
      // A lone "\r" at the end may be the first half of "\r\n": wait for more.
      if (end < 0 || (end === this.buffer.length - 1 && this.buffer[end] === "\r")) return;
      const line = this.buffer.slice(0, end);
      const skip = this.buffer.startsWith("\r\n", end) ? 2 : 1;
      this.buffer = this.buffer.slice(end + skip);
      this.line(line);
    }
  }

  line(line) {
    if (line === "") {
      if (this.data.length > 0) this.onEvent({ type: this.type, id: this.id, data: this.data.join("\n") });
      this.reset();
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id") this.id = value;
  }
}

/**
 * Follows the event stream at `path` for as long as `signal` allows, reconnecting after a
 * break (1 s, doubling up to 15 s). `onState` hears "live" and "reconnecting"; `onOpen` is
 * called at each (re)connection, so the caller can re-read what it may have missed.
 */
export async function followEvents(path, onEvent, { signal, onState, onOpen } = {}) {
  let wait = 1000;
  while (!signal || !signal.aborted) {
    try {
      await readEvents(path, onEvent, {
        signal,
        onOpen: () => {
          wait = 1000;
          if (onState) onState("live");
          if (onOpen) onOpen();
        },
      });
    } catch (error) {
      if (signal && signal.aborted) return;
      if (error instanceof ApiError && error.status !== 503) {
        if (onState) onState("refused: " + error.message);
        return;
      }
    }
    if (onState) onState("reconnecting…");
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 2, 15000);
  }
}
