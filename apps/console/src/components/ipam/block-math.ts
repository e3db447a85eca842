import { familyBits, toIp } from "@switchyard/ipam";

/**
 * The page's half of per-host blocks: what the operator typed as a block size, a block's label,
 * and the blocks grouped by host (a host gets a block of each range set, IPv4 and IPv6; one with more
 * than one of a family was extended when its first filled).
 */

/**
 * A block size as the API takes it: "/26" stays a prefix (the API judges it against the network's
 * family and range), "64" becomes a count; anything else is refused here with what would be right.
 */
export function parseBlockSize(text: string): { ok: true; value: number | `/${number}` } | { ok: false; message: string } {
  const t = text.trim();
  if (/^\d{1,10}$/.test(t)) return { ok: true, value: Number(t) };
  if (/^\/\d{1,3}$/.test(t)) return { ok: true, value: t as `/${number}` };
  return { ok: false, message: `block size "${t}" is not a size: give a prefix length like "/26" or a number of addresses like 64` };
}

/** "10.1.0.64/26" when the block is a whole aligned CIDR, else "first – last" (a block clipped to the range's ends). */
export function spanLabel(first: string, last: string): string {
  const a = toIp(first);
  const b = toIp(last);
  const size = b.value - a.value + 1n;
  const isPowerOfTwo = size > 0n && (size & (size - 1n)) === 0n;
  if (isPowerOfTwo && a.value % size === 0n) {
    const hostBits = size.toString(2).length - 1;
    return `${first}/${familyBits(a.family) - hostBits}`;
  }
  return first === last ? first : `${first} – ${last}`;
}

interface Block {
  hostId: string;
  hostName: string;
  first: string;
  last: string;
  size: number;
  leases: number;
  createdAt: Date;
}

export interface HostBlocks {
  hostId: string;
  hostName: string;
  blocks: Block[];
  /** Leases the host reports inside its blocks, and the addresses its blocks hold. */
  leases: number;
  capacity: number;
  /** When it got its first block. */
  since: Date;
  /** Blocks given beyond the first of each family (a dual-stack host starts with two). */
  extensions: number;
}

/** The blocks grouped by host, hosts by name, each host's blocks in address order (as listed). */
export function groupBlocksByHost(blocks: readonly Block[]): HostBlocks[] {
  const byHost = new Map<string, HostBlocks>();
  for (const b of blocks) {
    let h = byHost.get(b.hostId);
    if (!h) byHost.set(b.hostId, (h = { hostId: b.hostId, hostName: b.hostName, blocks: [], leases: 0, capacity: 0, since: b.createdAt, extensions: 0 }));
    h.blocks.push(b);
    h.leases += b.leases;
    h.capacity += b.size;
    if (b.createdAt < h.since) h.since = b.createdAt;
  }
  for (const h of byHost.values()) h.extensions = h.blocks.length - new Set(h.blocks.map((b) => toIp(b.first).family)).size;
  return [...byHost.values()].sort((x, y) => x.hostName.localeCompare(y.hostName));
}
