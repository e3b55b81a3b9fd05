// The welcome page's behaviour: count a visit through /count's JSON form, keep the count shown
// live (the visitor counter's event stream), and show the result of the PostgreSQL check
// (/hello). No framework, no build step.
"use strict";

async function readError(response) {
  try {
    const body = await response.json();
    return body.message || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function countVisit() {
  const button = document.getElementById("count-button");
  const error = document.getElementById("count-error");
  button.disabled = true;
  try {
    const response = await fetch("/count", { headers: { Accept: "application/json" } });
    if (!response.ok) {
      throw new Error(await readError(response));
    }
    const body = await response.json();
    document.getElementById("count").textContent = String(body.count);
    error.hidden = true;
  } catch (err) {
    error.textContent = `Could not count: ${err.message}`;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function checkPostgres() {
  const hello = document.getElementById("hello");
  // The server says whether a PostgreSQL is configured; without one, /hello can only answer
  // 503, so the page says why instead of asking (a failed request is a console error).
  if (hello.dataset.configured === "no") {
    hello.textContent =
      "no PostgreSQL is configured for this check: set DATABASE_URI=postgres://user:password@host:5432/db";
    hello.className = "warn";
    return;
  }
  try {
    const response = await fetch("/hello");
    if (response.ok) {
      hello.textContent = await response.text();
      hello.className = "ok";
    } else {
      hello.textContent = await readError(response);
      hello.className = "warn";
    }
  } catch (err) {
    hello.textContent = `Could not ask: ${err.message}`;
    hello.className = "warn";
  }
}

// The visitor counter's live events: `data: {"value": N}` now and after every change, from
// whoever counts.
const LIVE_EVENTS = "/api/v1/counters/default/visitor_count/events";
const RETRY_FIRST_MS = 2000;
const RETRY_LONGEST_MS = 30000;

// Keeps the count shown up to date and says whether it is (the text is in the counter's
// polite live region, so a screen reader hears "live" and "reconnecting" too). EventSource
// reconnects by itself after a dropped connection or a server restart; an answer that is not
// a stream (503 while the store is down or the server serves its most streams) makes it give
// up, so then the page opens a new one after a growing pause.
function followCount() {
  const count = document.getElementById("count");
  const state = document.getElementById("live");
  let retryIn = RETRY_FIRST_MS;

  function show(name, text) {
    state.dataset.state = name;
    state.textContent = text;
  }

  function open() {
    const source = new EventSource(LIVE_EVENTS);
    source.addEventListener("open", () => {
      retryIn = RETRY_FIRST_MS;
      show("live", "live");
    });
    source.addEventListener("message", (event) => {
      let value;
      try {
        value = JSON.parse(event.data).value;
      } catch {
        return;
      }
      if (Number.isInteger(value)) {
        count.textContent = String(value);
      }
    });
    source.addEventListener("error", () => {
      show("reconnecting", "reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(open, retryIn);
        retryIn = Math.min(retryIn * 2, RETRY_LONGEST_MS);
      }
    });
  }

  show("connecting", "connecting…");
  open();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("count-button").addEventListener("click", countVisit);
  followCount();
  checkPostgres();
});
