import { familyBits, ipFromBigint, toCidr, toIp, type Cidr } from "@switchyard/ipam";

/** A /24 (IPv4) or a /120 (IPv6) or smaller is drawn one cell per address. */
export const GRID_MAX_ADDRESSES = 256n;

export function isGrid(cidr: Cidr): boolean {
  return 1n << BigInt(familyBits(cidr.family) - cidr.prefixLength) <= GRID_MAX_ADDRESSES;
}

/** The addresses of a grid CIDR, in order (at most 256). */
export function gridAddresses(cidr: Cidr): string[] {
  const count = Number(1n << BigInt(familyBits(cidr.family) - cidr.prefixLength));
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(ipFromBigint(cidr.family, cidr.network.value + BigInt(i)).text);
  return out;
}

/**
 * The prefix of the blocks a heatmap of `cidr` shows: 256 blocks a level (a /8 shows /16s, a /16
 * shows /24s), never smaller than a grid's CIDR (a /20 shows its 16 /24s).
 */
export function childPrefix(cidr: Cidr): number {
  const bits = familyBits(cidr.family);
  return Math.min(cidr.prefixLength + 8, bits - 8);
}

/** The CIDR text of the block of `address` (or of a smaller block's text) at `prefix`. */
export function blockOf(text: string, prefix: number): string {
  const ip = toIp(text.split("/")[0]!);
  const bits = familyBits(ip.family);
  const mask = ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
  return `${ipFromBigint(ip.family, ip.value & mask).text}/${prefix}`;
}

/** Every block of `cidr` at `prefix` (IPv4 only: at most 256; IPv6 shows only blocks that hold addresses). */
export function allBlocks(cidr: Cidr, prefix: number): string[] {
  const count = 1 << (prefix - cidr.prefixLength);
  const step = 1n << BigInt(familyBits(cidr.family) - prefix);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(`${ipFromBigint(cidr.family, cidr.network.value + step * BigInt(i)).text}/${prefix}`);
  return out;
}

/** The CIDRs from `root` down to `current` (8 bits a step): the zoom's breadcrumbs. */
export function breadcrumbs(root: string, current: string): string[] {
  const r = toCidr(root);
  const c = toCidr(current);
  const out = [r.text];
  for (let p = childPrefix(r); p < c.prefixLength; p = childPrefix(toCidr(out.at(-1)!))) {
    const next = blockOf(c.network.text, p);
    if (next === out.at(-1)) break;
    out.push(next);
  }
  if (out.at(-1) !== c.text) out.push(c.text);
  return out;
}

/** Addresses in a block (capped for display: an IPv6 block is "very many"). */
export function blockSize(prefix: number, family: 4 | 6): number {
  const bits = familyBits(family) - prefix;
  return bits > 52 ? Number.MAX_SAFE_INTEGER : 2 ** bits;
}

/** Whether `address` lies in [first, last]. */
export function inRange(address: string, first: string, last: string): boolean {
  const a = toIp(address);
  const f = toIp(first);
  const l = toIp(last);
  return a.family === f.family && a.value >= f.value && a.value <= l.value;
}

export { toCidr };
