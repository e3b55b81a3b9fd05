// The page's chart of the visitor counter's last 30 days, drawn from the history API's JSON
// (GET /api/v1/counters/default/visitor_count/history) in the browser's own time zone: one
// bar of visits per day with the day's unique visitors darker inside it. Built with DOM calls
// only (no inline script or style), so it works under the page's strict CSP. It redraws when
// the count shown changes, whoever changed it (the button, or a live update), without
// touching app.js.
"use strict";

const HISTORY_DAYS = 30;
const HISTORY_PATH = "/api/v1/counters/default/visitor_count/history";
const SVG_NS = "http://www.w3.org/2000/svg";
// Drawing units; the SVG scales to the section's width.
const BAR_SLOT = 10;
const BAR_WIDTH = 8;
const CHART_HEIGHT = 60;

/** The browser's IANA zone, or UTC when it does not say. */
function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

async function fetchDays(zone) {
  const query = new URLSearchParams({ days: String(HISTORY_DAYS), tz: zone });
  const response = await fetch(`${HISTORY_PATH}?${query}`, {
    headers: { Accept: "application/json" },
  });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      message = (await response.json()).message || message;
    } catch {
      // Keep the status.
    }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) {
    element.setAttribute(key, String(value));
  }
  return element;
}

/** `n` and the word, plural unless `n` is 1. */
function counted(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Replaces the chart with bars for `days` (oldest first). */
function draw(days, zone) {
  const chart = document.getElementById("history-chart");
  const largest = Math.max(1, ...days.map((day) => day.hits));
  const width = days.length * BAR_SLOT;
  const svg = svgElement("svg", {
    viewBox: `0 0 ${width} ${CHART_HEIGHT}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": `Visits per day for the last ${days.length} days (${zone})`,
  });
  days.forEach((day, index) => {
    const group = svgElement("g", {
      class: "day",
      "data-date": day.date,
      "data-hits": day.hits,
      "data-uniques": day.uniques,
    });
    const title = svgElement("title", {});
    title.textContent = `${day.date}: ${day.hits} visits, ${day.uniques} unique visitors`;
    group.append(title);
    const x = index * BAR_SLOT + (BAR_SLOT - BAR_WIDTH) / 2;
    const hitsHeight = (CHART_HEIGHT * day.hits) / largest;
    // An estimate may pass the day's visits by a little; the dark bar stays inside.
    const uniquesHeight = (CHART_HEIGHT * Math.min(day.uniques, day.hits)) / largest;
    group.append(
      svgElement("rect", {
        class: "hits",
        x,
        y: CHART_HEIGHT - hitsHeight,
        width: BAR_WIDTH,
        height: hitsHeight,
      }),
      svgElement("rect", {
        class: "uniques",
        x,
        y: CHART_HEIGHT - uniquesHeight,
        width: BAR_WIDTH,
        height: uniquesHeight,
      }),
    );
    svg.append(group);
  });
  svg.append(
    svgElement("line", { class: "baseline", x1: 0, y1: CHART_HEIGHT, x2: width, y2: CHART_HEIGHT }),
  );
  chart.replaceChildren(svg);
  const today = days[days.length - 1];
  const total = days.reduce((sum, day) => sum + day.hits, 0);
  document.getElementById("history-first").textContent = days[0].date;
  document.getElementById("history-last").textContent = today.date;
  const summary = document.getElementById("history-summary");
  summary.dataset.todayHits = String(today.hits);
  summary.dataset.todayUniques = String(today.uniques);
  summary.textContent =
    `Today: ${counted(today.hits, "visit")} by ${counted(today.uniques, "unique visitor")} · ` +
    `${counted(total, "visit")} in ${days.length} days (${zone})`;
}

let zone = browserZone();

async function loadHistory() {
  const error = document.getElementById("history-error");
  try {
    let days;
    try {
      days = await fetchDays(zone);
    } catch (err) {
      // A zone this tally does not know: show UTC's days instead.
      if (err.status !== 400 || zone === "UTC") {
        throw err;
      }
      zone = "UTC";
      days = await fetchDays(zone);
    }
    draw(days, zone);
    error.hidden = true;
  } catch (err) {
    error.textContent = `Could not load the history: ${err.message}`;
    error.hidden = false;
  }
}

/** Calls `action` once things have been quiet for `ms`. */
function debounced(action, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(action, ms);
  };
}

document.addEventListener("DOMContentLoaded", () => {
  loadHistory();
  const refresh = debounced(loadHistory, 250);
  new MutationObserver(refresh).observe(document.getElementById("count"), {
    childList: true,
    characterData: true,
    subtree: true,
  });
});
