import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { parseNetworkConfig } from "@switchyard/cni/config";
import { conflistDigest } from "@switchyard/cni/digest";
import { readIpamMap } from "./ipamMap";
import { setupApiTest, trpcError, type ApiTest } from "../testing";

// Issue 11 item 5: per-host blocks of a shared-L2 network, and the conflict event.
let t: ApiTest;
let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;

const MACVLAN = (name: string, ipam: Record<string, unknown>) =>
  JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "macvlan", master: "sy-dummy0", ipam }] }, null, 2);
type Ranges = { subnet: string; rangeStart: string; rangeEnd: string }[][];
const rangesOf = (conflist: unknown) => (conflist as { plugins: { ipam: { ranges: Ranges } }[] }).plugins[0]!.ipam.ranges;

const attach = (hostId: string, networkId: string, name: string) => operator.caller.attachments.create({ hostId, networkId, target: { kind: "sandbox", name } });

beforeAll(async () => {
  t = await setupApiTest();
  admin = await t.callerAs("admin", "ada");
  operator = await t.callerAs("operator", "otto");
  viewer = await t.callerAs("viewer", "vera");
});
afterAll(() => t?.close());

describe("the per-host block setting", () => {
  it("is refused without a host-local range, for a size that does not fit, and for a viewer; set and cleared by an operator, audited", async () => {
    const dhcp = await operator.caller.networks.create({ text: MACVLAN("blk-dhcp", { type: "dhcp" }), comment: "" });
    const small = await operator.caller.networks.create({ text: MACVLAN("blk-small", { type: "host-local", subnet: "10.91.0.0/26" }), comment: "" });
    let err = await trpcError(operator.caller.ipam.setBlocks({ networkId: dhcp.id, blockSize: 16 }));
    expect([err.code, err.message]).toEqual(["BAD_REQUEST", 'per-host blocks of network "blk-dhcp": the network has no host-local range to cut into blocks']);
    err = await trpcError(operator.caller.ipam.setBlocks({ networkId: small.id, blockSize: "/26" }));
    expect(err.message).toBe('per-host blocks of network "blk-small": block size 64 does not fit: the largest range (62 addresses) must hold at least two blocks, so at most 31 addresses a block');
    expect((await trpcError(viewer.caller.ipam.setBlocks({ networkId: small.id, blockSize: 8 }))).code).toBe("FORBIDDEN");
    expect((await trpcError(operator.caller.ipam.setBlocks({ networkId: "nope", blockSize: 8 }))).code).toBe("NOT_FOUND");
    expect(await t.db.ipamBlockPolicy.count()).toBe(0);

    expect(await operator.caller.ipam.setBlocks({ networkId: small.id, blockSize: "/29" })).toEqual({ networkId: small.id, blockSize: 8 });
    expect((await viewer.caller.ipam.blocks({ networkId: small.id })).blockSize).toBe(8);
    await operator.caller.ipam.setBlocks({ networkId: small.id, blockSize: null });
    expect(await viewer.caller.ipam.blocks({ networkId: small.id })).toEqual({ blockSize: null, blocks: [] });
    const audit = await t.db.auditEvent.findMany({ where: { action: "ipam.blocks.set", targetId: small.id }, orderBy: { at: "asc" }, select: { actorName: true, after: true, before: true } });
    expect(audit).toEqual([
      { actorName: "otto", before: { blockSize: null }, after: { blockSize: 8 } },
      { actorName: "otto", before: { blockSize: 8 }, after: { blockSize: null } },
    ]);
  });
});

describe("blocks given on attach", () => {
  it("two hosts attaching at once get disjoint blocks; each claims its config narrowed to its own block", async () => {
    const net = await operator.caller.networks.create({ text: MACVLAN("blk-race", { type: "host-local", ranges: [[{ subnet: "10.92.0.0/24" }]] }), comment: "" });
    await operator.caller.ipam.setBlocks({ networkId: net.id, blockSize: 32 });
    const a = await t.enrollHost("blk-race-a");
    const b = await t.enrollHost("blk-race-b");
    const c = await t.enrollHost("blk-race-c");
    // Concurrent first attaches of three hosts (three each): one block per host, no two alike.
    await Promise.all([a, b, c].flatMap((h) => [1, 2, 3].map((i) => attach(h.hostId, net.id, `sy-blk-${h.name}-${i}`))));
    const { blocks } = await viewer.caller.ipam.blocks({ networkId: net.id });
    expect(blocks.map((x) => x.hostName).sort()).toEqual(["blk-race-a", "blk-race-b", "blk-race-c"]);
    expect(blocks.map((x) => [x.first, x.last])).toEqual([
      ["10.92.0.1", "10.92.0.31"],
      ["10.92.0.32", "10.92.0.63"],
      ["10.92.0.64", "10.92.0.95"],
    ]);
    for (const h of [a, b, c]) {
      const own = blocks.find((x) => x.hostId === h.hostId)!;
      const claimed = await h.agent.claim({ max: 8 });
      expect(claimed).toHaveLength(3);
      for (const op of claimed) {
        expect(rangesOf(op.conflist)).toEqual([[{ subnet: "10.92.0.0/24", rangeStart: own.first, rangeEnd: own.last, gateway: "10.92.0.1" }]]);
      }
      const [current] = await h.agent.currentConfigs({ networkNames: ["blk-race"] });
      expect(rangesOf(current!.conflist)).toEqual(rangesOf(claimed[0]!.conflist));
      // The whole network's ranges come along: the host's lease reading sorts leases by them.
      expect(rangesOf(current!.networkConflist)).toEqual([[{ subnet: "10.92.0.0/24" }]]);
      const desired = await h.agent.desired();
      expect(desired.map((d) => rangesOf(d.conflist)[0]![0]!.rangeStart)).toEqual([own.first, own.first, own.first]);
    }
  });

  it("a dual-stack network: each host gets a block of its IPv4 set and of its IPv6 set, and both sets are narrowed", async () => {
    const net = await operator.caller.networks.create({ text: MACVLAN("blk-dual", { type: "host-local", ranges: [[{ subnet: "10.97.0.0/24" }], [{ subnet: "fd00:97::/64" }]] }), comment: "" });
    await operator.caller.ipam.setBlocks({ networkId: net.id, blockSize: "/26" });
    const a = await t.enrollHost("blk-dual-a");
    const b = await t.enrollHost("blk-dual-b");
    await attach(a.hostId, net.id, "sy-dual-a");
    await attach(b.hostId, net.id, "sy-dual-b");
    const { blockSize, blocks } = await viewer.caller.ipam.blocks({ networkId: net.id });
    expect(blockSize).toBe(64);
    expect(blocks.map((x) => [x.hostName, x.first, x.last])).toEqual([
      ["blk-dual-a", "10.97.0.1", "10.97.0.63"],
      ["blk-dual-b", "10.97.0.64", "10.97.0.127"],
      ["blk-dual-a", "fd00:97::1", "fd00:97::3f"],
      ["blk-dual-b", "fd00:97::40", "fd00:97::7f"],
    ]);
    const [claimed] = await b.agent.claim({ max: 1 });
    expect(rangesOf(claimed!.conflist)).toEqual([
      [{ subnet: "10.97.0.0/24", rangeStart: "10.97.0.64", rangeEnd: "10.97.0.127", gateway: "10.97.0.1" }],
      [{ subnet: "fd00:97::/64", rangeStart: "fd00:97::40", rangeEnd: "fd00:97::7f", gateway: "fd00:97::1" }],
    ]);
  });

  it("a host whose block is nearly full gets the next free block, and its config then holds both", async () => {
    const net = await operator.caller.networks.create({ text: MACVLAN("blk-grow", { type: "host-local", subnet: "10.93.0.0/24" }), comment: "" });
    await operator.caller.ipam.setBlocks({ networkId: net.id, blockSize: 8 });
    const a = await t.enrollHost("blk-grow-a");
    const b = await t.enrollHost("blk-grow-b");
    await attach(b.hostId, net.id, "sy-grow-b");
    // a's first block is 10.93.0.8-15 (b holds .1-.7): 8 addresses, another block when one would be left.
    for (let i = 1; i <= 6; i++) await attach(a.hostId, net.id, `sy-grow-a-${i}`);
    expect((await viewer.caller.ipam.blocks({ networkId: net.id })).blocks.filter((x) => x.hostId === a.hostId)).toHaveLength(1);
    await attach(a.hostId, net.id, "sy-grow-a-7");
    const own = (await viewer.caller.ipam.blocks({ networkId: net.id })).blocks.filter((x) => x.hostId === a.hostId).map((x) => [x.first, x.last]);
    expect(own).toEqual([
      ["10.93.0.8", "10.93.0.15"],
      ["10.93.0.16", "10.93.0.23"],
    ]);
    const [current] = await a.agent.currentConfigs({ networkNames: ["blk-grow"] });
    expect(rangesOf(current!.conflist)[0]!.map((r) => [r.rangeStart, r.rangeEnd])).toEqual(own);
  });

  it("a host with no block gets none when the range is full: its attach is refused and nothing is written", async () => {
    const net = await operator.caller.networks.create({ text: MACVLAN("blk-full", { type: "host-local", subnet: "10.94.0.0/29" }), comment: "" });
    await operator.caller.ipam.setBlocks({ networkId: net.id, blockSize: 3 });
    // 10.94.0.1-6 in blocks of 3 cut at multiples of 3: .1-.2, .3-.5, .6.
    const hosts = [await t.enrollHost("blk-full-a"), await t.enrollHost("blk-full-b"), await t.enrollHost("blk-full-c"), await t.enrollHost("blk-full-d")];
    for (const h of hosts.slice(0, 3)) await attach(h.hostId, net.id, `sy-${h.name}`);
    expect((await viewer.caller.ipam.blocks({ networkId: net.id })).blocks.map((x) => [x.hostName, x.first, x.last, x.size])).toEqual([
      ["blk-full-a", "10.94.0.1", "10.94.0.2", 2],
      ["blk-full-b", "10.94.0.3", "10.94.0.5", 3],
      ["blk-full-c", "10.94.0.6", "10.94.0.6", 1],
    ]);
    const err = await trpcError(attach(hosts[3]!.hostId, net.id, "sy-full-d"));
    expect([err.code, err.message]).toEqual(["CONFLICT", 'network "blk-full" has no free block of 3 addresses left for this host: every block of its range is given to a host']);
    expect(await t.db.attachment.count({ where: { hostId: hosts[3]!.hostId } })).toBe(0);
    expect(await t.db.operation.count({ where: { hostId: hosts[3]!.hostId } })).toBe(0);
  });
});

describe("drift and conflicts", () => {
  it("the host's conf file is in sync when it is the config rendered for that host", async () => {
    const text = MACVLAN("blk-drift", { type: "host-local", subnet: "10.95.0.0/24" });
    const net = await operator.caller.networks.create({ text, comment: "" });
    await operator.caller.ipam.setBlocks({ networkId: net.id, blockSize: 16 });
    const a = await t.enrollHost("blk-drift-a");
    await attach(a.hostId, net.id, "sy-drift-a");
    const [rendered] = await a.agent.currentConfigs({ networkNames: ["blk-drift"] });
    const parsed = parseNetworkConfig(text);
    if (!parsed.ok) throw new Error("bad fixture");
    const base = { hostname: "blk-drift-a", kernel: "6.1", addresses: [], plugins: [], cniPath: [], netnsDir: "/run/netns", namespaces: [], confDir: "/etc/cni/net.d", cacheDir: "/var/lib/cni", cachedAttachments: [], ipForward: { v4: true, v6: false }, tools: { nft: true, iptables: true, ip: true } };
    const confFiles = [
      { file: "10-rendered.conflist", networkName: "blk-drift", digest: conflistDigest(rendered!.conflist) },
      { file: "11-whole.conflist", networkName: "blk-drift", digest: conflistDigest(parsed.conflist) },
    ];
    await a.agent.heartbeat({ agentVersion: "t", inventory: { ...base, confFiles } });
    expect((await viewer.caller.hosts.get({ id: a.hostId })).confDrift.map((d) => [d.file, d.status])).toEqual([
      ["10-rendered.conflist", "in-sync"],
      ["11-whole.conflist", "differs"],
    ]);
  });

  it("an address held on two hosts of a shared-L2 network is one conflict event, not one per report", async () => {
    const net = await operator.caller.networks.create({ text: MACVLAN("blk-clash", { type: "host-local", subnet: "10.96.0.0/24" }), comment: "" });
    const a = await t.enrollHost("blk-clash-a");
    const b = await t.enrollHost("blk-clash-b");
    const report = (containerId: string, addresses: string[]) => ({
      takenAt: Date.now(),
      networks: [{ networkName: "blk-clash", dataDir: "/var/lib/cni/networks", digest: createHash("sha256").update(containerId + addresses.join()).digest("hex"), leaseCount: addresses.length, findings: [], mode: "replace" as const, span: { from: null, to: null },
        leases: addresses.map((address) => ({ address, containerId, ifName: "eth0", seenIn: 1 })) }],
    });
    await a.agent.reportIpam(report("ctr-a", ["10.96.0.2"]));
    await b.agent.reportIpam(report("ctr-b", ["10.96.0.3"]));
    expect(await t.db.leaseEvent.count({ where: { networkName: "blk-clash", kind: "conflict" } })).toBe(0);
    await b.agent.reportIpam(report("ctr-b", ["10.96.0.2", "10.96.0.3"]));
    await b.agent.reportIpam(report("ctr-b", ["10.96.0.2", "10.96.0.3", "10.96.0.4"]));
    await a.agent.reportIpam(report("ctr-a", ["10.96.0.2", "10.96.0.5"]));
    const events = await t.db.leaseEvent.findMany({ where: { networkName: "blk-clash", kind: "conflict" }, select: { hostName: true, containerId: true, detail: true } });
    expect(events.map((e) => ({ ...e, address: undefined }))).toEqual([{ hostName: "blk-clash-b", containerId: "ctr-b", detail: "also held on host blk-clash-a by container ctr-a (eth0)", address: undefined }]);
    const map = await readIpamMap(t.db, net.id, "10.96.0.0/24");
    expect(map.kind === "grid" && map.cells.find((c) => c.address === "10.96.0.2")?.status).toBe("conflict");
    // A new holder on one side is a new conflict: recorded once more.
    await b.agent.reportIpam(report("ctr-b2", ["10.96.0.2"]));
    expect(await t.db.leaseEvent.count({ where: { networkName: "blk-clash", kind: "conflict" } })).toBe(2);
    // Both hosts report a new shared address at the same moment: still one event for it.
    for (let i = 10; i < 20; i++) {
      await Promise.all([a.agent.reportIpam(report(`ctr-a${i}`, [`10.96.0.${i}`])), b.agent.reportIpam(report(`ctr-b${i}`, [`10.96.0.${i}`]))]);
      expect(await t.db.leaseEvent.count({ where: { networkName: "blk-clash", kind: "conflict", address: `10.96.0.${i}` } })).toBe(1);
    }
  });
});

