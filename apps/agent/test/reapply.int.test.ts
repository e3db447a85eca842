/**
 * "Apply the latest revision" end to end: a real agent process, Debian's CNI plugins, namespaces
 * the test makes. Two attachments run revision 1; the network moves to another subnet (revision
 * 2); apply-latest DELs them with revision 1 and ADDs them with revision 2.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type ApiTest, serveApi, setupApiTest, trpcError } from "@switchyard/api/testing";
import { createPluginDir } from "@switchyard/cni/test-fixtures";
import { bridgeConflist, createTestDirs, deleteBridge, getGlobalAddrs, listLinks, randomSuffix, readLeases } from "@switchyard/cni/test-host";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor as waitUntil } from "./wait";

const BIN = resolve(fileURLToPath(new URL("../bin/switchyard-agent", import.meta.url)));
const isRoot = process.getuid?.() === 0;

/** These scenarios run several plugin rounds each: a longer wait than the shared default. */
const waitFor = <T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000) => waitUntil(what, fn, timeoutMs);

describe.runIf(isRoot)("apply the latest revision, with a real agent and the real plugins", { timeout: 180_000 }, () => {
  let t: ApiTest;
  let server: Awaited<ReturnType<typeof serveApi>>;
  let agent: ChildProcess | undefined;
  const agents: ChildProcess[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    t = await setupApiTest();
    server = await serveApi(t.deps);
  });
  afterAll(async () => {
    for (const a of agents) if (a.exitCode === null) a.kill("SIGKILL");
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await server?.close();
    await t?.close();
  });

  it("moves both attachments to the new subnet (address inside the namespace) and releases the old leases", async () => {
    const admin = await t.callerAs("admin", "root-admin");
    const operator = await t.callerAs("operator", "op");
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    const { conflist, names } = bridgeConflist({ dataDir: dirs.dataDir, ipv4: true });
    cleanups.push(() => deleteBridge(names.bridge));
    const network = await operator.caller.networks.create({ text: JSON.stringify(conflist, null, 2), comment: "" });
    const hostname = `sytest-${randomSuffix()}`;
    const confDir = join(dirs.root, "net.d");
    mkdirSync(confDir, { recursive: true });
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    agent = spawn(
      process.execPath,
      [BIN, "--console-url", server.url, "--reconcile-interval", "600000", "--data-dir", join(dirs.root, "agent"), "--cache-dir", dirs.cacheDir, "--conf-dir", confDir, "--netns-dir", "/run/netns", "--hostname", hostname, "--cni-path", "/opt/cni/bin:/usr/lib/cni", "--plugin-timeout", "20000", "--join-token", token],
      { env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" }, stdio: "ignore" },
    );
    agents.push(agent);
    const hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);

    const sandboxes: { name: string; id: string }[] = [];
    for (let i = 0; i < 2; i++) {
      const name = `sytest-${randomSuffix()}`;
      cleanups.push(async () => spawn("ip", ["netns", "del", name]));
      const { attachment } = await operator.caller.attachments.create({ hostId, networkId: network.id, target: { kind: "sandbox", name }, ifName: "eth0", portMappings: [] });
      sandboxes.push({ name, id: attachment.id });
    }
    for (const s of sandboxes) await waitFor("attachment ready", async () => (await t.db.attachment.findUniqueOrThrow({ where: { id: s.id } })).state === "ready");
    const oldLeases = (await readLeases(dirs.dataDir, names.network)).map((l) => l.ip);
    expect(oldLeases).toHaveLength(2);

    // Revision 2: the upper half of the subnet. Before saving, the console tells who runs the network.
    const upper = names.v4Subnet.replace(/\.0\/24$/, ".128/25");
    const r2 = JSON.parse(JSON.stringify(conflist)) as typeof conflist;
    (r2.plugins[0]!.ipam as { ranges: { subnet: string }[][] }).ranges = [[{ subnet: upper }]];
    expect(await operator.caller.networks.usage({ id: network.id })).toMatchObject({ latestRevision: 1, total: 2, behind: 0, hosts: [{ hostId, hostName: hostname, attachments: 2, behind: 0 }] });
    // The two leases are below the new range: once the agent reported them, saving strands them until the attachments
    // move, and needs the operator's agreement to that count (before, this raced the agent's lease report: CI saw 1).
    await waitFor("both leases on the map", async () => (await t.db.lease.count({ where: { networkId: network.id } })) === 2);
    const refused = await trpcError(operator.caller.networks.update({ id: network.id, text: JSON.stringify(r2, null, 2), comment: "upper half", expectedRevision: 1 }));
    expect(refused.message).toContain("2 held addresses fall outside the new ranges");
    await operator.caller.networks.update({ id: network.id, text: JSON.stringify(r2, null, 2), comment: "upper half", expectedRevision: 1, strandAddresses: 2 });
    expect(await operator.caller.networks.usage({ id: network.id })).toMatchObject({ latestRevision: 2, total: 2, behind: 2 });
    expect(await operator.caller.networks.attachmentRevision({ attachmentId: sandboxes[0]!.id })).toMatchObject({ running: 1, latest: 2, canApply: true });

    // One by name, then the rest of the network.
    const one = await operator.caller.networks.applyLatest({ networkId: network.id, attachmentIds: [sandboxes[0]!.id] });
    expect(one.queued).toHaveLength(1);
    const rest = await operator.caller.networks.applyLatest({ networkId: network.id });
    expect(rest.queued.map((q) => q.attachmentId)).toEqual([sandboxes[1]!.id]);
    // Asked again while queued: nothing more is queued, and the reason is given.
    const again = await operator.caller.networks.applyLatest({ networkId: network.id, attachmentIds: [sandboxes[0]!.id] });
    expect(again.queued).toEqual([]);
    expect(again.skipped[0]!.reason).toMatch(/queued or running|already runs/);

    for (const op of [...one.queued, ...rest.queued]) {
      await waitFor("the reapply to succeed", async () => (await t.db.operation.findUniqueOrThrow({ where: { id: op.operationId } })).status === "succeeded");
    }
    const [lo] = upper.split("/");
    const upperStart = Number(lo!.split(".")[3]);
    for (const s of sandboxes) {
      const row = await t.db.attachment.findUniqueOrThrow({ where: { id: s.id } });
      expect(row).toMatchObject({ networkRevision: 2, state: "ready" });
      const [address] = await getGlobalAddrs(s.name, "eth0");
      expect(Number(address!.split("/")[0]!.split(".")[3])).toBeGreaterThan(upperStart);
      expect((row.result as { ips: { address: string }[] }).ips[0]!.address).toBe(address);
    }
    const leases = (await readLeases(dirs.dataDir, names.network)).map((l) => l.ip);
    expect(leases).toHaveLength(2);
    for (const old of oldLeases) expect(leases).not.toContain(old);
    const job = await operator.caller.attachments.operation({ id: one.queued[0]!.operationId });
    expect(job.kind).toBe("reapply");
    expect(job.logs.map((l) => l.line)).toEqual(expect.arrayContaining([expect.stringMatching(/^DEL .* with revision 1/), expect.stringMatching(/^ADD /)]));
    expect(await operator.caller.networks.usage({ id: network.id })).toMatchObject({ behind: 0 });
  });

  it("SIGKILLed in the middle of the ADD with the new revision: the restart DELs with the new config, the retry converges, nothing leaks", async () => {
    const admin = await t.callerAs("admin", "root-admin2");
    const operator = await t.callerAs("operator", "op2");
    const plugins = createPluginDir();
    cleanups.push(async () => plugins.cleanup());
    // The first ADD of the chained plugin waits: bridge and host-local of revision 2 have run.
    plugins.install("sywait", { ADD: { sleepMs: 60_000, times: 1, then: {} } });
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    const { conflist, names } = bridgeConflist({ dataDir: dirs.dataDir, ipv4: true });
    cleanups.push(() => deleteBridge(names.bridge));
    const network = await operator.caller.networks.create({ text: JSON.stringify(conflist), comment: "" });
    const hostname = `sytest-${randomSuffix()}`;
    const agentDir = join(dirs.root, "agent");
    const args = [BIN, "--console-url", server.url, "--reconcile-interval", "600000", "--data-dir", agentDir, "--cache-dir", dirs.cacheDir, "--conf-dir", join(dirs.root, "net.d"), "--netns-dir", "/run/netns", "--hostname", hostname, "--cni-path", `${plugins.dir}:/opt/cni/bin:/usr/lib/cni`, "--plugin-timeout", "90000"];
    mkdirSync(join(dirs.root, "net.d"), { recursive: true });
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    const start = (extra: string[]) => {
      const proc = spawn(process.execPath, [...args, ...extra], { env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" }, stdio: "ignore" });
      agents.push(proc);
      return proc;
    };
    const first = start(["--join-token", token]);
    const hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);
    const name = `sytest-${randomSuffix()}`;
    cleanups.push(async () => spawn("ip", ["netns", "del", name]));
    const { attachment } = await operator.caller.attachments.create({ hostId, networkId: network.id, target: { kind: "sandbox", name }, ifName: "eth0", portMappings: [] });
    await waitFor("attachment ready", async () => (await t.db.attachment.findUniqueOrThrow({ where: { id: attachment.id } })).state === "ready");

    const upper = names.v4Subnet.replace(/\.0\/24$/, ".128/25");
    const r2 = JSON.parse(JSON.stringify(conflist)) as { plugins: Record<string, unknown>[] };
    (r2.plugins[0]!.ipam as { ranges: { subnet: string }[][] }).ranges = [[{ subnet: upper }]];
    r2.plugins.push({ type: "sywait" });
    // Its lease is below the new range: once reported, saving needs the agreement to strand it until the move (as above).
    await waitFor("its lease on the map", async () => (await t.db.lease.count({ where: { networkId: network.id } })) === 1);
    await operator.caller.networks.update({ id: network.id, text: JSON.stringify(r2), comment: "", expectedRevision: 1, strandAddresses: 1 });
    const { queued } = await operator.caller.networks.applyLatest({ networkId: network.id });
    expect(queued).toHaveLength(1);
    await waitFor("the chained plugin's ADD", async () => plugins.calls("sywait").some((c) => c.command === "ADD"));
    // The intent names the step in flight: the ADD with revision 2's config.
    const intent = JSON.parse(readFileSync(join(agentDir, "intents", `${attachment.id}.json`), "utf8")) as { kind: string; conflist: { plugins: { type: string }[] } };
    expect(intent.kind).toBe("attach");
    expect(intent.conflist.plugins.map((p) => p.type)).toContain("sywait");
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));

    start([]);
    await waitFor("the reapply to succeed on a later attempt", async () => (await t.db.operation.findUniqueOrThrow({ where: { id: queued[0]!.operationId } })).status === "succeeded", 90_000);
    const op = await t.db.operation.findUniqueOrThrow({ where: { id: queued[0]!.operationId } });
    expect(op.attempt).toBeGreaterThanOrEqual(2);
    const row = await t.db.attachment.findUniqueOrThrow({ where: { id: attachment.id } });
    expect(row).toMatchObject({ networkRevision: 2, state: "ready" });
    const [address] = await getGlobalAddrs(name, "eth0");
    expect(Number(address!.split("/")[0]!.split(".")[3])).toBeGreaterThan(128);
    // One lease (the new one), one veth: neither the old revision nor the interrupted attempt left anything.
    const leases = (await readLeases(dirs.dataDir, names.network)).map((l) => l.ip);
    expect(leases).toEqual([address!.split("/")[0]]);
    expect((await listLinks()).filter((l) => l.kind === "veth" && l.master === names.bridge)).toHaveLength(1);
  });
});
