import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { writeCachedAttachment } from "../src/cache";
import { CniError } from "../src/index";
import { bridgeConflist, createCleanup, run, getGlobalAddrs, invokePluginDirect, listCacheFiles, readLeases, saveSysctls } from "./host";
import { isRoot, NO_LEAKS, prepareAttachment } from "./host/harness";

/**
 * The libcni result cache, field for field Go's `cachedInfo` (libcni/api.go):
 *   Kind `json:"kind"`, ContainerID `json:"containerId"`, Config []byte `json:"config"` (base64),
 *   IfName `json:"ifName"`, NetworkName `json:"networkName"`, NetNS `json:"netns,omitempty"`,
 *   CniArgs [][2]string `json:"cniArgs,omitempty"`, CapabilityArgs `json:"capabilityArgs,omitempty"`,
 *   RawResult map `json:"result,omitempty"`.
 * encoding/json writes struct fields in declaration order, compact, no trailing newline.
 */
function goCacheFile(fields: {
  containerId: string;
  config: string;
  ifName: string;
  networkName: string;
  netns: string;
  cniArgs?: [string, string][];
  result: unknown;
}): string {
  return JSON.stringify({
    kind: "cniCacheV1",
    containerId: fields.containerId,
    config: Buffer.from(fields.config).toString("base64"),
    ifName: fields.ifName,
    networkName: fields.networkName,
    netns: fields.netns,
    ...(fields.cniArgs ? { cniArgs: fields.cniArgs } : {}),
    result: fields.result,
  });
}

describe.runIf(isRoot)("result cache compatible with Go libcni, and corrupt cache files", () => {
  const cleanup = createCleanup();
  let restoreSysctls: () => Promise<void>;
  beforeAll(async () => {
    restoreSysctls = await saveSysctls();
  });
  afterEach(() => cleanup.run());
  afterAll(async () => {
    await restoreSysctls?.();
  });

  const plain = (dirs: { dataDir: string }) => {
    const { text, names } = bridgeConflist({ ipv4: true, dataDir: dirs.dataDir });
    return { text, network: names.network, bridge: names.bridge };
  };

  /** ADD as libcni/cnitool would have done it: the plugin run directly, then a Go-format cache file. */
  async function addLikeGo(a: Awaited<ReturnType<typeof prepareAttachment>>, cacheConfigText: string) {
    const plugin = a.net.plugins[0]!;
    const result = (await invokePluginDirect({
      type: plugin.type,
      command: "ADD",
      containerId: a.rt.containerId,
      netns: a.rt.netns,
      ifName: a.rt.ifName,
      config: { ...plugin.config, name: a.net.name, cniVersion: a.net.cniVersion },
    })) as { ips: { address: string }[]; interfaces: { name: string; sandbox?: string }[] };
    const file = join(a.dirs.cacheDir, "results", `${a.net.name}-${a.rt.containerId}-${a.rt.ifName}`);
    await mkdir(join(a.dirs.cacheDir, "results"), { recursive: true, mode: 0o700 });
    await writeFile(
      file,
      goCacheFile({ containerId: a.rt.containerId, config: cacheConfigText, ifName: a.rt.ifName, networkName: a.net.name, netns: a.rt.netns, result }),
      { mode: 0o600 },
    );
    await a.snapshotAfterAdd(result);
    return { result, file };
  }

  it("reads a cache file written in the Go format: getCachedResult, listCachedAttachments, CHECK and DEL", async () => {
    const a = await prepareAttachment({ cleanup, conflist: plain });
    const { result } = await addLikeGo(a, new TextDecoder().decode(a.net.bytes));
    expect(await getGlobalAddrs(a.ns.name, "eth0")).toContain(result.ips[0]!.address);

    const cached = await a.runtime.getCachedResult(a.net, a.rt);
    expect(cached?.ips?.map((i) => i.address)).toEqual(result.ips.map((i) => i.address));
    const listed = await a.runtime.listCachedAttachments(a.net.name);
    expect(listed.map((x) => [x.containerId, x.ifName, x.netns])).toEqual([[a.rt.containerId, "eth0", a.ns.path]]);

    await a.runtime.checkNetworkList(a.net, a.rt);
    await a.runtime.delNetworkList(a.net, a.rt);
    expect(await getGlobalAddrs(a.ns.name, "eth0")).toEqual([]);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("DEL uses the cached config, not the one passed in (the network changed since ADD)", async () => {
    const a = await prepareAttachment({ cleanup, conflist: plain });
    const original = new TextDecoder().decode(a.net.bytes);
    await addLikeGo(a, original);
    expect((await readLeases(a.dirs.dataDir, a.net.name)).length).toBe(1);

    // Same network name, but host-local now looks in another dataDir: only the cached config finds the lease.
    const { loadNetworkList } = await import("../src/index");
    const changed = JSON.parse(original) as { plugins: { ipam: { dataDir: string } }[] };
    changed.plugins[0]!.ipam.dataDir = join(a.dirs.root, "elsewhere");
    await a.runtime.delNetworkList(loadNetworkList(JSON.stringify(changed)), a.rt);
    expect(await readLeases(a.dirs.dataDir, a.net.name)).toEqual([]);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("writes a cache file Go can read: cniCacheV1 with base64 config, ids, netns and the result", async () => {
    const a = await prepareAttachment({ cleanup, conflist: plain });
    a.rt.args = [["IgnoreUnknown", "1"]];
    const result = await a.runtime.addNetworkList(a.net, a.rt);
    await a.snapshotAfterAdd(result);
    const [name] = await listCacheFiles(a.dirs.cacheDir);
    expect(name).toBe(`${a.net.name}-${a.rt.containerId}-eth0`);
    const file = JSON.parse(await readFile(join(a.dirs.cacheDir, "results", name!), "utf8")) as Record<string, unknown>;
    expect(file.kind).toBe("cniCacheV1");
    expect(file.containerId).toBe(a.rt.containerId);
    expect(file.ifName).toBe("eth0");
    expect(file.networkName).toBe(a.net.name);
    expect(file.netns).toBe(a.ns.path);
    expect(file.cniArgs).toEqual([["IgnoreUnknown", "1"]]);
    expect(Buffer.from(file.config as string, "base64").equals(Buffer.from(a.net.bytes))).toBe(true);
    const cachedResult = file.result as { cniVersion: string; ips: { address: string }[] };
    expect(cachedResult.cniVersion).toBe(a.net.cniVersion);
    expect(cachedResult.ips.map((i) => i.address)).toEqual(result.ips?.map((i) => i.address));
    await a.runtime.delNetworkList(a.net, a.rt);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  for (const [label, corrupt] of [
    ["truncated", (s: string) => s.slice(0, Math.floor(s.length / 2))],
    ["garbage", () => "\u0000\u0001{not json"],
    ["wrong kind", (s: string) => s.replace("cniCacheV1", "cniCacheV9")],
    ["empty", () => ""],
  ] as const) {
    it(`a ${label} cache file: read as absent (what a crash leaves) or reported, DEL still releases everything (HARDENING 23)`, async () => {
      const a = await prepareAttachment({ cleanup, conflist: plain });
      const result = await a.runtime.addNetworkList(a.net, a.rt);
      await a.snapshotAfterAdd(result);
      const file = join(a.dirs.cacheDir, "results", `${a.net.name}-${a.rt.containerId}-eth0`);
      await writeFile(file, corrupt(await readFile(file, "utf8")));

      // What a crash leaves (empty, cut short) reads as no entry; Go falls back to the legacy format
      // for a wrong kind; garbage must be reported, not crash.
      if (label === "truncated" || label === "empty") expect(await a.runtime.getCachedResult(a.net, a.rt)).toBeNull();
      else if (label === "garbage") await expect(a.runtime.getCachedResult(a.net, a.rt)).rejects.toBeInstanceOf(CniError);
      await a.runtime.delNetworkList(a.net, a.rt);
      expect(await getGlobalAddrs(a.ns.name, "eth0")).toEqual([]);
      expect(await a.leaks()).toEqual(NO_LEAKS);
    });
  }

  it("ENOSPC while writing the result cache names the file and the failed call, once, and leaves no temp file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sytest-enospc-"));
    await run("mount", ["-t", "tmpfs", "-o", "size=16k", "sytest-enospc", dir]);
    try {
      await mkdir(join(dir, "results"));
      // Fill the file system: the cache file's data has nowhere to go.
      await writeFile(join(dir, "filler"), Buffer.alloc(16 * 1024)).catch(() => undefined);
      const entry = { kind: "cniCacheV1" as const, containerId: "c1", config: new Uint8Array(4096), ifName: "eth0", networkName: "n" };
      const file = join(dir, "results", "n-c1-eth0");
      const error = await writeCachedAttachment(dir, entry).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CniError);
      expect(error).toMatchObject({ code: 5, file });
      expect((error as CniError).message).toBe(`cannot write result cache file: ${file}: ENOSPC: no space left on device, write`);
      expect(await readdir(join(dir, "results"))).toEqual([]);
    } finally {
      await run("umount", [dir], { check: false });
      await rm(dir, { recursive: true, force: true });
    }
  });
});
