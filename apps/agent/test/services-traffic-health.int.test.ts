/**
 * Issue 12, Health, with traffic: a real agent runs inside the namespace standing in for its host
 * (so its checks start where the table is), three backends answer on the bench's bridge, the
 * pool is checked over HTTP every second with an unhealthy threshold of 2. One backend stopped is
 * marked down within interval × threshold + one interval (by the agent's own check times), and
 * once the host applied that version no new connection reaches it; started again it takes traffic
 * again. The control: before it stopped, new connections did reach it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRoot, useTestConsole } from "./harness";
import { type BackendBench, countAnswers, createBackendBench } from "./support/backends";
import { type ServicesAgent, startServicesAgent } from "./support/services-agent";
import { waitFor } from "./wait";

const VIP = "10.96.0.31";
const INTERVAL_S = 1;
const UNHEALTHY_THRESHOLD = 2;

describe.runIf(isRoot)("a stopped backend leaves the traffic within its health check's bounds (issue 12)", { timeout: 180_000 }, () => {
  const c = useTestConsole();
  let bench: BackendBench;
  let agent: ServicesAgent;

  beforeAll(async () => {
    bench = await createBackendBench({ count: 3, lifetimeMs: 300_000 });
    agent = await startServicesAgent(c, { servicesNetns: bench.host.name, runInside: true, extra: ["--services-check", "5000"] });
    await c.admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
  }, 60_000);
  afterAll(async () => {
    await agent?.cleanup();
    await bench?.cleanup();
  });

  it("marked down within interval × unhealthyThreshold + one interval, then no new connection reaches it; back when it answers again", async () => {
    const { operator } = c;
    const svc = await operator.caller.services.create({
      name: "checked",
      vip: VIP,
      spec: {
        ports: [{ protocol: "tcp", port: 80, targetPort: bench.backends[0]!.port }],
        manualMembers: bench.backends.map((b) => ({ address: b.address, hostId: agent.hostId })),
        healthCheck: { kind: "http", path: "/", intervalSeconds: INTERVAL_S, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: UNHEALTHY_THRESHOLD },
      },
    });
    const read = () => operator.caller.services.get({ id: svc.id });
    const member = async (name: string) => (await read()).members.find((m) => m.address === bench.backends.find((b) => b.name === name)!.address)!;
    const applied = () =>
      waitFor("the host to apply the latest version", async () => {
        const got = await read();
        const h = got.hosts.find((x) => x.hostId === agent.hostId);
        return h?.applied && (h.appliedGeneration ?? 0) >= got.lastChange!.generation ? h : undefined;
      }, 30_000);
    await waitFor("every member healthy", async () => (await read()).members.every((m) => m.health === "healthy"), 30_000);
    expect((await applied()).error).toBe("");

    // The control: all three take new connections ((2/3)³⁰ ≈ 5·10⁻⁶ to miss backend-2).
    const before = await countAnswers({ clientNetns: bench.client.netns.name, address: VIP, port: 80, requests: 30 });
    expect(before.failures, before.errors.join(", ")).toBe(0);
    expect(before.byName["backend-2"] ?? 0, JSON.stringify(before.byName)).toBeGreaterThan(0);

    await bench.stopBackend("backend-2");
    const stoppedAt = Date.now();
    await waitFor("backend-2 to be unhealthy", async () => (await member("backend-2")).health === "unhealthy", 20_000);
    // When the verdict was reached: the agent's time of the check that made it (its own clock, this machine's).
    const since = new Date((await member("backend-2")).lastCheck!.since!).getTime();
    const boundMs = (INTERVAL_S * UNHEALTHY_THRESHOLD + INTERVAL_S) * 1000;
    expect(since - stoppedAt, `marked down ${since - stoppedAt} ms after the stop; bound ${boundMs} ms`).toBeLessThanOrEqual(boundMs);
    expect((await member("backend-2")).selectable).toBe(false);

    await applied();
    const after = await countAnswers({ clientNetns: bench.client.netns.name, address: VIP, port: 80, requests: 30 });
    expect(after.failures, after.errors.join(", ")).toBe(0);
    expect(after.byName["backend-2"] ?? 0, JSON.stringify(after.byName)).toBe(0);
    expect(Object.keys(after.byName).sort()).toEqual(["backend-0", "backend-1"]);

    // Answering again: healthy after one good check, and it takes new connections again.
    await bench.startBackend("backend-2");
    await waitFor("backend-2 to be healthy again", async () => (await member("backend-2")).health === "healthy", 20_000);
    await applied();
    const back = await countAnswers({ clientNetns: bench.client.netns.name, address: VIP, port: 80, requests: 30 });
    expect(back.failures, back.errors.join(", ")).toBe(0);
    expect(back.byName["backend-2"] ?? 0, JSON.stringify(back.byName)).toBeGreaterThan(0);
  });
});
