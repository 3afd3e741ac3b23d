#!/usr/bin/env node
// A WebSocket client for the quickstart: sends each argument to the actor through Torpor and
// prints what comes back.
//
// Usage: node interop/client.mjs ACTOR_ID [MESSAGE ...]   (TORPOR_URL, default ws://127.0.0.1:6420)

import WebSocket from "ws";

const [actor, ...messages] = process.argv.slice(2);
if (!actor) {
  console.error("usage: node interop/client.mjs ACTOR_ID [MESSAGE ...]");
  process.exit(2);
}
const base = process.env.TORPOR_URL ?? "ws://127.0.0.1:6420";
const ws = new WebSocket(`${base}/gateway/${actor}/quickstart`);
let pending = messages.length;
ws.on("unexpected-response", (_req, res) => {
  let body = "";
  res.on("data", (d) => (body += d));
  res.on("end", () => {
    console.error(`refused: ${res.statusCode} ${body}`);
    process.exit(1);
  });
});
ws.on("error", (e) => {
  console.error(`error: ${e.message}`);
  process.exit(1);
});
ws.on("open", () => {
  for (const m of messages) ws.send(m);
  if (pending === 0) ws.close();
});
ws.on("message", (data) => {
  console.log(`echo: ${data}`);
  if (--pending === 0) ws.close(1000, "done");
});
ws.on("close", (code) => process.exit(code === 1000 || code === 1005 ? 0 : 1));
