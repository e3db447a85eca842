import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPluginDir, createTestNetns } from "../../test/fixtures/harness";
import { CniError } from "../errors";
import { loadNetworkList } from "../load";
import { createCniRuntime } from "./index";

// Issue 17: no attachment stuck for good. The scriptable test plugin makes plugins fail, vanish and
// record what they were given; test/recovery.int.test.ts runs the same paths with the real plugins.

let netns: { path: string; cleanup(): void } | undefined;
beforeAll(async () => {
  netns = await createTestNetns();
});
afterAll(() => netns?.cleanup());

const dirs: ReturnType<typeof createPluginDir>[] = [];
const tmp: string[] = [];
afterEach(() => {
  dirs.splice(0).forEach((d) => d.cleanup());
  tmp.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tmp.push(dir);
  return dir;
}

function setup(types = ["main", "chained"], runtimeOptions: { passEnv?: string[]; baseEnv?: Record<string, string> } = {}) {
  const plugins = createPluginDir();
  dirs.push(plugins);
  for (const t of new Set([...types, "main", "chained", "extra"])) plugins.install(t);
  const cacheDir = tempDir("cni-cache-");
  const list = (names: string[], version = "1.1.0") => loadNetworkList(JSON.stringify({ cniVersion: version, name: "testnet", plugins: names.map((type) => ({ type })) }));
  const warnings: CniError[] = [];
  const runtime = createCniRuntime({ pluginDirs: [plugins.dir], cacheDir, timeoutMs: 10_000, onWarning: (w) => warnings.push(w), ...runtimeOptions });
  const file = join(cacheDir, "results", "testnet-ctr1-eth0");
  return { plugins, cacheDir, list, net: list(types), runtime, warnings, file };
}

const rt = () => ({ containerId: "ctr1", netns: netns!.path, ifName: "eth0" });
const commands = (plugins: ReturnType<typeof createPluginDir>, type: string) => plugins.calls(type).map((c) => c.command);

describe.runIf(process.platform === "linux")("recovery (issue 17)", { timeout: 30_000 }, () => {
  it("item 1: a cached config whose plugin is gone falls back to the given config's DEL, with a warning", async () => {
    const { plugins, runtime, list, warnings, file } = setup(["main", "extra"]);
    await runtime.addNetworkList(list(["main", "extra"]), rt());
    rmSync(join(plugins.dir, "extra"));
    // Dropped from the chain and its binary removed: the cached DEL runs main, reports extra (50); the given list finishes.
    await runtime.delNetworkList(list(["main"]), rt());
    expect(existsSync(file)).toBe(false);
    expect(commands(plugins, "main")).toEqual(["ADD", "DEL", "DEL"]);
    // What "extra" set up at ADD is not undone: the warning names it.
    expect(warnings.map((w) => w.reason)).toEqual(["pluginsSkipped", "cachedConfigFailed"]);
    expect(warnings[0]!.message).toMatch(/did not run plugin extra:/);
    expect(warnings[1]!.errors?.map((e) => e.code)).toEqual([50]);
  });

  it("item 1: no fallback for a failure that may pass (code 11, a plugin's own error): the cache stays", async () => {
    const { plugins, runtime, list, file } = setup(["main", "chained"]);
    await runtime.addNetworkList(list(["main", "chained"]), rt());
    plugins.script("chained", { DEL: { error: { code: 11, msg: "busy" } } });
    await expect(runtime.delNetworkList(list(["main"]), rt())).rejects.toThrow(/busy/);
    expect(existsSync(file)).toBe(true);
    expect(commands(plugins, "main")).toEqual(["ADD", "DEL"]);
    // The explicit way out: only the caller's config, as libcni's DelNetworkList.
    await runtime.delNetworkList(list(["main"]), rt(), { configSource: "given" });
    expect(existsSync(file)).toBe(false);
  });

  it('item 1: configSource "given" runs the caller\'s list with the cached prevResult and arguments (libcni DelNetworkList)', async () => {
    const { plugins, runtime, list, file, warnings } = setup(["main", "chained"]);
    await runtime.addNetworkList(list(["main", "chained"]), { ...rt(), args: [["K", "V"]] });
    await runtime.delNetworkList(list(["extra", "main"]), rt(), { configSource: "given" });
    expect(commands(plugins, "chained")).toEqual(["ADD"]);
    expect(warnings.map((w) => [w.reason, w.message])).toEqual([["pluginsSkipped", expect.stringMatching(/did not run plugin chained:/)]]);
    const dels = [...plugins.calls("main"), ...plugins.calls("extra")].filter((c) => c.command === "DEL").sort((a, b) => a.at - b.at);
    expect(dels.map((c) => c.config.type)).toEqual(["main", "extra"]);
    expect(dels[0]!.config.prevResult).toMatchObject({ ips: [{ address: "10.1.0.2/24" }] });
    expect(dels[0]!.env.CNI_ARGS).toBe("K=V");
    expect(existsSync(file)).toBe(false);
  });

  it("item 1: a bad configSource is refused before anything runs", async () => {
    const { plugins, runtime, net, file } = setup();
    await runtime.addNetworkList(net, rt());
    await expect(runtime.delNetworkList(net, rt(), { configSource: "mine" as never })).rejects.toThrow(/configSource "mine": expected "cached" or "given"/);
    await expect(runtime.gcNetworkList(net, { validAttachments: [], configSource: "x" as never })).rejects.toThrow(/configSource/);
    expect(commands(plugins, "main")).toEqual(["ADD"]);
    expect(existsSync(file)).toBe(true);
  });

  it("item 1: a failed ADD whose rollback failed is marked addIncomplete and does not block the next ADD", async () => {
    const { plugins, runtime, net, file, warnings } = setup();
    plugins.script("chained", { ADD: { error: { code: 7, msg: "bad" } } });
    plugins.script("main", { DEL: { error: { code: 11, msg: "rollback failed" } } });
    await expect(runtime.addNetworkList(net, rt())).rejects.toThrow(/bad/);
    const entry = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    expect(entry.addIncomplete).toBe(true);
    expect(await runtime.getCachedResult(net, rt())).toBeNull();
    expect(await runtime.listCachedAttachments("testnet")).toEqual([{ networkName: "testnet", containerId: "ctr1", ifName: "eth0", netns: netns!.path, file, addIncomplete: true }]);
    await expect(runtime.checkNetworkList(net, rt())).rejects.toThrow(/was never made/);
    // The plugins work again: ADD DELs the leftovers first, then goes ahead.
    plugins.script("chained", {});
    plugins.script("main", {});
    await runtime.addNetworkList(net, rt());
    expect(commands(plugins, "main")).toEqual(["ADD", "DEL", "DEL", "ADD"]);
    const after = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    expect(after.addIncomplete).toBeUndefined();
    expect(warnings).toEqual([]);
    // A live attachment is still refused.
    await expect(runtime.addNetworkList(net, rt())).rejects.toMatchObject({ reason: "alreadyAttached" });
  });

  it("item 1: an entry without a result (what a failed rollback left before the marker) does not block ADD either", async () => {
    const { plugins, runtime, net, file } = setup();
    await runtime.addNetworkList(net, rt());
    const { result: _result, ...entry } = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify(entry));
    await runtime.addNetworkList(net, rt());
    expect(commands(plugins, "main")).toEqual(["ADD", "DEL", "ADD"]);
    expect(JSON.parse(readFileSync(file, "utf8")).result).toBeDefined();
  });

  it("item 1: the next ADD goes ahead even when the leftovers' DEL fails again (warning), and its own cache entry replaces them", async () => {
    const { plugins, runtime, net, file, warnings } = setup();
    plugins.script("chained", { ADD: { error: { code: 7, msg: "bad" }, times: 1, then: {} } });
    plugins.script("main", { DEL: { error: { code: 11, msg: "still failing" }, times: 2, then: {} } });
    await expect(runtime.addNetworkList(net, rt())).rejects.toThrow(/bad/);
    await runtime.addNetworkList(net, rt());
    expect(warnings.map((w) => w.msg)).toEqual(["DEL of what the failed ADD of testnet/ctr1/eth0 left failed; ADD goes ahead"]);
    expect(JSON.parse(readFileSync(file, "utf8")).addIncomplete).toBeUndefined();
    await runtime.delNetworkList(net, rt());
    expect(existsSync(file)).toBe(false);
  });

  it("item 3: DEL and GC run every plugin they find, in reverse order, and report the missing ones after (libcni DelNetworkList stops at the first; GCNetworkList goes on)", async () => {
    const { plugins, runtime, list, file } = setup(["main", "extra", "chained"]);
    const net = list(["main", "extra", "chained"]);
    await runtime.addNetworkList(net, rt());
    rmSync(join(plugins.dir, "extra"));
    const error = (await runtime.delNetworkList(net, rt()).catch((e: unknown) => e)) as CniError;
    expect(error.code).toBe(50);
    expect(error.message).toMatch(/failed to find plugin "extra"/);
    expect(commands(plugins, "chained")).toEqual(["ADD", "DEL"]);
    expect(commands(plugins, "main")).toEqual(["ADD", "DEL"]);
    expect(existsSync(file)).toBe(true);
    const gc = (await runtime.gcNetworkList(net, { validAttachments: [] }).catch((e: unknown) => e)) as CniError;
    expect(gc.errors?.map((e) => e.code)).toEqual([50, 50]);
    expect(commands(plugins, "main")).toEqual(["ADD", "DEL", "DEL", "GC"]);
    expect(commands(plugins, "chained")).toEqual(["ADD", "DEL", "DEL", "GC"]);
  });

  it("item 2: the cache holds the merged list, so DEL and CHECK run the <confDir>/<name>/*.conf plugins too; an old entry still reads", async () => {
    const { plugins, runtime, file } = setup();
    const confDir = tempDir("cni-conf-");
    mkdirSync(join(confDir, "testnet"));
    writeFileSync(join(confDir, "testnet", "50-extra.conf"), JSON.stringify({ type: "extra", marker: 1 }));
    const text = JSON.stringify({ cniVersion: "1.1.0", name: "testnet", plugins: [{ type: "main" }] });
    const merged = loadNetworkList(text, { confDir });
    expect(merged.pluginFiles).toEqual([join(confDir, "testnet", "50-extra.conf")]);
    await runtime.addNetworkList(merged, rt());
    const cached = JSON.parse(Buffer.from(JSON.parse(readFileSync(file, "utf8")).config, "base64").toString()) as { plugins: { type: string }[]; loadOnlyInlinedPlugins: boolean };
    expect(cached.plugins.map((p) => p.type)).toEqual(["main", "extra"]);
    expect(cached.loadOnlyInlinedPlugins).toBe(true);
    // The caller's list no longer has the dir plugin (another file, or the dir is gone): the cache runs it.
    const inlinedOnly = loadNetworkList(JSON.stringify({ cniVersion: "1.1.0", name: "testnet", disableCheck: false, plugins: [{ type: "main" }] }));
    await runtime.checkNetworkList(inlinedOnly, rt());
    await runtime.delNetworkList(inlinedOnly, rt());
    expect(commands(plugins, "extra")).toEqual(["ADD", "CHECK", "DEL"]);
    expect(plugins.calls("extra")[2]!.config.marker).toBe(1);

    // An entry written before (the file's bytes only) reads as the caller's merged list.
    await runtime.addNetworkList(merged, rt());
    const entry = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...entry, config: Buffer.from(text).toString("base64") }));
    await runtime.delNetworkList(merged, rt());
    expect(commands(plugins, "extra")).toEqual(["ADD", "CHECK", "DEL", "ADD", "DEL"]);
    expect(existsSync(file)).toBe(false);
  });

  it("item 4: XDG_RUNTIME_DIR and DBUS_SYSTEM_BUS_ADDRESS pass by default, passEnv adds names, nothing else passes", async () => {
    const baseEnv = { PATH: process.env.PATH ?? "", XDG_RUNTIME_DIR: "/run/user/0", DBUS_SYSTEM_BUS_ADDRESS: "unix:path=/run/dbus/x", HTTPS_PROXY: "http://proxy", SECRET: "s" };
    const { plugins, runtime, net } = setup(["main"], { baseEnv, passEnv: ["HTTPS_PROXY"] });
    await runtime.addNetworkList(net, rt());
    const env = plugins.calls("main")[0]!.env;
    expect(Object.keys(env).filter((k) => !k.startsWith("CNI_")).sort()).toEqual(["DBUS_SYSTEM_BUS_ADDRESS", "HTTPS_PROXY", "PATH", "XDG_RUNTIME_DIR"]);
    expect(env.XDG_RUNTIME_DIR).toBe("/run/user/0");
    expect(() => createCniRuntime({ pluginDirs: [], passEnv: ["CNI_NETNS"] })).toThrow(/CNI_NETNS: the CNI_ variables are set by the runtime/);
    expect(() => createCniRuntime({ pluginDirs: [], passEnv: ["A=B"] })).toThrow(/"A=B" is not an environment variable name/);
  });

  it("item 5: nulls in a plugin's result and an index naming no interface do not fail ADD (libcni AddNetworkList via invoke.ExecPluginWithResult / create.Create); the index is reported", async () => {
    const { plugins, runtime, net, warnings } = setup(["main", "chained"]);
    const result = { cniVersion: "1.1.0", interfaces: [{ name: "eth0", mac: null, sandbox: null }], ips: [{ address: "10.1.0.9/24", gateway: null, interface: 3 }], routes: [{ dst: "0.0.0.0/0", gw: null }], dns: { domain: null } };
    plugins.script("main", { ADD: { result } });
    const out = await runtime.addNetworkList(net, rt());
    expect(out.ips).toEqual([{ address: "10.1.0.9/24", interface: 3 }]);
    // chained passes main's result on: each result is read, each is reported.
    expect(warnings.map((w) => [w.plugin, w.details])).toEqual(["main", "chained"].map((p) => [p, "ips[0].interface: index 3 names none of the 1 interfaces"]));
    expect(plugins.calls("chained")[0]!.config.prevResult).toMatchObject({ ips: [{ address: "10.1.0.9/24", interface: 3 }] });
  });

  it('item 5: a libcni cache entry with "config": null reads: CHECK and DEL use the caller\'s config with the cached prevResult (libcni getCachedResult / GetNetworkListCachedConfig)', async () => {
    const { plugins, runtime, net, file } = setup();
    await runtime.addNetworkList(net, rt());
    const entry = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...entry, config: null }));
    await runtime.checkNetworkList(net, rt());
    await runtime.delNetworkList(net, rt());
    for (const verb of ["CHECK", "DEL"]) expect(plugins.calls("main").find((c) => c.command === verb)!.config.prevResult).toMatchObject({ ips: [{ address: "10.1.0.2/24" }] });
    expect(existsSync(file)).toBe(false);
  });

  it("item 6: CHECK asks every plugin even after one failed, and reports them all (libcni CheckNetworkList stops at the first: we differ)", async () => {
    const { plugins, runtime, net } = setup(["main", "chained"]);
    await runtime.addNetworkList(net, rt());
    plugins.script("main", { CHECK: { error: { code: 100, msg: "main is unwell" } } });
    await expect(runtime.checkNetworkList(net, rt())).rejects.toThrow(/main is unwell/);
    expect(commands(plugins, "chained")).toEqual(["ADD", "CHECK"]);
  });

  it("item 6: a missing plugin binary is CNI error 50 (reason pluginNotFound) on every verb", async () => {
    const { runtime, list, plugins } = setup();
    const net = list(["main", "nosuch"]);
    const verbs: [string, () => Promise<unknown>][] = [
      ["ADD", () => runtime.addNetworkList(net, rt())],
      // CHECK runs the cached list: one whose plugin was removed since ADD.
      ["CHECK", async () => {
        await runtime.addNetworkList(list(["main", "extra"]), { ...rt(), containerId: "chk" });
        rmSync(join(plugins.dir, "extra"));
        return runtime.checkNetworkList(net, { ...rt(), containerId: "chk" });
      }],
      ["DEL", () => runtime.delNetworkList(net, { ...rt(), containerId: "gone" })],
      ["GC", () => runtime.gcNetworkList(net, { validAttachments: [{ containerId: "chk", ifName: "eth0" }] })],
      ["STATUS", () => runtime.getStatusNetworkList(net)],
      ["VERSION", () => runtime.getVersionInfo("nosuch")],
    ];
    for (const [verb, call] of verbs) {
      const error = (await call().then(() => new Error("resolved"), (e: unknown) => e)) as CniError;
      expect([verb, error.code, error.reason]).toEqual([verb, 50, "pluginNotFound"]);
    }
  });

  it("item 6: GC collects an attachment whose cached namespace is no longer one: DEL with CNI_NETNS empty, and a warning", async () => {
    const { plugins, runtime, net, file, warnings } = setup(["main"]);
    await runtime.addNetworkList(net, rt());
    const notNetns = join(tempDir("not-netns-"), "ns");
    writeFileSync(notNetns, "");
    const entry = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...entry, netns: notNetns }));
    await runtime.gcNetworkList(net, { validAttachments: [] });
    const del = plugins.calls("main").find((c) => c.command === "DEL")!;
    expect(del.env.CNI_NETNS).toBe("");
    expect(warnings.map((w) => w.reason)).toEqual(["invalidNetns"]);
    expect(existsSync(file)).toBe(false);
  });
});
