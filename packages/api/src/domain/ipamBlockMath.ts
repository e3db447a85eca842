import { type IpAddress, type NormalisedRange, ipFromBigint, normaliseIpamRanges, toIp } from "@switchyard/ipam";

/**
 * The pure half of per-host blocks (issue 11 item 5): where a network's blocks lie, which one a
 * host gets next, and the config a host receives with its host-local range narrowed to its blocks.
 * Blocks are carved from every host-local range set (a dual-stack network's IPv4 set and IPv6 set
 * alike: an address is handed out of each set), each range cut at multiples of the block size from
 * its subnet's first address and clipped to the range's own start and end. A host gets a block in
 * each set; a set where it has none is rendered as written.
 */

/** A block as stored: its first and last address (canonical text). */
export interface BlockSpan {
  first: string;
  last: string;
}

interface Bounds {
  first: bigint;
  last: bigint;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The host-local ipam section of a conflist (its first plugin with one), with the plugin's index. */
export function findHostLocalIpam(conflist: unknown): { pluginIndex: number; ipam: Record<string, unknown> } | null {
  const plugins = isObject(conflist) ? conflist.plugins : undefined;
  if (!Array.isArray(plugins)) return null;
  for (const [pluginIndex, plugin] of plugins.entries()) {
    const ipam = isObject(plugin) ? plugin.ipam : undefined;
    if (isObject(ipam) && ipam.type === "host-local") return { pluginIndex, ipam };
  }
  return null;
}

/** The range sets blocks are carved from, in host-local's order (a legacy top-level range is set 0), or none. */
export function blockRangeSets(conflist: unknown): NormalisedRange[][] {
  const found = findHostLocalIpam(conflist);
  if (!found) return [];
  return normaliseIpamRanges(found.ipam).rangeSets.filter((set) => set.length > 0);
}

/** Every range blocks are carved from, all sets together (blocks never straddle two ranges). */
export function blockRanges(conflist: unknown): NormalisedRange[] {
  return blockRangeSets(conflist).flat();
}

function boundsOf(range: NormalisedRange): Bounds & { base: bigint } {
  return { base: toIp(range.subnet.split("/")[0]!).value, first: toIp(range.start).value, last: toIp(range.end).value };
}

const spanBounds = (span: BlockSpan): Bounds => ({ first: toIp(span.first).value, last: toIp(span.last).value });

/** Why a block size cannot be used on these ranges, or null when it fits. */
export function blockSizeProblem(ranges: readonly NormalisedRange[], blockSize: number): string | null {
  if (ranges.length === 0) return "the network has no host-local range to cut into blocks";
  if (!Number.isSafeInteger(blockSize) || blockSize < 2) return `block size ${blockSize} is too small: a block holds at least 2 addresses`;
  const largest = ranges.reduce((max, r) => {
    const b = boundsOf(r);
    return b.last - b.first + 1n > max ? b.last - b.first + 1n : max;
  }, 0n);
  if (BigInt(blockSize) * 2n > largest) {
    return `block size ${blockSize} does not fit: the largest range (${largest} addresses) must hold at least two blocks, so at most ${largest / 2n} addresses a block`;
  }
  return null;
}

/** Every block of the ranges in address order, lazily (a /8 in /26 blocks is 262,144 of them). */
export function* candidateBlocks(ranges: readonly NormalisedRange[], blockSize: number): Generator<BlockSpan & { family: 4 | 6 }> {
  const size = BigInt(blockSize);
  const sorted = [...ranges].sort((a, b) => (a.family !== b.family ? a.family - b.family : boundsOf(a).first < boundsOf(b).first ? -1 : 1));
  for (const range of sorted) {
    const { base, first, last } = boundsOf(range);
    for (let k = (first - base) / size; base + k * size <= last; k++) {
      const from = base + k * size > first ? base + k * size : first;
      const to = base + (k + 1n) * size - 1n < last ? base + (k + 1n) * size - 1n : last;
      yield { family: range.family, first: ipFromBigint(range.family, from).text, last: ipFromBigint(range.family, to).text };
    }
  }
}

/** The first block of the ranges that overlaps none of `taken` (any host's), or null when the ranges are full. */
export function nextFreeBlock(ranges: readonly NormalisedRange[], blockSize: number, taken: readonly BlockSpan[]): BlockSpan | null {
  const takenBounds = taken.map(spanBounds);
  for (const block of candidateBlocks(ranges, blockSize)) {
    const b = spanBounds(block);
    if (!takenBounds.some((t) => t.first <= b.last && t.last >= b.first)) return { first: block.first, last: block.last };
  }
  return null;
}

/** The blocks of `blocks` that lie wholly inside one of the ranges (a range edited since may leave some out). */
export function blocksInside(ranges: readonly NormalisedRange[], blocks: readonly BlockSpan[]): { block: BlockSpan; range: NormalisedRange }[] {
  return blocks.flatMap((block) => {
    const b = spanBounds(block);
    const family = toIp(block.first).family;
    const range = ranges.find((r) => r.family === family && boundsOf(r).first <= b.first && boundsOf(r).last >= b.last);
    return range ? [{ block, range }] : [];
  });
}

/** How many addresses the blocks hold. */
export function blockCapacity(blocks: readonly BlockSpan[]): number {
  return blocks.reduce((sum, block) => {
    const b = spanBounds(block);
    return sum + Number(b.last - b.first + 1n);
  }, 0);
}

/**
 * Whether a host whose blocks hold `capacity` addresses, `used` of them taken, needs another block:
 * when fewer than an eighth of a block (at least one address) would be left.
 */
export function needsAnotherBlock(capacity: number, used: number, blockSize: number): boolean {
  return capacity - used <= Math.max(1, Math.floor(blockSize / 8));
}

/**
 * The config a host receives: the network's conflist with each host-local range set in which the
 * host has blocks replaced by one range per block (subnet and gateway of the range the block lies
 * in); a set where it has none stays as written. A host with no block inside the ranges gets the
 * conflist as it is. Never changes its input.
 */
export function renderHostConflist<T>(conflist: T, blocks: readonly BlockSpan[]): T {
  if (blocks.length === 0) return conflist;
  const found = findHostLocalIpam(conflist);
  if (!found) return conflist;
  const sets = blockRangeSets(conflist);
  const narrowedSets = sets.map((ranges) =>
    blocksInside(ranges, blocks)
      .sort((a, b) => compareText(a.block.first, b.block.first))
      .map(({ block, range }) => ({ subnet: range.subnet, rangeStart: block.first, rangeEnd: block.last, gateway: range.gateway })),
  );
  if (narrowedSets.every((set) => set.length === 0)) return conflist;
  const ipam: Record<string, unknown> = { ...found.ipam };
  // The sets as written, in host-local's order: the legacy top-level range first when there is one.
  const legacy = ipam.subnet !== undefined && ipam.subnet !== "";
  const written = Array.isArray(ipam.ranges) ? (ipam.ranges as unknown[]) : [];
  const asWritten = legacy ? [[{ subnet: ipam.subnet, rangeStart: ipam.rangeStart, rangeEnd: ipam.rangeEnd, gateway: ipam.gateway }], ...written] : written;
  for (const key of ["subnet", "rangeStart", "rangeEnd", "gateway"]) delete ipam[key];
  // blockRangeSets drops empty sets; host-local refuses them anyway, so the indexes agree for a config it loads.
  ipam.ranges = asWritten.map((set, i) => (narrowedSets[i]?.length ? narrowedSets[i] : stripUndefined(set)));
  const plugins = [...((conflist as { plugins: unknown[] }).plugins ?? [])];
  plugins[found.pluginIndex] = { ...(plugins[found.pluginIndex] as Record<string, unknown>), ipam };
  return { ...(conflist as Record<string, unknown>), plugins } as T;
}

/** A legacy range set rebuilt from top-level keys, without the keys that were not set. */
function stripUndefined(set: unknown): unknown {
  if (!Array.isArray(set)) return set;
  return set.map((r) => (isObject(r) ? Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) : r));
}

function compareText(a: string, b: string): number {
  const x: IpAddress = toIp(a);
  const y: IpAddress = toIp(b);
  return x.family !== y.family ? x.family - y.family : x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
}
