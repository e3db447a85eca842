import { createHash } from "node:crypto";

/**
 * JSON with object keys in code-point order at every level and no whitespace: equal for two
 * values that JSON.parse would give equal objects, whatever their key order or layout.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  const entries = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(",")}}`;
}

/**
 * A conflist's identity for drift checks: sha256 (hex) of its canonical JSON. The agent digests
 * the conf dir's files (as parseNetworkConfig reads them), the console its network revisions.
 */
export function conflistDigest(conflist: unknown): string {
  return createHash("sha256").update(canonicalJson(conflist)).digest("hex");
}
