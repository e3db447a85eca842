/**
 * Issue 12's traffic guarantees through a real console and a real agent programming a namespace
 * that stands in for its host (`--services netns:<name>`): session affinity keeps a client on one
 * member, a drain leaves an open connection (TCP keep-alive, UDP flow) working, a UDP member in
 * maintenance or removed loses its flow at once (the conntrack flush; without `conntrack` it keeps
 * it, the control), and the host itself reaches a VIP (nat-output); in both table layouts.
 * Traffic stays in the bench's namespaces; the agent's blackhole for
 * the service CIDR is in place before the first packet goes to a VIP.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRoot, useTestConsole } from "./harness";
import { type BackendBench, countAnswers, createBackendBench } from "./support/backends";
import { type HeldFlow, openKeepAliveFlow, openUdpFlow } from "./support/flows";
import { type ServicesAgent, startServicesAgent } from "./support/services-agent";
import { createServiceProgrammer } from "./support/services-program";

describe.runIf(isRoot).each(["compact", "member-chains"])("services traffic through a real agent, %s layout (issue 12)", { timeout: 180_000 }, (layout) => {
  const c = useTestConsole();
  let bench: BackendBench;
  let agent: ServicesAgent;
  const flows: HeldFlow[] = [];

  beforeAll(async () => {
    bench = await createBackendBench({ count: 3, lifetimeMs: 600_000 });
    agent = await startServicesAgent(c, { servicesNetns: bench.host.name, extra: ["--services-check", "5000", "--services-layout", layout] });
    await c.admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
  }, 60_000);
  afterAll(async () => {
    for (const f of flows) await f.stop();
    await agent?.cleanup();
    await bench?.cleanup();
  });

  /** Creates (or updates) a service over the three backends, and waits until the host applied it. */
  const program = createServiceProgrammer(c, () => bench, () => agent);

  it("affinity keeps one client on one member for 40 connections; the same pool without affinity spreads them (the control)", async () => {
    await program({ name: "sticky", vip: "10.96.0.11", affinityTimeoutSeconds: 600 });
    await program({ name: "plain", vip: "10.96.0.12" });
    const sticky = await countAnswers({ clientNetns: bench.client.netns.name, address: "10.96.0.11", port: 80, requests: 40, concurrency: 1 });
    const plain = await countAnswers({ clientNetns: bench.client.netns.name, address: "10.96.0.12", port: 80, requests: 40, concurrency: 1 });
    expect(sticky.failures, sticky.errors.join(", ")).toBe(0);
    expect(plain.failures, plain.errors.join(", ")).toBe(0);
    expect(Object.values(sticky.byName), JSON.stringify(sticky.byName)).toEqual([40]);
    // Three equal members: all 40 on one by chance is 3 · 3⁻⁴⁰.
    expect(Object.keys(plain.byName).length, JSON.stringify(plain.byName)).toBeGreaterThanOrEqual(2);
  });

  it("a drained member keeps its open keep-alive connection answering while no new connection reaches it", async () => {
    const vip = "10.96.0.13";
    const id = await program({ name: "drain", vip });
    const flow = await openKeepAliveFlow({ netns: bench.client.netns.name, address: vip, port: 80 });
    flows.push(flow);
    const first = await flow.ask();
    expect(first.name, first.error).toMatch(/^backend-\d$/);
    const x = first.name!;
    expect(await flow.ask()).toEqual(first); // the same connection: same local port, same member

    // The control: before the drain, new connections do reach X ((2/3)³⁰ ≈ 5·10⁻⁶ to miss it).
    const before = await countAnswers({ clientNetns: bench.client.netns.name, address: vip, port: 80, requests: 30 });
    expect(before.byName[x] ?? 0, JSON.stringify(before.byName)).toBeGreaterThan(0);

    await program({ id, name: "drain", vip, states: { [x]: "draining" } });
    const after = await countAnswers({ clientNetns: bench.client.netns.name, address: vip, port: 80, requests: 30 });
    expect(after.failures, after.errors.join(", ")).toBe(0);
    expect(after.byName[x] ?? 0, JSON.stringify(after.byName)).toBe(0);
    for (let i = 0; i < 3; i++) expect(await flow.ask()).toEqual(first);
  });

  it("UDP: a member set to maintenance, then one removed, loses its flow at once (conntrack flushed); an agent without conntrack leaves the flow on its member (the control)", async () => {
    const vip = "10.96.0.15";
    const id = await program({ name: "dns", vip, protocol: "udp", port: 53 });
    const flow = await openUdpFlow({ netns: bench.client.netns.name, address: vip, port: 53, bindAddress: bench.client.address, sourcePort: 40053 });
    flows.push(flow);
    const first = await flow.ask();
    expect(first.name, first.error).toMatch(/^backend-\d$/);
    const x = first.name!;
    for (let i = 0; i < 3; i++) expect((await flow.ask()).name).toBe(x); // one flow, one member

    // Maintenance: the flow moves to another member with its next datagram.
    await program({ id, name: "dns", vip, protocol: "udp", port: 53, states: { [x]: "maintenance" } });
    const moved = await flow.ask();
    expect(moved.name, moved.error).toMatch(/^backend-\d$/);
    expect(moved.name).not.toBe(x);
    const y = moved.name!;
    expect((await flow.ask()).name).toBe(y);

    // Removed from the pool: the same, to the only member left taking traffic.
    const z = bench.backends.map((b) => b.name).find((n) => n !== x && n !== y)!;
    await program({ id, name: "dns", vip, protocol: "udp", port: 53, states: { [x]: "maintenance" }, without: [y] });
    expect((await flow.ask()).name).toBe(z);

    // The same step by an agent that cannot run conntrack: the table changes, the flow does not.
    await agent.restart({ withoutConntrack: true });
    expect((await flow.ask()).name).toBe(z); // refreshes the flow while the agent starts
    await program({ id, name: "dns", vip, protocol: "udp", port: 53, states: { [z]: "maintenance" }, without: [y] });
    const stale = await flow.ask();
    expect(stale.name, "without the flush the flow keeps its member").toBe(z);
    // The table did take z out: a new flow (another source port) reaches the only member left.
    const fresh = await openUdpFlow({ netns: bench.client.netns.name, address: vip, port: 53, bindAddress: bench.client.address, sourcePort: 40054 });
    flows.push(fresh);
    expect((await fresh.ask()).name).toBe(x);
    await agent.restart();
  });

  it("UDP: a drained member keeps its open flow (established flows keep their DNAT, design §6) while new flows avoid it; put in maintenance after, its flow moves", async () => {
    const vip = "10.96.0.16";
    const id = await program({ name: "dns-drain", vip, protocol: "udp", port: 53 });
    const flow = await openUdpFlow({ netns: bench.client.netns.name, address: vip, port: 53, bindAddress: bench.client.address, sourcePort: 40063 });
    flows.push(flow);
    const first = await flow.ask();
    expect(first.name, first.error).toMatch(/^backend-\d$/);
    const x = first.name!;

    await program({ id, name: "dns-drain", vip, protocol: "udp", port: 53, states: { [x]: "draining" } });
    for (let i = 0; i < 3; i++) expect((await flow.ask()).name, "a drain keeps the open flow on its member").toBe(x);
    for (const sourcePort of [40064, 40065, 40066]) {
      const fresh = await openUdpFlow({ netns: bench.client.netns.name, address: vip, port: 53, bindAddress: bench.client.address, sourcePort });
      flows.push(fresh);
      const answer = await fresh.ask();
      expect(answer.name, answer.error).toMatch(/^backend-\d$/);
      expect(answer.name).not.toBe(x);
    }

    // From draining to maintenance: now its flow is flushed and moves with the next datagram.
    await program({ id, name: "dns-drain", vip, protocol: "udp", port: 53, states: { [x]: "maintenance" } });
    const moved = await flow.ask();
    expect(moved.name, moved.error).toMatch(/^backend-\d$/);
    expect(moved.name).not.toBe(x);
  });

  it("the host itself reaches a VIP's members (nat-output), and an address of the CIDR with no service fails at the blackhole (the control)", async () => {
    await program({ name: "from-host", vip: "10.96.0.14" });
    const fromHost = await countAnswers({ clientNetns: bench.host.name, address: "10.96.0.14", port: 80, requests: 30 });
    expect(fromHost.failures, fromHost.errors.join(", ")).toBe(0);
    expect(Object.keys(fromHost.byName).length, JSON.stringify(fromHost.byName)).toBeGreaterThanOrEqual(2);
    expect(Object.keys(fromHost.byName).every((n) => /^backend-\d$/.test(n)), JSON.stringify(fromHost.byName)).toBe(true);

    const none = await countAnswers({ clientNetns: bench.host.name, address: "10.96.0.99", port: 80, requests: 2 });
    expect(none.failures).toBe(2);
    expect(none.errors, "a blackhole route: connect() fails at once").toEqual(["EINVAL", "EINVAL"]);
  });
});
