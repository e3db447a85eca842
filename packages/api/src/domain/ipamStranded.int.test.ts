import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setupApiTest, trpcError, type ApiTest } from "../testing";

// Issue 11, bad input: a range change that would strand live leases is shown before saving.
let t: ApiTest;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;
let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;

const BRIDGE = (name: string, ipam: Record<string, unknown>) => JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "bridge", bridge: "systr0", ipam }, { type: "portmap", capabilities: { portMappings: true } }] });
// Two range sets, IPv4 and IPv6: the v4 set has two ranges.
const SAVED = {
  type: "host-local",
  ranges: [
    [{ subnet: "10.97.0.0/24", rangeStart: "10.97.0.10", rangeEnd: "10.97.0.100" }, { subnet: "10.97.1.0/24" }],
    [{ subnet: "fd00:97::/120" }],
  ],
};

/** A host's whole picture of the network, as its agent sends it. */
const report = (networkName: string, leases: { address: string; containerId: string }[]) => ({
  takenAt: Date.now(),
  networks: [{ networkName, dataDir: "/var/lib/cni/networks", digest: createHash("sha256").update(JSON.stringify(leases)).digest("hex"), leaseCount: leases.length, findings: [], mode: "replace" as const, span: { from: null, to: null },
    leases: leases.map((l) => ({ ...l, ifName: "eth0", seenIn: 1 })) }],
});

let networkId = "";

beforeAll(async () => {
  t = await setupApiTest();
  operator = await t.callerAs("operator", "otto");
  viewer = await t.callerAs("viewer", "vera");
  admin = await t.callerAs("admin", "ada");
  networkId = (await operator.caller.networks.create({ text: BRIDGE("strand", SAVED), comment: "" })).id;
  const a = await t.enrollHost("strand-a");
  const b = await t.enrollHost("strand-b");
  await a.agent.reportIpam(report("strand", [{ address: "10.97.0.20", containerId: "ctr-a1" }, { address: "fd00:97::10", containerId: "ctr-a2" }, { address: "10.97.1.7", containerId: "ctr-a3" }]));
  await b.agent.reportIpam(report("strand", [{ address: "10.97.0.90", containerId: "ctr-b1" }, { address: "10.97.0.20", containerId: "ctr-b2" }]));
  expect(await t.db.lease.count({ where: { networkId } })).toBe(5);
});
afterAll(() => t?.close());

describe("leases a draft of a network's config would strand", () => {
  it("are those outside every range of the draft, in every range set (IPv4 and IPv6), per host with their holders", async () => {
    const draft = BRIDGE("strand", { ...SAVED, ranges: [[{ subnet: "10.97.0.0/24", rangeStart: "10.97.0.10", rangeEnd: "10.97.0.50" }, { subnet: "10.97.1.0/24" }], [{ subnet: "fd00:97::/120", rangeStart: "fd00:97::80" }]] });
    const found = await viewer.caller.ipam.stranded({ networkId, text: draft });
    expect(found.total).toBe(2);
    expect(found.hosts.map((h) => [h.hostName, h.count])).toEqual([["strand-a", 1], ["strand-b", 1]]);
    expect(found.leases.map((l) => [l.hostName, l.address, l.containerId, l.ifName])).toEqual([
      ["strand-a", "fd00:97::10", "ctr-a2", "eth0"],
      ["strand-b", "10.97.0.90", "ctr-b1", "eth0"],
    ]);
    expect(found.ranges).toEqual(["10.97.0.10 – 10.97.0.50", "10.97.1.1 – 10.97.1.254", "fd00:97::80 – fd00:97::ff"]);
    expect(found.alreadyOutside).toBe(0);
  });

  it("are none when the draft keeps every held address (a range widened), and only those the legacy single-range form leaves out", async () => {
    const widened = BRIDGE("strand", { ...SAVED, ranges: [[{ subnet: "10.97.0.0/23" }], [{ subnet: "fd00:97::/64" }]] });
    expect(await viewer.caller.ipam.stranded({ networkId, text: widened })).toMatchObject({ total: 0, hosts: [], leases: [] });
    // The legacy form holds one range: the IPv6 lease and the 10.97.1.x one fall out of it, the rest stay.
    const legacy = BRIDGE("strand", { type: "host-local", subnet: "10.97.0.0/24" });
    const found = await viewer.caller.ipam.stranded({ networkId, text: legacy });
    expect(found.leases.map((l) => l.address)).toEqual(["10.97.1.7", "fd00:97::10"]);
  });

  it("are every held address when the draft has no host-local range left (another IPAM), and the ones already outside the saved ranges are counted apart", async () => {
    const dhcp = await viewer.caller.ipam.stranded({ networkId, text: BRIDGE("strand", { type: "dhcp" }) });
    expect([dhcp.total, dhcp.ranges, dhcp.hosts.map((h) => h.count)]).toEqual([5, [], [3, 2]]);
    // Saved: .1 to .50, and a host holds .90 outside it already (an earlier change): a draft of .30 to .60 strands .20, and .90 is not its doing.
    const other = await operator.caller.networks.create({ text: BRIDGE("strand-2", { type: "host-local", subnet: "10.98.0.0/24", rangeEnd: "10.98.0.50" }), comment: "" });
    const c = await t.enrollHost("strand-c");
    await c.agent.reportIpam(report("strand-2", [{ address: "10.98.0.20", containerId: "ctr-c1" }, { address: "10.98.0.90", containerId: "ctr-c2" }]));
    const found = await viewer.caller.ipam.stranded({ networkId: other.id, text: BRIDGE("strand-2", { type: "host-local", subnet: "10.98.0.0/24", rangeStart: "10.98.0.30", rangeEnd: "10.98.0.60" }) });
    expect([found.total, found.leases.map((l) => l.address), found.alreadyOutside]).toEqual([1, ["10.98.0.20"], 1]);
  });

  it("are said in the import preview of a file that updates the network, beside its other warnings; a file that creates one has none", async () => {
    const narrow = BRIDGE("strand", { ...SAVED, ranges: [[{ subnet: "10.97.0.0/24", rangeStart: "10.97.0.10", rangeEnd: "10.97.0.50" }, { subnet: "10.97.1.0/24" }], [{ subnet: "fd00:97::/120", rangeStart: "fd00:97::80" }]] });
    const preview = await viewer.caller.networks.previewImport({ files: [{ fileName: "strand.conflist", text: narrow }, { fileName: "new.conflist", text: BRIDGE("strand-new", { type: "host-local", subnet: "10.99.0.0/24" }) }] });
    expect(preview.files.map((f) => f.action)).toEqual(["update", "create"]);
    expect(preview.files[0]!.warnings.map((w) => w.message)).toContain(
      "2 held addresses fall outside the new ranges (strand-a: 1, strand-b: 1): fd00:97::10 on strand-a (ctr-a2/eth0), 10.97.0.90 on strand-b (ctr-b1/eth0); host-local will not hand them out again",
    );
    expect(preview.files[1]!.warnings.filter((w) => w.message.includes("held address"))).toEqual([]);
  });

  it("changes nothing, and refuses a draft that is not a config and a network that does not exist, with what was wrong", async () => {
    const before = await t.db.networkRevision.count();
    let err = await trpcError(viewer.caller.ipam.stranded({ networkId, text: '{"cniVersion": "1.0.0", "name": "strand"' }));
    expect(err.code).toBe("BAD_REQUEST");
    expect(err.message).toMatch(/^Invalid network config at/);
    err = await trpcError(viewer.caller.ipam.stranded({ networkId: "no-such-network", text: BRIDGE("strand", SAVED) }));
    expect([err.code, err.message]).toEqual(["NOT_FOUND", "Network no-such-network not found"]);
    expect(await t.db.networkRevision.count()).toBe(before);
    expect(await t.db.lease.count({ where: { networkId } })).toBe(5);
  });
});

describe("saving a revision that strands held addresses", () => {
  const NARROW = { ...SAVED, ranges: [[{ subnet: "10.97.0.0/24", rangeStart: "10.97.0.10", rangeEnd: "10.97.0.50" }, { subnet: "10.97.1.0/24" }], [{ subnet: "fd00:97::/120", rangeStart: "fd00:97::80" }]] };
  const revisions = () => t.db.networkRevision.count({ where: { networkId } });
  const latest = async () => (await t.db.network.findUniqueOrThrow({ where: { id: networkId } })).latestRevision;

  it("is refused on every path that writes one (edit, import, rollback) unless the caller names the count it was shown; nothing is written until then", async () => {
    const before = { revisions: await revisions(), latest: await latest() };
    const edit = (strandAddresses?: number) => operator.caller.networks.update({ id: networkId, text: BRIDGE("strand", NARROW), comment: "narrow", expectedRevision: before.latest, ...(strandAddresses === undefined ? {} : { strandAddresses }) });
    let err = await trpcError(edit());
    expect(err.code).toBe("PRECONDITION_FAILED");
    expect(err.message).toContain('Network "strand": 2 held addresses fall outside the new ranges (strand-a: 1, strand-b: 1)');
    expect(err.message).toContain("send strandAddresses: 2");
    err = await trpcError(edit(1));
    expect(err.message).toContain("(you agreed to 1)");
    const importing = (strandAddresses?: number) => operator.caller.networks.import({ files: [{ fileName: "strand.conflist", text: BRIDGE("strand", NARROW), ...(strandAddresses === undefined ? {} : { strandAddresses }) }] });
    expect((await trpcError(importing())).code).toBe("PRECONDITION_FAILED");
    const preview = await viewer.caller.networks.previewImport({ files: [{ fileName: "strand.conflist", text: BRIDGE("strand", NARROW) }] });
    expect(preview.files[0]!.stranded).toBe(2);
    expect({ revisions: await revisions(), latest: await latest() }).toEqual(before);
    // Refusals are audited as errors, nothing else is.
    expect(await t.db.auditEvent.count({ where: { action: { in: ["networks.update", "networks.import"] }, outcome: "success", targetId: networkId } })).toBe(0);

    const saved = await edit(2);
    expect(saved.revision).toBe(before.latest + 1);
    // Back to the wide ranges strands nothing; narrowing again by rollback is asked again.
    await operator.caller.networks.update({ id: networkId, text: BRIDGE("strand", SAVED), comment: "wide", expectedRevision: saved.revision });
    const rollback = (strandAddresses?: number) => operator.caller.networks.rollback({ id: networkId, toRevision: saved.revision, expectedRevision: saved.revision + 1, ...(strandAddresses === undefined ? {} : { strandAddresses }) });
    expect((await trpcError(rollback())).code).toBe("PRECONDITION_FAILED");
    expect(await latest()).toBe(saved.revision + 1);
    expect((await rollback(2)).revision).toBe(saved.revision + 2);
    // An edit that leaves the ranges as they are needs no count, even with addresses outside already.
    const renamed = await operator.caller.networks.update({ id: networkId, text: BRIDGE("strand", NARROW).replace('"systr0"', '"systr1"'), comment: "bridge name", expectedRevision: saved.revision + 2 });
    expect(renamed.revision).toBe(saved.revision + 3);
    expect((await importing(2)).map((o) => o.action)).toEqual(["updated"]);
  });
});

