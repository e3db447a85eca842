import { mkdirSync, mkdtempSync, realpathSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IpamSnapshot } from "@switchyard/api/schemas/ipam";
import { createCniRuntime, loadNetworkList, serializeCachedAttachment } from "@switchyard/cni";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseIpAddrJson } from "./namespaces";
import { collectKnownNetworks, describeNetworkIpam, isInsideRoots } from "./networks";
import { buildIpamSnapshot } from "./snapshot";

let root: string;
beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), "agent-ipam-")));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const conflist = (name: string, ipam: Record<string, unknown> | undefined) =>
  loadNetworkList(JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "bridge", bridge: "br-x", ipam: ipam ?? {} }] }));

describe("describeNetworkIpam", () => {
  it("reads host-local's data dir from the config or the default, and nothing for IPAMs that keep no leases", () => {
    expect(describeNetworkIpam(conflist("a", { type: "host-local", subnet: "10.1.0.0/24" }), ["/var/lib/cni"])).toMatchObject({
      ipamType: "host-local",
      dataDir: { source: "default", path: "/var/lib/cni/networks" },
      readable: true,
      findings: [],
      ranges: [{ subnet: "10.1.0.0/24", start: "10.1.0.1", end: "10.1.0.254", gateway: "10.1.0.1", rangeSet: 0 }],
    });
    expect(describeNetworkIpam(conflist("b", { type: "static", addresses: [] }), ["/var/lib/cni"])).toMatchObject({ ipamType: "static", dataDir: { source: "none", path: "" }, readable: false });
    expect(describeNetworkIpam(conflist("c", undefined), ["/var/lib/cni"])).toMatchObject({ ipamType: "", readable: false });
  });

  it("does not read a data dir outside the allowed roots, and reports range problems", () => {
    for (const dataDir of ["/etc", "/var/lib/cni-other"]) {
      const ipam = describeNetworkIpam(conflist("a", { type: "host-local", subnet: "10.1.0.0/24", dataDir }), ["/var/lib/cni"]);
      expect(ipam.readable).toBe(false);
      expect(ipam.findings.map((f) => f.kind)).toEqual(["data-dir-not-allowed"]);
    }
    expect(isInsideRoots("/var/lib/cni/networks", ["/var/lib/cni"])).toBe(true);
    expect(isInsideRoots("/var/lib/cni/../../etc", ["/var/lib/cni"])).toBe(false);
    // The loader refuses such a config; a cached or older one may still hold it.
    const loaded = conflist("a", { type: "host-local", subnet: "10.1.0.0/24" });
    const ipam = { type: "host-local", ranges: [[{ subnet: "10.1.0.0/24", rangeStart: "10.2.0.1" }]] };
    const bad = describeNetworkIpam({ ...loaded, plugins: [{ type: "bridge", config: { type: "bridge", ipam } }] }, ["/var/lib/cni"]);
    expect(bad.findings).toEqual([{ kind: "ipam-config", file: "ranges[0][0].rangeStart", reason: 'ranges[0][0].rangeStart "10.2.0.1" is outside subnet "10.1.0.0/24"' }]);
  });
});

describe("collectKnownNetworks", () => {
  it("joins the console's networks and the conf dir's by name", async () => {
    const confDir = join(root, "net.d");
    mkdirSync(confDir);
    writeFileSync(join(confDir, "10-a.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "a", plugins: [{ type: "bridge", ipam: {} }] }));
    writeFileSync(join(confDir, "20-c.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "c", plugins: [{ type: "bridge", ipam: {} }] }));
    writeFileSync(join(confDir, "30-bad.conflist"), "{");
    const known = await collectKnownNetworks([conflist("b", undefined), conflist("a", undefined)], confDir);
    expect(known.map((k) => [k.name, k.knownFrom])).toEqual([
      ["a", ["console", "confDir"]],
      ["b", ["console"]],
      ["c", ["confDir"]],
    ]);
    expect((await collectKnownNetworks([], join(root, "missing"))).length).toBe(0);
  });
});

describe("parseIpAddrJson", () => {
  it("keeps the interface's global addresses only", () => {
    const out = JSON.stringify([
      { ifname: "lo", addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host" }] },
      {
        ifname: "eth0",
        addr_info: [
          { family: "inet", local: "10.1.0.5", prefixlen: 24, scope: "global" },
          { family: "inet6", local: "fd00::5", prefixlen: 64, scope: "global" },
          { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" },
        ],
      },
    ]);
    expect(parseIpAddrJson(out, "eth0")).toEqual(["10.1.0.5/24", "fd00::5/64"]);
    expect(parseIpAddrJson("not json", "eth0")).toEqual([]);
  });
});

describe("buildIpamSnapshot on a host's directories", () => {
  it("reads leases, the cache's addresses and findings, and reports what it may not read", async () => {
    const dataDir = join(root, "networks");
    const cacheDir = join(root, "cache");
    mkdirSync(join(dataDir, "a"), { recursive: true });
    mkdirSync(join(cacheDir, "results"), { recursive: true });
    writeFileSync(join(dataDir, "a", "10.1.0.2"), "c1\r\neth0");
    writeFileSync(join(dataDir, "a", "10.9.0.2"), "c2\r\neth0");
    writeFileSync(join(dataDir, "a", "last_reserved_ip.0"), "10.1.0.2");
    // Held by a container the cache knows only on network "z".
    writeFileSync(join(dataDir, "a", "10.1.0.3"), "c9\r\neth0");
    const a = conflist("a", { type: "host-local", subnet: "10.1.0.0/24", dataDir });
    writeFileSync(
      join(cacheDir, "results", "a-c1-eth0"),
      serializeCachedAttachment({ kind: "cniCacheV1", containerId: "c1", ifName: "eth0", networkName: "a", netns: "/run/netns/x", config: a.bytes, result: { cniVersion: "1.0.0", ips: [{ address: "10.1.0.2/24" }] } }),
    );
    writeFileSync(
      join(cacheDir, "results", "z-c9-eth0"),
      serializeCachedAttachment({ kind: "cniCacheV1", containerId: "c9", ifName: "eth0", networkName: "z", netns: "/run/netns/y", config: a.bytes, result: { cniVersion: "1.0.0", ips: [] } }),
    );
    // Lease files behind a data dir the agent may not read stay unread.
    const outside = join(root, "outside");
    mkdirSync(join(outside, "b"), { recursive: true });
    writeFileSync(join(outside, "b", "10.2.0.2"), "secret\r\neth0");
    const b = conflist("b", { type: "host-local", subnet: "10.2.0.0/24", dataDir: outside });
    const runtime = createCniRuntime({ pluginDirs: ["/usr/lib/cni"], cacheDir });
    const snap = await buildIpamSnapshot({
      networks: [
        { name: "b", knownFrom: ["confDir"], net: b },
        { name: "a", knownFrom: ["console"], net: a },
      ],
      runtime,
      netnsDirs: ["/run/netns"],
      allowedDataDirRoots: [dataDir],
      // Not a namespace in the netns dirs: refused before anything runs.
      ownAttachments: [{ networkName: "a", containerId: "c1", ifName: "eth0", netns: "/etc/passwd" }],
      now: () => 5,
    });
    expect(IpamSnapshot.parse(snap)).toEqual(snap);
    const [na, nb] = snap.networks;
    expect(na).toMatchObject({
      networkName: "a",
      leases: [
        { address: "10.1.0.2", containerId: "c1", ifName: "eth0" },
        { address: "10.1.0.3", containerId: "c9", ifName: "eth0" },
        { address: "10.9.0.2", containerId: "c2", ifName: "eth0" },
      ],
      reservedIps: [{ rangeSet: 0, address: "10.1.0.2" }],
      cached: [{ containerId: "c1", ifName: "eth0", netns: "/run/netns/x", addresses: ["10.1.0.2/24"] }],
      namespaces: [],
      entries: 4,
    });
    expect(na!.findings.map((f) => `${f.kind} ${f.file}`)).toEqual(["outside-ranges 10.9.0.2", "holder-on-other-network 10.1.0.3", "namespace-unreadable /etc/passwd"]);
    expect(nb).toMatchObject({ networkName: "b", leases: [], entries: 0 });
    expect(nb!.findings.map((f) => f.kind)).toEqual(["data-dir-not-allowed"]);
    expect(JSON.stringify(snap)).not.toContain("secret");
  });
});

describe("buildIpamSnapshot with a previous snapshot", () => {
  it("keeps the leases of a directory whose digest did not change, and reads a changed one again", async () => {
    const dataDir = join(root, "networks");
    mkdirSync(join(dataDir, "a"), { recursive: true });
    const lease = join(dataDir, "a", "10.1.0.2");
    writeFileSync(lease, "c1\r\neth0");
    // A whole second: utimes cannot put back a sub-millisecond mtime.
    const mtime = new Date(Math.floor(Date.now() / 1000) * 1000);
    utimesSync(lease, mtime, mtime);
    const net = conflist("a", { type: "host-local", subnet: "10.1.0.0/24", dataDir });
    const deps = { networks: [{ name: "a", knownFrom: ["console" as const], net }], runtime: createCniRuntime({ pluginDirs: ["/usr/lib/cni"], cacheDir: join(root, "cache") }), netnsDirs: ["/run/netns"], allowedDataDirRoots: [dataDir] };
    const first = await buildIpamSnapshot({ ...deps, now: () => 1 });
    // Same size and mtime, other holder: the digest cannot see it, so a refresh keeping c1 proves the files were not read again.
    writeFileSync(lease, "c2\r\neth0");
    utimesSync(lease, mtime, mtime);
    const reused = await buildIpamSnapshot({ ...deps, previous: first, now: () => 2 });
    expect(reused.networks[0]!.leases.map((l) => l.containerId)).toEqual(["c1"]);
    expect((await buildIpamSnapshot({ ...deps, now: () => 3 })).networks[0]!.leases.map((l) => l.containerId)).toEqual(["c2"]);
    writeFileSync(join(dataDir, "a", "10.1.0.3"), "c3\r\neth0");
    const changed = await buildIpamSnapshot({ ...deps, previous: reused, now: () => 4 });
    expect(changed.networks[0]!.leases.map((l) => l.containerId)).toEqual(["c2", "c3"]);
  });

  it("looks into a namespace seen before only when asked to refresh; a new attachment's namespace is read at once", async () => {
    const net = conflist("b", { type: "static", addresses: [{ address: "10.2.0.5/24" }] });
    const reads: string[] = [];
    const deps = {
      networks: [{ name: "b", knownFrom: ["console" as const], net }],
      runtime: createCniRuntime({ pluginDirs: ["/usr/lib/cni"], cacheDir: join(root, "cache-ns") }),
      netnsDirs: ["/run/netns"],
      readNamespace: async (netns: string) => {
        reads.push(netns);
        return ["10.2.0.5/24"];
      },
    };
    const one = { networkName: "b", containerId: "c1", ifName: "eth0", netns: "/run/netns/one" };
    const two = { networkName: "b", containerId: "c2", ifName: "eth0", netns: "/run/netns/two" };
    const first = await buildIpamSnapshot({ ...deps, ownAttachments: [one] });
    expect(reads).toEqual(["/run/netns/one"]);
    const second = await buildIpamSnapshot({ ...deps, ownAttachments: [one, two], previous: first });
    expect(reads).toEqual(["/run/netns/one", "/run/netns/two"]);
    expect(second.networks[0]!.namespaces.map((n) => [n.containerId, n.addresses])).toEqual([["c1", ["10.2.0.5/24"]], ["c2", ["10.2.0.5/24"]]]);
    await buildIpamSnapshot({ ...deps, ownAttachments: [one, two], previous: second, refreshNamespaces: true });
    expect(reads).toEqual(["/run/netns/one", "/run/netns/two", "/run/netns/one", "/run/netns/two"]);
  });
});
