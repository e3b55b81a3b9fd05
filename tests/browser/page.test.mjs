// The page in a real browser: the real tally binary (memory store) and Debian's headless
// Chromium. Each test opens the page afresh and fails on any console or page error, apart
// from the failed responses listed in `expectedFailures`.
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

const NARROW = { width: 360, height: 800 };

let workDir;
let tally;
let context;

// Any counter's badge, as the preview asks for it.
const BADGE_PATH = /^\/api\/v1\/counters\/[^/]+\/[^/]+\/badge\.svg$/;

/**
 * Chromium logs "Failed to load resource: the server responded with a status of N" as a
 * console error for every 4xx/5xx response, whoever asked for it. These are the ones the page
 * meets by design in this setup, each a path pattern and a status; any other one fails.
 */
function expectedFailures() {
  // None: without a PostgreSQL the page does not ask /hello (whose 503 would be one).
  return [];
}

function isExpected(problem, failures) {
  const match = /^Failed to load resource: the server responded with a status of (\d+)/.exec(
    problem.text,
  );
  if (problem.kind !== "console" || !match || !problem.url) {
    return false;
  }
  const status = Number(match[1]);
  const { pathname } = new URL(problem.url);
  return failures.some((failure) => failure.status === status && failure.path.test(pathname));
}

/**
 * Opens the page, runs `check`, then fails on any console or page error that is neither in
 * `expectedFailures()` nor in `alsoExpected` (the same shape).
 */
async function withPage(check, alsoExpected = []) {
  const { page, problems } = await openPage(context, `${tally.origin}/`);
  try {
    await check(page);
    const failures = [...expectedFailures(), ...alsoExpected];
    assert.deepEqual(
      problems.filter((problem) => !isExpected(problem, failures)),
      [],
      "console errors or page errors",
    );
  } finally {
    await page.close();
  }
}

function snippets(namespace, key, style) {
  const url = `${tally.origin}/api/v1/counters/${namespace}/${key}/badge.svg?style=${style}`;
  return {
    markdown: `![visitors](${url})`,
    html: `<img src="${url}" alt="visitors">`,
  };
}

async function shownSnippets(page) {
  return {
    markdown: await page.locator("#badge-markdown").inputValue(),
    html: await page.locator("#badge-html").inputValue(),
  };
}

describe("the page in Chromium", () => {
  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), "tally-browser-"));
    tally = await startTally(workDir);
    context = await launchChromium(join(workDir, "profile"), tally.origin);
  });

  after(async () => {
    await context?.close();
    const stopped = await tally?.stop();
    if (workDir) {
      rmSync(join(workDir, "profile"), { recursive: true, force: true });
    }
    // tally finishes its requests and exits 0 on SIGTERM.
    if (stopped) {
      assert.equal(stopped.code, 0, `tally did not exit cleanly:\n${tally.log()}`);
    }
  });

  test("the count button increments the count shown", async () => {
    await withPage(async (page) => {
      const count = page.locator("#count");
      const before = Number(await count.textContent());
      assert.ok(Number.isInteger(before), "the page opens with a number");
      const shows = (n) =>
        page.waitForFunction(
          (text) => document.getElementById("count").textContent === text,
          String(n),
        );
      await page.getByRole("button", { name: "Count a visit" }).click();
      await shows(before + 1);
      await page.getByRole("button", { name: "Count a visit" }).click();
      await shows(before + 2);
      assert.equal(await page.locator("#count-error").isHidden(), true);
      // Without PostgreSQL the check says how to configure it instead of failing the page.
      await page.waitForFunction(() => document.getElementById("hello").className === "warn");
      assert.match(await page.locator("#hello").textContent(), /DATABASE_URI/);
    });
  });

  test("the chart shows the last 30 days with today's visits", async () => {
    await withPage(async (page) => {
      const days = page.locator("#history-chart svg g.day");
      await page.waitForFunction(
        () => document.querySelectorAll("#history-chart svg g.day").length === 30,
      );
      const today = () =>
        page.evaluate(() => {
          const bars = document.querySelectorAll("#history-chart svg g.day");
          const last = bars[bars.length - 1];
          return {
            date: last.dataset.date,
            hits: Number(last.dataset.hits),
            uniques: Number(last.dataset.uniques),
          };
        });
      const before = await today();
      // The last bar is today in the browser's zone (either side of a midnight in between).
      const localDate = () =>
        page.evaluate(() => new Intl.DateTimeFormat("en-CA").format(new Date()));
      const dateBefore = await localDate();
      for (let n = 1; n <= 3; n += 1) {
        const next = String(Number(await page.locator("#count").textContent()) + 1);
        await page.getByRole("button", { name: "Count a visit" }).click();
        await page.waitForFunction(
          (text) => document.getElementById("count").textContent === text,
          next,
        );
      }
      // The chart redraws on its own once the count shown has changed.
      await page.waitForFunction(
        (hits) => {
          const bars = document.querySelectorAll("#history-chart svg g.day");
          return Number(bars[bars.length - 1]?.dataset.hits) === hits;
        },
        before.hits + 3,
      );
      const after = await today();
      assert.ok([dateBefore, await localDate()].includes(after.date), after.date);
      assert.equal(after.hits, before.hits + 3);
      // One browser is one visitor: its three visits add at most one (none if it had come
      // before today).
      assert.ok(after.uniques >= 1 && after.uniques <= before.uniques + 1, JSON.stringify(after));
      assert.equal(await days.count(), 30);
      const bar = days.last().locator("rect.hits");
      assert.ok(Number(await bar.getAttribute("height")) > 0, "today's bar is drawn");
      const visitors = after.uniques === 1 ? "1 unique visitor" : `${after.uniques} unique visitors`;
      assert.match(
        await page.locator("#history-summary").textContent(),
        new RegExp(`^Today: ${after.hits} visits by ${visitors} · \\d+ visits? in 30 days \\(`),
      );
      assert.equal(await page.locator("#history-last").textContent(), after.date);
      assert.equal(await page.locator("#history-error").isHidden(), true);
    });
  });

  test("the badge section builds Markdown and HTML for the defaults", async () => {
    await withPage(async (page) => {
      assert.equal(await page.getByLabel("Namespace").inputValue(), "default");
      assert.equal(await page.getByLabel("Key").inputValue(), "visitor_count");
      assert.equal(await page.getByLabel("Style").inputValue(), "flat");
      assert.deepEqual(await shownSnippets(page), snippets("default", "visitor_count", "flat"));
    });
  });

  test("the badge section builds Markdown and HTML for a typed name and style", async () => {
    await withPage(async (page) => {
      await page.getByLabel("Namespace").fill("my-site.org");
      await page.getByLabel("Key").fill("home_page-2");
      await page.getByLabel("Style").selectOption("for-the-badge");
      assert.deepEqual(
        await shownSnippets(page),
        snippets("my-site.org", "home_page-2", "for-the-badge"),
      );

      // The preview asks for the same badge without counting a visit.
      const preview = page.locator("#badge-preview");
      await page.waitForFunction(() =>
        document.getElementById("badge-preview").getAttribute("src")?.includes("home_page-2"),
      );
      assert.equal(
        await preview.getAttribute("src"),
        "/api/v1/counters/my-site.org/home_page-2/badge.svg?style=for-the-badge&count=false",
      );
      // The preview shows the real badge (with count=false: previewing counts nothing).
      await preview.waitFor({ state: "visible" });
      assert.ok(await preview.evaluate((img) => img.naturalWidth > 0), "the badge renders");
    });
  });

  test("the preview shows a badge that loads and hides one that fails", async () => {
    // The badge route is stood in for, so this holds whatever the server has: one key gets
    // an SVG, another a 500.
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="80" height="20">' +
      '<rect width="80" height="20" fill="#4c1"/></svg>';
    const counted = [];
    await withPage(
      async (page) => {
        await page.route(
          (url) => BADGE_PATH.test(url.pathname),
          (route) => {
            const { pathname, searchParams } = new URL(route.request().url());
            counted.push(searchParams.get("count"));
            return pathname.includes("/broken/")
              ? route.fulfill({ status: 500, body: "" })
              : route.fulfill({ status: 200, contentType: "image/svg+xml", body: svg });
          },
        );
        const preview = page.locator("#badge-preview");
        await page.getByLabel("Key").fill("works");
        await preview.waitFor({ state: "visible" });
        assert.equal(await preview.evaluate((img) => img.naturalWidth), 80);

        await page.getByLabel("Key").fill("broken");
        await page.waitForFunction(() =>
          document.getElementById("badge-preview").getAttribute("src")?.includes("/broken/"),
        );
        await preview.waitFor({ state: "hidden" });
        // The snippets do not depend on the preview.
        assert.deepEqual(await shownSnippets(page), snippets("default", "broken", "flat"));
        // Every preview request said not to count.
        assert.ok(counted.length >= 2, `preview requests: ${counted}`);
        assert.deepEqual(new Set(counted), new Set(["false"]));
      },
      [{ path: /\/broken\/badge\.svg$/, status: 500 }],
    );
  });

  test("an invalid key shows the message and no snippet", async () => {
    await withPage(async (page) => {
      const key = page.getByLabel("Key");
      for (const bad of ["ab", "has space", "a/b/c", "x".repeat(65), '"><img src=x>']) {
        await key.fill(bad);
        const message = page.locator("#badge-key-error");
        await message.waitFor({ state: "visible" });
        assert.match(
          await message.textContent(),
          /^Key must be 3 to 64 characters: letters, digits, '_', '\.' or '-'\.$/,
          bad,
        );
        assert.equal(await key.getAttribute("aria-invalid"), "true", bad);
        assert.deepEqual(await shownSnippets(page), { markdown: "", html: "" }, bad);
        assert.equal(await page.locator("#badge-output").isHidden(), true, bad);
        assert.equal(await page.getByRole("button", { name: "Copy Markdown" }).count(), 0, bad);
        assert.equal(await page.locator("#badge-preview").getAttribute("src"), null, bad);
        // Nothing typed becomes markup: the preview stays the page's only image.
        assert.equal(await page.locator("img").count(), 1, bad);
      }
      // The namespace is checked the same way, with its own message.
      await key.fill("visitor_count");
      await page.getByLabel("Namespace").fill("no");
      await page.locator("#badge-namespace-error").waitFor({ state: "visible" });
      assert.equal(await page.locator("#badge-key-error").isHidden(), true);
      assert.match(
        await page.locator("#badge-namespace-error").textContent(),
        /^Namespace must be 3 to 64 characters/,
      );
      assert.deepEqual(await shownSnippets(page), { markdown: "", html: "" });

      // Fixing it brings the snippets back.
      await page.getByLabel("Namespace").fill("default");
      assert.equal(await page.locator("#badge-namespace-error").isHidden(), true);
      assert.deepEqual(await shownSnippets(page), snippets("default", "visitor_count", "flat"));
    });
  });

  test("the copy buttons copy the snippets", async () => {
    await withPage(async (page) => {
      await page.getByLabel("Key").fill("copied.key");
      await page.getByLabel("Style").selectOption("flat-square");
      const expected = snippets("default", "copied.key", "flat-square");
      const status = page.getByRole("status");

      await page.getByRole("button", { name: "Copy Markdown" }).click();
      await page.waitForFunction(
        () => document.getElementById("badge-copy-status").textContent === "Markdown copied.",
      );
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), expected.markdown);

      await page.getByRole("button", { name: "Copy HTML" }).click();
      await page.waitForFunction(
        () => document.getElementById("badge-copy-status").textContent === "HTML copied.",
      );
      assert.equal(await status.textContent(), "HTML copied.");
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), expected.html);

      // Without the async clipboard (plain http on a host other than localhost), the snippet
      // is selected and the page says how to copy it.
      await page.evaluate(() =>
        Object.defineProperty(Navigator.prototype, "clipboard", { get: () => undefined }),
      );
      await page.getByRole("button", { name: "Copy Markdown" }).click();
      await page.waitForFunction(() =>
        document.getElementById("badge-copy-status").textContent.startsWith("Could not copy"),
      );
      assert.equal(
        await status.textContent(),
        "Could not copy: the Markdown is selected, press Ctrl+C (⌘C) to copy it.",
      );
      const selected = await page.evaluate(() => {
        const snippet = document.activeElement;
        return snippet.value.slice(snippet.selectionStart, snippet.selectionEnd);
      });
      assert.equal(selected, expected.markdown);
    });
  });

  test("at 360 px wide nothing overflows (screenshot in the temp dir)", async (t) => {
    await withPage(async (page) => {
      await page.setViewportSize(NARROW);
      await page.getByLabel("Key").fill("a-rather-long-key-name-for-a-narrow-screen");
      const widths = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
      }));
      assert.ok(widths.scroll <= widths.client, `horizontal overflow: ${JSON.stringify(widths)}`);
      const screenshot = join(workDir, "page-360.png");
      await page.screenshot({ path: screenshot, fullPage: true });
      t.diagnostic(`screenshot: ${screenshot}`);
    });
  });
});
