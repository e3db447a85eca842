import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authenticateAgent } from "./hosts";
import { forgetUnreportedNetworks, ingestNetworkLeases, SEEN_IN, type NetworkLeaseReport, type ReportedLease } from "./ipamIngest";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "../testing";

// Issue 11 item 2: a host's IPAM reports become Lease rows and each address's history.
let t: ApiTest;
let host: { id: string; name: string };
let attachmentId: string;

beforeAll(async () => {
  t = await setupApiTest();
  const admin = await t.callerAs("admin", "ada");
  const operator = await t.callerAs("operator", "otto");
  const networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("ipam-net", "10.84.0.0/24", "10.84.0.1"), comment: "" })).id;
  const { token } = await admin.caller.hosts.createJoinToken({ note: "h", ttlMinutes: 10 });
  const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname: "ipam-host", agentVersion: "test" });
  host = { id: enrolled.hostId, name: "ipam-host" };
  await authenticateAgent(t.db, enrolled.credential);
  const { attachment } = await operator.caller.attachments.create({ hostId: host.id, networkId, target: { kind: "sandbox", name: "sy-ipam-1" } });
  attachmentId = attachment.id;
});
afterAll(() => t?.close());

const lease = (address: string, containerId: string, ifName = "eth0", seenIn: number = SEEN_IN.leaseFile): ReportedLease => ({ address, containerId, ifName, seenIn });
const replace = (networkName: string, leases: ReportedLease[]): NetworkLeaseReport => ({
  networkName,
  dataDir: "/var/lib/cni/networks",
  digest: `d${leases.length}`,
  leaseCount: leases.length,
  findings: [],
  mode: "replace",
  leases,
});

async function leasesOf(networkName: string) {
  return t.db.$queryRaw<{ address: string; containerId: string; ifName: string; seenIn: number; attachmentId: string | null; networkId: string | null }[]>`
    SELECT host(address) AS address, "containerId", "ifName", "seenIn", "attachmentId", "networkId"
    FROM "Lease" WHERE "hostId" = ${host.id} AND "networkName" = ${networkName} ORDER BY address`;
}
async function historyOf(networkName: string, address: string) {
  return t.db.$queryRaw<{ kind: string; containerId: string }[]>`
    SELECT kind::text, "containerId" FROM "LeaseEvent" WHERE "networkName" = ${networkName} AND address = ${address}::inet ORDER BY at, id`;
}

describe("ingestNetworkLeases", () => {
  it("a snapshot becomes one row per address, matched to the console's network and attachment", async () => {
    const sandbox = await t.db.attachment.findUniqueOrThrow({ where: { id: attachmentId } });
    const out = await ingestNetworkLeases(t.db, host, replace("ipam-net", [lease("10.84.0.2", sandbox.containerId), lease("10.84.0.3", "c-other")]));
    expect(out).toMatchObject({ allocated: 2, released: 0, written: 2 });
    const rows = await leasesOf("ipam-net");
    expect(rows.map((r) => [r.address, r.containerId, r.attachmentId])).toEqual([
      ["10.84.0.2", sandbox.containerId, attachmentId],
      ["10.84.0.3", "c-other", null],
    ]);
    expect(rows.every((r) => r.networkId !== null)).toBe(true);
    const state = await t.db.$queryRaw<{ digest: string; leaseCount: number }[]>`
      SELECT digest, "leaseCount" FROM "HostIpamNetwork" WHERE "hostId" = ${host.id} AND "networkName" = 'ipam-net'`;
    expect(state).toEqual([{ digest: "d2", leaseCount: 2 }]);
  });

  it("the same snapshot again writes no lease and no event", async () => {
    const sandbox = await t.db.attachment.findUniqueOrThrow({ where: { id: attachmentId } });
    const before = await historyOf("ipam-net", "10.84.0.3");
    const out = await ingestNetworkLeases(t.db, host, replace("ipam-net", [lease("10.84.0.2", sandbox.containerId), lease("10.84.0.3", "c-other")]));
    expect(out).toMatchObject({ allocated: 0, released: 0, written: 0 });
    expect(await historyOf("ipam-net", "10.84.0.3")).toEqual(before);
  });

  it("a new holder of an address is a release and an allocation; an address left out is released", async () => {
    const sandbox = await t.db.attachment.findUniqueOrThrow({ where: { id: attachmentId } });
    const out = await ingestNetworkLeases(t.db, host, replace("ipam-net", [lease("10.84.0.2", sandbox.containerId), lease("10.84.0.4", "c-new")]));
    expect(out).toMatchObject({ allocated: 1, released: 1 });
    expect(await historyOf("ipam-net", "10.84.0.3")).toEqual([
      { kind: "allocated", containerId: "c-other" },
      { kind: "released", containerId: "c-other" },
    ]);
    const out2 = await ingestNetworkLeases(t.db, host, replace("ipam-net", [lease("10.84.0.2", sandbox.containerId), lease("10.84.0.4", "c-newer")]));
    expect(out2).toMatchObject({ allocated: 1, released: 1 });
    expect(await historyOf("ipam-net", "10.84.0.4")).toEqual([
      { kind: "allocated", containerId: "c-new" },
      { kind: "released", containerId: "c-new" },
      { kind: "allocated", containerId: "c-newer" },
    ]);
  });

  it("a change report touches only what it names; a where-seen change is no event", async () => {
    const sandbox = await t.db.attachment.findUniqueOrThrow({ where: { id: attachmentId } });
    const out = await ingestNetworkLeases(t.db, host, {
      ...replace("ipam-net", []),
      mode: "change",
      upserted: [lease("10.84.0.2", sandbox.containerId, "eth0", SEEN_IN.leaseFile | SEEN_IN.resultCache), lease("10.84.0.9", "c-nine")],
      removed: ["10.84.0.4"],
    });
    expect(out).toMatchObject({ allocated: 1, released: 1, written: 2 });
    const rows = await leasesOf("ipam-net");
    expect(rows.map((r) => [r.address, r.containerId, r.seenIn])).toEqual([
      ["10.84.0.2", sandbox.containerId, 3],
      ["10.84.0.9", "c-nine", 1],
    ]);
    expect((await historyOf("ipam-net", "10.84.0.2")).map((e) => e.kind)).toEqual(["allocated"]);
  });

  it("networks the console does not manage (the conf dir's) and IPv6 are kept too", async () => {
    await ingestNetworkLeases(t.db, host, replace("confdir-only", [lease("fd00:84::5", "c6"), lease("10.99.0.7", "c4")]));
    const rows = await leasesOf("confdir-only");
    expect(rows.map((r) => [r.address, r.networkId])).toEqual([
      ["10.99.0.7", null],
      ["fd00:84::5", null],
    ]);
  });

  it("a full snapshot that leaves a network out releases its leases", async () => {
    const forgotten = await forgetUnreportedNetworks(t.db, host, ["ipam-net"]);
    // The networks are named, so that their pages hear of it (routers/agent.ts).
    expect(forgotten).toEqual({ released: 2, networkNames: ["confdir-only"] });
    expect(await leasesOf("confdir-only")).toEqual([]);
    expect((await historyOf("confdir-only", "fd00:84::5")).map((e) => e.kind)).toEqual(["allocated", "released"]);
    expect(await leasesOf("ipam-net")).toHaveLength(2);
  });

  it("50,000 leases in one report are one statement, and a repeat of it writes nothing", async () => {
    const many: ReportedLease[] = [];
    for (let i = 0; i < 50_000; i++) many.push(lease(`10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, `c${i}`));
    const first = await ingestNetworkLeases(t.db, host, replace("big", many));
    expect(first.allocated).toBe(50_000);
    const again = await ingestNetworkLeases(t.db, host, replace("big", many));
    expect(again).toMatchObject({ allocated: 0, released: 0, written: 0 });
    const count = await t.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM "Lease" WHERE "networkName" = 'big'`;
    expect(count[0]!.n).toBe(50_000);
  }, 120_000);
});

describe("agent.reportIpam", () => {
  const digest = "a".repeat(64);
  it("a full report in parts: each part replaces the leases of its span only; the last names every network", async () => {
    const { credential } = await enrolAnother("ipam-parts-host");
    const agent = t.agentCaller(await authenticateAgent(t.db, credential));
    const header = { networkName: "parts", dataDir: "/var/lib/cni/networks", digest, leaseCount: 4, findings: [] };
    await agent.reportIpam({ takenAt: 1, networks: [{ ...header, mode: "replace", span: { from: null, to: null }, leases: [lease("10.90.0.1", "a"), lease("10.90.0.2", "b"), lease("10.90.0.9", "z")] }] });
    // A new full report in two parts: 10.90.0.2 went, 10.90.0.3 came; 10.90.0.9 is in the second part's span.
    await agent.reportIpam({ takenAt: 2, networks: [{ ...header, mode: "replace", span: { from: null, to: "10.90.0.5" }, leases: [lease("10.90.0.1", "a"), lease("10.90.0.3", "c")] }] });
    const between = await t.db.$queryRaw<{ address: string }[]>`SELECT host(address) AS address FROM "Lease" WHERE "networkName" = 'parts' ORDER BY address`;
    expect(between.map((r) => r.address)).toEqual(["10.90.0.1", "10.90.0.3", "10.90.0.9"]);
    await agent.reportIpam({
      takenAt: 2,
      networks: [{ ...header, mode: "replace", span: { from: "10.90.0.6", to: null }, leases: [lease("10.90.0.9", "z"), lease("fd00::9", "v6")] }],
      allNetworks: ["parts"],
    });
    const after = await t.db.$queryRaw<{ address: string }[]>`SELECT host(address) AS address FROM "Lease" WHERE "networkName" = 'parts' ORDER BY address`;
    expect(after.map((r) => r.address)).toEqual(["10.90.0.1", "10.90.0.3", "10.90.0.9", "fd00::9"]);
  });

  it("a bad report is refused whole: a non-canonical address, too many leases; no credential, no report", async () => {
    const { credential } = await enrolAnother("ipam-bad-host");
    const agent = t.agentCaller(await authenticateAgent(t.db, credential));
    const header = { networkName: "bad", dataDir: "/var/lib/cni/networks", digest, leaseCount: 1, findings: [] };
    await expect(agent.reportIpam({ takenAt: 1, networks: [{ ...header, mode: "replace", span: { from: null, to: null }, leases: [lease("010.0.0.1", "a")] }] })).rejects.toThrow(/canonical/);
    const many = Array.from({ length: 10_001 }, (_, i) => lease(`10.91.${i >> 8}.${i & 255}`, `c${i}`));
    await expect(agent.reportIpam({ takenAt: 1, networks: [{ ...header, mode: "replace", span: { from: null, to: null }, leases: many }] })).rejects.toThrow(/<=10000 items/);
    const rows = await t.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM "Lease" WHERE "networkName" = 'bad'`;
    expect(rows[0]!.n).toBe(0);
    await expect(t.agentCaller(null).reportIpam({ takenAt: 1, networks: [] })).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });
});

describe("the ipam doorbell", () => {
  it("a report that changed a network's leases rings once for it; one that changed nothing does not; one that forgets the network rings", async () => {
    const { credential, hostId } = await enrolAnother("ipam-bell-host");
    const agent = t.agentCaller(await authenticateAgent(t.db, credential));
    const stop = new AbortController();
    const heard: string[] = [];
    const listening = (async () => {
      for await (const e of t.deps.events.subscribe("ipam", stop.signal)) if (e.kind === "leases" && e.hostId === hostId) heard.push(e.networkName);
    })();
    const report = { takenAt: 1, networks: [{ networkName: "bell", dataDir: "/var/lib/cni/networks", digest: "b".repeat(64), leaseCount: 1, findings: [], mode: "replace" as const, span: { from: null, to: null }, leases: [lease("10.92.0.2", "c")] }] };
    await agent.reportIpam(report);
    await agent.reportIpam({ ...report, takenAt: 2 });
    // The host no longer has the network (its last attachment went): the leases leave, and the page hears it.
    await agent.reportIpam({ takenAt: 3, networks: [], allNetworks: [] });
    await new Promise((r) => setTimeout(r, 300));
    stop.abort();
    await listening.catch(() => {});
    expect(heard).toEqual(["bell", "bell"]);
    const rows = await t.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM "Lease" WHERE "networkName" = 'bell'`;
    expect(rows[0]!.n).toBe(0);
  });
});

async function enrolAnother(hostname: string) {
  const admin = await t.callerAs("admin");
  const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
  return t.agentCaller(null).enroll({ joinToken: token, hostname, agentVersion: "test" });
}
