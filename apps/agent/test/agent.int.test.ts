/**
 * The agent as a real process (root), dialing a real console endpoint over HTTP, driving Debian's
 * CNI plugins in namespaces it creates; the test acts as operator through the tRPC API and checks
 * the host with `ip`, the lease files and the cache directory.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type ApiTest, serveApi, setupApiTest } from "@switchyard/api/testing";
import { createPluginDir, isProcessAlive } from "@switchyard/cni/test-fixtures";
import { bridgeConflist, createTestDirs, deleteBridge, getGlobalAddrs, listCacheFiles, listLinks, listNetns, randomSuffix, readLeases } from "@switchyard/cni/test-host";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, startAgentProcess } from "./support/agent-process";
import { waitFor } from "./wait";

const BIN = resolve(fileURLToPath(new URL("../bin/switchyard-agent", import.meta.url)));
const isRoot = process.getuid?.() === 0;
const PLUGIN_DIRS = ["/opt/cni/bin", "/usr/lib/cni"];


describe.runIf(isRoot)("switchyard-agent against a console, with the real plugins", { timeout: 120_000 }, () => {
  let t: ApiTest;
  let server: Awaited<ReturnType<typeof serveApi>>;
  let serverUp = true;
  let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
  let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
  const agents: AgentProcess[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    t = await setupApiTest();
    server = await serveApi(t.deps);
    admin = await t.callerAs("admin", "root-admin");
    operator = await t.callerAs("operator", "op");
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) if (a.proc.exitCode === null) a.proc.kill("SIGKILL");
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });
  afterAll(async () => {
    if (serverUp) await server?.close();
    await t?.close();
  });

  function startAgent(args: string[]): AgentProcess {
    const agent = startAgentProcess([BIN, "--console-url", server.url, "--reconcile-interval", "600000", ...args]);
    agents.push(agent);
    return agent;
  }

  async function setup(opts: { cniPath?: string[]; chain?: Record<string, unknown>[] } = {}) {
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    const { conflist, names } = bridgeConflist({ dataDir: dirs.dataDir, ipv4: true, ...(opts.chain ? { chain: opts.chain } : {}) });
    cleanups.push(() => deleteBridge(names.bridge));
    const network = await operator.caller.networks.create({ text: JSON.stringify(conflist), comment: "" });
    const hostname = `sytest-${randomSuffix()}`;
    const dataDir = join(dirs.root, "agent");
    const confDir = join(dirs.root, "net.d");
    mkdirSync(confDir, { recursive: true });
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    const agentArgs = ["--data-dir", dataDir, "--cache-dir", dirs.cacheDir, "--conf-dir", confDir, "--netns-dir", "/run/netns", "--hostname", hostname, "--cni-path", (opts.cniPath ?? PLUGIN_DIRS).join(":"), "--plugin-timeout", "20000"];
    return { dirs, names, network, conflist, confDir, hostname, dataDir, token, agentArgs };
  }

  async function hostIdOf(hostname: string): Promise<string> {
    return waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);
  }

  async function stateOf(attachmentId: string) {
    return (await t.db.attachment.findUniqueOrThrow({ where: { id: attachmentId } })).state;
  }

  async function sandbox(hostId: string, networkId: string) {
    const name = `sytest-${randomSuffix()}`;
    cleanups.push(async () => spawn("ip", ["netns", "del", name]));
    const { attachment, operation } = await operator.caller.attachments.create({ hostId, networkId, target: { kind: "sandbox", name }, ifName: "eth0", portMappings: [] });
    return { name, attachment, operation };
  }

  async function expectNothingLeft(s: Awaited<ReturnType<typeof setup>>, containerIds: string[]) {
    expect(await listCacheFiles(s.dirs.cacheDir)).toEqual([]);
    expect(await readLeases(s.dirs.dataDir, s.names.network)).toEqual([]);
    const links = await listLinks();
    expect(links.filter((l) => l.kind === "veth" && l.master === s.names.bridge)).toEqual([]);
    const namespaces = await listNetns();
    for (const id of containerIds) expect(namespaces).not.toContain(id);
  }

  it("enrols, attaches a sandbox through the API (address inside it), checks, detaches, leaves nothing", async () => {
    const s = await setup();
    // The network as an operator would have exported it into the host's conf dir.
    writeFileSync(join(s.confDir, `10-${s.names.network}.conflist`), `${JSON.stringify(s.conflist, null, 2)}\n`);
    const agent = startAgent([...s.agentArgs, "--join-token", s.token]);
    const hostId = await hostIdOf(s.hostname);
    await agent.waitForLog((l) => l.msg === "enrolled");
    expect(statSync(join(s.dataDir, "credential.json")).mode & 0o777).toBe(0o600);
    await waitFor("a heartbeat with inventory", async () => (await t.db.host.findUniqueOrThrow({ where: { id: hostId } })).inventoryAt);
    // The push stream is reported open (the doctor's "push stream open" check).
    await waitFor("the push stream reported open", async () => ((await t.db.host.findUniqueOrThrow({ where: { id: hostId } })).inventory as { pushStream?: { open: boolean } } | null)?.pushStream?.open);
    expect((await admin.caller.hosts.get({ id: hostId })).confDrift).toEqual([
      { file: join(s.confDir, `10-${s.names.network}.conflist`), networkName: s.names.network, status: "in-sync", revision: 1, latestRevision: 1 },
    ]);
    const inventory = (await admin.caller.hosts.get({ id: hostId })).inventory as { plugins: { name: string; executable: boolean; supportedVersions?: string[] }[] };
    expect(inventory.plugins.find((p) => p.name === "bridge")).toMatchObject({ executable: true });
    expect(inventory.plugins.find((p) => p.name === "bridge")?.supportedVersions).toContain("1.0.0");

    const { name, attachment, operation } = await sandbox(hostId, s.network.id);
    await waitFor("the attachment to be ready", async () => (await stateOf(attachment.id)) === "ready");
    const ready = await operator.caller.attachments.get({ id: attachment.id });
    const address = (ready.result as { ips: { address: string }[] }).ips[0]!.address;
    expect(await getGlobalAddrs(name, "eth0")).toEqual([address]);
    // The sandbox's loopback is up, as containers expect.
    expect((await listLinks(name)).find((l) => l.ifname === "lo")?.flags).toContain("UP");
    const leases = await readLeases(s.dirs.dataDir, s.names.network);
    expect(leases.map((l) => `${l.ip}/24`)).toEqual([address]);
    const job = await operator.caller.attachments.operation({ id: operation.id });
    expect(job.status).toBe("succeeded");
    expect(job.logs.map((l) => l.line)).toEqual(expect.arrayContaining([expect.stringMatching(/^ADD /), "bridge ADD", expect.stringMatching(/^bridge ADD exited 0 in \d+ ms$/), expect.stringMatching(new RegExp(`^address ${address.replace(/\./g, "\\.")}`))]));

    // Reconcile on request: GC with the valid set, and a fresh inventory with the networks' STATUS.
    const asked = Date.now();
    await operator.caller.hosts.reconcile({ id: hostId });
    const inv = await waitFor("a fresh inventory after the reconcile", async () => {
      const i = (await t.db.host.findUniqueOrThrow({ where: { id: hostId } })).inventory as { lastReconcile?: { at: string; gcNetworks: number; staleDeleted: number }; networkStatus: unknown[] } | null;
      return i?.lastReconcile && Date.parse(i.lastReconcile.at) >= asked ? i : undefined;
    });
    expect(inv.lastReconcile).toMatchObject({ gcNetworks: 1, staleDeleted: 0 });
    expect(inv.networkStatus).toEqual([{ networkName: s.names.network, ready: true }]);
    expect(await getGlobalAddrs(name, "eth0")).toEqual([address]);

    const { operation: check } = await operator.caller.attachments.check({ id: attachment.id });
    await waitFor("CHECK to pass", async () => (await t.db.operation.findUniqueOrThrow({ where: { id: check.id } })).status === "succeeded");

    await operator.caller.attachments.detach({ id: attachment.id });
    await waitFor("the attachment to be detached", async () => (await stateOf(attachment.id)) === "detached");
    await expectNothingLeft(s, [name]);
    expect(agent.proc.exitCode).toBeNull();
  });

  it("a revoked host's agent is refused at once and exits with status 3", async () => {
    const s = await setup();
    const agent = startAgent([...s.agentArgs, "--join-token", s.token]);
    const hostId = await hostIdOf(s.hostname);
    await agent.waitForLog((l) => l.msg === "push stream open");
    const revokedAt = Date.now();
    await admin.caller.hosts.revoke({ id: hostId });
    const code = await Promise.race([agent.exited, new Promise((r) => setTimeout(() => r("still running"), 20_000))]);
    expect(code).toBe(3);
    expect(Date.now() - revokedAt).toBeLessThan(5000);
    expect(agent.logs.some((l) => String(l.msg).includes("refused this host's credential"))).toBe(true);
  });

  it("SIGKILLed in the middle of ADD (address reserved, chain not finished), it converges on restart: DEL first, no leak", async () => {
    // A chained test plugin that waits makes the window: bridge and host-local have run.
    const plugins = createPluginDir();
    cleanups.push(async () => plugins.cleanup());
    plugins.install("sywait", { ADD: { sleepMs: 4000 } });
    const s = await setup({ cniPath: [plugins.dir, ...PLUGIN_DIRS], chain: [{ type: "sywait" }] });
    const first = startAgent([...s.agentArgs, "--join-token", s.token]);
    const hostId = await hostIdOf(s.hostname);
    const { name, attachment } = await sandbox(hostId, s.network.id);
    await waitFor("the chained plugin to be running", async () => plugins.calls("sywait").some((c) => c.command === "ADD"));
    expect(await readLeases(s.dirs.dataDir, s.names.network)).toHaveLength(1);
    first.proc.kill("SIGKILL");
    await first.exited;

    const second = startAgent(s.agentArgs);
    await second.waitForLog((l) => l.msg === "an operation was interrupted: DEL first");
    await waitFor("the attachment to be ready", async () => (await stateOf(attachment.id)) === "ready", 60_000);
    const op = await t.db.operation.findFirstOrThrow({ where: { attachmentId: attachment.id, kind: "attach" } });
    expect(op.attempt).toBeGreaterThanOrEqual(2);
    const ready = await operator.caller.attachments.get({ id: attachment.id });
    const address = (ready.result as { ips: { address: string }[] }).ips[0]!.address;
    expect(await getGlobalAddrs(name, "eth0")).toEqual([address]);
    // One lease, one veth, one cache file: the interrupted attempt left nothing of its own.
    expect(await readLeases(s.dirs.dataDir, s.names.network)).toHaveLength(1);
    expect((await listLinks()).filter((l) => l.kind === "veth" && l.master === s.names.bridge)).toHaveLength(1);
    expect(await listCacheFiles(s.dirs.cacheDir)).toHaveLength(1);

    await operator.caller.attachments.detach({ id: attachment.id });
    await waitFor("the attachment to be detached", async () => (await stateOf(attachment.id)) === "detached", 30_000);
    await expectNothingLeft(s, [name]);
  });

  it("killed after an outcome was recorded but before its intent was removed: the restart re-sends it and undoes nothing", async () => {
    const s = await setup();
    const first = startAgent([...s.agentArgs, "--join-token", s.token]);
    const hostId = await hostIdOf(s.hostname);
    const { name, attachment, operation } = await sandbox(hostId, s.network.id);
    await waitFor("the attachment to be ready", async () => (await stateOf(attachment.id)) === "ready");
    const ready = await operator.caller.attachments.get({ id: attachment.id });
    const address = (ready.result as { ips: { address: string }[] }).ips[0]!.address;
    first.proc.kill("SIGKILL");
    await first.exited;
    // The files as a kill between "report on disk" and "intent removed" leaves them.
    const { attempt } = await t.db.operation.findUniqueOrThrow({ where: { id: operation.id } });
    const revision = await t.db.networkRevision.findFirstOrThrow({ where: { networkId: s.network.id }, select: { conflist: true } });
    mkdirSync(join(s.dataDir, "intents"), { recursive: true });
    mkdirSync(join(s.dataDir, "reports"), { recursive: true });
    const intent = { operationId: operation.id, attempt, kind: "attach", attachmentId: attachment.id, networkName: s.names.network, containerId: name, ifName: "eth0", netns: `/run/netns/${name}`, conflist: revision.conflist, capabilityArgs: {}, startedAt: new Date() };
    writeFileSync(join(s.dataDir, "intents", `${attachment.id}.json`), JSON.stringify(intent));
    writeFileSync(join(s.dataDir, "reports", `${operation.id}-${attempt}.json`), JSON.stringify({ operationId: operation.id, attempt, attachmentId: attachment.id, outcome: "succeeded", result: ready.result }));

    const again = startAgent(s.agentArgs);
    await again.waitForLog((l) => l.msg === "an operation finished before the agent stopped; its outcome is queued");
    await again.waitForLog((l) => l.msg === "agent started");
    // Re-sent and refused as already recorded: the queue empties; nothing was DELed.
    await waitFor("the report queue to empty", async () => readdirSync(join(s.dataDir, "reports")).length === 0);
    expect(readdirSync(join(s.dataDir, "intents"))).toEqual([]);
    expect(await getGlobalAddrs(name, "eth0")).toEqual([address]);
    expect(await listCacheFiles(s.dirs.cacheDir)).toHaveLength(1);
    expect(await stateOf(attachment.id)).toBe("ready");
    await operator.caller.attachments.detach({ id: attachment.id });
    await waitFor("the attachment to be detached", async () => (await stateOf(attachment.id)) === "detached");
    await expectNothingLeft(s, [name]);
  });

  it("stops on SIGTERM with 143 once the operation in flight is done, and reports it", async () => {
    const plugins = createPluginDir();
    cleanups.push(async () => plugins.cleanup());
    plugins.install("sywait", { ADD: { sleepMs: 1500 } });
    const s = await setup({ cniPath: [plugins.dir, ...PLUGIN_DIRS], chain: [{ type: "sywait" }] });
    const agent = startAgent([...s.agentArgs, "--join-token", s.token]);
    const hostId = await hostIdOf(s.hostname);
    const { name, attachment } = await sandbox(hostId, s.network.id);
    await waitFor("the chained plugin to be running", async () => plugins.calls("sywait").some((c) => c.command === "ADD"));
    agent.proc.kill("SIGTERM");
    expect(await agent.exited).toBe(143);
    expect(await stateOf(attachment.id)).toBe("ready");
    // Clean up through a fresh agent.
    const again = startAgent(s.agentArgs);
    await again.waitForLog((l) => l.msg === "agent started");
    await operator.caller.attachments.detach({ id: attachment.id });
    await waitFor("the attachment to be detached", async () => (await stateOf(attachment.id)) === "detached");
    await expectNothingLeft(s, [name]);
  });

  /** A bridge network with a chained test plugin `sywait` scripted as given, and its agent running. */
  async function withChained(script: Parameters<ReturnType<typeof createPluginDir>["install"]>[1], agentFlags: string[] = []) {
    const plugins = createPluginDir();
    cleanups.push(async () => plugins.cleanup());
    plugins.install("sywait", script);
    const s = await setup({ cniPath: [plugins.dir, ...PLUGIN_DIRS], chain: [{ type: "sywait" }] });
    const agent = startAgent([...s.agentArgs, "--join-token", s.token, ...agentFlags]);
    const hostId = await hostIdOf(s.hostname);
    await agent.waitForLog((l) => l.msg === "agent started");
    const addStarted = () => waitFor("the chained plugin's ADD", async () => plugins.calls("sywait").some((c) => c.command === "ADD"));
    return { s, plugins, agent, hostId, addStarted };
  }

  async function leasesVethsCache(s: Awaited<ReturnType<typeof setup>>) {
    return {
      leases: (await readLeases(s.dirs.dataDir, s.names.network)).length,
      veths: (await listLinks()).filter((l) => l.kind === "veth" && l.master === s.names.bridge).length,
      cache: (await listCacheFiles(s.dirs.cacheDir)).length,
    };
  }

  it("a plugin that hangs is killed with its process group at the timeout; the retry DELs first and succeeds (HARDENING 20)", async () => {
    const { s, plugins, hostId, addStarted } = await withChained({ ADD: { sleepMs: 120_000, spawnChild: true, times: 1, then: {} } }, ["--plugin-timeout", "2000"]);
    const { attachment, operation } = await sandbox(hostId, s.network.id);
    await addStarted();
    await waitFor("the attachment to be ready", async () => (await stateOf(attachment.id)) === "ready", 40_000).catch(async (e: unknown) => {
      console.log(JSON.stringify((await operator.caller.attachments.operation({ id: operation.id })).logs.map((l) => `${l.attempt} ${l.line}`), null, 1));
      throw e;
    });
    const job = await operator.caller.attachments.operation({ id: operation.id });
    expect(job.attempt).toBe(2);
    const lines = job.logs.map((l) => `${l.attempt} ${l.line}`);
    expect(lines).toEqual(expect.arrayContaining([expect.stringMatching(/^1 failed: plugin sywait timed out/), expect.stringMatching(/^2 DEL first \(attempt 2\)/)]));
    const child = plugins.childPid("sywait");
    expect(child).toBeDefined();
    expect(isProcessAlive(child!)).toBe(false);
    expect(await leasesVethsCache(s)).toEqual({ leases: 1, veths: 1, cache: 1 });
    await operator.caller.attachments.detach({ id: attachment.id });
    await waitFor("detached", async () => (await stateOf(attachment.id)) === "detached");
    expect(await leasesVethsCache(s)).toEqual({ leases: 0, veths: 0, cache: 0 });
  });

  it("a re-issued attempt arriving while the old one runs: the old result is refused, the new one DELs first, one lease (HARDENING 17, 18)", async () => {
    const { s, agent, hostId, addStarted } = await withChained({ ADD: { sleepMs: 3000, times: 1, then: {} } });
    const { attachment, operation } = await sandbox(hostId, s.network.id);
    await addStarted();
    // The console gives up on attempt 1 (its claim ran out) and hands the operation out again.
    await t.db.operation.update({ where: { id: operation.id }, data: { claimedUntil: new Date(Date.now() - 1000) } });
    t.deps.events.publish("host", { kind: "work", hostId });
    await agent.waitForLog((l) => l.msg === "result refused by the console (stale attempt)" && l.attempt === 1);
    await waitFor("the attachment to be ready", async () => (await stateOf(attachment.id)) === "ready");
    const op = await t.db.operation.findUniqueOrThrow({ where: { id: operation.id } });
    expect(op).toMatchObject({ status: "succeeded", attempt: 2 });
    expect(await leasesVethsCache(s)).toEqual({ leases: 1, veths: 1, cache: 1 });
    await operator.caller.attachments.detach({ id: attachment.id });
    await waitFor("detached", async () => (await stateOf(attachment.id)) === "detached");
    expect(await leasesVethsCache(s)).toEqual({ leases: 0, veths: 0, cache: 0 });
  });

  it("the console goes down mid-operation: the data plane stays, the result is queued on disk and delivered when it is back (HARDENING 21)", async () => {
    const { s, agent, hostId, addStarted } = await withChained({ ADD: { sleepMs: 1500 } });
    const { name, attachment } = await sandbox(hostId, s.network.id);
    await addStarted();
    const port = server.port;
    await server.close();
    serverUp = false;
    await agent.waitForLog((l) => l.msg === "console unreachable: the result is queued");
    expect(await getGlobalAddrs(name, "eth0")).toHaveLength(1);
    expect(await stateOf(attachment.id)).toBe("applying");
    server = await serveApi(t.deps, port);
    serverUp = true;
    await waitFor("the queued result to arrive", async () => (await stateOf(attachment.id)) === "ready", 30_000);
    expect(agent.proc.exitCode).toBeNull();
    await operator.caller.attachments.detach({ id: attachment.id });
    await waitFor("detached", async () => (await stateOf(attachment.id)) === "detached");
    expect(await leasesVethsCache(s)).toEqual({ leases: 0, veths: 0, cache: 0 });
  });

  it("a claim that never reached the agent (its answer lost with the console) is handed out again when the agent is back in touch, not after the lease", async () => {
    const s = await setup();
    // A 5 s spread: the default (up to 30 s) would leave the 30 s bound below to chance.
    const agent = startAgent([...s.agentArgs, "--join-token", s.token, "--reconnect-spread", "5000"]);
    const hostId = await hostIdOf(s.hostname);
    await agent.waitForLog((l) => l.msg === "push stream open");
    const port = server.port;
    await server.close();
    serverUp = false;
    const { name, attachment, operation } = await sandbox(hostId, s.network.id);
    // Claimed for this host while its agent is cut off, the answer going nowhere: the closing server's
    // push stream may still claim it on its way out (a push into a broken stream); if it does not,
    // a claim here whose answer the agent never sees does the same. Its lease is CLAIM_LEASE_MS.
    const claimed = async () => (await t.db.operation.findUniqueOrThrow({ where: { id: operation.id } })).status === "running";
    await waitFor("the dying stream's claim", claimed, 2000).catch(() => t.agentCaller({ hostId, hostName: s.hostname }).claim({ max: 1 }));
    expect(await t.db.operation.findUniqueOrThrow({ where: { id: operation.id } })).toMatchObject({ status: "running", attempt: 1 });
    server = await serveApi(t.deps, port);
    serverUp = true;
    const started = Date.now();
    await waitFor("the attachment to be ready", async () => (await stateOf(attachment.id)) === "ready", 30_000);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await t.db.operation.findUniqueOrThrow({ where: { id: operation.id } })).toMatchObject({ status: "succeeded", attempt: 2 });
    // Attempt 1 never reached the agent.
    expect(agent.logs.filter((l) => l.operationId === operation.id && l.attempt === 1)).toEqual([]);
    const address = ((await operator.caller.attachments.get({ id: attachment.id })).result as { ips: { address: string }[] }).ips[0]!.address;
    expect(await getGlobalAddrs(name, "eth0")).toEqual([address]);
    await operator.caller.attachments.detach({ id: attachment.id });
    await waitFor("detached", async () => (await stateOf(attachment.id)) === "detached");
    await expectNothingLeft(s, [name]);
  });

  it("a reconcile asked for while the agent had no push stream is carried out once the stream is back", async () => {
    const s = await setup();
    const agent = startAgent([...s.agentArgs, "--join-token", s.token, "--reconnect-spread", "1000"]);
    const hostId = await hostIdOf(s.hostname);
    await agent.waitForLog((l) => l.msg === "push stream open");
    const port = server.port;
    await server.close();
    serverUp = false;
    // The console publishes the request to the push streams listening now: none.
    const asked = Date.now();
    await operator.caller.hosts.reconcile({ id: hostId });
    server = await serveApi(t.deps, port);
    serverUp = true;
    const inv = await waitFor("the reconcile asked for while the stream was down", async () => {
      const i = (await t.db.host.findUniqueOrThrow({ where: { id: hostId } })).inventory as { lastReconcile?: { at: string } } | null;
      return i?.lastReconcile && Date.parse(i.lastReconcile.at) >= asked ? i : undefined;
    }, 30_000);
    expect(inv.lastReconcile).toBeDefined();
    expect(agent.logs.filter((l) => l.msg === "push stream open again: catching up on what it may have carried meanwhile").length).toBeGreaterThanOrEqual(1);
    expect(agent.proc.exitCode).toBeNull();
  });

  it("a chained plugin failing mid-chain: ADD rolls back, the attachment fails with the plugin's error, nothing leaks (HARDENING 19)", async () => {
    const { s, hostId } = await withChained({ ADD: { error: { code: 7, msg: "sywait refuses", details: "by design" } } });
    const { name, attachment } = await sandbox(hostId, s.network.id);
    await waitFor("the attachment to fail", async () => (await stateOf(attachment.id)) === "failed");
    expect((await t.db.attachment.findUniqueOrThrow({ where: { id: attachment.id } })).lastError).toContain("sywait refuses");
    expect(await leasesVethsCache(s)).toEqual({ leases: 0, veths: 0, cache: 0 });
    expect(await getGlobalAddrs(name, "eth0")).toEqual([]);
  });

  it("refuses what the console should never send, before anything runs: bad plugin type, ids, pid 1, paths (HARDENING 1-3)", async () => {
    const s = await setup();
    const first = startAgent([...s.agentArgs, "--join-token", s.token]);
    const hostId = await hostIdOf(s.hostname);
    await first.waitForLog((l) => l.msg === "agent started");
    first.proc.kill("SIGTERM");
    await first.exited;
    // Work queued while the agent is down, then tampered with in the database behind the console's checks.
    const made = await Promise.all([0, 1, 2, 3].map(() => sandbox(hostId, s.network.id)));
    const bad = await operator.caller.networks.create({ text: JSON.stringify({ cniVersion: "1.0.0", name: `sytest-bad-${randomSuffix()}`, plugins: [{ type: "bridge", bridge: "sybad0", ipam: {} }] }), comment: "" });
    const evil = await operator.caller.attachments.create({ hostId, networkId: bad.id, target: { kind: "sandbox", name: `sytest-${randomSuffix()}` }, ifName: "eth0", portMappings: [] });
    const rev = await t.db.networkRevision.findFirstOrThrow({ where: { networkId: bad.id } });
    await t.db.networkRevision.update({ where: { id: rev.id }, data: { conflist: { ...(rev.conflist as object), plugins: [{ type: "../../bin/sh" }] } } });
    await t.db.attachment.update({ where: { id: made[0]!.attachment.id }, data: { containerId: "../../etc" } });
    await t.db.attachment.update({ where: { id: made[1]!.attachment.id }, data: { targetKind: "pid", target: "1" } });
    await t.db.attachment.update({ where: { id: made[2]!.attachment.id }, data: { targetKind: "netns", target: "../../proc/1/ns/net" } });
    await t.db.attachment.update({ where: { id: made[3]!.attachment.id }, data: { ifName: "eth0;reboot" } });
    startAgent(s.agentArgs);
    for (const id of [evil.attachment.id, ...made.map((m) => m.attachment.id)]) {
      await waitFor("the refusal", async () => (await stateOf(id)) === "failed");
      expect((await t.db.attachment.findUniqueOrThrow({ where: { id } })).lastError).toMatch(/^refused by the agent/);
    }
    expect(await leasesVethsCache(s)).toEqual({ leases: 0, veths: 0, cache: 0 });
    // Nothing ran: not even the sandboxes were made.
    const namespaces = await listNetns();
    for (const m of made) expect(namespaces).not.toContain(m.name);
  });

  it("host reboot: a vanished namespace is found by reconcile, DELed with the cached config, its lease released, the attachment failed (HARDENING 25)", async () => {
    const s = await setup();
    startAgent([...s.agentArgs, "--join-token", s.token, "--reconcile-interval", "1500"]);
    const hostId = await hostIdOf(s.hostname);
    const { name, attachment } = await sandbox(hostId, s.network.id);
    await waitFor("ready", async () => (await stateOf(attachment.id)) === "ready");
    expect(await leasesVethsCache(s)).toMatchObject({ leases: 1, cache: 1 });
    await new Promise<void>((r) => spawn("ip", ["netns", "del", name]).once("exit", () => r()));
    await waitFor("the attachment to be reported", async () => (await stateOf(attachment.id)) === "failed", 20_000);
    expect((await t.db.attachment.findUniqueOrThrow({ where: { id: attachment.id } })).lastError).toContain("disappeared");
    expect(await leasesVethsCache(s)).toEqual({ leases: 0, veths: 0, cache: 0 });
  });

  it("SIGKILL at random points of attach and detach, 6 cycles: every restart converges with 0 leaked leases, veths, cache files or namespaces (HARDENING 16)", async () => {
    const plugins = createPluginDir();
    cleanups.push(async () => plugins.cleanup());
    // The chained plugin widens the window between host-local's reservation and the end of ADD.
    plugins.install("sywait", { ADD: { sleepMs: 600 }, DEL: { sleepMs: 200 } });
    const s = await setup({ cniPath: [plugins.dir, ...PLUGIN_DIRS], chain: [{ type: "sywait" }] });
    let agent = startAgent([...s.agentArgs, "--join-token", s.token]);
    const hostId = await hostIdOf(s.hostname);
    await agent.waitForLog((l) => l.msg === "push stream open");
    const leaks: string[] = [];
    for (let cycle = 0; cycle < 6; cycle++) {
      const { name, attachment } = await sandbox(hostId, s.network.id);
      // Kill somewhere between the claim and well after the ADD (0–1.5 s), then restart.
      await new Promise((r) => setTimeout(r, (cycle * 277) % 1500));
      agent.proc.kill("SIGKILL");
      await agent.exited;
      agent = startAgent(s.agentArgs);
      await waitFor(`cycle ${cycle}: ready`, async () => (await stateOf(attachment.id)) === "ready", 60_000);
      const up = await leasesVethsCache(s);
      if (up.leases !== 1 || up.veths !== 1 || up.cache !== 1) leaks.push(`cycle ${cycle} attached: ${JSON.stringify(up)}`);
      const address = ((await operator.caller.attachments.get({ id: attachment.id })).result as { ips: { address: string }[] }).ips[0]!.address;
      if ((await getGlobalAddrs(name, "eth0")).join() !== address) leaks.push(`cycle ${cycle}: address not in the namespace`);
      // And once more in the middle of the detach.
      await operator.caller.attachments.detach({ id: attachment.id });
      await new Promise((r) => setTimeout(r, (cycle * 131) % 400));
      agent.proc.kill("SIGKILL");
      await agent.exited;
      agent = startAgent(s.agentArgs);
      await waitFor(`cycle ${cycle}: detached`, async () => (await stateOf(attachment.id)) === "detached", 60_000);
      const down = await leasesVethsCache(s);
      if (down.leases + down.veths + down.cache !== 0) leaks.push(`cycle ${cycle} detached: ${JSON.stringify(down)}`);
      if ((await listNetns()).includes(name)) leaks.push(`cycle ${cycle}: sandbox ${name} left`);
    }
    expect(leaks).toEqual([]);
  });
});
