import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createPluginDir, isProcessAlive, TEST_PLUGIN_SOURCE } from "../../test/fixtures/harness";
import { CniError } from "../errors";
import { buildPluginEnv } from "./env";
import { findPlugin } from "./find";
import { buildPluginConfig } from "./inject";
import { type ExecEvent, execPlugin } from "./invoke";
import { createHelperSpawner, inProcessSpawner } from "./spawner";

const dirs: ReturnType<typeof createPluginDir>[] = [];
function pluginDir() {
  const d = createPluginDir();
  dirs.push(d);
  return d;
}
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

async function exec(path: string, verb: "ADD" | "DEL" | "VERSION", stdin: object, extra: Partial<Parameters<typeof execPlugin>[0]> = {}) {
  const env = buildPluginEnv({ verb, pluginDirs: [join(path, "..")], containerId: "c1", netns: "/run/netns/x", ifName: "eth0", args: [["K", "V"]], baseEnv: { PATH: process.env.PATH, SECRET_TOKEN: "s3cret", LANG: "C.UTF-8" } });
  return execPlugin({ pluginPath: path, verb, env, stdin: JSON.stringify(stdin), timeoutMs: 10_000, ...extra });
}

describe("plugin lookup", () => {
  it.each(["../../bin/sh", "/bin/sh", "bridge/../x", "a\\b", "", "..", "-x"])("refuses type %j before anything runs", async (type) => {
    const d = pluginDir();
    const error = await findPlugin(type, [d.dir]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CniError);
    expect((error as CniError).reason).toBe("invalidPluginType");
    expect((error as CniError).code).toBe(7);
  });

  it("finds only a regular executable file in the CNI_PATH directories", async () => {
    const d = pluginDir();
    writeFileSync(join(d.dir, "notexec"), "#!/bin/sh\n");
    mkdirSync(join(d.dir, "adir"));
    chmodSync(join(d.dir, "adir"), 0o755);
    for (const type of ["notexec", "adir", "missing"]) {
      const error = (await findPlugin(type, [d.dir, "relative/dir"]).catch((e: unknown) => e)) as CniError;
      expect(error.reason).toBe("pluginNotFound");
      expect(error.message).toContain(`failed to find plugin "${type}"`);
    }
    const path = d.install("good");
    expect(await findPlugin("good", ["/nonexistent", d.dir])).toBe(path);
  });
});

const helper = createHelperSpawner();
afterAll(() => helper.close());

describe.each([
  ["in process", inProcessSpawner],
  ["through the spawn helper", helper],
] as const)("exec protocol (%s)", { timeout: 20_000 }, (how, spawner) => {
  const run = (path: string, verb: "ADD" | "DEL" | "VERSION", stdin: object, extra: Partial<Parameters<typeof execPlugin>[0]> = {}) => exec(path, verb, stdin, { spawner, ...extra });

  it("spawns the plugin from this process or from the helper", async () => {
    const d = pluginDir();
    const path = d.install("p", { DEL: {} });
    await run(path, "DEL", { cniVersion: "1.0.0", name: "n", type: "p" });
    const [call] = d.calls("p");
    if (how === "in process") expect(call!.ppid).toBe(process.pid);
    else expect(call!.ppid).not.toBe(process.pid);
  });

  it("passes the CNI_ variables and only allow-listed variables, config on stdin", async () => {
    const d = pluginDir();
    const path = d.install("p", { DEL: {} });
    await run(path, "DEL", { cniVersion: "1.0.0", name: "n", type: "p" });
    const [call] = d.calls("p");
    expect(call!.env).toMatchObject({ CNI_COMMAND: "DEL", CNI_CONTAINERID: "c1", CNI_NETNS: "/run/netns/x", CNI_IFNAME: "eth0", CNI_ARGS: "K=V", CNI_PATH: d.dir, LANG: "C.UTF-8" });
    expect(call!.env.SECRET_TOKEN).toBeUndefined();
    expect(Object.keys(call!.env).filter((k) => !k.startsWith("CNI_")).sort()).toEqual(["LANG", "PATH"]);
    expect(call!.config).toEqual({ cniVersion: "1.0.0", name: "n", type: "p" });
  });

  it("refuses CNI_ARGS that would change meaning", () => {
    expect(() => buildPluginEnv({ verb: "ADD", pluginDirs: [], args: [["K", "a;B=c"]] })).toThrow(/CNI_ARGS/);
    expect(() => buildPluginEnv({ verb: "ADD", pluginDirs: [], args: [["K=1", "v"]] })).toThrow(/CNI_ARGS/);
    expect(() => buildPluginEnv({ verb: "ADD", pluginDirs: [], args: [["K", "a\nb"]] })).toThrow(/CNI_ARGS/);
  });

  it("turns error JSON on stdout into a CniError with the spec code, msg, details and stderr", async () => {
    const d = pluginDir();
    const path = d.install("p", { ADD: { error: { code: 11, msg: "try again", details: "busy" }, stderr: "diag line\n" } });
    const events: ExecEvent[] = [];
    const error = (await run(path, "ADD", {}, { onExec: (e) => events.push(e) }).catch((e: unknown) => e)) as CniError;
    expect(error).toBeInstanceOf(CniError);
    expect(error.toJSON()).toEqual({ code: 11, msg: "try again", details: "busy" });
    expect(error.stderr).toBe("diag line\n");
    expect(error.reason).toBe("plugin");
    expect(events.map((e) => e.phase)).toEqual(["start", "stderr", "exit"]);
    expect(events[1]!.data).toBe("diag line\n");
    expect(events[2]!.code).toBe(1);
  });

  it("reports a non-zero exit without error JSON, keeping partial output", async () => {
    const d = pluginDir();
    const path = d.install("p", { ADD: { stdout: '{"cniVersion":"1.0', exit: 2, stderr: "panic: boom" } });
    const error = (await run(path, "ADD", {}).catch((e: unknown) => e)) as CniError;
    expect(error.reason).toBe("pluginFailed");
    expect(error.details).toContain("exited with status 2");
    expect(error.details).toContain('{\\"cniVersion\\":\\"1.0');
    expect(error.stderr).toBe("panic: boom");
  });

  it("kills the plugin's whole process group at the timeout", async () => {
    const d = pluginDir();
    const path = d.install("p", { ADD: { sleepMs: 30_000, spawnChild: true } });
    const started = Date.now();
    const error = (await run(path, "ADD", {}, { timeoutMs: 700 }).catch((e: unknown) => e)) as CniError;
    expect(error.reason).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(5000);
    const child = d.childPid("p");
    expect(child).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(isProcessAlive(child!)).toBe(false);
    const [call] = d.calls("p");
    expect(isProcessAlive(call!.pid)).toBe(false);
  });

  it("retries a busy executable (ETXTBSY) with a fresh process", async () => {
    const d = pluginDir();
    const path = join(d.dir, "busy");
    const fd = openSync(path, "w", 0o755);
    writeSync(fd, readFileSync(TEST_PLUGIN_SOURCE));
    setTimeout(() => closeSync(fd), 120);
    const out = await run(path, "VERSION", { cniVersion: "1.1.0" }, { busyRetryDelaysMs: [100, 100, 100, 100] });
    expect(JSON.parse(out.stdout).supportedVersions).toContain("1.1.0");
    expect(d.calls("busy")).toHaveLength(1);
  });
});

describe("plugin config injection", () => {
  it("injects name, cniVersion, prevResult and only enabled, supplied capability args", () => {
    const plugin = { type: "portmap", capabilities: { portMappings: true, bandwidth: false, mac: true }, runtimeConfig: { ipRanges: [["evil"]] }, name: "other" };
    const config = buildPluginConfig({
      name: "net",
      cniVersion: "1.0.0",
      plugin,
      prevResult: { cniVersion: "1.0.0", ips: [] },
      capabilityArgs: { portMappings: [{ hostPort: 8080 }], bandwidth: { ingressRate: 1 }, ips: ["10.0.0.2/24"] },
    });
    expect(config).toEqual({
      type: "portmap",
      capabilities: plugin.capabilities,
      name: "net",
      cniVersion: "1.0.0",
      runtimeConfig: { portMappings: [{ hostPort: 8080 }] },
      prevResult: { cniVersion: "1.0.0", ips: [] },
    });
    expect(buildPluginConfig({ name: "n", cniVersion: "1.0.0", plugin })).not.toHaveProperty("runtimeConfig");
  });
});
