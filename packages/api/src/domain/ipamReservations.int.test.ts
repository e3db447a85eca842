import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestNetworkLeases, SEEN_IN } from "./ipamIngest";
import { purgeLeaseHistory } from "./ipamHistory";
import { RESERVATION_CONTAINER_ID } from "./ipamReservations";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "../testing";

// Issue 11 item 2: reservations, and the bad input of the issue ("a reservation overlapping a live
// lease: refused, with the holder named").
let t: ApiTest;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;
let host: { id: string; name: string };
let networkId: string;

beforeAll(async () => {
  t = await setupApiTest();
  const admin = await t.callerAs("admin", "ada");
  operator = await t.callerAs("operator", "otto");
  viewer = await t.callerAs("viewer", "vic");
  networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("resv-net", "10.87.0.0/24", "10.87.0.1"), comment: "" })).id;
  const { token } = await admin.caller.hosts.createJoinToken({ note: "h", ttlMinutes: 10 });
  const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname: "resv-host", agentVersion: "test" });
  host = { id: enrolled.hostId, name: "resv-host" };
  await ingestNetworkLeases(t.db, host, {
    networkName: "resv-net", dataDir: "/var/lib/cni/networks", digest: "x", leaseCount: 1, findings: [], mode: "replace",
    leases: [{ address: "10.87.0.20", containerId: "c-holder", ifName: "eth1", seenIn: SEEN_IN.leaseFile }],
  });
});
afterAll(() => t?.close());

const countReservations = async () => (await t.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM "IpamReservation"`)[0]!.n;

describe("reservations", () => {
  it("an operator reserves a range: listed, each address has a reserved event, audited", async () => {
    const r = await operator.caller.ipam.reserve({ networkId, first: "10.87.0.10", last: "10.87.0.12", note: "routers" });
    expect(r).toMatchObject({ first: "10.87.0.10", last: "10.87.0.12", note: "routers", createdByName: "otto" });
    expect(await viewer.caller.ipam.reservations({ networkId })).toHaveLength(1);
    const events = await t.db.$queryRaw<{ address: string }[]>`
      SELECT host(address) AS address FROM "LeaseEvent" WHERE kind = 'reserved' AND "networkName" = 'resv-net' ORDER BY address`;
    expect(events.map((e) => e.address)).toEqual(["10.87.0.10", "10.87.0.11", "10.87.0.12"]);
    const audit = await t.db.auditEvent.findFirst({ where: { action: "ipam.reserve" } });
    expect(audit).toMatchObject({ targetName: "resv-net", actorName: "otto", outcome: "success" });
  });

  it("the map shows a reserved range, and a reservation's own lease file as reserved", async () => {
    await ingestNetworkLeases(t.db, host, {
      networkName: "resv-net", dataDir: "/var/lib/cni/networks", digest: "y", leaseCount: 2, findings: [], mode: "change", removed: [],
      upserted: [{ address: "10.87.0.10", containerId: RESERVATION_CONTAINER_ID, ifName: "r1", seenIn: SEEN_IN.leaseFile }],
    });
    const map = await viewer.caller.ipam.map({ networkId, cidr: "10.87.0.0/24" });
    expect(map.reservations.map((r) => [r.first, r.last])).toEqual([["10.87.0.10", "10.87.0.12"]]);
    if (map.kind !== "grid") throw new Error("expected a grid");
    expect(map.cells.map((c) => [c.address, c.status])).toEqual([
      ["10.87.0.10", "reserved"],
      ["10.87.0.20", "suspect"],
    ]);
  });

  it("refused with nothing written: a held address (its holder named), an overlap, outside the subnets, backwards, too large, mixed families", async () => {
    const before = await countReservations();
    await expect(operator.caller.ipam.reserve({ networkId, first: "10.87.0.15", last: "10.87.0.25", note: "" })).rejects.toThrow(
      /10\.87\.0\.20 by container c-holder \(eth1\) on host resv-host/,
    );
    await expect(operator.caller.ipam.reserve({ networkId, first: "10.87.0.12", last: "10.87.0.13", note: "" })).rejects.toThrow(/overlaps the reservation 10\.87\.0\.10–10\.87\.0\.12/);
    await expect(operator.caller.ipam.reserve({ networkId, first: "10.88.0.5", note: "" })).rejects.toThrow(/not inside one subnet of network "resv-net"/);
    await expect(operator.caller.ipam.reserve({ networkId, first: "10.87.0.50", last: "10.87.0.40", note: "" })).rejects.toThrow(/runs backwards/);
    await expect(operator.caller.ipam.reserve({ networkId, first: "fd00::1", last: "fd00::ffff", note: "" })).rejects.toThrow(/at most 1024/);
    await expect(operator.caller.ipam.reserve({ networkId, first: "10.87.0.50", last: "fd00::1", note: "" })).rejects.toThrow(/different families/);
    expect(await countReservations()).toBe(before);
  });

  it("a viewer cannot reserve or unreserve", async () => {
    await expect(viewer.caller.ipam.reserve({ networkId, first: "10.87.0.60", note: "" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const [r] = await viewer.caller.ipam.reservations({ networkId });
    await expect(viewer.caller.ipam.unreserve({ id: r!.id })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("unreserving records unreserved events and an audit entry", async () => {
    const [r] = await viewer.caller.ipam.reservations({ networkId });
    await operator.caller.ipam.unreserve({ id: r!.id });
    expect(await viewer.caller.ipam.reservations({ networkId })).toEqual([]);
    const events = await t.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM "LeaseEvent" WHERE kind = 'unreserved'`;
    expect(events[0]!.n).toBe(3);
    await expect(operator.caller.ipam.unreserve({ id: r!.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("the history kept", () => {
  it("events older than the time kept are purged, in batches; newer ones stay", async () => {
    await t.db.$executeRaw`UPDATE "LeaseEvent" SET at = at - interval '100 days' WHERE kind = 'reserved'`;
    const total = (await t.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM "LeaseEvent"`)[0]!.n;
    const first = await purgeLeaseHistory(t.db, new Date(Date.now() - 90 * 24 * 3600_000), 2);
    expect(first).toEqual({ purged: 2, more: true });
    const second = await purgeLeaseHistory(t.db, new Date(Date.now() - 90 * 24 * 3600_000), 2);
    expect(second).toEqual({ purged: 1, more: false });
    const left = await t.db.$queryRaw<{ kind: string }[]>`SELECT kind::text FROM "LeaseEvent"`;
    expect(left).toHaveLength(total - 3);
    expect(left.some((e) => e.kind === "reserved")).toBe(false);
  });
});
