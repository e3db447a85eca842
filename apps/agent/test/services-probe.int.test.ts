/**
 * Issue 12's probe through a real agent: the agent programs a weighted service into a namespace
 * standing in for its host (`--services netns:<name>`), an operator asks for a probe, the agent
 * hears it on its stream, sends the connections from the host (that namespace) or from a ready
 * attachment's namespace (the bench's client sandbox, attached for real with the loopback plugin),
 * and names the member of each from conntrack. A probe for a VIP the agent does not program (a
 * row no console would write) is refused by the agent, and nothing is sent. Traffic stays in the
 * bench's namespaces, behind the blackhole route the agent adds for the service CIDR.
 */
import { execFileSync } from "node:child_process";
import { randomSuffix } from "@switchyard/cni/test-host";
import { afterAll, describe, expect, it } from "vitest";
import { isRoot, useTestConsole } from "./harness";
import { runProbe } from "../src/services/probe";
import { type BackendBench, createBackendBench } from "./support/backends";
import { type NetnsProcess, spawnNodeInNetns } from "./support/netns-process";
import { type ServicesAgent, startServicesAgent } from "./support/services-agent";
import { waitFor } from "./wait";

const VIP = "10.96.0.30";
const COUNT = 300;
const WEIGHTS = [100, 200, 700];

/** |count − n·p| ≤ 4.5·√(n·p·(1−p)): a false failure about once in 10⁵ per member (design §5), as services-sync's test. */
function withinTolerance(count: number, n: number, p: number): boolean {
  return Math.abs(count - n * p) <= 4.5 * Math.sqrt(n * p * (1 - p));
}

describe.runIf(isRoot)("service probes sent by a real agent (issue 12)", { timeout: 240_000 }, () => {
  const c = useTestConsole();
  let agent: ServicesAgent | undefined;
  let bench: BackendBench | undefined;
  let hostId = "";
  let serviceId = "";
  const udpServers: NetnsProcess[] = [];
  afterAll(async () => {
    await agent?.cleanup();
    for (const p of udpServers) await p.stop();
    await bench?.cleanup();
  });

  const finished = (id: string) =>
    waitFor("the probe to finish", async () => {
      const p = await c.operator.caller.services.probe({ id });
      return p.status === "done" || p.status === "failed" ? p : undefined;
    }, 60_000);

  function expectSpread(members: { address: string; port: number; count: number }[], total: number) {
    const byAddress = Object.fromEntries(members.map((m) => [m.address, m.count]));
    const sum = WEIGHTS.reduce((a, b) => a + b, 0);
    bench!.backends.forEach((b, i) => {
      expect(withinTolerance(byAddress[b.address] ?? 0, total, WEIGHTS[i]! / sum), `${b.address} got ${byAddress[b.address] ?? 0} of ${total}: ${JSON.stringify(byAddress)}`).toBe(true);
    });
    expect(members.every((m) => m.port === bench!.backends[0]!.port)).toBe(true);
  }

  it("a probe from the host spreads by weight, each connection's member named by conntrack", async () => {
    const { admin, operator } = c;
    bench = await createBackendBench({ count: 3 });
    agent = await startServicesAgent(c, { servicesNetns: bench.host.name, extra: ["--services-check", "3000"] });
    hostId = agent.hostId;
    await admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
    const svc = await operator.caller.services.create({
      name: "probed",
      vip: VIP,
      spec: { ports: [{ protocol: "tcp", port: 80, targetPort: bench.backends[0]!.port }], manualMembers: bench.backends.map((b, i) => ({ address: b.address, hostId, weight: WEIGHTS[i]! })) },
    });
    serviceId = svc.id;
    await waitFor("the host to apply the service", async () => (await operator.caller.services.get({ id: svc.id })).hosts.find((h) => h.hostId === hostId)?.applied, 30_000);

    const started = await operator.caller.services.startProbe({ serviceId, hostId, protocol: "tcp", port: 80, source: { kind: "host" }, count: COUNT });
    expect(started.status).toBe("pending");
    const probe = await finished(started.id);
    expect(probe.error).toBe("");
    expect(probe.status).toBe("done");
    const r = probe.result!;
    // On failure the notes say why (a dump that missed entries, a failed read).
    expect(r, JSON.stringify(r.notes)).toMatchObject({ sent: COUNT, answered: COUNT, refused: 0, timedOut: 0, failed: 0, membersKnown: true, unattributed: 0 });
    expect(r.members.reduce((a, m) => a + m.count, 0)).toBe(COUNT);
    expectSpread(r.members, COUNT);
    expect(probe.startedAt).not.toBeNull();
  });

  it("a probe from a ready attachment's namespace leaves from it (conntrack shows its address), and spreads the same", async () => {
    const { t, operator } = c;
    // The bench's client sandbox, attached for real (the loopback plugin: no new link, but a ready attachment of this host).
    const network = await operator.caller.networks.create({ text: JSON.stringify({ cniVersion: "1.0.0", name: `probe-lo-${randomSuffix()}`, plugins: [{ type: "loopback" }] }), comment: "probe source" });
    const { attachment } = await operator.caller.attachments.create({ hostId, networkId: network.id, target: { kind: "netns", name: bench!.client.netns.name }, ifName: "eth9", portMappings: [] });
    await waitFor("the attachment to be ready", async () => (await t.db.attachment.findUniqueOrThrow({ where: { id: attachment.id } })).state === "ready", 30_000);

    const started = await operator.caller.services.startProbe({ serviceId, hostId, protocol: "tcp", port: 80, source: { kind: "attachment", attachmentId: attachment.id }, count: COUNT });
    const probe = await finished(started.id);
    expect(probe.error).toBe("");
    expect(probe.result, JSON.stringify(probe.result?.notes)).toMatchObject({ sent: COUNT, answered: COUNT, membersKnown: true, unattributed: 0 });
    expectSpread(probe.result!.members, COUNT);
    // The connections came from the client sandbox's address, not the host's.
    const flows = execFileSync("ip", ["netns", "exec", bench!.host.name, "conntrack", "-L", "-p", "tcp", "--orig-dst", VIP, "--orig-src", bench!.client.address], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(flows.split("\n").filter((l) => l.includes(`dst=${VIP}`)).length).toBeGreaterThanOrEqual(COUNT);
  });

  it("the agent refuses a probe of a VIP it does not program, and sends nothing", async () => {
    const { t } = c;
    // No console writes this (startProbe checks the port and the host): a console gone wrong could.
    const row = await t.db.serviceProbe.create({
      data: { serviceId, hostId, vip: "10.96.9.9", protocol: "tcp", port: 80, sourceKind: "host", count: 50, deadline: new Date(Date.now() + 30_000) },
    });
    // No doorbell either: the agent's periodic services check takes it.
    const probe = await finished(row.id);
    expect(probe.status).toBe("failed");
    expect(probe.error).toContain("this agent does not program 10.96.9.9 80/tcp");
    const flows = execFileSync("ip", ["netns", "exec", bench!.host.name, "conntrack", "-L", "-p", "tcp", "--orig-dst", "10.96.9.9"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(flows.trim()).toBe("");
  });

  it("a UDP probe: each datagram's answer counted, and its member named by conntrack", async () => {
    const { operator } = c;
    // A UDP echo server on each backend (bounded lifetime), and the service given a UDP port to it.
    for (const b of bench!.backends) {
      const p = spawnNodeInNetns(b.netns.name, `const s = require("node:dgram").createSocket("udp4"); s.on("message", (m, r) => s.send(m, r.port, r.address)); s.bind(5353, ${JSON.stringify(b.address)}, () => console.log("ready"));`, [], { lifetimeMs: 120_000 });
      udpServers.push(p);
      await p.waitForLine(/^ready$/, 15_000);
    }
    const svc = await operator.caller.services.get({ id: serviceId });
    await operator.caller.services.update({ id: serviceId, expectedRevision: svc.revision, spec: { ...svc.spec, ports: [...svc.spec.ports, { protocol: "udp", port: 53, targetPort: 5353 }], manualMembers: svc.spec.manualMembers.map((m) => ({ ...m, port: null })) } });
    await waitFor("the host to apply the UDP port", async () => (await operator.caller.services.get({ id: serviceId })).hosts.find((h) => h.hostId === hostId)?.applied, 30_000);
    const started = await operator.caller.services.startProbe({ serviceId, hostId, protocol: "udp", port: 53, source: { kind: "host" }, count: COUNT });
    const probe = await finished(started.id);
    expect(probe.error).toBe("");
    expect(probe.result, JSON.stringify(probe.result?.notes)).toMatchObject({ sent: COUNT, answered: COUNT, membersKnown: true, unattributed: 0 });
    expect(probe.result!.members.every((m) => m.port === 5353)).toBe(true);
    const byAddress = Object.fromEntries(probe.result!.members.map((m) => [m.address, m.count]));
    bench!.backends.forEach((b, i) => expect(withinTolerance(byAddress[b.address] ?? 0, COUNT, WEIGHTS[i]! / 1000), JSON.stringify(byAddress)).toBe(true));
  });

  it("without conntrack the runner still counts answers, and says members are unknown", async () => {
    // The runner itself (the agent's code, in this process), in the namespace the agent programs, with no conntrack to find.
    const result = await runProbe(
      { id: "no-conntrack", vip: VIP, protocol: "tcp", port: 80, count: 20, namespace: null },
      { claim: async () => ({ probes: [] }), report: async () => undefined, programs: () => true, servicesNetns: bench!.host.name, netnsDir: "/run/netns", log: console as never, conntrackSearchPath: ["/nonexistent"] },
    );
    expect(result).toMatchObject({ sent: 20, answered: 20, refused: 0, membersKnown: false, members: [], unattributed: 20 });
    expect(result.notes[0]).toContain("conntrack is not installed");
  });
});
