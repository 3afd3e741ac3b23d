#!/usr/bin/env node
// Generates golden test vectors for Rivet runner protocol v7 using the
// upstream npm codec (@rivetkit/engine-runner-protocol@2.2.1).
//
// Usage: node gen-vectors.mjs [OUT]
//   OUT defaults to ../protocol/tests/golden/runner-v7.json, resolved relative to
//   this script's directory (so it works from any cwd).
//
// The output is fully deterministic: no timestamps, no randomness. See
// README.md for the JSON conventions used for the "value" field.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import {
	StopCode,
	decodeToClient,
	decodeToServer,
	encodeToClient,
	encodeToServer,
} from "@rivetkit/engine-runner-protocol";
import {
	buildVectors,
	copyBytes,
	hexBuf,
	pattern,
	toHex,
	utf8,
} from "./vectors-lib.mjs";

const SCRIPT_DIR = dirname(fileURLToPath(import.meta.url));
const PKG_NAME = "@rivetkit/engine-runner-protocol";
const PKG_VERSION = JSON.parse(
	readFileSync(
		resolve(SCRIPT_DIR, "node_modules", PKG_NAME, "package.json"),
		"utf8",
	),
).version;
const EXPECTED_PKG_VERSION = "2.2.1";
if (PKG_VERSION !== EXPECTED_PKG_VERSION) {
	throw new Error(
		`expected ${PKG_NAME}@${EXPECTED_PKG_VERSION}, found ${PKG_VERSION} (run npm ci)`,
	);
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const TS = 1700000000000n;
const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;
const U64_MAX = 18446744073709551615n;
const BEYOND_2_53 = 9007199254740993n; // 2^53 + 1
const U32_MAX = 4294967295;
const U16_MAX = 65535;

const GW = () => hexBuf("01020304");
const RQ = () => hexBuf("aabbccdd");
const GW_EDGE = () => hexBuf("00ff00ff");
const RQ_EDGE = () => hexBuf("ffffffff");

const msgId = (messageIndex, gatewayId = GW(), requestId = RQ()) => ({
	gatewayId,
	requestId,
	messageIndex,
});

const ACTOR_A = "actor-0001";
const ACTOR_B = "4f1c8b2e-6a3d-4e5f-9b7a-0c1d2e3f4a5b";
const ACTOR_UNICODE = "актор-日本語-🚀";

const checkpoint = (actorId, generation, index) => ({
	actorId,
	generation,
	index,
});

const headers = (...pairs) => new Map(pairs);

const BIN_SMALL = () => hexBuf("00 ff 00 01 fe ff 7f 80");

// ---------------------------------------------------------------------------
// Vectors
// ---------------------------------------------------------------------------

/** @type {{name: string, direction: "ToServer" | "ToClient", msg: any, expectHex?: string}[]} */
const cases = [];
const srv = (name, msg, expectHex) =>
	cases.push({ name, direction: "ToServer", msg, expectHex });
const cli = (name, msg, expectHex) =>
	cases.push({ name, direction: "ToClient", msg, expectHex });

// --- Documented examples (bytes asserted) ---------------------------------

cli("doc/ping", { tag: "ToClientPing", val: { ts: TS } }, "050068e5cf8b010000");
srv("doc/pong", { tag: "ToServerPong", val: { ts: TS } }, "040068e5cf8b010000");
cli(
	"doc/to_client_init",
	{
		tag: "ToClientInit",
		val: {
			runnerId: "r1",
			metadata: {
				runnerLostThreshold: 15000n,
				actorStopThreshold: 30000n,
				serverlessDrainGracePeriod: null,
			},
		},
	},
	"00 02 72 31 98 3a 00 00 00 00 00 00 30 75 00 00 00 00 00 00 00",
);
srv(
	"doc/ws_message_ack",
	{
		tag: "ToServerTunnelMessage",
		val: {
			messageId: msgId(3),
			messageKind: { tag: "ToServerWebSocketMessageAck", val: { index: 5 } },
		},
	},
	"06 01 02 03 04 aa bb cc dd 03 00 05 05 00",
);
srv(
	"doc/to_server_init",
	{
		tag: "ToServerInit",
		val: {
			name: "r",
			version: 1,
			totalSlots: 100,
			prepopulateActorNames: new Map([["echo", { metadata: "{}" }]]),
			metadata: null,
		},
	},
	"00 01 72 01 00 00 00 64 00 00 00 01 01 04 65 63 68 6f 02 7b 7d 00",
);

// --- ToServer: Init --------------------------------------------------------

srv("to_server/init/full", {
	tag: "ToServerInit",
	val: {
		name: "my-runner",
		version: 7,
		totalSlots: 100,
		prepopulateActorNames: new Map([
			["counter", { metadata: '{"icon":"counter"}' }],
			["chat-room", { metadata: "{}" }],
			["日本語", { metadata: '{"label":"héllo wörld 🎉"}' }],
		]),
		metadata: '{"region":"eu-west","tags":["a","b"]}',
	},
});
srv("to_server/init/minimal", {
	tag: "ToServerInit",
	val: {
		name: "",
		version: 0,
		totalSlots: 0,
		prepopulateActorNames: null,
		metadata: null,
	},
});
srv("to_server/init/empty_prepopulate", {
	tag: "ToServerInit",
	val: {
		name: "runner-ünïcode-🚀",
		version: 1,
		totalSlots: 1,
		prepopulateActorNames: new Map(),
		metadata: "{}",
	},
});
srv("to_server/init/u32_max", {
	tag: "ToServerInit",
	val: {
		name: "r",
		version: U32_MAX,
		totalSlots: U32_MAX,
		prepopulateActorNames: new Map([["a", { metadata: "" }]]),
		metadata: null,
	},
});

// --- ToServer: Events ------------------------------------------------------

const ev = (cp, inner) => ({ checkpoint: cp, inner });
const intent = (tag) => ({
	tag: "EventActorIntent",
	val: { intent: { tag, val: null } },
});
const stateRunning = () => ({
	tag: "EventActorStateUpdate",
	val: { state: { tag: "ActorStateRunning", val: null } },
});
const stateStopped = (code, message) => ({
	tag: "EventActorStateUpdate",
	val: { state: { tag: "ActorStateStopped", val: { code, message } } },
});
const setAlarm = (alarmTs) => ({
	tag: "EventActorSetAlarm",
	val: { alarmTs },
});

srv("to_server/events/empty", { tag: "ToServerEvents", val: [] });
srv("to_server/events/intent_sleep", {
	tag: "ToServerEvents",
	val: [ev(checkpoint(ACTOR_A, 0, 0n), intent("ActorIntentSleep"))],
});
srv("to_server/events/intent_stop", {
	tag: "ToServerEvents",
	val: [ev(checkpoint(ACTOR_A, 1, 1n), intent("ActorIntentStop"))],
});
srv("to_server/events/state_running", {
	tag: "ToServerEvents",
	val: [ev(checkpoint(ACTOR_B, 2, 5n), stateRunning())],
});
srv("to_server/events/state_stopped_ok_null_message", {
	tag: "ToServerEvents",
	val: [ev(checkpoint(ACTOR_B, 2, 6n), stateStopped(StopCode.Ok, null))],
});
srv("to_server/events/state_stopped_ok_with_message", {
	tag: "ToServerEvents",
	val: [
		ev(checkpoint(ACTOR_B, 2, 7n), stateStopped(StopCode.Ok, "graceful")),
	],
});
srv("to_server/events/state_stopped_error_null_message", {
	tag: "ToServerEvents",
	val: [ev(checkpoint(ACTOR_B, 3, 8n), stateStopped(StopCode.Error, null))],
});
srv("to_server/events/state_stopped_error_with_message", {
	tag: "ToServerEvents",
	val: [
		ev(
			checkpoint(ACTOR_UNICODE, 3, 9n),
			stateStopped(StopCode.Error, "💥 crashed: héllo wörld / 日本語"),
		),
	],
});
srv("to_server/events/set_alarm_present", {
	tag: "ToServerEvents",
	val: [ev(checkpoint(ACTOR_A, 0, 10n), setAlarm(TS))],
});
srv("to_server/events/set_alarm_null", {
	tag: "ToServerEvents",
	val: [ev(checkpoint(ACTOR_A, 0, 11n), setAlarm(null))],
});
srv("to_server/events/set_alarm_i64_extremes", {
	tag: "ToServerEvents",
	val: [
		ev(checkpoint(ACTOR_A, 0, 12n), setAlarm(I64_MAX)),
		ev(checkpoint(ACTOR_A, 0, 13n), setAlarm(I64_MIN)),
		ev(checkpoint(ACTOR_A, 0, 14n), setAlarm(-1n)),
		ev(checkpoint(ACTOR_A, 0, 15n), setAlarm(0n)),
		ev(checkpoint(ACTOR_A, 0, 16n), setAlarm(BEYOND_2_53)),
	],
});
srv("to_server/events/mixed_checkpoint_extremes", {
	tag: "ToServerEvents",
	val: [
		ev(checkpoint(ACTOR_A, 0, 0n), intent("ActorIntentSleep")),
		ev(checkpoint(ACTOR_B, U32_MAX, I64_MAX), stateRunning()),
		ev(checkpoint("", 1, -1n), stateStopped(StopCode.Error, "")),
		ev(checkpoint(ACTOR_UNICODE, 42, BEYOND_2_53), intent("ActorIntentStop")),
		ev(checkpoint(ACTOR_B, U32_MAX, I64_MIN), setAlarm(TS)),
	],
});

// --- ToServer: AckCommands -------------------------------------------------

srv("to_server/ack_commands/empty", {
	tag: "ToServerAckCommands",
	val: { lastCommandCheckpoints: [] },
});
srv("to_server/ack_commands/several", {
	tag: "ToServerAckCommands",
	val: {
		lastCommandCheckpoints: [
			checkpoint(ACTOR_A, 0, 0n),
			checkpoint(ACTOR_B, U32_MAX, I64_MAX),
			checkpoint(ACTOR_UNICODE, 3, -1n),
			checkpoint("x", 1, BEYOND_2_53),
		],
	},
});

// --- ToServer: Stopping ----------------------------------------------------

srv("to_server/stopping/void", { tag: "ToServerStopping", val: null });

// --- ToServer: Pong --------------------------------------------------------

srv("to_server/pong/zero", { tag: "ToServerPong", val: { ts: 0n } });
srv("to_server/pong/negative", { tag: "ToServerPong", val: { ts: -1n } });
srv("to_server/pong/i64_max", { tag: "ToServerPong", val: { ts: I64_MAX } });
srv("to_server/pong/i64_min", { tag: "ToServerPong", val: { ts: I64_MIN } });
srv("to_server/pong/beyond_2_53", {
	tag: "ToServerPong",
	val: { ts: BEYOND_2_53 },
});

// --- ToServer: KvRequest ---------------------------------------------------

const kvReq = (actorId, requestId, data) => ({
	tag: "ToServerKvRequest",
	val: { actorId, requestId, data },
});
const listReq = (query, reverse, limit) => ({
	tag: "KvListRequest",
	val: { query, reverse, limit },
});

srv(
	"to_server/kv_request/get_empty",
	kvReq(ACTOR_A, 0, { tag: "KvGetRequest", val: { keys: [] } }),
);
srv(
	"to_server/kv_request/get_keys",
	kvReq(ACTOR_B, 1, {
		tag: "KvGetRequest",
		val: {
			keys: [utf8("user:1"), hexBuf(""), hexBuf("00 ff 00"), utf8("日本語")],
		},
	}),
);
srv(
	"to_server/kv_request/list_all_no_options",
	kvReq(ACTOR_A, 2, listReq({ tag: "KvListAllQuery", val: null }, null, null)),
);
srv(
	"to_server/kv_request/list_all_reverse_limit_zero",
	kvReq(ACTOR_A, 3, listReq({ tag: "KvListAllQuery", val: null }, true, 0n)),
);
srv(
	"to_server/kv_request/list_range_exclusive",
	kvReq(
		ACTOR_A,
		4,
		listReq(
			{
				tag: "KvListRangeQuery",
				val: { start: utf8("a"), end: utf8("z"), exclusive: true },
			},
			false,
			U64_MAX,
		),
	),
);
srv(
	"to_server/kv_request/list_range_inclusive",
	kvReq(
		ACTOR_A,
		5,
		listReq(
			{
				tag: "KvListRangeQuery",
				val: { start: hexBuf("00"), end: hexBuf("ff ff"), exclusive: false },
			},
			null,
			100n,
		),
	),
);
srv(
	"to_server/kv_request/list_prefix",
	kvReq(
		ACTOR_UNICODE,
		6,
		listReq(
			{ tag: "KvListPrefixQuery", val: { key: utf8("user:") } },
			true,
			null,
		),
	),
);
srv(
	"to_server/kv_request/list_prefix_empty_key",
	kvReq(
		ACTOR_A,
		7,
		listReq({ tag: "KvListPrefixQuery", val: { key: hexBuf("") } }, false, 1n),
	),
);
srv(
	"to_server/kv_request/put_empty",
	kvReq(ACTOR_A, 8, { tag: "KvPutRequest", val: { keys: [], values: [] } }),
);
srv(
	"to_server/kv_request/put_several",
	kvReq(ACTOR_B, U32_MAX, {
		tag: "KvPutRequest",
		val: {
			keys: [utf8("k127"), utf8("k128"), utf8("k200"), hexBuf("00 ff")],
			values: [pattern(127), pattern(128, 1), pattern(200), hexBuf("")],
		},
	}),
);
srv(
	"to_server/kv_request/delete_keys",
	kvReq(ACTOR_A, 9, {
		tag: "KvDeleteRequest",
		val: { keys: [utf8("user:1"), hexBuf("ff")] },
	}),
);
srv(
	"to_server/kv_request/delete_empty",
	kvReq(ACTOR_A, 10, { tag: "KvDeleteRequest", val: { keys: [] } }),
);
srv(
	"to_server/kv_request/delete_range",
	kvReq(ACTOR_A, 11, {
		tag: "KvDeleteRangeRequest",
		val: { start: utf8("user:"), end: hexBuf("75 73 65 72 3b ff") },
	}),
);
srv(
	"to_server/kv_request/drop",
	kvReq(ACTOR_A, 12, { tag: "KvDropRequest", val: null }),
);

// --- ToServer: TunnelMessage -----------------------------------------------

const srvTunnel = (messageId, tag, val) => ({
	tag: "ToServerTunnelMessage",
	val: { messageId, messageKind: { tag, val } },
});

srv(
	"to_server/tunnel_message/response_start_full",
	srvTunnel(msgId(0), "ToServerResponseStart", {
		status: 200,
		headers: headers(
			["content-type", "application/json; charset=utf-8"],
			["x-request-id", "abc-123"],
			["x-greeting", "héllo wörld 日本語 🎉"],
			["set-cookie", "a=b; Path=/"],
		),
		body: utf8('{"ok":true}'),
		stream: false,
	}),
);
srv(
	"to_server/tunnel_message/response_start_streaming",
	srvTunnel(msgId(1), "ToServerResponseStart", {
		status: 599,
		headers: headers(),
		body: null,
		stream: true,
	}),
);
srv(
	"to_server/tunnel_message/response_start_empty_body",
	srvTunnel(msgId(1, GW_EDGE(), RQ_EDGE()), "ToServerResponseStart", {
		status: 204,
		headers: headers(["", ""]),
		body: hexBuf(""),
		stream: false,
	}),
);
srv(
	"to_server/tunnel_message/response_chunk_200_bytes",
	srvTunnel(msgId(2), "ToServerResponseChunk", {
		body: pattern(200),
		finish: false,
	}),
);
srv(
	"to_server/tunnel_message/response_chunk_empty_finish",
	srvTunnel(msgId(U16_MAX), "ToServerResponseChunk", {
		body: hexBuf(""),
		finish: true,
	}),
);
srv(
	"to_server/tunnel_message/response_abort",
	srvTunnel(msgId(4), "ToServerResponseAbort", null),
);
srv(
	"to_server/tunnel_message/ws_open_can_hibernate",
	srvTunnel(msgId(0), "ToServerWebSocketOpen", { canHibernate: true }),
);
srv(
	"to_server/tunnel_message/ws_open_no_hibernate",
	srvTunnel(msgId(0, GW_EDGE(), RQ_EDGE()), "ToServerWebSocketOpen", {
		canHibernate: false,
	}),
);
srv(
	"to_server/tunnel_message/ws_message_binary",
	srvTunnel(msgId(U16_MAX), "ToServerWebSocketMessage", {
		data: BIN_SMALL(),
		binary: true,
	}),
);
srv(
	"to_server/tunnel_message/ws_message_text",
	srvTunnel(msgId(0), "ToServerWebSocketMessage", {
		data: utf8("héllo wörld 日本語 👋"),
		binary: false,
	}),
);
srv(
	"to_server/tunnel_message/ws_message_127_bytes",
	srvTunnel(msgId(1), "ToServerWebSocketMessage", {
		data: pattern(127),
		binary: true,
	}),
);
srv(
	"to_server/tunnel_message/ws_message_128_bytes",
	srvTunnel(msgId(2), "ToServerWebSocketMessage", {
		data: pattern(128),
		binary: true,
	}),
);
srv(
	"to_server/tunnel_message/ws_message_ack_zero",
	srvTunnel(msgId(1), "ToServerWebSocketMessageAck", { index: 0 }),
);
srv(
	"to_server/tunnel_message/ws_message_ack_max",
	srvTunnel(msgId(U16_MAX), "ToServerWebSocketMessageAck", {
		index: U16_MAX,
	}),
);
srv(
	"to_server/tunnel_message/ws_close_full",
	srvTunnel(msgId(7), "ToServerWebSocketClose", {
		code: 1000,
		reason: "bye 👋 — héllo",
		hibernate: false,
	}),
);
srv(
	"to_server/tunnel_message/ws_close_empty_hibernate",
	srvTunnel(msgId(8), "ToServerWebSocketClose", {
		code: null,
		reason: null,
		hibernate: true,
	}),
);
srv(
	"to_server/tunnel_message/ws_close_code_max_empty_reason",
	srvTunnel(msgId(9), "ToServerWebSocketClose", {
		code: U16_MAX,
		reason: "",
		hibernate: false,
	}),
);

// --- ToClient: Init ---------------------------------------------------------

const clientInit = (runnerId, a, b, c) => ({
	tag: "ToClientInit",
	val: {
		runnerId,
		metadata: {
			runnerLostThreshold: a,
			actorStopThreshold: b,
			serverlessDrainGracePeriod: c,
		},
	},
});

cli(
	"to_client/init/with_drain_grace_period",
	clientInit("runner-01HZX", 15000n, 30000n, 5000n),
);
cli(
	"to_client/init/i64_extremes",
	clientInit(ACTOR_UNICODE, I64_MAX, I64_MIN, -1n),
);
cli("to_client/init/zeroes", clientInit("", 0n, 0n, 0n));
cli(
	"to_client/init/beyond_2_53",
	clientInit("r", BEYOND_2_53, -BEYOND_2_53, null),
);

// --- ToClient: Commands ----------------------------------------------------

const cmd = (cp, inner) => ({ checkpoint: cp, inner });
const startActor = (config, hibernatingRequests) => ({
	tag: "CommandStartActor",
	val: { config, hibernatingRequests },
});
const stopActor = () => ({ tag: "CommandStopActor", val: null });

cli("to_client/commands/empty", { tag: "ToClientCommands", val: [] });
cli("to_client/commands/start_actor_full", {
	tag: "ToClientCommands",
	val: [
		cmd(
			checkpoint(ACTOR_B, 1, 1n),
			startActor(
				{
					name: "counter",
					key: "room/日本語/🎉",
					createTs: TS,
					input: BIN_SMALL(),
				},
				[
					{ gatewayId: GW(), requestId: RQ() },
					{ gatewayId: GW_EDGE(), requestId: RQ_EDGE() },
				],
			),
		),
	],
});
cli("to_client/commands/start_actor_minimal", {
	tag: "ToClientCommands",
	val: [
		cmd(
			checkpoint(ACTOR_A, 0, 0n),
			startActor({ name: "", key: null, createTs: 0n, input: null }, []),
		),
	],
});
cli("to_client/commands/start_actor_big_input", {
	tag: "ToClientCommands",
	val: [
		cmd(
			checkpoint(ACTOR_A, U32_MAX, I64_MAX),
			startActor(
				{
					name: "héllo wörld",
					key: "",
					createTs: -1n,
					input: pattern(200),
				},
				[{ gatewayId: GW(), requestId: RQ() }],
			),
		),
	],
});
cli("to_client/commands/stop_actor", {
	tag: "ToClientCommands",
	val: [cmd(checkpoint(ACTOR_A, 2, 2n), stopActor())],
});
cli("to_client/commands/mixed", {
	tag: "ToClientCommands",
	val: [
		cmd(
			checkpoint(ACTOR_A, 0, 0n),
			startActor(
				{ name: "a", key: "k", createTs: BEYOND_2_53, input: pattern(128) },
				[],
			),
		),
		cmd(checkpoint(ACTOR_A, 0, 1n), stopActor()),
		cmd(
			checkpoint(ACTOR_UNICODE, 5, I64_MIN),
			startActor(
				{ name: "日本語", key: null, createTs: I64_MIN, input: hexBuf("") },
				[],
			),
		),
		cmd(checkpoint(ACTOR_B, U32_MAX, -1n), stopActor()),
	],
});

// --- ToClient: AckEvents ---------------------------------------------------

cli("to_client/ack_events/empty", {
	tag: "ToClientAckEvents",
	val: { lastEventCheckpoints: [] },
});
cli("to_client/ack_events/several", {
	tag: "ToClientAckEvents",
	val: {
		lastEventCheckpoints: [
			checkpoint(ACTOR_A, 0, 0n),
			checkpoint(ACTOR_B, U32_MAX, I64_MAX),
			checkpoint(ACTOR_UNICODE, 7, I64_MIN),
		],
	},
});

// --- ToClient: KvResponse --------------------------------------------------

const kvResp = (requestId, data) => ({
	tag: "ToClientKvResponse",
	val: { requestId, data },
});
const kvMeta = (version, updateTs) => ({ version, updateTs });

cli(
	"to_client/kv_response/error",
	kvResp(0, {
		tag: "KvErrorResponse",
		val: { message: "actor not found: héllo wörld 日本語 😢" },
	}),
);
cli(
	"to_client/kv_response/error_empty_message",
	kvResp(U32_MAX, { tag: "KvErrorResponse", val: { message: "" } }),
);
cli(
	"to_client/kv_response/get_empty",
	kvResp(1, {
		tag: "KvGetResponse",
		val: { keys: [], values: [], metadata: [] },
	}),
);
cli(
	"to_client/kv_response/get_several",
	kvResp(2, {
		tag: "KvGetResponse",
		val: {
			keys: [utf8("user:1"), hexBuf("00 ff")],
			values: [utf8('{"name":"héllo"}'), pattern(200)],
			metadata: [
				kvMeta(hexBuf("00 00 00 01"), TS),
				kvMeta(hexBuf(""), -1n),
			],
		},
	}),
);
cli(
	"to_client/kv_response/list_empty",
	kvResp(3, {
		tag: "KvListResponse",
		val: { keys: [], values: [], metadata: [] },
	}),
);
cli(
	"to_client/kv_response/list_several",
	kvResp(4, {
		tag: "KvListResponse",
		val: {
			keys: [utf8("a"), utf8("b"), utf8("日本語")],
			values: [hexBuf("00"), pattern(127), pattern(128, 3)],
			metadata: [
				kvMeta(hexBuf("ff"), 0n),
				kvMeta(hexBuf("01 02"), I64_MAX),
				kvMeta(pattern(16), BEYOND_2_53),
			],
		},
	}),
);
cli(
	"to_client/kv_response/put",
	kvResp(5, { tag: "KvPutResponse", val: null }),
);
cli(
	"to_client/kv_response/delete",
	kvResp(6, { tag: "KvDeleteResponse", val: null }),
);
cli(
	"to_client/kv_response/drop",
	kvResp(7, { tag: "KvDropResponse", val: null }),
);

// --- ToClient: TunnelMessage -----------------------------------------------

const cliTunnel = (messageId, tag, val) => ({
	tag: "ToClientTunnelMessage",
	val: { messageId, messageKind: { tag, val } },
});

cli(
	"to_client/tunnel_message/request_start_full",
	cliTunnel(msgId(0), "ToClientRequestStart", {
		actorId: ACTOR_B,
		method: "POST",
		path: "/api/日本語?q=héllo%20wörld",
		headers: headers(
			["host", "example.com"],
			["content-type", "application/json"],
			["x-emoji", "🚀✨"],
			["accept", "*/*"],
		),
		body: utf8('{"hello":"wörld"}'),
		stream: false,
	}),
);
cli(
	"to_client/tunnel_message/request_start_streaming",
	cliTunnel(msgId(1), "ToClientRequestStart", {
		actorId: ACTOR_A,
		method: "GET",
		path: "/",
		headers: headers(),
		body: null,
		stream: true,
	}),
);
cli(
	"to_client/tunnel_message/request_start_binary_body",
	cliTunnel(msgId(U16_MAX, GW_EDGE(), RQ_EDGE()), "ToClientRequestStart", {
		actorId: ACTOR_UNICODE,
		method: "PUT",
		path: "/upload",
		headers: headers(["content-length", "200"]),
		body: pattern(200),
		stream: false,
	}),
);
cli(
	"to_client/tunnel_message/request_chunk_128_bytes",
	cliTunnel(msgId(2), "ToClientRequestChunk", {
		body: pattern(128),
		finish: false,
	}),
);
cli(
	"to_client/tunnel_message/request_chunk_empty_finish",
	cliTunnel(msgId(3), "ToClientRequestChunk", {
		body: hexBuf(""),
		finish: true,
	}),
);
cli(
	"to_client/tunnel_message/request_abort",
	cliTunnel(msgId(4), "ToClientRequestAbort", null),
);
cli(
	"to_client/tunnel_message/ws_open_with_headers",
	cliTunnel(msgId(0), "ToClientWebSocketOpen", {
		actorId: ACTOR_B,
		path: "/ws?room=日本語",
		headers: headers(
			["sec-websocket-protocol", "rivet"],
			["origin", "https://example.com"],
			["x-note", "héllo wörld"],
		),
	}),
);
cli(
	"to_client/tunnel_message/ws_open_empty_headers",
	cliTunnel(msgId(0, GW_EDGE(), RQ_EDGE()), "ToClientWebSocketOpen", {
		actorId: ACTOR_A,
		path: "",
		headers: headers(),
	}),
);
cli(
	"to_client/tunnel_message/ws_message_binary",
	cliTunnel(msgId(1), "ToClientWebSocketMessage", {
		data: BIN_SMALL(),
		binary: true,
	}),
);
cli(
	"to_client/tunnel_message/ws_message_text",
	cliTunnel(msgId(U16_MAX), "ToClientWebSocketMessage", {
		data: utf8("日本語 🎉 héllo wörld"),
		binary: false,
	}),
);
cli(
	"to_client/tunnel_message/ws_message_200_bytes",
	cliTunnel(msgId(2), "ToClientWebSocketMessage", {
		data: pattern(200),
		binary: true,
	}),
);
cli(
	"to_client/tunnel_message/ws_message_empty",
	cliTunnel(msgId(3), "ToClientWebSocketMessage", {
		data: hexBuf(""),
		binary: false,
	}),
);
cli(
	"to_client/tunnel_message/ws_close_full",
	cliTunnel(msgId(5), "ToClientWebSocketClose", {
		code: 1000,
		reason: "normal closure",
	}),
);
cli(
	"to_client/tunnel_message/ws_close_empty",
	cliTunnel(msgId(6), "ToClientWebSocketClose", {
		code: null,
		reason: null,
	}),
);
cli(
	"to_client/tunnel_message/ws_close_code_max_unicode_reason",
	cliTunnel(msgId(7), "ToClientWebSocketClose", {
		code: U16_MAX,
		reason: "😢 日本語",
	}),
);
cli(
	"to_client/tunnel_message/ws_close_reason_only",
	cliTunnel(msgId(8), "ToClientWebSocketClose", {
		code: null,
		reason: "going away",
	}),
);

// --- ToClient: Ping ---------------------------------------------------------

cli("to_client/ping/zero", { tag: "ToClientPing", val: { ts: 0n } });
cli("to_client/ping/negative", { tag: "ToClientPing", val: { ts: -1n } });
cli("to_client/ping/i64_max", { tag: "ToClientPing", val: { ts: I64_MAX } });
cli("to_client/ping/i64_min", { tag: "ToClientPing", val: { ts: I64_MIN } });

// ---------------------------------------------------------------------------
// Coverage check: every union variant must appear at least once.
// ---------------------------------------------------------------------------

const REQUIRED_TAGS = [
	// ToServer
	"ToServerInit",
	"ToServerEvents",
	"ToServerAckCommands",
	"ToServerStopping",
	"ToServerPong",
	"ToServerKvRequest",
	"ToServerTunnelMessage",
	// ToClient
	"ToClientInit",
	"ToClientCommands",
	"ToClientAckEvents",
	"ToClientKvResponse",
	"ToClientTunnelMessage",
	"ToClientPing",
	// ToServerTunnelMessageKind
	"ToServerResponseStart",
	"ToServerResponseChunk",
	"ToServerResponseAbort",
	"ToServerWebSocketOpen",
	"ToServerWebSocketMessage",
	"ToServerWebSocketMessageAck",
	"ToServerWebSocketClose",
	// ToClientTunnelMessageKind
	"ToClientRequestStart",
	"ToClientRequestChunk",
	"ToClientRequestAbort",
	"ToClientWebSocketOpen",
	"ToClientWebSocketMessage",
	"ToClientWebSocketClose",
	// KvRequestData
	"KvGetRequest",
	"KvListRequest",
	"KvPutRequest",
	"KvDeleteRequest",
	"KvDeleteRangeRequest",
	"KvDropRequest",
	// KvListQuery
	"KvListAllQuery",
	"KvListRangeQuery",
	"KvListPrefixQuery",
	// KvResponseData
	"KvErrorResponse",
	"KvGetResponse",
	"KvListResponse",
	"KvPutResponse",
	"KvDeleteResponse",
	"KvDropResponse",
	// Command
	"CommandStartActor",
	"CommandStopActor",
	// Event
	"EventActorIntent",
	"EventActorStateUpdate",
	"EventActorSetAlarm",
	// ActorIntent
	"ActorIntentSleep",
	"ActorIntentStop",
	// ActorState
	"ActorStateRunning",
	"ActorStateStopped",
];

// ---------------------------------------------------------------------------
// Encode, self-check, emit
// ---------------------------------------------------------------------------

const CODECS = {
	ToServer: { encode: encodeToServer, decode: decodeToServer },
	ToClient: { encode: encodeToClient, decode: decodeToClient },
};

const { vectors, seenTags } = buildVectors(cases, CODECS);

const missing = REQUIRED_TAGS.filter((t) => !seenTags.has(t));
if (missing.length > 0) {
	throw new Error(`union variants not covered: ${missing.join(", ")}`);
}
for (const code of [StopCode.Ok, StopCode.Error]) {
	const hit = vectors.some((v) => JSON.stringify(v.value).includes(`"code":"${code}"`));
	if (!hit) throw new Error(`StopCode ${code} not covered`);
}

const out = {
	generator: "interop/gen-vectors.mjs",
	package: `${PKG_NAME}@${PKG_VERSION}`,
	vectors,
};

const outPath = process.argv[2]
	? resolve(process.cwd(), process.argv[2])
	: resolve(SCRIPT_DIR, "../protocol/tests/golden/runner-v7.json");
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${JSON.stringify(out, null, 1)}\n`);

const nServer = vectors.filter((v) => v.direction === "ToServer").length;
process.stderr.write(
	`wrote ${vectors.length} vectors (${nServer} ToServer, ${vectors.length - nServer} ToClient) to ${outPath}\n`,
);
