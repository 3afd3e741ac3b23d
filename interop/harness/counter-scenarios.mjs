// The counter scenarios, the same for every RivetKit version: the `counter` actor of the examples
// (state, actions, events, sleep, raw HTTP and WebSocket, destroy, errors, KV, tokens), driven by
// that version's own client. Each version's scenarios.mjs adds its own and passes what differs.

import { once } from "node:events";

import {
	ENDPOINT,
	NAMESPACE,
	TOKEN,
	api,
	check,
	eq,
	expectEvents,
	freshKey,
	opened,
	retryUntil,
	sleep,
	show,
	withTimeout,
} from "./scenarios.mjs";

const NOT_FOUND = { group: "actor", code: "not_found" };

/**
 * The scenarios a–m.
 *   newClient     () => a client of the version under test
 *   createClient  that version's `createClient` (scenario m builds a client with a wrong token)
 *   actorNames    what `GET /actors/names` lists (the actor process's metadata)
 *   errors        what the client throws for an unknown action and a plain Error (scenario j)
 *   userKvInEngine whether RivetKit keeps `c.kv` in the engine's actor KV (2.2; 2.3 keeps it in
 *                 the actor's SQLite database), which scenario l then reads through the API
 *   knownFailures scenario id => why it fails on the real engine too
 */
export function counterScenarios({
	newClient,
	createClient,
	actorNames,
	errors,
	userKvInEngine,
	knownFailures = {},
}) {
	return [
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
			async run({ client, step, actors }) {
				const h = client.counter.getOrCreate([freshKey("e")]);
				await step("increment(4)", () => h.increment(4), 4);
				const before = await step("getInfo()", () => h.getInfo());
				eq(before.pid, actors.current.pid, "process hosting the actor");
				const t0 = Date.now();
				const { signal } = await step("kill -9 of the actor process", () => actors.current.kill("SIGKILL"));
				eq(signal, "SIGKILL", "exit of the actor process");
				actors.restart();
				// The engine notices the lost runner on its own schedule (the real engine: 15 s
				// without a ping); until then the actor is not reachable.
				const { value: after, attempts } = await step("getInfo() after the restart", () =>
					retryUntil(() => h.getInfo(), 60_000, "getInfo() after the restart"),
				);
				const ms = Date.now() - t0;
				eq({ count: after.count, wakes: after.wakes }, { count: 4, wakes: 2 }, "state after kill -9 and restart");
				eq(after.pid, actors.current.pid, "process hosting the actor after the restart");
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
				// No sleep here: rivetkit 2.2.1 does not restore a raw onWebSocket socket after one
				// (not even on the real engine: the socket is re-attached on wake but onWebSocket is
				// not called again, so nothing answers). The 2.3 scenarios cover the sleep (w).
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
				const { unknownAction: unknown, internal } = errors;
				await fails("increment(-1)", () => h.increment(-1), user);
				await fails("noSuchAction()", () => h.noSuchAction(), unknown);
				await fails("failPlain()", () => h.failPlain(), internal);
				const conn = track(h.connect());
				await fails("conn.increment(-1)", () => conn.increment(-1), user);
				await fails("conn.noSuchAction()", () => conn.noSuchAction(), unknown);
				await fails("conn.failPlain()", () => conn.failPlain(), internal);
				await step("conn.increment(2) after the errors", () => conn.increment(2), 2);
				await step("getCount() after the errors", () => h.getCount(), 2);
				return `user/invalid_amount (message, metadata), ${unknown.group}/${unknown.code}, ${internal.group}/${internal.code}; over HTTP and over a connection`;
			},
		},
		{
			id: "k",
			title: "sleep requested over a connection runs once",
			knownFailure: knownFailures.k,
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
				let kvSeen = "user KV is kept in the actor's own SQLite database, not the engine's KV";
				if (userKvInEngine) {
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
					kvSeen = `KV value "hello" at update_ts ${found.body.update_ts}; missing key 400 actor.kv_key_not_found`;
				}
				const names = await step("GET /actors/names", () => api("/actors/names"));
				const lastName = Object.keys(actorNames).sort().at(-1);
				eq(names.body, { names: actorNames, pagination: { cursor: lastName } }, "actor names");
				return `${kvSeen}; names ${show(Object.keys(names.body.names))} with the actor process's metadata`;
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
}
