// Debian's Chromium, driven by playwright-core. Playwright's own browser download cannot
// work on the machines this project runs on, so the system browser is launched instead, in
// a fresh profile, with no background traffic of its own.

import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A browser context in a new profile at `profileDir`, allowed to use the clipboard. */
export async function launchChromium(profileDir, origin) {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1024, height: 800 },
    // The page's chart shows days of the browser's zone, whose unique visitors are those of
    // the UTC day holding the day's noon; in UTC the hits and visitors of today always share
    // the last bar, so the checks hold at every hour on a machine in any zone.
    timezoneId: "UTC",
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  context.setDefaultTimeout(10_000);
  return context;
}

/**
 * The policy the page must work under: nothing inline, nothing from elsewhere. tally does
 * not send it (yet); the test adds it to the page's response so that an inline script,
 * style or event handler shows up as a console error.
 */
export const STRICT_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * Opens `url` in a new page with the strict CSP and records every console error and page
 * error into `problems` (each `{ kind, text, url }`).
 */
export async function openPage(context, url) {
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") {
      problems.push({ kind: "console", text: message.text(), url: message.location().url });
    }
  });
  page.on("pageerror", (error) => {
    problems.push({ kind: "pageerror", text: String(error), url: "" });
  });
  const pagePath = new URL(url).pathname;
  await page.route(
    (requested) => requested.pathname === pagePath,
    async (route) => {
      const response = await route.fetch();
      await route.fulfill({
        response,
        headers: { ...response.headers(), "content-security-policy": STRICT_CSP },
      });
    },
  );
  await page.goto(url);
  return { page, problems };
}
