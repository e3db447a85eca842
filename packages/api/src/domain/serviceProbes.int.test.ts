import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authenticateAgent } from "./hosts";
import type { WorkEvent } from "../routers/agent";
import { setupApiTest, trpcError, type ApiTest, BRIDGE_CONFLIST } from "../testing";

// Issue 12's probe, console side: who may start one, what is refused (with no row written), how
// the host's agent hears of it, takes it, reports it, and what happens when it never does.
let t: ApiTest;
let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;
let networkId: string;

async function enroll(hostname: string) {
  const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
  const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname, agentVersion: "test" });
  const identity = (await authenticateAgent(t.db, enrolled.credential))!;
  return { hostId: enrolled.hostId, agent: t.agentCaller(identity) };
}

async function attachment(hostId: string, containerId: string, state: "ready" | "pending") {
  return t.db.attachment.create({
    data: { hostId, networkId, networkName: "probe-lab", networkRevision: 1, containerId, ifName: "eth0", targetKind: "netns", target: containerId, state },
    select: { id: true },
  });
}

const spec = { ports: [{ protocol: "tcp" as const, port: 80, targetPort: 8080 }, { protocol: "udp" as const, port: 53, targetPort: 5353 }], manualMembers: [{ address: "10.89.0.5" }] };

let serviceId = "";
let carrier: Awaited<ReturnType<typeof enroll>>;
let behind: Awaited<ReturnType<typeof enroll>>;
let elsewhere: Awaited<ReturnType<typeof enroll>>;

beforeAll(async () => {
  t = await setupApiTest();
  admin = await t.callerAs("admin", "probe-admin");
  operator = await t.callerAs("operator", "probe-op");
  viewer = await t.callerAs("viewer", "probe-viewer");
  networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("probe-lab", "10.89.0.0/24", "10.89.0.1"), comment: "" })).id;
  await admin.caller.services.setCidrs({ cidrs: ["10.97.0.0/16"] });
  carrier = await enroll("probe-carrier");
  behind = await enroll("probe-behind");
  elsewhere = await enroll("probe-elsewhere");
  await operator.caller.services.setHostLabels({ hostId: elsewhere.hostId, labels: { zone: "b" } });
  serviceId = (await operator.caller.services.create({ name: "probed", spec: { ...spec, hostSelector: { matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] } } })).id;
  const desired = await carrier.agent.servicesDesired({ family: 4 });
  await carrier.agent.reportServicesApplied({ family: 4, version: desired.version, applyMs: 1, error: null });
});
afterAll(() => t?.close());

describe("starting a probe", () => {
  it("refuses bad input with an error naming the value, and writes no row", async () => {
    const ready = await attachment(carrier.hostId, "probe-ready", "ready");
    const pending = await attachment(carrier.hostId, "probe-pending", "pending");
    const onOther = await attachment(behind.hostId, "probe-other", "ready");
    const ok = { serviceId, hostId: carrier.hostId, protocol: "tcp" as const, port: 80, source: { kind: "host" as const }, count: 10 };
    const refusals: [Record<string, unknown>, string][] = [
      [{ count: 0 }, "the count must be 1-1000"],
      [{ count: 1001 }, "the count must be 1-1000"],
      [{ count: 2.5 }, "whole number"],
      [{ port: 81 }, "port 81/tcp is not a port of service probed: its ports are 80/tcp, 53/udp"],
      [{ protocol: "udp", port: 80 }, "port 80/udp is not a port"],
      [{ protocol: "sctp" }, "sctp cannot be probed"],
      [{ port: 70000 }, "a port is 1-65535"],
      [{ hostId: "nope" }, "host nope does not exist"],
      [{ hostId: elsewhere.hostId }, "host probe-elsewhere does not carry service probed"],
      [{ hostId: behind.hostId }, "host probe-behind has not applied service probed's last change"],
      [{ source: { kind: "attachment", attachmentId: "missing" } }, "attachment missing does not exist"],
      [{ source: { kind: "attachment", attachmentId: pending.id } }, "attachment probe-pending/eth0 is pending, not ready"],
      [{ source: { kind: "attachment", attachmentId: onOther.id } }, "attachment probe-other/eth0 is not on host probe-carrier"],
      [{ source: { kind: "netns", path: "/proc/1/ns/net" } }, "source"],
    ];
    for (const [change, message] of refusals) {
      const err = await trpcError(operator.caller.services.startProbe({ ...ok, ...change } as never));
      expect(err.code, JSON.stringify(change)).toBe("BAD_REQUEST");
      expect(err.message, JSON.stringify(change)).toContain(message);
    }
    expect(await t.db.serviceProbe.count()).toBe(0);
    expect(await t.db.auditEvent.count({ where: { action: "services.probe" } })).toBe(0);
    // The same input, right: a row, pending, audited.
    const probe = await operator.caller.services.startProbe({ ...ok, source: { kind: "attachment", attachmentId: ready.id } });
    expect(probe).toMatchObject({ status: "pending", hostName: "probe-carrier", sourceKind: "attachment", sourceName: "probe-ready/eth0", count: 10, vip: "10.97.0.1", requestedByName: "probe-op" });
    const audit = await t.db.auditEvent.findFirstOrThrow({ where: { action: "services.probe" } });
    expect(audit).toMatchObject({ targetId: serviceId, targetName: "probed", actorName: "probe-op", outcome: "success" });
    await t.db.serviceProbe.deleteMany();
  });

  it("a viewer reads probes but cannot start one", async () => {
    const err = await trpcError(viewer.caller.services.startProbe({ serviceId, hostId: carrier.hostId, protocol: "tcp", port: 80, source: { kind: "host" }, count: 5 }));
    expect(err.code).toBe("FORBIDDEN");
    expect(await t.db.serviceProbe.count()).toBe(0);
    expect(await viewer.caller.services.probes({ serviceId })).toEqual([]);
  });
});

describe("the agent's side", () => {
  it("the host's stream says 'probe'; the agent takes it (running, once), reports it (done), and another host cannot report it", async () => {
    const stream = (await carrier.agent.work({ slots: 1 }))[Symbol.asyncIterator]();
    let pendingNext: Promise<IteratorResult<WorkEvent>> | undefined;
    const next = async (ms = 2000): Promise<WorkEvent | null> => {
      pendingNext ??= stream.next();
      const got = await Promise.race([pendingNext, new Promise<null>((r) => setTimeout(() => r(null), ms))]);
      if (got === null) return null;
      pendingNext = undefined;
      return got.value as WorkEvent;
    };
    try {
      expect((await next())?.kind).toBe("open");
      const probe = await operator.caller.services.startProbe({ serviceId, hostId: carrier.hostId, protocol: "udp", port: 53, source: { kind: "host" }, count: 3 });
      expect((await next())?.kind).toBe("probe");
      // Another host takes nothing; this one takes it once.
      expect((await behind.agent.claimProbes()).probes).toEqual([]);
      const { probes } = await carrier.agent.claimProbes();
      expect(probes).toEqual([{ id: probe.id, vip: "10.97.0.1", protocol: "udp", port: 53, count: 3, namespace: null }]);
      expect((await carrier.agent.claimProbes()).probes).toEqual([]);
      expect((await viewer.caller.services.probe({ id: probe.id })).status).toBe("running");

      const result = { sent: 3, answered: 2, refused: 0, timedOut: 1, failed: 0, members: [{ address: "10.89.0.5", port: 5353, count: 2 }], membersKnown: true, unattributed: 0, durationMs: 1200, notes: [] };
      expect(await behind.agent.reportProbe({ id: probe.id, status: "done", result })).toEqual({ recorded: false });
      expect(await carrier.agent.reportProbe({ id: probe.id, status: "done", result })).toEqual({ recorded: true });
      // Reported once: a late second report changes nothing.
      expect(await carrier.agent.reportProbe({ id: probe.id, status: "failed", error: "late" })).toEqual({ recorded: false });
      const done = await viewer.caller.services.probe({ id: probe.id });
      expect(done).toMatchObject({ status: "done", result, error: "" });
      expect(done.finishedAt).not.toBeNull();
      expect((await viewer.caller.services.probes({ serviceId })).map((p) => p.id)).toEqual([probe.id]);
    } finally {
      await stream.return?.(undefined);
    }
  });

  it("a probe no agent takes fails after the deadline, saying the host is offline; it can no longer be taken", async () => {
    const probe = await operator.caller.services.startProbe({ serviceId, hostId: carrier.hostId, protocol: "tcp", port: 80, source: { kind: "host" }, count: 5 });
    await t.db.serviceProbe.update({ where: { id: probe.id }, data: { deadline: new Date(Date.now() - 1000) } });
    const failed = await viewer.caller.services.probe({ id: probe.id });
    expect(failed.status).toBe("failed");
    expect(failed.error).toContain("the host is offline or its agent is not connected");
    expect((await carrier.agent.claimProbes()).probes).toEqual([]);
  });

  it("a probe taken but never reported fails too", async () => {
    const probe = await operator.caller.services.startProbe({ serviceId, hostId: carrier.hostId, protocol: "tcp", port: 80, source: { kind: "host" }, count: 5 });
    expect((await carrier.agent.claimProbes()).probes.map((p) => p.id)).toEqual([probe.id]);
    await t.db.serviceProbe.update({ where: { id: probe.id }, data: { startedAt: new Date(Date.now() - 10 * 60_000) } });
    const failed = await viewer.caller.services.probe({ id: probe.id });
    expect(failed).toMatchObject({ status: "failed" });
    expect(failed.error).toContain("reported no result");
    expect(await carrier.agent.reportProbe({ id: probe.id, status: "failed", error: "too late" })).toEqual({ recorded: false });
  });

  it("refuses a result that is out of bounds", async () => {
    const probe = await operator.caller.services.startProbe({ serviceId, hostId: carrier.hostId, protocol: "tcp", port: 80, source: { kind: "host" }, count: 5 });
    await carrier.agent.claimProbes();
    const err = await trpcError(carrier.agent.reportProbe({ id: probe.id, status: "done", result: { sent: 5000, answered: 0, refused: 0, timedOut: 0, failed: 0, members: [], membersKnown: false, unattributed: 0, durationMs: 1, notes: [] } }));
    expect(err.code).toBe("BAD_REQUEST");
    expect((await viewer.caller.services.probe({ id: probe.id })).status).toBe("running");
  });

  it("a probe that waited behind another says when it starts: its report deadline counts from there", async () => {
    await t.db.serviceProbe.updateMany({ where: { status: { in: ["pending", "running"] } }, data: { status: "failed", error: "cleared by the test" } });
    const probe = await operator.caller.services.startProbe({ serviceId, hostId: carrier.hostId, protocol: "tcp", port: 80, source: { kind: "host" }, count: 5 });
    await carrier.agent.claimProbes();
    await t.db.serviceProbe.update({ where: { id: probe.id }, data: { startedAt: new Date(Date.now() - 10 * 60_000) } });
    expect(await carrier.agent.reportProbe({ id: probe.id, status: "running" })).toEqual({ recorded: true });
    expect((await viewer.caller.services.probe({ id: probe.id })).status).toBe("running");
  });

  it("at most two probes under way per host: a third is refused, and no row is written", async () => {
    // One running from the test before, one pending now.
    await operator.caller.services.startProbe({ serviceId, hostId: carrier.hostId, protocol: "tcp", port: 80, source: { kind: "host" }, count: 5 });
    const rows = await t.db.serviceProbe.count();
    const err = await trpcError(operator.caller.services.startProbe({ serviceId, hostId: carrier.hostId, protocol: "tcp", port: 80, source: { kind: "host" }, count: 5 }));
    expect(err.code).toBe("CONFLICT");
    expect(err.message).toContain("host probe-carrier already has 2 probes under way (at most 2)");
    expect(await t.db.serviceProbe.count()).toBe(rows);
  });
});
