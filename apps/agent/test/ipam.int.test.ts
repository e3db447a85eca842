/**
 * Issue 11 through a real agent: three sandboxes attached with the real bridge + host-local
 * plugins become three leases in the console, each with its attachment, seen in the lease file,
 * the result cache and the namespace; a detach releases its address. The lease directory lives
 * under /var/lib/cni (the only root the agent reads leases from) and is removed afterwards.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createCniRuntime, loadNetworkList } from "@switchyard/cni";
import { bridgeConflist, createTestDirs, deleteBridge, randomSuffix } from "@switchyard/cni/test-host";
import { afterAll, describe, expect, it } from "vitest";
import { agentArgs, isRoot, useTestConsole } from "./harness";
import { waitFor } from "./wait";

describe.runIf(isRoot)("IPAM reports from a real agent (issue 11)", { timeout: 180_000 }, () => {
  const c = useTestConsole();
  let agent: ChildProcess | undefined;
  const cleanups: (() => unknown)[] = [];
  // Shared by the tests, in order: the first starts the agent.
  let hostId = "";
  let networkId = "";
  let conflistText = "";
  let cacheDir = "";
  let leaseDir = "";

  afterAll(async () => {
    if (agent?.exitCode === null) agent.kill("SIGKILL");
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
  });

  it("three sandboxes are three live leases with their holders; a detach releases its address", async () => {
    const { t, admin, operator, server } = c;
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    const dataDir = `/var/lib/cni/sytest-ipam-${randomSuffix()}`;
    leaseDir = dataDir;
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const { conflist, names } = bridgeConflist({ dataDir, ipv4: true });
    cleanups.push(() => deleteBridge(names.bridge));
    const network = await operator.caller.networks.create({ text: JSON.stringify(conflist, null, 2), comment: "" });
    networkId = network.id;
    conflistText = JSON.stringify(conflist);
    cacheDir = dirs.cacheDir;
    const hostname = `sytest-${randomSuffix()}`;
    mkdirSync(join(dirs.root, "net.d"), { recursive: true });
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    agent = spawn(process.execPath, agentArgs({ consoleUrl: server.url, root: dirs.root, cacheDir: dirs.cacheDir, hostname, joinToken: token, extra: ["--plugin-timeout", "20000"] }), { stdio: "ignore" });
    hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);

    const attachments: { id: string; containerId: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const name = `sytest-${randomSuffix()}`;
      cleanups.push(() => spawn("ip", ["netns", "del", name]));
      const { attachment } = await operator.caller.attachments.create({ hostId, networkId: network.id, target: { kind: "sandbox", name }, ifName: "eth0", portMappings: [] });
      attachments.push({ id: attachment.id, containerId: attachment.containerId });
    }
    for (const a of attachments) await waitFor("the attachment to be ready", async () => (await t.db.attachment.findUniqueOrThrow({ where: { id: a.id } })).state === "ready");

    const leases = await waitFor("three leases with their attachments", async () => {
      const rows = await t.db.$queryRaw<{ address: string; containerId: string; ifName: string; attachmentId: string | null; seenIn: number }[]>`
        SELECT host(address) AS address, "containerId", "ifName", "attachmentId", "seenIn" FROM "Lease" WHERE "hostId" = ${hostId} AND "networkName" = ${names.network}`;
      return rows.length === 3 && rows.every((r) => r.attachmentId !== null && r.seenIn === 7) ? rows : undefined;
    });
    expect(leases.map((l) => l.attachmentId).sort()).toEqual(attachments.map((a) => a.id).sort());
    expect(leases.every((l) => l.ifName === "eth0")).toBe(true);
    // Each address is the one the attachment's result names.
    for (const l of leases) {
      const row = await t.db.attachment.findUniqueOrThrow({ where: { id: l.attachmentId! } });
      expect(JSON.stringify(row.result)).toContain(`"${l.address}/`);
    }
    const subnet = names.v4Subnet;
    const map = await operator.caller.ipam.map({ networkId: network.id, cidr: subnet });
    if (map.kind !== "grid") throw new Error(`expected a grid of ${subnet}`);
    expect(map.cells.map((c) => c.status)).toEqual(["live", "live", "live"]);
    expect(map.cells.flatMap((c) => c.holders.map((h) => h.hostName))).toEqual([hostname, hostname, hostname]);

    // A detach: host-local frees the address, the next report releases it.
    const gone = leases[0]!;
    await operator.caller.attachments.detach({ id: gone.attachmentId! });
    await waitFor("the address to be released", async () => {
      const rows = await t.db.$queryRaw<{ kind: string }[]>`
        SELECT kind::text FROM "LeaseEvent" WHERE "networkName" = ${names.network} AND address = ${gone.address}::inet ORDER BY at, id`;
      return rows.map((r) => r.kind).join(",") === "allocated,released";
    });
    const after = await operator.caller.ipam.summary({ networkId: network.id });
    expect(after.subnets[0]).toMatchObject({ leased: 2, live: 2, suspect: 0 });
    expect(after.hosts.map((h) => [h.hostName, h.leases])).toEqual([[hostname, 2]]);
  });

  it("another runtime's container (the same data dir and cache) is no leak while its namespace lives; deleted behind everyone's back, it is, with its evidence, a dry run, and the release that frees it", async () => {
    const { operator } = c;
    // What containerd would do: ADD through libcni with the host's cache dir, outside the console.
    const runtime = createCniRuntime({ pluginDirs: ["/usr/lib/cni"], cacheDir });
    const net = loadNetworkList(conflistText);
    const netns = `sytest-ctrd-${randomSuffix()}`;
    execFileSync("ip", ["netns", "add", netns]);
    cleanups.push(() => spawn("ip", ["netns", "del", netns]));
    const containerId = `ctrd-${randomSuffix()}`;
    const result = await runtime.addNetworkList(net, { containerId, ifName: "eth0", netns: `/run/netns/${netns}` });
    const address = result.ips![0]!.address.split("/")[0]!;
    cleanups.push(() => runtime.delNetworkList(net, { containerId, ifName: "eth0", netns: `/run/netns/${netns}` }));

    const judged = async () => (await operator.caller.ipam.leaks({ networkId })).find((l) => l.address === address);
    const held = await waitFor("the other runtime's lease, judged", async () => ((await judged())?.verdict === "other-runtime" ? judged() : undefined));
    expect(held!.reasons).toEqual([
      "no console attachment holds it",
      `the host's result cache names its holder ${containerId}`,
      `its namespace /run/netns/${netns} exists`,
      "host-local's lease file still names it",
    ]);
    const refused = await operator.caller.ipam.dryRunRelease({ networkId, hostId, addresses: [address] });
    expect(refused[0]!.refusal).toMatch(/another runtime holds it/);

    // The namespace goes behind the agent's and the runtime's back: the next report (the agent's timer) says so.
    execFileSync("ip", ["netns", "del", netns]);
    const leak = await waitFor("the lease to be a leak", async () => ((await judged())?.verdict === "leak" ? judged() : undefined), 60_000);
    expect(leak!.reasons).toContain(`its namespace /run/netns/${netns} is gone`);
    const plan = await operator.caller.ipam.dryRunRelease({ networkId, hostId, addresses: [address] });
    expect(plan[0]!.refusal).toBeNull();
    expect(plan[0]!.steps.map((s) => s.kind)).toEqual(["cni-del-cached", "cni-gc", "remove-lease-file"]);
    const map = await operator.caller.ipam.map({ networkId, cidr: `${address}/32` });
    if (map.kind !== "grid") throw new Error("expected a grid");
    expect(map.cells.map((c) => c.status)).toEqual(["suspect"]);

    // The release: the agent hears of it (push), DELs with the cached config, says what it did.
    const leaseFile = join(leaseDir, JSON.parse(conflistText).name, address);
    expect(existsSync(leaseFile)).toBe(true);
    const { releaseId } = await operator.caller.ipam.release({ networkId, hostId, addresses: [address] });
    const done = await waitFor("the agent to carry out the release", async () => {
      const [r] = (await operator.caller.ipam.releases({ networkId })).filter((x) => x.id === releaseId);
      return r && r.status !== "queued" && r.status !== "running" ? r : undefined;
    }, 60_000);
    expect(done.status).toBe("succeeded");
    expect(done.outcome).toEqual([{ address, freed: true, steps: [expect.objectContaining({ kind: "check", outcome: "done" }), expect.objectContaining({ kind: "cni-del-cached", outcome: "done" })] }]);
    expect(existsSync(leaseFile)).toBe(false);
    expect(await runtime.listCachedAttachments(net.name)).not.toContainEqual(expect.objectContaining({ containerId }));
    // The agent's next report frees the cell; the history says who reclaimed it.
    await waitFor("the cell to be free", async () => {
      const m = await operator.caller.ipam.map({ networkId, cidr: `${address}/32` });
      return m.kind === "grid" && m.cells.length === 0 ? m : undefined;
    }, 30_000);
    const history = await operator.caller.ipam.address({ networkId, address });
    expect(JSON.stringify(history)).toContain("reclaimed");
    const audit = await c.t.db.auditEvent.findMany({ where: { action: { startsWith: "ipam.release" } }, orderBy: { id: "asc" } });
    expect(audit.map((e) => e.action)).toEqual(["ipam.release", "ipam.release.check", "ipam.release.cni-del-cached"]);
  });

  it("a reservation is enforced on the host: ten attaches after it never receive a reserved address", async () => {
    const { t, operator } = c;
    const held = await t.db.$queryRaw<{ address: string }[]>`
      SELECT host(address) AS address FROM "Lease" WHERE "hostId" = ${hostId} ORDER BY address DESC LIMIT 1`;
    // host-local hands out addresses in order after the last it gave: reserve the next three.
    const next = (n: number) => { const p = held[0]!.address.split("."); return `${p[0]}.${p[1]}.${p[2]}.${Number(p[3]) + n}`; };
    const reservation = await operator.caller.ipam.reserve({ networkId, first: next(1), last: next(3), note: "appliances" });
    const reserved = new Set([next(1), next(2), next(3)]);
    const got: string[] = [];
    for (let i = 0; i < 10; i++) {
      const name = `sytest-${randomSuffix()}`;
      cleanups.push(() => spawn("ip", ["netns", "del", name]));
      const { attachment } = await operator.caller.attachments.create({ hostId, networkId, target: { kind: "sandbox", name }, ifName: "eth0", portMappings: [] });
      const row = await waitFor("the attachment to be ready", async () => {
        const a = await t.db.attachment.findUniqueOrThrow({ where: { id: attachment.id } });
        return a.state === "ready" ? a : a.state === "failed" ? Promise.reject(new Error(a.lastError)) : undefined;
      });
      got.push(/"address":"([0-9.]+)\//.exec(JSON.stringify(row.result))![1]!);
    }
    expect(got.filter((a) => reserved.has(a))).toEqual([]);
    expect(got).toContain(next(4));
    await operator.caller.ipam.unreserve({ id: reservation.id });
  });
});
