import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareIps, ipFromBigint, parseIp } from "@switchyard/ipam";
import type { IpamReport, ReportedLease } from "@switchyard/api/schemas/ipamReport";
import { IpamReport as IpamReportSchema } from "@switchyard/api/schemas/ipamReport";
import { AGENT_BODY_BUDGET_BYTES } from "@switchyard/api/schemas";
import type { IpamNetworkSnapshot } from "@switchyard/api/schemas/ipam";
import { changeReportRequests, fullReportRequests, networkView, type NetworkView } from "./report";

const ip = (t: string) => {
  const p = parseIp(t);
  if (!p.ok) throw new Error(t);
  return p.value;
};

/** The console's ingest semantics (tested on real databases in packages/api): rows by network and address. */
function applyReports(model: Map<string, Map<string, ReportedLease>>, requests: IpamReport[]) {
  for (const r of requests) {
    for (const n of r.networks) {
      const rows = model.get(n.networkName) ?? new Map<string, ReportedLease>();
      model.set(n.networkName, rows);
      if (n.mode === "replace") {
        const inSpan = (a: string) =>
          (n.span.from === null || compareIps(ip(a), ip(n.span.from)) >= 0) && (n.span.to === null || compareIps(ip(a), ip(n.span.to)) <= 0);
        for (const a of [...rows.keys()]) if (inSpan(a)) rows.delete(a);
        for (const l of n.leases) rows.set(l.address, { ...l });
      } else {
        for (const a of n.removed) rows.delete(a);
        for (const l of n.upserted) rows.set(l.address, { ...l });
      }
    }
    if (r.allNetworks) for (const name of [...model.keys()]) if (!r.allNetworks.includes(name)) model.delete(name);
  }
  return model;
}

const plain = (views: Map<string, NetworkView>) =>
  new Map([...views].map(([name, v]) => [name, new Map([...v.leases].map(([a, l]) => [a, { ...l }]))]));
const sorted = (m: Map<string, Map<string, ReportedLease>>) =>
  Object.fromEntries([...m].filter(([, rows]) => rows.size > 0).map(([n, rows]) => [n, [...rows.values()].sort((a, b) => compareIps(ip(a.address), ip(b.address)))]));

const leaseArb = fc.record({
  address: fc.oneof(
    fc.integer({ min: 0, max: 300 }).map((i) => ipFromBigint(4, 0x0a000000n + BigInt(i)).text),
    fc.integer({ min: 0, max: 40 }).map((i) => ipFromBigint(6, 0xfd00n << 112n | BigInt(i)).text),
    fc.constantFrom("0.0.0.0", "::"),
  ),
  containerId: fc.constantFrom("a", "b", "c"),
  ifName: fc.constantFrom("eth0", "eth1"),
  seenIn: fc.integer({ min: 1, max: 7 }),
});
const viewsArb = fc.dictionary(fc.constantFrom("n1", "n2", "n3"), fc.array(leaseArb, { maxLength: 60 })).map((byNet) => {
  const views = new Map<string, NetworkView>();
  for (const [name, leases] of Object.entries(byNet)) {
    views.set(name, { networkName: name, dataDir: "/var/lib/cni/networks", digest: "0".repeat(64), findings: [], leases: new Map(leases.map((l) => [l.address, l])) });
  }
  return views;
});

describe("IPAM report requests", () => {
  it("a full report, in parts of any size, rebuilds exactly the host's view from nothing or from anything", () => {
    fc.assert(
      fc.property(viewsArb, viewsArb, fc.integer({ min: 1, max: 25 }), (stale, views, per) => {
        const requests = fullReportRequests(views, 1, per);
        for (const r of requests) expect(r.networks.reduce((n, x) => n + (x.mode === "replace" ? x.leases.length : 0), 0)).toBeLessThanOrEqual(per);
        expect(sorted(applyReports(new Map(), requests))).toEqual(sorted(plain(views)));
        expect(sorted(applyReports(plain(stale), requests))).toEqual(sorted(plain(views)));
      }),
    );
  });

  it("change reports carry the console from what was sent to what is; none when nothing changed", () => {
    fc.assert(
      fc.property(viewsArb, viewsArb, fc.integer({ min: 1, max: 25 }), (sent, now, per) => {
        const requests = changeReportRequests(sent, now, 2, per);
        expect(sorted(applyReports(plain(sent), requests))).toEqual(sorted(plain(now)));
        expect(changeReportRequests(now, now, 3, per)).toEqual([]);
      }),
    );
  });

  it("keeps every request within the agents' body budget: 10,000 leases with real-sized ids and netns paths do not fit one (issue 15 §2)", () => {
    const hex = (i: number, n: number) => i.toString(16).padStart(n, "0");
    const leases = Array.from({ length: 10_000 }, (_, i): ReportedLease => ({
      address: ipFromBigint(6, (0xfd00_1234_5678_9abcn << 64n) | BigInt(i) * 0x1_0001_0001n).text,
      containerId: hex(i, 64),
      ifName: "eth0",
      seenIn: 7,
      netns: `/var/run/netns/cni-${hex(i, 8)}-1234-5678-9abc-${hex(i, 12)}`,
      netnsAlive: true,
    }));
    const views = new Map<string, NetworkView>([["big", { networkName: "big", dataDir: "/var/lib/cni/networks", digest: "0".repeat(64), findings: [], leases: new Map(leases.map((l) => [l.address, l])) }]]);
    // What one request of all 10,000 would weigh: more than the console's 2 MiB.
    expect(JSON.stringify({ networks: [{ leases }] }).length).toBeGreaterThan(2 * 1024 * 1024);
    const full = fullReportRequests(views, 1);
    const changes = changeReportRequests(new Map(), views, 2);
    for (const r of [...full, ...changes]) {
      expect(Buffer.byteLength(JSON.stringify(r))).toBeLessThanOrEqual(AGENT_BODY_BUDGET_BYTES);
      expect(IpamReportSchema.safeParse(r).success).toBe(true);
    }
    expect(full.length).toBeGreaterThanOrEqual(2);
    expect(sorted(applyReports(new Map(), full))).toEqual(sorted(plain(views)));
    expect(sorted(applyReports(new Map(), changes))).toEqual(sorted(plain(views)));
  });

  it("the requests pass the console's schema", () => {
    const views = new Map<string, NetworkView>([
      ["n1", { networkName: "n1", dataDir: "/var/lib/cni/networks", digest: "0".repeat(64), findings: [], leases: new Map([["10.0.0.2", { address: "10.0.0.2", containerId: "a", ifName: "eth0", seenIn: 1 }]]) }],
    ]);
    for (const r of fullReportRequests(views, 1)) expect(IpamReportSchema.safeParse(r).success).toBe(true);
  });
});

describe("networkView", () => {
  const snapshot = (over: Partial<IpamNetworkSnapshot>): IpamNetworkSnapshot => ({
    networkName: "n", knownFrom: ["console"], ipamType: "host-local", dataDir: { source: "default", path: "/var/lib/cni/networks" },
    ranges: [], leases: [], reservedIps: [], cached: [], namespaces: [], findings: [], digest: "0".repeat(64), entries: 0, truncated: false, ...over,
  });

  it("merges where each address was seen: lease file, result cache, namespace", () => {
    const view = networkView(snapshot({
      leases: [{ address: "10.1.0.2", containerId: "c1", ifName: "", mtimeMs: 1 }],
      cached: [{ containerId: "c1", ifName: "eth0", netns: "/run/netns/x", addresses: ["10.1.0.2/24"] }, { containerId: "c9", ifName: "eth0", netns: "/run/netns/y", addresses: ["10.1.0.9/24"] }],
      namespaces: [{ containerId: "c1", ifName: "eth0", netns: "/run/netns/x", addresses: ["10.1.0.2/24", "fd00:0::5/64"] }],
    }));
    expect([...view.leases.values()]).toEqual([
      // An old lease file names no interface: the cache does.
      { address: "10.1.0.2", containerId: "c1", ifName: "eth0", seenIn: 7, netns: "/run/netns/x" },
      { address: "10.1.0.9", containerId: "c9", ifName: "eth0", seenIn: 2, netns: "/run/netns/y" },
      { address: "fd00::5", containerId: "c1", ifName: "eth0", seenIn: 4, netns: "/run/netns/x" },
    ]);
  });
});
