import { IpamSnapshot } from "@switchyard/api/schemas/ipam";
import { IpamReport } from "@switchyard/api/schemas/ipamReport";
import { createCniRuntime, loadNetworkList } from "@switchyard/cni";
import { NETNS_DIR, PLUGIN_DIRS, bridgeConflist, createNetnsPool, createTestDirs, deleteBridge, getGlobalAddrs, randomSuffix } from "@switchyard/cni/test-host";
import { parseCidr } from "@switchyard/ipam";
import { digestHostLocalStore } from "@switchyard/ipam/host-local";
import { afterAll, describe, expect, it } from "vitest";
import { changeReportRequests, snapshotViews } from "./report";
import { type OwnAttachment, buildIpamSnapshot } from "./snapshot";

// As root, with the real bridge and host-local plugins, in namespaces this test makes: the
// snapshot must show what host-local wrote, what the cache says and what the namespaces hold.
const pool = createNetnsPool();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanups.reverse()) await step().catch(() => undefined);
  await pool.cleanup();
});

describe("buildIpamSnapshot with the real host-local plugin", () => {
  it("shows three attachments' leases with their holders, and the delta after one DEL removes exactly its leases", async () => {
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    const { conflist, names, text } = bridgeConflist({ dataDir: dirs.dataDir, ipv6: true });
    cleanups.push(() => deleteBridge(names.bridge));
    const net = loadNetworkList(text);
    const runtime = createCniRuntime({ pluginDirs: PLUGIN_DIRS, cacheDir: dirs.cacheDir, netnsDirs: [NETNS_DIR] });
    const suffix = randomSuffix();
    const own: OwnAttachment[] = [];
    const got = new Map<string, string[]>();
    for (let i = 1; i <= 3; i++) {
      const ns = await pool.create();
      const rt = { containerId: `ctr${i}-${suffix}`, netns: ns.path, ifName: "eth0" };
      const result = await runtime.addNetworkList(net, rt);
      cleanups.push(() => runtime.delNetworkList(net, rt));
      got.set(rt.containerId, (result.ips ?? []).map((ip) => ip.address));
      own.push({ networkName: net.name, ...rt });
    }
    const deps = { networks: [{ name: net.name, knownFrom: ["console" as const], net }], runtime, netnsDirs: [NETNS_DIR], allowedDataDirRoots: [dirs.root] };
    const a = await buildIpamSnapshot({ ...deps, ownAttachments: own, now: () => 1000 });

    expect(IpamSnapshot.parse(a)).toEqual(a);
    const [n] = a.networks;
    expect(n).toMatchObject({ networkName: conflist.name, ipamType: "host-local", dataDir: { source: "config", path: dirs.dataDir }, findings: [], truncated: false });
    // Canonical text: the fixture may write "…:0290::/64".
    const canonical = (cidr: string) => {
      const parsed = parseCidr(cidr);
      return parsed.ok ? parsed.value.text : cidr;
    };
    expect(n!.ranges.map((r) => r.subnet)).toEqual([names.v4Subnet, names.v6Subnet].map(canonical));
    // Three containers, an IPv4 and an IPv6 lease each, named as host-local names them, held by the container's eth0.
    const expected = [...got].flatMap(([containerId, cidrs]) => cidrs.map((c) => ({ address: c.split("/")[0]!, containerId, ifName: "eth0" })));
    expect(expected).toHaveLength(6);
    expect(n!.leases.map(({ address, containerId, ifName }) => ({ address, containerId, ifName }))).toEqual(
      expect.arrayContaining(expected.map((e) => expect.objectContaining(e))),
    );
    expect(n!.leases).toHaveLength(6);
    expect(n!.reservedIps.map((r) => r.rangeSet)).toEqual([0, 1]);
    // The cache and the namespaces agree with what ADD returned.
    expect(n!.cached.map((c) => [c.containerId, c.ifName, [...c.addresses].sort()])).toEqual([...got].map(([id, cidrs]) => [id, "eth0", [...cidrs].sort()]));
    for (const nsEntry of n!.namespaces) {
      expect([...nsEntry.addresses].sort()).toEqual([...got.get(nsEntry.containerId)!].sort());
      expect(nsEntry.addresses).toEqual(await getGlobalAddrs(nsEntry.netns.split("/").pop()!, "eth0"));
    }
    expect(n!.namespaces).toHaveLength(3);

    // DEL the second container: host-local removes its two lease files.
    const gone = own[1]!;
    await runtime.delNetworkList(net, gone);
    const b = await buildIpamSnapshot({ ...deps, ownAttachments: own.filter((o) => o !== gone), now: () => 2000 });
    // What the console is told: that container's addresses removed, nothing else.
    const requests = changeReportRequests(snapshotViews(a), snapshotViews(b), b.takenAt);
    for (const r of requests) expect(IpamReport.safeParse(r).success).toBe(true);
    const changes = requests.flatMap((r) => r.networks);
    expect(changes).toHaveLength(1);
    const [d] = changes;
    if (d?.mode !== "change") throw new Error("expected a change report");
    expect([...d.removed].sort()).toEqual(got.get(gone.containerId)!.map((c) => c.split("/")[0]!).sort());
    expect(d.upserted).toEqual([]);
    expect(d.digest).toBe((await digestHostLocalStore({ dataDir: dirs.dataDir, network: net.name })).digest);
    expect(b.networks[0]!.leases.map((l) => l.containerId)).not.toContain(gone.containerId);
  });
});
