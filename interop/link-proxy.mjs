#!/usr/bin/env node
// A TCP proxy that can cut its connections abruptly, for link faults between a runner and Torpor.
//
// The runner's `--endpoint` points at the proxy; each accepted connection gets its own upstream
// connection to the target and bytes are passed both ways (with backpressure). `cut()` resets
// every current connection on both sides (TCP RST, no WebSocket close frame): bytes still in
// flight are lost, exactly as when a network path dies. `cutAfter(n)` does the same once n more
// bytes have gone from the target to the runner, in the middle of whatever the target is sending
// (the rest of that write is lost). New connections are accepted as before, so a runner
// reconnects through the proxy by itself. `hold()` / `release()` keep back, then pass on, what
// the runner sends (a link gone quiet, e.g. to delay its `Running`).
//
// Importable: `const proxy = await startLinkProxy("127.0.0.1:6420")`, then `proxy.url`,
// `proxy.cut()`, `proxy.cutAfter(n)`, `proxy.hold()`, `proxy.release()`, `proxy.close()`. As a
// command: `node link-proxy.mjs TARGET [PORT]` prints the address and cuts every connection on
// each line read from stdin.

import net from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/**
 * Listens on a random loopback port (or `port`) and forwards to `target` ("host:port").
 * Resolves once listening.
 */
export async function startLinkProxy(target, { port = 0 } = {}) {
  const [targetHost, targetPort] = splitHostPort(target);
  /** Live pairs: {down (the runner's side), up (the target's side)}. */
  const pairs = new Set();
  let accepted = 0;
  let cuts = 0;
  let holding = false;
  let fromTarget = 0;
  let toTarget = 0;
  /** An armed `cutAfter`: {left, resolve}. */
  let armed = null;
  /** Between the mark of a `cutAfter` and its cut: nothing more goes to the runner. */
  let cutting = false;

  const resetPair = (pair) => {
    pairs.delete(pair);
    for (const s of [pair.down, pair.up]) {
      // RST (an abortive close, as a dead path looks to a peer that writes next), not FIN.
      try {
        if (!s.destroyed) s.resetAndDestroy();
      } catch {
        s.destroy();
      }
    }
  };

  const cut = () => {
    cutting = false;
    const n = pairs.size;
    for (const pair of [...pairs]) resetPair(pair);
    if (n > 0) cuts++;
    return n;
  };

  const server = net.createServer((down) => {
    accepted++;
    // Writes to `up` before it has connected are queued by `net`, so nothing is lost early.
    const up = net.connect({ host: targetHost, port: targetPort });
    const pair = { down, up };
    pairs.add(pair);
    down.setNoDelay(true);
    up.setNoDelay(true);
    if (holding) down.pause();

    // Runner → target.
    down.on("data", (chunk) => {
      toTarget += chunk.length;
      if (!up.write(chunk)) down.pause();
    });
    up.on("drain", () => {
      if (!holding) down.resume();
    });
    // Target → runner, where `cutAfter` may cut in the middle of a write.
    up.on("data", (chunk) => {
      if (cutting) return;
      let out = chunk;
      let cutNow = null;
      if (armed) {
        if (chunk.length >= armed.left) {
          out = chunk.subarray(0, armed.left);
          cutNow = armed;
          armed = null;
        } else {
          armed.left -= chunk.length;
        }
      }
      fromTarget += out.length;
      if (cutNow) {
        cutting = true;
        // Reset once the head has reached the kernel (on loopback: the runner's side).
        down.write(out, () => cutNow.resolve(cut()));
        return;
      }
      if (!down.write(out)) up.pause();
    });
    down.on("drain", () => up.resume());

    let gone = false;
    const drop = () => {
      if (gone) return;
      gone = true;
      pairs.delete(pair);
      // One side failed (or was cut): the other must not live on as a half-open link.
      down.destroy();
      up.destroy();
    };
    // An orderly end on one side is passed on (FIN); errors and closes end the pair.
    down.on("end", () => up.end());
    up.on("end", () => down.end());
    down.on("error", drop);
    up.on("error", drop);
    down.on("close", drop);
    up.on("close", drop);
  });

  await new Promise((res, rej) => {
    server.once("error", rej);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", rej);
      res();
    });
  });
  const addr = `127.0.0.1:${server.address().port}`;

  return {
    addr,
    url: `http://${addr}`,
    /** Connections accepted so far. */
    get accepted() {
      return accepted;
    },
    /** Connections open now. */
    get open() {
      return pairs.size;
    },
    /** How many times a cut found something to cut. */
    get cuts() {
      return cuts;
    },
    /** Bytes passed from the target to the runner's side, and back. */
    get fromTarget() {
      return fromTarget;
    },
    get toTarget() {
      return toTarget;
    },
    /**
     * Resets every open connection on both sides at once; returns how many were cut. Bytes the
     * proxy holds but has not written are dropped with them.
     */
    cut,
    /**
     * Cuts every connection once `bytes` more have gone from the target to the runner's side:
     * the write that crosses the mark is passed on only up to it. Resolves with how many
     * connections were cut.
     */
    cutAfter(bytes) {
      if (armed) throw new Error("link-proxy: a cut is already armed");
      return new Promise((resolve) => (armed = { left: Math.max(1, bytes), resolve }));
    },
    /**
     * Stops passing bytes from the runner's side to the target, on current and new
     * connections, until `release()`: they wait, in order (to the target the link has gone
     * quiet, not failed).
     */
    hold() {
      holding = true;
      for (const { down } of pairs) down.pause();
    },
    /** Passes on what `hold` kept back, then everything as before. */
    release() {
      holding = false;
      for (const { down } of pairs) down.resume();
    },
    /** Stops listening and cuts what is left. */
    async close() {
      if (armed) armed.resolve(0);
      armed = null;
      cut();
      await new Promise((r) => server.close(r));
    },
  };
}

function splitHostPort(target) {
  const s = String(target).replace(/^[a-z]+:\/\//, "").replace(/\/.*$/, "");
  const i = s.lastIndexOf(":");
  if (i < 0) throw new Error(`link-proxy: target must be host:port, got ${target}`);
  return [s.slice(0, i), Number(s.slice(i + 1))];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [target, port] = process.argv.slice(2);
  if (!target) {
    console.error("usage: node link-proxy.mjs TARGET_HOST:PORT [LISTEN_PORT]");
    process.exit(2);
  }
  const proxy = await startLinkProxy(target, { port: Number(port ?? 0) });
  console.log(`link-proxy ${proxy.url} -> ${target} (a line on stdin cuts every connection)`);
  createInterface({ input: process.stdin }).on("line", () => console.log(`cut ${proxy.cut()}`));
}
