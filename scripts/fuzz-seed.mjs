// Writes the golden vectors (protocol/tests/golden/runner-v7.json) as seed inputs for both decode
// fuzz targets: each target gets every vector, so frames of the other direction seed the
// "unknown tag" paths too. Usage: node scripts/fuzz-seed.mjs [protocol/fuzz/corpus]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(process.argv[2] ?? join(root, "protocol", "fuzz", "corpus"));
const { vectors } = JSON.parse(readFileSync(join(root, "protocol/tests/golden/runner-v7.json"), "utf8"));
for (const target of ["decode_to_server", "decode_to_client"]) {
  const dir = join(out, target);
  mkdirSync(dir, { recursive: true });
  for (const v of vectors) {
    writeFileSync(join(dir, "golden_" + v.name.replaceAll("/", "_")), Buffer.from(v.hex, "hex"));
  }
}
console.error(`fuzz-seed: ${vectors.length} vectors into ${out}/{decode_to_server,decode_to_client}`);
