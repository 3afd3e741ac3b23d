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
import { startLinkProxy } from "./link-proxy.mjs";

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
        res(JSON.parse(line).listen);
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

/** An echo-runner process; `events` collects what it reports. `endpoint` defaults to the gateway. */
function startRunner(gw, { token, slots, endpoint } = {}) {
  const argv = [join(here, "echo-runner.mjs"), "--events", "--endpoint", endpoint ?? gw.http];
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

async function waitUntil(fn, what, detail = () => "", ms = WAIT_MS) {
  const deadline = Date.now() + ms;
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
  const r = await api(gw, "POST", "/actors?namespace=default", {
    name: "echo",
    key,
    runner_name_selector: "default",
    crash_policy: "sleep",
  });
  if (r.status !== 200) throw new Error(`create actor: ${r.status} ${r.text}`);
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
  return tryActorLog(gw, actor, true);
}

/** The actor log, or null while the actor cannot answer (being rescheduled). */
async function tryActorLog(gw, actor, strict = false) {
  const r = await api(gw, "GET", `/gateway/${actor}/log`);
  if (!strict && r.status !== 200) return null;
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

/** Puts the actor to sleep from inside (`sleepActor`) and waits until it stopped. */
async function sleepActor(runner, actor) {
  const stops = runner.events.filter((e) => e.ev === "stop" && e.actor === actor).length;
  runner.send({ cmd: "sleep", actor });
  await waitUntil(
    () => runner.events.filter((e) => e.ev === "stop" && e.actor === actor).length > stops,
    `actor ${actor} to stop`,
  );
}

async function actorState(gw, actor) {
  return (await api(gw, "GET", `/actors/${actor}`)).json.actor.state;
}

async function socketStates(gw, actor) {
  return (await api(gw, "GET", `/actors/${actor}/sockets`)).json.sockets.map((s) => s.state);
}

const count = (runner, pred) => runner.events.filter(pred).length;

scenario("2 messages sent while the actor sleeps wake it and arrive once", async () => {
  const gw = await startGateway();
  const runner = startRunner(gw);
  try {
    await runner.connected();
    const actor = await createActor(gw, "s2");
    const c = await client(gw, actor, "/s2");
    const before = range(10, (i) => `a${i}`);
    for (const m of before) c.send(m);
    await c.waitReceived(10);
    await sleepActor(runner, actor);
    await waitUntil(async () => (await actorState(gw, actor)) === "sleeping", "actor asleep");
    assertEqual(await socketStates(gw, actor), ["hibernating"], "sockets while asleep");
    assert(c.closed === null, "the client socket stayed open");
    const asleep = range(50, (i) => `b${i}`);
    for (const m of asleep) c.send(m);
    const all = [...before, ...asleep];
    assertSequence(await c.waitReceived(60), all, "client /s2 echoes");
    await sleep(200);
    assertSequence(c.received, all, "client /s2 echoes (settled)");
    const { rq } = await openOf(runner, actor, "/s2");
    assertSequence((await actorLog(gw, actor))[rq].messages, all, `actor log of socket ${rq}`);
    const opens = count(runner, (e) => e.ev === "open" && e.actor === actor && !e.restoring);
    assertEqual(opens, 1, "fresh opens seen by the actor (no second open)");
    assertEqual(count(runner, (e) => e.ev === "start" && e.actor === actor), 2, "actor starts");
    const restored = runner.events.filter((e) => e.ev === "open" && e.actor === actor && e.restoring).map((e) => e.rq);
    assertEqual(restored, [rq], "sockets restored on wake");
  } finally {
    await runner.exit();
    await gw.stop();
  }
});

scenario("3 five sleep/wake cycles with messages in flight", async () => {
  const gw = await startGateway();
  const runner = startRunner(gw);
  try {
    await runner.connected();
    const actor = await createActor(gw, "s3");
    const c = await client(gw, actor, "/s3");
    const all = [];
    for (let cycle = 0; cycle < 5; cycle++) {
      const batch = range(20, (i) => `c${cycle}-${i}`);
      all.push(...batch);
      for (const m of batch) c.send(m);
      // The batch wakes the actor; once it runs, sleep it while the batch is still arriving.
      await waitUntil(
        () => count(runner, (e) => e.ev === "start" && e.actor === actor) > cycle,
        `actor running in cycle ${cycle}`,
      );
      await sleepActor(runner, actor);
    }
    const tail = range(5, (i) => `tail-${i}`);
    all.push(...tail);
    for (const m of tail) c.send(m);
    assertSequence(await c.waitReceived(all.length), all, "client /s3 echoes");
    await sleep(200);
    assertSequence(c.received, all, "client /s3 echoes (settled)");
    const { rq } = await openOf(runner, actor, "/s3");
    assertSequence((await actorLog(gw, actor))[rq].messages, all, `actor log of socket ${rq}`);
    assertEqual(count(runner, (e) => e.ev === "open" && e.actor === actor && !e.restoring), 1, "fresh opens");
    assert(count(runner, (e) => e.ev === "start" && e.actor === actor) >= 6, "the actor woke after each sleep");
  } finally {
    await runner.exit();
    await gw.stop();
  }
});

scenario("4 runner SIGKILLed mid-stream, a new runner restores the socket", async () => {
  const gw = await startGateway({ config: "[gateway]\nrunner_lost_threshold_ms = 1000\n" });
  const first = startRunner(gw);
  let second = null;
  try {
    await first.connected();
    const actor = await createActor(gw, "s4");
    const c = await client(gw, actor, "/s4");
    const { rq } = await openOf(first, actor, "/s4");
    const all = range(200, (i) => `k${i}`);
    for (const m of all.slice(0, 100)) c.send(m);
    await c.waitReceived(20);
    await first.kill(); // messages still in flight
    for (const m of all.slice(100, 150)) c.send(m);
    second = startRunner(gw);
    await second.connected();
    for (const m of all.slice(150)) c.send(m);
    await waitUntil(async () => {
      const log = await tryActorLog(gw, actor);
      return log?.[rq]?.messages.length >= all.length;
    }, "all 200 messages in the actor log");
    await sleep(300);
    assertSequence((await actorLog(gw, actor))[rq].messages, all, `actor log of socket ${rq} (both runner processes)`);
    // Echoes: in order and never twice; an echo may be lost only for a message the killed
    // process had persisted but not yet echoed. Everything the new process handled is echoed.
    const echoes = c.received;
    const positions = echoes.map((m) => all.indexOf(m));
    assert(positions.every((p, i) => p >= 0 && (i === 0 || p > positions[i - 1])), `client /s4 echoes in order, once: ${echoes.join(",").slice(0, 300)}`);
    const handledBySecond = second.events.filter((e) => e.ev === "message" && e.rq === rq).map((e) => e.data);
    for (const m of handledBySecond) assert(echoes.includes(m), `client /s4: echo of ${m} (handled by the new runner) lost`);
    assert(handledBySecond.includes(all[all.length - 1]), "the new runner handled the last message");
    assert(second.events.some((e) => e.ev === "open" && e.rq === rq && e.restoring), "socket restored on the new runner");
    assert(c.closed === null, "client socket stayed open");
  } finally {
    await first.exit();
    if (second) await second.exit();
    await gw.stop();
  }
});

scenario("5 client closes while hibernating: stale metadata, not restored", async () => {
  const gw = await startGateway();
  const runner = startRunner(gw);
  try {
    await runner.connected();
    const actor = await createActor(gw, "s5");
    const c = await client(gw, actor, "/s5");
    c.send("hello");
    await c.waitReceived(1);
    const { rq } = await openOf(runner, actor, "/s5");
    await sleepActor(runner, actor);
    await c.close();
    // wake_on_close: the actor starts to observe the close.
    const stale = await runner.waitFor((e) => e.ev === "close" && e.rq === rq, `close of ${rq} seen by the actor`);
    assertEqual({ code: stale.code, reason: stale.reason }, { code: 1000, reason: "ws.stale_metadata" }, "close seen by the actor");
    const log = await actorLog(gw, actor);
    assertEqual(log[rq].closed, { code: 1000, reason: "ws.stale_metadata" }, "close recorded by the actor");
    assertEqual(await socketStates(gw, actor), [], "sockets after the wake");
    // Not restored: a later start lists nothing for it.
    await sleepActor(runner, actor);
    const c2 = await client(gw, actor, "/s5b");
    c2.send("again");
    await c2.waitReceived(1);
    const lastStart = runner.events.filter((e) => e.ev === "start" && e.actor === actor).at(-1);
    assertEqual(lastStart.persisted, [], "persisted sockets at the last start");
  } finally {
    await runner.exit();
    await gw.stop();
  }
});

scenario("6 KV round trips with binary keys", async () => {
  const gw = await startGateway();
  const runner = startRunner(gw);
  try {
    await runner.connected();
    const actor = await createActor(gw, "s6");
    const kv = async (ops) => {
      const r = await fetch(`${gw.http}/gateway/${actor}/kv`, { method: "POST", body: JSON.stringify(ops) });
      assert(r.status === 200, `kv: ${r.status}`);
      return r.json();
    };
    // Keys with 0x00 and 0xFF bytes, in byte order.
    const keys = ["00", "0000", "0001", "01", "0100", "01ff", "02", "7f", "80", "ff", "ff00", "ffff"];
    const value = (k) => `76${k}`; // "v" + key
    const model = new Map(keys.map((k) => [k, value(k)]));
    const sorted = () => [...model.entries()].sort(([a], [b]) => Buffer.compare(Buffer.from(a, "hex"), Buffer.from(b, "hex")));
    const inRange = (k, s, e, excl) => {
      const b = Buffer.from(k, "hex");
      return Buffer.compare(b, Buffer.from(s, "hex")) >= 0 && (excl ? Buffer.compare(b, Buffer.from(e, "hex")) < 0 : Buffer.compare(b, Buffer.from(e, "hex")) <= 0);
    };
    const res = await kv([
      { op: "put", entries: keys.map((k) => [k, value(k)]) },
      { op: "get", keys: ["00", "ff", "ffff", "0002", "01ff"] },
      { op: "listAll" },
      { op: "listAll", reverse: true },
      { op: "listAll", limit: 3 },
      { op: "listAll", reverse: true, limit: 2 },
      { op: "listPrefix", prefix: "01" },
      { op: "listPrefix", prefix: "ff" },
      { op: "listPrefix", prefix: "00", reverse: true, limit: 2 },
      { op: "listRange", start: "0001", end: "7f" },
      { op: "listRange", start: "0001", end: "7f", exclusive: true },
      { op: "listRange", start: "00", end: "ff", exclusive: true, reverse: true, limit: 4 },
    ]);
    const all = sorted();
    assertEqual(res[0], null, "put");
    assertEqual(res[1], [value("00"), value("ff"), value("ffff"), null, value("01ff")], "get (a missing key is null)");
    assertEqual(res[2], all, "list all");
    assertEqual(res[3], [...all].reverse(), "list all reversed");
    assertEqual(res[4], all.slice(0, 3), "list all, limit 3");
    assertEqual(res[5], [...all].reverse().slice(0, 2), "list all reversed, limit 2");
    assertEqual(res[6], all.filter(([k]) => k.startsWith("01")), "prefix 01");
    assertEqual(res[7], all.filter(([k]) => k.startsWith("ff")), "prefix ff");
    assertEqual(res[8], all.filter(([k]) => k.startsWith("00")).reverse().slice(0, 2), "prefix 00 reversed, limit 2");
    assertEqual(res[9], all.filter(([k]) => inRange(k, "0001", "7f", false)), "range 0001..=7f");
    assertEqual(res[10], all.filter(([k]) => inRange(k, "0001", "7f", true)), "range 0001..7f");
    assertEqual(res[11], all.filter(([k]) => inRange(k, "00", "ff", true)).reverse().slice(0, 4), "range 00..ff reversed, limit 4");

    const res2 = await kv([
      { op: "delete", keys: ["00", "ffff", "0002"] },
      { op: "listAll" },
      { op: "deleteRange", start: "01", end: "7f" },
      { op: "listAll" },
      { op: "drop" },
      { op: "listAll" },
      { op: "get", keys: ["ff"] },
    ]);
    model.delete("00");
    model.delete("ffff");
    assertEqual(res2[1], sorted(), "list after delete");
    for (const k of [...model.keys()]) if (inRange(k, "01", "7f", true)) model.delete(k);
    assertEqual(res2[3], sorted(), "list after delete range 01..7f");
    assertEqual(res2[5], [], "list after drop");
    assertEqual(res2[6], [null], "get after drop");
  } finally {
    await runner.exit();
    await gw.stop();
  }
});

scenario("7 HTTP fetch to the actor", async () => {
  const gw = await startGateway();
  const runner = startRunner(gw);
  try {
    await runner.connected();
    const actor = await createActor(gw, "s7");
    const r = await fetch(`${gw.http}/gateway/${actor}/hello/world?x=1`, { method: "POST", body: "abc" });
    assertEqual(r.status, 200, "status");
    assertEqual(r.headers.get("x-echo-actor"), actor, "actor header");
    assertEqual(await r.text(), "POST /hello/world?x=1\nabc", "body");
    const g = await fetch(`${gw.http}/gateway/${actor}/`);
    assertEqual(await g.text(), "GET /\n", "GET body");
  } finally {
    await runner.exit();
    await gw.stop();
  }
});

scenario("8 70,000 messages on one socket (indices wrap) with a sleep in the middle", async () => {
  const gw = await startGateway();
  const runner = startRunner(gw);
  try {
    await runner.connected();
    const actor = await createActor(gw, "s8");
    const c = await client(gw, actor, "/s8");
    const N = 70_000;
    const all = range(N, (i) => `w${i}`);
    let i = 0;
    let slept = false;
    // Send in slices, each flushed to the socket before the next, so TCP pushes back when the
    // gateway pauses reads; sleep the actor once half are echoed, with more on the way.
    while (i < N) {
      const end = Math.min(N, i + 5000);
      for (; i < end - 1; i++) c.send(all[i]);
      await new Promise((r) => c.ws.send(all[i++], r));
      if (!slept && i >= N / 2) {
        await c.waitReceived(N / 2 - 2000);
        slept = true;
        await sleepActor(runner, actor);
      }
    }
    await waitUntil(() => c.received.length >= N, `${N} echoes`, () => `(got ${c.received.length})`);
    await sleep(300);
    assertSequence(c.received, all, "client /s8 echoes");
    const { rq } = await openOf(runner, actor, "/s8");
    assertSequence((await actorLog(gw, actor))[rq].messages, all, `actor log of socket ${rq}`);
    assert(slept, "the actor slept mid-stream");
    const maxIndex = Math.max(...runner.events.filter((e) => e.ev === "message" && e.rq === rq).map((e) => e.index));
    assert(maxIndex < 65536, `indices are u16 (max ${maxIndex})`);
  } finally {
    await runner.exit();
    await gw.stop();
  }
});

scenario("9 wrong token and protocol version 6 are refused", async () => {
  const gw = await startGateway({ args: ["--runner-token", "right-token"] });
  const wrong = startRunner(gw, { token: "wrong-token" });
  const right = startRunner(gw, { token: "right-token" });
  try {
    await right.connected();
    const refused = await wrong.waitFor((e) => e.ev === "disconnected", "the wrong-token runner to be refused");
    assert(refused.refused, "refused before ever connecting");
    assert(!wrong.events.some((e) => e.ev === "connected"), "the wrong-token runner never connected");
    const metrics = await (await fetch(`${gw.http}/metrics`)).text();
    assert(/torpor_runner_rejects_total [1-9]/.test(metrics), "rejects counted");
    // Protocol version 6 (the npm runner always offers 7, so a raw socket offers 6).
    const status = await new Promise((res) => {
      const ws = new WebSocket(`${gw.ws}/runners/connect?protocol_version=6&namespace=default&runner_key=v6`, ["rivet", "rivet_token.right-token"]);
      ws.on("unexpected-response", (_req, resp) => {
        let body = "";
        resp.on("data", (d) => (body += d));
        resp.on("end", () => res({ code: resp.statusCode, body }));
      });
      ws.on("open", () => res({ code: 101, body: "" }));
      ws.on("error", () => {});
    });
    assert(status.code >= 400 && status.code < 500, `version 6 refused with a 4xx (got ${status.code})`);
    assert(/version/i.test(status.body), `the reason names the version: ${status.body}`);
  } finally {
    await wrong.exit();
    await right.exit();
    await gw.stop();
  }
});

scenario("10 two runners: actors spread; a draining runner's sockets survive on the other", async () => {
  const gw = await startGateway();
  const a = startRunner(gw, { slots: 4 });
  await a.connected();
  const b = startRunner(gw, { slots: 4 });
  try {
    await b.connected();
    const actors = [];
    const clients = [];
    for (let i = 0; i < 4; i++) {
      const actor = await createActor(gw, `s10-${i}`);
      actors.push(actor);
      const c = await client(gw, actor, `/s10-${i}`);
      c.send(`hello-${i}`);
      await c.waitReceived(1);
      clients.push(c);
    }
    const on = (r) => actors.filter((id) => r.events.some((e) => e.ev === "start" && e.actor === id));
    assertEqual([on(a).length, on(b).length], [2, 2], "actors per runner");
    const drained = on(a);
    a.send({ cmd: "drain" });
    await a.exited;
    for (const id of drained) {
      await waitUntil(async () => (await socketStates(gw, id))[0] === "hibernating", `sockets of ${id} hibernating`);
    }
    for (const [i, c] of clients.entries()) {
      assert(c.closed === null, `client /s10-${i} stayed open`);
      c.send(`after-${i}`);
    }
    for (const [i, c] of clients.entries()) {
      assertSequence(await c.waitReceived(2), [`hello-${i}`, `after-${i}`], `client /s10-${i} echoes`);
    }
    for (const id of drained) {
      assert(b.events.some((e) => e.ev === "start" && e.actor === id), `actor ${id} moved to the other runner`);
      assert(b.events.some((e) => e.ev === "open" && e.actor === id && e.restoring), `socket of ${id} restored on the other runner`);
    }
  } finally {
    await a.exit();
    await b.exit();
    await gw.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// Faults: the runner's link cut under load, and clients that send then close at every phase of
// their actor. The echo runner copes with runner 2.2.1's own gaps (KV requests and acks lost
// with a dead connection, `Running` reported before `onActorStart`); what is asserted is the
// gateway's part: every message reaches the actor once, in order, and before the close.

/**
 * A POST to the actor that cannot hang the suite: its status, body and time taken, or `error`
 * after `timeoutMs`. `delayMs` makes the echo runner answer that much later.
 */
async function timedRequest(gw, actor, path, { delayMs = 0, timeoutMs = 5_000 } = {}) {
  const started = Date.now();
  try {
    const r = await fetch(`${gw.http}/gateway/${actor}${path}`, {
      method: "POST",
      body: path,
      headers: delayMs ? { "x-delay-ms": String(delayMs) } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await r.text();
    return { actor, path, delayMs, status: r.status, text, ms: Date.now() - started };
  } catch (e) {
    return { actor, path, delayMs, status: null, error: String(e.cause ?? e), ms: Date.now() - started };
  }
}

scenario("11 runner link cut three times during a burst: every message once, in order; HTTP answered or 502 at once", async () => {
  const gw = await startGateway();
  // The runner reaches the gateway only through the proxy, which can reset its connection.
  const proxy = await startLinkProxy(gw.addr);
  const runner = startRunner(gw, { endpoint: proxy.url });
  try {
    await runner.connected();
    const actors = [await createActor(gw, "s11-a"), await createActor(gw, "s11-b")];
    const N = 300;
    const socks = [];
    for (let i = 0; i < 4; i++) {
      const actor = actors[i % 2];
      const path = `/s11-${i}`;
      const c = await client(gw, actor, path);
      c.send(`${i}:open`);
      await c.waitReceived(1);
      const { rq } = await openOf(runner, actor, path);
      socks.push({ i, actor, path, c, rq, next: 0, sent: [`${i}:open`] });
    }
    // Each slice sends the next three messages of every socket, so the burst spans the three
    // cuts and reconnects (about 5 s) instead of being over before the first.
    const sendSlice = (size = 3) => {
      for (const s of socks) {
        for (let k = 0; k < size && s.next < N; k++) {
          const m = `${s.i}:${s.next++}`;
          s.sent.push(m);
          s.c.send(m);
        }
      }
    };
    const requests = [];
    let nreq = 0;
    const fire = (delayMs = 0) => {
      for (const actor of actors) requests.push(timedRequest(gw, actor, `/req-${nreq++}`, { delayMs }));
    };
    const connects = () => count(runner, (e) => e.ev === "connected");
    // A socket the gateway lets fall out of step is closed by the runner (1008
    // ws.message_index_skip): fail at once, naming it.
    const failIfClosed = () => {
      for (const s of socks) {
        if (s.c.closed) throw new Failure(`client ${s.path} was closed: ${s.c.closed.code} ${s.c.closed.reason}`);
      }
    };
    // One WebSocket per cut is still opening when the cut falls: the actor answers its open
    // 3 s late. The gateway must close it at once (1011 torpor.runner_disconnected).
    const opening = [];
    const openSlowly = (actor, cut) => {
      const o = { cut, closed: null, error: null };
      const ws = new WebSocket(`${gw.ws}/gateway/${actor}/s11-opening-${cut}`, { headers: { "x-delay-ms": "3000" } });
      ws.on("close", (code, reason) => (o.closed = { code, reason: reason.toString(), at: Date.now() }));
      ws.on("error", (e) => (o.error = String(e)));
      opening.push(o);
    };
    const cutTimes = [];
    const PACE_MS = 50;
    for (let cut = 1; cut <= 3; cut++) {
      failIfClosed();
      for (let k = 0; k < 4; k++) {
        sendSlice();
        fire();
        await sleep(PACE_MS);
      }
      // Requests the actor answers 400 ms after it got them are in flight at the cut; so are
      // messages: a surge of 80. Cuts 1 and 3 fall in the middle of the surge's way to the
      // runner (the frames past the mark are lost on the wire, the ones before it are being
      // persisted and acked); cut 2 falls once the actor has begun to process the surge, with
      // its KV writes, acks and echoes on the wire.
      fire(400);
      openSlowly(actors[cut % 2], cut);
      await sleep(100);
      const before = connects();
      const processed = count(runner, (e) => e.ev === "message");
      let cutNow = null;
      if (cut !== 2) cutNow = proxy.cutAfter(cut === 1 ? 400 : 900);
      sendSlice(20);
      if (cut === 2) {
        const surgeAt = Date.now();
        while (count(runner, (e) => e.ev === "message") === processed && Date.now() - surgeAt < 2_000) await sleep(1);
        cutNow = proxy.cut();
      }
      assertEqual(await Promise.race([cutNow, sleep(2_000).then(() => "no cut within 2 s")]), 1, `runner connections cut by cut ${cut}`);
      cutTimes.push(Date.now());
      // Runner 2.2.1 reconnects by itself after 1-1.25 s (backoff attempt 0 after every open;
      // the same runner key). The clients keep sending meanwhile: the gateway holds that.
      const cutAt = Date.now();
      for (let k = 0; connects() === before; k++) {
        assert(Date.now() - cutAt < 5_000, `the runner did not reconnect within 5 s of cut ${cut}`);
        sendSlice();
        if (k % 4 === 0) fire();
        await sleep(PACE_MS);
      }
    }
    while (socks.some((s) => s.next < N)) {
      sendSlice();
      await sleep(PACE_MS);
    }
    // After the cuts every socket still works: one more message is processed and echoed.
    for (const s of socks) {
      s.sent.push(`${s.i}:final`);
      s.c.send(`${s.i}:final`);
    }

    // Both checks below run and report together: a broken link can hurt sockets and requests
    // in different ways.
    const problems = [];

    // The actor's durable log: every message of every socket once, in order.
    try {
      const logs = new Map();
      await waitUntil(
        async () => {
          failIfClosed();
          for (const a of actors) {
            const log = await tryActorLog(gw, a);
            if (!log) return false;
            logs.set(a, log);
          }
          return socks.every((s) => logs.get(s.actor)[s.rq]?.messages.at(-1) === `${s.i}:final`);
        },
        "the last message of every socket in the actor log",
        () => socks.map((s) => `${s.path}: ${logs.get(s.actor)?.[s.rq]?.messages.length ?? 0} of ${s.sent.length}`).join(", "),
        15_000,
      );
      for (const s of socks) assertSequence(logs.get(s.actor)[s.rq].messages, s.sent, `actor log of ${s.path} (socket ${s.rq})`);
      for (const s of socks) {
        await waitUntil(() => s.c.received.at(-1) === `${s.i}:final`, `the echo of the last message on ${s.path}`);
        assert(s.c.closed === null, `client ${s.path} stayed open`);
      }
    } catch (e) {
      problems.push(e.message);
    }

    // HTTP: each request got its echo, or (in flight at a cut) a 502 naming the lost runner,
    // promptly; never another status, a timeout or a hang.
    const outcomes = await Promise.all(requests);
    const answered = (o) => o.status === 200 && o.text === `POST ${o.path}\n${o.path}`;
    // The gateway's own errors are in the engine's shape: {"group", "code", "message"}.
    const errorName = (text) => {
      try {
        const e = JSON.parse(text);
        return `${e.group}.${e.code}`;
      } catch {
        return null;
      }
    };
    const failedFast = (o) => o.status === 502 && errorName(o.text) === "torpor.runner_disconnected" && o.ms <= 3_000;
    const bad = outcomes.filter((o) => !answered(o) && !failedFast(o));
    if (bad.length > 0) {
      problems.push(
        `HTTP: ${bad.length} of ${outcomes.length} requests neither answered nor failed at once with 502 torpor.runner_disconnected; first ${JSON.stringify(bad[0]).slice(0, 300)}`,
      );
    }

    // The sockets still opening at a cut: closed at once, with the cause.
    await waitUntil(() => opening.every((o) => o.closed || o.error), "the sockets opening at a cut to close", () => "", 5_000).catch(() => {});
    for (const o of opening) {
      const c = o.closed;
      const ok = c && c.code === 1011 && c.reason.startsWith("torpor.runner_disconnected") && c.at - cutTimes[o.cut - 1] <= 3_000;
      if (!ok) problems.push(`socket opening at cut ${o.cut}: expected close 1011 torpor.runner_disconnected within 3 s of the cut, got ${JSON.stringify(c ? { ...c, after: c.at - cutTimes[o.cut - 1] } : o)}`);
    }
    if (problems.length > 0) throw new Failure(problems.join("; "));

    assertEqual(proxy.cuts, 3, "cuts");
    assertEqual(connects(), 4, "runner connections (the first, then one per cut)");
    for (const a of actors) {
      assertEqual(count(runner, (e) => e.ev === "start" && e.actor === a), 1, `starts of ${a} (a reconnect restarts nothing)`);
    }
    const n502 = outcomes.filter(failedFast).length;
    const metrics = await (await fetch(`${gw.http}/metrics`)).text();
    const resent = metrics.match(/^torpor_ws_messages_resent_on_reconnect_total (\d+)/m)?.[1] ?? "?";
    const reissued = runner.events.filter((e) => e.ev === "connected").reduce((n, e) => n + (e.reissued ?? 0), 0);
    const openingMs = opening.map((o) => o.closed.at - cutTimes[o.cut - 1]);
    const slowest502 = Math.max(0, ...outcomes.filter(failedFast).map((o) => o.ms));
    return `${outcomes.length - n502} requests answered, ${n502} failed with 502 (the slowest ${slowest502} ms after it was sent); sockets opening at the cuts closed 1011 after ${openingMs.join("/")} ms; ${resent} messages resent by the gateway, ${reissued} KV calls re-issued by the runner`;
  } finally {
    await runner.exit();
    await proxy.close();
    await gw.stop();
  }
});

/** Polls the actor log until socket `rq`'s close is recorded; returns its entry. */
async function closedInLog(gw, actor, rq) {
  let seen = null;
  return waitUntil(
    async () => {
      const entry = (await tryActorLog(gw, actor))?.[rq];
      if (entry) seen = entry;
      return entry?.closed ? entry : null;
    },
    `the close of socket ${rq} in the actor log`,
    () => JSON.stringify(seen)?.slice(0, 300),
    10_000,
  );
}

/**
 * The actor processed exactly `sent` on socket `rq`, in order, and saw its close once, after
 * all of them: in its durable log (the close record counts the messages before it) and in the
 * order it reported events.
 */
async function assertMessagesThenClose(gw, runner, actor, rq, sent) {
  const entry = await closedInLog(gw, actor, rq);
  assertSequence(entry.messages, sent, `actor log of socket ${rq}`);
  assertEqual(entry.closedAfter, sent.length, `messages processed before the actor saw the close of ${rq}`);
  const seen = runner.events.filter((e) => e.rq === rq && (e.ev === "message" || e.ev === "close"));
  assertEqual(seen.filter((e) => e.ev === "close").length, 1, `closes of ${rq} seen by the actor`);
  const last = seen.at(-1);
  assert(last.ev === "close", `the actor saw message ${JSON.stringify(last.data)} of ${rq} after its close`);
  return `the actor saw close ${entry.closed.code} "${entry.closed.reason}" after ${sent.length} messages`;
}

/** An actor with one socket that has had `awake` messages processed, then slept. */
async function hibernatingSocket(gw, runner, key) {
  const actor = await createActor(gw, key);
  const c = await client(gw, actor, `/${key}`);
  const { rq } = await openOf(runner, actor, `/${key}`);
  const sent = range(3, (i) => `awake-${i}`);
  for (const m of sent) c.send(m);
  await c.waitReceived(3);
  await sleepActor(runner, actor);
  await waitUntil(async () => (await actorState(gw, actor)) === "sleeping", "actor asleep");
  assertEqual(await socketStates(gw, actor), ["hibernating"], "sockets while asleep");
  return { actor, c, rq, sent };
}

scenario("12 send then close while the actor sleeps (its runner there, then away): the messages, then the close", async () => {
  const gw = await startGateway();
  // Through the proxy, so the runner can be away for a moment.
  const proxy = await startLinkProxy(gw.addr);
  const runner = startRunner(gw, { endpoint: proxy.url });
  try {
    await runner.connected();
    // The runner is there: the first frame wakes the actor, the rest and the close reach the
    // gateway in the same breath, while the socket still hibernates.
    const a = await hibernatingSocket(gw, runner, "s12-a");
    const asleep = range(5, (i) => `asleep-${i}`);
    for (const m of asleep) a.c.send(m);
    a.sent.push(...asleep);
    await a.c.close();
    const noteA = await assertMessagesThenClose(gw, runner, a.actor, a.rq, a.sent);

    // The runner is away (its link cut; it reconnects by itself after 1-1.25 s): the actor
    // cannot be woken, so the frames and the close all arrive while it sleeps.
    const b = await hibernatingSocket(gw, runner, "s12-b");
    const connects = count(runner, (e) => e.ev === "connected");
    assertEqual(proxy.cut(), 1, "runner connections cut");
    const away = range(5, (i) => `away-${i}`);
    for (const m of away) b.c.send(m);
    b.sent.push(...away);
    await b.c.close();
    assertEqual(count(runner, (e) => e.ev === "connected"), connects, "runner connections while the client sent and closed (the runner was away)");
    assertEqual(await actorState(gw, b.actor), "starting", "the actor's state while its runner is away (waiting for one)");
    const noteB = await assertMessagesThenClose(gw, runner, b.actor, b.rq, b.sent);
    return `runner there: ${noteA}; runner away: ${noteB}`;
  } finally {
    await runner.exit();
    await proxy.close();
    await gw.stop();
  }
});

scenario("13 send then close while the actor stops: the messages, then the close", async () => {
  const gw = await startGateway();
  const runner = startRunner(gw);
  try {
    await runner.connected();
    const actor = await createActor(gw, "s13");
    const c = await client(gw, actor, "/s13");
    const { rq } = await openOf(runner, actor, "/s13");
    const sent = range(3, (i) => `awake-${i}`);
    for (const m of sent) c.send(m);
    await c.waitReceived(3);
    // The actor's stop waits until released: the gateway has sent the stop and waits for
    // `Stopped` while the client sends and closes.
    runner.send({ cmd: "hold", actor, phases: ["stop"] });
    runner.send({ cmd: "sleep", actor });
    await runner.waitFor((e) => e.ev === "held" && e.actor === actor, "the actor stopping");
    assertEqual(await actorState(gw, actor), "stopping", "the gateway's actor state while onActorStop runs");
    const stopping = range(5, (i) => `stopping-${i}`);
    for (const m of stopping) c.send(m);
    sent.push(...stopping);
    await c.close();
    // The gateway has answered the close; a moment more for its core to act on it, then the
    // actor goes on.
    await sleep(100);
    runner.send({ cmd: "release", actor });
    return await assertMessagesThenClose(gw, runner, actor, rq, sent);
  } finally {
    await runner.exit();
    await gw.stop();
  }
});

scenario("14 send then close while the actor starts (onActorStart held): the messages, then the close", async () => {
  const gw = await startGateway();
  const runner = startRunner(gw);
  try {
    await runner.connected();
    const { actor, c, rq, sent } = await hibernatingSocket(gw, runner, "s14");
    // The next start waits in onActorStart until released; the first message wakes the actor.
    runner.send({ cmd: "hold", actor, phases: ["start"] });
    c.send("starting-0");
    sent.push("starting-0");
    await runner.waitFor((e) => e.ev === "held" && e.actor === actor, "the actor starting");
    // Runner 2.2.1 reports `Running` before it calls onActorStart, so the gateway may see the
    // actor running already; on the runner it is still starting, and what reaches it waits.
    const starting = range(4, (i) => `starting-${i + 1}`);
    for (const m of starting) c.send(m);
    sent.push(...starting);
    await c.close();
    // The gateway has answered the close; a moment more for its core to act on it, then the
    // actor goes on.
    await sleep(100);
    runner.send({ cmd: "release", actor });
    return await assertMessagesThenClose(gw, runner, actor, rq, sent);
  } finally {
    await runner.exit();
    await gw.stop();
  }
});

scenario("15 send then close while the gateway waits for Running: the messages, then the close", async () => {
  const gw = await startGateway();
  // Through the proxy, so the runner's `Running` can be held back for a moment.
  const proxy = await startLinkProxy(gw.addr);
  const runner = startRunner(gw, { endpoint: proxy.url });
  try {
    await runner.connected();
    const { actor, c, rq, sent } = await hibernatingSocket(gw, runner, "s15");
    const startingBefore = count(runner, (e) => e.ev === "starting" && e.actor === actor);
    proxy.hold();
    c.send("waking-0");
    sent.push("waking-0");
    await waitUntil(() => count(runner, (e) => e.ev === "starting" && e.actor === actor) > startingBefore, "the actor starting on the runner");
    // The runner has written `Running`; the proxy keeps it, so to the gateway the actor is still
    // starting when the client sends more and closes.
    assertEqual(await actorState(gw, actor), "starting", "the gateway's actor state with `Running` held back");
    const waking = range(4, (i) => `waking-${i + 1}`);
    for (const m of waking) c.send(m);
    sent.push(...waking);
    await c.close();
    await sleep(100);
    proxy.release();
    return await assertMessagesThenClose(gw, runner, actor, rq, sent);
  } finally {
    await runner.exit();
    await proxy.close();
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
    // A scenario may return a short note on what it saw (printed after its time).
    const note = await s.fn();
    passed++;
    console.log(`ok   ${s.name} (${Date.now() - started} ms)${note ? `: ${note}` : ""}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${s.name} (${Date.now() - started} ms): ${e instanceof Failure ? e.message : e.stack}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
