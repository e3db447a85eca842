import { parseCidr, parseIp } from "@switchyard/ipam";
import { CNI_ERROR_CODES, CniError } from "../errors";
import { SUPPORTED_CNI_VERSIONS, compareVersions, isSupportedCniVersion } from "../config/versions";
import type { CniDns, CniInterface, CniIpConfig, CniResult, CniRoute, VersionedResult } from "./types";

/** The version every result is converted to inside the runtime. */
export const LATEST_CNI_VERSION = "1.1.0";

/**
 * Result formats, as in libcni's pkg/types: 0.1.0 and 0.2.0 share types020 (ip4/ip6),
 * 0.3.0–0.4.0 share types040 (ips with "version"), 1.0.0 and 1.1.0 share types100.
 */
export type ResultFormat = "020" | "040" | "100";

export function resultFormat(version: string): ResultFormat {
  if (compareVersions(version, "0.3.0") < 0) return "020";
  if (compareVersions(version, "1.0.0") < 0) return "040";
  return "100";
}

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function bad(where: string, what: string): CniError {
  return new CniError(CNI_ERROR_CODES.decodeFailure, "invalid result", `${where}: ${what}`, { reason: "badResult" });
}

/** A string field; JSON null reads as absent (Go's decoder leaves the field empty, so libcni accepts it). */
function str(obj: Obj, key: string, where: string, required = false): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null || (value === "" && !required)) {
    if (required) throw bad(`${where}.${key}`, "is required");
    return undefined;
  }
  if (typeof value !== "string") throw bad(`${where}.${key}`, `must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function int(obj: Obj, key: string, where: string): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw bad(`${where}.${key}`, `must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function list(obj: Obj, key: string, where: string): unknown[] {
  const value = obj[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw bad(`${where}.${key}`, "must be an array");
  return value;
}

function cidr(text: string, where: string): 4 | 6 {
  const parsed = parseCidr(text, { allowHostBits: true });
  if (!parsed.ok) throw bad(where, parsed.error.message);
  return parsed.value.family;
}

function ip(text: string | undefined, where: string): string | undefined {
  if (text === undefined) return undefined;
  const parsed = parseIp(text);
  if (!parsed.ok) throw bad(where, parsed.error.message);
  return text;
}

function stringList(obj: Obj, key: string, where: string): string[] | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw bad(`${where}.${key}`, "must be an array of strings");
  return value as string[];
}

function readDns(value: unknown): CniDns | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObj(value)) throw bad("dns", "must be an object");
  const dns: CniDns = {};
  const nameservers = stringList(value, "nameservers", "dns");
  const domain = str(value, "domain", "dns");
  const search = stringList(value, "search", "dns");
  const options = stringList(value, "options", "dns");
  if (nameservers?.length) dns.nameservers = nameservers;
  if (domain) dns.domain = domain;
  if (search?.length) dns.search = search;
  if (options?.length) dns.options = options;
  return Object.keys(dns).length > 0 ? dns : undefined;
}

function readRoute(value: unknown, where: string, extended: boolean): CniRoute {
  if (!isObj(value)) throw bad(where, "must be an object");
  const dst = str(value, "dst", where, true)!;
  cidr(dst, `${where}.dst`);
  const route: CniRoute = { dst };
  const gw = ip(str(value, "gw", where), `${where}.gw`);
  if (gw) route.gw = gw;
  if (extended) {
    for (const key of ["mtu", "advmss", "priority", "table", "scope"] as const) {
      const n = int(value, key, where);
      if (n !== undefined) route[key] = n;
    }
  }
  return route;
}

function readInterface(value: unknown, where: string, extended: boolean): CniInterface {
  if (!isObj(value)) throw bad(where, "must be an object");
  const out: CniInterface = { name: str(value, "name", where, true)! };
  const mac = str(value, "mac", where);
  if (mac) out.mac = mac;
  const sandbox = str(value, "sandbox", where);
  if (sandbox) out.sandbox = sandbox;
  if (extended) {
    const mtu = int(value, "mtu", where);
    if (mtu) out.mtu = mtu;
    const socketPath = str(value, "socketPath", where);
    if (socketPath) out.socketPath = socketPath;
    const pciID = str(value, "pciID", where);
    if (pciID) out.pciID = pciID;
  }
  return out;
}

function fromFormat020(obj: Obj): CniResult {
  const out: CniResult = { cniVersion: LATEST_CNI_VERSION };
  const ips: CniIpConfig[] = [];
  const routes: CniRoute[] = [];
  for (const key of ["ip4", "ip6"] as const) {
    const block = obj[key];
    if (block === undefined || block === null) continue;
    if (!isObj(block)) throw bad(key, "must be an object");
    const address = str(block, "ip", key, true)!;
    const family = cidr(address, `${key}.ip`);
    if (family !== (key === "ip4" ? 4 : 6)) throw bad(`${key}.ip`, `"${address}" is not an IPv${key === "ip4" ? 4 : 6} address`);
    const config: CniIpConfig = { address };
    const gateway = ip(str(block, "gateway", key), `${key}.gateway`);
    if (gateway) config.gateway = gateway;
    ips.push(config);
    list(block, "routes", key).forEach((r, i) => routes.push(readRoute(r, `${key}.routes[${i}]`, false)));
  }
  if (ips.length > 0) out.ips = ips;
  if (routes.length > 0) out.routes = routes;
  const dns = readDns(obj.dns);
  if (dns) out.dns = dns;
  return out;
}

function fromFormat040or100(obj: Obj, format: "040" | "100", extended: boolean, onIssue?: (issue: CniError) => void): CniResult {
  const out: CniResult = { cniVersion: LATEST_CNI_VERSION };
  const interfaces = list(obj, "interfaces", "result").map((v, i) => readInterface(v, `interfaces[${i}]`, extended));
  const ips = list(obj, "ips", "result").map((v, i): CniIpConfig => {
    const where = `ips[${i}]`;
    if (!isObj(v)) throw bad(where, "must be an object");
    const address = str(v, "address", where, true)!;
    const family = cidr(address, `${where}.address`);
    if (format === "040" && v.version !== undefined && v.version !== String(family)) {
      throw bad(`${where}.version`, `is ${JSON.stringify(v.version)} but the address "${address}" is IPv${family}`);
    }
    const config: CniIpConfig = { address };
    const gateway = ip(str(v, "gateway", where), `${where}.gateway`);
    if (gateway) config.gateway = gateway;
    const index = v.interface;
    if (index !== undefined && index !== null) {
      if (typeof index !== "number" || !Number.isSafeInteger(index)) throw bad(`${where}.interface`, `must be an integer, got ${JSON.stringify(index)}`);
      // libcni keeps an index that names no interface (Go's *int takes any integer): reported, kept as given.
      if (index < 0 || index >= interfaces.length) onIssue?.(bad(`${where}.interface`, `index ${index} names none of the ${interfaces.length} interfaces`));
      config.interface = index;
    }
    return config;
  });
  const routes = list(obj, "routes", "result").map((v, i) => readRoute(v, `routes[${i}]`, extended));
  if (interfaces.length > 0) out.interfaces = interfaces;
  if (ips.length > 0) out.ips = ips;
  if (routes.length > 0) out.routes = routes;
  const dns = readDns(obj.dns);
  if (dns) out.dns = dns;
  return out;
}

/**
 * Reads a result of any supported version and converts it to the 1.1.0 shape. A result
 * without cniVersion is read as `defaultVersion` (libcni does the same: containernetworking/cni#895).
 * Accepts what libcni accepts: null in optional fields reads as absent; an ip's interface index
 * naming no interface is kept and passed to `onIssue` instead of failing.
 */
export function parseResult(value: unknown, defaultVersion: string, onIssue?: (issue: CniError) => void): CniResult {
  if (!isObj(value)) throw bad("result", "must be a JSON object");
  const version = value.cniVersion === undefined || value.cniVersion === "" ? defaultVersion : value.cniVersion;
  if (typeof version !== "string" || !isSupportedCniVersion(version)) {
    throw new CniError(
      CNI_ERROR_CODES.incompatibleVersion,
      "unsupported result version",
      `result cniVersion ${JSON.stringify(version)} is not one of ${SUPPORTED_CNI_VERSIONS.join(", ")}`,
      { reason: "badResult" },
    );
  }
  const format = resultFormat(version);
  if (format === "020") return fromFormat020(value);
  return fromFormat040or100(value, format, version === "1.1.0", onIssue);
}

function route020(route: CniRoute): Obj {
  return route.gw ? { dst: route.dst, gw: route.gw } : { dst: route.dst };
}

function routeFor(route: CniRoute, extended: boolean): Obj {
  if (!extended) return route020(route);
  return { ...route };
}

function familyOf(address: string): 4 | 6 {
  return address.includes(":") ? 6 : 4;
}

/**
 * Converts a 1.1.0-shaped result to what a plugin or reader of `toVersion` expects,
 * following libcni's convertTo02x/convertTo04x. What is lost going down:
 * - to 1.0.0: interface mtu, socketPath, pciID and route mtu, advmss, priority, table,
 *   scope (fields added in 1.1.0; libcni keeps them because its structs are shared, we
 *   follow the spec, which defines them from 1.1.0 on);
 * - to 0.3.0–0.4.0: the same, plus each ip gains the "version" field;
 * - to 0.1.0/0.2.0: interfaces and the ips' interface indexes, every address but the first
 *   IPv4 and the first IPv6, and routes whose family has no address; at least one address
 *   is required, as in libcni ("cannot convert: no valid IP addresses").
 */
export function convertResult(result: CniResult, toVersion: string): VersionedResult {
  if (!isSupportedCniVersion(toVersion)) {
    throw new CniError(CNI_ERROR_CODES.incompatibleVersion, "unsupported result version", `cannot convert a result to ${JSON.stringify(toVersion)}`);
  }
  const format = resultFormat(toVersion);
  const extended = toVersion === "1.1.0";
  if (format === "020") {
    const out: VersionedResult = { cniVersion: toVersion };
    const ip4 = result.ips?.find((i) => familyOf(i.address) === 4);
    const ip6 = result.ips?.find((i) => familyOf(i.address) === 6);
    if (!ip4 && !ip6) {
      throw new CniError(CNI_ERROR_CODES.incompatibleVersion, "cannot convert result", `a ${toVersion} result needs at least one IP address`);
    }
    for (const [key, entry, family] of [["ip4", ip4, 4], ["ip6", ip6, 6]] as const) {
      if (!entry) continue;
      const block: Obj = { ip: entry.address };
      if (entry.gateway) block.gateway = entry.gateway;
      const routes = (result.routes ?? []).filter((r) => familyOf(r.dst) === family).map(route020);
      if (routes.length > 0) block.routes = routes;
      out[key] = block;
    }
    if (result.dns) out.dns = { ...result.dns };
    return out;
  }
  const out: VersionedResult = { cniVersion: toVersion };
  if (result.interfaces?.length) {
    out.interfaces = result.interfaces.map((i) => {
      if (extended) return { ...i };
      const o: Obj = { name: i.name };
      if (i.mac) o.mac = i.mac;
      if (i.sandbox) o.sandbox = i.sandbox;
      return o;
    });
  }
  if (result.ips?.length) {
    out.ips = result.ips.map((i) => {
      const o: Obj = format === "040" ? { version: String(familyOf(i.address)), address: i.address } : { address: i.address };
      if (i.gateway) o.gateway = i.gateway;
      if (i.interface !== undefined) o.interface = i.interface;
      return o;
    });
  }
  if (result.routes?.length) out.routes = result.routes.map((r) => routeFor(r, extended));
  if (result.dns) out.dns = { ...result.dns };
  return out;
}

/** Reads a result of any version and returns it as `toVersion` would carry it. */
export function convertResultVersion(value: unknown, defaultVersion: string, toVersion: string): VersionedResult {
  return convertResult(parseResult(value, defaultVersion), toVersion);
}
