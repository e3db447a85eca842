import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestNetns, createNetnsPool, run } from "@switchyard/cni/test-host";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findConntrack, flushUdpMemberFlows } from "../src/services/conntrack";
import { getProbeFlow } from "../src/services/probe-conntrack";
import { isRoot } from "./harness";
import { enableForwarding, linkNamespaces } from "./support/host-netns";

// A removed UDP member's conntrack entries are flushed (design §6), on real entries: a client
// namespace sends datagrams to a VIP through a "host" namespace whose throw-away nft table
// DNATs them to two members in a third namespace.
describe.skipIf(!isRoot)("UDP conntrack flush of a removed member (design §6)", () => {
  const pool = createNetnsPool();
  let client: TestNetns;
  let host: TestNetns;
  let members: TestNetns;
  const VIP = "10.241.0.10";
  const VIP6 = "fd00:241::10";

  beforeAll(async () => {
    if (!findConntrack()) throw new Error("conntrack is not installed: apt-get install conntrack (scripts/test.sh installs it)");
    [client, host, members] = [await pool.create(), await pool.create(), await pool.create()];
    await linkNamespaces({ netns: client.name, ifname: "syc0", cidr: "10.50.0.2/24" }, { netns: host.name, ifname: "syhc0", cidr: "10.50.0.1/24" });
    await linkNamespaces({ netns: host.name, ifname: "syhm0", cidr: "10.51.0.1/24" }, { netns: members.name, ifname: "sym0", cidr: "10.51.0.2/24" });
    await run("ip", ["-n", members.name, "addr", "add", "10.51.0.3/24", "dev", "sym0"]);
    await run("ip", ["-n", client.name, "route", "add", "default", "via", "10.50.0.1"]);
    await run("ip", ["-n", members.name, "route", "add", "default", "via", "10.51.0.1"]);
    await enableForwarding(host.name);
    // The same, in IPv6 (fd00:50::/64 client side, fd00:51::/64 members).
    await run("ip", ["netns", "exec", host.name, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
    for (const [netns, dev, cidr] of [[client.name, "syc0", "fd00:50::2/64"], [host.name, "syhc0", "fd00:50::1/64"], [host.name, "syhm0", "fd00:51::1/64"], [members.name, "sym0", "fd00:51::2/64"], [members.name, "sym0", "fd00:51::3/64"]] as const) {
      await run("ip", ["-n", netns, "-6", "addr", "add", cidr, "dev", dev, "nodad"]);
    }
    await run("ip", ["-n", client.name, "-6", "route", "add", "default", "via", "fd00:50::1"]);
    await run("ip", ["-n", members.name, "-6", "route", "add", "default", "via", "fd00:51::1"]);
    // The client's source port picks the member, so the test knows which entry is whose.
    const table = `table ip sytest_dnat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${VIP} udp dport 53 udp sport 40001 dnat to 10.51.0.2:5353
    ip daddr ${VIP} udp dport 53 udp sport 40002 dnat to 10.51.0.3:5353
  }
}
table ip6 sytest_dnat6 {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip6 daddr ${VIP6} udp dport 53 udp sport 40001 dnat to [fd00:51::2]:5353
    ip6 daddr ${VIP6} udp dport 53 udp sport 40002 dnat to [fd00:51::3]:5353
  }
}
`;
    await run("ip", ["netns", "exec", host.name, "nft", "-f", "-"], { input: table });
    for (const [type, from, to] of [["udp4", "10.50.0.2", VIP], ["udp6", "fd00:50::2", VIP6]]) {
      for (const sport of [40001, 40002]) {
        const script = `const s = require("node:dgram").createSocket("${type}"); s.bind(${sport}, "${from}", () => s.send("q", 53, "${to}", (e) => { if (e) throw e; s.close(); }));`;
        await run("ip", ["netns", "exec", client.name, process.execPath, "-e", script], { timeoutMs: 10_000 });
      }
    }
  });
  afterAll(() => pool.cleanup());

  /** The host namespace's UDP entries to the VIP, as "member:port" of their reply source. */
  const entriesToVip = async (vip = VIP): Promise<string[]> => {
    const family = vip.includes(":") ? "ipv6" : "ipv4";
    const { stdout } = await run("ip", ["netns", "exec", host.name, "conntrack", "-L", "-f", family, "-p", "udp", "--orig-dst", vip]);
    return stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const src = [...line.matchAll(/src=(\S+)/g)].map((m) => m[1]);
        const sport = [...line.matchAll(/sport=(\d+)/g)].map((m) => m[1]);
        return `${src[1]}:${sport[1]}`;
      })
      .sort();
  };

  it("a probe's lookup of one connection by its tuple finds its member; a tuple with no entry is null", async () => {
    const get = (vip: string, src: string, sport: number) => getProbeFlow({ vip, port: 53, protocol: "udp", src, sport, netns: host.name });
    expect(await get(VIP, "10.50.0.2", 40001)).toEqual({ src: "10.50.0.2", sport: 40001, member: "10.51.0.2", memberPort: 5353 });
    expect(await get(VIP, "10.50.0.2", 40002)).toEqual({ src: "10.50.0.2", sport: 40002, member: "10.51.0.3", memberPort: 5353 });
    expect(await get(VIP6, "fd00:50::2", 40002)).toEqual({ src: "fd00:50::2", sport: 40002, member: "fd00:51::3", memberPort: 5353 });
    expect(await get(VIP, "10.50.0.2", 40009)).toBeNull();
  });

  it("deletes the removed member's entries only; 0 entries is success", async () => {
    expect(await entriesToVip()).toEqual(["10.51.0.2:5353", "10.51.0.3:5353"]);

    expect(await flushUdpMemberFlows({ vip: VIP, port: 53, member: "10.51.0.2", targetPort: 5353 }, { netns: host.name })).toEqual({ status: "flushed", deleted: 1 });
    expect(await entriesToVip()).toEqual(["10.51.0.3:5353"]);

    // Again, and for a port the member never served: nothing to flush is not an error.
    expect(await flushUdpMemberFlows({ vip: VIP, port: 53, member: "10.51.0.2", targetPort: 5353 }, { netns: host.name })).toEqual({ status: "flushed", deleted: 0 });
    expect(await flushUdpMemberFlows({ vip: VIP, port: 54, member: "10.51.0.3", targetPort: 5353 }, { netns: host.name })).toEqual({ status: "flushed", deleted: 0 });
    expect(await entriesToVip()).toEqual(["10.51.0.3:5353"]);
  });

  it("IPv6: the same flush, with the family passed on", async () => {
    expect(await entriesToVip(VIP6)).toEqual(["fd00:51::2:5353", "fd00:51::3:5353"]);
    expect(await flushUdpMemberFlows({ vip: VIP6, port: 53, member: "fd00:51::3", targetPort: 5353 }, { netns: host.name })).toEqual({ status: "flushed", deleted: 1 });
    expect(await entriesToVip(VIP6)).toEqual(["fd00:51::2:5353"]);
    expect(await entriesToVip()).toEqual(["10.51.0.3:5353"]);
  });

  it("a missing conntrack binary is reported, not thrown, and nothing is deleted", async () => {
    const empty = mkdtempSync(join(tmpdir(), "sytest-nopath-"));
    try {
      const result = await flushUdpMemberFlows({ vip: VIP, port: 53, member: "10.51.0.3", targetPort: 5353 }, { netns: host.name, searchPath: [empty] });
      expect(result).toMatchObject({ status: "skipped", reason: "conntrack-missing" });
      expect(await entriesToVip()).toEqual(["10.51.0.3:5353"]);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("refuses bad input before running anything", async () => {
    const base = { vip: VIP, port: 53, member: "10.51.0.3", targetPort: 5353 };
    for (const bad of [{ vip: "10.241.0.10 -F" }, { member: "fd00::3" }, { port: 0 }, { targetPort: 65536 }, { member: "10.051.0.3" }]) {
      await expect(flushUdpMemberFlows({ ...base, ...bad }, { netns: host.name })).rejects.toThrow(/conntrack flush refused/);
    }
    await expect(flushUdpMemberFlows(base, { netns: "-n" })).rejects.toThrow(/namespace name/);
    expect(await entriesToVip()).toEqual(["10.51.0.3:5353"]);
  });
});
