import ipaddr from "ipaddr.js";

export type IpFamily = 4 | 6;

/** A parsed IP address. `value` is the address as an unsigned integer, for ordering and arithmetic. */
export interface IpAddress {
  readonly family: IpFamily;
  /** Canonical text: dotted quad for IPv4, RFC 5952 compressed form for IPv6. */
  readonly text: string;
  readonly value: bigint;
}

/** A parsed CIDR. `address` is what was written; `network` has the host bits cleared. */
export interface Cidr {
  readonly family: IpFamily;
  readonly address: IpAddress;
  readonly prefixLength: number;
  readonly network: IpAddress;
  /** Canonical `network/prefix` text. */
  readonly text: string;
  readonly hasHostBits: boolean;
}

export const IP_PARSE_ERROR_KINDS = [
  "empty",
  "too-long",
  "invalid-address",
  "zone-not-allowed",
  "ipv4-mapped",
  "invalid-prefix",
  "host-bits-set",
] as const;
export type IpParseErrorKind = (typeof IP_PARSE_ERROR_KINDS)[number];

export interface IpParseError {
  readonly kind: IpParseErrorKind;
  readonly input: string;
  readonly message: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: IpParseError };

// The longest IPv6 literal is 45 characters; anything much longer is not an address
// and is refused before any regular expression sees it.
const MAX_ADDRESS_LENGTH = 45;
const MAX_CIDR_LENGTH = MAX_ADDRESS_LENGTH + 4;
const PREFIX_RE = /^(0|[1-9][0-9]{0,2})$/;

export function familyBits(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

function fail<T>(kind: IpParseErrorKind, input: string, message: string): ParseResult<T> {
  return { ok: false, error: { kind, input, message } };
}

function bytesToBigint(bytes: number[]): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

export function ipClass(family: IpFamily): typeof ipaddr.IPv4 | typeof ipaddr.IPv6 {
  return family === 4 ? ipaddr.IPv4 : ipaddr.IPv6;
}

/** The ipaddr.js object for a parsed address, for callers that need the library directly. */
export function toIpaddr(ip: IpAddress): ipaddr.IPv4 | ipaddr.IPv6 {
  return ip.family === 4 ? ipaddr.IPv4.parse(ip.text) : ipaddr.IPv6.parse(ip.text);
}

export function fromIpaddr(addr: ipaddr.IPv4 | ipaddr.IPv6): IpAddress {
  const family: IpFamily = addr.kind() === "ipv4" ? 4 : 6;
  return { family, text: addr.toString(), value: bytesToBigint(addr.toByteArray()) };
}

/** Builds an address of `family` from its integer value (must fit the family's width). */
export function ipFromBigint(family: IpFamily, value: bigint): IpAddress {
  const bits = familyBits(family);
  if (value < 0n || value >= 1n << BigInt(bits)) {
    throw new RangeError(`value ${value} does not fit an IPv${family} address`);
  }
  const bytes: number[] = [];
  for (let i = bits / 8 - 1; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn));
  return fromIpaddr(ipaddr.fromByteArray(bytes));
}

/**
 * Parses an IPv4 or IPv6 address strictly: IPv4 only as four decimal parts without
 * leading zeros (no `10.1`, `0x0a.0.0.1`, `010.0.0.1`), IPv6 without a zone
 * (`%eth0`) and not in IPv4-mapped form (Go, and so every CNI plugin, reads those as IPv4).
 */
export function parseIp(input: string): ParseResult<IpAddress> {
  if (input.length === 0) return fail("empty", input, "address is empty");
  if (input.length > MAX_ADDRESS_LENGTH) {
    return fail("too-long", input, `address is ${input.length} characters long: at most ${MAX_ADDRESS_LENGTH}`);
  }
  if (input.includes(":")) {
    if (input.includes("%")) {
      return fail("zone-not-allowed", input, `address "${input}" has a zone index: write it without "%…"`);
    }
    if (!ipaddr.IPv6.isValid(input)) {
      return fail("invalid-address", input, `"${input}" is not a valid IPv6 address`);
    }
    const addr = ipaddr.IPv6.parse(input);
    if (addr.isIPv4MappedAddress() || input.includes(".")) {
      return fail(
        "ipv4-mapped",
        input,
        `"${input}" embeds an IPv4 address in IPv6 form: write it as plain IPv4 ("${addr.isIPv4MappedAddress() ? addr.toIPv4Address().toString() : "a.b.c.d"}")`,
      );
    }
    return { ok: true, value: fromIpaddr(addr) };
  }
  if (!ipaddr.IPv4.isValidFourPartDecimal(input)) {
    return fail(
      "invalid-address",
      input,
      `"${input}" is not a valid IPv4 address: expected four decimal numbers 0–255 without leading zeros, like "10.1.0.1"`,
    );
  }
  return { ok: true, value: fromIpaddr(ipaddr.IPv4.parse(input)) };
}

export interface ParseCidrOptions {
  /**
   * Accept an address with bits set past the prefix (`10.1.0.5/24`), as CNI's IPAM
   * plugins do; `hasHostBits` then tells the caller. Default false: such input fails
   * with the `host-bits-set` error kind.
   */
  allowHostBits?: boolean;
}

/** Parses `address/prefix` strictly (see `parseIp`); the prefix is decimal without leading zeros. */
export function parseCidr(input: string, options: ParseCidrOptions = {}): ParseResult<Cidr> {
  if (input.length === 0) return fail("empty", input, "CIDR is empty");
  if (input.length > MAX_CIDR_LENGTH) {
    return fail("too-long", input, `CIDR is ${input.length} characters long: at most ${MAX_CIDR_LENGTH}`);
  }
  const slash = input.indexOf("/");
  if (slash < 0) {
    return fail("invalid-prefix", input, `"${input}" has no prefix length: write it as address/prefix, like "10.1.0.0/24"`);
  }
  const addressPart = input.slice(0, slash);
  const prefixPart = input.slice(slash + 1);
  const parsed = parseIp(addressPart);
  if (!parsed.ok) {
    return fail(parsed.error.kind, input, `"${input}" is not a valid CIDR: ${parsed.error.message}`);
  }
  const address = parsed.value;
  const bits = familyBits(address.family);
  const prefixLength = PREFIX_RE.test(prefixPart) ? Number(prefixPart) : Number.NaN;
  if (!(prefixLength >= 0 && prefixLength <= bits)) {
    return fail(
      "invalid-prefix",
      input,
      `"${input}" has an invalid prefix length "${prefixPart}": expected a decimal number 0–${bits} for IPv${address.family}`,
    );
  }
  const network = fromIpaddr(ipClass(address.family).networkAddressFromCIDR(`${address.text}/${prefixLength}`));
  const cidr: Cidr = {
    family: address.family,
    address,
    prefixLength,
    network,
    text: `${network.text}/${prefixLength}`,
    hasHostBits: network.value !== address.value,
  };
  if (cidr.hasHostBits && !options.allowHostBits) {
    return fail("host-bits-set", input, `"${input}" has host bits set: the network is "${cidr.text}"`);
  }
  return { ok: true, value: cidr };
}

/** The family of an address or CIDR text, or undefined when it is neither. */
export function ipFamily(input: string): IpFamily | undefined {
  const parsed = input.includes("/") ? parseCidr(input, { allowHostBits: true }) : parseIp(input);
  return parsed.ok ? parsed.value.family : undefined;
}

export function isIpv4(input: string): boolean {
  return !input.includes("/") && ipFamily(input) === 4;
}

export function isIpv6(input: string): boolean {
  return !input.includes("/") && ipFamily(input) === 6;
}

export function compareIps(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}
