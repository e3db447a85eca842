import { parseIp } from "@switchyard/ipam";
import { type DesiredMember, isSelectable } from "./desired";

/**
 * Weights → `numgen random mod M` ranges (design §5). Exact shares, no rounding: the weights are
 * divided by their gcd and the modulus is their sum, so member i gets w'ᵢ of M values and its
 * share is wᵢ/Σw. Members are ordered by (address, port) so the output does not depend on the
 * order the console listed them in, and a weight change touches one rule.
 */

export type WeighedMember = Pick<DesiredMember, "address" | "port" | "weight" | "state" | "health">;

export interface NumgenRange<M> {
  member: M;
  /** First and last value of `numgen random mod modulus` that picks this member (inclusive). */
  first: number;
  last: number;
}

export interface NumgenPlan<M> {
  modulus: number;
  ranges: NumgenRange<M>[];
}

/** The selectable members in rendering order: by address (numerically), then port (none first). */
export function sortSelectable<M extends WeighedMember>(members: readonly M[]): M[] {
  const keyed = members.filter(isSelectable).map((m) => ({ m, value: addressValue(m.address) }));
  keyed.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : (a.m.port ?? 0) - (b.m.port ?? 0)));
  return keyed.map((k) => k.m);
}

/** The numgen plan for a port's members, or null when none is selectable (the port rejects). */
export function planNumgen<M extends WeighedMember>(members: readonly M[]): NumgenPlan<M> | null {
  const selected = sortSelectable(members);
  if (selected.length === 0) return null;
  const g = selected.reduce((acc, m) => gcd(acc, m.weight), 0);
  const ranges: NumgenRange<M>[] = [];
  let next = 0;
  for (const member of selected) {
    const width = member.weight / g;
    ranges.push({ member, first: next, last: next + width - 1 });
    next += width;
  }
  return { modulus: next, ranges };
}

/** `k` for a one-wide range, `a-b` otherwise (nft's interval syntax). */
export function formatRange(range: { first: number; last: number }): string {
  return range.first === range.last ? `${range.first}` : `${range.first}-${range.last}`;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function addressValue(address: string): bigint {
  const parsed = parseIp(address);
  if (!parsed.ok) throw new Error(`member address ${JSON.stringify(address)} is invalid: ${parsed.error.message}`);
  return parsed.value.value;
}
