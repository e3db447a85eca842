import { ipFromBigint, normaliseIpamRanges, toIp } from "@switchyard/ipam";
import { findHostLocalIpam } from "./ipamBlockMath";

/** A reserved span of addresses, both ends included. */
export interface ReservedSpan {
  first: string;
  last: string;
}

/**
 * The config with every reserved address cut out of its host-local ranges: each range a
 * reservation overlaps becomes the ranges around it (same subnet and gateway), so host-local
 * never hands a reserved address out — on every host, from the first attach on, with no file on
 * the host to keep in step. A config no reservation touches comes back as it was (no drift);
 * a range a reservation would empty is kept (host-local refuses an empty range set: the map then
 * shows the address as a conflict if it is handed out). Never changes its input.
 */
export function carveReservations<T>(conflist: T, reserved: readonly ReservedSpan[]): T {
  if (reserved.length === 0) return conflist;
  const found = findHostLocalIpam(conflist);
  if (!found) return conflist;
  const { rangeSets, issues } = normaliseIpamRanges(found.ipam);
  if (issues.length > 0 || rangeSets.length === 0) return conflist;
  const spans = reserved.map((r) => ({ first: toIp(r.first), last: toIp(r.last) }));
  let touched = false;
  const carved = rangeSets.map((set) =>
    set.flatMap((range) => {
      const start = toIp(range.start);
      const end = toIp(range.end);
      const holes = spans
        .filter((s) => s.first.family === start.family && s.first.value <= end.value && s.last.value >= start.value)
        .sort((a, b) => (a.first.value < b.first.value ? -1 : 1));
      const base = { subnet: range.subnet, ...(range.gateway ? { gateway: range.gateway } : {}) };
      if (holes.length === 0) return [{ ...base, rangeStart: range.start, rangeEnd: range.end }];
      const pieces: { subnet: string; gateway?: string; rangeStart: string; rangeEnd: string }[] = [];
      let from = start.value;
      for (const h of holes) {
        if (h.first.value > from) pieces.push({ ...base, rangeStart: ipFromBigint(start.family, from).text, rangeEnd: ipFromBigint(start.family, h.first.value - 1n).text });
        if (h.last.value + 1n > from) from = h.last.value + 1n;
      }
      if (from <= end.value) pieces.push({ ...base, rangeStart: ipFromBigint(start.family, from).text, rangeEnd: range.end });
      if (pieces.length === 0) return [{ ...base, rangeStart: range.start, rangeEnd: range.end }];
      touched = true;
      return pieces;
    }),
  );
  if (!touched) return conflist;
  const ipam: Record<string, unknown> = { ...found.ipam };
  for (const key of ["subnet", "rangeStart", "rangeEnd", "gateway"]) delete ipam[key];
  ipam.ranges = carved;
  const plugins = [...((conflist as { plugins: unknown[] }).plugins ?? [])];
  plugins[found.pluginIndex] = { ...(plugins[found.pluginIndex] as Record<string, unknown>), ipam };
  return { ...(conflist as Record<string, unknown>), plugins } as T;
}
