// A short demo: increments the "demo" counter, listens to its events, uses the raw HTTP and
// WebSocket handlers across a sleep, and keeps notes in an actor's SQLite database. Run
// `npm run actor` first (in another terminal).
import { createClient } from "rivetkit/client";

const endpoint = process.env.RIVET_ENDPOINT ?? "http://127.0.0.1:6420";
const client = createClient({
	endpoint,
	token: process.env.RIVET_TOKEN,
	namespace: process.env.RIVET_NAMESPACE,
});

const key = process.argv[2] ?? "demo";
const counter = client.counter.getOrCreate([key]);
console.log(`counter "${key}" is actor ${await counter.resolve()} on ${endpoint}`);

// A connection receives the actor's events.
const conn = counter.connect();
conn.on("newCount", (count) => console.log(`  event newCount: ${count}`));
console.log(`count now: ${await conn.getCount()}`);

// Actions can be called on a handle (one HTTP request each) or over the connection.
console.log(`increment(1) -> ${await counter.increment(1)}`);
console.log(`increment(5) -> ${await conn.increment(5)}`);

// Errors thrown with UserError come back with their code and message.
try {
	await counter.increment(-3);
} catch (err) {
	console.log(`increment(-3) failed: ${err.group}/${err.code}: ${err.message}`);
}

// Raw HTTP handled by the actor's onRequest.
const res = await counter.fetch("/hello?name=Ada");
console.log(`GET /hello?name=Ada -> ${res.status} ${await res.text()}`);

// A raw WebSocket handled by the actor's onWebSocket; it stays open while the actor sleeps.
const ws = await counter.webSocket("/echo");
if (ws.readyState !== 1) {
	await new Promise((resolve, reject) => {
		ws.addEventListener("open", resolve, { once: true });
		ws.addEventListener("error", reject, { once: true });
	});
}
const echo = (message) => {
	const answered = new Promise((resolve) =>
		ws.addEventListener("message", (event) => resolve(event.data), { once: true }),
	);
	ws.send(message);
	return answered;
};
console.log(`websocket /echo: sent "ping", got "${await echo("ping")}"`);

// Let the actor sleep; the next call (or WebSocket message) wakes it with its state.
await counter.goToSleep();
await new Promise((resolve) => setTimeout(resolve, 1000));
console.log(`websocket /echo after a sleep: sent "pong", got "${await echo("pong")}"`);
console.log(
	`after a sleep: count ${await counter.getCount()}, started ${await counter.getWakes()} time(s)`,
);
ws.close();

// Rows in the notes actor's SQLite database.
const notes = client.notes.getOrCreate([key]);
console.log(`notes: ${await notes.add(`note ${new Date().toISOString()}`)} row(s)`);
await notes.goToSleep();
await new Promise((resolve) => setTimeout(resolve, 1000));
console.log(`notes after a sleep: ${(await notes.list()).length} row(s)`);

await conn.dispose();
process.exit(0);
