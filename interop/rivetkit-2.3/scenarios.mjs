// RivetKit 2.3.19 against an engine endpoint: Torpor, or the real Rivet Engine.
//
// The actor process (actor.mjs) is a RivetKit 2.3 envoy (envoy protocol v8) hosting
// registry.mjs; the client reaches actors through the query-form gateway
// (`/gateway/{name}/…?rvt-method=getOrCreate&…`). The scenarios are the counter scenarios a–m
// every RivetKit version runs (../harness/counter-scenarios.mjs) and what 2.3 adds:
//   s  SQLite rows survive sleep and wake
//   t  a large transaction (a staged commit) survives sleep and wake
//   w  a raw WebSocket stays open across a sleep; messages sent while the actor sleeps are
//      answered once each, in order
//   z  kill -9 of the envoy process: counter state, SQLite rows and an open raw WebSocket
//      survive (runs last)
//
//   node scenarios.mjs            all scenarios
//   node scenarios.mjs sw         only s and w
//
// Environment: as ../harness/scenarios.mjs (TARGET_ENDPOINT, TARGET_TOKEN, TARGET_NAMESPACE,
// RIVET_LOG_LEVEL, STRICT). Needs Node >= 22: run it as `npm run scenarios -- [filter]`.

import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { counterScenarios } from "../harness/counter-scenarios.mjs";
import {
	ENDPOINT,
	NAMESPACE,
	TOKEN,
	check,
	eq,
	freshKey,
	opened,
	retryUntil,
	runScenarios,
	sleep,
	withTimeout,
} from "../harness/scenarios.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));

// RivetKit reads its log level when its logger is first used: set it before loading it.
process.env.RIVET_LOG_LEVEL ||= "error";
const { createClient } = await import("rivetkit/client");

function newClient() {
	return createClient({ endpoint: ENDPOINT, token: TOKEN, namespace: NAMESPACE });
}

/** Sends `message` on a raw WebSocket and resolves with the next message it receives. */
function echo(ws, message, ms, what) {
	const answered = new Promise((resolve) =>
		ws.addEventListener("message", (e) => resolve(e.data), { once: true }),
	);
	ws.send(message);
	return withTimeout(answered, ms, what);
}

/** Collects a raw WebSocket's text messages. */
function collect(ws) {
	const got = [];
	ws.addEventListener("message", (e) => got.push(e.data));
	return got;
}

// Long enough for RivetKit's state save after a socket opened (see z).
const PERSIST_WAIT_MS = Number(process.env.PERSIST_WAIT_MS ?? 2_000);

const sqliteScenarios = [
	{
		id: "s",
		title: "SQLite rows survive sleep and wake",
		async run({ client, step }) {
			const h = client.notes.getOrCreate([freshKey("s")]);
			await step("list() of a new database", () => h.list(), []);
			await step('add("first")', () => h.add("first"), 1);
			await step('add("second")', () => h.add("second"), 2);
			await step("goToSleep()", () => h.goToSleep(), true);
			await sleep(1_500);
			await step("list() after the wake", () => h.list(), ["first", "second"]);
			await step('add("third") after the wake', () => h.add("third"), 3);
			await step("goToSleep() again", () => h.goToSleep(), true);
			await sleep(1_500);
			await step("list() after the second wake", () => h.list(), ["first", "second", "third"]);
			return "rows [first, second] kept across a sleep, [first, second, third] across another";
		},
	},
	{
		id: "t",
		title: "a large transaction (a staged commit) survives sleep and wake",
		async run({ client, step }) {
			const h = client.notes.getOrCreate([freshKey("t")]);
			const rows = 20_000;
			const t0 = Date.now();
			await step(`addMany(${rows}) in one statement`, () => h.addMany(rows), rows);
			const ms = Date.now() - t0;
			// printf('%.1000c', 'x') || i: 1000 bytes plus the digits of i.
			const bytes = rows * 1000 + [...Array(rows)].reduce((n, _, i) => n + String(i + 1).length, 0);
			const want = { rows, bytes, last: `${"x".repeat(1000)}${rows}` };
			const before = await step("stats()", () => h.stats());
			eq({ rows: before.rows, bytes: before.bytes, last: before.last }, want, "stats before the sleep");
			await step("goToSleep()", () => h.goToSleep(), true);
			await sleep(1_500);
			const after = await step("stats() after the wake", () => h.stats());
			eq({ rows: after.rows, bytes: after.bytes, last: after.last }, want, "stats after the wake");
			await step('add("one more") after the wake', () => h.add("one more"), rows + 1);
			return `${rows} rows (${bytes} bytes of text) in one transaction of ${ms} ms, all there after a sleep`;
		},
	},
	{
		id: "w",
		title: "a raw WebSocket stays open across a sleep",
		async run(ctx) {
			const { client, step, track } = ctx;
			const h = client.counter.getOrCreate([freshKey("w")]);
			const ws = track(await step('webSocket("/echo")', () => h.webSocket("/echo")));
			await step("open", () => opened(ws, 10_000));
			const closes = [];
			ws.addEventListener("close", (e) => closes.push([e.code, e.reason]));
			await step('echo("before")', () => echo(ws, "before", 5_000, "echo before"), "before");
			await step("goToSleep()", () => h.goToSleep(), true);
			await sleep(1_500);
			// The actor sleeps: these wake it, and each is answered once, in order.
			const got = collect(ws);
			const sent = [];
			for (let i = 1; i <= 10; i++) {
				sent.push(`while asleep ${i}`);
				ws.send(`while asleep ${i}`);
			}
			await ctx.waitFor(`${sent.length} echoes`, () => got.length >= sent.length, 15_000);
			await sleep(300);
			eq(got, sent, "echoes of the messages sent while the actor slept");
			const info = await step("getInfo()", () => h.getInfo());
			eq({ wakes: info.wakes, sleepRequests: info.sleepRequests }, { wakes: 2, sleepRequests: 1 }, "one sleep, one wake");
			eq(closes, [], "close events");
			check(ws.readyState === 1, `websocket state ${ws.readyState} after the wake`);
			const closed = once(ws, "close");
			ws.close(1000, "bye");
			await step("close", () => withTimeout(closed, 5_000, "close"));
			return "the socket stayed open; 10 messages sent while asleep woke the actor and were echoed once each, in order";
		},
	},
	{
		id: "z",
		title: "kill -9 of the envoy process: state, SQLite rows and an open raw WebSocket survive",
		timeout: 75_000,
		runsLast: true,
		async run(ctx) {
			const { client, step, track, actors } = ctx;
			const counter = client.counter.getOrCreate([freshKey("z")]);
			const notes = client.notes.getOrCreate([freshKey("z")]);
			await step("increment(4)", () => counter.increment(4), 4);
			await step('add("kept")', () => notes.add("kept"), 1);
			const ws = track(await step('webSocket("/echo")', () => counter.webSocket("/echo")));
			await step("open", () => opened(ws, 10_000));
			const closes = [];
			ws.addEventListener("close", (e) => closes.push([e.code, e.reason]));
			await step('echo("before")', () => echo(ws, "before", 5_000, "echo before"), "before");
			const before = await step("getInfo()", () => counter.getInfo());
			eq(before.pid, actors.current.pid, "process hosting the actor");
			// RivetKit 2.3 writes a new hibernatable socket down with the actor's next state save,
			// not when it opens; only a written-down socket is restored by the next instance.
			await sleep(PERSIST_WAIT_MS);
			const t0 = Date.now();
			const { signal } = await step("kill -9 of the envoy process", () => actors.current.kill("SIGKILL"));
			eq(signal, "SIGKILL", "exit of the envoy process");
			// Sent while no process hosts the actor: the engine holds it for the next instance.
			const got = collect(ws);
			ws.send("during the outage");
			actors.restart();
			const { value: after, attempts } = await step("getInfo() after the restart", () =>
				retryUntil(() => counter.getInfo(), 60_000, "getInfo() after the restart"),
			);
			const ms = Date.now() - t0;
			eq({ count: after.count, pid: after.pid }, { count: 4, pid: actors.current.pid }, "counter after kill -9");
			await step("notes list() after the restart", () => notes.list(), ["kept"]);
			await ctx.waitFor("the echo of the message sent during the outage", () => got.length >= 1, 15_000);
			await step('echo("after")', () => echo(ws, "after", 5_000, "echo after"), "after");
			eq(got, ["during the outage", "after"], "echoes on the socket that stayed open");
			eq(closes, [], "close events");
			return `count 4 and the SQLite row kept; the socket stayed open and its outage message was echoed once; answered ${ms} ms after the kill (${attempts} attempt(s))`;
		},
	},
];

await runScenarios({
	title: "RivetKit 2.3.19 scenarios",
	scenarios: [
		...counterScenarios({
			newClient,
			createClient,
			actorNames: {
				counter: { metadata: { name: "Counter" } },
				notes: { metadata: { name: "Notes" } },
			},
			errors: {
				unknownAction: {
					group: "actor",
					code: "action_not_found",
					message: "Action `noSuchAction` was not found.",
				},
				internal: {
					group: "rivetkit",
					code: "internal_error",
					message: "An internal error occurred",
				},
			},
			userKvInEngine: false,
		}),
		...sqliteScenarios,
	],
	actorScript: path.join(HERE, "actor.mjs"),
	newClient,
	probe: async (client, key) =>
		eq(await client.counter.getOrCreate([key]).increment(1), 1, "probe increment(1)"),
});
