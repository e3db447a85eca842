import { ipFromBigint, parseIp } from "@switchyard/ipam";
import type { IpamNetworkSnapshot, IpamSnapshot } from "@switchyard/api/schemas/ipam";
import { IPAM_REPORT_LIMITS, type IpamReport, type IpamReportNetwork, type ReportedLease, SEEN_IN } from "@switchyard/api/schemas/ipamReport";
import { AGENT_BODY_BUDGET_BYTES } from "@switchyard/api/schemas";
import { sortByAddress } from "./order";

/** A network as the console is told it: its header and one row per address, by address. */
export interface NetworkView {
  networkName: string;
  dataDir: string;
  digest: string;
  findings: IpamNetworkSnapshot["findings"];
  leases: Map<string, ReportedLease>;
}

/** Canonical text of an address or `address/prefix` (results and `ip addr` carry prefixes); null when not an address. */
function canonical(text: string): string | null {
  const parsed = parseIp(text.split("/")[0] ?? "");
  return parsed.ok ? parsed.value.text : null;
}

/**
 * One row per address of a network: a lease file's holder first; the result cache and the
 * namespaces add where else the address was seen, or the address itself when no lease file
 * names it (static IPAM, another plugin's store).
 */
export function networkView(n: IpamNetworkSnapshot): NetworkView {
  const leases = new Map<string, ReportedLease>();
  for (const l of n.leases) leases.set(l.address, { address: l.address, containerId: l.containerId, ifName: l.ifName, seenIn: SEEN_IN.leaseFile });
  const seen = (holder: { containerId: string; ifName: string }, addresses: readonly string[], bit: number) => {
    for (const text of addresses) {
      const address = canonical(text);
      if (!address) continue;
      const row = leases.get(address);
      if (!row) leases.set(address, { address, containerId: holder.containerId, ifName: holder.ifName, seenIn: bit });
      else {
        row.seenIn |= bit;
        // Lease files of plugins before 0.8 name no interface: the cache does.
        if (!row.ifName && row.containerId === holder.containerId) row.ifName = holder.ifName;
      }
    }
  };
  for (const c of n.cached) seen(c, c.addresses, SEEN_IN.resultCache);
  for (const ns of n.namespaces) seen(ns, ns.addresses, SEEN_IN.namespace);
  // Where the holder's namespace is, and whether it lives: the cache's word, for the holder the lease names.
  const holders = new Map(n.cached.map((c) => [`${c.containerId}\0${c.ifName}`, c]));
  const byContainer = new Map(n.cached.map((c) => [c.containerId, c]));
  for (const row of leases.values()) {
    const c = holders.get(`${row.containerId}\0${row.ifName}`) ?? (row.ifName ? undefined : byContainer.get(row.containerId));
    if (!c) continue;
    row.netns = c.netns;
    if (c.netnsAlive !== undefined) row.netnsAlive = c.netnsAlive;
  }
  return { networkName: n.networkName, dataDir: n.dataDir.path, digest: n.digest, findings: n.findings, leases };
}

export function snapshotViews(snapshot: IpamSnapshot): Map<string, NetworkView> {
  return new Map(snapshot.networks.map((n) => [n.networkName, networkView(n)]));
}

const sameLease = (a: ReportedLease, b: ReportedLease) =>
  a.containerId === b.containerId && a.ifName === b.ifName && a.seenIn === b.seenIn && (a.netns ?? "") === (b.netns ?? "") && (a.netnsAlive ?? null) === (b.netnsAlive ?? null);
function ipOf(text: string) {
  const parsed = parseIp(text);
  if (!parsed.ok) throw new Error(`not an address: ${text}`);
  return parsed.value;
}
/** A request's weight: its leases, and its findings twice (a finding's text is about twice a lease's). */
const weightOf = (leases: number, view: NetworkView) => leases + 2 * view.findings.length;

type Header = Omit<IpamReportNetwork, "mode" | "span" | "leases" | "upserted" | "removed">;
const headerOf = (v: NetworkView): Header => ({ networkName: v.networkName, dataDir: v.dataDir, digest: v.digest, leaseCount: v.leases.size, findings: v.findings });

/** Room in a request for what is not a header or a lease: the envelope, the span, `allNetworks`. */
const REQUEST_SLACK_BYTES = 64 * 1024;
const bytesOf = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/**
 * How many of `view`'s leases one request may carry within `maxBytes` (issue 15 §2): 10,000 leases
 * with 64-character container ids and netns paths are 2.2 MB (IPv4) to 2.5 MB (IPv6), over the
 * console's 2 MiB limit, so the count alone did not bound a request. Judged by the longest row, so
 * every part fits whatever rows it gets.
 */
function leasesPerRequest(view: NetworkView, perRequest: number, maxBytes: number): number {
  let longest = 1;
  for (const l of view.leases.values()) longest = Math.max(longest, bytesOf(l) + 1);
  const room = maxBytes - REQUEST_SLACK_BYTES - bytesOf(headerOf(view));
  return Math.max(1, Math.min(perRequest, Math.floor(room / longest)));
}

/** The address just before `address` (a span ends there); the last IPv4 address before IPv6's first. */
function before(address: string): string {
  const ip = ipOf(address);
  if (ip.value === 0n) return ip.family === 6 ? "255.255.255.255" : "0.0.0.0";
  return ipFromBigint(ip.family, ip.value - 1n).text;
}

/**
 * A full report of `views` as requests of at most IPAM_REPORT_LIMITS.leasesPerRequest leases: small
 * networks share a request, a large one goes in parts whose spans cover the whole address space
 * without a gap (each part replaces what lies in its span). The last request names every network.
 */
export function fullReportRequests(views: Map<string, NetworkView>, takenAt: number, perRequest: number = IPAM_REPORT_LIMITS.leasesPerRequest, maxBytes = AGENT_BODY_BUDGET_BYTES): IpamReport[] {
  const parts: Part[] = [];
  for (const view of views.values()) {
    // Each address parsed once, not in every comparison: a comparator that parsed both sides cost
    // 50,000 × log₂ 50,000 parses for a host's lease files in readdir's order.
    const leases = sortByAddress([...view.leases.values()]);
    const per = leasesPerRequest(view, perRequest, maxBytes);
    const chunks: ReportedLease[][] = [];
    for (let i = 0; i < leases.length; i += per) chunks.push(leases.slice(i, i + per));
    if (chunks.length === 0) chunks.push([]);
    chunks.forEach((chunk, i) => {
      const next = chunks[i + 1];
      const span = { from: i === 0 ? null : chunk[0]!.address, to: next ? before(next[0]!.address) : null };
      const network: IpamReportNetwork = { ...headerOf(view), mode: "replace", span, leases: chunk };
      parts.push({ network, size: weightOf(chunk.length, view), bytes: bytesOf(network) });
    });
  }
  const requests = packParts(parts, takenAt, perRequest, maxBytes);
  requests.at(-1)!.allNetworks = [...views.keys()];
  return requests;
}

/** What changed between the views last sent and now, as change requests (none when nothing did). */
export function changeReportRequests(
  sent: Map<string, NetworkView>,
  now: Map<string, NetworkView>,
  takenAt: number,
  perRequest: number = IPAM_REPORT_LIMITS.leasesPerRequest,
  maxBytes = AGENT_BODY_BUDGET_BYTES,
): IpamReport[] {
  const parts: Part[] = [];
  for (const view of now.values()) {
    const old = sent.get(view.networkName);
    const upserted = [...view.leases.values()].filter((l) => {
      const was = old?.leases.get(l.address);
      return !was || !sameLease(was, l);
    });
    const removed = old ? [...old.leases.keys()].filter((a) => !view.leases.has(a)) : [];
    const headerChanged = !old || old.digest !== view.digest || old.dataDir !== view.dataDir || JSON.stringify(old.findings) !== JSON.stringify(view.findings);
    if (upserted.length === 0 && removed.length === 0 && !headerChanged) continue;
    // A removed address is shorter than a row: counted as one, the part stays within the budget.
    const per = leasesPerRequest(view, perRequest, maxBytes);
    for (let i = 0; i < Math.max(1, upserted.length + removed.length); i += per) {
      const up = upserted.slice(i, i + per);
      const rm = removed.slice(Math.max(0, i - upserted.length), Math.max(0, i + per - upserted.length));
      const network: IpamReportNetwork = { ...headerOf(view), mode: "change", upserted: up, removed: rm };
      parts.push({ network, size: weightOf(up.length + rm.length, view), bytes: bytesOf(network) });
    }
  }
  const gone = [...sent.keys()].filter((name) => !now.has(name));
  if (parts.length === 0 && gone.length === 0) return [];
  const requests = packParts(parts, takenAt, perRequest, maxBytes);
  // A network the host no longer has: the console forgets it when told every network there is.
  if (gone.length > 0) requests.at(-1)!.allNetworks = [...now.keys()];
  return requests;
}

type Part = { network: IpamReportNetwork; size: number; bytes: number };

/** Parts in requests of at most `perRequest` leases (by weight), `maxBytes` and IPAM_REPORT_LIMITS.networksPerRequest networks. */
function packParts(parts: Part[], takenAt: number, perRequest: number, maxBytes: number): IpamReport[] {
  const requests: IpamReport[] = [];
  let current: IpamReport = { takenAt, networks: [] };
  let size = 0;
  let bytes = 0;
  for (const part of parts) {
    if (current.networks.length > 0 && (size + part.size > perRequest || bytes + part.bytes > maxBytes - REQUEST_SLACK_BYTES || current.networks.length >= IPAM_REPORT_LIMITS.networksPerRequest)) {
      requests.push(current);
      current = { takenAt, networks: [] };
      size = 0;
      bytes = 0;
    }
    current.networks.push(part.network);
    size += part.size;
    bytes += part.bytes;
  }
  requests.push(current);
  return requests;
}
