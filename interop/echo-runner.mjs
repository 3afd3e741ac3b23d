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
// Usage: node echo-runner.mjs [--endpoint http://127.0.0.1:6420] [--token T] [--slots N]
//                             [--namespace default] [--runner-name default]
//
// HTTP requests to an actor are echoed (`METHOD path` and the body); `POST /kv` runs a list of
// KV operations and returns their results; `GET /log` returns what the actor durably processed.
// With `--events`, it prints one JSON object per line on stdout for each thing it sees and
// reads JSON commands on stdin (`{"cmd":"sleep","actor":…}`, `{"cmd":"drain"}`,
// `{"cmd":"exit"}`): the interop scenarios drive it that way.

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

// KV layout, per actor:
//   "hws/" + gw + rq            → JSON metadata of a hibernatable socket
//   "log/" + gw + rq + "/" + n  → the n-th message the actor processed on that socket
//                                  (first byte 't' or 'b', then the payload); n is 8 hex digits
//   "closed/" + gw + rq         → JSON {code, reason} once the socket closed
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
    emit({ ev: "connected" });
  },
  onDisconnected: (code, reason) => {
    // A refused upgrade (wrong token, refused version) never reaches `onConnected`.
    emit({ ev: "disconnected", code, reason, refused: !connectedOnce });
  },
  onShutdown: () => emit({ ev: "shutdown" }),

  onActorStart: async (actorId, generation) => {
    try {
      const entries = await runner.kvListPrefix(actorId, enc.encode("hws/"));
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
      runner.stopActor(actorId);
    }
  },
  onActorStop: async (actorId, generation) => {
    // Finish what is in hand (persist, ack, echo) before reporting the actor stopped, so a
    // sleep never cuts a message between its persist and its echo.
    const deadline = Date.now() + 10_000;
    while ((busy.get(actorId) ?? 0) > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    emit({ ev: "stop", actor: actorId, generation });
  },

  fetch: async (_runner, actorId, _gw, _rq, request) => {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname === "/kv") {
      return Response.json(await runKv(actorId, await request.json()));
    }
    if (request.method === "GET" && url.pathname === "/log") {
      return Response.json(await readLog(actorId));
    }
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
      runner.kvPut(actorId, [[metaKey(sock), enc.encode(JSON.stringify(meta))]]).catch((e) =>
        emit({ ev: "kv_error", actor: actorId, rq: rqHex, error: String(e) }),
      );
    }
    emit({ ev: "open", actor: actorId, rq: rqHex, path, restoring });
    if (restoring) {
      // Re-ack what was persisted: the gateway drops everything up to it and resends the rest.
      const meta = mine.get(sock);
      if (meta && meta.serverMessageIndex > 0) {
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
        persisted = runner
          .kvPut(actorId, [
            [metaKey(sock), enc.encode(JSON.stringify(next))],
            [logKey(sock, n), entry],
          ])
          .then(
            () => true,
            (e) => {
              emit({ ev: "kv_error", actor: actorId, rq: rqHex, index, error: String(e) });
              return false;
            },
          );
      }
      chain = track(actorId, chain.then(() => persisted).then((ok) => {
        if (!ok) return;
        if (hibernatable) runner.sendHibernatableWebSocketMessageAck(gw, rq, index);
        emit({ ev: "message", actor: actorId, rq: rqHex, index, text, data: text ? ev.data : bytesToHex(payload) });
        if (ws.readyState === 1) ws.send(ev.data);
      }));
    });
    ws.addEventListener("close", (ev) => {
      chain = track(actorId, chain.then(async () => {
        emit({ ev: "close", actor: actorId, rq: rqHex, code: ev.code, reason: ev.reason });
        if (!mine.has(sock)) return;
        mine.delete(sock);
        try {
          await runner.kvPut(actorId, [[closedKey(sock), enc.encode(JSON.stringify({ code: ev.code, reason: ev.reason }))]]);
          await runner.kvDelete(actorId, [metaKey(sock)]);
        } catch (e) {
          emit({ ev: "kv_error", actor: actorId, rq: rqHex, error: String(e) });
        }
      }));
    });
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
          await runner.kvPut(actorId, op.entries.map(([k, v]) => [b(k), b(v)]));
          results.push(null);
          break;
        case "get":
          results.push((await runner.kvGet(actorId, op.keys.map(b))).map((v) => (v === null ? null : bytesToHex(v))));
          break;
        case "listAll":
          results.push(pairs(await runner.kvListAll(actorId, opts)));
          break;
        case "listPrefix":
          results.push(pairs(await runner.kvListPrefix(actorId, b(op.prefix), opts)));
          break;
        case "listRange":
          results.push(pairs(await runner.kvListRange(actorId, b(op.start), b(op.end), op.exclusive, opts)));
          break;
        case "delete":
          await runner.kvDelete(actorId, op.keys.map(b));
          results.push(null);
          break;
        case "deleteRange":
          await runner.kvDeleteRange(actorId, b(op.start), b(op.end));
          results.push(null);
          break;
        case "drop":
          await runner.kvDrop(actorId);
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
    const page = await runner.kvListRange(actorId, start, end, true, { limit: 10_000 });
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
  for (const [k, v] of await runner.kvListPrefix(actorId, enc.encode("closed/"))) {
    socket(dec.decode(k).slice("closed/".length)).closed = JSON.parse(dec.decode(v));
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
    else if (cmd.cmd === "drain") stop(true);
    else if (cmd.cmd === "exit") process.exit(0);
  });
}
