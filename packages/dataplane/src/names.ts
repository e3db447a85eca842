import { createHash } from "node:crypto";
import { DataplaneError } from "./errors";

/**
 * Chain, set and comment names of the table (design §10), and the emit-time guard: whatever the
 * schema said, nothing outside these character sets is written into a transaction (HARDENING 6).
 */

export const TABLE_NAME = "switchyard";

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_./-]{0,254}$/;
const COMMENT = /^[a-z0-9./-]{1,128}$/;
const ADDRESS = /^[0-9a-f.:]{2,39}$/;
const CIDR = /^[0-9a-f.:]{2,39}\/[0-9]{1,3}$/;

function refuse(kind: string, value: string, rule: string): never {
  throw new DataplaneError("unsafe-text", `${kind} ${JSON.stringify(value)} cannot be written into an nft transaction: must match ${rule}`);
}

/** A chain, set or map name, checked as it is written. */
export function guardIdentifier(name: string): string {
  return IDENTIFIER.test(name) ? name : refuse("name", name, String(IDENTIFIER));
}

/** An element or rule comment (built only from name/proto/port), checked as it is written. */
export function guardComment(comment: string): string {
  return COMMENT.test(comment) ? comment : refuse("comment", comment, String(COMMENT));
}

/** An address (already canonical from the schema), checked as it is written. */
export function guardAddress(address: string): string {
  return ADDRESS.test(address) ? address : refuse("address", address, String(ADDRESS));
}

export function guardCidr(cidr: string): string {
  return CIDR.test(cidr) ? cidr : refuse("CIDR", cidr, String(CIDR));
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** The first 8 base32 characters of sha256(text): 40 bits, kube-proxy's readable-hash scheme. */
export function hash8(text: string): string {
  const digest = createHash("sha256").update(text).digest();
  let bits = 0n;
  for (let i = 0; i < 5; i++) bits = (bits << 8n) | BigInt(digest[i]!);
  let out = "";
  for (let i = 7; i >= 0; i--) out += BASE32[Number((bits >> BigInt(i * 5)) & 31n)];
  return out;
}

/** `fd00:88::11` → `fd00.88..11`: `:` is not allowed in names (kube-proxy does the same). */
function nameAddress(address: string): string {
  return guardAddress(address).replaceAll(":", ".");
}

export interface PortRef {
  serviceId: string;
  serviceName: string;
  protocol: string;
  port: number;
}

/** `web/tcp/80`: the element comment, and the readable tail of the port's chain names. */
export function portLabel(p: PortRef): string {
  return guardComment(`${p.serviceName}/${p.protocol}/${p.port}`);
}

export function serviceChainName(p: PortRef): string {
  return guardIdentifier(`service-${hash8(`${p.serviceId}/${p.protocol}/${p.port}`)}-${portLabel(p)}`);
}

function memberSuffix(p: PortRef, address: string, targetPort: number): { hash: string; tail: string } {
  return {
    hash: hash8(`${p.serviceId}/${p.protocol}/${p.port}__${address}/${targetPort}`),
    tail: `${portLabel(p)}__${nameAddress(address)}/${targetPort}`,
  };
}

export function memberChainName(p: PortRef, address: string, targetPort: number): string {
  const { hash, tail } = memberSuffix(p, address, targetPort);
  return guardIdentifier(`member-${hash}-${tail}`);
}

/** The affinity set shares its member chain's hash and tail. */
export function affinitySetName(p: PortRef, address: string, targetPort: number): string {
  const { hash, tail } = memberSuffix(p, address, targetPort);
  return guardIdentifier(`affinity-${hash}-${tail}`);
}
