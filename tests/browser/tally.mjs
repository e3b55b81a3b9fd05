// Starts the real `tally` binary (the debug build `cargo build` leaves) on a free port with
// the memory store (and whatever else a test adds, such as an ADMIN_TOKEN), waits until it
// answers `/healthz`, and stops it again.
//
// It runs in an empty temp directory with a minimal environment, so a developer's `.env`
// or shell variables (DATABASE_URI, REDIS_URL, ...) cannot change what the test sees.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** Where `cargo build` put the binary (CARGO_TARGET_DIR is honoured, like cargo does). */
export function tallyBinary() {
  const targetDir = process.env.CARGO_TARGET_DIR
    ? resolve(REPO, process.env.CARGO_TARGET_DIR)
    : join(REPO, "target");
  return join(targetDir, "debug", "tally");
}

/** A port nothing listens on right now. */
async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * Starts tally in `cwd`, with `env` added to its minimal environment, and resolves once
 * `/healthz` answers 200. `port` is a free one unless given (to start tally again where a
 * page expects it). The result has `origin` (`http://127.0.0.1:PORT`), `port`, `log()` (what
 * tally printed) and `stop()`.
 */
export async function startTally(cwd, env = {}, { port: wanted } = {}) {
  const binary = tallyBinary();
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: run \`cargo build\` first`);
  }
  const port = wanted ?? (await freePort());
  const origin = `http://127.0.0.1:${port}`;
  const child = spawn(binary, [], {
    cwd,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      COUNTER_STORE: "memory",
      HOST: "127.0.0.1",
      PORT: String(port),
      RUST_LOG: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  let exited = null;
  const exit = new Promise((done) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      done(exited);
    });
  });

  const tally = {
    origin,
    port,
    log: () => output,
    async stop() {
      if (exited) {
        return exited;
      }
      child.kill("SIGTERM");
      // tally drains and exits on SIGTERM; SIGKILL only if it hangs.
      const kill = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      try {
        return await exit;
      } finally {
        clearTimeout(kill);
      }
    },
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) {
      throw new Error(`tally exited (${JSON.stringify(exited)}) before serving:\n${output}`);
    }
    try {
      const response = await fetch(`${origin}/healthz`);
      if (response.ok) {
        return tally;
      }
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  await tally.stop();
  throw new Error(`tally did not answer /healthz within ${START_TIMEOUT_MS} ms:\n${output}`);
}
