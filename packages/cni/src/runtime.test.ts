import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPluginDir, createTestNetns } from "../test/fixtures/harness";
import { cacheFilePath } from "./cache";
import { CniError } from "./errors";
import { loadNetworkList } from "./load";
import { createCniRuntime } from "./runtime";

let netns: { path: string; cleanup(): void } | undefined;
beforeAll(async () => {
  netns = await createTestNetns();
});
afterAll(() => netns?.cleanup());

const dirs: ReturnType<typeof createPluginDir>[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

function setup(version = "1.1.0", extra: Record<string, unknown> = {}) {
  const plugins = createPluginDir();
  dirs.push(plugins);
  plugins.install("main");
  plugins.install("ipam1");
  plugins.install("chained");
  const cacheDir = mkdtempSync(join(tmpdir(), "cni-cache-"));
  const net = loadNetworkList(
    JSON.stringify({
      cniVersion: version,
      name: "testnet",
      ...extra,
      plugins: [
        { type: "main", ipam: { type: "ipam1" } },
        { type: "chained", capabilities: { portMappings: true } },
      ],
    }),
  );
  const warnings: CniError[] = [];
  const runtime = createCniRuntime({ pluginDirs: [plugins.dir], cacheDir, timeoutMs: 10_000, onWarning: (w) => warnings.push(w) });
  return { plugins, cacheDir, net, runtime, warnings };
}

/** Resolves once `condition` holds (checked every 10 ms, for at most 10 s). */
async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met within 10 s");
    await new Promise((r) => setTimeout(r, 10));
  }
}

const rtFor = (containerId = "ctr1", ifName = "eth0") => ({ containerId, netns: netns!.path, ifName, args: [["K8S_POD_NAME", "web"]] as [string, string][], capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] } });

describe.runIf(process.platform === "linux")("CniRuntime", { timeout: 30_000 }, () => {
  it("ADD runs the plugins in order, chains prevResult, caches the result in the Go format", async () => {
    const { plugins, runtime, net, cacheDir } = setup();
    const result = await runtime.addNetworkList(net, rtFor());
    expect(result.cniVersion).toBe("1.1.0");
    expect(result.ips?.[0]?.address).toBe("10.1.0.2/24");
    const main = plugins.calls("main");
    const chained = plugins.calls("chained");
    expect(main).toHaveLength(1);
    expect(main[0]!.config.prevResult).toBeUndefined();
    expect(main[0]!.config).not.toHaveProperty("runtimeConfig");
    expect(chained[0]!.config.prevResult).toMatchObject({ cniVersion: "1.1.0", ips: [{ address: "10.1.0.2/24" }] });
    expect(chained[0]!.config.runtimeConfig).toEqual({ portMappings: rtFor().capabilityArgs.portMappings });
    expect(chained[0]!.config.name).toBe("testnet");
    const cached = JSON.parse(readFileSync(join(cacheDir, "results", "testnet-ctr1-eth0"), "utf8"));
    expect(Object.keys(cached)).toEqual(["kind", "containerId", "config", "ifName", "networkName", "netns", "cniArgs", "capabilityArgs", "result"]);
    expect(Buffer.from(cached.config, "base64").toString()).toBe(new TextDecoder().decode(net.bytes));
    expect(await runtime.getCachedResult(net, rtFor())).toEqual(result);
    expect(await runtime.listCachedAttachments("testnet")).toEqual([{ networkName: "testnet", containerId: "ctr1", ifName: "eth0", netns: netns!.path, file: join(cacheDir, "results", "testnet-ctr1-eth0") }]);
  });

  it("gives an older plugin its prevResult in the list's version (0.3.1)", async () => {
    const { plugins, runtime, net } = setup("0.3.1");
    plugins.script("main", { ADD: { result: { cniVersion: "1.0.0", ips: [{ address: "10.9.0.2/24" }] } } });
    await runtime.addNetworkList(net, rtFor());
    expect(plugins.calls("chained")[0]!.config.prevResult).toEqual({ cniVersion: "0.3.1", ips: [{ version: "4", address: "10.9.0.2/24" }] });
  });

  it("rolls back with DEL of the whole list when a plugin fails mid-chain", async () => {
    const { plugins, runtime, net, cacheDir } = setup();
    plugins.script("chained", { ADD: { error: { code: 7, msg: "bad portmap" } } });
    const error = (await runtime.addNetworkList(net, rtFor()).catch((e: unknown) => e)) as CniError;
    expect(error.msg).toBe("bad portmap");
    expect(plugins.calls("chained").map((c) => c.command)).toEqual(["ADD", "DEL"]);
    expect(plugins.calls("main").map((c) => c.command)).toEqual(["ADD", "DEL"]);
    expect(existsSync(join(cacheDir, "results", "testnet-ctr1-eth0"))).toBe(false);
  });

  it("refuses a second ADD of a live attachment without touching it", async () => {
    const { plugins, runtime, net, cacheDir } = setup();
    await runtime.addNetworkList(net, rtFor());
    plugins.script("chained", { ADD: { error: { code: 7, msg: "would roll back" } } });
    const error = (await runtime.addNetworkList(net, rtFor()).catch((e: unknown) => e)) as CniError;
    expect(error.reason).toBe("alreadyAttached");
    expect(plugins.calls("main").map((c) => c.command)).toEqual(["ADD"]);
    expect(existsSync(join(cacheDir, "results", "testnet-ctr1-eth0"))).toBe(true);
    await runtime.delNetworkList(net, rtFor());
    plugins.script("chained", {});
    await runtime.addNetworkList(net, rtFor());
    expect(plugins.calls("main").map((c) => c.command)).toEqual(["ADD", "DEL", "ADD"]);
  });

  it("CHECK uses the cached result and cached args, and honours disableCheck; needs 0.4.0", async () => {
    const { plugins, runtime, net } = setup();
    await runtime.addNetworkList(net, rtFor());
    await runtime.checkNetworkList(net, { containerId: "ctr1", netns: netns!.path, ifName: "eth0" });
    const check = plugins.calls("chained").find((c) => c.command === "CHECK")!;
    expect(check.config.prevResult).toMatchObject({ ips: [{ address: "10.1.0.2/24" }] });
    expect(check.env.CNI_ARGS).toBe("K8S_POD_NAME=web");
    expect(check.config.runtimeConfig).toEqual({ portMappings: rtFor().capabilityArgs.portMappings });
    const noCache = (await runtime.checkNetworkList(net, { ...rtFor("other") }).catch((e: unknown) => e)) as CniError;
    expect(noCache.reason).toBe("noCachedResult");
    const disabled = setup("1.1.0", { disableCheck: "true" });
    await disabled.runtime.checkNetworkList(disabled.net, rtFor());
    expect(disabled.plugins.calls("main")).toEqual([]);
    const old = setup("0.3.1");
    expect(((await old.runtime.checkNetworkList(old.net, rtFor()).catch((e: unknown) => e)) as CniError).code).toBe(1);
  });

  it("DEL runs in reverse order with the cached config and args, is idempotent, removes the cache file", async () => {
    const { plugins, runtime, net, cacheDir } = setup();
    await runtime.addNetworkList(net, rtFor());
    // A different caller config: DEL must still undo what ADD ran.
    const changed = loadNetworkList(JSON.stringify({ cniVersion: "1.1.0", name: "testnet", plugins: [{ type: "main" }] }));
    await runtime.delNetworkList(changed, { containerId: "ctr1", netns: netns!.path, ifName: "eth0" });
    const order = [...plugins.calls("main"), ...plugins.calls("chained")].filter((c) => c.command === "DEL").sort((a, b) => a.at - b.at);
    expect(order.map((c) => c.config.type)).toEqual(["chained", "main"]);
    const delChained = plugins.calls("chained").find((c) => c.command === "DEL")!;
    expect(delChained.env.CNI_ARGS).toBe("K8S_POD_NAME=web");
    expect(delChained.config.prevResult).toMatchObject({ ips: [{ address: "10.1.0.2/24" }] });
    expect(order).toHaveLength(2);
    expect(existsSync(join(cacheDir, "results", "testnet-ctr1-eth0"))).toBe(false);
    await runtime.delNetworkList(net, rtFor());
    await runtime.delNetworkList(net, rtFor());
    expect(plugins.calls("main").filter((c) => c.command === "DEL")).toHaveLength(3);
  });

  it("DEL with no cache and a missing netns still runs the plugins", async () => {
    const { plugins, runtime, net } = setup();
    await runtime.delNetworkList(net, { containerId: "gone", netns: "/run/netns/does-not-exist", ifName: "eth0" });
    expect(plugins.calls("main")[0]!.env.CNI_NETNS).toBe("/run/netns/does-not-exist");
    expect(plugins.calls("main")[0]!.config.prevResult).toBeUndefined();
  });

  it("DEL proceeds past a corrupt cache file, reports it, and removes it", async () => {
    const { plugins, runtime, net, cacheDir, warnings } = setup();
    await runtime.addNetworkList(net, rtFor());
    const file = join(cacheDir, "results", "testnet-ctr1-eth0");
    writeFileSync(file, '{"kind":"cniCacheV1","containerId":"ctr1","config":"%%%"}');
    await runtime.delNetworkList(net, rtFor());
    expect(warnings[0]?.file).toBe(file);
    expect(plugins.calls("main").filter((c) => c.command === "DEL")).toHaveLength(1);
    expect(existsSync(file)).toBe(false);
  });

  it("DEL keeps the cache file when a plugin fails, after running every plugin", async () => {
    const { plugins, runtime, net, cacheDir } = setup();
    await runtime.addNetworkList(net, rtFor());
    plugins.script("chained", { DEL: { error: { code: 11, msg: "busy" } } });
    await expect(runtime.delNetworkList(net, rtFor())).rejects.toThrow(/busy/);
    expect(plugins.calls("main").filter((c) => c.command === "DEL")).toHaveLength(1);
    expect(existsSync(join(cacheDir, "results", "testnet-ctr1-eth0"))).toBe(true);
  });

  it("DELs an attachment cached by Go libcni with its config, args and capability args", async () => {
    const plugins = createPluginDir();
    dirs.push(plugins);
    for (const t of ["gobridge", "goipam", "goportmap"]) plugins.install(t);
    const cacheDir = mkdtempSync(join(tmpdir(), "cni-cache-"));
    cpSync(join(__dirname, "../test/fixtures/go-cache/results"), join(cacheDir, "results"), { recursive: true });
    const runtime = createCniRuntime({ pluginDirs: [plugins.dir], cacheDir });
    const net = loadNetworkList(readFileSync(join(__dirname, "../test/fixtures/go-cache/gonet.conflist"), "utf8"));
    expect((await runtime.getCachedResult(net, { containerId: "ctr1", ifName: "eth0", netns: "" }))?.ips?.[0]?.address).toBe("10.1.0.5/24");
    await runtime.delNetworkList(net, { containerId: "ctr1", ifName: "eth0", netns: "" });
    const del = plugins.calls("goportmap")[0]!;
    expect(del.env.CNI_NETNS).toBe("/var/run/netns/gone");
    expect(del.env.CNI_ARGS).toBe("K8S_POD_NAME=web");
    expect(del.config.runtimeConfig).toEqual({ portMappings: [{ containerPort: 80, hostPort: 8080, protocol: "tcp" }] });
    expect(del.config.prevResult).toMatchObject({ cniVersion: "1.0.0", ips: [{ address: "10.1.0.5/24" }] });
    expect(readdirSync(join(cacheDir, "results"))).toEqual([]);
  });

  it("refuses bad ids, netns and plugin types on every verb, with no file under the cache dir", async () => {
    const { plugins, runtime, net, cacheDir } = setup();
    const bad = [
      { containerId: "../x", netns: netns!.path, ifName: "eth0" },
      { containerId: "-x", netns: netns!.path, ifName: "eth0" },
      { containerId: "ctr", netns: netns!.path, ifName: "eth0/x" },
      { containerId: "ctr", netns: netns!.path, ifName: "averylonginterface0" },
      { containerId: "ctr", netns: netns!.path, ifName: ".." },
      { containerId: "ctr", netns: "/proc/self/ns/net", ifName: "eth0" },
      { containerId: "ctr", netns: "/proc/1/ns/net", ifName: "eth0" },
      { containerId: "ctr", netns: "/etc/passwd", ifName: "eth0" },
      { containerId: "ctr", netns: "/proc/self/ns/mnt", ifName: "eth0" },
    ];
    for (const rt of bad) {
      await expect(runtime.addNetworkList(net, rt)).rejects.toBeInstanceOf(CniError);
      await expect(runtime.checkNetworkList(net, rt)).rejects.toBeInstanceOf(CniError);
      await expect(runtime.delNetworkList(net, rt)).rejects.toBeInstanceOf(CniError);
    }
    await expect(runtime.addNetworkList(net, { containerId: "ctr", netns: "/run/netns/missing-x", ifName: "eth0" })).rejects.toThrow(/does not exist/);
    const evil = loadNetworkList(JSON.stringify({ cniVersion: "1.1.0", name: "testnet", plugins: [{ type: "main" }] }));
    evil.plugins.push({ type: "../main", config: { type: "../main" } });
    await expect(runtime.addNetworkList(evil, rtFor())).rejects.toThrow(/invalid plugin type/);
    const missing = loadNetworkList(JSON.stringify({ cniVersion: "1.1.0", name: "testnet", plugins: [{ type: "main" }, { type: "nosuch" }] }));
    await expect(runtime.addNetworkList(missing, rtFor())).rejects.toThrow(/failed to find plugin "nosuch"/);
    await expect(runtime.gcNetworkList(net, { validAttachments: [{ containerId: "a/b", ifName: "eth0" }] })).rejects.toBeInstanceOf(CniError);
    expect(plugins.calls("main")).toEqual([]);
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it("GC DELs stale cached attachments first, then passes valid attachments under both keys", async () => {
    const { plugins, runtime, net, cacheDir } = setup();
    await runtime.addNetworkList(net, rtFor("keep"));
    // One namespace, so another ifname: the same one would be refused (another attachment holds it).
    await runtime.addNetworkList(net, rtFor("stale", "eth1"));
    await runtime.gcNetworkList(net, { validAttachments: [{ containerId: "keep", ifName: "eth0" }] });
    const main = plugins.calls("main");
    const del = main.filter((c) => c.command === "DEL");
    expect(del.map((c) => c.env.CNI_CONTAINERID)).toEqual(["stale"]);
    const gc = main.find((c) => c.command === "GC")!;
    expect(gc.pid).toBeGreaterThan(0);
    expect(gc.config["cni.dev/valid-attachments"]).toEqual([{ containerID: "keep", ifname: "eth0" }]);
    expect(gc.config["cni.dev/attachments"]).toEqual([{ containerID: "keep", ifname: "eth0" }]);
    expect(gc.env.CNI_CONTAINERID).toBe("");
    expect(readdirSync(join(cacheDir, "results"))).toEqual(["testnet-keep-eth0"]);
    const disabled = setup("1.1.0", { disableGC: true });
    await disabled.runtime.gcNetworkList(disabled.net, { validAttachments: [] });
    expect(disabled.plugins.calls("main")).toEqual([]);
  });

  it("STATUS runs at 1.1.0 and surfaces code 50; below 1.1.0 it is a no-op", async () => {
    const { plugins, runtime, net } = setup();
    await runtime.getStatusNetworkList(net);
    plugins.script("chained", { STATUS: { error: { code: 50, msg: "not available" } } });
    expect(((await runtime.getStatusNetworkList(net).catch((e: unknown) => e)) as CniError).code).toBe(50);
    const old = setup("1.0.0");
    await old.runtime.getStatusNetworkList(old.net);
    expect(old.plugins.calls("main")).toEqual([]);
  });

  it("VERSION and validateNetworkList check the network's version and return capabilities", async () => {
    const { plugins, runtime, net } = setup();
    expect(await runtime.getVersionInfo("main")).toEqual({ cniVersion: "1.1.0", supportedVersions: ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] });
    expect(await runtime.validateNetworkList(net)).toEqual({ capabilities: ["portMappings"] });
    plugins.script("chained", { VERSION: { result: { cniVersion: "1.0.0", supportedVersions: ["0.4.0", "1.0.0"] } } });
    const error = (await runtime.validateNetworkList(net).catch((e: unknown) => e)) as CniError;
    expect(error.code).toBe(1);
    expect(error.message).toContain('type="chained" does not support config version "1.1.0"');
  });

  it("never runs two operations at once on one attachment", async () => {
    const { plugins, runtime, net } = setup();
    plugins.script("main", { ADD: { sleepMs: 400 }, DEL: { sleepMs: 400 } });
    const started = Date.now();
    await Promise.all([runtime.addNetworkList(net, rtFor()), runtime.delNetworkList(net, rtFor())]);
    expect(plugins.calls("main").map((c) => c.command).sort()).toEqual(["ADD", "DEL"]);
    // Overlapping, they would take ~400 ms; one after the other, 800 ms or more.
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
  });

  it("waits for another process's operation on the same attachment (the CLI's ADD)", async () => {
    const { plugins, runtime, net, cacheDir } = setup();
    plugins.script("main", { ADD: { sleepMs: 800 } });
    const confDir = mkdtempSync(join(tmpdir(), "cni-conf-"));
    writeFileSync(join(confDir, "10-testnet.conflist"), new TextDecoder().decode(net.bytes));
    const containerId = `cnitool-${createHash("sha512").update(netns!.path).digest("hex").slice(0, 20)}`;
    const cli = spawn(process.execPath, [fileURLToPath(new URL("../bin/switchyard-cni", import.meta.url)), "add", "testnet", netns!.path, "--cache-dir", cacheDir], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NETCONFPATH: confDir, CNI_PATH: plugins.dir, CNI_IFNAME: "eth0" },
      stdio: "ignore",
    });
    const cliExit = new Promise<number | null>((resolve) => cli.once("exit", resolve));
    // Wait until the CLI's plugin is running: its ADD holds the attachment.
    await waitFor(() => plugins.calls("main").length > 0);
    expect(plugins.calls("main").map((c) => c.command)).toEqual(["ADD"]);
    await runtime.delNetworkList(net, { containerId, netns: netns!.path, ifName: "eth0" });
    expect(await cliExit).toBe(0);
    // Had DEL not waited, it would have found no cached result and the ADD's cache file would remain.
    const del = plugins.calls("main").find((c) => c.command === "DEL")!;
    expect(del.config.prevResult).toMatchObject({ ips: [{ address: "10.1.0.2/24" }] });
    expect(readdirSync(join(cacheDir, "results"))).toEqual([]);
  });

  it("delCachedAttachment DELs with the cache entry's own config, netns and arguments", async () => {
    const { plugins, runtime, net, cacheDir } = setup();
    await runtime.addNetworkList(net, rtFor("lost"));
    await runtime.delCachedAttachment({ networkName: "testnet", containerId: "lost", ifName: "eth0" });
    const del = plugins.calls("main").find((c) => c.command === "DEL")!;
    expect(del.env.CNI_NETNS).toBe(netns!.path);
    expect(del.env.CNI_ARGS).toBe("K8S_POD_NAME=web");
    expect(del.config.prevResult).toMatchObject({ ips: [{ address: "10.1.0.2/24" }] });
    expect(readdirSync(join(cacheDir, "results"))).toEqual([]);
    // Nothing cached: nothing to do.
    await runtime.delCachedAttachment({ networkName: "testnet", containerId: "lost", ifName: "eth0" });
    await expect(runtime.delCachedAttachment({ networkName: "testnet", containerId: "../x", ifName: "eth0" })).rejects.toBeInstanceOf(CniError);
  });

  it("GC removes temp files that interrupted cache writes left", async () => {
    const { runtime, net, cacheDir } = setup();
    await runtime.addNetworkList(net, rtFor("keep"));
    writeFileSync(join(cacheDir, "results", ".0123456789ab.tmp"), '{"kind":"cniCa');
    await runtime.gcNetworkList(net, { validAttachments: [{ containerId: "keep", ifName: "eth0" }] });
    expect(readdirSync(join(cacheDir, "results"))).toEqual(["testnet-keep-eth0"]);
  });

  it("GC waits for an ADD in flight on the same cache dir", async () => {
    const { plugins, runtime, net, cacheDir } = setup();
    plugins.script("main", { ADD: { sleepMs: 400 }, GC: {} });
    const add = runtime.addNetworkList(net, rtFor("inflight"));
    // GC starts once the ADD's plugin runs (the ADD holds the cache dir's shared lock by then).
    await waitFor(() => plugins.calls("main").length > 0);
    await runtime.gcNetworkList(net, { validAttachments: [] });
    await add;
    // Had GC run first, it would not have seen the attachment; it ran after ADD and DELed it.
    expect(plugins.calls("main").map((c) => c.command)).toEqual(["ADD", "DEL", "GC"]);
    expect(readdirSync(join(cacheDir, "results"))).toEqual([]);
    expect(existsSync(cacheFilePath(cacheDir, { networkName: "testnet", containerId: "inflight", ifName: "eth0" }))).toBe(false);
  });

  it("a cache file a crash left empty or cut short reads as absent: DEL goes on with the caller's config, ADD goes ahead", async () => {
    const { plugins, runtime, net, cacheDir } = setup();
    await runtime.addNetworkList(net, rtFor("crashed"));
    const file = cacheFilePath(cacheDir, { networkName: "testnet", containerId: "crashed", ifName: "eth0" });
    writeFileSync(file, readFileSync(file, "utf8").slice(0, 40));
    await runtime.delNetworkList(net, rtFor("crashed"));
    const del = plugins.calls("main").find((c) => c.command === "DEL")!;
    // The caller's arguments (no cached ones to read) and no prevResult.
    expect(del.env.CNI_ARGS).toBe("K8S_POD_NAME=web");
    expect(del.config.prevResult).toBeUndefined();
    expect(existsSync(file)).toBe(false);
    writeFileSync(file, "");
    await runtime.addNetworkList(net, rtFor("crashed"));
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ kind: "cniCacheV1", containerId: "crashed" });
  });
});
