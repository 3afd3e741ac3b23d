// Speed of one RivetKit 2.3.19 app against an engine endpoint (Torpor or the Rivet Engine),
// with the same actor process and client: starts actor.mjs, waits until it serves, then
//   action round trip   `getCount()` on a handle (one HTTP request through the gateway),
//                       sequential, after a warm-up: median and p99 in ms
//   connection action   `getCount()` over a connection (one WebSocket message each way)
//   WebSocket echo      a raw WebSocket to the actor's /echo, `WINDOW` messages in flight:
//                       echoed messages per second
// and prints one JSON line. The numbers include the actor process (RivetKit in Node), which is
// the same on both sides.
//
//   node bench.mjs [actions] [echoes]      defaults 2000 and 20000
// Environment: TARGET_ENDPOINT, TARGET_TOKEN; WINDOW (default 32). Needs Node >= 22.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { spawn } from "node:child_process";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ENDPOINT = process.env.TARGET_ENDPOINT || "http://127.0.0.1:6420";
const TOKEN = process.env.TARGET_TOKEN || undefined;
const WINDOW = Number(process.env.WINDOW ?? 32);
const ACTIONS = Number(process.argv[2] ?? 2000);
const ECHOES = Number(process.argv[3] ?? 20000);

process.env.RIVET_LOG_LEVEL ||= "error";
const { createClient } = await import("rivetkit/client");

const actorProcess = spawn(process.execPath, [path.join(HERE, "actor.mjs")], {
	cwd: HERE,
	env: { ...process.env, RIVET_ENDPOINT: ENDPOINT, RIVET_LOG_LEVEL: "warn", ...(TOKEN ? { RIVET_TOKEN: TOKEN } : {}) },
	stdio: ["ignore", "ignore", "inherit"],
});
const client = createClient({ endpoint: ENDPOINT, token: TOKEN });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const key = `bench-${process.pid}-${Date.now()}`;

async function ready(ms) {
	const deadline = Date.now() + ms;
	for (;;) {
		try {
			await Promise.race([client.counter.getOrCreate([key]).getCount(), sleep(5_000).then(() => { throw new Error("timeout"); })]);
			return;
		} catch (err) {
			if (Date.now() > deadline) throw new Error(`the actor process never served: ${err?.message ?? err}`);
			await sleep(250);
		}
	}
}

function quantiles(samples) {
	const s = [...samples].sort((a, b) => a - b);
	const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
	return { median_ms: +at(0.5).toFixed(3), p99_ms: +at(0.99).toFixed(3) };
}

async function timeEach(n, fn) {
	const samples = [];
	for (let i = 0; i < n; i++) {
		const t = performance.now();
		await fn();
		samples.push(performance.now() - t);
	}
	return samples;
}

async function echoThroughput(ws, n, window) {
	let received = 0;
	let sent = 0;
	const done = new Promise((resolve) => {
		ws.addEventListener("message", () => {
			received++;
			if (sent < n) {
				ws.send(`m${sent++}`);
			}
			if (received === n) resolve();
		});
	});
	const t = performance.now();
	for (; sent < Math.min(window, n); ) ws.send(`m${sent++}`);
	await done;
	return n / ((performance.now() - t) / 1000);
}

try {
	await ready(60_000);
	const h = client.counter.getOrCreate([key]);
	await timeEach(200, () => h.getCount()); // warm-up
	const action = quantiles(await timeEach(ACTIONS, () => h.getCount()));
	const conn = h.connect();
	await conn.getCount();
	await timeEach(200, () => conn.getCount());
	const connAction = quantiles(await timeEach(ACTIONS, () => conn.getCount()));
	await conn.dispose();
	const ws = await h.webSocket("/echo");
	if (ws.readyState !== 1) await new Promise((r) => ws.addEventListener("open", r, { once: true }));
	await echoThroughput(ws, 2_000, WINDOW); // warm-up
	const echoes = await echoThroughput(ws, ECHOES, WINDOW);
	ws.close();
	console.log(
		JSON.stringify({
			endpoint: ENDPOINT,
			action_http: action,
			action_connection: connAction,
			ws_echo_per_s: Math.round(echoes),
			window: WINDOW,
			actions: ACTIONS,
			echoes: ECHOES,
		}),
	);
} finally {
	actorProcess.kill("SIGTERM");
	await sleep(500);
	actorProcess.kill("SIGKILL");
	process.exit(0);
}
