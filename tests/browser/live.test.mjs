// The page's live count in a real browser: the real tally binary (memory store) and Debian's
// headless Chromium. A visit counted by another client (this Node process, not the page)
// shows on the open page within 2 s; after tally restarts on the same port, the page
// reconnects by itself and shows the visits counted by the new process.
//
// Run from the repository root after `cargo build`:
//   (cd tests/browser && npm ci && npm test)

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { launchChromium, openPage } from "./chromium.mjs";
import { startTally } from "./tally.mjs";

const SHOWN_WITHIN_MS = 2000;
// EventSource waits about 3 s before reconnecting, and tally needs a moment to start.
const RECONNECTED_WITHIN_MS = 15000;
const EVENTS_PATH = "/api/v1/counters/default/visitor_count/events";

let workDir;
let tally;
let context;

/** Counts a visit the way any other client would: `/count`, from Node. */
async function visitFromElsewhere() {
  const response = await fetch(`${tally.origin}/count`, {
    headers: { Accept: "application/json" },
  });
  assert.equal(response.status, 200);
  return (await response.json()).count;
}

function shows(page, count, timeout) {
  return page.waitForFunction(
    (text) => document.getElementById("count").textContent === text,
    String(count),
    { timeout },
  );
}

function liveState(page, state, timeout) {
  return page.waitForFunction(
    (wanted) => document.getElementById("live").dataset.state === wanted,
    state,
    { timeout },
  );
}

/**
 * Problems that are not expected: while tally is down, Chromium logs each failed attempt of
 * the EventSource to reconnect (`net::ERR_CONNECTION_REFUSED`, or a reset as tally stops).
 */
function unexpected(problems, { restarting }) {
  return problems.filter((problem) => {
    const reconnecting =
      restarting &&
      problem.kind === "console" &&
      /net::ERR_|Failed to load resource/.test(problem.text) &&
      (!problem.url || new URL(problem.url).pathname === EVENTS_PATH);
    return !reconnecting;
  });
}

describe("the page's live count in Chromium", () => {
  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), "tally-browser-live-"));
    tally = await startTally(workDir);
    context = await launchChromium(join(workDir, "profile"), tally.origin);
  });

  after(async () => {
    await context?.close();
    const stopped = await tally?.stop();
    if (workDir) {
      rmSync(workDir, { recursive: true, force: true });
    }
    if (stopped) {
      assert.equal(stopped.code, 0, `tally did not exit cleanly:\n${tally.log()}`);
    }
  });

  test("a visit counted elsewhere shows on the open page within 2 s", async () => {
    const { page, problems } = await openPage(context, `${tally.origin}/`);
    try {
      await liveState(page, "live", 5000);
      assert.equal(await page.locator("#live").textContent(), "live");
      const before = Number(await page.locator("#count").textContent());
      assert.ok(Number.isInteger(before), "the page opens with a number");
      for (let visit = 1; visit <= 3; visit += 1) {
        const started = Date.now();
        const counted = await visitFromElsewhere();
        assert.equal(counted, before + visit);
        await shows(page, counted, SHOWN_WITHIN_MS);
        assert.ok(Date.now() - started <= SHOWN_WITHIN_MS);
      }
      assert.deepEqual(unexpected(problems, { restarting: false }), []);
    } finally {
      await page.close();
    }
  });

  test("after tally restarts on its port the page reconnects and counts on", async () => {
    const { page, problems } = await openPage(context, `${tally.origin}/`);
    try {
      await liveState(page, "live", 5000);
      await shows(page, await visitFromElsewhere(), SHOWN_WITHIN_MS);

      const stopped = await tally.stop();
      assert.equal(stopped.code, 0, `tally did not exit cleanly:\n${tally.log()}`);
      await liveState(page, "reconnecting", 5000);
      assert.equal(await page.locator("#live").textContent(), "reconnecting…");

      tally = await startTally(workDir, {}, { port: tally.port });
      await liveState(page, "live", RECONNECTED_WITHIN_MS);
      // A new memory store: the first event after reconnecting is its count, 0.
      await shows(page, 0, SHOWN_WITHIN_MS);
      const counted = await visitFromElsewhere();
      assert.equal(counted, 1);
      await shows(page, counted, SHOWN_WITHIN_MS);
      assert.deepEqual(unexpected(problems, { restarting: true }), []);
    } finally {
      await page.close();
    }
  });
});
