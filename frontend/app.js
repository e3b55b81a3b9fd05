// The welcome page's behaviour: count a visit through /count's JSON form, and show the
// result of the PostgreSQL check (/hello). No framework, no build step.
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

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("count-button").addEventListener("click", countVisit);
  checkPostgres();
});
