import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestNetworkLeases, SEEN_IN, type ReportedLease } from "./ipamIngest";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "../testing";

// Issue 11 item 4: leaks flagged with their evidence, and the dry run of their release.
let t: ApiTest;
let host: { id: string; name: string };
let networkId: string;
let liveContainer: string;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let goneAttachment: { id: string; containerId: string };

const FILE_AND_CACHE = SEEN_IN.leaseFile | SEEN_IN.resultCache;

beforeAll(async () => {
  t = await setupApiTest();
  const admin = await t.callerAs("admin", "ada");
  operator = await t.callerAs("operator", "otto");
  viewer = await t.callerAs("viewer", "vic");
  networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("leak-net", "10.89.0.0/24", "10.89.0.1"), comment: "" })).id;
  const { token } = await admin.caller.hosts.createJoinToken({ note: "h", ttlMinutes: 10 });
  const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname: "leak-host", agentVersion: "test" });
  host = { id: enrolled.hostId, name: "leak-host" };
  const { attachment } = await operator.caller.attachments.create({ hostId: host.id, networkId, target: { kind: "sandbox", name: "sy-leak-1" } });
  liveContainer = attachment.containerId;
  const gone = (await operator.caller.attachments.create({ hostId: host.id, networkId, target: { kind: "sandbox", name: "sy-leak-2" } })).attachment;
  goneAttachment = { id: gone.id, containerId: gone.containerId };
  const leases: ReportedLease[] = [
    // A console attachment, its namespace alive: live, not listed.
    { address: "10.89.0.2", containerId: liveContainer, ifName: "eth0", seenIn: 7, netns: "/run/netns/sy-leak-1", netnsAlive: true },
    // A console attachment whose namespace was deleted behind the agent's back.
    { address: "10.89.0.3", containerId: liveContainer, ifName: "eth1", seenIn: FILE_AND_CACHE, netns: "/run/netns/sy-leak-1b", netnsAlive: false },
    // Another runtime's container (containerd shares the data dir and the cache), its namespace alive.
    { address: "10.89.0.4", containerId: "ctrd-abc", ifName: "eth0", seenIn: FILE_AND_CACHE, netns: "/var/run/netns/cni-1234", netnsAlive: true },
    // A lease file alone: a crashed runtime's leftover.
    { address: "10.89.0.5", containerId: "crashed", ifName: "eth0", seenIn: SEEN_IN.leaseFile },
    // A cache entry whose namespace cannot be judged.
    { address: "10.89.0.6", containerId: "odd", ifName: "eth0", seenIn: FILE_AND_CACHE, netns: "/proc/99999/ns/net", netnsAlive: null },
    // A console attachment whose sandbox was deleted behind the agent's back: its detach is the release.
    { address: "10.89.0.7", containerId: gone.containerId, ifName: "eth0", seenIn: FILE_AND_CACHE, netns: "/run/netns/sy-leak-2", netnsAlive: false },
  ];
  await ingestNetworkLeases(t.db, host, { networkName: "leak-net", dataDir: "/var/lib/cni/networks", digest: "x", leaseCount: leases.length, findings: [], mode: "replace", leases });
});
afterAll(() => t?.close());

describe("leaks", () => {
  it("each lease not plainly live is judged on its evidence, leaks first", async () => {
    const leaks = await viewer.caller.ipam.leaks({ networkId });
    expect(leaks.map((l) => [l.address, l.verdict])).toEqual([
      ["10.89.0.3", "leak"],
      ["10.89.0.7", "leak"],
      ["10.89.0.5", "leak"],
      ["10.89.0.6", "unknown"],
      ["10.89.0.4", "other-runtime"],
    ]);
    const gone = leaks.find((l) => l.address === "10.89.0.3")!;
    expect(gone.reasons).toContain("its namespace /run/netns/sy-leak-1b is gone");
    expect(gone.evidence).toMatchObject({ leaseFile: true, cacheEntry: true, netnsAlive: false });
    const crashed = leaks.find((l) => l.address === "10.89.0.5")!;
    expect(crashed.reasons).toEqual(["no console attachment holds it", "no result cache entry names its holder", "no namespace is known for its holder", "host-local's lease file still names it"]);
  });

  it("the map agrees: another runtime's live holder is live, a leak is suspect", async () => {
    const map = await viewer.caller.ipam.map({ networkId, cidr: "10.89.0.0/24" });
    if (map.kind !== "grid") throw new Error("expected a grid");
    expect(map.cells.map((c) => [c.address, c.status])).toEqual([
      ["10.89.0.2", "live"],
      ["10.89.0.3", "suspect"],
      ["10.89.0.4", "live"],
      ["10.89.0.5", "suspect"],
      ["10.89.0.6", "suspect"],
      ["10.89.0.7", "suspect"],
    ]);
    // The heatmap and the summary count the same way.
    const blocks = await viewer.caller.ipam.map({ networkId, cidr: "10.89.0.0/16" });
    if (blocks.kind !== "blocks") throw new Error("expected blocks");
    expect(blocks.blocks).toEqual([{ block: "10.89.0.0/24", leased: 6, live: 2, suspect: 4, conflict: 0 }]);
    const summary = await viewer.caller.ipam.summary({ networkId });
    expect(summary.subnets[0]).toMatchObject({ leased: 6, live: 2, suspect: 4 });
  });

  it("the dry run: DEL with the cached config where the cache has an entry, with the known config otherwise, the lease file only as the last step; an attachment's leak is its detach; live and other runtimes' addresses refused", async () => {
    const plan = await viewer.caller.ipam.dryRunRelease({ networkId, hostId: host.id, addresses: ["10.89.0.3", "10.89.0.5", "10.89.0.4", "10.89.0.2", "10.89.0.7"] });
    expect(plan.map((p) => [p.address, p.steps.map((s) => s.kind), p.refusal !== null])).toEqual([
      ["10.89.0.3", ["cni-del-cached", "cni-gc", "remove-lease-file"], false],
      ["10.89.0.5", ["cni-del-known", "cni-gc", "remove-lease-file"], false],
      ["10.89.0.4", [], true],
      ["10.89.0.2", [], true],
      ["10.89.0.7", ["detach"], false],
    ]);
    expect(plan[1]!.steps[2]!.files).toEqual(["/var/lib/cni/networks/leak-net/10.89.0.5"]);
    expect(plan[2]!.refusal).toMatch(/another runtime holds it and its namespace lives/);
    expect(plan[4]!.steps[0]!.attachmentId).toBe(goneAttachment.id);
    // Nothing changed.
    expect((await viewer.caller.ipam.leaks({ networkId })).length).toBe(5);
  });
});

describe("release", () => {
  const releases = () => t.db.ipamRelease.findMany({ where: { networkId } });

  it("a viewer cannot release; a set with one refused address releases nothing, says which and why, and is audited as denied", async () => {
    await expect(viewer.caller.ipam.release({ networkId, hostId: host.id, addresses: ["10.89.0.5"] })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(operator.caller.ipam.release({ networkId, hostId: host.id, addresses: ["10.89.0.5", "10.89.0.4"] })).rejects.toThrow(/Nothing was released: 10\.89\.0\.4 is not a leak: another runtime holds it/);
    expect(await releases()).toEqual([]);
    const audit = await t.db.auditEvent.findFirst({ where: { action: "ipam.release" }, orderBy: { id: "desc" } });
    expect(audit).toMatchObject({ outcome: "error", actorName: "otto" });
    expect(audit!.message).toMatch(/Nothing was released: 10\.89\.0\.4 is not a leak/);
  });

  it("the agent claims the release once, says what it did step by step (audited), and the freed address gets a reclaimed event", async () => {
    const { releaseId, detaching } = await operator.caller.ipam.release({ networkId, hostId: host.id, addresses: ["10.89.0.5", "10.89.0.3"] });
    expect(detaching).toEqual([]);
    const agent = t.agentCaller({ hostId: host.id, hostName: host.name });
    const { releases: claimed } = await agent.claimReleases();
    expect(claimed).toEqual([{ releaseId, networkName: "leak-net", requestedByName: "otto", items: [
      { address: "10.89.0.5", containerId: "crashed", ifName: "eth0" },
      { address: "10.89.0.3", containerId: liveContainer, ifName: "eth1" },
    ] }]);
    expect((await agent.claimReleases()).releases).toEqual([]);
    // Another host's agent cannot answer for it.
    const { token } = await (await t.callerAs("admin")).caller.hosts.createJoinToken({ note: "h2", ttlMinutes: 10 });
    const other = await t.agentCaller(null).enroll({ joinToken: token, hostname: "other-host", agentVersion: "test" });
    await expect(t.agentCaller({ hostId: other.hostId, hostName: "other-host" }).completeRelease({ releaseId: releaseId!, addresses: [] })).rejects.toMatchObject({ code: "NOT_FOUND" });

    const answer = await agent.completeRelease({ releaseId: releaseId!, addresses: [
      { address: "10.89.0.5", freed: true, steps: [{ kind: "check", outcome: "done", message: "names crashed/eth0" }, { kind: "cni-del-known", outcome: "done", message: "the address is free" }] },
      { address: "10.89.0.3", freed: false, steps: [{ kind: "check", outcome: "refused", message: "its namespace lives" }] },
    ] });
    expect(answer).toEqual({ status: "failed" });
    const [row] = await t.db.ipamRelease.findMany({ where: { id: releaseId! } });
    expect(row).toMatchObject({ status: "failed", error: "still held on leak-host: 10.89.0.3" });
    const steps = await t.db.auditEvent.findMany({ where: { action: { startsWith: "ipam.release." } }, orderBy: { id: "asc" } });
    expect(steps.map((e) => [e.action, e.actorName, e.outcome, e.message])).toEqual([
      ["ipam.release.check", "host:leak-host", "success", "10.89.0.5: names crashed/eth0"],
      ["ipam.release.cni-del-known", "host:leak-host", "success", "10.89.0.5: the address is free"],
      ["ipam.release.check", "host:leak-host", "denied", "10.89.0.3: its namespace lives"],
    ]);
    const events = await t.db.leaseEvent.findMany({ where: { kind: "reclaimed" } });
    expect(events.map((e) => [e.address, e.containerId, e.actorName])).toEqual([["10.89.0.5", "crashed", "otto"]]);
    // A second answer changes nothing.
    expect(await agent.completeRelease({ releaseId: releaseId!, addresses: [] })).toMatchObject({ refused: "notRunning" });
    const listed = await viewer.caller.ipam.releases({ networkId });
    expect(listed[0]).toMatchObject({ id: releaseId, hostName: "leak-host", status: "failed", requestedByName: "otto" });
  });

  it("a console attachment's leak is released by its detach, not by the agent's release", async () => {
    const before = (await releases()).length;
    const { releaseId, detaching } = await operator.caller.ipam.release({ networkId, hostId: host.id, addresses: ["10.89.0.7"] });
    expect(releaseId).toBeNull();
    // Never claimed by an agent here, so the detach is immediate (a claimed one queues its DEL: the e2e test).
    expect(detaching).toEqual([{ attachmentId: goneAttachment.id, operationId: null }]);
    expect(await t.db.attachment.findUniqueOrThrow({ where: { id: goneAttachment.id } })).toMatchObject({ present: false, state: "detached" });
    expect((await releases()).length).toBe(before);
    const audit = await t.db.auditEvent.findMany({ where: { action: { in: ["attachments.detach", "ipam.release"] } }, orderBy: { id: "desc" }, take: 2 });
    expect(audit.map((e) => [e.action, e.outcome])).toEqual([["ipam.release", "success"], ["attachments.detach", "success"]]);
  });

  it("an attachment being detached already is refused: its detach releases the address", async () => {
    const third = (await operator.caller.attachments.create({ hostId: host.id, networkId, target: { kind: "sandbox", name: "sy-leak-3" } })).attachment;
    await ingestNetworkLeases(t.db, host, { networkName: "leak-net", dataDir: "/var/lib/cni/networks", digest: "y", leaseCount: 1, findings: [], mode: "change", upserted: [
      { address: "10.89.0.8", containerId: third.containerId, ifName: "eth0", seenIn: FILE_AND_CACHE, netns: "/run/netns/sy-leak-3", netnsAlive: false },
    ], removed: [] });
    // As the console leaves it while the agent's DEL runs.
    await t.db.attachment.update({ where: { id: third.id }, data: { present: false, state: "detaching" } });
    const [plan] = await viewer.caller.ipam.dryRunRelease({ networkId, hostId: host.id, addresses: ["10.89.0.8"] });
    expect(plan!.refusal).toBe(`10.89.0.8: its console attachment ${third.id} is being detached already, which releases it`);
    await expect(operator.caller.ipam.release({ networkId, hostId: host.id, addresses: ["10.89.0.8"] })).rejects.toMatchObject({ code: "CONFLICT" });
  });
});
