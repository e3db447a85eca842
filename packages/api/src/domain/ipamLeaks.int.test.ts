import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestNetworkLeases, SEEN_IN, type ReportedLease } from "./ipamIngest";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "../testing";

// Issue 11 item 4: leaks flagged with their evidence, and the dry run of their release.
let t: ApiTest;
let host: { id: string; name: string };
let networkId: string;
let liveContainer: string;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;

const FILE_AND_CACHE = SEEN_IN.leaseFile | SEEN_IN.resultCache;

beforeAll(async () => {
  t = await setupApiTest();
  const admin = await t.callerAs("admin", "ada");
  const operator = await t.callerAs("operator", "otto");
  viewer = await t.callerAs("viewer", "vic");
  networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("leak-net", "10.89.0.0/24", "10.89.0.1"), comment: "" })).id;
  const { token } = await admin.caller.hosts.createJoinToken({ note: "h", ttlMinutes: 10 });
  const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname: "leak-host", agentVersion: "test" });
  host = { id: enrolled.hostId, name: "leak-host" };
  const { attachment } = await operator.caller.attachments.create({ hostId: host.id, networkId, target: { kind: "sandbox", name: "sy-leak-1" } });
  liveContainer = attachment.containerId;
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
  ];
  await ingestNetworkLeases(t.db, host, { networkName: "leak-net", dataDir: "/var/lib/cni/networks", digest: "x", leaseCount: leases.length, findings: [], mode: "replace", leases });
});
afterAll(() => t?.close());

describe("leaks", () => {
  it("each lease not plainly live is judged on its evidence, leaks first", async () => {
    const leaks = await viewer.caller.ipam.leaks({ networkId });
    expect(leaks.map((l) => [l.address, l.verdict])).toEqual([
      ["10.89.0.3", "leak"],
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
    ]);
    // The heatmap and the summary count the same way.
    const blocks = await viewer.caller.ipam.map({ networkId, cidr: "10.89.0.0/16" });
    if (blocks.kind !== "blocks") throw new Error("expected blocks");
    expect(blocks.blocks).toEqual([{ block: "10.89.0.0/24", leased: 5, live: 2, suspect: 3, conflict: 0 }]);
    const summary = await viewer.caller.ipam.summary({ networkId });
    expect(summary.subnets[0]).toMatchObject({ leased: 5, live: 2, suspect: 3 });
  });

  it("the dry run: DEL with the cached config where the cache has an entry, GC otherwise, the lease file only as the last step; live and other runtimes' addresses refused", async () => {
    const plan = await viewer.caller.ipam.dryRunRelease({ networkId, hostId: host.id, addresses: ["10.89.0.3", "10.89.0.5", "10.89.0.4", "10.89.0.2"] });
    expect(plan.map((p) => [p.address, p.steps.map((s) => s.kind), p.refusal !== null])).toEqual([
      ["10.89.0.3", ["cni-del", "remove-lease-file"], false],
      ["10.89.0.5", ["cni-gc", "remove-lease-file"], false],
      ["10.89.0.4", [], true],
      ["10.89.0.2", [], true],
    ]);
    expect(plan[1]!.steps[1]!.files).toEqual(["/var/lib/cni/networks/leak-net/10.89.0.5"]);
    expect(plan[2]!.refusal).toMatch(/another runtime holds it and its namespace lives/);
    // Nothing changed.
    expect((await viewer.caller.ipam.leaks({ networkId })).length).toBe(4);
  });
});
