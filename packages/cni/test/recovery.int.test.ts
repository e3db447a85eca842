import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type CniError, type CniRuntime, createCniRuntime, loadNetworkList } from "../src/index";
import { bridgeConflist, getGlobalAddrs, listCacheFiles, pluginPath, readLeases, run, snapshotHost } from "./host";
import { type Attachment, guardHost, isRoot, NO_LEAKS, prepareAttachment } from "./host/harness";
import { PLUGIN_DIRS } from "./host/networks";

// Issue 17 with the real plugins (Debian's, which speak up to CNI 1.0.0): every way an attachment
// got stuck, freed through the way out, and the host clean afterwards (no interface, lease, cache
// file or firewall rule). Where the outcome matches libcni, the test names the function it follows.
describe.runIf(isRoot)("recovery from bad cached configs, missing binaries, aggregated plugins (issue 17)", () => {
  const cleanup = guardHost();

  /** A runtime on the attachment's cache dir that records warnings (prepareAttachment's has none). */
  function runtimeFor(a: Attachment, pluginDirs = PLUGIN_DIRS): { runtime: CniRuntime; warnings: CniError[] } {
    const warnings: CniError[] = [];
    return { runtime: createCniRuntime({ pluginDirs, cacheDir: a.dirs.cacheDir, timeoutMs: 30_000, onWarning: (w) => warnings.push(w) }), warnings };
  }

  /** bridge + host-local, with `cniVersions` as the spec's own example has it (plugins here speak up to 1.0.0). */
  function versionsNet(dirs: { dataDir: string }) {
    const { conflist, names } = bridgeConflist({ ipv4: true, dataDir: dirs.dataDir });
    const broken = { ...conflist, cniVersions: ["1.0.0", "1.1.0"] };
    return { text: JSON.stringify(broken), fixed: JSON.stringify(conflist), network: names.network, bridge: names.bridge };
  }

  async function addThatFailsOnVersion() {
    let fixed = "";
    const a = await prepareAttachment({
      cleanup,
      conflist: (dirs) => {
        const built = versionsNet(dirs);
        fixed = built.fixed;
        return built;
      },
    });
    expect(a.net.cniVersion).toBe("1.1.0");
    const error = (await a.runtime.addNetworkList(a.net, a.rt).catch((e: unknown) => e)) as CniError;
    expect(error.code).toBe(1);
    expect(error.details).toMatch(/config is "1\.1\.0"/);
    expect(error.details).toMatch(/rollback DEL failed/);
    const file = join(a.dirs.cacheDir, "results", `${a.net.name}-${a.rt.containerId}-eth0`);
    expect(JSON.parse(await readFile(file, "utf8")).addIncomplete).toBe(true);
    return { a, fixed: loadNetworkList(fixed), file };
  }

  it('item 1: cniVersions ["1.0.0","1.1.0"] — DEL with the fixed config frees it (libcni DelNetworkList with the given config)', async () => {
    const { a, fixed } = await addThatFailsOnVersion();
    const { runtime, warnings } = runtimeFor(a);
    await runtime.delNetworkList(fixed, a.rt);
    expect(warnings.map((w) => [w.reason, w.code])).toEqual([["cachedConfigFailed", 1]]);
    expect(await listCacheFiles(a.dirs.cacheDir)).toEqual([]);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("item 1: the same repro — a failed rollback does not block the next ADD with the fixed config; CHECK and DEL then work", async () => {
    const { a, fixed } = await addThatFailsOnVersion();
    const { runtime, warnings } = runtimeFor(a);
    const result = await runtime.addNetworkList(fixed, a.rt);
    await a.snapshotAfterAdd(result);
    expect(await getGlobalAddrs(a.ns.name, "eth0")).toContain(result.ips![0]!.address);
    // Clearing the leftovers went through the fallback: the cached (1.1.0) DEL failed, the fixed one worked.
    expect(warnings.map((w) => w.reason)).toEqual(["cachedConfigFailed"]);
    await runtime.checkNetworkList(fixed, a.rt);
    await runtime.delNetworkList(fixed, a.rt);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("item 1: the same repro — gc --drain with the fixed config finishes (libcni GCNetworkList)", async () => {
    const { a, fixed } = await addThatFailsOnVersion();
    const { runtime } = runtimeFor(a);
    await runtime.gcNetworkList(fixed, { validAttachments: [] });
    expect(await listCacheFiles(a.dirs.cacheDir)).toEqual([]);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  /** bridge + a copy of the real tuning plugin under its own name in a temp CNI_PATH directory, so the test can remove its binary. */
  async function withRemovablePlugin() {
    const bin = await mkdtemp(join(tmpdir(), "sytest-bin-"));
    cleanup.add(() => rm(bin, { recursive: true, force: true }));
    const type = "sytuning";
    await copyFile(pluginPath("tuning"), join(bin, type));
    const pluginDirs = [bin, ...PLUGIN_DIRS];
    let dropped = "";
    const a = await prepareAttachment({
      cleanup,
      pluginDirs,
      conflist: (dirs) => {
        const { conflist, names } = bridgeConflist({ ipv4: true, dataDir: dirs.dataDir, chain: [{ type, sysctl: { "net.ipv4.conf.eth0.arp_notify": "1" } }] });
        dropped = JSON.stringify({ ...conflist, plugins: conflist.plugins.slice(0, 1) });
        return { text: JSON.stringify(conflist), network: names.network, bridge: names.bridge };
      },
    });
    const result = await a.runtime.addNetworkList(a.net, a.rt);
    await a.snapshotAfterAdd(result);
    expect((await readLeases(a.dirs.dataDir, a.net.name)).length).toBe(1);
    await rm(join(bin, type));
    return { a, bin, type, pluginDirs, dropped: loadNetworkList(dropped), result };
  }

  it("item 1: a plugin dropped from the chain and its binary removed — DEL with the new config frees it, with a warning", async () => {
    const { a, pluginDirs, dropped, type } = await withRemovablePlugin();
    const { runtime, warnings } = runtimeFor(a, pluginDirs);
    await runtime.delNetworkList(dropped, a.rt);
    expect(warnings.map((w) => [w.reason, w.errors?.map((e) => e.code)])).toEqual([
      ["pluginsSkipped", undefined],
      ["cachedConfigFailed", [50]],
    ]);
    expect(warnings[0]!.message).toContain(`did not run plugin ${type}:`);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it('item 1: the same — configSource "given" DELs with the caller\'s config only (libcni DelNetworkList), and gc --drain finishes', async () => {
    const first = await withRemovablePlugin();
    const { runtime, warnings } = runtimeFor(first.a, first.pluginDirs);
    await runtime.delNetworkList(first.dropped, first.a.rt, { configSource: "given" });
    expect(warnings.map((w) => [w.reason, w.message])).toEqual([["pluginsSkipped", expect.stringContaining(`did not run plugin ${first.type}:`)]]);
    expect(await first.a.leaks()).toEqual(NO_LEAKS);

    const second = await withRemovablePlugin();
    const gc = runtimeFor(second.a, second.pluginDirs);
    await gc.runtime.gcNetworkList(second.dropped, { validAttachments: [], configSource: "given" });
    expect(await second.a.leaks()).toEqual(NO_LEAKS);
  });

  it("item 3: a binary missing from the cached list — DEL still runs bridge (veth and lease gone), names the missing one, keeps the cache until it can finish (libcni DelNetworkList would stop at the missing one, before bridge)", async () => {
    const { a, bin, type, pluginDirs } = await withRemovablePlugin();
    const { runtime } = runtimeFor(a, pluginDirs);
    const error = (await runtime.delNetworkList(a.net, a.rt).catch((e: unknown) => e)) as CniError;
    expect([error.code, error.reason, error.plugin]).toEqual([50, "pluginNotFound", type]);
    expect(await getGlobalAddrs(a.ns.name, "eth0")).toEqual([]);
    expect(await readLeases(a.dirs.dataDir, a.net.name)).toEqual([]);
    expect(await listCacheFiles(a.dirs.cacheDir)).toEqual([`${a.net.name}-${a.rt.containerId}-eth0`]);
    // The binary is back: DEL finishes (bridge's DEL again is idempotent).
    await copyFile(pluginPath("tuning"), join(bin, type));
    await runtime.delNetworkList(a.net, a.rt);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("item 2: portmap from <confDir>/<name>/*.conf is cached with the list: DEL with a changed file and delCachedAttachment remove its rules", async () => {
    for (const how of ["changed file", "delCachedAttachment"] as const) {
      const hostPort = 20_000 + Math.floor(Math.random() * 20_000);
      let confDir = "";
      let changedText = "";
      const a = await prepareAttachment({
        cleanup,
        conflist: (dirs) => {
          const { conflist, names } = bridgeConflist({ ipv4: true, isGateway: true, dataDir: dirs.dataDir });
          confDir = join(dirs.root, "net.d");
          changedText = JSON.stringify({ ...conflist, plugins: [{ ...conflist.plugins[0], hairpinMode: false }] });
          return { text: JSON.stringify(conflist), network: names.network, bridge: names.bridge };
        },
      });
      await mkdir(join(confDir, a.net.name), { recursive: true });
      await writeFile(join(confDir, a.net.name, "50-portmap.conf"), JSON.stringify({ type: "portmap", capabilities: { portMappings: true } }));
      const merged = loadNetworkList(new TextDecoder().decode(a.net.bytes), { confDir });
      expect(merged.plugins.map((p) => p.type)).toEqual(["bridge", "portmap"]);
      const rt = { ...a.rt, capabilityArgs: { portMappings: [{ hostPort, containerPort: 80, protocol: "tcp" }] } };
      const result = await a.runtime.addNetworkList(merged, rt);
      const afterAdd = await a.snapshotAfterAdd(result);
      expect(afterAdd.iptablesRules.some((r) => r.includes(String(hostPort)))).toBe(true);
      if (how === "changed file") await a.runtime.delNetworkList(loadNetworkList(changedText), rt);
      else await a.runtime.delCachedAttachment({ networkName: a.net.name, containerId: rt.containerId, ifName: rt.ifName });
      expect((await snapshotHost({ tokens: [String(hostPort)] })).iptablesRules.filter((r) => r.includes(`--dport ${hostPort}`) || r.includes(`:${hostPort}`))).toEqual([]);
      expect(await a.leaks()).toEqual(NO_LEAKS);
    }
  });

  it('item 5: a libcni cache entry with "config": null — CHECK passes (bridge needs its prevResult), DEL leaves nothing (libcni CheckNetworkList / DelNetworkList with getCachedResult)', async () => {
    const a = await prepareAttachment({
      cleanup,
      conflist: (dirs) => {
        const { text, names } = bridgeConflist({ ipv4: true, dataDir: dirs.dataDir });
        return { text, network: names.network, bridge: names.bridge };
      },
    });
    const result = await a.runtime.addNetworkList(a.net, a.rt);
    await a.snapshotAfterAdd(result);
    const file = join(a.dirs.cacheDir, "results", `${a.net.name}-${a.rt.containerId}-eth0`);
    await writeFile(file, JSON.stringify({ ...JSON.parse(await readFile(file, "utf8")), config: null }));
    await a.runtime.checkNetworkList(a.net, a.rt);
    await a.runtime.delNetworkList(a.net, a.rt);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("item 6: GC collects an attachment whose cached netns is no longer a namespace: the lease goes (DEL without CNI_NETNS), the veth with its namespace", async () => {
    const a = await prepareAttachment({
      cleanup,
      conflist: (dirs) => {
        const { text, names } = bridgeConflist({ ipv4: true, dataDir: dirs.dataDir });
        return { text, network: names.network, bridge: names.bridge };
      },
    });
    const result = await a.runtime.addNetworkList(a.net, a.rt);
    await a.snapshotAfterAdd(result);
    const file = join(a.dirs.cacheDir, "results", `${a.net.name}-${a.rt.containerId}-eth0`);
    const notNetns = join(a.dirs.root, "not-a-netns");
    await writeFile(notNetns, "");
    await writeFile(file, JSON.stringify({ ...JSON.parse(await readFile(file, "utf8")), netns: notNetns }));
    const { runtime, warnings } = runtimeFor(a);
    await runtime.gcNetworkList(a.net, { validAttachments: [] });
    expect(warnings.map((w) => w.reason)).toEqual(["invalidNetns"]);
    expect(await readLeases(a.dirs.dataDir, a.net.name)).toEqual([]);
    expect(await listCacheFiles(a.dirs.cacheDir)).toEqual([]);
    await a.ns.remove();
    expect(await a.leaks()).toMatchObject({ links: [], leases: [], cacheFiles: [], iptablesRules: [] });
  });

  it("item 1 through the CLI: add fails on cniVersions, the file is fixed, del --config-source given frees it; a bad value is a usage error", async () => {
    const bin = resolve(fileURLToPath(new URL("../bin/switchyard-cni", import.meta.url)));
    let fixedText = "";
    const a = await prepareAttachment({
      cleanup,
      conflist: (dirs) => {
        const built = versionsNet(dirs);
        fixedText = built.fixed;
        return built;
      },
    });
    const confDir = join(a.dirs.root, "net.d");
    await mkdir(confDir, { recursive: true });
    await writeFile(join(confDir, "10-net.conflist"), new TextDecoder().decode(a.net.bytes));
    const cli = (args: string[]) =>
      run(bin, [...args, "--json", "--cache-dir", a.dirs.cacheDir, "--container-id", a.rt.containerId], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NETCONFPATH: confDir, CNI_PATH: PLUGIN_DIRS.join(":") }, check: false, timeoutMs: 45_000 });
    const add = await cli(["add", a.net.name, a.ns.path]);
    expect(add.code).toBe(1);
    expect(JSON.parse(add.stdout).error.code).toBe(1);
    await writeFile(join(confDir, "10-net.conflist"), fixedText);
    const bad = await cli(["del", a.net.name, a.ns.path, "--config-source", "mine"]);
    expect(bad.code).toBe(2);
    const badEnv = await cli(["del", a.net.name, a.ns.path, "--pass-env", "CNI_NETNS"]);
    expect([badEnv.code, JSON.parse(badEnv.stdout).error.details]).toEqual([2, "CNI_NETNS: the CNI_ variables are set by the runtime for each call, not passed from its environment"]);
    expect(await listCacheFiles(a.dirs.cacheDir)).toHaveLength(1);
    const del = await cli(["del", a.net.name, a.ns.path, "--config-source", "given"]);
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(await listCacheFiles(a.dirs.cacheDir)).toEqual([]);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });
});
