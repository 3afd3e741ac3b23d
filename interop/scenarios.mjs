#!/usr/bin/env node
// Interop scenarios: the real `@rivetkit/engine-runner@2.2.1` (interop/echo-runner.mjs) behind a
// real `torpor serve`, driven by WebSocket and HTTP clients. Each scenario asserts the exact
// messages the client and the actor saw; the last line is `N passed, M failed`.
//
// Usage: node interop/scenarios.mjs [name-filter]   (TORPOR_BIN picks the binary; default
// target/debug/torpor)

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const TORPOR_BIN = process.env.TORPOR_BIN ?? join(root, "target/debug/torpor");
const WAIT_MS = 20_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Processes

const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/** `torpor serve` on a random loopback port with a temporary database. */
async function startGateway({ config = "", args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "torpor-interop-"));
  const cfgPath = join(dir, "torpor.toml");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(cfgPath, config);
  const child = spawn(
    TORPOR_BIN,
    ["serve", "--listen", "127.0.0.1:0", "--database", join(dir, "torpor.db"), "--config", cfgPath, "--log-format", "json", ...args],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  children.add(child);
  const lines = createInterface({ input: child.stderr });
  const log = [];
  const addr = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error("torpor did not become ready")), WAIT_MS);
    child.once("exit", (code) => rej(new Error(`torpor exited (${code}): ${log.join("\n")}`)));
    lines.on("line", (line) => {
      log.push(line);
      if (line.includes("torpor ready")) {
        clearTimeout(timer);
        res(JSON.parse(line).fields.listen);
      }
    });
  });
  return {
    addr,
    http: `http://${addr}`,
    ws: `ws://${addr}`,
    log,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      children.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An echo-runner process; `events` collects what it reports. */
function startRunner(gw, { token, slots } = {}) {
  const argv = [join(here, "echo-runner.mjs"), "--events", "--endpoint", gw.http];
  if (token) argv.push("--token", token);
  if (slots) argv.push("--slots", String(slots));
  const child = spawn(process.execPath, argv, { stdio: ["pipe", "pipe", "pipe"] });
  children.add(child);
  const events = [];
  const stderr = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    try {
      events.push(JSON.parse(line));
    } catch {
      stderr.push(line);
    }
  });
  createInterface({ input: child.stderr }).on("line", (line) => stderr.push(line));
  const exited = new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })));
  return {
    events,
    stderr,
    exited,
    send(cmd) {
      child.stdin.write(JSON.stringify(cmd) + "\n");
    },
    async waitFor(pred, what) {
      return waitUntil(() => events.find(pred), what ?? "runner event", () => JSON.stringify(events.slice(-10)));
    },
    connected() {
      return this.waitFor((e) => e.ev === "connected", "runner connected");
    },
    kill() {
      child.kill("SIGKILL");
      children.delete(child);
      return exited;
    },
    async exit() {
      child.kill("SIGKILL");
      children.delete(child);
      await exited;
    },
  };
}

async function waitUntil(fn, what, detail = () => "") {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} ${detail()}`);
    await sleep(10);
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP and clients

async function api(gw, method, path, body) {
  const res = await fetch(gw.http + path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, text, json };
}

async function createActor(gw, key) {
  const r = await api(gw, "POST", "/actors", { name: "echo", key });
  if (r.status !== 201) throw new Error(`create actor: ${r.status} ${r.text}`);
  return r.json.actor.actor_id;
}

/** A client WebSocket; `received` collects its messages (text as strings). */
async function client(gw, actor, path) {
  const ws = new WebSocket(`${gw.ws}/gateway/${actor}${path}`);
  const received = [];
  let closed = null;
  ws.on("message", (data, isBinary) => received.push(isBinary ? Buffer.from(data).toString("hex") : data.toString()));
  ws.on("close", (code, reason) => (closed = { code, reason: reason.toString() }));
  await new Promise((res, rej) => {
    ws.once("open", res);
    ws.once("error", rej);
    ws.once("unexpected-response", (_req, resp) => rej(new Error(`upgrade refused: ${resp.statusCode}`)));
  });
  return {
    ws,
    received,
    get closed() {
      return closed;
    },
    send(m) {
      ws.send(m);
    },
    async waitReceived(n) {
      await waitUntil(() => received.length >= n, `${n} echoes on ${path}`, () => `(got ${received.length})`);
      return received.slice(0, n);
    },
    close() {
      ws.close(1000, "bye");
      return waitUntil(() => closed, `close of ${path}`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Assertions that say which message went wrong, on which socket

class Failure extends Error {}

function assert(cond, msg) {
  if (!cond) throw new Failure(msg);
}

function assertEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Failure(`${what}: expected ${e.slice(0, 300)}, got ${a.slice(0, 300)}`);
}

/** Exactly `expected`, in order: names the first lost, duplicated or reordered message. */
function assertSequence(actual, expected, where) {
  const seen = new Map();
  for (const [i, m] of actual.entries()) {
    if (seen.has(m)) throw new Failure(`${where}: message ${JSON.stringify(m)} duplicated (positions ${seen.get(m)} and ${i})`);
    seen.set(m, i);
  }
  for (const [i, m] of expected.entries()) {
    if (!seen.has(m)) throw new Failure(`${where}: message #${i} ${JSON.stringify(m)} lost (${actual.length} of ${expected.length} arrived)`);
  }
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new Failure(`${where}: reordered at position ${i}: expected ${JSON.stringify(expected[i])}, got ${JSON.stringify(actual[i])}`);
    }
  }
  if (actual.length !== expected.length) {
    throw new Failure(`${where}: ${actual.length - expected.length} unexpected extra messages, first ${JSON.stringify(actual[expected.length])}`);
  }
}

/** What the actor durably processed, per request id (hex). */
async function actorLog(gw, actor) {
  const r = await api(gw, "GET", `/gateway/${actor}/log`);
  assert(r.status === 200, `actor log: ${r.status} ${r.text}`);
  return r.json;
}

function openOf(runner, actor, path) {
  return runner.waitFor((e) => e.ev === "open" && e.actor === actor && e.path === path && !e.restoring, `open of ${path}`);
}

const range = (n, f) => Array.from({ length: n }, (_, i) => f(i));

// ---------------------------------------------------------------------------------------------
// Scenarios

const scenarios = [];
const scenario = (name, fn) => scenarios.push({ name, fn });

scenario("1 echo 100 messages in order", async () => {
  const gw = await startGateway();
  const runner = startRunner(gw);
  try {
    await runner.connected();
    const actor = await createActor(gw, "s1");
    const c = await client(gw, actor, "/s1");
    const sent = range(100, (i) => `m${i}`);
    for (const m of sent) c.send(m);
    assertSequence(await c.waitReceived(100), sent, "client /s1 echoes");
    const { rq } = await openOf(runner, actor, "/s1");
    const log = await actorLog(gw, actor);
    assertSequence(log[rq].messages, sent, `actor log of socket ${rq}`);
    await c.close();
  } finally {
    await runner.exit();
    await gw.stop();
  }
});

// ---------------------------------------------------------------------------------------------

const filter = process.argv[2];
let passed = 0;
let failed = 0;
for (const s of scenarios) {
  if (filter && !s.name.includes(filter)) continue;
  const started = Date.now();
  try {
    await s.fn();
    passed++;
    console.log(`ok   ${s.name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${s.name} (${Date.now() - started} ms): ${e instanceof Failure ? e.message : e.stack}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
