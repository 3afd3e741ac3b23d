// The counter actor and the registry that hosts it (RivetKit 2.2.1, plain ESM JavaScript).
//
// One actor instance exists per key: `client.counter.getOrCreate(["my-counter"])` always reaches
// the same instance, wherever and whenever it runs. Its `state` is stored by the engine (Torpor
// or the Rivet Engine) and survives sleep, restarts and crashes of the process that hosts it.
import { actor, setup, UserError } from "rivetkit";

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
			// RivetKit saves state changes in the background (every second by default); wait
			// for this one so a count the caller has seen is never lost, not even in a crash.
			await c.saveState({ immediate: true });
			return c.state.count;
		},

		getCount: (c) => c.state.count,

		getWakes: (c) => c.state.wakes,

		// Puts the actor to sleep: it is stopped and unloaded after this action answers, and
		// woken again (with its state) by the next request or message. Connections stay open.
		// Call it on a handle (HTTP), not over a connection: with rivetkit 2.2.1 the latter
		// runs it twice (see README.md).
		goToSleep: (c) => {
			c.sleep();
			return true;
		},

		// Deletes the actor and its state for good. The key can then be used again.
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

	// Raw WebSocket: `handle.webSocket("/echo")` sends every message back as it came.
	onWebSocket: (c, websocket) => {
		// In RivetKit 2.2.1 (engine driver) the request URL still carries the `/websocket` prefix
		// of the gateway path (`http://actor/websocket/echo`), unlike onRequest's URL: strip it.
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
		// Sleep after 30 s without requests or connections (the RivetKit default, spelled out).
		sleepTimeout: 30_000,
	},
});

export const registry = setup({
	use: { counter },
	// The engine to connect to. Without an endpoint, RivetKit would not connect to any engine
	// but run its own local development manager instead.
	endpoint: process.env.RIVET_ENDPOINT ?? "http://127.0.0.1:6420",
});
