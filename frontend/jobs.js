// The jobs dashboard (/jobs): what rq-dashboard is to RQ. It asks for the instance's admin
// token once (kept in sessionStorage: this tab only, gone when it closes), then shows the jobs
// by status with their progress, and the workers with their last heartbeat, refreshed every
// second from GET /api/v1/jobs and GET /api/v1/workers. Polling rather than the SSE stream:
// one request per status a second is nothing for an admin page, and it also shows jobs that
// other people start.
//
// Rows are kept per job id and updated in place, so a refresh does not move the keyboard
// focus or the screen reader's place; only a job whose status changed moves to its new group.
// Everything from the server is set as text, never as HTML, and nothing is inline in the
// page, so it works under a Content-Security-Policy without 'unsafe-inline'.
"use strict";

const TOKEN_KEY = "tally-admin-token";
const REFRESH_MS = 1000;
// Jobs shown per status: the newest.
const PAGE = 50;
const GROUPS = [
  { status: "queued", title: "Queued" },
  { status: "running", title: "Running" },
  { status: "succeeded", title: "Succeeded" },
  { status: "failed", title: "Failed" },
  { status: "cancelled", title: "Cancelled" },
];

let token = sessionStorage.getItem(TOKEN_KEY);
let refreshTimer = null;
// Job id → { item, parts, status }.
const rows = new Map();
// Status → { count, empty, more, list }.
const groups = new Map();

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function readError(response) {
  try {
    const body = await response.json();
    return body.message || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

// A request with the token; a 401 or 403 forgets the token and asks for it again.
async function api(path, options = {}) {
  const headers = { ...(options.headers ?? {}), Authorization: `Bearer ${token}` };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 || response.status === 403) {
    const message = await readError(response);
    signOut(message);
    throw new ApiError(response.status, message);
  }
  if (!response.ok) {
    throw new ApiError(response.status, await readError(response));
  }
  return response;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

// The last 8 hex digits: a UUIDv7 begins with its time, so its first digits are the same for
// every job of the same minute; its end is random.
function shortId(id) {
  return id.slice(-8);
}

function when(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleString() : "";
}

function secondsAgo(timestamp) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(timestamp)) / 1000));
  return `${seconds} s ago`;
}

// --- the token -----------------------------------------------------------------------------

function showDashboard() {
  document.getElementById("token-form").hidden = true;
  document.getElementById("dashboard").hidden = false;
}

function signOut(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(refreshTimer);
  for (const row of rows.values()) {
    row.item.remove();
  }
  rows.clear();
  document.getElementById("dashboard").hidden = true;
  document.getElementById("token-form").hidden = false;
  const error = document.getElementById("token-error");
  error.textContent = message ?? "";
  error.hidden = !message;
  document.getElementById("token").setAttribute("aria-invalid", message ? "true" : "false");
}

async function useToken(event) {
  event.preventDefault();
  const input = document.getElementById("token");
  const typed = input.value.trim();
  if (!typed) {
    return;
  }
  token = typed;
  try {
    // The workers route is the cheapest that needs the token: it says whether it is right.
    await api("/api/v1/workers");
  } catch (err) {
    if (token) {
      signOut(`Could not check the token: ${err.message}`);
    }
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  input.value = "";
  input.removeAttribute("aria-invalid");
  document.getElementById("token-error").hidden = true;
  showDashboard();
  await refresh();
  schedule();
}

// --- refreshing ----------------------------------------------------------------------------

function schedule() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    // A hidden tab asks nothing; it catches up when shown again.
    if (!document.hidden) {
      await refresh();
    }
    if (token) {
      schedule();
    }
  }, REFRESH_MS);
}

async function refresh() {
  const error = document.getElementById("refresh-error");
  try {
    const [workers, ...pages] = await Promise.all([
      api("/api/v1/workers").then((response) => response.json()),
      ...GROUPS.map(({ status }) =>
        api(`/api/v1/jobs?status=${status}&limit=${PAGE}`).then((response) => response.json()),
      ),
    ]);
    renderWorkers(workers.workers);
    renderJobs(pages);
    error.hidden = true;
  } catch (err) {
    if (token) {
      error.textContent = `Could not refresh: ${err.message}`;
      error.hidden = false;
    }
  }
}

// --- workers -------------------------------------------------------------------------------

function renderWorkers(workers) {
  const list = document.getElementById("workers");
  document.getElementById("workers-empty").hidden = workers.length > 0;
  // Nothing in a worker's line can hold the focus, so the list is simply rebuilt.
  list.replaceChildren(
    ...workers.map((worker) => {
      const item = element("li", worker.stale ? "worker stale" : "worker");
      item.append(
        element("strong", "", worker.name),
        element(
          "span",
          "",
          ` · ${worker.concurrency} at once · last heartbeat ${when(worker.last_seen)} (${secondsAgo(worker.last_seen)})`,
        ),
      );
      if (worker.stale) {
        item.append(element("span", "tag warn", "stale: not seen within JOB_LEASE"));
      }
      return item;
    }),
  );
}

// --- jobs ----------------------------------------------------------------------------------

function buildGroups() {
  const container = document.getElementById("groups");
  for (const { status, title } of GROUPS) {
    const section = element("section", `group group-${status}`);
    section.id = `group-${status}`;
    section.setAttribute("aria-labelledby", `group-${status}-title`);
    const heading = element("h3", "", `${title} `);
    heading.id = `group-${status}-title`;
    const count = element("span", "count-tag", "0");
    heading.append(count);
    const empty = element("p", "hint", "None.");
    const list = element("ul", "jobs");
    const more = element("p", "hint", `Only the newest ${PAGE} are shown.`);
    more.hidden = true;
    section.append(heading, empty, list, more);
    container.append(section);
    groups.set(status, { count, empty, list, more });
  }
}

function renderJobs(pages) {
  const seen = new Set();
  GROUPS.forEach(({ status }, index) => {
    const group = groups.get(status);
    const { jobs, next_cursor: nextCursor } = pages[index];
    group.count.textContent = String(jobs.length) + (nextCursor ? "+" : "");
    group.empty.hidden = jobs.length > 0;
    group.more.hidden = !nextCursor;
    let previous = null;
    for (const job of jobs) {
      seen.add(job.id);
      const row = rowFor(job);
      updateRow(row, job);
      // Insert only where the order differs: moving a node that is in place would blur it.
      const wanted = previous ? previous.nextSibling : group.list.firstChild;
      if (row.item !== wanted) {
        group.list.insertBefore(row.item, wanted);
      }
      previous = row.item;
    }
  });
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.item.remove();
      rows.delete(id);
    }
  }
}

function rowFor(job) {
  let row = rows.get(job.id);
  if (row) {
    return row;
  }
  const item = element("li", "job");
  item.dataset.id = job.id;
  const head = element("p", "job-head");
  const kind = element("strong", "job-kind", job.kind);
  const id = element("code", "job-id", shortId(job.id));
  id.title = job.id;
  const created = element("span", "job-time", ` created ${when(job.created_at)}`);
  head.append(kind, " ", id, created);
  const progress = element("div", "job-progress");
  const bar = element("progress");
  bar.setAttribute("aria-label", `Progress of ${job.kind} ${shortId(job.id)}`);
  const progressText = element("span", "job-progress-text");
  progress.append(bar, progressText);
  const details = element("p", "job-details");
  const error = element("p", "job-error error");
  const actions = element("div", "job-actions");
  item.append(head, progress, details, error, actions);
  row = { item, bar, progressText, details, error, actions, status: null };
  rows.set(job.id, row);
  return row;
}

function updateRow(row, job) {
  row.item.dataset.status = job.status;
  setProgress(row.bar, job);
  const { done, total, message } = job.progress;
  let text = total === null ? `${done}` : `${done} of ${total}`;
  if (message) {
    text += ` · ${message}`;
  } else if (job.status === "queued" && done === 0) {
    text = "waiting for a worker";
  }
  row.progressText.textContent = text;

  const details = [`${job.status}`, `attempt ${job.attempts} of ${job.max_attempts}`];
  if (job.worker) {
    details.push(`on ${job.worker}`);
  }
  if (job.finished_at) {
    details.push(`finished ${when(job.finished_at)}`);
  } else if (job.started_at) {
    details.push(`started ${when(job.started_at)}`);
  }
  if (job.params?.target) {
    details.push(`into ${job.params.target}`);
  }
  if (job.kind === "export" && job.result && typeof job.result.counters === "number") {
    details.push(`${job.result.counters} counters, ${job.result.bytes} bytes`);
  }
  row.details.textContent = details.join(" · ");
  row.error.textContent = job.error ?? "";
  row.error.hidden = !job.error;

  // The buttons change with the status only, so a refresh does not replace a focused one.
  if (row.status !== job.status) {
    row.status = job.status;
    row.actions.replaceChildren(...actionsFor(job));
  }
}

function setProgress(bar, job) {
  const { done, total } = job.progress;
  if (total !== null && total > 0) {
    bar.max = total;
    bar.value = Math.min(done, total);
  } else if (job.status === "succeeded") {
    bar.max = 1;
    bar.value = 1;
  } else if (job.status === "running") {
    // Not counted yet: an indeterminate bar.
    bar.removeAttribute("value");
  } else {
    bar.max = 1;
    bar.value = 0;
  }
}

function button(label, name, onClick) {
  const node = element("button", "small", label);
  node.type = "button";
  node.setAttribute("aria-label", name);
  node.addEventListener("click", async () => {
    node.disabled = true;
    try {
      await onClick();
    } finally {
      node.disabled = false;
    }
  });
  return node;
}

function actionsFor(job) {
  const what = `${job.kind} ${shortId(job.id)}`;
  switch (job.status) {
    case "queued":
    case "running":
      return [button("Cancel", `Cancel ${what}`, () => act(job, "cancel", "Cancel"))];
    case "failed":
    case "cancelled":
      return [button("Retry", `Retry ${what}`, () => act(job, "retry", "Retry"))];
    case "succeeded":
      return job.kind === "export"
        ? [button("Download result", `Download the result of ${what}`, () => download(job))]
        : [];
    default:
      return [];
  }
}

function say(message, isError = false) {
  const status = document.getElementById("action-status");
  status.textContent = message;
  status.className = isError ? "status error" : "status";
}

async function act(job, action, label) {
  try {
    const response = await api(`/api/v1/jobs/${job.id}/${action}`, { method: "POST" });
    const after = await response.json();
    say(`${label}: the ${job.kind} ${shortId(job.id)} is ${after.status}.`);
  } catch (err) {
    say(`${label} failed: ${err.message}`, true);
  }
  await refresh();
}

async function download(job) {
  try {
    // Fetched with the token (a plain link cannot send it), then saved from memory.
    const response = await api(`/api/v1/jobs/${job.id}/result`);
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = element("a");
    link.href = url;
    link.download = `tally-export-${job.id}.ndjson`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    say(`Downloaded the export ${shortId(job.id)} (${blob.size} bytes).`);
  } catch (err) {
    say(`Download failed: ${err.message}`, true);
  }
}

// --- starting jobs -------------------------------------------------------------------------

async function start(what, request) {
  try {
    const response = await request();
    const job = await response.json();
    say(`${what} queued as job ${shortId(job.id)}.`);
    await refresh();
    return true;
  } catch (err) {
    say(`Could not start the ${what.toLowerCase()}: ${err.message}`, true);
    return false;
  }
}

function postJob(body) {
  return api("/api/v1/jobs", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function startExport(event) {
  const trigger = event.currentTarget;
  trigger.disabled = true;
  try {
    await start("Export", () => postJob({ kind: "export" }));
  } finally {
    trigger.disabled = false;
  }
}

async function startImport(event) {
  event.preventDefault();
  const input = document.getElementById("import-file");
  const file = input.files?.[0];
  if (!file) {
    return;
  }
  const submit = event.currentTarget.querySelector("button");
  submit.disabled = true;
  try {
    const started = await start("Import", () =>
      api("/api/v1/jobs/import", {
        method: "POST",
        headers: { "Content-Type": "application/x-ndjson" },
        body: file,
      }),
    );
    if (started) {
      input.value = "";
    }
  } finally {
    submit.disabled = false;
  }
}

async function startCopy(event) {
  event.preventDefault();
  const input = document.getElementById("copy-target");
  const target = input.value.trim();
  if (!target) {
    return;
  }
  const submit = event.currentTarget.querySelector("button");
  submit.disabled = true;
  try {
    // A URI tally cannot use is refused at once (400), with the message shown.
    const started = await start("Copy", () => postJob({ kind: "copy", target }));
    input.setAttribute("aria-invalid", started ? "false" : "true");
    if (started) {
      input.value = "";
    }
  } finally {
    submit.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  buildGroups();
  document.getElementById("token-form").addEventListener("submit", useToken);
  document.getElementById("forget-token").addEventListener("click", () => signOut());
  document.getElementById("start-export").addEventListener("click", startExport);
  document.getElementById("import-form").addEventListener("submit", startImport);
  document.getElementById("copy-form").addEventListener("submit", startCopy);
  if (token) {
    showDashboard();
    refresh().then(() => {
      if (token) {
        schedule();
      }
    });
  }
});
