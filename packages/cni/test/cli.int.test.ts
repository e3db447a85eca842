import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { bridgeConflist, createCleanup, createNetns, createTestDirs, deleteBridge, getGlobalAddrs, listCacheFiles, readLeases, run, saveSysctls } from "./host";
import { isRoot } from "./host/harness";

const BIN = resolve(fileURLToPath(new URL("../bin/switchyard-cni", import.meta.url)));

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
}

async function cli(args: string[], env: Record<string, string>): Promise<CliRun> {
  const r = await run(BIN, args, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, check: false, timeoutMs: 45_000 });
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, json };
}

describe.runIf(isRoot)("switchyard-cni CLI against a real bridge network", () => {
  const cleanup = createCleanup();
  let restoreSysctls: () => Promise<void>;
  beforeAll(async () => {
    restoreSysctls = await saveSysctls();
  });
  afterEach(() => cleanup.run());
  afterAll(async () => {
    await restoreSysctls?.();
  });

  async function setup() {
    const dirs = await createTestDirs();
    cleanup.add(() => dirs.remove());
    const ns = await createNetns();
    cleanup.add(() => ns.remove());
    const { conflist, names } = bridgeConflist({ ipv4: true, dataDir: dirs.dataDir });
    cleanup.add(() => deleteBridge(names.bridge));
    const confDir = join(dirs.root, "net.d");
    await mkdir(confDir, { recursive: true });
    await writeFile(join(confDir, "10-test.conflist"), JSON.stringify(conflist));
    const env = { NETCONFPATH: confDir, CNI_PATH: "/opt/cni/bin:/usr/lib/cni" };
    const common = ["--cache-dir", dirs.cacheDir];
    return { dirs, ns, names, env, common };
  }

  it("add, check, del (twice) with --json; the container id is cnitool's", async () => {
    const { dirs, ns, names, env, common } = await setup();
    const expectedId = `cnitool-${createHash("sha512").update(ns.path).digest("hex").slice(0, 20)}`;

    const add = await cli(["add", names.network, ns.path, "--json", ...common], env);
    expect(add.code, add.stderr).toBe(0);
    expect(add.json?.ok).toBe(true);
    expect(add.json?.containerId).toBe(expectedId);
    const result = add.json?.result as { ips: { address: string }[] };
    expect(await getGlobalAddrs(ns.name, "eth0")).toContain(result.ips[0]!.address);
    expect(await listCacheFiles(dirs.cacheDir)).toEqual([`${names.network}-${expectedId}-eth0`]);

    const check = await cli(["check", names.network, ns.path, "--json", ...common], env);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.json).toMatchObject({ ok: true, verb: "check" });

    for (let i = 0; i < 2; i++) {
      const del = await cli(["del", names.network, ns.path, "--json", ...common], env);
      expect(del.code, del.stdout + del.stderr).toBe(0);
    }
    expect(await getGlobalAddrs(ns.name, "eth0")).toEqual([]);
    expect(await readLeases(dirs.dataDir, names.network)).toEqual([]);
    expect(await listCacheFiles(dirs.cacheDir)).toEqual([]);
  });

  it("without --json, add prints the result and CNI_IFNAME picks the interface", async () => {
    const { ns, names, env, common } = await setup();
    const add = await cli(["add", names.network, ns.path, ...common], { ...env, CNI_IFNAME: "net1", CNI_ARGS: "IgnoreUnknown=1" });
    expect(add.code, add.stderr).toBe(0);
    const result = add.json as { ips: { address: string }[] };
    expect(await getGlobalAddrs(ns.name, "net1")).toContain(result.ips[0]!.address);
    const del = await cli(["del", names.network, ns.path, "-i", "net1", ...common], env);
    expect(del.code, del.stderr).toBe(0);
    expect(await getGlobalAddrs(ns.name, "net1")).toEqual([]);
  });

  it("a failing plugin gives exit 1 and the CNI error code in the JSON", async () => {
    const { names, env, common } = await setup();
    // The netns does not exist: the runtime refuses (ADD needs an existing namespace).
    const add = await cli(["add", names.network, "/var/run/netns/sytest-nonexistent", "--json", ...common], env);
    expect(add.code).toBe(1);
    expect(add.json?.ok).toBe(false);
    expect(typeof (add.json?.error as { code?: unknown }).code).toBe("number");
  });

  it("usage errors give exit 2: unknown network, bad CNI_ARGS, bad CAP_ARGS, missing netns, gc without valid attachments", async () => {
    const { ns, names, env, common } = await setup();
    const cases: [string[], Record<string, string>][] = [
      [["add", "sytest-nonet", ns.path, "--json", ...common], env],
      [["add", names.network, ns.path, "--json", ...common], { ...env, CNI_ARGS: "A=1;broken" }],
      [["add", names.network, ns.path, "--json", ...common], { ...env, CAP_ARGS: "[1,2]" }],
      [["add", names.network, "--json", ...common], env],
      [["frobnicate", names.network, ns.path, "--json"], env],
      [["gc", names.network, "--json", ...common], env],
    ];
    for (const [args, e] of cases) {
      const r = await cli(args, e);
      expect(r.code, `${args.join(" ")}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.json?.ok, args.join(" ")).toBe(false);
      expect(typeof (r.json?.error as { code?: unknown })?.code).toBe("number");
    }
    expect(await getGlobalAddrs(ns.name, "eth0")).toEqual([]);
  });

  it("--help for each verb exits 0 and documents the environment", async () => {
    for (const verb of ["add", "check", "del", "status", "gc", "version"]) {
      const r = await cli([verb, "--help"], {});
      expect(r.code, verb).toBe(0);
      expect(r.stdout).toContain(`switchyard-cni ${verb}`);
      expect(r.stdout).toContain("NETCONFPATH");
      expect(r.stdout).toContain("CNI_ARGS");
    }
    const top = await cli(["--help"], {});
    expect(top.code).toBe(0);
    for (const verb of ["add", "check", "del", "status", "gc", "version"]) expect(top.stdout).toContain(verb);
  });

  it("version lists each plugin's supported versions", async () => {
    const { names, env, common } = await setup();
    const r = await cli(["version", names.network, "--json", ...common], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const plugins = r.json?.plugins as { type: string; supportedVersions: string[] }[];
    expect(plugins.map((p) => p.type)).toEqual(["bridge", "host-local"]);
    expect(plugins[0]!.supportedVersions).toContain("1.0.0");
  });
});
