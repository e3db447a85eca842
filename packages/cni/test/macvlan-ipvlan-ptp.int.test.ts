import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createCleanup, createMasterLink, deleteLink, kernelSupportsLinkKind, getGlobalAddrs, hostLocal, listLinks, PLUGIN_CNI_VERSION, randomSuffix, run, saveSysctls, uniqueNames } from "./host";
import { isRoot, NO_LEAKS, prepareAttachment } from "./host/harness";

async function hostRoutesMentioning(ip: string): Promise<string[]> {
  const out: string[] = [];
  for (const family of ["-4", "-6"]) {
    const { stdout } = await run("ip", [family, "route", "show"], { check: false });
    out.push(...stdout.split("\n").filter((l) => l.includes(ip)));
  }
  return out;
}

describe.runIf(isRoot)("macvlan, ipvlan (on a dummy master) and ptp with the real plugins", () => {
  const cleanup = createCleanup();
  let restoreSysctls: () => Promise<void>;
  const kernel = { macvlan: true, ipvlan: true };
  beforeAll(async () => {
    restoreSysctls = await saveSysctls();
    // Some kernels (container hosts) ship without the ipvlan driver: skip those cases, loudly.
    for (const kind of ["macvlan", "ipvlan"] as const) {
      kernel[kind] = await kernelSupportsLinkKind(kind);
      if (!kernel[kind]) console.warn(`kernel has no ${kind} driver: ${kind} tests are skipped on this host`);
    }
  });
  afterEach(() => cleanup.run());
  afterAll(async () => {
    await restoreSysctls?.();
  });

  const families = [
    { label: "IPv4", ipv4: true, ipv6: false },
    { label: "IPv6", ipv4: false, ipv6: true },
  ];

  for (const kind of ["macvlan", "ipvlan"] as const) {
    for (const fam of families) {
      it(`${kind} ${fam.label}: address inside, CHECK passes, DEL removes the link and the lease`, async (ctx) => {
        if (!kernel[kind]) ctx.skip();
        const master = `sy${randomSuffix()}`;
        await createMasterLink(master);
        cleanup.add(() => deleteLink(master));
        const a = await prepareAttachment({
          cleanup,
          conflist: (dirs) => {
            const names = uniqueNames();
            const subnets = [...(fam.ipv4 ? [names.v4Subnet] : []), ...(fam.ipv6 ? [names.v6Subnet] : [])];
            const conflist = {
              cniVersion: PLUGIN_CNI_VERSION,
              name: names.network,
              plugins: [{ type: kind, master, mode: kind === "macvlan" ? "bridge" : "l2", ipam: hostLocal(dirs.dataDir, subnets) }],
            };
            return { text: JSON.stringify(conflist), network: names.network, extraTokens: [master] };
          },
        });
        const result = await a.runtime.addNetworkList(a.net, a.rt);
        const addr = result.ips?.[0]?.address ?? "";
        expect(addr).toMatch(fam.ipv4 ? /^10\./ : /^fd00:/);
        expect(await getGlobalAddrs(a.ns.name, "eth0")).toContain(addr);
        const inside = (await listLinks(a.ns.name)).find((l) => l.ifname === "eth0");
        expect(inside?.kind).toBe(kind);
        await a.snapshotAfterAdd(result);

        await a.runtime.checkNetworkList(a.net, a.rt);
        await a.runtime.delNetworkList(a.net, a.rt);
        expect((await listLinks(a.ns.name)).map((l) => l.ifname)).toEqual(["lo"]);
        expect(await a.leaks()).toEqual(NO_LEAKS);
        await a.runtime.delNetworkList(a.net, a.rt);
      });
    }
  }

  for (const fam of families) {
    it(`ptp ${fam.label}: address inside, host route and veth on ADD, none after DEL`, async () => {
      const a = await prepareAttachment({
        cleanup,
        conflist: (dirs) => {
          const names = uniqueNames();
          const subnets = [...(fam.ipv4 ? [names.v4Subnet] : []), ...(fam.ipv6 ? [names.v6Subnet] : [])];
          const conflist = {
            cniVersion: PLUGIN_CNI_VERSION,
            name: names.network,
            plugins: [{ type: "ptp", ipMasq: false, ipam: hostLocal(dirs.dataDir, subnets) }],
          };
          return { text: JSON.stringify(conflist), network: names.network };
        },
      });
      const result = await a.runtime.addNetworkList(a.net, a.rt);
      const addr = result.ips?.[0]?.address ?? "";
      const ip = addr.split("/")[0]!;
      expect(await getGlobalAddrs(a.ns.name, "eth0")).toContain(addr);
      const hostVeth = result.interfaces?.find((i) => !i.sandbox)?.name ?? "";
      expect(hostVeth).not.toBe("");
      expect((await listLinks()).some((l) => l.ifname === hostVeth && l.kind === "veth")).toBe(true);
      expect((await hostRoutesMentioning(ip)).length).toBeGreaterThan(0);
      await a.snapshotAfterAdd(result);

      await a.runtime.checkNetworkList(a.net, a.rt);
      await a.runtime.delNetworkList(a.net, a.rt);
      expect((await listLinks()).some((l) => l.ifname === hostVeth)).toBe(false);
      expect(await hostRoutesMentioning(ip)).toEqual([]);
      expect(await a.leaks()).toEqual(NO_LEAKS);
      await a.runtime.delNetworkList(a.net, a.rt);
    });
  }
});
