import { parseCidr, parseIp } from "@switchyard/ipam";
import { DataplaneError } from "../errors";

/** Bytes of the values the renderer writes as text (addresses, CIDRs, comments), and the refusal. */

const comments = new Map<string, Buffer>();

export function commentTlv(text: string): Buffer {
  const known = comments.get(text);
  if (known) return known;
  const bytes = Buffer.from(`${text}\0`);
  if (bytes.length > 255) unsupported("comment", text);
  const tlv = Buffer.concat([Buffer.from([0, bytes.length]), bytes]);
  if (comments.size < 1000) comments.set(text, tlv);
  return tlv;
}

export function addrLen(family: 4 | 6): number {
  return family === 4 ? 4 : 16;
}

/** Where the address is in the IPv4 or IPv6 header. */
export function addrOffset(family: 4 | 6, field: "saddr" | "daddr"): number {
  return family === 4 ? (field === "saddr" ? 12 : 16) : field === "saddr" ? 8 : 24;
}

export function addressBytes(text: string, family: 4 | 6): Buffer {
  if (family === 4) {
    const q = DOTTED_QUAD.exec(text);
    if (q && q.slice(1).every((o) => Number(o) <= 255)) return Buffer.from(q.slice(1).map(Number));
  }
  const parsed = parseIp(text);
  if (!parsed.ok || parsed.value.family !== family) return unsupported("address", text);
  const len = family === 4 ? 4 : 16;
  const out = Buffer.alloc(len);
  let v = parsed.value.value;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function cidrBounds(text: string, family: 4 | 6): [Buffer, Buffer] {
  const parsed = parseCidr(text);
  if (!parsed.ok || parsed.value.family !== family) return unsupported("CIDR", text);
  const [address, bits] = text.split("/");
  const first = addressBytes(address!, family);
  const last = Buffer.from(first);
  const prefix = Number(bits);
  for (let i = prefix; i < last.length * 8; i++) last[i >> 3]! |= 0x80 >> (i & 7);
  return [first, last];
}

export function u32le(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

export function u32be(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

export function u16be(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

export function align4(n: number): number {
  return (n + 3) & ~3;
}

export function unsupported(what: string, text: string): never {
  throw new DataplaneError("netlink-unsupported", `${what} ${JSON.stringify(text)} has no netlink encoding here: use nft`);
}
