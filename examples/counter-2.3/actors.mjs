// Two actors and the registry that hosts them (RivetKit 2.3.19, plain ESM JavaScript).
//
// One actor instance exists per key: `client.counter.getOrCreate(["my-counter"])` always reaches
// the same instance, wherever and whenever it runs. Its state and its SQLite database are kept
// by the engine (Torpor or the Rivet Engine) and survive sleep, restarts and crashes of the
// process that hosts it.
import { actor, setup, UserError } from "rivetkit";
import { db } from "rivetkit/db";

export const counter = actor({
	// Persistent state. `count` is the counter; `wakes` counts how often this actor was started
	// (its first start and every wake after a sleep) to make sleeping visible.
	state: { count: 0, wakes: 0 },

	onWake: (c) => {
		c.state.wakes += 1;
	},

	actions: {
		// Adds `amount` (a positive integer) and tells every connected client the new count.
		increment: async (c, amount = 1) => {
			if (!Number.isInteger(amount) || amount < 1) {
				// A UserError reaches the client with its message and code.
				throw new UserError("amount must be a positive integer", {
					code: "invalid_amount",
					metadata: { amount },
				});
			}
			c.state.count += amount;
			c.broadcast("newCount", c.state.count);
			// RivetKit saves state changes in the background; wait for this one so a count the
			// caller has seen is never lost, not even in a crash.
			await c.saveState({ immediate: true });
			return c.state.count;
		},

		getCount: (c) => c.state.count,

		getWakes: (c) => c.state.wakes,

		// Puts the actor to sleep: it is stopped and unloaded after this action answers, and
		// woken again (with its state) by the next request or message. Connections and raw
		// WebSockets stay open meanwhile.
		goToSleep: (c) => {
			c.sleep();
			return true;
		},

		destroy: (c) => {
			c.destroy();
			return true;
		},
	},

	// Raw HTTP: `handle.fetch("/hello?name=Ada")`, reached through the engine's gateway.
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

	// Raw WebSocket: `handle.webSocket("/echo")` sends every message back as it came. With
	// `canHibernateWebSocket` the socket stays open while the actor sleeps: the engine holds
	// the client's messages and the woken actor answers them.
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
		// How dashboards and `GET /actors/names` show it.
		name: "Counter",
		sleepTimeout: 30_000,
		canHibernateWebSocket: true,
	},
});

// Notes kept in the actor's own SQLite database: its pages live in the engine (RivetKit 2.3's
// page store), so the rows survive sleep and crashes like the state does.
export const notes = actor({
	db: db({
		onMigrate: async (db) => {
			await db.execute(
				"CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
			);
		},
	}),

	actions: {
		// Adds a note; returns how many there are.
		add: async (c, body) => {
			await c.db.execute("INSERT INTO notes (body) VALUES (?)", body);
			const [{ n }] = await c.db.execute("SELECT count(*) AS n FROM notes");
			return n;
		},

		list: async (c) =>
			(await c.db.execute("SELECT body FROM notes ORDER BY id")).map((row) => row.body),

		goToSleep: (c) => {
			c.sleep();
			return true;
		},
	},

	options: { name: "Notes" },
});

export const registry = setup({
	use: { counter, notes },
	// The engine to connect to. Without an endpoint, RivetKit would not connect to any engine
	// but run its own local development manager instead.
	endpoint: process.env.RIVET_ENDPOINT ?? "http://127.0.0.1:6420",
});
