#!/usr/bin/env node
// One WebSocket's whole life through a reverse proxy in front of Torpor, for
// scripts/operator-checks: open, an echo, the actor put to sleep (the socket hibernates and stays
// open through the proxy), a message that wakes the actor and is echoed once, then a normal close.
//
// Usage: node interop/proxy-client.mjs BASE ACTOR_ID
//   BASE: the proxy's https:// URL (NODE_EXTRA_CA_CERTS names its CA). TORPOR_LOCAL_ADDRESS picks
//   the loopback address the client connects from (so the gateway's logs can show it).
// Prints one JSON line: {"request_id": "...", "echoes": [...]}.

import WebSocket from "ws";

const [base, actor] = process.argv.slice(2);
if (!base || !actor) {
  console.error("usage: node interop/proxy-client.mjs BASE ACTOR_ID");
  process.exit(2);
}
const localAddress = process.env.TORPOR_LOCAL_ADDRESS;
const deadline = Date.now() + 60_000;

function fail(message) {
  console.error(`proxy-client: ${message}`);
  process.exit(1);
}

async function api(method, path) {
  const res = await fetch(`${base}${path}`, { method });
  const text = await res.text();
  if (!res.ok) fail(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function sockets() {
  return (await api("GET", `/actors/${actor}/sockets?namespace=default`)).sockets;
}

async function until(what, check) {
  while (Date.now() < deadline) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  fail(`timed out waiting for ${what}`);
}

const url = `${base.replace(/^http/, "ws")}/gateway/${actor}/proxied`;
const ws = new WebSocket(url, localAddress ? { localAddress } : {});
const echoes = [];
let waiting = null;
ws.on("message", (data) => {
  echoes.push(data.toString());
  if (waiting) waiting();
});
ws.on("unexpected-response", (_req, res) => fail(`upgrade refused: ${res.statusCode}`));
ws.on("error", (e) => fail(`socket error: ${e.message}`));
await new Promise((r) => ws.once("open", r));

async function echo(message) {
  const before = echoes.length;
  const got = new Promise((r) => (waiting = r));
  ws.send(message);
  await Promise.race([got, until(`the echo of ${message}`, () => echoes.length > before)]);
  waiting = null;
}

await echo("one");
const socket = await until("the socket to be listed", async () => (await sockets())[0]);
await api("POST", `/actors/${actor}/sleep?namespace=default`);
await until("the socket to hibernate", async () => (await sockets())[0]?.state === "hibernating");
// Still open through the proxy while the actor sleeps; this message wakes it.
await echo("two");
ws.close(1000, "done");
await new Promise((r) => ws.once("close", r));
console.log(JSON.stringify({ request_id: socket.request_id, echoes }));
