import { readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CniError, type ExecEvent, createCniRuntime, loadNetworkList } from "../src/index";
import { bridgeConflist, deleteBridge, getGlobalAddrs, listCacheFiles, PLUGIN_DIRS, purgeAttachmentLeftovers, readLeases, run } from "./host";
import { type Attachment, guardHost, isRoot, NO_LEAKS, prepareAttachment } from "./host/harness";

// Issue 10, item 1: one attachment's ADD, rollback, DEL or GC must never remove the interface or
// address of another. Real plugins in namespaces these tests create; root only.
describe.runIf(isRoot)("an interface name in a namespace belongs to one attachment", { timeout: 60_000 }, () => {
  const cleanup = guardHost();

  const bridgeNet = (dirs: { dataDir: string }) => {
    const { text, names } = bridgeConflist({ dataDir: dirs.dataDir });
    return { text, network: names.network, bridge: names.bridge };
  };

  /** A second bridge network in the same cache and IPAM dirs as `a`, cleaned up with it. */
  function secondNetwork(a: Attachment) {
    const { text, names } = bridgeConflist({ dataDir: a.dirs.dataDir });
    cleanup.add(() => deleteBridge(names.bridge));
    cleanup.add(() => purgeAttachmentLeftovers(names.network, "c2"));
    return loadNetworkList(text);
  }

  /** A runtime on `cacheDir` that records every plugin it starts. */
  function watchedRuntime(cacheDir: string) {
    const execs: ExecEvent[] = [];
    const warnings: CniError[] = [];
    const runtime = createCniRuntime({ pluginDirs: PLUGIN_DIRS, cacheDir, onExec: (e) => e.phase === "start" && execs.push(e), onWarning: (w) => warnings.push(w) });
    return { runtime, execs, warnings };
  }

  /** ADD of the first attachment; returns its address inside the namespace. */
  async function addFirst(a: Attachment): Promise<string> {
    const result = await a.runtime.addNetworkList(a.net, a.rt);
    await a.snapshotAfterAdd(result);
    const address = result.ips![0]!.address;
    expect(await getGlobalAddrs(a.ns.name, "eth0")).toEqual([address]);
    return address;
  }

  /** The first attachment is whole: its address in the namespace, its lease and cache file, CHECK passes. */
  async function expectIntact(a: Attachment, address: string): Promise<void> {
    expect(await getGlobalAddrs(a.ns.name, "eth0")).toEqual([address]);
    expect((await readLeases(a.dirs.dataDir, a.net.name)).map((l) => `${l.ip}/24 ${l.containerId}`)).toEqual([`${address} ${a.rt.containerId}`]);
    expect(await listCacheFiles(a.dirs.cacheDir)).toContain(`${a.net.name}-${a.rt.containerId}-eth0`);
    await a.runtime.checkNetworkList(a.net, a.rt);
  }

  it("ADD of a (netns, ifname) another cached attachment holds is refused before any plugin runs, in the same network and in another", async () => {
    const a = await prepareAttachment({ cleanup, conflist: bridgeNet });
    const address = await addFirst(a);
    const other = secondNetwork(a);
    const { runtime, execs } = watchedRuntime(a.dirs.cacheDir);
    for (const net of [a.net, other]) {
      const error = await runtime.addNetworkList(net, { containerId: "c2", netns: a.ns.path, ifName: "eth0" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CniError);
      expect(error).toMatchObject({ code: 4, reason: "ifnameInUse", file: join(a.dirs.cacheDir, "results", `${a.net.name}-${a.rt.containerId}-eth0`) });
      expect((error as CniError).message).toBe(
        `interface eth0 in ${a.ns.path} is held by attachment ${a.net.name}/${a.rt.containerId}/eth0: DEL that attachment first, or ADD ${net.name}/c2/eth0 with another ifname`,
      );
    }
    expect(execs).toEqual([]);
    await expectIntact(a, address);
    expect(await readLeases(a.dirs.dataDir, other.name)).toEqual([]);
    // Another interface name in the same namespace is fine.
    await runtime.addNetworkList(other, { containerId: "c2", netns: a.ns.path, ifName: "eth1" });
    await runtime.delNetworkList(other, { containerId: "c2", netns: a.ns.path, ifName: "eth1" });
    await a.runtime.delNetworkList(a.net, a.rt);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("a failed ADD's rollback leaves an interface that was in the namespace before it, with no cache entry", async () => {
    const a = await prepareAttachment({ cleanup, conflist: bridgeNet });
    // A veth pair inside the namespace (this kernel may have no dummy driver).
    await run("ip", ["-n", a.ns.name, "link", "add", "eth0", "type", "veth", "peer", "name", "sypeer0"]);
    await run("ip", ["-n", a.ns.name, "addr", "add", "10.199.9.9/24", "dev", "eth0"]);
    await expect(a.runtime.addNetworkList(a.net, a.rt)).rejects.toThrow(/already exists/);
    expect(await getGlobalAddrs(a.ns.name, "eth0")).toEqual(["10.199.9.9/24"]);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("a failed ADD's rollback leaves the interface of an attachment cached elsewhere (another runtime's cache dir)", async () => {
    const a = await prepareAttachment({ cleanup, conflist: bridgeNet });
    const address = await addFirst(a);
    const elsewhere = watchedRuntime(join(a.dirs.root, "other-cache"));
    await expect(elsewhere.runtime.addNetworkList(a.net, { containerId: "c2", netns: a.ns.path, ifName: "eth0" })).rejects.toThrow(/already exists/);
    expect(elsewhere.execs.map((e) => `${e.verb} ${e.plugin}`)).toEqual(["ADD bridge", "DEL bridge"]);
    await expectIntact(a, address);
    expect(await listCacheFiles(join(a.dirs.root, "other-cache"))).toEqual([]);
    await a.runtime.delNetworkList(a.net, a.rt);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("DEL of an attachment with no cache entry leaves another cached attachment's interface and address", async () => {
    const a = await prepareAttachment({ cleanup, conflist: bridgeNet });
    const address = await addFirst(a);
    const other = secondNetwork(a);
    const { runtime, warnings } = watchedRuntime(a.dirs.cacheDir);
    for (const net of [a.net, other]) await runtime.delNetworkList(net, { containerId: "c2", netns: a.ns.path, ifName: "eth0" });
    expect(warnings.map((w) => w.reason)).toEqual(["ifnameInUse", "ifnameInUse"]);
    await expectIntact(a, address);
    await a.runtime.delNetworkList(a.net, a.rt);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("delCachedAttachment of a second entry for the same (netns, ifname) releases its own and leaves the other's interface", async () => {
    const a = await prepareAttachment({ cleanup, conflist: bridgeNet });
    const address = await addFirst(a);
    // An entry another runtime left for the same namespace and ifname (same network, so DEL's
    // host-local would release by its own container id only).
    const cacheFile = (id: string) => join(a.dirs.cacheDir, "results", `${a.net.name}-${id}-eth0`);
    const copy = JSON.parse(readFileSync(cacheFile(a.rt.containerId), "utf8")) as Record<string, unknown>;
    writeFileSync(cacheFile("c9"), JSON.stringify({ ...copy, containerId: "c9" }));
    const { runtime, warnings, execs } = watchedRuntime(a.dirs.cacheDir);
    await runtime.delCachedAttachment({ networkName: a.net.name, containerId: "c9", ifName: "eth0" });
    expect(execs.map((e) => `${e.verb} ${e.plugin}`)).toEqual(["DEL bridge"]);
    expect(warnings.map((w) => w.message)).toEqual([
      `DEL of ${a.net.name}/c9/eth0 leaves interface eth0 in ${a.ns.path} alone: it is held by attachment ${a.net.name}/${a.rt.containerId}/eth0 (${cacheFile(a.rt.containerId)})`,
    ]);
    await expectIntact(a, address);
    await a.runtime.delNetworkList(a.net, a.rt);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("after a namespace is made again under the same name (a reboot), ADD goes on and GC / delCachedAttachment of the old entry leave the new interface", async () => {
    for (const how of ["gc", "delCachedAttachment"] as const) {
      const a = await prepareAttachment({ cleanup, conflist: bridgeNet });
      await addFirst(a);
      // The host restarts: the namespace and its veth are gone, the cache entry and the lease stay.
      const old = join(a.dirs.cacheDir, "results", `${a.net.name}-${a.rt.containerId}-eth0`);
      const past = new Date(Date.now() - 60_000);
      utimesSync(old, past, past);
      await run("ip", ["netns", "del", a.ns.name]);
      await run("ip", ["netns", "add", a.ns.name]);
      const other = secondNetwork(a);
      const next = { containerId: "c2", netns: a.ns.path, ifName: "eth0" };
      const result = await a.runtime.addNetworkList(other, next);
      const address = result.ips![0]!.address;

      if (how === "gc") await a.runtime.gcNetworkList(a.net, { validAttachments: [] });
      else await a.runtime.delCachedAttachment({ networkName: a.net.name, containerId: a.rt.containerId, ifName: "eth0" });
      // The old attachment's lease and cache entry are released; the new one is whole.
      expect(await readLeases(a.dirs.dataDir, a.net.name)).toEqual([]);
      expect(await listCacheFiles(a.dirs.cacheDir)).toEqual([`${other.name}-c2-eth0`]);
      expect(await getGlobalAddrs(a.ns.name, "eth0")).toEqual([address]);
      await a.runtime.checkNetworkList(other, next);
      await a.runtime.delNetworkList(other, next);
      expect(await readLeases(a.dirs.dataDir, other.name)).toEqual([]);
      expect(await a.leaks()).toEqual(NO_LEAKS);
      await cleanup.run();
    }
  });
});
