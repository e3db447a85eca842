import { AGENT_BODY_BUDGET_BYTES, Inventory } from "@switchyard/api/schemas";

/** Room in a heartbeat for what is not the inventory: the envelope, the agent's version, superjson's notes on dates. */
const HEARTBEAT_SLACK_BYTES = 16 * 1024;
export const INVENTORY_MAX_BYTES = AGENT_BODY_BUDGET_BYTES - HEARTBEAT_SLACK_BYTES;

const bytesOf = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/**
 * The inventory as the console will take it (issue 15 §2). The console checks it with the same
 * schema and refuses the whole heartbeat (400) for one entry it does not accept (a namespace name of
 * 255 characters, a host name of 253, where the schema takes 200), and a body over its limit (413):
 * the agent would send the same report every minute and never have it stored. So entries the schema
 * refuses are left out (a text field too long is cut to its limit), lists beyond their limits cut,
 * and while the whole is over `maxBytes` the heaviest list is halved. What was cut is named in
 * `truncated`, which the host page shows.
 *
 * Measured: a host at every list's limit with realistic names (4,096 namespaces and cache entries,
 * 64-character container ids, 512 conf files with digests, 512 NAT rules, 256 addresses) is 1.2 MB
 * as a heartbeat; the same with a 1,000-character error on every network and conf file, 2.2 MB.
 */
export function fitInventory(inventory: Inventory, maxBytes = INVENTORY_MAX_BYTES): Inventory {
  const value: Record<string, unknown> = { ...inventory };
  const cut = new Set<string>(inventory.truncated ?? []);
  for (let round = 0; round < 5; round++) {
    const parsed = Inventory.safeParse(value);
    if (parsed.success) break;
    const drop = new Map<string, Set<number>>();
    let changed = false;
    for (const issue of parsed.error.issues) {
      const [field, index] = issue.path;
      if (typeof field !== "string" || !(field in value)) continue;
      const current = value[field];
      if (Array.isArray(current) && issue.path.length === 1 && issue.code === "too_big") value[field] = current.slice(0, Number(issue.maximum));
      else if (Array.isArray(current) && typeof index === "number") drop.set(field, (drop.get(field) ?? new Set()).add(index));
      else if (typeof current === "string" && issue.code === "too_big") value[field] = current.slice(0, Number(issue.maximum));
      else if (Inventory.shape[field as keyof typeof Inventory.shape]?.safeParse(undefined).success) delete value[field];
      else continue; // nothing the agent can mend: the console will say what is wrong
      cut.add(field);
      changed = true;
    }
    for (const [field, indexes] of drop) value[field] = (value[field] as unknown[]).filter((_, i) => !indexes.has(i));
    if (!changed) break;
  }
  for (let size = bytesOf(value); size > maxBytes; size = bytesOf(value)) {
    let heaviest: string | undefined;
    let weight = 0;
    for (const [field, v] of Object.entries(value)) {
      if (!Array.isArray(v) || v.length === 0) continue;
      const w = bytesOf(v);
      if (w > weight) (heaviest = field), (weight = w);
    }
    if (!heaviest) break;
    const list = value[heaviest] as unknown[];
    value[heaviest] = list.slice(0, Math.floor(list.length / 2));
    cut.add(heaviest);
  }
  if (cut.size > 0) value.truncated = [...cut].sort();
  return value as Inventory;
}
