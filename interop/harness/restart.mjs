// A counter's state across a restart of the engine itself, for any RivetKit version:
// scripts/rivetkit-scenarios stops `torpor serve` between the two calls and starts it again on
// the same database and port, while the actor process stays up and reconnects.
//   node restart.mjs set KEY N      increments counter KEY by N, prints the count
//   node restart.mjs check KEY N    fails unless counter KEY's count is N (retrying while the
//                                   actor process reconnects, for up to 60 s)
// TARGET_ENDPOINT and TARGET_TOKEN as for the scenarios. Each version's restart.mjs passes its
// own `createClient`.

export async function restartCheck(createClient) {
	const [mode, key, n] = process.argv.slice(2);
	const want = Number(n);
	if (!["set", "check"].includes(mode) || !key || !Number.isInteger(want)) {
		console.error("usage: node restart.mjs set|check KEY N");
		process.exit(2);
	}
	const client = createClient({
		endpoint: process.env.TARGET_ENDPOINT || "http://127.0.0.1:6420",
		token: process.env.TARGET_TOKEN || undefined,
	});
	const counter = client.counter.getOrCreate([key]);
	if (mode === "set") {
		const count = await counter.increment(want);
		console.log(`restart: counter ${key} set to ${count}`);
		process.exit(count === want ? 0 : 1);
	}
	const deadline = Date.now() + 60_000;
	let last;
	while (Date.now() < deadline) {
		try {
			last = await counter.getCount();
			break;
		} catch (e) {
			last = e;
			await new Promise((r) => setTimeout(r, 500));
		}
	}
	if (last !== want) {
		console.error(`restart: counter ${key} is ${last instanceof Error ? last.message : last}, expected ${want}`);
		process.exit(1);
	}
	console.log(`restart: counter ${key} is ${last}, as set`);
	process.exit(0);
}
