import { CanonicalCidr, CanonicalIp, SERVICE_LIMITS } from "@switchyard/dataplane";
import { parseCidr } from "@switchyard/ipam";
import { z } from "zod";
import { NetnsRef, describeFailure, inNetns, ipNetnsArgs, runCommand } from "./command";

/**
 * The routing protocol number on every route the agent installs (`ip route … proto 83`). The
 * kernel does not interpret values above RTPROT_STATIC (4); iproute2's rt_protos and the
 * kernel's rtnetlink.h name 8-18, 42, 99 and 186-192, and Calico's Felix writes 80, so 83
 * (0x53, "S") is free of every routing daemon we know. It is how the agent lists and deletes
 * ONLY its own routes: a route with another protocol is never touched, even in a service CIDR.
 */
export const SWITCHYARD_ROUTE_PROTOCOL = 83;

/**
 * The sink for programmed VIPs (design §8): one end of a veth pair whose peer stays down, so
 * anything routed here is dropped. A `dummy` is the usual sink, but some kernels (this VM's)
 * have no dummy driver. The host's `connect()` to a VIP needs a route, and nat-output's DNAT
 * then reroutes the packet to a member; without the DNAT, nothing leaves.
 */
export const SINK_DEVICE = "sy-svc0";
export const SINK_PEER = "sy-svc0p";

/** What one host's VIP routes must be; the agent passes the union of its desired families, or one family with `family`. */
export const ServiceRoutesInput = z
  .object({
    /** A namespace standing in for the host (tests); the host itself when absent. */
    netns: NetnsRef.optional(),
    /** Manage only this family's routes (the other family's are left as they are). Both when absent. */
    family: z.union([z.literal(4), z.literal(6)]).optional(),
    serviceCidrs: z.array(CanonicalCidr).max(SERVICE_LIMITS.serviceCidrs * 2),
    vips: z.array(CanonicalIp).max(SERVICE_LIMITS.servicesPerHost * 2),
    /** VIPs of services on the proxy plane (issue 14): addresses of the sink, where the proxy listens. */
    proxyVips: z.array(CanonicalIp).max(SERVICE_LIMITS.servicesPerHost * 2).default([]),
  })
  .superRefine((d, ctx) => {
    if (d.family === undefined) return;
    const check = (path: "serviceCidrs" | "vips" | "proxyVips", values: string[]) =>
      values.forEach((v, i) => {
        if (familyOf(v) !== d.family) ctx.addIssue({ code: "custom", path: [path, i], message: `${v} is not IPv${d.family}, the family being programmed` });
      });
    check("serviceCidrs", d.serviceCidrs);
    check("vips", d.vips);
    check("proxyVips", d.proxyVips);
  });
export type ServiceRoutesInput = z.input<typeof ServiceRoutesInput>;

/** One route of ours: a blackhole over a service CIDR, or a VIP's host route on the sink. */
export interface ServiceRoute {
  kind: "blackhole" | "sink";
  /** Canonical `address/prefix` (a VIP as /32 or /128). */
  dst: string;
}

export interface RouteChanges {
  added: ServiceRoute[];
  removed: ServiceRoute[];
  /** Proxy VIPs added to and removed from the sink (as address/prefix). */
  addresses: { added: string[]; removed: string[] };
  device: "created" | "removed" | "unchanged";
  /** Host settings that defeat the sink (the routes are in place, but the host's own connections to VIPs fail). */
  warnings: string[];
}

const familyOf = (text: string): 4 | 6 => (text.includes(":") ? 6 : 4);
const hostRoute = (vip: string) => `${vip}/${familyOf(vip) === 4 ? 32 : 128}`;
const routeKey = (r: ServiceRoute) => `${r.kind} ${r.dst}`;

/**
 * Makes the host's (or `netns`'s) Switchyard routes exactly: `blackhole <cidr>` per service
 * CIDR, `<vip>/32 dev sy-svc0` per programmed VIP, each proxy VIP an address of sy-svc0 (the
 * proxy binds it: local delivery, no NAT, the client's own address seen; the local table's route
 * wins over the CIDR's blackhole), the sink device while any VIP is routed or held.
 * Idempotent; removes only routes carrying SWITCHYARD_ROUTE_PROTOCOL. Bad input is refused
 * before anything changes. Throws when the routes read back differ from what was asked (e.g.
 * a foreign route holds the same prefix), naming them.
 */
export async function ensureServiceRoutes(input: ServiceRoutesInput): Promise<RouteChanges> {
  const parsed = ServiceRoutesInput.safeParse(input);
  if (!parsed.success) throw new Error(`service routes refused: ${z.prettifyError(parsed.error)}`);
  const { netns, family, serviceCidrs, vips, proxyVips } = parsed.data;
  const families: (4 | 6)[] = family === undefined ? [4, 6] : [family];

  const wanted = new Map<string, ServiceRoute>();
  for (const dst of serviceCidrs) wanted.set(`blackhole ${dst}`, { kind: "blackhole", dst });
  for (const vip of vips) wanted.set(`sink ${hostRoute(vip)}`, { kind: "sink", dst: hostRoute(vip) });
  const current = await readServiceRoutes({ netns, family });
  const currentKeys = new Set(current.map(routeKey));
  const removed = current.filter((r) => !wanted.has(routeKey(r)));
  const added = [...wanted.values()].filter((r) => !currentKeys.has(routeKey(r)));

  // The sink serves both families: it stays while either family routes a VIP through it or holds a proxy VIP.
  const other = family === undefined ? null : family === 4 ? 6 : 4;
  const otherFamilySinks = other === null ? [] : (await readServiceRoutes({ netns, family: other })).filter((r) => r.kind === "sink");
  const otherFamilyAddresses = other === null ? [] : await readSinkAddresses(netns, other);
  const needsSink = vips.length > 0 || proxyVips.length > 0 || otherFamilySinks.length > 0 || otherFamilyAddresses.length > 0;
  let device: RouteChanges["device"] = "unchanged";
  if (needsSink && (await ensureSinkDevice(netns))) device = "created";

  const wantedAddresses = new Set(proxyVips.map(hostRoute));
  const currentAddresses = needsSink ? await readSinkAddresses(netns, family) : [];
  const addresses = {
    added: [...wantedAddresses].filter((a) => !currentAddresses.includes(a)),
    removed: currentAddresses.filter((a) => !wantedAddresses.has(a)),
  };
  const lines = [
    ...removed.map((r) => routeLine("del", r)),
    ...added.map((r) => routeLine("add", r)),
    ...addresses.removed.map((a) => `address del ${a} dev ${SINK_DEVICE}`),
    // nodad: an IPv6 VIP is usable at once (no duplicate detection on a link nobody else is on).
    ...addresses.added.map((a) => `address add ${a} dev ${SINK_DEVICE}${a.includes(":") ? " nodad" : ""}`),
  ];
  let batchError = "";
  if (lines.length > 0) {
    // One `ip -batch` for thousands of VIPs; -force runs every line, the read-back below judges.
    const args = [...ipNetnsArgs(netns), "-force", "-batch", "-"];
    const r = await runCommand("ip", args, { input: `${lines.join("\n")}\n`, timeoutMs: 60_000 });
    if (r.code !== 0) batchError = describeFailure("ip", args, r);
  }
  if (!needsSink && (await deleteSinkDevice(netns))) device = "removed";

  // Nothing to add or delete: what was read is what is wanted, no second listing (10k VIPs: ~0.4 s each).
  const after = lines.length === 0 ? currentKeys : new Set((await readServiceRoutes({ netns, family })).map(routeKey));
  const missing = [...wanted.keys()].filter((k) => !after.has(k));
  const stale = [...after].filter((k) => !wanted.has(k));
  if (missing.length > 0 || stale.length > 0) {
    const parts = [missing.length ? `missing ${missing.slice(0, 5).join(", ")}` : "", stale.length ? `still present ${stale.slice(0, 5).join(", ")}` : ""].filter(Boolean);
    throw new Error(`service routes${netns ? ` in netns ${netns}` : ""} not as asked (${parts.join("; ")}): is another route holding the same prefix? ${batchError}`.trim());
  }
  if (addresses.added.length + addresses.removed.length > 0 && needsSink) {
    const held = new Set(await readSinkAddresses(netns, family));
    const absent = [...wantedAddresses].filter((a) => !held.has(a));
    const extra = [...held].filter((a) => !wantedAddresses.has(a));
    if (absent.length > 0 || extra.length > 0) {
      throw new Error(`proxy VIPs on ${SINK_DEVICE}${netns ? ` in netns ${netns}` : ""} not as asked (${[absent.length ? `missing ${absent.slice(0, 5).join(", ")}` : "", extra.length ? `still present ${extra.slice(0, 5).join(", ")}` : ""].filter(Boolean).join("; ")}) ${batchError}`.trim());
    }
  }
  const warnings = needsSink ? await readSinkWarnings(netns, families) : [];
  return { added, removed, addresses, device, warnings };
}

/**
 * The sink's routes carry `linkdown` (its peer is down). A host with
 * `net.ipv{4,6}.conf.all.ignore_routes_with_linkdown=1` skips them in lookups, so a VIP falls
 * into the blackhole and a host process's `connect()` fails with EINVAL (sandboxes are not
 * affected: their DNAT happens before the lookup). The per-device value is ours and set to 0;
 * `all` is the operator's, so it is reported.
 */
async function readSinkWarnings(netns: string | undefined, families: readonly (4 | 6)[]): Promise<string[]> {
  const warnings: string[] = [];
  for (const f of families) {
    const key = `net.ipv${f}.conf.all.ignore_routes_with_linkdown`;
    const [file, args] = inNetns(netns, "sysctl", ["-n", key]);
    const r = await runCommand(file, args);
    if (r.code === 0 && r.stdout.trim() === "1") {
      warnings.push(`${key} is 1: routes on ${SINK_DEVICE} (its peer is down) are ignored, so this host's own connections to VIPs fail with EINVAL; set it to 0 for host access to services`);
    }
  }
  return warnings;
}

/** Removes every Switchyard route (both families) and the sink device: the agent's uninstall. */
export async function removeServiceRoutes(options: { netns?: string } = {}): Promise<RouteChanges> {
  return ensureServiceRoutes({ netns: options.netns, serviceCidrs: [], vips: [] });
}

/** The routes carrying SWITCHYARD_ROUTE_PROTOCOL in the main table, from `ip -json route show proto 83`. */
export async function readServiceRoutes(options: { netns?: string; family?: 4 | 6 } = {}): Promise<ServiceRoute[]> {
  const families: (4 | 6)[] = options.family === undefined ? [4, 6] : [options.family];
  const routes: ServiceRoute[] = [];
  for (const f of families) {
    const family: ServiceRoute[] = [];
    const args = [...ipNetnsArgs(options.netns), "-json", `-${f}`, "route", "show", "table", "main", "proto", String(SWITCHYARD_ROUTE_PROTOCOL)];
    const r = await runCommand("ip", args);
    if (r.code !== 0) throw new Error(describeFailure("ip", args, r));
    for (const raw of IpRouteJson.parse(JSON.parse(r.stdout || "[]"))) {
      const dst = canonicalDst(raw.dst, f);
      // Ours by protocol, whatever their shape: an unexpected one is listed (as a sink unless a
      // blackhole) so that a sync deletes it.
      family.push({ kind: raw.type === "blackhole" ? "blackhole" : "sink", dst });
    }
    routes.push(...family.sort((a, b) => routeKey(a).localeCompare(routeKey(b))));
  }
  return routes;
}

const IpRouteJson = z.array(z.object({ type: z.string().optional(), dst: z.string(), dev: z.string().optional() }).loose());

function canonicalDst(dst: string, family: 4 | 6): string {
  const withPrefix = dst === "default" ? (family === 4 ? "0.0.0.0/0" : "::/0") : dst.includes("/") ? dst : `${dst}/${family === 4 ? 32 : 128}`;
  const parsed = parseCidr(withPrefix);
  return parsed.ok ? parsed.value.text : withPrefix;
}

/** One `ip -batch` line; every value in it was validated as a canonical CIDR. */
function routeLine(verb: "add" | "del", r: ServiceRoute): string {
  const proto = ["proto", String(SWITCHYARD_ROUTE_PROTOCOL)];
  const words = r.kind === "blackhole" ? ["route", verb, "blackhole", r.dst, ...proto] : ["route", verb, r.dst, "dev", SINK_DEVICE, ...proto];
  return words.join(" ");
}

const IpAddrJson = z.array(z.object({ addr_info: z.array(z.object({ family: z.string(), local: z.string(), prefixlen: z.number(), scope: z.string().optional() }).loose()).default([]) }).loose());

/** The proxy VIPs the sink holds (`address/prefix`), of one family or both; none when there is no sink. Link-local addresses are the kernel's. */
async function readSinkAddresses(netns: string | undefined, family: 4 | 6 | undefined): Promise<string[]> {
  const args = [...ipNetnsArgs(netns), "-json", ...(family === undefined ? [] : [`-${family}`]), "addr", "show", "dev", SINK_DEVICE];
  const r = await runCommand("ip", args);
  if (r.code !== 0) {
    if (/does not exist/i.test(r.stderr)) return [];
    throw new Error(describeFailure("ip", args, r));
  }
  const out: string[] = [];
  for (const link of IpAddrJson.parse(JSON.parse(r.stdout || "[]"))) {
    for (const a of link.addr_info) if (a.scope !== "link") out.push(canonicalDst(`${a.local}/${a.prefixlen}`, a.family === "inet6" ? 6 : 4));
  }
  return out.sort();
}

const IpLinkJson = z.array(z.object({ ifname: z.string(), flags: z.array(z.string()).optional(), linkinfo: z.object({ info_kind: z.string().optional() }).loose().optional() }).loose());

async function readSinkDevice(netns: string | undefined): Promise<{ kind?: string; isUp: boolean } | null> {
  const args = [...ipNetnsArgs(netns), "-json", "-d", "link", "show", "dev", SINK_DEVICE];
  const r = await runCommand("ip", args);
  if (r.code !== 0) {
    if (/does not exist/i.test(r.stderr)) return null;
    throw new Error(describeFailure("ip", args, r));
  }
  const [link] = IpLinkJson.parse(JSON.parse(r.stdout || "[]"));
  if (!link) return null;
  return { kind: link.linkinfo?.info_kind, isUp: (link.flags ?? []).includes("UP") };
}

/** Creates the sink (veth, peer down) or brings it up; true when it was created. Refuses a foreign link of that name. */
async function ensureSinkDevice(netns: string | undefined): Promise<boolean> {
  const existing = await readSinkDevice(netns);
  if (existing && existing.kind !== "veth") {
    throw new Error(`link ${SINK_DEVICE} exists and is a ${existing.kind ?? "link of unknown kind"}, not Switchyard's veth sink: rename or delete it`);
  }
  const ip = async (args: string[]) => {
    const full = [...ipNetnsArgs(netns), ...args];
    const r = await runCommand("ip", full);
    if (r.code !== 0) throw new Error(describeFailure("ip", full, r));
  };
  if (!existing) await ip(["link", "add", SINK_DEVICE, "type", "veth", "peer", "name", SINK_PEER]);
  if (!existing?.isUp) await ip(["link", "set", SINK_DEVICE, "up"]);
  if (!existing) {
    // Ours to set: a lookup honours linkdown routes unless this (or `all`) says otherwise.
    for (const f of [4, 6]) {
      const [file, args] = inNetns(netns, "sysctl", ["-q", "-w", `net.ipv${f}.conf.${SINK_DEVICE}.ignore_routes_with_linkdown=0`]);
      const r = await runCommand(file, args);
      // A host without IPv6 has no such key: nothing to set there.
      if (r.code !== 0 && !/cannot stat|No such file/i.test(r.stderr)) throw new Error(describeFailure(file, args, r));
    }
  }
  return !existing;
}

/** Deletes the sink (its peer and routes go with it); true when there was one. Leaves a foreign link of that name alone. */
async function deleteSinkDevice(netns: string | undefined): Promise<boolean> {
  const existing = await readSinkDevice(netns);
  if (!existing || existing.kind !== "veth") return false;
  const args = [...ipNetnsArgs(netns), "link", "del", SINK_DEVICE];
  const r = await runCommand("ip", args);
  if (r.code !== 0 && !/does not exist|Cannot find device/i.test(r.stderr)) throw new Error(describeFailure("ip", args, r));
  return true;
}
