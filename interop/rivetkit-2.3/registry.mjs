// The actors the RivetKit 2.3 scenarios run: the `counter` and `notes` of examples/counter-2.3
// (same state, actions, handlers and names), plus what the scenarios need to see inside the
// actor process: `getInfo` (with how often `goToSleep` ran and which process hosts it), `kvPut`
// (RivetKit's `c.kv`), `failPlain` (a plain Error), and, on notes, `addMany` (one big
// transaction) and `stats`.
//
// It is a copy rather than an import of examples/counter-2.3/actors.mjs so that this package
// resolves exactly one `rivetkit` (its own node_modules); keep the two in step.
import { actor, setup, UserError } from "rivetkit";
import { db } from "rivetkit/db";

// How many times an actor was started (first start or wake) in *this* process.
let startsInProcess = 0;
// How many times goToSleep ran in this process, per actor id.
const sleepRequests = new Map();
const countSleep = (c) => sleepRequests.set(c.actorId, (sleepRequests.get(c.actorId) ?? 0) + 1);

export const counter = actor({
	state: { count: 0, wakes: 0 },

	onWake: (c) => {
		c.state.wakes += 1;
		startsInProcess += 1;
	},

	actions: {
		increment: async (c, amount = 1) => {
			if (!Number.isInteger(amount) || amount < 1) {
				throw new UserError("amount must be a positive integer", {
					code: "invalid_amount",
					metadata: { amount },
				});
			}
			c.state.count += amount;
			c.broadcast("newCount", c.state.count);
			await c.saveState({ immediate: true });
			return c.state.count;
		},

		getCount: (c) => c.state.count,

		getWakes: (c) => c.state.wakes,

		// Must leave the state unchanged, as in examples/counter-2.3: scenario k depends on it.
		goToSleep: (c) => {
			countSleep(c);
			c.sleep();
			return true;
		},

		destroy: (c) => {
			c.destroy();
			return true;
		},

		// Scenario-only read-outs.
		getInfo: (c) => ({
			count: c.state.count,
			wakes: c.state.wakes,
			sleepRequests: sleepRequests.get(c.actorId) ?? 0,
			pid: process.pid,
			startsInProcess,
		}),

		// Scenario-only: an entry in the actor's KV, read back through the engine API.
		kvPut: async (c, key, value) => {
			await c.kv.put(key, value);
			return true;
		},

		// Scenario-only: a non-UserError is hidden from clients by RivetKit.
		failPlain: () => {
			throw new Error("this detail must not reach the client");
		},
	},

	onRequest: async (c, request) => {
		const url = new URL(request.url);
		if (request.method === "GET" && url.pathname === "/hello") {
			return Response.json({
				hello: url.searchParams.get("name") ?? "world",
				query: Object.fromEntries(url.searchParams),
				count: c.state.count,
			});
		}
		if (request.method === "POST" && url.pathname === "/echo") {
			return new Response(await request.text(), {
				headers: { "content-type": "text/plain" },
			});
		}
		return new Response("not found", { status: 404 });
	},

	onWebSocket: (c, websocket) => {
		const url = new URL(c.request?.url ?? "http://actor/");
		const path = url.pathname.replace(/^\/websocket(?=\/|$)/, "") || "/";
		if (path !== "/echo") {
			websocket.close(1008, "unknown path");
			return;
		}
		websocket.addEventListener("message", (event) => {
			websocket.send(event.data);
		});
	},

	options: {
		name: "Counter",
		sleepTimeout: 30_000,
		canHibernateWebSocket: true,
	},
});

export const notes = actor({
	db: db({
		onMigrate: async (db) => {
			await db.execute(
				"CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
			);
		},
	}),

	actions: {
		add: async (c, body) => {
			await c.db.execute("INSERT INTO notes (body) VALUES (?)", body);
			const [{ n }] = await c.db.execute("SELECT count(*) AS n FROM notes");
			return n;
		},

		list: async (c) =>
			(await c.db.execute("SELECT body FROM notes ORDER BY id")).map((row) => row.body),

		goToSleep: (c) => {
			countSleep(c);
			c.sleep();
			return true;
		},

		// Scenario-only: `n` rows of about 1 KB in one statement, so one transaction of about
		// n KB (large ones reach the engine as a staged commit).
		addMany: async (c, n) => {
			await c.db.execute(
				"WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < ?) " +
					"INSERT INTO notes (body) SELECT printf('%.1000c', 'x') || i FROM r",
				n,
			);
			return n;
		},

		// Scenario-only: row count, the sum of body lengths, the last body, and the process.
		stats: async (c) => {
			const [row] = await c.db.execute(
				"SELECT count(*) AS n, coalesce(sum(length(body)), 0) AS bytes, " +
					"(SELECT body FROM notes ORDER BY id DESC LIMIT 1) AS last FROM notes",
			);
			return { rows: row.n, bytes: row.bytes, last: row.last, pid: process.pid };
		},
	},

	options: { name: "Notes" },
});

export const registry = setup({
	use: { counter, notes },
	endpoint: process.env.RIVET_ENDPOINT ?? "http://127.0.0.1:6420",
});
