import {
  type Cidr,
  type IpAddress,
  checkRange,
  cidrContains,
  familyBits,
  firstUsable,
  lastUsable,
  parseCidr,
  parseIp,
} from "@switchyard/ipam";
import { FieldReader, type IssueCollector, type JsonObject, got, isObject, show } from "./check";
import type { Conflist, IssuePath } from "./types";
import { compareVersions } from "./versions";

interface IpamContext {
  issues: IssueCollector;
  cniVersion: string | undefined;
}

/** Reads a CIDR; host bits are allowed (CNI's IPAM plugins accept them) and reported as a warning where asked. */
function readCidr(
  ctx: IpamContext,
  value: unknown,
  path: IssuePath,
  field: string,
  hostBits: "warn" | "allow",
): Cidr | undefined {
  if (typeof value !== "string") {
    ctx.issues.error(path, `${field} must be a CIDR string like "10.1.0.0/24", ${got(value)}`);
    return undefined;
  }
  const parsed = parseCidr(value, { allowHostBits: true });
  if (!parsed.ok) {
    ctx.issues.error(path, `${field} ${parsed.error.message}`);
    return undefined;
  }
  if (parsed.value.hasHostBits && hostBits === "warn") {
    ctx.issues.warn(
      path,
      `${field} "${value}" has host bits set: the network is "${parsed.value.text}"; host-local allocates after "${parsed.value.address.text}", write "${parsed.value.text}" to use the whole subnet`,
    );
  }
  return parsed.value;
}

function readIp(ctx: IpamContext, value: unknown, path: IssuePath, field: string): IpAddress | undefined {
  if (typeof value !== "string") {
    ctx.issues.error(path, `${field} must be an IP address string, ${got(value)}`);
    return undefined;
  }
  const parsed = parseIp(value);
  if (!parsed.ok) {
    ctx.issues.error(path, `${field} ${parsed.error.message}`);
    return undefined;
  }
  return parsed.value;
}

function checkGatewayInside(ctx: IpamContext, gateway: IpAddress, subnet: Cidr, path: IssuePath, subnetText: string): void {
  if (gateway.family !== subnet.family) {
    ctx.issues.error(path, `gateway "${gateway.text}" is IPv${gateway.family} but subnet "${subnetText}" is IPv${subnet.family}`);
  } else if (!cidrContains(subnet, gateway)) {
    ctx.issues.error(path, `gateway "${gateway.text}" is outside subnet "${subnetText}": pick an address inside it`);
  }
}

interface CheckedRange {
  subnet: Cidr;
  /** The addresses host-local may hand out from it: rangeStart..rangeEnd, by default the subnet's usable ones. */
  first: IpAddress;
  last: IpAddress;
  path: IssuePath;
}

function validateHostLocalRange(ctx: IpamContext, range: unknown, path: IssuePath): CheckedRange | undefined {
  if (!isObject(range)) {
    ctx.issues.error(path, `range must be an object like {"subnet": "10.1.0.0/24"}, ${got(range)}`);
    return undefined;
  }
  if (!Object.hasOwn(range, "subnet")) {
    ctx.issues.error([...path, "subnet"], `subnet is required in every range, like "10.1.0.0/24"`);
    return undefined;
  }
  const subnetPath = [...path, "subnet"];
  const subnet = readCidr(ctx, range.subnet, subnetPath, "subnet", "warn");
  for (const key of ["rangeStart", "rangeEnd", "gateway"] as const) {
    if (Object.hasOwn(range, key)) readIp(ctx, range[key], [...path, key], key);
  }
  if (!subnet) return undefined;
  const subnetText = range.subnet as string;
  const bits = familyBits(subnet.family);
  if (subnet.prefixLength > bits - 2) {
    ctx.issues.error(
      subnetPath,
      `subnet "${subnetText}" is too small to allocate from: host-local needs a prefix of /${bits - 2} or shorter`,
    );
    return undefined;
  }
  if (typeof range.gateway === "string") {
    const gateway = parseIp(range.gateway);
    if (gateway.ok) checkGatewayInside(ctx, gateway.value, subnet, [...path, "gateway"], subnetText);
  }
  const start = typeof range.rangeStart === "string" && parseIp(range.rangeStart).ok ? range.rangeStart : undefined;
  const end = typeof range.rangeEnd === "string" && parseIp(range.rangeEnd).ok ? range.rangeEnd : undefined;
  for (const issue of checkRange({ subnet, rangeStart: start, rangeEnd: end })) {
    ctx.issues.error([...path, issue.field], issue.message.replace(`"${subnet.text}"`, `"${subnetText}"`));
  }
  const first = start ? (parseIp(start) as { ok: true; value: IpAddress }).value : firstUsable(subnet);
  const last = end ? (parseIp(end) as { ok: true; value: IpAddress }).value : lastUsable(subnet);
  return { subnet, first, last, path: subnetPath };
}

function validateRoutes(ctx: IpamContext, reader: FieldReader): void {
  const routes = reader.array("routes");
  routes?.forEach((route, index) => {
    const path = [...reader.at("routes"), index];
    if (!isObject(route)) {
      ctx.issues.error(path, `route must be an object like {"dst": "0.0.0.0/0"}, ${got(route)}`);
      return;
    }
    if (!Object.hasOwn(route, "dst")) {
      ctx.issues.error([...path, "dst"], `dst is required in every route, like "0.0.0.0/0"`);
      return;
    }
    const dst = readCidr(ctx, route.dst, [...path, "dst"], "dst", "allow");
    if (Object.hasOwn(route, "gw")) {
      const gw = readIp(ctx, route.gw, [...path, "gw"], "gw");
      if (gw && dst && gw.family !== dst.family) {
        ctx.issues.error([...path, "gw"], `gw "${gw.text}" is IPv${gw.family} but dst ${show(route.dst)} is IPv${dst.family}`);
      }
    }
    const r = new FieldReader(ctx.issues, route, path);
    r.integer("mtu", 0, 65535);
    r.integer("advmss", 0, 65535);
    r.integer("priority", 0, 4294967295);
    r.integer("table", 0, 4294967295);
    r.integer("scope", 0, 255);
  });
}

function validateHostLocal(ctx: IpamContext, ipam: JsonObject, path: IssuePath): void {
  const reader = new FieldReader(ctx.issues, ipam, path);
  const sets: CheckedRange[][] = [];
  if (Object.hasOwn(ipam, "subnet")) {
    // The legacy single range sits directly in ipam; host-local prepends it to `ranges`.
    const checked = validateHostLocalRange(ctx, ipam, path);
    sets.push(checked ? [checked] : []);
  } else {
    for (const key of ["rangeStart", "rangeEnd", "gateway"]) {
      if (Object.hasOwn(ipam, key)) ctx.issues.error(reader.at(key), `${key} needs a "subnet" next to it (or move it into "ranges")`);
    }
  }
  const ranges = reader.array("ranges");
  ranges?.forEach((set, setIndex) => {
    const setPath = [...reader.at("ranges"), setIndex];
    if (!Array.isArray(set)) {
      ctx.issues.error(setPath, `each entry of ranges must be an array of ranges (a range set), ${got(set)}`);
      return;
    }
    if (set.length === 0) {
      ctx.issues.error(setPath, `range set ${setIndex} is empty: give at least one {"subnet": …}`);
      return;
    }
    const checked = set
      .map((range, i) => validateHostLocalRange(ctx, range, [...setPath, i]))
      .filter((r): r is CheckedRange => r !== undefined);
    const family = checked[0]?.subnet.family;
    const mixed = checked.find((r) => r.subnet.family !== family);
    if (mixed) {
      ctx.issues.error(
        setPath,
        `range set ${setIndex} mixes IPv4 and IPv6 subnets: one range set is one family, put the IPv${mixed.subnet.family} subnet "${mixed.subnet.text}" in its own set`,
      );
      return;
    }
    sets.push(checked);
  });
  if (!Object.hasOwn(ipam, "subnet") && (!ranges || ranges.length === 0)) {
    ctx.issues.error(reader.at("ranges"), `host-local needs at least one range: add "ranges": [[{"subnet": "10.1.0.0/24"}]]`);
  }
  // host-local refuses overlapping ranges, within a set and between sets: ranges whose addresses
  // (rangeStart..rangeEnd) meet, as its Range.Overlaps judges. Two ranges of one subnet that split
  // it (what a reservation's hole makes) do not.
  const all = sets.flat();
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i];
      const b = all[j];
      if (a && b && a.subnet.family === b.subnet.family && a.first.value <= b.last.value && b.first.value <= a.last.value) {
        const what = (r: CheckedRange) => `subnet "${r.subnet.text}" (${r.first.text}–${r.last.text})`;
        ctx.issues.error(b.path, `${what(b)} overlaps ${what(a)} of this same ipam: host-local refuses overlapping ranges`);
      }
    }
  }
  if (ctx.cniVersion && /^\d+\.\d+\.\d+$/.test(ctx.cniVersion) && compareVersions(ctx.cniVersion, "0.3.0") < 0) {
    for (const family of [4, 6] as const) {
      if (sets.filter((s) => s[0]?.subnet.family === family).length > 1) {
        ctx.issues.error(reader.at("ranges"), `cniVersion "${ctx.cniVersion}" allows one IPv${family} range set: use cniVersion 0.3.0 or later for more`);
      }
    }
  }
  validateRoutes(ctx, reader);
  reader.string("dataDir", (v) => (v.startsWith("/") && !v.split("/").includes("..") ? undefined : 'must be an absolute path without ".."'));
  reader.string("resolvConf", (v) => (v.startsWith("/") && !v.split("/").includes("..") ? undefined : 'must be an absolute path without ".."'));
}

function validateStatic(ctx: IpamContext, ipam: JsonObject, path: IssuePath): void {
  const reader = new FieldReader(ctx.issues, ipam, path);
  const addresses = reader.array("addresses");
  addresses?.forEach((entry, index) => {
    const entryPath = [...reader.at("addresses"), index];
    if (!isObject(entry)) {
      ctx.issues.error(entryPath, `address entry must be an object like {"address": "10.1.0.5/24"}, ${got(entry)}`);
      return;
    }
    if (!Object.hasOwn(entry, "address")) {
      ctx.issues.error([...entryPath, "address"], `address is required, like "10.1.0.5/24"`);
      return;
    }
    // A static address carries its host part by design ("10.1.0.5/24").
    const cidr = readCidr(ctx, entry.address, [...entryPath, "address"], "address", "allow");
    if (Object.hasOwn(entry, "gateway")) {
      const gateway = readIp(ctx, entry.gateway, [...entryPath, "gateway"], "gateway");
      if (gateway && cidr) checkGatewayInside(ctx, gateway, cidr, [...entryPath, "gateway"], cidr.text);
    }
  });
  validateRoutes(ctx, reader);
}

/** Checks an `ipam` object; host-local and static get their documented rules, others only the generic ones. */
export function validateIpamConfig(
  issues: IssueCollector,
  ipam: JsonObject,
  path: IssuePath,
  cniVersion: string | undefined,
): void {
  const ctx: IpamContext = { issues, cniVersion };
  if (ipam.type === "host-local") validateHostLocal(ctx, ipam, path);
  else if (ipam.type === "static") validateStatic(ctx, ipam, path);
}

export interface SubnetRef {
  path: IssuePath;
  cidr: Cidr;
}

/** Every well-formed IPAM subnet of a conflist, with where it sits. */
export function collectSubnets(conflist: Conflist): SubnetRef[] {
  const out: SubnetRef[] = [];
  const add = (value: unknown, path: IssuePath) => {
    if (typeof value !== "string") return;
    const parsed = parseCidr(value, { allowHostBits: true });
    if (parsed.ok) out.push({ path, cidr: parsed.value });
  };
  conflist.plugins.forEach((plugin, index) => {
    const ipam = plugin.ipam;
    if (!isObject(ipam)) return;
    const base: IssuePath = ["plugins", index, "ipam"];
    if (ipam.type === "host-local") {
      add(ipam.subnet, [...base, "subnet"]);
      if (Array.isArray(ipam.ranges)) {
        ipam.ranges.forEach((set: unknown, s: number) => {
          if (!Array.isArray(set)) return;
          set.forEach((range: unknown, r: number) => {
            if (isObject(range)) add(range.subnet, [...base, "ranges", s, r, "subnet"]);
          });
        });
      }
    } else if (ipam.type === "static" && Array.isArray(ipam.addresses)) {
      ipam.addresses.forEach((entry: unknown, a: number) => {
        if (isObject(entry)) add(entry.address, [...base, "addresses", a, "address"]);
      });
    }
  });
  return out;
}
