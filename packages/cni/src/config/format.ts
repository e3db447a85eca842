/**
 * The editor's "Format" layout for a config: 2-space JSON, well-known keys first (in the order the
 * CNI spec's examples use), the other keys in code-point order, then `ipam`, `dns` and `plugins`.
 * Only applied when the user asks: a saved config keeps the text as written. The console's
 * migration 20261205220200 backfilled revisions stored before that with the same layout (SQL).
 */
const KEY_RANK: Readonly<Record<string, number>> = {
  cniVersion: 0,
  cniVersions: 1,
  name: 2,
  disableCheck: 3,
  disableGC: 4,
  type: 5,
  subnet: 6,
  rangeStart: 7,
  rangeEnd: 8,
  gateway: 9,
  ipam: 90,
  dns: 91,
  plugins: 99,
};
const OTHER_RANK = 50;

function rank(key: string): number {
  return Object.hasOwn(KEY_RANK, key) ? KEY_RANK[key]! : OTHER_RANK;
}

function ordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(ordered);
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  // No prototype: a "__proto__" key stays a key.
  const out = Object.create(null) as Record<string, unknown>;
  for (const key of keys) out[key] = ordered((value as Record<string, unknown>)[key]);
  return out;
}

/** A parsed config value in the Format layout, with a trailing newline. */
export function formatConfig(value: unknown): string {
  return `${JSON.stringify(ordered(value), null, 2)}\n`;
}
