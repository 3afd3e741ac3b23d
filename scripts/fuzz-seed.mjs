// Writes the golden vectors (protocol/tests/golden/*.json) as seed inputs for the decode fuzz
// targets of their protocol version: each target gets every vector of its version, so frames of
// the other direction seed the "unknown tag" paths too.
// Usage: node scripts/fuzz-seed.mjs [protocol/fuzz/corpus]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(process.argv[2] ?? join(root, "protocol", "fuzz", "corpus"));
const versions = [
  ["runner-v7.json", ["decode_to_server", "decode_to_client"]],
  ["envoy-v8.json", ["decode_to_rivet", "decode_to_envoy"]],
];
for (const [file, targets] of versions) {
  const { vectors } = JSON.parse(readFileSync(join(root, "protocol/tests/golden", file), "utf8"));
  for (const target of targets) {
    const dir = join(out, target);
    mkdirSync(dir, { recursive: true });
    for (const v of vectors) {
      writeFileSync(join(dir, "golden_" + v.name.replaceAll("/", "_")), Buffer.from(v.hex, "hex"));
    }
  }
  console.error(`fuzz-seed: ${vectors.length} vectors into ${out}/{${targets.join(",")}}`);
}
