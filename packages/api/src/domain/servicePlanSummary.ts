import type { TableObjects } from "@switchyard/dataplane";
import type { ResolvedMember } from "./serviceDesired";

/**
 * The plan's words beside its nft lines: which members a change adds, removes, reweighs or moves
 * to another state, and how many rules and set elements each host's table gains and loses.
 */

const memberKey = (m: { address: string; port: number | null }) => `${m.address}${m.port === null ? "" : `:${m.port}`}`;

export interface MemberChanges {
  added: string[];
  removed: string[];
  reweighted: { member: string; from: number; to: number }[];
  restated: { member: string; from: string; to: string }[];
}

export function summarizeMembers(before: readonly ResolvedMember[], after: readonly ResolvedMember[]): MemberChanges {
  const old = new Map(before.map((m) => [memberKey(m), m]));
  const now = new Map(after.map((m) => [memberKey(m), m]));
  const out: MemberChanges = { added: [], removed: [], reweighted: [], restated: [] };
  for (const [key, m] of now) {
    const was = old.get(key);
    if (!was) out.added.push(key);
    else {
      if (was.weight !== m.weight) out.reweighted.push({ member: key, from: was.weight, to: m.weight });
      if (was.state !== m.state) out.restated.push({ member: key, from: was.state, to: m.state });
    }
  }
  for (const key of old.keys()) if (!now.has(key)) out.removed.push(key);
  return out;
}

export interface TableChanges {
  rulesAdded: number;
  rulesRemoved: number;
  elementsAdded: number;
  elementsRemoved: number;
}

/** Rules (per chain) and elements (per set) in one table and not the other; a changed element counts on both sides. */
export function summarizeTables(before: TableObjects | null, after: TableObjects | null): TableChanges {
  const rules = (t: TableObjects | null) => {
    const counts = new Map<string, number>();
    for (const [chain, c] of t?.chains ?? []) for (const r of c.rules) counts.set(`${chain} ${r}`, (counts.get(`${chain} ${r}`) ?? 0) + 1);
    return counts;
  };
  const elements = (t: TableObjects | null) => new Set([...(t?.elements ?? [])].flatMap(([set, els]) => [...els.values()].map((text) => `${set} ${text}`)));
  const missingFrom = (a: Map<string, number>, b: Map<string, number>) => [...a].reduce((n, [k, c]) => n + Math.max(0, c - (b.get(k) ?? 0)), 0);
  const [r0, r1, e0, e1] = [rules(before), rules(after), elements(before), elements(after)];
  return {
    rulesAdded: missingFrom(r1, r0),
    rulesRemoved: missingFrom(r0, r1),
    elementsAdded: [...e1].filter((e) => !e0.has(e)).length,
    elementsRemoved: [...e0].filter((e) => !e1.has(e)).length,
  };
}
