/**
 * Issue 17 through the agent and the console: attachments stuck on the config the host cached
 * (a CNI version the plugins lack, a plugin whose binary is gone) come free through "detach with
 * the current network revision", and reconcile finds the same way out on its own. A real agent
 * process, Debian's CNI plugins, namespaces and a plugin directory the test makes; the host is
 * checked with `ip`, the lease files and the cache directory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type ApiTest, serveApi, setupApiTest } from "@switchyard/api/testing";
import { createPluginDir } from "@switchyard/cni/test-fixtures";
import { bridgeConflist, createTestDirs, deleteBridge, getGlobalAddrs, listCacheFiles, listLinks, listNetns, randomSuffix, readLeases } from "@switchyard/cni/test-host";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { waitFor as waitUntil } from "./wait";

const BIN = resolve(fileURLToPath(new URL("../bin/switchyard-agent", import.meta.url)));
const isRoot = process.getuid?.() === 0;

/** These scenarios run several plugin rounds each: a longer wait than the shared default. */
const waitFor = <T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000) => waitUntil(what, fn, timeoutMs);

describe.runIf(isRoot)("a stuck attachment comes free (issue 17), with a real agent and the real plugins", { timeout: 180_000 }, () => {
  let t: ApiTest;
  let server: Awaited<ReturnType<typeof serveApi>>;
  let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
  let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
  const agents: ChildProcess[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    t = await setupApiTest();
    server = await serveApi(t.deps);
    admin = await t.callerAs("admin", "root-admin");
    operator = await t.callerAs("operator", "op");
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) if (a.exitCode === null) a.kill("SIGKILL");
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  /** A network (its first revision from `conflistOf`), an enrolled agent with `cniPath`, its host id. */
  async function setup(conflistOf: (c: ReturnType<typeof bridgeConflist>["conflist"]) => Record<string, unknown>, cniPath: string[], agentEnv: Record<string, string> = {}, agentArgs: string[] = []) {
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    const { conflist, names } = bridgeConflist({ dataDir: dirs.dataDir, ipv4: true });
    cleanups.push(() => deleteBridge(names.bridge));
    const network = await operator.caller.networks.create({ text: JSON.stringify(conflistOf(conflist), null, 2), comment: "" });
    const hostname = `sytest-${randomSuffix()}`;
    const confDir = join(dirs.root, "net.d");
    mkdirSync(confDir, { recursive: true });
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    const args = [BIN, ...agentArgs, "--console-url", server.url, "--reconcile-interval", "600000", "--data-dir", join(dirs.root, "agent"), "--cache-dir", dirs.cacheDir, "--conf-dir", confDir, "--netns-dir", "/run/netns", "--hostname", hostname, "--cni-path", cniPath.join(":"), "--plugin-timeout", "20000"];
    const start = (extra: string[]) => {
      const proc = spawn(process.execPath, [...args, ...extra], { env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ...agentEnv }, stdio: "ignore" });
      agents.push(proc);
      return proc;
    };
    start(["--join-token", token]);
    const hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);
    return { dirs, names, conflist, network, hostId, start };
  }

  async function sandbox(hostId: string, networkId: string) {
    const name = `sytest-${randomSuffix()}`;
    cleanups.push(async () => spawn("ip", ["netns", "del", name]));
    const { attachment } = await operator.caller.attachments.create({ hostId, networkId, target: { kind: "sandbox", name }, ifName: "eth0", portMappings: [] });
    return { name, id: attachment.id };
  }

  const rowOf = (id: string) => t.db.attachment.findUniqueOrThrow({ where: { id } });
  const settled = (id: string, state: string) => waitFor(`the attachment to be ${state}`, async () => ((await rowOf(id)).state === state ? rowOf(id) : undefined));

  /** A new revision of the network; returns its number. */
  async function revise(networkId: string, conflist: Record<string, unknown>, expectedRevision: number) {
    return (await operator.caller.networks.update({ id: networkId, text: JSON.stringify(conflist, null, 2), comment: "the fix", expectedRevision })).revision;
  }

  /** Detach with the current revision, through the API, until its job is done; returns the job. */
  async function detachWithCurrentRevision(id: string) {
    const { operation } = await operator.caller.attachments.detachWithCurrentRevision({ id });
    await waitFor("the detach to finish", async () => ["succeeded", "failed"].includes((await t.db.operation.findUniqueOrThrow({ where: { id: operation.id } })).status));
    return operator.caller.attachments.operation({ id: operation.id });
  }

  async function expectHostClean(s: Awaited<ReturnType<typeof setup>>, netns: string) {
    expect(await listCacheFiles(s.dirs.cacheDir)).toEqual([]);
    expect(await readLeases(s.dirs.dataDir, s.names.network)).toEqual([]);
    expect((await listLinks()).filter((l) => l.kind === "veth" && l.master === s.names.bridge)).toEqual([]);
    expect(await listNetns()).not.toContain(netns);
  }

  it("cniVersions [1.0.0, 1.1.0] on plugins that stop at 1.0.0: attach and detach fail, the network is fixed, detach with the current revision frees it", async () => {
    // The spec's own example: this runtime picks 1.1.0, Debian's plugins take up to 1.0.0.
    const s = await setup((c) => ({ ...c, cniVersions: ["1.0.0", "1.1.0"] }), ["/usr/lib/cni"]);
    const a = await sandbox(s.hostId, s.network.id);
    expect((await settled(a.id, "failed")).lastError).toMatch(/incompatible CNI versions/i);

    // The plain detach DELs with the config ADD ran, falling back to the attachment's revision: the same one.
    await operator.caller.attachments.detach({ id: a.id });
    const stuck = await waitFor("the detach to fail", async () => {
      const row = await rowOf(a.id);
      return row.state === "failed" && !row.present ? row : undefined;
    });
    expect(stuck.lastError).toMatch(/incompatible CNI versions/i);

    const fixed = await revise(s.network.id, s.conflist, 1);
    expect(fixed).toBe(2);
    const job = await detachWithCurrentRevision(a.id);
    expect(job).toMatchObject({ kind: "detach", toRevision: 2, status: "succeeded" });
    expect(job.logs.map((l) => l.line)).toContainEqual(expect.stringMatching(/^DEL .* with revision 2 only \(not the cached config\)/));
    expect(await rowOf(a.id)).toMatchObject({ state: "detached", present: false, lastError: "" });
    await expectHostClean(s, a.name);
  });

  it("a plugin dropped from the chain with its binary gone: the detach is stuck naming it, detach with the current revision frees it", async () => {
    const plugins = mkdtempSync(join(tmpdir(), "sy-recovery-plugins-"));
    cleanups.push(async () => rmSync(plugins, { recursive: true, force: true }));
    const gone = `sytune${randomSuffix().slice(0, 6)}`;
    copyFileSync("/usr/lib/cni/tuning", join(plugins, gone));
    const s = await setup((c) => ({ ...c, plugins: [...c.plugins, { type: gone }] }), [plugins, "/usr/lib/cni"]);
    const a = await sandbox(s.hostId, s.network.id);
    await settled(a.id, "ready");
    const [address] = await getGlobalAddrs(a.name, "eth0");
    expect(address).toBeTruthy();
    expect(await readLeases(s.dirs.dataDir, s.names.network)).toHaveLength(1);

    // The plugin leaves the chain (revision 2) and its binary leaves the host.
    expect(await revise(s.network.id, s.conflist, 1)).toBe(2);
    rmSync(join(plugins, gone));
    await operator.caller.attachments.detach({ id: a.id });
    const stuck = await waitFor("the detach to fail", async () => {
      const row = await rowOf(a.id);
      return row.state === "failed" && !row.present ? row : undefined;
    });
    // The plugin it could not run is named; the ones it could ran (DEL is best effort): the lease is released.
    expect(stuck.lastError).toContain(gone);
    expect(await readLeases(s.dirs.dataDir, s.names.network)).toEqual([]);
    const stuckJob = await operator.caller.attachments.operation({ id: (await t.db.operation.findFirstOrThrow({ where: { attachmentId: a.id, kind: "detach", toRevision: null } })).id });
    expect(stuckJob.logs.map((l) => l.line)).toEqual(expect.arrayContaining([expect.stringMatching(/^bridge DEL exited 0/), expect.stringContaining(gone)]));

    const job = await detachWithCurrentRevision(a.id);
    expect(job).toMatchObject({ status: "succeeded", toRevision: 2 });
    expect(job.logs.map((l) => l.line)).toContainEqual(expect.stringMatching(/^DEL .* with revision 2 only/));
    // The way-out job itself names the plugin of ADD it did not run (said once, not twice).
    const skipped = job.logs.map((l) => l.line).filter((line) => line.includes(`did not run plugin ${gone}`));
    expect(skipped).toEqual([expect.stringMatching(new RegExp(`^warning: DEL of \\S+ did not run plugin ${gone}: they ran at ADD but are not in the configuration DEL used: what they set up on the host stays$`))]);
    expect(await rowOf(a.id)).toMatchObject({ state: "detached", present: false });
    await expectHostClean(s, a.name);
  });

  it("--plugin-env: the plugins see the named variables of the agent's environment (and XDG_RUNTIME_DIR by default), no others (item 4)", async () => {
    const plugins = createPluginDir();
    cleanups.push(async () => plugins.cleanup());
    plugins.install("syenv");
    const env = { HTTPS_PROXY: "http://127.0.0.1:9", SY_NOT_PASSED: "secret", XDG_RUNTIME_DIR: "/run/user/4242" };
    const s = await setup((c) => ({ ...c, plugins: [...c.plugins, { type: "syenv" }] }), [plugins.dir, "/usr/lib/cni"], env, ["--plugin-env", "HTTPS_PROXY"]);
    const a = await sandbox(s.hostId, s.network.id);
    await settled(a.id, "ready");
    const [add] = plugins.calls("syenv").filter((c) => c.command === "ADD");
    expect(add!.env).toMatchObject({ HTTPS_PROXY: "http://127.0.0.1:9", XDG_RUNTIME_DIR: "/run/user/4242" });
    expect(add!.env).not.toHaveProperty("SY_NOT_PASSED");
    await operator.caller.attachments.detach({ id: a.id });
    await settled(a.id, "detached");
    await expectHostClean(s, a.name);
  });

  it("the plain detach: a cached config that cannot be read falls back to the attachment's revision, and the job view says so", async () => {
    const s = await setup((c) => c, ["/usr/lib/cni"]);
    const a = await sandbox(s.hostId, s.network.id);
    await settled(a.id, "ready");
    const [file] = await listCacheFiles(s.dirs.cacheDir);
    const path = join(s.dirs.cacheDir, "results", file!);
    const entry = JSON.parse(readFileSync(path, "utf8")) as { config: string };
    // The config ADD ran, as the cache holds it, made unreadable (libcni keeps it base64).
    writeFileSync(path, JSON.stringify({ ...entry, config: Buffer.from("{ not json").toString("base64") }));
    const { operation } = await operator.caller.attachments.detach({ id: a.id });
    await settled(a.id, "detached");
    const job = await operator.caller.attachments.operation({ id: operation!.id });
    expect(job.toRevision).toBeNull();
    expect(job.logs.map((l) => l.line)).toEqual(expect.arrayContaining([expect.stringMatching(/^DEL .* with the cached config \(revision 1 if it cannot finish\)/), expect.stringMatching(/^warning: unusable config in result cache file/)]));
    await expectHostClean(s, a.name);
  });

  it("reconcile: GC with the attachments' revision fails (a CNI version the plugins lack); it goes again with the current revision, with a warning", async () => {
    const s = await setup((c) => ({ ...c, cniVersions: ["1.0.0", "1.1.0"] }), ["/usr/lib/cni"]);
    const a = await sandbox(s.hostId, s.network.id);
    // Failed, still desired: reconcile GCs its network with its revision (1.1.0: the plugins' GC is asked).
    await settled(a.id, "failed");
    expect(await revise(s.network.id, s.conflist, 1)).toBe(2);
    const before = new Date();
    await operator.caller.hosts.reconcile({ id: s.hostId });
    const last = await waitFor("a reconcile report with a warning", async () => {
      const r = (await operator.caller.hosts.get({ id: s.hostId })).inventory?.lastReconcile;
      return r && r.at >= before && r.warnings.length > 0 ? r : undefined;
    });
    expect(last).toMatchObject({ gcNetworks: 1, errors: [] });
    expect(last.warnings).toEqual([expect.stringMatching(new RegExp(`^GC of ${s.names.network} failed \\(.+\\); done with network ${s.names.network}'s current revision 2$`, "i"))]);
  });

  it("reconcile: a stuck attachment's cache entry that fails with its cached config is DELed with the current revision, with a warning", async () => {
    const plugins = mkdtempSync(join(tmpdir(), "sy-recovery-plugins-"));
    cleanups.push(async () => rmSync(plugins, { recursive: true, force: true }));
    const gone = `sytune${randomSuffix().slice(0, 6)}`;
    copyFileSync("/usr/lib/cni/tuning", join(plugins, gone));
    const s = await setup((c) => ({ ...c, plugins: [...c.plugins, { type: gone }] }), [plugins, "/usr/lib/cni"]);
    const a = await sandbox(s.hostId, s.network.id);
    await settled(a.id, "ready");
    expect(await revise(s.network.id, s.conflist, 1)).toBe(2);
    rmSync(join(plugins, gone));
    await operator.caller.attachments.detach({ id: a.id });
    await waitFor("the detach to fail", async () => {
      const row = await rowOf(a.id);
      return row.state === "failed" && !row.present;
    });
    expect(await listCacheFiles(s.dirs.cacheDir)).toHaveLength(1);

    // Nobody presses the button: the next reconcile finds the way out itself.
    const before = new Date();
    await operator.caller.hosts.reconcile({ id: s.hostId });
    const last = await waitFor("a reconcile report with a warning", async () => {
      const inventory = (await t.db.host.findUniqueOrThrow({ where: { id: s.hostId } })).inventory as { lastReconcile?: { at: string; warnings?: string[]; staleDeleted: number } } | null;
      const r = inventory?.lastReconcile;
      return r && new Date(r.at) >= before && (r.warnings?.length ?? 0) > 0 ? r : undefined;
    });
    expect(last.staleDeleted).toBe(1);
    expect(last.warnings).toEqual([expect.stringMatching(new RegExp(`^DEL of stale ${s.names.network}/\\S+ failed \\(.*${gone}.*\\); done with network ${s.names.network}'s current revision 2$`))]);
    // The host page shows it too.
    expect((await operator.caller.hosts.get({ id: s.hostId })).inventory?.lastReconcile?.warnings).toEqual(last.warnings);
    expect(await listCacheFiles(s.dirs.cacheDir)).toEqual([]);
    expect(await readLeases(s.dirs.dataDir, s.names.network)).toEqual([]);
    expect((await listLinks()).filter((l) => l.kind === "veth" && l.master === s.names.bridge)).toEqual([]);
    // What the console still calls stuck now detaches at once: nothing is left to DEL.
    expect((await detachWithCurrentRevision(a.id)).status).toBe("succeeded");
    expect(await rowOf(a.id)).toMatchObject({ state: "detached" });
    await expectHostClean(s, a.name);
  });
});
