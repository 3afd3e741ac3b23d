// Shared by the golden-vector generators (runner protocol v7, envoy protocol v8): byte and
// JSON helpers, and the loop that encodes each case with the npm codec, checks it decodes to
// what went in and re-encodes to the same bytes, and records the union variants it covers.

/** Lowercase hex of a Uint8Array / ArrayBuffer / typed-array view. */
export function toHex(x) {
	const u8 =
		x instanceof ArrayBuffer
			? new Uint8Array(x)
			: new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
	let s = "";
	for (const b of u8) s += b.toString(16).padStart(2, "0");
	return s;
}

/** Hex string (spaces allowed) -> fresh ArrayBuffer. */
export function hexBuf(hex) {
	const clean = hex.replace(/\s+/g, "");
	if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) {
		throw new Error(`bad hex literal: ${hex}`);
	}
	const u8 = new Uint8Array(clean.length / 2);
	for (let i = 0; i < u8.length; i++) {
		u8[i] = Number.parseInt(clean.slice(i * 2, i * 2 + 2), 16);
	}
	return u8.buffer;
}

/** UTF-8 bytes of a string as a fresh ArrayBuffer. */
export function utf8(s) {
	const u8 = new TextEncoder().encode(s);
	return u8.buffer.slice(u8.byteOffset, u8.byteOffset + u8.byteLength);
}

/**
 * Deterministic payload of `len` bytes: byte i = (i * 7 + seed) & 0xff.
 * With seed 0 and len >= 74 it contains both 0x00 (i = 0) and 0xff (i = 73).
 */
export function pattern(len, seed = 0) {
	const u8 = new Uint8Array(len);
	for (let i = 0; i < len; i++) u8[i] = (i * 7 + seed) & 0xff;
	return u8.buffer;
}

export function copyBytes(u8) {
	return new Uint8Array(u8);
}

/**
 * Convert a decoded codec value to JSON-able data:
 *   bigint -> decimal string; ArrayBuffer/typed arrays -> {"$bytes": hex};
 *   Map -> {"$map": [[k, v], ...]} in iteration order; arrays/objects
 *   recursively (object key order preserved); null stays null.
 * `undefined` is rejected so that nothing is silently dropped.
 */
export function toJsonValue(v, path = "$") {
	if (v === null) return null;
	switch (typeof v) {
		case "bigint":
			return v.toString(10);
		case "number":
			if (!Number.isFinite(v)) throw new Error(`${path}: non-finite number`);
			return v;
		case "boolean":
		case "string":
			return v;
		case "undefined":
			throw new Error(`${path}: unexpected undefined`);
		case "object":
			break;
		default:
			throw new Error(`${path}: unsupported type ${typeof v}`);
	}
	// `list<u32>` decodes to a Uint32Array (v8's segment page numbers): a list of numbers.
	if (v instanceof Uint32Array) {
		return Array.from(v);
	}
	if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
		return { $bytes: toHex(v) };
	}
	if (v instanceof Map) {
		const entries = [];
		for (const [k, val] of v) {
			entries.push([
				toJsonValue(k, `${path}<key>`),
				toJsonValue(val, `${path}[${JSON.stringify(k)}]`),
			]);
		}
		return { $map: entries };
	}
	if (Array.isArray(v)) {
		return v.map((x, i) => toJsonValue(x, `${path}[${i}]`));
	}
	const out = {};
	for (const k of Object.keys(v)) {
		out[k] = toJsonValue(v[k], `${path}.${k}`);
	}
	return out;
}

/** JSON with object keys sorted (used only to compare input vs decoded). */
export function canonical(j) {
	if (Array.isArray(j)) return `[${j.map(canonical).join(",")}]`;
	if (j !== null && typeof j === "object") {
		return `{${Object.keys(j)
			.sort()
			.map((k) => `${JSON.stringify(k)}:${canonical(j[k])}`)
			.join(",")}}`;
	}
	return JSON.stringify(j);
}

export function collectTags(v, out) {
	if (v === null || typeof v !== "object") return;
	if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return;
	if (v instanceof Map) {
		for (const x of v.values()) collectTags(x, out);
		return;
	}
	if (Array.isArray(v)) {
		for (const x of v) collectTags(x, out);
		return;
	}
	if (typeof v.tag === "string" && "val" in v) out.add(v.tag);
	for (const k of Object.keys(v)) collectTags(v[k], out);
}

const NAME_RE = /^[a-z0-9_]+(\/[a-z0-9_]+)+$/;

/**
 * Encodes every case with its direction's codec and self-checks it (see the file comment).
 * Returns the vectors and the set of union variants their decoded values contain.
 * @param {{name: string, direction: string, msg: any, expectHex?: string}[]} cases
 * @param {Record<string, {encode: Function, decode: Function}>} CODECS
 */
export function buildVectors(cases, CODECS) {
	const seen = new Set();
	const seenTags = new Set();
	const vectors = [];

	for (const c of cases) {
		if (!NAME_RE.test(c.name)) throw new Error(`bad vector name: ${c.name}`);
		if (seen.has(c.name)) throw new Error(`duplicate vector name: ${c.name}`);
		seen.add(c.name);

		const { encode, decode } = CODECS[c.direction];
		const bytes = copyBytes(encode(c.msg));
		const hex = toHex(bytes);

		if (c.expectHex !== undefined) {
			const want = c.expectHex.replace(/\s+/g, "").toLowerCase();
			if (hex !== want) {
				throw new Error(`${c.name}: expected ${want}, got ${hex}`);
			}
		}

		const decoded = decode(copyBytes(bytes));
		const reencoded = toHex(encode(decoded));
		if (reencoded !== hex) {
			throw new Error(
				`${c.name}: re-encode mismatch\n  first:  ${hex}\n  second: ${reencoded}`,
			);
		}

		const value = toJsonValue(decoded);
		// Guard against typos in the input (the codec silently treats a misspelled
		// optional field as null, and an unknown union tag writes nothing).
		const inputJson = canonical(toJsonValue(c.msg));
		if (canonical(value) !== inputJson) {
			throw new Error(
				`${c.name}: decoded value differs from input\n  input:   ${inputJson}\n  decoded: ${canonical(value)}`,
			);
		}

		collectTags(decoded, seenTags);
		vectors.push({ name: c.name, direction: c.direction, hex, value });
	}
	return { vectors, seenTags };
}
