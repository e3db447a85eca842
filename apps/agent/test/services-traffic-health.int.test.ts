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
import { type HeldFlow, openUdpFlow } from "./support/flows";
import { type ServicesAgent, startServicesAgent } from "./support/services-agent";
import { waitFor } from "./wait";

const VIP = "10.96.0.31";
const INTERVAL_S = 1;
const UNHEALTHY_THRESHOLD = 2;

describe.runIf(isRoot)("a stopped backend leaves the traffic within its health check's bounds (issue 12)", { timeout: 180_000 }, () => {
  const c = useTestConsole();
  let bench: BackendBench;
  let agent: ServicesAgent;
  const flows: HeldFlow[] = [];

  beforeAll(async () => {
    bench = await createBackendBench({ count: 3, lifetimeMs: 300_000 });
    agent = await startServicesAgent(c, { servicesNetns: bench.host.name, runInside: true, extra: ["--services-check", "5000"] });
    await c.admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
  }, 60_000);
  /**
   * Waits until the host applied everything the console had decided by now: `generation` is the
   * global version (a health verdict is a change of every host's version but not an edit of the
   * service, so the service's own last change would not wait for it).
   */
  async function appliedNow(serviceId: string) {
    const target = (await c.operator.caller.services.get({ id: serviceId })).generation;
    const h = await waitFor(`the host to apply version ${target}`, async () => {
      const row = (await c.operator.caller.services.get({ id: serviceId })).hosts.find((x) => x.hostId === agent.hostId);
      return (row?.appliedGeneration ?? 0) >= target ? row : undefined;
    }, 30_000);
    expect(h.error).toBe("");
  }

  afterAll(async () => {
    for (const f of flows) await f.stop();
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
    await waitFor("every member healthy", async () => (await read()).members.every((m) => m.health === "healthy"), 30_000);
    await appliedNow(svc.id);

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

    await appliedNow(svc.id);
    const after = await countAnswers({ clientNetns: bench.client.netns.name, address: VIP, port: 80, requests: 30 });
    expect(after.failures, after.errors.join(", ")).toBe(0);
    expect(after.byName["backend-2"] ?? 0, JSON.stringify(after.byName)).toBe(0);
    expect(Object.keys(after.byName).sort()).toEqual(["backend-0", "backend-1"]);

    // Answering again: healthy after one good check, and it takes new connections again.
    await bench.startBackend("backend-2");
    await waitFor("backend-2 to be healthy again", async () => (await member("backend-2")).health === "healthy", 20_000);
    await appliedNow(svc.id);
    const back = await countAnswers({ clientNetns: bench.client.netns.name, address: VIP, port: 80, requests: 30 });
    expect(back.failures, back.errors.join(", ")).toBe(0);
    expect(back.byName["backend-2"] ?? 0, JSON.stringify(back.byName)).toBeGreaterThan(0);
  });

  it("UDP: a member that stops answering keeps its client's flow only until it is marked down; then the flow's next datagram reaches a live member (the flush)", async () => {
    const { operator } = c;
    const vip = "10.96.0.32";
    const svc = await operator.caller.services.create({
      name: "dns-checked",
      vip,
      spec: {
        ports: [{ protocol: "udp", port: 53, targetPort: bench.backends[0]!.port }],
        manualMembers: bench.backends.map((b) => ({ address: b.address, hostId: agent.hostId })),
        healthCheck: { kind: "tcp", intervalSeconds: INTERVAL_S, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: UNHEALTHY_THRESHOLD },
      },
    });
    const read = () => operator.caller.services.get({ id: svc.id });
    await waitFor("every member healthy", async () => (await read()).members.every((m) => m.health === "healthy"), 30_000);
    await appliedNow(svc.id);

    const flow = await openUdpFlow({ netns: bench.client.netns.name, address: vip, port: 53, bindAddress: bench.client.address, sourcePort: 40071 });
    flows.push(flow);
    const first = await flow.ask();
    expect(first.name, first.error).toMatch(/^backend-\d$/);
    const x = first.name!;
    const address = bench.backends.find((b) => b.name === x)!.address;

    // The control: stopped and not yet marked down, the flow's datagrams go to it and nothing answers.
    await bench.stopBackend(x);
    expect((await flow.ask()).name).toBeNull();
    await waitFor(`${x} to be unhealthy`, async () => (await read()).members.find((m) => m.address === address)?.health === "unhealthy", 20_000);
    await appliedNow(svc.id);
    const moved = await flow.ask();
    expect(moved.name, moved.error).toMatch(/^backend-\d$/);
    expect(moved.name).not.toBe(x);
    await bench.startBackend(x);
  });
});
