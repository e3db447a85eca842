/**
 * Issue 12 through a real agent: a service created in the console is programmed by the agent's
 * services sync into a namespace standing in for its host (`--services netns:<name>`), and real
 * HTTP requests from a client sandbox to the VIP reach the backends in the proportions of their
 * weights; a weight change, a drain and the service's deletion each reach the kernel and are
 * reported as applied. Traffic stays in the namespaces the bench made; the host namespace holds
 * the blackhole route for the service CIDR (the agent's own) before any packet goes to a VIP.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createTestDirs, randomSuffix } from "@switchyard/cni/test-host";
import { afterAll, describe, expect, it } from "vitest";
import { agentArgs, isRoot, useTestConsole } from "./harness";
import { type BackendBench, countAnswers, createBackendBench } from "./support/backends";
import { waitFor } from "./wait";

const VIP = "10.96.0.10";
const REQUESTS = 300;

/** |count − n·p| ≤ 4.5·√(n·p·(1−p)): a false failure about once in 10⁵ per member (design §5). */
function withinTolerance(count: number, n: number, p: number): boolean {
  return Math.abs(count - n * p) <= 4.5 * Math.sqrt(n * p * (1 - p));
}

// Each layout through one of the two ways into the kernel (strict: no fallback to the other).
describe.runIf(isRoot).each([
  ["compact", "netlink"],
  ["member-chains", "nft"],
])("services programmed by a real agent, %s layout, through %s (issue 12)", { timeout: 240_000 }, (layout, apply) => {
  const c = useTestConsole();
  let agent: ChildProcess | undefined;
  let bench: BackendBench | undefined;
  const cleanups: (() => unknown)[] = [];
  afterAll(async () => {
    if (agent?.exitCode === null) agent.kill("SIGKILL");
    await bench?.cleanup();
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
  });

  const nft = (...args: string[]) => execFileSync("ip", ["netns", "exec", bench!.host.name, "nft", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

  it("300 requests to the VIP spread by weight; a weight change and a drain reach the kernel; the service's deletion removes the table", async () => {
    const { t, admin, operator, server } = c;
    bench = await createBackendBench({ count: 3 });
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    mkdirSync(join(dirs.root, "net.d"), { recursive: true });
    const hostname = `sytest-${randomSuffix()}`;
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    agent = spawn(
      process.execPath,
      agentArgs({ consoleUrl: server.url, root: dirs.root, cacheDir: dirs.cacheDir, hostname, joinToken: token, extra: ["--services", `netns:${bench.host.name}`, "--services-check", "5000", "--services-layout", layout, "--services-apply", apply] }),
      { stdio: "ignore" },
    );
    const hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);

    await admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
    const [b0, b1, b2] = bench.backends;
    const svc = await operator.caller.services.create({
      name: "web",
      vip: VIP,
      spec: {
        ports: [{ protocol: "tcp", port: 80, targetPort: b0!.port }],
        manualMembers: [
          { address: b0!.address, hostId, weight: 100 },
          { address: b1!.address, hostId, weight: 200 },
          { address: b2!.address, hostId, weight: 700 },
        ],
      },
    });
    const applied = async (revisionNote: string) =>
      waitFor(`the host to apply ${revisionNote}`, async () => {
        const got = await operator.caller.services.get({ id: svc.id });
        const row = got.hosts.find((h) => h.hostId === hostId);
        return row?.applied ? row : undefined;
      }, 30_000);
    const first = await applied("the new service");
    expect(first.error).toBe("");

    // The kernel holds it: the VIP dispatched, and the agent's blackhole for the service CIDR.
    expect(nft("list", "map", "ip", "switchyard", "service-ips")).toContain(`${VIP} . tcp . 80`);
    expect(execFileSync("ip", ["-n", bench.host.name, "route", "show", "proto", "83"], { encoding: "utf8" })).toContain("blackhole 10.96.0.0/16");

    // A table edited by hand is rewritten by the periodic check (every 5 s here): the stray VIP goes.
    nft("add", "element", "ip", "switchyard", "vips", "{ 10.96.9.9 }");
    expect(nft("list", "set", "ip", "switchyard", "vips")).toContain("10.96.9.9");
    await waitFor("the periodic check to rewrite the edited table", async () => (nft("list", "set", "ip", "switchyard", "vips").includes("10.96.9.9") ? undefined : true), 20_000);
    expect(nft("list", "map", "ip", "switchyard", "service-ips")).toContain(`${VIP} . tcp . 80`);

    const spread = await countAnswers({ clientNetns: bench.client.netns.name, address: VIP, port: 80, requests: REQUESTS });
    expect(spread.failures, spread.errors.join(", ")).toBe(0);
    expect(withinTolerance(spread.byName["backend-0"] ?? 0, REQUESTS, 0.1), JSON.stringify(spread.byName)).toBe(true);
    expect(withinTolerance(spread.byName["backend-1"] ?? 0, REQUESTS, 0.2), JSON.stringify(spread.byName)).toBe(true);
    expect(withinTolerance(spread.byName["backend-2"] ?? 0, REQUESTS, 0.7), JSON.stringify(spread.byName)).toBe(true);

    // Equal weights now, and backend-2 drained: half and half between the other two, none to it.
    await operator.caller.services.update({
      id: svc.id,
      expectedRevision: 1,
      spec: {
        ports: [{ protocol: "tcp", port: 80, targetPort: b0!.port }],
        manualMembers: [
          { address: b0!.address, hostId, weight: 500 },
          { address: b1!.address, hostId, weight: 500 },
          { address: b2!.address, hostId, weight: 700, state: "draining" },
        ],
      },
    });
    const second = await applied("the drain");
    expect(second.appliedGeneration).toBeGreaterThan(first.appliedGeneration!);
    const after = await countAnswers({ clientNetns: bench.client.netns.name, address: VIP, port: 80, requests: REQUESTS });
    expect(after.failures, after.errors.join(", ")).toBe(0);
    expect(after.byName["backend-2"] ?? 0).toBe(0);
    expect(withinTolerance(after.byName["backend-0"] ?? 0, REQUESTS, 0.5), JSON.stringify(after.byName)).toBe(true);

    // No members left: connections are refused (a reject, never a silent drop).
    await operator.caller.services.update({ id: svc.id, expectedRevision: 2, spec: { ports: [{ protocol: "tcp", port: 80, targetPort: b0!.port }], manualMembers: [] } });
    await applied("the empty pool");
    const refused = await countAnswers({ clientNetns: bench.client.netns.name, address: VIP, port: 80, requests: 3 });
    expect(refused.failures).toBe(3);
    expect(refused.errors).toEqual(["ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED"]);

    // The service deleted: the host has none, so the table goes (the CIDR's blackhole stays).
    await operator.caller.services.delete({ id: svc.id, confirmName: "web" });
    await waitFor("the table to go", async () => {
      try {
        nft("list", "table", "ip", "switchyard");
        return false;
      } catch {
        return true;
      }
    }, 30_000);
    const state = await t.db.hostServiceState.findUniqueOrThrow({ where: { hostId_family: { hostId, family: 4 } } });
    expect(state.error).toBe("");
  });

  it("an agent stopped while a pool changes three times is shown behind, and converges to the latest version when it starts again", async () => {
    const { t, operator } = c;
    const hostId = (await t.db.host.findFirstOrThrow({ where: { name: { startsWith: "sytest-" } }, orderBy: { enrolledAt: "desc" }, select: { id: true } })).id;
    const [b0, b1] = bench!.backends;
    const ports = [{ protocol: "tcp" as const, port: 80, targetPort: b0!.port }];
    const svc = await operator.caller.services.create({ name: "away", vip: "10.96.0.20", spec: { ports, manualMembers: [{ address: b0!.address, hostId }] } });
    const row = async () => (await operator.caller.services.get({ id: svc.id })).hosts.find((h) => h.hostId === hostId)!;
    await waitFor("the host to apply the new service", async () => (await row()).applied, 30_000);
    const argv = agent!.spawnargs.slice(1);
    agent!.kill("SIGTERM");
    await new Promise((r) => agent!.once("exit", r));

    // Three changes while it is away: the console shows the host behind.
    await operator.caller.services.update({ id: svc.id, expectedRevision: 1, spec: { ports, manualMembers: [{ address: b0!.address, hostId }, { address: b1!.address, hostId }] } });
    await operator.caller.services.update({ id: svc.id, expectedRevision: 2, spec: { ports, manualMembers: [{ address: b1!.address, hostId }] } });
    await operator.caller.services.update({ id: svc.id, expectedRevision: 3, spec: { ports, manualMembers: [{ address: b1!.address, hostId, weight: 7 }] } });
    const behind = await row();
    expect(behind.applied).toBe(false);
    // The kernel still holds what was applied (no teardown while the agent is away): backend-0 only.
    const before = await countAnswers({ clientNetns: bench!.client.netns.name, address: "10.96.0.20", port: 80, requests: 20 });
    expect(before.byName).toEqual({ "backend-0": 20 });

    agent = spawn(process.execPath, argv, { stdio: "ignore" });
    const caughtUp = await waitFor("the host to catch up", async () => ((await row()).applied ? row() : undefined), 30_000);
    const latest = (await operator.caller.services.get({ id: svc.id })).lastChange!.generation;
    expect(caughtUp.appliedGeneration).toBeGreaterThanOrEqual(latest);
    const after = await countAnswers({ clientNetns: bench!.client.netns.name, address: "10.96.0.20", port: 80, requests: 20 });
    expect(after.byName).toEqual({ "backend-1": 20 });
  });
});
