// What every RivetKit scenario run shares, whatever RivetKit version it drives: assertions with
// exact values, timeouts that name the step that hung, the actor process (started, killed and
// restarted by the scenarios), and the run itself (filter, order, one line per scenario, exit
// code). It imports no RivetKit: each version's scenarios.mjs passes its own client factory, so
// each resolves exactly one `rivetkit`, its own.
//
// Environment read here:
//   TARGET_ENDPOINT   engine endpoint (default http://127.0.0.1:6420)
//   TARGET_TOKEN      token for the actor process and the client (optional)
//   TARGET_NAMESPACE  namespace (optional; RivetKit's default is "default")
//   RIVET_LOG_LEVEL   log level of the actor process (default warn; its logs go to files named
//                     at the start)
//   STRICT=1          known failures count as failures

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";

export const ENDPOINT = process.env.TARGET_ENDPOINT || "http://127.0.0.1:6420";
export const TOKEN = process.env.TARGET_TOKEN || undefined;
export const NAMESPACE = process.env.TARGET_NAMESPACE || undefined;
const STRICT = process.env.STRICT === "1";
const SLOW_STEP_MS = 2_000; // a passing scenario names its slowest step when it took this long
const RUNNER_LOG_LEVEL = process.env.RIVET_LOG_LEVEL || "warn";

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const show = (v) =>
	JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x)) ?? String(v);
const runId = Math.random().toString(36).slice(2, 8);
let keySeq = 0;
/** A fresh, unique actor key. */
export const freshKey = (tag) =>
	`${tag}-${runId}-${++keySeq}-${Math.random().toString(36).slice(2, 8)}`;

export class AssertionFailed extends Error {}

export function eq(actual, expected, what) {
	if (!isDeepStrictEqual(actual, expected)) {
		throw new AssertionFailed(`${what}: expected ${show(expected)}, got ${show(actual)}`);
	}
	return actual;
}

export function check(cond, what) {
	if (!cond) throw new AssertionFailed(what);
}

export function withTimeout(promise, ms, what) {
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

export function describeError(err) {
	if (err && typeof err === "object" && "group" in err && "code" in err) {
		return `${err.group}/${err.code}: ${err.message}`;
	}
	return String(err?.message ?? err);
}

/** Calls `fn` until it stops throwing, for at most `ms`; returns { value, attempts, errors }. */
export async function retryUntil(fn, ms, what, { attemptTimeout = 20_000, gap = 500 } = {}) {
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
export async function waitFor(cond, ms, what) {
	const deadline = Date.now() + ms;
	while (!cond()) {
		if (Date.now() >= deadline) throw new AssertionFailed(`${what}: not within ${ms} ms`);
		await sleep(20);
	}
}

/**
 * What a scenario gets: `step(what, fn, expected?)` runs one awaited call (naming it, so a
 * timeout says which call hung), asserting its result when `expected` is given;
 * `fails(what, fn, expected)` expects a RivetKit ActorError with exactly the given group, code
 * and (when given) message and metadata; `track(x)` disposes/closes x after the scenario.
 */
function scenarioContext(client, actors) {
	const ctx = {
		client,
		actors,
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
export async function opened(ws, ms) {
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

/** Checks that a connection sees the events `expected`, each once, in order. */
export async function expectEvents(ctx, events, expected, what) {
	await ctx.waitFor(
		`${expected.length} ${what} (so far ${show(events)})`,
		() => events.length >= expected.length,
		5_000,
	);
	await sleep(300); // a duplicate would arrive now
	eq(events, expected, what);
}

/** A GET on the engine API (with the token, as RivetKit sends it), as `{ status, body }`. */
export async function api(pathAndQuery) {
	const url = new URL(pathAndQuery, ENDPOINT);
	if (NAMESPACE) url.searchParams.set("namespace", NAMESPACE);
	const headers = TOKEN ? { authorization: `Bearer ${TOKEN}` } : {};
	const res = await fetch(url, { headers });
	return { status: res.status, body: await res.json() };
}

// ---------------------------------------------------------------------------------------------
// The actor process

/** One run of the actor process (`script`, with the engine's endpoint and token). */
class ActorProcess {
	constructor(script, logPath, extraEnv) {
		const log = fs.openSync(logPath, "a");
		const env = {
			...process.env,
			...extraEnv,
			RIVET_ENDPOINT: ENDPOINT,
			RIVET_LOG_LEVEL: RUNNER_LOG_LEVEL,
		};
		if (TOKEN) env.RIVET_TOKEN = TOKEN;
		if (NAMESPACE) env.RIVET_NAMESPACE = NAMESPACE;
		// Errors that are not UserErrors must stay hidden from clients (scenario j).
		delete env.RIVET_EXPOSE_ERRORS;
		delete env.NODE_ENV;
		this.child = spawn(process.execPath, [script], {
			cwd: path.dirname(script),
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

/** The actor process of a run: `current`, and `restart()` after a scenario killed it. */
class ActorHost {
	constructor(script, extraEnv) {
		this.script = script;
		this.extraEnv = extraEnv;
		this.logDir = fs.mkdtempSync(path.join(os.tmpdir(), "torpor-rivetkit-"));
		this.runs = 0;
		this.current = undefined;
	}

	/** Starts a new actor process (the previous one must be gone). */
	restart() {
		const logPath = path.join(this.logDir, `actor-${++this.runs}.log`);
		this.current = new ActorProcess(this.script, logPath, this.extraEnv);
		return this.current;
	}
}

/**
 * Waits until the actor process serves actors: `probe(key)` on three fresh keys in a row must
 * each succeed within 5 s. (Right after another actor process went away, the real engine still
 * places some new actors on the gone runner for a while; those hang until it gives up on it.)
 */
async function waitUntilServing(probe, ms) {
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
			await withTimeout(probe(freshKey("ready")), 5_000, "probe");
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
// The run

/**
 * Runs the scenarios `process.argv[2]` selects (letters; all when absent) and exits:
 * 0 when all passed (known failures only count with STRICT=1), 1 when one failed, 2 when the
 * actor process never served an actor. A scenario is `{ id, title, run(ctx), timeout?,
 * runsLast?, knownFailure? }`.
 *   title       the run's first line
 *   actorScript the actor process's entry point (absolute path)
 *   actorEnv    extra environment for the actor process
 *   newClient   () => a RivetKit client for the target
 *   probe       (client, key) => a promise that settles once an actor of that key answered
 */
export async function runScenarios({ title, scenarios, actorScript, actorEnv = {}, newClient, probe }) {
	const filter = (process.argv[2] ?? "").toLowerCase().replace(/[^a-z]/g, "");
	// Scenarios marked runsLast (a kill -9 of the actor process) run at the end: after one, the
	// real engine sometimes keeps failing or delaying the creation of new actors for minutes
	// (`core/internal_error`, "operation pegboard_actor_create timed out", or
	// `guard/actor_ready_timeout` "no_capacity"), which would fail the scenarios after it for a
	// reason that is not theirs.
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

	const actors = new ActorHost(actorScript, actorEnv);
	const watchdog = setTimeout(async () => {
		console.log("FAIL   the whole run took more than 5 minutes; giving up");
		await actors.current?.kill("SIGKILL");
		process.exit(1);
	}, 300_000);
	watchdog.unref();

	console.log(`${title} against ${ENDPOINT} (actor process logs in ${actors.logDir})`);
	const client = newClient();
	actors.restart();
	const t0 = Date.now();
	try {
		const { probes } = await waitUntilServing((key) => probe(client, key), 60_000);
		console.log(`     actor process ${actors.current.pid} serves actors after ${Date.now() - t0} ms (${probes} probes)`);
	} catch (err) {
		console.log(`FAIL   the actor process never served an actor: ${describeError(err)}`);
		await actors.current.kill("SIGKILL");
		process.exit(2);
	}

	let passed = 0;
	const failed = [];
	const knownFailed = [];
	for (const s of selected) {
		const ctx = scenarioContext(client, actors);
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
		if (!actors.current.alive) {
			console.log(`     actor process ${actors.current.pid} is gone; starting another`);
			actors.restart();
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
	await actors.current.stop();
	process.exit(failed.length > 0 || (STRICT && knownFailed.length > 0) ? 1 : 0);
}
