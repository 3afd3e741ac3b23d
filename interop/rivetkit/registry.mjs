// The actors the scenarios run: the `counter` of examples/counter (same state, actions, events,
// raw HTTP and raw WebSocket handlers, same names), plus two read-outs the scenarios need to see
// what happened inside the actor process (`getInfo`, with how often `goToSleep` ran), an action
// that writes the actor's KV (`kvPut`), and an action that throws a plain Error (`failPlain`).
//
// It is a copy rather than an import of examples/counter/actors.mjs so that this package
// resolves exactly one `rivetkit` (its own node_modules); keep the two in step.
import { actor, setup, UserError } from "rivetkit";

// How many times an actor was started (first start or wake) in *this* process.
let startsInProcess = 0;
// How many times goToSleep ran in this process, per actor id.
const sleepRequests = new Map();

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

		// Must leave the state unchanged, as in examples/counter: scenario k depends on it.
		goToSleep: (c) => {
			sleepRequests.set(c.actorId, (sleepRequests.get(c.actorId) ?? 0) + 1);
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

		// Scenario-only: an entry in the actor's KV (RivetKit's `c.kv`), read back through the
		// engine API by scenario l.
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

	// rivetkit 2.2.1: a raw onWebSocket socket does not survive a sleep, not even on the real
	// engine (on wake the socket is re-attached but onWebSocket is not called again, so nobody
	// listens to it). The scenarios therefore never sleep an actor with a raw socket open.
	onWebSocket: (c, websocket) => {
		// The engine driver passes the gateway path with its `/websocket` prefix.
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
	},
});

export const registry = setup({
	use: { counter },
	// Without an endpoint RivetKit would run its own local manager instead of connecting.
	endpoint: process.env.RIVET_ENDPOINT ?? "http://127.0.0.1:6420",
});
