import { IpamDelta, type IpamNetworkSnapshot, IpamSnapshot } from "@switchyard/api/schemas/ipam";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyIpamDelta, diffIpamSnapshots, isEmptyIpamDelta } from "./delta";
import { compareHolders, compareNames, sortByAddress } from "./order";

// Small pools, so that two snapshots drawn independently share networks, addresses and holders.
const address = fc.oneof(fc.integer({ min: 1, max: 12 }).map((i) => `10.1.0.${i}`), fc.integer({ min: 1, max: 12 }).map((i) => `fd00::${i.toString(16)}`));
const containerId = fc.constantFrom("", "c1", "c2", "c3");
const ifName = fc.constantFrom("", "eth0", "eth1");
const holder = { containerId, ifName };
const lease = fc.record({ address, ...holder, mtimeMs: fc.integer({ min: 0, max: 3 }) });
const addresses = fc.array(fc.constantFrom("10.1.0.5/24", "fd00::5/64", "10.1.0.6/24"), { maxLength: 3 });
const cached = fc.record({ ...holder, netns: fc.constantFrom("/run/netns/a", "/run/netns/b"), addresses });
const finding = fc.record({ kind: fc.constantFrom("symlink" as const, "outside-ranges" as const, "cache-unreadable" as const), file: fc.constantFrom("10.1.0.2", "x"), reason: fc.constantFrom("r1", "r2") });

const uniqueBy = <T>(items: T[], key: (t: T) => string) => [...new Map(items.map((t) => [key(t), t])).values()];

const network = fc
  .record({
    networkName: fc.constantFrom("net-a", "net-b", "net-c", "net-d"),
    knownFrom: fc.constantFrom<("console" | "confDir")[]>(["console"], ["confDir"], ["console", "confDir"]),
    ipamType: fc.constantFrom("host-local", "static", ""),
    dataDir: fc.record({ source: fc.constantFrom("config" as const, "default" as const, "none" as const), path: fc.constantFrom("/var/lib/cni/networks", "") }),
    ranges: fc.constantFrom<IpamNetworkSnapshot["ranges"]>([], [{ family: 4, subnet: "10.1.0.0/24", start: "10.1.0.1", end: "10.1.0.254", gateway: "10.1.0.1", rangeSet: 0 }]),
    leases: fc.array(lease, { maxLength: 12 }),
    reservedIps: fc.array(fc.record({ rangeSet: fc.integer({ min: 0, max: 2 }), address }), { maxLength: 2 }),
    cached: fc.array(cached, { maxLength: 6 }),
    namespaces: fc.array(cached, { maxLength: 3 }),
    findings: fc.array(finding, { maxLength: 3 }),
    digest: fc.constantFrom("a".repeat(64), "b".repeat(64)),
    entries: fc.integer({ min: 0, max: 20 }),
    truncated: fc.boolean(),
  })
  .map(
    (n): IpamNetworkSnapshot => ({
      ...n,
      // As buildIpamSnapshot gives them: one lease per address, one result per holder, in the snapshot's order.
      leases: sortByAddress(uniqueBy(n.leases, (l) => l.address)),
      cached: uniqueBy(n.cached, (c) => `${c.containerId}\0${c.ifName}`).sort(compareHolders),
      namespaces: uniqueBy(n.namespaces, (c) => `${c.containerId}\0${c.ifName}`).sort(compareHolders),
    }),
  );

const snapshot = fc.record({ takenAt: fc.integer({ min: 0, max: 1e12 }), networks: fc.array(network, { maxLength: 4 }) }).map((s) => ({
  takenAt: s.takenAt,
  networks: uniqueBy(s.networks, (n) => n.networkName).sort(compareNames),
}));

describe("diffIpamSnapshots / applyIpamDelta", () => {
  it("generates snapshots the shared schema accepts (the property below tests real shapes)", () => {
    fc.assert(fc.property(snapshot, (s) => {
        expect(IpamSnapshot.parse(s)).toEqual(s);
      }), { numRuns: 200 });
  });

  it("apply(diff(a, b), a) = b, and the delta passes the shared schema", () => {
    fc.assert(
      fc.property(snapshot, snapshot, (a, b) => {
        const delta = diffIpamSnapshots(a, b);
        expect(IpamDelta.safeParse(delta).success).toBe(true);
        expect(applyIpamDelta(a, delta)).toEqual(b);
      }),
      { numRuns: 2000 },
    );
  });

  it("a snapshot against itself is an empty delta; one changed lease is a delta of that lease alone", () => {
    fc.assert(
      fc.property(snapshot, (a) => {
        expect(isEmptyIpamDelta(diffIpamSnapshots(a, { ...a, takenAt: a.takenAt + 1 }))).toBe(true);
      }),
    );
    const a = IpamSnapshot.parse({
      takenAt: 1,
      networks: [
        {
          networkName: "n",
          knownFrom: ["console"],
          ipamType: "host-local",
          dataDir: { source: "default", path: "/var/lib/cni/networks" },
          ranges: [],
          leases: Array.from({ length: 200 }, (_, i) => ({ address: `10.1.${i >> 8}.${(i & 255) + 0}`, containerId: `c${i}`, ifName: "eth0", mtimeMs: 5 })),
          reservedIps: [],
          cached: [],
          namespaces: [],
          findings: [],
          digest: "a".repeat(64),
          entries: 200,
          truncated: false,
        },
      ],
    });
    const [n] = a.networks;
    const b = { takenAt: 2, networks: [{ ...n!, leases: n!.leases.filter((l) => l.address !== "10.1.0.7"), digest: "b".repeat(64), entries: 199 }] };
    expect(diffIpamSnapshots(a, b)).toEqual({
      baseTakenAt: 1,
      takenAt: 2,
      networksRemoved: [],
      networks: [{ networkName: "n", leasesUpserted: [], leasesRemoved: ["10.1.0.7"], cachedUpserted: [], cachedRemoved: [], digest: "b".repeat(64), entries: 199 }],
    });
  });

  it("refuses a delta taken against another snapshot, and a new network that lacks a part", () => {
    const a = { takenAt: 1, networks: [] };
    expect(() => applyIpamDelta(a, { baseTakenAt: 2, takenAt: 3, networksRemoved: [], networks: [] })).toThrow(/against the snapshot of 2, not 1/);
    expect(() =>
      applyIpamDelta(a, { baseTakenAt: 1, takenAt: 3, networksRemoved: [], networks: [{ networkName: "n", leasesUpserted: [], leasesRemoved: [], cachedUpserted: [], cachedRemoved: [] }] }),
    ).toThrow(/new network "n" lacks "knownFrom"/);
  });
});
