import ipaddr from "ipaddr.js";
import {
  type Cidr,
  type IpAddress,
  compareIps,
  familyBits,
  fromIpaddr,
  ipClass,
  ipFromBigint,
  parseCidr,
  parseIp,
  toIpaddr,
} from "./address";
import { IpamError } from "./errors";

export type CidrInput = string | Cidr;
export type IpInput = string | IpAddress;

/** Parses text leniently about host bits (`10.1.0.5/24` means 10.1.0.0/24); throws IpamError when malformed. */
export function toCidr(input: CidrInput): Cidr {
  if (typeof input !== "string") return input;
  const parsed = parseCidr(input, { allowHostBits: true });
  if (!parsed.ok) throw new IpamError(parsed.error);
  return parsed.value;
}

/** Parses an address; throws IpamError when malformed. */
export function toIp(input: IpInput): IpAddress {
  if (typeof input !== "string") return input;
  const parsed = parseIp(input);
  if (!parsed.ok) throw new IpamError(parsed.error);
  return parsed.value;
}

function matches(ip: IpAddress, cidr: Cidr): boolean {
  if (ip.family !== cidr.family) return false;
  const range: [ipaddr.IPv4 | ipaddr.IPv6, number] = [toIpaddr(cidr.network), cidr.prefixLength];
  // ipaddr.js only matches within one family; the check above keeps this call well-typed.
  return (toIpaddr(ip) as ipaddr.IPv4).match(range as [ipaddr.IPv4, number]);
}

/** Whether `ip` lies inside `cidr`. Different families never contain each other. */
export function cidrContains(cidr: CidrInput, ip: IpInput): boolean {
  return matches(toIp(ip), toCidr(cidr));
}

/** Whether every address of `inner` lies inside `outer`. */
export function cidrContainsCidr(outer: CidrInput, inner: CidrInput): boolean {
  const o = toCidr(outer);
  const i = toCidr(inner);
  return o.family === i.family && i.prefixLength >= o.prefixLength && matches(i.network, o);
}

/** Whether `a` and `b` share at least one address. */
export function cidrsOverlap(a: CidrInput, b: CidrInput): boolean {
  return cidrContainsCidr(a, b) || cidrContainsCidr(b, a);
}

/** Number of addresses in the CIDR (2^(bits − prefix)), including network and broadcast. */
export function addressCount(cidr: CidrInput): bigint {
  const c = toCidr(cidr);
  return 1n << BigInt(familyBits(c.family) - c.prefixLength);
}

/** The network address (all host bits clear). */
export function firstAddress(cidr: CidrInput): IpAddress {
  return toCidr(cidr).network;
}

/** The last address (all host bits set; the IPv4 broadcast address). */
export function lastAddress(cidr: CidrInput): IpAddress {
  const c = toCidr(cidr);
  return fromIpaddr(ipClass(c.family).broadcastAddressFromCIDR(c.text));
}

// Point-to-point and host routes (IPv4 /31 /32, IPv6 /127 /128) have no network or
// broadcast address to skip (RFC 3021, RFC 6164).
function isPointToPoint(c: Cidr): boolean {
  return c.prefixLength >= familyBits(c.family) - 1;
}

/**
 * The first address a host may use: the one after the network address (as host-local's
 * default rangeStart), or the network address itself for /31, /32, /127 and /128.
 */
export function firstUsable(cidr: CidrInput): IpAddress {
  const c = toCidr(cidr);
  return isPointToPoint(c) ? c.network : ipFromBigint(c.family, c.network.value + 1n);
}

/**
 * The last address a host may use: before the broadcast address for IPv4, the last
 * address for IPv6 (as host-local's default rangeEnd); the last address for /31, /32, /127, /128.
 */
export function lastUsable(cidr: CidrInput): IpAddress {
  const c = toCidr(cidr);
  const last = lastAddress(c);
  return c.family === 4 && !isPointToPoint(c) ? ipFromBigint(4, last.value - 1n) : last;
}

export const RANGE_ERROR_KINDS = [
  "invalid-start",
  "invalid-end",
  "family-mismatch",
  "start-outside-subnet",
  "end-outside-subnet",
  "start-after-end",
] as const;
export type RangeErrorKind = (typeof RANGE_ERROR_KINDS)[number];

export interface RangeIssue {
  readonly kind: RangeErrorKind;
  readonly field: "rangeStart" | "rangeEnd";
  readonly message: string;
}

export interface AddressRange {
  subnet: CidrInput;
  rangeStart?: IpInput | undefined;
  rangeEnd?: IpInput | undefined;
}

/**
 * Checks that rangeStart..rangeEnd lies inside the subnet and is in order. Missing ends
 * default to firstUsable/lastUsable. Returns every problem found (empty when valid).
 */
export function checkRange(range: AddressRange): RangeIssue[] {
  const subnet = toCidr(range.subnet);
  const issues: RangeIssue[] = [];
  const resolve = (field: "rangeStart" | "rangeEnd", input: IpInput | undefined): IpAddress | undefined => {
    if (input === undefined) return undefined;
    if (typeof input === "string") {
      const parsed = parseIp(input);
      if (!parsed.ok) {
        issues.push({
          kind: field === "rangeStart" ? "invalid-start" : "invalid-end",
          field,
          message: `${field} ${parsed.error.message}`,
        });
        return undefined;
      }
      input = parsed.value;
    }
    if (input.family !== subnet.family) {
      issues.push({
        kind: "family-mismatch",
        field,
        message: `${field} "${input.text}" is IPv${input.family} but subnet "${subnet.text}" is IPv${subnet.family}`,
      });
      return undefined;
    }
    if (!matches(input, subnet)) {
      issues.push({
        kind: field === "rangeStart" ? "start-outside-subnet" : "end-outside-subnet",
        field,
        message: `${field} "${input.text}" is outside subnet "${subnet.text}": must be between "${subnet.network.text}" and "${lastAddress(subnet).text}"`,
      });
      return undefined;
    }
    return input;
  };
  const start = resolve("rangeStart", range.rangeStart);
  const end = resolve("rangeEnd", range.rangeEnd);
  if (issues.length > 0) return issues;
  const effectiveStart = start ?? firstUsable(subnet);
  const effectiveEnd = end ?? lastUsable(subnet);
  if (compareIps(effectiveStart, effectiveEnd) > 0) {
    issues.push({
      kind: "start-after-end",
      field: start ? "rangeStart" : "rangeEnd",
      message: `rangeStart "${effectiveStart.text}" is after rangeEnd "${effectiveEnd.text}": the start must not be greater than the end`,
    });
  }
  return issues;
}
