/**
 * Issue 12 in IPv6 (the `ip6 switchyard` table), through a real console and a real agent
 * programming a namespace standing in for its host: requests to an IPv6 VIP from a client sandbox
 * and from the host itself (nat-output, the sink's /128 route) reach the members, an address of
 * the service CIDR no service holds fails at the blackhole (the control), and a UDP member put in
 * maintenance loses its flow at once (the flush with `-f ipv6`). Traffic stays in the bench's
 * namespaces (fd00:70::/64 on its bridge).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRoot, useTestConsole } from "./harness";
import { type BackendBench, countAnswers, createBackendBench } from "./support/backends";
import { type HeldFlow, openUdpFlow } from "./support/flows";
import { type ServicesAgent, startServicesAgent } from "./support/services-agent";
import { createServiceProgrammer } from "./support/services-program";

describe.runIf(isRoot)("IPv6 services traffic through a real agent (issue 12)", { timeout: 180_000 }, () => {
  const c = useTestConsole();
  let bench: BackendBench;
  let agent: ServicesAgent;
  const flows: HeldFlow[] = [];
  const program = createServiceProgrammer(c, () => bench, () => agent, 6);

  beforeAll(async () => {
    bench = await createBackendBench({ count: 3, ipv6: true, lifetimeMs: 600_000 });
    agent = await startServicesAgent(c, { servicesNetns: bench.host.name, extra: ["--services-check", "5000"] });
    await c.admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16", "fd00:96::/112"] });
  }, 60_000);
  afterAll(async () => {
    for (const f of flows) await f.stop();
    await agent?.cleanup();
    await bench?.cleanup();
  });

  it("an IPv6 VIP spreads a client's and the host's connections over its members; an address with no service fails at the blackhole (the control)", async () => {
    await program({ name: "web6", vip: "fd00:96::10" });
    for (const from of [bench.client.netns.name, bench.host.name]) {
      const spread = await countAnswers({ clientNetns: from, address: "fd00:96::10", port: 80, requests: 30 });
      expect(spread.failures, `from ${from}: ${spread.errors.join(", ")}`).toBe(0);
      expect(Object.keys(spread.byName).length, JSON.stringify(spread.byName)).toBeGreaterThanOrEqual(2);
    }
    const none = await countAnswers({ clientNetns: bench.host.name, address: "fd00:96::99", port: 80, requests: 2 });
    expect(none.failures).toBe(2);
    expect(none.errors, "a blackhole route: connect() fails at once").toEqual(["EINVAL", "EINVAL"]);
  });

  it("UDP over IPv6: a member put in maintenance loses its flow with the next datagram (conntrack flushed)", async () => {
    const vip = "fd00:96::15";
    const id = await program({ name: "dns6", vip, protocol: "udp", port: 53 });
    const flow = await openUdpFlow({ netns: bench.client.netns.name, address: vip, port: 53, bindAddress: bench.client.address6!, sourcePort: 40153 });
    flows.push(flow);
    const first = await flow.ask();
    expect(first.name, first.error).toMatch(/^backend-\d$/);
    const x = first.name!;
    for (let i = 0; i < 3; i++) expect((await flow.ask()).name).toBe(x);

    await program({ id, name: "dns6", vip, protocol: "udp", port: 53, states: { [x]: "maintenance" } });
    const moved = await flow.ask();
    expect(moved.name, moved.error).toMatch(/^backend-\d$/);
    expect(moved.name).not.toBe(x);
  });
});
