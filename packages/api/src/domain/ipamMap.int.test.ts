import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestNetworkLeases, SEEN_IN, type ReportedLease } from "./ipamIngest";
import { readIpamAddress, readIpamMap, searchIpamAddress } from "./ipamMap";
import { readIpamSummary, USAGE_HOURS } from "./ipamSummary";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "../testing";

// Issue 11 items 2-3: the map's data, one address, and "who holds / held A".
let t: ApiTest;
const hosts: { id: string; name: string }[] = [];
let bridgeId: string;
let macvlanId: string;
let liveContainer: string;

const MACVLAN = (name: string, subnet: string) =>
  JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "macvlan", master: "sy-dummy0", ipam: { type: "host-local", ranges: [[{ subnet }]] } }] }, null, 2);
const lease = (address: string, containerId: string): ReportedLease => ({ address, containerId, ifName: "eth0", seenIn: SEEN_IN.leaseFile });
const report = (networkName: string, leases: ReportedLease[]) => ({
  networkName, dataDir: "/var/lib/cni/networks", digest: "x", leaseCount: leases.length, findings: [], mode: "replace" as const, leases,
});

beforeAll(async () => {
  t = await setupApiTest();
  const admin = await t.callerAs("admin", "ada");
  const operator = await t.callerAs("operator", "otto");
  bridgeId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("map-br", "10.85.0.0/16", "10.85.0.1"), comment: "" })).id;
  macvlanId = (await operator.caller.networks.create({ text: MACVLAN("map-mv", "10.86.0.0/24"), comment: "" })).id;
  for (const name of ["map-a", "map-b"]) {
    const { token } = await admin.caller.hosts.createJoinToken({ note: name, ttlMinutes: 10 });
    const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname: name, agentVersion: "test" });
    hosts.push({ id: enrolled.hostId, name });
  }
  const { attachment } = await operator.caller.attachments.create({ hostId: hosts[0]!.id, networkId: bridgeId, target: { kind: "sandbox", name: "sy-map-1" } });
  liveContainer = attachment.containerId;
  await ingestNetworkLeases(t.db, hosts[0]!, report("map-br", [lease("10.85.0.2", liveContainer), lease("10.85.0.3", "gone-1"), lease("10.85.7.9", "gone-2")]));
  await ingestNetworkLeases(t.db, hosts[1]!, report("map-br", [lease("10.85.0.3", "other-host")]));
  await ingestNetworkLeases(t.db, hosts[0]!, report("map-mv", [lease("10.86.0.5", "mv-a")]));
  await ingestNetworkLeases(t.db, hosts[1]!, report("map-mv", [lease("10.86.0.5", "mv-b"), lease("10.86.0.6", "mv-c")]));
});
afterAll(() => t?.close());

describe("readIpamMap", () => {
  it("a /24 is a grid: each held address with its holders, live when its attachment is known", async () => {
    const map = await readIpamMap(t.db, bridgeId, "10.85.0.0/24");
    expect(map.kind).toBe("grid");
    if (map.kind !== "grid") return;
    expect(map.cells.map((c) => [c.address, c.status, c.holders.map((h) => h.hostName)])).toEqual([
      ["10.85.0.2", "live", ["map-a"]],
      // A bridge is per host: one address on two hosts is no conflict.
      ["10.85.0.3", "suspect", ["map-a", "map-b"]],
    ]);
    expect(map.cells[0]!.holders[0]).toMatchObject({ containerId: liveContainer, ifName: "eth0", attachmentState: "pending" });
  });

  it("a /16 is a heatmap of /24 blocks, sent sparse", async () => {
    const map = await readIpamMap(t.db, bridgeId, "10.85.0.0/16");
    expect(map).toEqual({
      kind: "blocks",
      cidr: "10.85.0.0/16",
      reservations: [],
      blockPrefix: 24,
      blocks: [
        { block: "10.85.0.0/24", leased: 2, live: 1, suspect: 1, conflict: 0 },
        { block: "10.85.7.0/24", leased: 1, live: 0, suspect: 1, conflict: 0 },
      ],
    });
  });

  it("one address on two hosts of a macvlan network is a conflict", async () => {
    const map = await readIpamMap(t.db, macvlanId, "10.86.0.0/24");
    if (map.kind !== "grid") throw new Error("expected a grid");
    expect(map.cells.map((c) => [c.address, c.status, c.holders.length])).toEqual([
      ["10.86.0.5", "conflict", 2],
      ["10.86.0.6", "suspect", 1],
    ]);
  });

  it("a network that does not exist is NOT_FOUND", async () => {
    await expect(readIpamMap(t.db, "nope", "10.85.0.0/24")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("one address and the search", () => {
  it("an address shows its holders now and its history", async () => {
    const one = await readIpamAddress(t.db, bridgeId, "10.85.0.3");
    expect(one.holders.map((h) => [h.hostName, h.containerId])).toEqual([
      ["map-a", "gone-1"],
      ["map-b", "other-host"],
    ]);
    expect(one.history.map((e) => [e.kind, e.hostName, e.containerId]).sort()).toEqual([
      ["allocated", "map-a", "gone-1"],
      ["allocated", "map-b", "other-host"],
    ]);
  });

  it("who holds A now, and who held A at T", async () => {
    const before = new Date();
    await new Promise((r) => setTimeout(r, 5));
    await ingestNetworkLeases(t.db, hosts[0]!, report("map-br", [lease("10.85.0.2", liveContainer), lease("10.85.7.9", "gone-2")]));
    const now = await searchIpamAddress(t.db, "10.85.0.3");
    expect(now.map((h) => [h.networkName, h.hostName, h.containerId])).toEqual([["map-br", "map-b", "other-host"]]);
    const then = await searchIpamAddress(t.db, "10.85.0.3", before);
    expect(then.map((h) => [h.networkName, h.hostName, h.containerId])).toEqual([
      ["map-br", "map-a", "gone-1"],
      ["map-br", "map-b", "other-host"],
    ]);
    expect(then[0]!.networkId).toBe(bridgeId);
  });
});

describe("the ipam procedures", () => {
  it("a viewer reads the map; bad input is refused with what was wrong", async () => {
    const viewer = await t.callerAs("viewer", "vic");
    const map = await viewer.caller.ipam.map({ networkId: bridgeId, cidr: "10.85.0.77/24" });
    expect(map.cidr).toBe("10.85.0.0/24");
    await expect(viewer.caller.ipam.map({ networkId: bridgeId, cidr: "10.0.0.0/7" })).rejects.toThrow(/larger than a \/8/);
    await expect(viewer.caller.ipam.address({ networkId: bridgeId, address: "10.85.0.300" })).rejects.toThrow(/not a valid IPv4 address/);
    const found = await viewer.caller.ipam.search({ address: "10.85.0.2" });
    expect(found.map((h) => h.containerId)).toEqual([liveContainer]);
  });

  it("no session, no map", async () => {
    await expect(t.anonymous.ipam.map({ networkId: bridgeId, cidr: "10.85.0.0/24" })).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });
});

describe("the network's summary", () => {
  it("counts each subnet's leases, live and suspect, per host, and the use over the last hours", async () => {
    const summary = await readIpamSummary(t.db, bridgeId);
    expect(summary.subnets).toEqual([{ cidr: "10.85.0.0/16", usable: 65_534, leased: 3, live: 1, suspect: 2, reserved: 0 }]);
    expect(summary.hosts.map((h) => [h.hostName, h.leases])).toEqual([
      ["map-a", 2],
      ["map-b", 1],
    ]);
    expect(summary.usage).toHaveLength(USAGE_HOURS);
    // 4 allocations and 1 release on this network, all within this hour: 3 held now, none before.
    expect(summary.usage.at(-1)!.leases).toBe(3);
    expect(summary.usage.at(-2)!.leases).toBe(0);
  });
});

// The reads count a network one host reports in one pass (each address is one row): the same
// figures as the per-address path above, reservation files left out of the leases.
describe("a network one host reports", () => {
  let v4Id: string;
  let v6Id: string;
  beforeAll(async () => {
    const operator = await t.callerAs("operator", "olga");
    v4Id = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("map-one", "10.87.0.0/16", "10.87.0.1"), comment: "" })).id;
    v6Id = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("map-one6", "fd00:87::/64", "fd00:87::1"), comment: "" })).id;
    const { attachment } = await operator.caller.attachments.create({ hostId: hosts[0]!.id, networkId: v4Id, target: { kind: "sandbox", name: "sy-map-one" } });
    await ingestNetworkLeases(t.db, hosts[0]!, report("map-one", [
      lease("10.87.0.2", attachment.containerId), lease("10.87.0.3", "gone-3"), lease("10.87.0.9", "switchyard-reservation"), lease("10.87.255.254", "gone-4"),
    ]));
    await ingestNetworkLeases(t.db, hosts[0]!, report("map-one6", [lease("fd00:87::2", "v6-a"), lease("fd00:87::3", "v6-b"), lease("fd00:87::100:0:0:5", "v6-c")]));
  });

  it("an IPv4 heatmap counts each /24's leases, live and suspect, in address order", async () => {
    const map = await readIpamMap(t.db, v4Id, "10.87.0.0/16");
    if (map.kind !== "blocks") throw new Error("expected blocks");
    expect(map.blocks).toEqual([
      { block: "10.87.0.0/24", leased: 2, live: 1, suspect: 1, conflict: 0 },
      { block: "10.87.255.0/24", leased: 1, live: 0, suspect: 1, conflict: 0 },
    ]);
  });

  it("an IPv6 heatmap names each block by its network address", async () => {
    const map = await readIpamMap(t.db, v6Id, "fd00:87::/64");
    if (map.kind !== "blocks") throw new Error("expected blocks");
    expect(map.blockPrefix).toBe(72);
    expect(map.blocks).toEqual([
      { block: "fd00:87::/72", leased: 2, live: 0, suspect: 2, conflict: 0 },
      { block: "fd00:87:0:0:100::/72", leased: 1, live: 0, suspect: 1, conflict: 0 },
    ]);
  });

  it("the summary counts its leases without the reservation file", async () => {
    const summary = await readIpamSummary(t.db, v4Id);
    expect(summary.subnets).toEqual([{ cidr: "10.87.0.0/16", usable: 65_534, leased: 3, live: 1, suspect: 2, reserved: 0 }]);
    expect(summary.usage.at(-1)!.leases).toBe(3);
  });

  it("the use over time is each hour's net change, kept as events are written: releases count, reservations do not", async () => {
    const operator = await t.callerAs("operator", "olaf");
    const id = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("map-use", "10.88.0.0/24", "10.88.0.1"), comment: "" })).id;
    await ingestNetworkLeases(t.db, hosts[1]!, report("map-use", [lease("10.88.0.2", "u-1"), lease("10.88.0.3", "u-2"), lease("10.88.0.4", "u-3")]));
    await ingestNetworkLeases(t.db, hosts[1]!, report("map-use", [lease("10.88.0.2", "u-1")]));
    await operator.caller.ipam.reserve({ networkId: id, first: "10.88.0.10", last: "10.88.0.12", note: "" });
    const rows = await t.db.leaseUsageHour.findMany({ where: { networkName: "map-use" } });
    expect(rows.reduce((n, r) => n + r.delta, 0)).toBe(1);
    const summary = await readIpamSummary(t.db, id);
    expect(summary.usage.at(-1)!.leases).toBe(1);
  });
});
