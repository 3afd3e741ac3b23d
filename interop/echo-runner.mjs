#!/usr/bin/env node
// An example runner for Torpor: the unmodified `@rivetkit/engine-runner@2.2.1` hosting echo
// actors with hibernatable WebSockets.
//
// It follows the runner contract that makes hibernation exactly-once:
// * every hibernatable socket's metadata and the last message index it processed live in actor
//   KV, through Torpor, so a new runner process can restore them;
// * a message is persisted (index and a log entry, in one KV put) before it is acked, and only
//   then echoed;
// * `onActorStart` restores the hibernating sockets from KV (`restoreHibernatingRequests`) and
//   re-acks each restored socket's persisted index;
// * a closed socket's metadata is deleted.
//
// Runner 2.2.1 never re-sends a KV request it had written into a connection that then died (the
// request only fails after 30-45 s), and an ack written there is lost too. So every KV call of
// the actor goes through `durable`: issued only while the link is up, and issued again, in the
// original order, once the runner has reconnected; and after a reconnect the runner re-acks what
// each open socket has persisted. The runner also reports an actor `Running` before it calls
// `onActorStart`, so the gateway may stop the actor while it is still starting: an actor's
// starts and stops run one after the other, never interleaved.
//
// Usage: node echo-runner.mjs [--endpoint http://127.0.0.1:6420] [--token T] [--slots N]
//                             [--namespace default] [--runner-name default]
//
// HTTP requests to an actor are echoed (`METHOD path` and the body; an `x-delay-ms` header
// delays the answer, and on a WebSocket upgrade it delays the runner's open reply); `POST /kv`
// runs a list of KV operations and returns their results; `GET /log` returns what the actor
// durably processed. With `--events`, it prints one JSON object per line on stdout for each
// thing it sees and reads JSON commands on stdin: `{"cmd":"sleep","actor":…}`,
// `{"cmd":"hold","actor":…,"phases":["start","stop"]}` (that actor's next starts or stops wait
// in `onActorStart` / `onActorStop`, at most 10 s, until `{"cmd":"release","actor":…}`),
// `{"cmd":"drain"}`, `{"cmd":"exit"}`. The interop scenarios drive it that way.

import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { Runner, idToStr } from "@rivetkit/engine-runner";

const { values: args } = parseArgs({
  options: {
    endpoint: { type: "string", default: "http://127.0.0.1:6420" },
    token: { type: "string" },
    slots: { type: "string", default: "1000" },
    namespace: { type: "string", default: "default" },
    "runner-name": { type: "string", default: "default" },
    events: { type: "boolean", default: false },
  },
});

const emit = args.events
  ? (ev) => process.stdout.write(JSON.stringify(ev) + "\n")
  : (ev) => console.log(`[echo-runner] ${ev.ev}`, JSON.stringify(ev));

const enc = new TextEncoder();
const dec = new TextDecoder();
const hexToBuf = (hex) => new Uint8Array(Buffer.from(hex, "hex")).buffer;
const bytesToHex = (b) => Buffer.from(b).toString("hex");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// KV layout, per actor:
//   "hws/" + gw + rq            → JSON metadata of a hibernatable socket
//   "log/" + gw + rq + "/" + n  → the n-th message the actor processed on that socket
//                                  (first byte 't' or 'b', then the payload); n is 8 hex digits
//   "closed/" + gw + rq         → JSON {code, reason, after} once the socket closed, `after`
//                                  being how many messages the actor had processed on it then
const metaKey = (sock) => enc.encode(`hws/${sock}`);
const logKey = (sock, n) => enc.encode(`log/${sock}/${n.toString(16).padStart(8, "0")}`);
const closedKey = (sock) => enc.encode(`closed/${sock}`);

/** actorId → Map(socket key → metadata), the in-memory mirror of what KV holds. */
const sockets = new Map();
const socketsOf = (actorId) => {
  if (!sockets.has(actorId)) sockets.set(actorId, new Map());
  return sockets.get(actorId);
};

let connectedOnce = false;

// ---------------------------------------------------------------------------------------------
// The link to the gateway, for KV calls that must survive a reconnect.

/** Between `onConnected` and `onDisconnected`. */
let linkUp = false;
/** Bumped by every `onDisconnected`: an answer to a request of an earlier epoch may never come. */
let linkEpoch = 0;
const linkReady = () => linkUp && runner.getPegboardWebSocketIfReady() !== undefined;

/** How long a KV call waits for the runner to come back before it fails. */
const DURABLE_MS = 60_000;

/** KV calls not answered yet, in the order they were made: {fn, resolve, reject, epoch, deadline}. */
const kvCalls = new Set();

/**
 * Runs an idempotent KV call (`fn` issues it) until it is answered. A call is issued only while
 * the link is up (so the runner never queues it), and every call whose connection died before
 * its answer is issued again as soon as the runner has reconnected, before any newer call: calls
 * reach the gateway in the order they were made, so KV always holds a prefix of what the actor
 * wrote. A KV error on the connection the call went out on is passed on as is.
 */
function durable(fn) {
  return new Promise((resolve, reject) => {
    const call = { fn, resolve, reject, epoch: null, deadline: Date.now() + DURABLE_MS };
    kvCalls.add(call);
    if (linkReady()) issue(call);
  });
}

function issue(call) {
  const epoch = linkEpoch;
  call.epoch = epoch;
  call.fn().then(
    (value) => {
      // Any answer will do, even one to an earlier attempt: the call is idempotent.
      if (kvCalls.delete(call)) call.resolve(value);
    },
    (error) => {
      // A failure of a request whose connection has died (the runner rejects those after
      // 30-45 s) is not an answer: the call has been issued again.
      if (epoch === linkEpoch && kvCalls.delete(call)) call.reject(error);
    },
  );
}

/** On `onConnected`: issues again, in order, every call not issued on this connection. */
function reissueKvCalls() {
  let n = 0;
  for (const call of kvCalls) {
    if (call.epoch !== linkEpoch) {
      issue(call);
      n++;
    }
  }
  return n;
}

setInterval(() => {
  if (linkReady()) return;
  const now = Date.now();
  for (const call of kvCalls) {
    if (now > call.deadline) {
      kvCalls.delete(call);
      call.reject(new Error("KV: the runner did not reconnect in time"));
    }
  }
}, 1000).unref();

/** Open sockets' persisted index: sock → {actorId, gw, rq, index}, re-acked after a reconnect. */
const persistedIndex = new Map();

// ---------------------------------------------------------------------------------------------
// Actor lifecycle

/** actorId → the phases ("start", "stop") held on demand (stdin `hold` / `release`). */
const holds = new Map();
/** actorId → resolvers of the steps waiting for a `release`. */
const releases = new Map();
/** Waits while `phase` of the actor is held: until `release`, at most 10 s. */
async function heldAt(actorId, phase) {
  if (!holds.get(actorId)?.has(phase)) return;
  emit({ ev: "held", actor: actorId, phase });
  let release;
  const released = new Promise((r) => (release = r));
  if (!releases.has(actorId)) releases.set(actorId, []);
  releases.get(actorId).push(release);
  await Promise.race([released, sleep(10_000)]);
}

/** actorId → the last start or stop step; the next one runs after it. */
const lifecycle = new Map();
const inOrder = (actorId, step) => {
  const run = (lifecycle.get(actorId) ?? Promise.resolve()).then(step);
  lifecycle.set(actorId, run.catch(() => {}));
  return run;
};

/** actorId → messages and closes still being processed. */
const busy = new Map();
const track = (actorId, promise) => {
  busy.set(actorId, (busy.get(actorId) ?? 0) + 1);
  return promise.finally(() => busy.set(actorId, busy.get(actorId) - 1));
};

const runner = new Runner({
  version: 1,
  endpoint: args.endpoint,
  token: args.token,
  namespace: args.namespace,
  runnerName: args["runner-name"],
  totalSlots: Number(args.slots),
  prepopulateActorNames: {},
  noAutoShutdown: true,
  onConnected: () => {
    connectedOnce = true;
    linkUp = true;
    // Acks written into the connection that died are lost and the runner drops the gateway's
    // resends of those messages as duplicates without acking them: re-ack what is persisted.
    for (const { gw, rq, index } of persistedIndex.values()) runner.sendHibernatableWebSocketMessageAck(gw, rq, index);
    const reissued = reissueKvCalls();
    emit({ ev: "connected", reissued, reacked: persistedIndex.size });
  },
  onDisconnected: (code, reason) => {
    linkUp = false;
    linkEpoch++;
    // A refused upgrade (wrong token, refused version) never reaches `onConnected`.
    emit({ ev: "disconnected", code, reason, refused: !connectedOnce });
  },
  onShutdown: () => emit({ ev: "shutdown" }),

  onActorStart: (actorId, generation) => inOrder(actorId, async () => {
    emit({ ev: "starting", actor: actorId, generation });
    try {
      await heldAt(actorId, "start");
      const entries = await durable(() => runner.kvListPrefix(actorId, enc.encode("hws/")));
      if (!runner.hasActor(actorId, generation)) {
        // Stopped (or replaced) meanwhile: restoring now would attach to the wrong instance.
        emit({ ev: "start_abandoned", actor: actorId, generation });
        return;
      }
      const metas = entries.map(([, v]) => JSON.parse(dec.decode(v)));
      const mine = socketsOf(actorId);
      mine.clear();
      for (const m of metas) mine.set(m.gatewayId + m.requestId, m);
      emit({ ev: "start", actor: actorId, generation, persisted: metas.map((m) => m.requestId) });
      await runner.restoreHibernatingRequests(
        actorId,
        metas.map((m) => ({
          gatewayId: hexToBuf(m.gatewayId),
          requestId: hexToBuf(m.requestId),
          clientMessageIndex: 0,
          serverMessageIndex: m.serverMessageIndex,
          path: m.path,
          headers: m.headers,
        })),
      );
    } catch (e) {
      // Throwing here would crash the process (the runner leaves the rejection unhandled).
      emit({ ev: "start_failed", actor: actorId, error: String(e) });
      runner.stopActor(actorId, generation);
    }
  }),
  onActorStop: (actorId, generation) => inOrder(actorId, async () => {
    emit({ ev: "stopping", actor: actorId, generation });
    await heldAt(actorId, "stop");
    // Finish what is in hand (persist, ack, echo) before reporting the actor stopped, so a
    // sleep never cuts a message between its persist and its echo.
    const deadline = Date.now() + 10_000;
    while ((busy.get(actorId) ?? 0) > 0 && Date.now() < deadline) {
      await sleep(5);
    }
    for (const [sock, p] of persistedIndex) if (p.actorId === actorId) persistedIndex.delete(sock);
    emit({ ev: "stop", actor: actorId, generation });
  }),

  fetch: async (_runner, actorId, _gw, _rq, request) => {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname === "/kv") {
      return Response.json(await runKv(actorId, await request.json()));
    }
    if (request.method === "GET" && url.pathname === "/log") {
      return Response.json(await readLog(actorId));
    }
    const delay = Number(request.headers.get("x-delay-ms") ?? 0);
    if (delay > 0) await sleep(Math.min(delay, 10_000));
    const body = new Uint8Array(await request.arrayBuffer());
    const head = enc.encode(`${request.method} ${url.pathname}${url.search}\n`);
    const out = new Uint8Array(head.length + body.length);
    out.set(head);
    out.set(body, head.length);
    return new Response(out, { headers: { "x-echo-actor": actorId } });
  },

  hibernatableWebSocket: { canHibernate: () => true },

  websocket: async (_runner, actorId, ws, gw, rq, _request, path, headers, hibernatable, restoring) => {
    const sock = idToStr(gw) + idToStr(rq);
    const rqHex = idToStr(rq);
    const mine = socketsOf(actorId);
    if (hibernatable && !restoring) {
      // Persisted at once (before `open`), as the runner contract asks; the first message
      // has index 1.
      const meta = { gatewayId: idToStr(gw), requestId: rqHex, serverMessageIndex: 0, count: 0, path, headers };
      mine.set(sock, meta);
      track(
        actorId,
        durable(() => runner.kvPut(actorId, [[metaKey(sock), enc.encode(JSON.stringify(meta))]])).catch((e) =>
          emit({ ev: "kv_error", actor: actorId, rq: rqHex, error: String(e) }),
        ),
      );
    }
    emit({ ev: "open", actor: actorId, rq: rqHex, path, restoring });
    if (restoring) {
      // Re-ack what was persisted: the gateway drops everything up to it and resends the rest.
      const meta = mine.get(sock);
      if (meta && meta.serverMessageIndex > 0) {
        persistedIndex.set(sock, { actorId, gw, rq, index: meta.serverMessageIndex });
        setImmediate(() => runner.sendHibernatableWebSocketMessageAck(gw, rq, meta.serverMessageIndex));
      }
    }
    // Each message is persisted at once (KV requests complete in order), then acked and
    // echoed strictly in arrival order.
    let chain = Promise.resolve();
    ws.addEventListener("message", (ev) => {
      const index = ev.rivetMessageIndex;
      const text = typeof ev.data === "string";
      const payload = text ? enc.encode(ev.data) : new Uint8Array(ev.data);
      const meta = mine.get(sock);
      let persisted = Promise.resolve(true);
      if (hibernatable && meta) {
        const n = meta.count;
        const entry = new Uint8Array(payload.length + 1);
        entry[0] = text ? 0x74 : 0x62;
        entry.set(payload, 1);
        const next = { ...meta, serverMessageIndex: index, count: n + 1 };
        mine.set(sock, next);
        persisted = durable(() =>
          runner.kvPut(actorId, [
            [metaKey(sock), enc.encode(JSON.stringify(next))],
            [logKey(sock, n), entry],
          ]),
        ).then(
            () => true,
            (e) => {
              emit({ ev: "kv_error", actor: actorId, rq: rqHex, index, error: String(e) });
              return false;
            },
          );
      }
      chain = track(actorId, chain.then(() => persisted).then((ok) => {
        if (!ok) return;
        if (hibernatable) {
          if (mine.has(sock)) persistedIndex.set(sock, { actorId, gw, rq, index });
          runner.sendHibernatableWebSocketMessageAck(gw, rq, index);
        }
        emit({ ev: "message", actor: actorId, rq: rqHex, index, text, data: text ? ev.data : bytesToHex(payload) });
        if (ws.readyState === 1) ws.send(ev.data);
      }));
    });
    ws.addEventListener("close", (ev) => {
      chain = track(actorId, chain.then(async () => {
        emit({ ev: "close", actor: actorId, rq: rqHex, code: ev.code, reason: ev.reason });
        persistedIndex.delete(sock);
        const meta = mine.get(sock);
        if (!meta) return;
        mine.delete(sock);
        const closed = { code: ev.code, reason: ev.reason, after: meta.count };
        try {
          await durable(() => runner.kvPut(actorId, [[closedKey(sock), enc.encode(JSON.stringify(closed))]]));
          await durable(() => runner.kvDelete(actorId, [metaKey(sock)]));
        } catch (e) {
          emit({ ev: "kv_error", actor: actorId, rq: rqHex, error: String(e) });
        }
      }));
    });
    // The runner answers the open only once this callback returns: a slow open on demand.
    const openDelay = restoring ? 0 : Number(headers?.["x-delay-ms"] ?? 0);
    if (openDelay > 0) await sleep(Math.min(openDelay, 10_000));
  },
});

/** `POST /kv`: runs `[{op, …}]` in order; keys and values are hex. */
async function runKv(actorId, ops) {
  const results = [];
  const pairs = (list) => list.map(([k, v]) => [bytesToHex(k), bytesToHex(v)]);
  for (const op of ops) {
    try {
      const b = (hex) => new Uint8Array(Buffer.from(hex, "hex"));
      const opts = { reverse: op.reverse, limit: op.limit };
      switch (op.op) {
        case "put":
          await durable(() => runner.kvPut(actorId, op.entries.map(([k, v]) => [b(k), b(v)])));
          results.push(null);
          break;
        case "get":
          results.push((await durable(() => runner.kvGet(actorId, op.keys.map(b)))).map((v) => (v === null ? null : bytesToHex(v))));
          break;
        case "listAll":
          results.push(pairs(await durable(() => runner.kvListAll(actorId, opts))));
          break;
        case "listPrefix":
          results.push(pairs(await durable(() => runner.kvListPrefix(actorId, b(op.prefix), opts))));
          break;
        case "listRange":
          results.push(pairs(await durable(() => runner.kvListRange(actorId, b(op.start), b(op.end), op.exclusive, opts))));
          break;
        case "delete":
          await durable(() => runner.kvDelete(actorId, op.keys.map(b)));
          results.push(null);
          break;
        case "deleteRange":
          await durable(() => runner.kvDeleteRange(actorId, b(op.start), b(op.end)));
          results.push(null);
          break;
        case "drop":
          await durable(() => runner.kvDrop(actorId));
          results.push(null);
          break;
        default:
          results.push({ error: `unknown op ${op.op}` });
      }
    } catch (e) {
      results.push({ error: String(e.message ?? e) });
    }
  }
  return results;
}

/** `GET /log`: per socket (request id), the messages processed in order, and its close. */
async function readLog(actorId) {
  const out = {};
  const socket = (sock) => (out[sock.slice(8)] ??= { messages: [], closed: null });
  // Paged: a list returns at most 16,384 entries unless a limit says otherwise.
  let start = enc.encode("log/");
  const end = enc.encode("log0");
  for (;;) {
    const page = await durable(() => runner.kvListRange(actorId, start, end, true, { limit: 10_000 }));
    for (const [k, v] of page) {
      const [, sock] = dec.decode(k).split("/");
      const text = v[0] === 0x74;
      const body = v.subarray(1);
      socket(sock).messages.push(text ? dec.decode(body) : bytesToHex(body));
    }
    if (page.length < 10_000) break;
    const last = page[page.length - 1][0];
    start = new Uint8Array(last.length + 1);
    start.set(last);
  }
  for (const [k, v] of await durable(() => runner.kvListPrefix(actorId, enc.encode("closed/")))) {
    const { after, ...closed } = JSON.parse(dec.decode(v));
    const entry = socket(dec.decode(k).slice("closed/".length));
    entry.closed = closed;
    // How many messages the actor had processed when it saw the close (absent before it).
    entry.closedAfter = after ?? null;
  }
  return out;
}

await runner.start();

const stop = async (drain) => {
  await runner.shutdown(!drain);
  process.exit(0);
};
process.once("SIGINT", () => stop(true));
process.once("SIGTERM", () => stop(true));

if (args.events) {
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const cmd = JSON.parse(line);
    if (cmd.cmd === "sleep") runner.sleepActor(cmd.actor);
    else if (cmd.cmd === "hold") holds.set(cmd.actor, new Set(cmd.phases));
    else if (cmd.cmd === "release") {
      holds.delete(cmd.actor);
      for (const r of releases.get(cmd.actor) ?? []) r();
      releases.delete(cmd.actor);
    }
    else if (cmd.cmd === "drain") stop(true);
    else if (cmd.cmd === "exit") process.exit(0);
  });
}
