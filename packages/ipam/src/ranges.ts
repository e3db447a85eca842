import ipaddr from "ipaddr.js";
import { type Cidr, type IpAddress, type IpFamily, familyBits, fromIpaddr, ipFromBigint, parseCidr, parseIp } from "./address";

/**
 * One host-local range after host-local's own Canonicalize (allocator/range.go): every field
 * filled in, canonical text. `rangeSet` is the index of its range set, host-local's rangeID
 * (the N of `last_reserved_ip.N`).
 */
export interface NormalisedRange {
  readonly family: IpFamily;
  /** Network/prefix with host bits cleared. */
  readonly subnet: string;
  readonly start: string;
  readonly end: string;
  readonly gateway: string;
  readonly rangeSet: number;
}

export interface RangeSetIssue {
  /** Where in the ipam section, like `ranges[1][0].rangeEnd`. */
  readonly path: string;
  readonly message: string;
}

export interface IpamRanges {
  /** The section's `dataDir` as written; undefined means host-local's default. */
  readonly dataDir: string | undefined;
  /** Indexed by range set (host-local's order: runtime ipRanges, legacy top-level range, `ranges`); a set with no usable range is empty. */
  readonly rangeSets: NormalisedRange[][];
  readonly issues: RangeSetIssue[];
}

export interface NormaliseIpamOptions {
  /** The `ipRanges` capability arg, which host-local puts before the config's own ranges. */
  ipRanges?: unknown;
}

export const DEFAULT_HOST_LOCAL_DATA_DIR = "/var/lib/cni/networks";
// Far above any real config; keeps a hostile section from costing more than a bounded amount of work.
const MAX_RANGE_SETS = 64;
const MAX_RANGES_PER_SET = 64;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const shown = (v: unknown) => (typeof v === "string" ? `"${v.slice(0, 60)}"` : JSON.stringify(v)?.slice(0, 60) ?? String(v));

function readIp(issues: RangeSetIssue[], value: unknown, path: string, family: IpFamily): IpAddress | undefined | null {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") {
    issues.push({ path, message: `${path} must be an IP address string, got ${shown(value)}` });
    return null;
  }
  const parsed = parseIp(value);
  if (!parsed.ok) {
    issues.push({ path, message: `${path} ${parsed.error.message}` });
    return null;
  }
  if (parsed.value.family !== family) {
    issues.push({ path, message: `${path} "${value}" is IPv${parsed.value.family} but the subnet is IPv${family}` });
    return null;
  }
  return parsed.value;
}

function inside(ip: IpAddress, cidr: Cidr, last: bigint): boolean {
  return ip.value >= cidr.network.value && ip.value <= last;
}

/** One range as host-local's Range.Canonicalize fills it in; undefined (with issues) where host-local would refuse it. */
function normaliseRange(issues: RangeSetIssue[], range: unknown, path: string, rangeSet: number): NormalisedRange | undefined {
  if (!isObject(range)) {
    issues.push({ path, message: `${path} must be an object like {"subnet": "10.1.0.0/24"}, got ${shown(range)}` });
    return undefined;
  }
  if (typeof range.subnet !== "string") {
    issues.push({ path: `${path}.subnet`, message: `${path}.subnet must be a CIDR string like "10.1.0.0/24", got ${shown(range.subnet)}` });
    return undefined;
  }
  const parsed = parseCidr(range.subnet, { allowHostBits: true });
  if (!parsed.ok) {
    issues.push({ path: `${path}.subnet`, message: `${path}.subnet ${parsed.error.message}` });
    return undefined;
  }
  const cidr = parsed.value;
  const bits = familyBits(cidr.family);
  if (cidr.prefixLength > bits - 2) {
    issues.push({ path: `${path}.subnet`, message: `${path}.subnet "${range.subnet}" is too small to allocate from: host-local needs /${bits - 2} or shorter` });
    return undefined;
  }
  const hostMask = (1n << BigInt(bits - cidr.prefixLength)) - 1n;
  const last = cidr.network.value | hostMask;
  // host-local keeps the address as written (types.ParseCIDR): its defaults count from it, host bits and all.
  const next = ipFromBigint(cidr.family, cidr.address.value + 1n);
  const before = issues.length;
  const gateway = readIp(issues, range.gateway, `${path}.gateway`, cidr.family);
  const start = readIp(issues, range.rangeStart, `${path}.rangeStart`, cidr.family);
  const end = readIp(issues, range.rangeEnd, `${path}.rangeEnd`, cidr.family);
  if (issues.length > before) return undefined;
  for (const [field, ip] of [["gateway", gateway], ["rangeStart", start], ["rangeEnd", end]] as const) {
    if (ip && !inside(ip, cidr, last)) {
      issues.push({ path: `${path}.${field}`, message: `${path}.${field} "${ip.text}" is outside subnet "${cidr.text}"` });
    }
  }
  if (issues.length > before) return undefined;
  const effectiveStart = start ?? next;
  const effectiveEnd = end ?? ipFromBigint(cidr.family, cidr.family === 4 ? last - 1n : last);
  if (effectiveStart.value > effectiveEnd.value) {
    issues.push({ path: `${path}.rangeEnd`, message: `${path}: rangeStart "${effectiveStart.text}" is after rangeEnd "${effectiveEnd.text}"` });
    return undefined;
  }
  return { family: cidr.family, subnet: cidr.text, start: effectiveStart.text, end: effectiveEnd.text, gateway: (gateway ?? next).text, rangeSet };
}

function normaliseSet(issues: RangeSetIssue[], set: unknown, path: string, index: number): NormalisedRange[] {
  if (!Array.isArray(set)) {
    issues.push({ path, message: `${path} must be a list of ranges (a range set), got ${shown(set)}` });
    return [];
  }
  if (set.length > MAX_RANGES_PER_SET) issues.push({ path, message: `${path} has ${set.length} ranges: only the first ${MAX_RANGES_PER_SET} are read` });
  const out: NormalisedRange[] = [];
  set.slice(0, MAX_RANGES_PER_SET).forEach((range, i) => {
    const r = normaliseRange(issues, range, `${path}[${i}]`, index);
    if (r) out.push(r);
  });
  return out;
}

/**
 * Our own output, read back without parseIp's strictness: an IPv6 range may cover the
 * IPv4-mapped block (`::/80` ends at `::ffff:ffff:ffff`), which parseIp refuses as input.
 */
function valueOf(text: string): bigint {
  return fromIpaddr(ipaddr.parse(text)).value;
}

function bounds(r: NormalisedRange): [bigint, bigint] {
  return [valueOf(r.start), valueOf(r.end)];
}

/** host-local refuses overlapping ranges; they are reported here, and both kept so nothing the host holds goes unexplained. */
function findOverlaps(sets: NormalisedRange[][], issues: RangeSetIssue[]): void {
  const all = sets.flat();
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i]!;
      const b = all[j]!;
      if (a.family !== b.family) continue;
      const [as, ae] = bounds(a);
      const [bs, be] = bounds(b);
      if (as <= be && bs <= ae) {
        issues.push({ path: `ranges[${b.rangeSet}]`, message: `range ${b.start}-${b.end} (set ${b.rangeSet}) overlaps range ${a.start}-${a.end} (set ${a.rangeSet})` });
      }
    }
  }
}

/**
 * The ranges of a host-local ipam section (`ranges`, the legacy `subnet`/`rangeStart`/`rangeEnd`/
 * `gateway`, the `ipRanges` capability arg), normalised as host-local does before it allocates.
 * Never throws: what host-local would refuse is in `issues`, the rest is returned.
 */
export function normaliseIpamRanges(ipam: unknown, options: NormaliseIpamOptions = {}): IpamRanges {
  const issues: RangeSetIssue[] = [];
  if (!isObject(ipam)) {
    return { dataDir: undefined, rangeSets: [], issues: [{ path: "ipam", message: `ipam must be an object, got ${shown(ipam)}` }] };
  }
  const dataDir = typeof ipam.dataDir === "string" && ipam.dataDir !== "" ? ipam.dataDir : undefined;
  if (ipam.dataDir !== undefined && typeof ipam.dataDir !== "string") issues.push({ path: "dataDir", message: `dataDir must be a path string, got ${shown(ipam.dataDir)}` });
  // host-local's order (allocator/config.go): runtime ipRanges, then the legacy single range, then `ranges`.
  const sources: { set: unknown; path: string }[] = [];
  if (options.ipRanges !== undefined) {
    if (Array.isArray(options.ipRanges)) options.ipRanges.forEach((set, i) => sources.push({ set, path: `ipRanges[${i}]` }));
    else issues.push({ path: "ipRanges", message: `ipRanges must be a list of range sets, got ${shown(options.ipRanges)}` });
  }
  if (ipam.subnet !== undefined && ipam.subnet !== "") {
    sources.push({ set: [{ subnet: ipam.subnet, rangeStart: ipam.rangeStart, rangeEnd: ipam.rangeEnd, gateway: ipam.gateway }], path: "" });
  }
  if (ipam.ranges !== undefined) {
    if (Array.isArray(ipam.ranges)) ipam.ranges.forEach((set, i) => sources.push({ set, path: `ranges[${i}]` }));
    else issues.push({ path: "ranges", message: `ranges must be a list of range sets (lists of ranges), got ${shown(ipam.ranges)}` });
  }
  if (sources.length > MAX_RANGE_SETS) issues.push({ path: "ranges", message: `${sources.length} range sets: only the first ${MAX_RANGE_SETS} are read` });
  const rangeSets = sources.slice(0, MAX_RANGE_SETS).map(({ set, path }, index) => {
    if (path !== "") return normaliseSet(issues, set, path, index);
    // The legacy range's fields sit on the ipam section itself: its issues name them there.
    const legacy = normaliseRange(issues, (set as unknown[])[0], "ipam", index);
    return legacy ? [legacy] : [];
  });
  findOverlaps(rangeSets, issues);
  return { dataDir, rangeSets, issues };
}

/** A matcher for "which range holds this address", parsed once for many lookups (a data dir of 50,000 leases). */
export function createRangeMatcher(ranges: readonly NormalisedRange[]): (ip: IpAddress) => NormalisedRange | undefined {
  const parsed = ranges.map((r) => ({ range: r, bounds: bounds(r) }));
  return (ip) => parsed.find(({ range, bounds: [s, e] }) => range.family === ip.family && ip.value >= s && ip.value <= e)?.range;
}
