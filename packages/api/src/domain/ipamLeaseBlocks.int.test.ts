import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "../testing";
import { authenticateAgent } from "./hosts";
import { ingestNetworkLeases, SEEN_IN, type ReportedLease } from "./ipamIngest";
import { readIpamMap, type MapBlock } from "./ipamMap";
import { readIpamSummary } from "./ipamSummary";

// Issue 11's benchmarks: the heatmap and the summary read LeaseBlock (per 256-address block) and
// Lease.held, kept on write; the grid judges each lease with its attachment's state read at once.
// After every path that changes a lease or its attachment's state, the three views must agree.
let t: ApiTest;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let agent: ReturnType<ApiTest["agentCaller"]>;
let host: { id: string; name: string };
let networkId: string;
const NET = "blk-br";
let n = 0;

const lease = (address: string, containerId: string, extra: Partial<ReportedLease> = {}): ReportedLease => ({ address, containerId, ifName: "eth0", seenIn: SEEN_IN.leaseFile, ...extra });
const full = (leases: ReportedLease[]) => ({ networkName: NET, dataDir: "/var/lib/cni/networks", digest: "x", leaseCount: leases.length, findings: [], mode: "replace" as const, leases });
const change = (upserted: ReportedLease[], removed: string[] = []) => ({ networkName: NET, dataDir: "/var/lib/cni/networks", digest: "y", leaseCount: 0, findings: [], mode: "change" as const, upserted, removed });

beforeAll(async () => {
  t = await setupApiTest();
  const admin = await t.callerAs("admin", "ada");
  operator = await t.callerAs("operator", "otto");
  networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST(NET, "10.91.0.0/16", "10.91.0.1"), comment: "" })).id;
  const { token } = await admin.caller.hosts.createJoinToken({ note: "blk", ttlMinutes: 10 });
  const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname: "blk-1", agentVersion: "test" });
  host = { id: enrolled.hostId, name: "blk-1" };
  agent = t.agentCaller(await authenticateAgent(t.db, enrolled.credential));
});
afterAll(() => t?.close());

async function attach(name = `blk-${++n}`) {
  const { attachment, operation } = await operator.caller.attachments.create({ hostId: host.id, networkId, target: { kind: "sandbox", name }, ifName: "eth0", portMappings: [] });
  return { id: attachment.id, containerId: attachment.containerId, operationId: operation.id, name };
}

/**
 * The heatmap of the /16 and the summary, checked against the grids of its /24s (each cell judged
 * from its holders as they are now): returns the heatmap's blocks.
 */
async function agreeingViews(id = networkId, cidr = "10.91.0.0/16"): Promise<MapBlock[]> {
  const map = await readIpamMap(t.db, id, cidr);
  if (map.kind !== "blocks") throw new Error("expected a heatmap");
  const fromGrids: MapBlock[] = [];
  const blocks = await t.db.$queryRaw<{ block: string }[]>`
    SELECT DISTINCT network(set_masklen(address, 24))::text AS block FROM "Lease" WHERE "networkId" = ${id} ORDER BY 1`;
  for (const { block } of blocks) {
    const grid = await readIpamMap(t.db, id, block);
    if (grid.kind !== "grid") throw new Error("expected a grid");
    const cells = grid.cells.filter((c) => c.status !== "reserved");
    if (cells.length === 0) continue;
    const live = cells.filter((c) => c.status === "live").length;
    fromGrids.push({ block, leased: cells.length, live, suspect: cells.length - live, conflict: 0 });
  }
  expect(map.blocks).toEqual(fromGrids);
  const summary = await readIpamSummary(t.db, id);
  const sum = (k: "leased" | "live") => fromGrids.reduce((s, b) => s + b[k], 0);
  expect(summary.subnets.map((s) => [s.leased, s.live])).toEqual([[sum("leased"), sum("live")]]);
  expect(summary.usage.at(-1)!.leases).toBe(sum("leased"));
  return map.blocks;
}

describe("the heatmap and the summary follow every change of a lease or its holder", () => {
  let a1: Awaited<ReturnType<typeof attach>>;
  let a2: Awaited<ReturnType<typeof attach>>;

  it("a snapshot: live by attachment, by another runtime's living namespace; not live when gone or unknown", async () => {
    a1 = await attach();
    a2 = await attach();
    const a3 = await attach();
    await ingestNetworkLeases(t.db, host, full([
      lease("10.91.0.2", a1.containerId),
      lease("10.91.0.3", a2.containerId),
      lease("10.91.0.4", a3.containerId, { netns: "/run/netns/x", netnsAlive: false }),
      lease("10.91.1.2", "other-runtime", { netns: "/run/netns/y", netnsAlive: true }),
      lease("10.91.1.3", "nobody"),
      lease("10.91.1.9", "switchyard-reservation"),
    ]));
    expect(await agreeingViews()).toEqual([
      { block: "10.91.0.0/24", leased: 3, live: 2, suspect: 1, conflict: 0 },
      { block: "10.91.1.0/24", leased: 2, live: 1, suspect: 1, conflict: 0 },
    ]);
  });

  it("an attachment detached at once (never applied) no longer holds its lease; attached again, it does", async () => {
    await operator.caller.attachments.detach({ id: a1.id });
    expect((await t.db.attachment.findUniqueOrThrow({ where: { id: a1.id } })).state).toBe("detached");
    expect((await agreeingViews())[0]).toMatchObject({ leased: 3, live: 1 });
    const again = await attach(a1.name);
    expect(again.id).toBe(a1.id);
    expect((await agreeingViews())[0]).toMatchObject({ leased: 3, live: 2 });
  });

  it("a detach the agent completes: detaching still holds, detached does not", async () => {
    for (const c of await agent.claim({ max: 64 })) await agent.complete({ operationId: c.operationId, attempt: c.attempt, outcome: "succeeded" });
    await operator.caller.attachments.detach({ id: a2.id });
    expect((await t.db.attachment.findUniqueOrThrow({ where: { id: a2.id } })).state).toBe("detaching");
    expect((await agreeingViews())[0]).toMatchObject({ live: 2 });
    const [claimed] = await agent.claim({ max: 64 });
    await agent.complete({ operationId: claimed!.operationId, attempt: claimed!.attempt, outcome: "succeeded" });
    expect((await t.db.attachment.findUniqueOrThrow({ where: { id: a2.id } })).state).toBe("detached");
    expect((await agreeingViews())[0]).toMatchObject({ leased: 3, live: 1 });
  });

  it("a cancelled first attach leaves the attachment detached: its lease is no longer held", async () => {
    const a4 = await attach();
    await ingestNetworkLeases(t.db, host, change([lease("10.91.0.5", a4.containerId)]));
    expect((await agreeingViews())[0]).toMatchObject({ leased: 4, live: 2 });
    await operator.caller.attachments.cancelOperation({ id: a4.operationId });
    expect((await t.db.attachment.findUniqueOrThrow({ where: { id: a4.id } })).state).toBe("detached");
    expect((await agreeingViews())[0]).toMatchObject({ leased: 4, live: 1 });
  });

  it("a purged (deleted) attachment leaves its lease unheld and unmatched", async () => {
    await operator.caller.attachments.purge({ ids: [a2.id] });
    expect(await t.db.attachment.findUnique({ where: { id: a2.id } })).toBeNull();
    expect(await t.db.lease.findFirst({ where: { address: "10.91.0.3", networkName: NET } })).toMatchObject({ attachmentId: null, held: false });
    expect((await agreeingViews())[0]).toMatchObject({ leased: 4, live: 1 });
  });

  it("the ingest's own changes: a namespace that goes, another holder, a release, an emptied block", async () => {
    await ingestNetworkLeases(t.db, host, change([lease("10.91.1.2", "other-runtime", { netns: "/run/netns/y", netnsAlive: false })]));
    expect((await agreeingViews())[1]).toMatchObject({ block: "10.91.1.0/24", leased: 2, live: 0 });
    await ingestNetworkLeases(t.db, host, change([lease("10.91.1.3", "another", { netns: "/run/netns/z", netnsAlive: true })]));
    expect((await agreeingViews())[1]).toMatchObject({ leased: 2, live: 1 });
    await ingestNetworkLeases(t.db, host, change([], ["10.91.1.2", "10.91.1.3"]));
    expect(await agreeingViews()).toHaveLength(1);
    expect(await t.db.leaseBlock.count({ where: { networkName: NET, block: "10.91.1.0/24" } })).toBe(0);
  });
});

describe("what deleting a host or a network does to the stored counts", () => {
  it("a deleted network's leases lose it, and its blocks go with them", async () => {
    const name = "blk-gone";
    const id = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST(name, "10.92.0.0/16", "10.92.0.1"), comment: "" })).id;
    await ingestNetworkLeases(t.db, host, { ...full([lease("10.92.0.2", "g-1"), lease("10.92.3.2", "g-2")]), networkName: name });
    expect(await agreeingViews(id, "10.92.0.0/16")).toHaveLength(2);
    await operator.caller.networks.delete({ id, confirmName: name });
    expect(await t.db.lease.findMany({ where: { networkName: name }, select: { networkId: true } })).toEqual([{ networkId: null }, { networkId: null }]);
    expect(await t.db.leaseBlock.findMany({ where: { networkName: name }, select: { networkId: true, leased: true } })).toEqual([
      { networkId: "", leased: 1 },
      { networkId: "", leased: 1 },
    ]);
    expect(await t.db.leaseBlock.count({ where: { networkId: id } })).toBe(0);
  });

  it("a deleted host's leases and blocks are deleted", async () => {
    const other = await t.db.host.create({ data: { name: "blk-doomed", credentialHash: "blk-doomed", credentialExpiresAt: new Date(Date.now() + 3600_000) } });
    await ingestNetworkLeases(t.db, other, { ...full([lease("10.93.0.2", "d-1")]), networkName: "blk-doomed-net" });
    expect(await t.db.leaseBlock.count({ where: { hostId: other.id } })).toBe(1);
    await t.db.host.delete({ where: { id: other.id } });
    expect(await t.db.lease.count({ where: { hostId: other.id } })).toBe(0);
    expect(await t.db.leaseBlock.count({ where: { hostId: other.id } })).toBe(0);
  });
});
