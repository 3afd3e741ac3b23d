#!/usr/bin/env node
// Generates golden test vectors for Rivet envoy protocol v8 using the upstream npm codec
// (@rivetkit/engine-envoy-protocol@2.3.19), as gen-vectors.mjs does for runner protocol v7.
//
// Usage: node gen-vectors-v8.mjs [OUT]
//   OUT defaults to ../protocol/tests/golden/envoy-v8.json, resolved relative to this script.
//
// Deterministic: no timestamps, no randomness. JSON conventions as in README.md.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import {
	HttpStreamAbortReasonKind,
	StopActorReason,
	StopCode,
	decodeToEnvoy,
	decodeToRivet,
	encodeToEnvoy,
	encodeToRivet,
} from "@rivetkit/engine-envoy-protocol";
import { buildVectors, hexBuf, pattern, utf8 } from "./vectors-lib.mjs";

const SCRIPT_DIR = dirname(fileURLToPath(import.meta.url));
const PKG_NAME = "@rivetkit/engine-envoy-protocol";
const PKG_VERSION = JSON.parse(
	readFileSync(
		resolve(SCRIPT_DIR, "node_modules", PKG_NAME, "package.json"),
		"utf8",
	),
).version;
const EXPECTED_PKG_VERSION = "2.3.19";
if (PKG_VERSION !== EXPECTED_PKG_VERSION) {
	throw new Error(
		`expected ${PKG_NAME}@${EXPECTED_PKG_VERSION}, found ${PKG_VERSION} (run npm ci)`,
	);
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const TS = 1700000000000n;
const I64_MIN = -9223372036854775808n;
const U64_MAX = 18446744073709551615n;
const U32_MAX = 4294967295;
const U16_MAX = 65535;

const GW = () => hexBuf("01020304");
const RQ = () => hexBuf("aabbccdd");
const msgId = (messageIndex) => ({
	gatewayId: GW(),
	requestId: RQ(),
	messageIndex,
});

const ACTOR_A = "actor-0001";
const ACTOR_B = "4f1c8b2e-6a3d-4e5f-9b7a-0c1d2e3f4a5b";
const NS = "ns-0001";

const checkpoint = (actorId, generation, index) => ({
	actorId,
	generation,
	index,
});
const headers = (...pairs) => new Map(pairs);
const kvMeta = (version, updateTs) => ({ version, updateTs });

/** @type {{name: string, direction: "ToRivet" | "ToEnvoy", msg: any, expectHex?: string}[]} */
const cases = [];
const rivet = (name, msg, expectHex) =>
	cases.push({ name, direction: "ToRivet", msg, expectHex });
const envoy = (name, msg, expectHex) =>
	cases.push({ name, direction: "ToEnvoy", msg, expectHex });

// ---------------------------------------------------------------------------
// Envoy → engine
// ---------------------------------------------------------------------------

rivet("to_rivet/pong", { tag: "ToRivetPong", val: { ts: TS } }, "040068e5cf8b010000");
rivet("to_rivet/stopping", { tag: "ToRivetStopping", val: null }, "03");
rivet("to_rivet/metadata/empty", {
	tag: "ToRivetMetadata",
	val: { prepopulateActorNames: null, metadata: null },
});
rivet("to_rivet/metadata/names", {
	tag: "ToRivetMetadata",
	val: {
		prepopulateActorNames: new Map([
			["counter", { metadata: '{"icon":"c"}' }],
			["chat", { metadata: "{}" }],
		]),
		metadata: '{"version":"2.3.19"}',
	},
});

const event = (cp, inner) => ({ checkpoint: cp, inner });
rivet("to_rivet/events/all", {
	tag: "ToRivetEvents",
	val: [
		event(checkpoint(ACTOR_A, 0, 0n), {
			tag: "EventActorStateUpdate",
			val: { state: { tag: "ActorStateRunning", val: null } },
		}),
		event(checkpoint(ACTOR_A, 0, 1n), {
			tag: "EventActorIntent",
			val: { intent: { tag: "ActorIntentSleep", val: null } },
		}),
		event(checkpoint(ACTOR_A, 0, 2n), {
			tag: "EventActorIntent",
			val: { intent: { tag: "ActorIntentStop", val: null } },
		}),
		event(checkpoint(ACTOR_B, U32_MAX, 3n), {
			tag: "EventActorSetAlarm",
			val: { alarmTs: TS },
		}),
		event(checkpoint(ACTOR_B, 1, 4n), {
			tag: "EventActorSetAlarm",
			val: { alarmTs: null },
		}),
		event(checkpoint(ACTOR_B, 1, 5n), {
			tag: "EventActorStateUpdate",
			val: {
				state: {
					tag: "ActorStateStopped",
					val: { code: StopCode.Ok, message: null },
				},
			},
		}),
		event(checkpoint(ACTOR_B, 2, 6n), {
			tag: "EventActorStateUpdate",
			val: {
				state: {
					tag: "ActorStateStopped",
					val: { code: StopCode.Error, message: "crashed: héllo" },
				},
			},
		}),
	],
});
rivet("to_rivet/ack_commands", {
	tag: "ToRivetAckCommands",
	val: {
		lastCommandCheckpoints: [checkpoint(ACTOR_A, 3, 7n), checkpoint(ACTOR_B, 0, 0n)],
	},
});

const kvReq = (requestId, data) => ({
	tag: "ToRivetKvRequest",
	val: { actorId: ACTOR_A, requestId, data },
});
rivet("to_rivet/kv/get", kvReq(0, { tag: "KvGetRequest", val: { keys: [utf8("k"), hexBuf("")] } }));
rivet(
	"to_rivet/kv/list_all",
	kvReq(1, {
		tag: "KvListRequest",
		val: { query: { tag: "KvListAllQuery", val: null }, reverse: null, limit: null },
	}),
);
rivet(
	"to_rivet/kv/list_range",
	kvReq(2, {
		tag: "KvListRequest",
		val: {
			query: {
				tag: "KvListRangeQuery",
				val: { start: utf8("a"), end: utf8("z"), exclusive: true },
			},
			reverse: true,
			limit: U64_MAX,
		},
	}),
);
rivet(
	"to_rivet/kv/list_prefix",
	kvReq(3, {
		tag: "KvListRequest",
		val: {
			query: { tag: "KvListPrefixQuery", val: { key: utf8("user:") } },
			reverse: false,
			limit: 10n,
		},
	}),
);
rivet(
	"to_rivet/kv/put",
	kvReq(4, { tag: "KvPutRequest", val: { keys: [utf8("k")], values: [pattern(130)] } }),
);
rivet("to_rivet/kv/delete", kvReq(5, { tag: "KvDeleteRequest", val: { keys: [utf8("k")] } }));
rivet(
	"to_rivet/kv/delete_range",
	kvReq(6, { tag: "KvDeleteRangeRequest", val: { start: utf8("a"), end: utf8("b") } }),
);
rivet("to_rivet/kv/drop", kvReq(U32_MAX, { tag: "KvDropRequest", val: null }));

const toRivetTunnel = (messageIndex, kind) => ({
	tag: "ToRivetTunnelMessage",
	val: { messageId: msgId(messageIndex), messageKind: kind },
});
rivet(
	"to_rivet/tunnel/response_start",
	toRivetTunnel(0, {
		tag: "ToRivetResponseStart",
		val: {
			status: 200,
			headers: headers(["content-type", "text/plain"], ["x-rivet-actor", ACTOR_A]),
			body: utf8("hello"),
			stream: false,
		},
	}),
);
rivet(
	"to_rivet/tunnel/response_start_streamed",
	toRivetTunnel(1, {
		tag: "ToRivetResponseStart",
		val: { status: U16_MAX, headers: headers(), body: null, stream: true },
	}),
);
rivet(
	"to_rivet/tunnel/response_chunk",
	toRivetTunnel(2, { tag: "ToRivetResponseChunk", val: { body: pattern(300), finish: true } }),
);
for (const kind of [
	HttpStreamAbortReasonKind.Unknown,
	HttpStreamAbortReasonKind.Cancelled,
	HttpStreamAbortReasonKind.HandlerError,
	HttpStreamAbortReasonKind.InternalError,
]) {
	rivet(
		`to_rivet/tunnel/response_abort_${kind.toLowerCase()}`,
		toRivetTunnel(3, {
			tag: "ToRivetResponseAbort",
			val: { reason: { kind, detail: kind === "Unknown" ? null : `why: ${kind}` } },
		}),
	);
}
rivet(
	"to_rivet/tunnel/request_body_window_update",
	toRivetTunnel(4, {
		tag: "ToRivetRequestBodyWindowUpdate",
		val: { consumedBytes: U64_MAX },
	}),
);
rivet(
	"to_rivet/tunnel/request_body_cancel",
	toRivetTunnel(5, { tag: "ToRivetRequestBodyCancel", val: null }),
);
rivet(
	"to_rivet/tunnel/websocket_open",
	toRivetTunnel(0, { tag: "ToRivetWebSocketOpen", val: { canHibernate: true } }),
);
rivet(
	"to_rivet/tunnel/websocket_message",
	toRivetTunnel(U16_MAX, {
		tag: "ToRivetWebSocketMessage",
		val: { data: utf8("héllo"), binary: false },
	}),
);
rivet(
	"to_rivet/tunnel/websocket_message_ack",
	toRivetTunnel(7, { tag: "ToRivetWebSocketMessageAck", val: { index: U16_MAX } }),
);
rivet(
	"to_rivet/tunnel/websocket_close",
	toRivetTunnel(8, {
		tag: "ToRivetWebSocketClose",
		val: { code: 1000, reason: "bye", hibernate: true },
	}),
);
rivet(
	"to_rivet/tunnel/websocket_close_bare",
	toRivetTunnel(9, {
		tag: "ToRivetWebSocketClose",
		val: { code: null, reason: null, hibernate: false },
	}),
);

const page = (pgno, bytes) => ({ pgno, bytes });
rivet("to_rivet/sqlite/get_pages", {
	tag: "ToRivetSqliteGetPagesRequest",
	val: {
		requestId: 1,
		data: {
			actorId: ACTOR_A,
			pgnos: [1, 2, U32_MAX],
			expectedGeneration: 3n,
			expectedHeadTxid: null,
		},
	},
});
rivet("to_rivet/sqlite/commit", {
	tag: "ToRivetSqliteCommitRequest",
	val: {
		requestId: 2,
		data: {
			actorId: ACTOR_A,
			dirtyPages: [page(1, pattern(64)), page(7, hexBuf(""))],
			dbSizePages: 7,
			nowMs: TS,
			expectedGeneration: null,
			expectedHeadTxid: U64_MAX,
		},
	},
});
rivet("to_rivet/sqlite/stage_begin", {
	tag: "ToRivetSqliteCommitStageBeginRequest",
	val: {
		requestId: 3,
		data: { actorId: ACTOR_A, expectedGeneration: 1n, expectedHeadTxid: 41n },
	},
});
rivet("to_rivet/sqlite/stage_segment", {
	tag: "ToRivetSqliteCommitStageSegmentRequest",
	val: {
		requestId: 4,
		data: {
			actorId: ACTOR_A,
			expectedGeneration: 1n,
			txid: 42n,
			firstPgno: 257,
			dirtyPages: [page(257, pattern(16, 1))],
		},
	},
});
rivet("to_rivet/sqlite/stage_finalize", {
	tag: "ToRivetSqliteCommitFinalizeRequest",
	val: {
		requestId: 5,
		data: {
			actorId: ACTOR_A,
			expectedGeneration: 1n,
			txid: 42n,
			newDbSizePages: 300,
			nowMs: I64_MIN,
			segmentFirstPgnos: new Uint32Array([1, 257, U32_MAX]),
		},
	},
});
const params = [
	{ tag: "SqliteValueNull", val: null },
	{ tag: "SqliteValueInteger", val: { value: -1n } },
	{ tag: "SqliteValueFloat", val: { value: hexBuf("000000000000f03f") } },
	{ tag: "SqliteValueText", val: { value: "日本語" } },
	{ tag: "SqliteValueBlob", val: { value: hexBuf("00ff") } },
];
rivet("to_rivet/sqlite/exec", {
	tag: "ToRivetSqliteExecRequest",
	val: {
		requestId: 6,
		data: { namespaceId: NS, actorId: ACTOR_A, generation: 2n, sql: "SELECT 1; SELECT 2" },
	},
});
rivet("to_rivet/sqlite/execute", {
	tag: "ToRivetSqliteExecuteRequest",
	val: {
		requestId: 7,
		data: {
			namespaceId: NS,
			actorId: ACTOR_A,
			generation: 2n,
			sql: "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
			params,
		},
	},
});
rivet("to_rivet/sqlite/execute_batch", {
	tag: "ToRivetSqliteExecuteBatchRequest",
	val: {
		requestId: 8,
		data: {
			namespaceId: NS,
			actorId: ACTOR_A,
			generation: 2n,
			statements: [
				{ sql: "DELETE FROM t", params: null },
				{ sql: "INSERT INTO t VALUES (?)", params: [params[1]] },
			],
		},
	},
});

// ---------------------------------------------------------------------------
// Engine → envoy
// ---------------------------------------------------------------------------

envoy("to_envoy/ping", { tag: "ToEnvoyPing", val: { ts: TS } }, "050068e5cf8b010000");
envoy("to_envoy/init", {
	tag: "ToEnvoyInit",
	val: {
		metadata: {
			envoyLostThreshold: 15000n,
			actorStopThreshold: 30000n,
			maxResponsePayloadSize: 20971520n,
		},
	},
});
const actorConfig = (key, input) => ({ name: "counter", key, createTs: TS, input });
const command = (cp, inner) => ({ checkpoint: cp, inner });
envoy("to_envoy/commands/start_and_stops", {
	tag: "ToEnvoyCommands",
	val: [
		command(checkpoint(ACTOR_A, 0, 0n), {
			tag: "CommandStartActor",
			val: { config: actorConfig(null, null), hibernatingRequests: [], preloadedKv: null },
		}),
		command(checkpoint(ACTOR_B, 4, 9n), {
			tag: "CommandStartActor",
			val: {
				config: actorConfig('["room",1]', pattern(20)),
				hibernatingRequests: [{ gatewayId: GW(), requestId: RQ() }],
				preloadedKv: {
					entries: [
						{
							key: utf8("state"),
							value: pattern(40, 2),
							metadata: kvMeta(hexBuf("01"), TS),
						},
					],
					requestedGetKeys: [utf8("state"), utf8("missing")],
					requestedPrefixes: [hexBuf("")],
				},
			},
		}),
		...[
			StopActorReason.SleepIntent,
			StopActorReason.StopIntent,
			StopActorReason.Destroy,
			StopActorReason.GoingAway,
			StopActorReason.Lost,
		].map((reason, i) =>
			command(checkpoint(ACTOR_A, 0, BigInt(i + 1)), {
				tag: "CommandStopActor",
				val: { reason },
			}),
		),
	],
});
envoy("to_envoy/ack_events", {
	tag: "ToEnvoyAckEvents",
	val: { lastEventCheckpoints: [checkpoint(ACTOR_A, 0, 6n)] },
});

const kvResp = (requestId, data) => ({
	tag: "ToEnvoyKvResponse",
	val: { requestId, data },
});
envoy("to_envoy/kv/error", kvResp(0, { tag: "KvErrorResponse", val: { message: "too big" } }));
envoy(
	"to_envoy/kv/get",
	kvResp(1, {
		tag: "KvGetResponse",
		val: { keys: [utf8("k")], values: [pattern(3)], metadata: [kvMeta(hexBuf(""), -1n)] },
	}),
);
envoy(
	"to_envoy/kv/list",
	kvResp(2, { tag: "KvListResponse", val: { keys: [], values: [], metadata: [] } }),
);
envoy("to_envoy/kv/put", kvResp(3, { tag: "KvPutResponse", val: null }));
envoy("to_envoy/kv/delete", kvResp(4, { tag: "KvDeleteResponse", val: null }));
envoy("to_envoy/kv/drop", kvResp(5, { tag: "KvDropResponse", val: null }));

const toEnvoyTunnel = (messageIndex, kind) => ({
	tag: "ToEnvoyTunnelMessage",
	val: { messageId: msgId(messageIndex), messageKind: kind },
});
envoy(
	"to_envoy/tunnel/request_start",
	toEnvoyTunnel(0, {
		tag: "ToEnvoyRequestStart",
		val: {
			actorId: ACTOR_A,
			actorGeneration: 3,
			method: "POST",
			path: "/action/increment?x=1",
			headers: headers(["content-type", "application/json"]),
			body: utf8("[1]"),
			stream: false,
			responseStream: true,
		},
	}),
);
envoy(
	"to_envoy/tunnel/request_start_legacy",
	toEnvoyTunnel(0, {
		tag: "ToEnvoyRequestStart",
		val: {
			actorId: ACTOR_B,
			actorGeneration: null,
			method: "GET",
			path: "/",
			headers: headers(),
			body: null,
			stream: true,
			responseStream: false,
		},
	}),
);
envoy(
	"to_envoy/tunnel/request_chunk",
	toEnvoyTunnel(1, { tag: "ToEnvoyRequestChunk", val: { body: pattern(128), finish: false } }),
);
envoy(
	"to_envoy/tunnel/request_abort",
	toEnvoyTunnel(2, {
		tag: "ToEnvoyRequestAbort",
		val: {
			actorId: ACTOR_A,
			actorGeneration: 3,
			reason: { kind: HttpStreamAbortReasonKind.Cancelled, detail: null },
		},
	}),
);
envoy(
	"to_envoy/tunnel/request_abort_anonymous",
	toEnvoyTunnel(2, {
		tag: "ToEnvoyRequestAbort",
		val: {
			actorId: null,
			actorGeneration: null,
			reason: { kind: HttpStreamAbortReasonKind.InternalError, detail: "gone" },
		},
	}),
);
envoy(
	"to_envoy/tunnel/request_body_cancel",
	toEnvoyTunnel(3, { tag: "ToEnvoyRequestBodyCancel", val: null }),
);
envoy(
	"to_envoy/tunnel/response_body_window_update",
	toEnvoyTunnel(4, {
		tag: "ToEnvoyResponseBodyWindowUpdate",
		val: { consumedBytes: 65536n },
	}),
);
envoy(
	"to_envoy/tunnel/websocket_open",
	toEnvoyTunnel(0, {
		tag: "ToEnvoyWebSocketOpen",
		val: {
			actorId: ACTOR_A,
			actorGeneration: 0,
			path: "/websocket",
			headers: headers(["sec-websocket-protocol", "rivet"]),
		},
	}),
);
envoy(
	"to_envoy/tunnel/websocket_message",
	toEnvoyTunnel(1, {
		tag: "ToEnvoyWebSocketMessage",
		val: { data: pattern(200), binary: true },
	}),
);
envoy(
	"to_envoy/tunnel/websocket_close",
	toEnvoyTunnel(2, { tag: "ToEnvoyWebSocketClose", val: { code: 4000, reason: "client.bye" } }),
);
envoy(
	"to_envoy/tunnel/websocket_close_bare",
	toEnvoyTunnel(3, { tag: "ToEnvoyWebSocketClose", val: { code: null, reason: null } }),
);

const sqliteError = {
	tag: "SqliteErrorResponse",
	val: { group: "sqlite", code: "database_not_found", message: "no database" },
};
const sqliteResp = (variant, requestId, data) => ({
	tag: `ToEnvoySqlite${variant}Response`,
	val: { requestId, data },
});
envoy(
	"to_envoy/sqlite/get_pages_ok",
	sqliteResp("GetPages", 1, {
		tag: "SqliteGetPagesOk",
		val: { pages: [page(1, pattern(32)), page(2, null)], headTxid: 41n },
	}),
);
envoy("to_envoy/sqlite/get_pages_error", sqliteResp("GetPages", 1, sqliteError));
envoy(
	"to_envoy/sqlite/commit_ok",
	sqliteResp("Commit", 2, { tag: "SqliteCommitOk", val: { headTxid: 42n } }),
);
envoy("to_envoy/sqlite/commit_error", sqliteResp("Commit", 2, sqliteError));
envoy(
	"to_envoy/sqlite/stage_begin_ok",
	sqliteResp("CommitStageBegin", 3, { tag: "SqliteCommitStageBeginOk", val: { txid: 42n } }),
);
envoy("to_envoy/sqlite/stage_begin_error", sqliteResp("CommitStageBegin", 3, sqliteError));
envoy(
	"to_envoy/sqlite/stage_segment_ok",
	sqliteResp("CommitStageSegment", 4, {
		tag: "SqliteCommitStageSegmentOk",
		val: { stagedBytes: 4096n },
	}),
);
envoy("to_envoy/sqlite/stage_segment_error", sqliteResp("CommitStageSegment", 4, sqliteError));
envoy(
	"to_envoy/sqlite/finalize_ok",
	sqliteResp("CommitFinalize", 5, { tag: "SqliteCommitFinalizeOk", val: { headTxid: null } }),
);
envoy("to_envoy/sqlite/finalize_error", sqliteResp("CommitFinalize", 5, sqliteError));
const rows = [
	params,
	[{ tag: "SqliteValueInteger", val: { value: 0n } }, { tag: "SqliteValueNull", val: null }],
];
envoy(
	"to_envoy/sqlite/exec_ok",
	sqliteResp("Exec", 6, {
		tag: "SqliteExecOk",
		val: { result: { columns: ["a", "b", "c", "d", "e"], rows } },
	}),
);
envoy("to_envoy/sqlite/exec_error", sqliteResp("Exec", 6, sqliteError));
const executeResult = (changes, lastInsertRowId) => ({
	columns: ["id"],
	rows: [[{ tag: "SqliteValueInteger", val: { value: 1n } }]],
	changes,
	lastInsertRowId,
});
envoy(
	"to_envoy/sqlite/execute_ok",
	sqliteResp("Execute", 7, {
		tag: "SqliteExecuteOk",
		val: { result: executeResult(1n, 1n) },
	}),
);
envoy("to_envoy/sqlite/execute_error", sqliteResp("Execute", 7, sqliteError));
envoy(
	"to_envoy/sqlite/execute_batch_ok",
	sqliteResp("ExecuteBatch", 8, {
		tag: "SqliteExecuteBatchOk",
		val: { results: [executeResult(0n, null), executeResult(2n, I64_MIN)] },
	}),
);
envoy("to_envoy/sqlite/execute_batch_error", sqliteResp("ExecuteBatch", 8, sqliteError));

// ---------------------------------------------------------------------------
// Encode, self-check, emit
// ---------------------------------------------------------------------------

const CODECS = {
	ToRivet: { encode: encodeToRivet, decode: decodeToRivet },
	ToEnvoy: { encode: encodeToEnvoy, decode: decodeToEnvoy },
};
const { vectors } = buildVectors(cases, CODECS);

const out = {
	generator: "interop/gen-vectors-v8.mjs",
	package: `${PKG_NAME}@${PKG_VERSION}`,
	vectors,
};
const outPath = process.argv[2]
	? resolve(process.cwd(), process.argv[2])
	: resolve(SCRIPT_DIR, "../protocol/tests/golden/envoy-v8.json");
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${JSON.stringify(out, null, 1)}\n`);

const nRivet = vectors.filter((v) => v.direction === "ToRivet").length;
process.stderr.write(
	`wrote ${vectors.length} vectors (${nRivet} ToRivet, ${vectors.length - nRivet} ToEnvoy) to ${outPath}\n`,
);
