// The jobs dashboard (/jobs) in a real browser: the real tally binary (memory store, with an
// ADMIN_TOKEN and its default in-process worker, WORKERS=1) and Debian's headless Chromium.
// An export started from the page runs on that worker; the page shows it to the end without
// a reload, and the result downloads. Fails on any console or page error.
//
// Run from the repository root after `cargo build`:
//   (cd tests/browser && npm ci && npm test)

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { launchChromium, openPage } from "./chromium.mjs";
import { startTally } from "./tally.mjs";

const ADMIN_TOKEN = "browser-test-admin-token";
// Counters the export will hold.
const COUNTERS = ["alpha", "beta", "gamma"];
// A job on the in-process worker starts within a second or two; this leaves room for a slow
// CI machine.
const JOB_TIMEOUT_MS = 20_000;

let workDir;
let tally;
let context;

async function withPage(path, check) {
  const { page, problems } = await openPage(context, `${tally.origin}${path}`);
  try {
    await check(page);
    assert.deepEqual(problems, [], "console errors or page errors");
  } finally {
    await page.close();
  }
}

describe("the jobs dashboard in Chromium", () => {
  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), "tally-browser-jobs-"));
    tally = await startTally(workDir, { ADMIN_TOKEN });
    context = await launchChromium(join(workDir, "profile"), tally.origin);
    for (const key of COUNTERS) {
      const response = await fetch(`${tally.origin}/api/v1/counters/browser-jobs/${key}/hit`, {
        method: "POST",
      });
      assert.equal(response.status, 200, `hit ${key}`);
    }
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

  test("the main page links to the dashboard", async () => {
    await withPage("/", async (page) => {
      const link = page.getByRole("link", { name: "Jobs" });
      assert.equal(await link.getAttribute("href"), "/jobs");
      await link.click();
      await page.waitForURL(`${tally.origin}/jobs`);
      assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Jobs");
    });
  });

  test("an export started from the page runs to succeeded, live, and downloads", async () => {
    await withPage("/jobs", async (page) => {
      // The token is asked for once; the dashboard shows after it was checked.
      await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
      await page.getByRole("button", { name: "Use token" }).click();
      await page.getByRole("heading", { name: "Jobs by status" }).waitFor();
      assert.equal(
        await page.evaluate(() => sessionStorage.getItem("tally-admin-token")),
        ADMIN_TOKEN,
      );
      // The in-process worker reports itself.
      await page.locator("#workers li").first().waitFor({ timeout: JOB_TIMEOUT_MS });
      assert.match(await page.locator("#workers li").first().textContent(), /last heartbeat/);

      // Marks this document: a reload would lose the mark.
      await page.evaluate(() => {
        window.notReloaded = true;
      });
      await page.getByRole("button", { name: "Start export" }).click();
      const status = page.locator("#action-status");
      await page.waitForFunction(
        () => /^Export queued as job [0-9a-f]{8}\.$/.test(
          document.getElementById("action-status").textContent,
        ),
      );
      const shortId = /job ([0-9a-f]{8})\./.exec(await status.textContent())[1];

      // Its progress bar shows at once, in whichever group it is by then.
      const bar = page.getByRole("progressbar", { name: `Progress of export ${shortId}` });
      await bar.waitFor();
      // It reaches "succeeded" without a reload, the bar full.
      const done = page.locator("#group-succeeded li.job", {
        has: page.getByRole("progressbar", { name: `Progress of export ${shortId}` }),
      });
      await done.waitFor({ timeout: JOB_TIMEOUT_MS });
      assert.equal(await done.getAttribute("data-status"), "succeeded");
      assert.ok(
        await bar.evaluate((progress) => progress.value === progress.max && progress.max > 0),
        "the bar is full",
      );
      assert.match(await done.locator(".job-details").textContent(), /3 counters/);
      assert.equal(await page.evaluate(() => window.notReloaded), true, "no reload");
      assert.match(
        await page.locator("#group-succeeded h3").textContent(),
        /^Succeeded [1-9]/,
      );

      // The result downloads (fetched with the token, saved from memory).
      const downloading = page.waitForEvent("download");
      await done.getByRole("button", { name: `Download the result of export ${shortId}` }).click();
      const download = await downloading;
      assert.match(download.suggestedFilename(), /^tally-export-[0-9a-f-]{36}\.ndjson$/);
      const path = join(workDir, "export.ndjson");
      await download.saveAs(path);
      const lines = readFileSync(path, "utf8").trim().split("\n").map((line) => JSON.parse(line));
      assert.deepEqual(
        lines.filter((line) => line.namespace === "browser-jobs").map((line) => line.key),
        COUNTERS,
      );

      // At 360 px wide nothing overflows sideways.
      await page.setViewportSize({ width: 360, height: 800 });
      const widths = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
      }));
      assert.ok(widths.scroll <= widths.client, `horizontal overflow: ${JSON.stringify(widths)}`);
    });
  });
});
