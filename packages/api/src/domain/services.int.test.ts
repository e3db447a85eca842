import { planSync } from "@switchyard/dataplane";
import { DesiredServices } from "@switchyard/dataplane/desired";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDbEventBus } from "../eventBusDb";
import type { WorkEvent } from "../routers/agent";
import { setupApiTest, trpcError, type ApiTest, BRIDGE_CONFLIST } from "../testing";

// Issue 12: the console's model of services — CIDRs and VIPs, specs in revisions, labels, the
// desired state of one host, and the agents' applied reports.
let t: ApiTest;
let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;
let networkId: string;

/** A ready attachment on `hostId` holding `address` in 10.88.0.0/24 (its CNI result), with labels. */
async function readyAttachment(hostId: string, containerId: string, address: string, labels: Record<string, string>) {
  return t.db.attachment.create({
    data: {
      hostId,
      networkId,
      networkName: "svc-lab",
      networkRevision: 1,
      containerId,
      ifName: "eth0",
      targetKind: "netns",
      target: `/var/run/netns/${containerId}`,
      state: "ready",
      labels,
      result: { cniVersion: "1.0.0", ips: [{ address: `${address}/24`, gateway: "10.88.0.1" }] },
    },
    select: { id: true },
  });
}

const web = (extra: Record<string, unknown> = {}) => ({
  ports: [{ protocol: "tcp" as const, port: 80, targetPort: 8080 }],
  memberSelector: { matchLabels: { app: "web" } },
  ...extra,
});

beforeAll(async () => {
  t = await setupApiTest();
  admin = await t.callerAs("admin", "svc-admin");
  operator = await t.callerAs("operator", "svc-op");
  viewer = await t.callerAs("viewer", "svc-viewer");
  networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("svc-lab", "10.88.0.0/24", "10.88.0.1"), comment: "" })).id;
});
afterAll(() => t?.close());

describe("service CIDRs and VIPs", () => {
  it("only an admin sets the CIDRs; overlapping ones are refused and nothing changes", async () => {
    expect((await trpcError(operator.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] }))).code).toBe("FORBIDDEN");
    const overlap = await trpcError(admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16", "10.96.4.0/24"] }));
    expect(overlap.code).toBe("BAD_REQUEST");
    expect(overlap.message).toContain("overlap");
    expect(await viewer.caller.services.cidrs()).toEqual([]);
    await admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16", "fd00:96::/112"] });
    expect(await viewer.caller.services.cidrs()).toEqual(["10.96.0.0/16", "fd00:96::/112"]);
  });

  it("allocates the lowest free VIP, checks a given one, and refuses crafted or out-of-range input without writing", async () => {
    const a = await operator.caller.services.create({ name: "alpha", spec: web() });
    expect(a.vip).toBe("10.96.0.1");
    const b = await operator.caller.services.create({ name: "beta", spec: web() });
    expect(b.vip).toBe("10.96.0.2");
    const six = await operator.caller.services.create({ name: "six", family: 6, spec: web() });
    expect(six.vip).toBe("fd00:96::1");

    const before = await t.db.service.count();
    const audits = await t.db.auditEvent.count({ where: { action: { startsWith: "services." } } });
    const refusals: [unknown, string][] = [
      [{ name: "out", vip: "10.97.0.5", spec: web() }, "outside the service CIDRs"],
      [{ name: "taken", vip: "10.96.0.1", spec: web() }, 'VIP of service "alpha"'],
      [{ name: "bcast", vip: "10.96.255.255", spec: web() }, "broadcast"],
      [{ name: 'x"; flush ruleset', spec: web() }, "DNS label"],
      [{ name: "ports", spec: web({ ports: [{ protocol: "tcp", port: 80, targetPort: 1 }, { protocol: "tcp", port: 80, targetPort: 2 }] }) }, "listed twice"],
      [{ name: "portrange", spec: web({ ports: [{ protocol: "tcp", port: 70000, targetPort: 1 }] }) }, "1-65535"],
      [{ name: "weight", spec: web({ manualMembers: [{ address: "10.88.0.50", weight: 1001 }] }) }, "1000"],
      [{ name: "loop", spec: web({ manualMembers: [{ address: "127.0.0.1" }] }) }, "loopback"],
      [{ name: "vipmember", spec: web({ manualMembers: [{ address: "10.96.0.1" }] }) }, "service CIDR"],
      [{ name: "multiport", spec: web({ ports: [{ protocol: "tcp", port: 80, targetPort: 1 }, { protocol: "udp", port: 53, targetPort: 53 }], manualMembers: [{ address: "10.88.0.50", port: 9000 }] }) }, "one-port service"],
      [{ name: "badsel", spec: web({ memberSelector: { matchLabels: { "-bad": "x" } } }) }, "label key"],
      [{ name: "emptysel", spec: web({ memberSelector: {} }) }, "empty member selector"],
    ];
    for (const [input, message] of refusals) {
      const err = await trpcError(operator.caller.services.create(input as never));
      expect(err.code, JSON.stringify(input)).toBe("BAD_REQUEST");
      expect(err.message, JSON.stringify(input)).toContain(message);
    }
    expect((await trpcError(operator.caller.services.create({ name: "alpha", spec: web() }))).code).toBe("CONFLICT");
    expect((await trpcError(viewer.caller.services.create({ name: "gamma", spec: web() }))).code).toBe("FORBIDDEN");
    expect(await t.db.service.count()).toBe(before);
    expect(await t.db.auditEvent.count({ where: { action: { startsWith: "services." }, outcome: "success" } })).toBeLessThanOrEqual(audits);
  });

  it("refuses a VIP a host or an attachment holds, naming the holder", async () => {
    const { hostId } = await t.enrollHost("svc-vip-host");
    await t.db.host.update({ where: { id: hostId }, data: { inventory: { addresses: [{ ifName: "eth0", address: "10.96.7.7/16" }] } } });
    const onHost = await trpcError(operator.caller.services.create({ name: "onhost", vip: "10.96.7.7", spec: web() }));
    expect(onHost.message).toContain("host svc-vip-host");
    await t.db.lease.create({ data: { hostId, networkName: "svc-lab", address: "10.96.8.8", containerId: "holder-1", seenIn: 1 } });
    const leased = await trpcError(operator.caller.services.create({ name: "leased", vip: "10.96.8.8", spec: web() }));
    expect(leased.message).toContain("container holder-1");
  });

  it("keeps a CIDR that still holds a VIP", async () => {
    const err = await trpcError(admin.caller.services.setCidrs({ cidrs: ["fd00:96::/112"] }));
    expect(err.code).toBe("CONFLICT");
    expect(err.message).toContain("alpha (10.96.0.1)");
    expect(await viewer.caller.services.cidrs()).toEqual(["10.96.0.0/16", "fd00:96::/112"]);
  });
});

describe("revisions", () => {
  it("an edit is a new revision, a stale one is refused, a rollback restores the old spec; each is audited and numbered", async () => {
    const created = await operator.caller.services.create({ name: "rev", spec: web() });
    const g0 = (await viewer.caller.services.get({ id: created.id })).generation;
    const v2 = await operator.caller.services.update({ id: created.id, expectedRevision: 1, spec: web({ affinityTimeoutSeconds: 600 }), comment: "sticky" });
    expect(v2.revision).toBe(2);
    expect((await trpcError(operator.caller.services.update({ id: created.id, expectedRevision: 1, spec: web() }))).code).toBe("CONFLICT");
    const v3 = await operator.caller.services.rollback({ id: created.id, toRevision: 1, expectedRevision: 2 });
    expect(v3.revision).toBe(3);
    const got = await viewer.caller.services.get({ id: created.id });
    expect(got.spec.affinityTimeoutSeconds).toBeNull();
    expect(got.revisions.map((r) => r.number)).toEqual([3, 2, 1]);
    expect(got.generation).toBe(g0 + 2);
    expect((await viewer.caller.services.revision({ id: created.id, number: 2 })).spec.affinityTimeoutSeconds).toBe(600);
    const actions = (await t.db.auditEvent.findMany({ where: { targetId: created.id, outcome: "success" }, orderBy: { id: "asc" }, select: { action: true } })).map((a) => a.action);
    expect(actions).toEqual(["services.create", "services.update", "services.rollback"]);
    // The stale edit was refused and audited as such.
    expect(await t.db.auditEvent.count({ where: { targetId: created.id, outcome: { not: "success" } } })).toBe(1);
  });
});

describe("the desired state of a host", () => {
  it("holds the services whose host selector takes the host, with their members and the host's local CIDRs; the agent reads the same", async () => {
    const a = await t.enrollHost("svc-host-a");
    const b = await t.enrollHost("svc-host-b");
    await operator.caller.services.setHostLabels({ hostId: a.hostId, labels: { zone: "edge" } });
    await operator.caller.services.setHostLabels({ hostId: b.hostId, labels: { zone: "core" } });
    const one = await readyAttachment(a.hostId, "web-1", "10.88.0.11", { app: "api" });
    await readyAttachment(b.hostId, "web-2", "10.88.0.12", { app: "api" });
    await readyAttachment(b.hostId, "db-1", "10.88.0.13", { app: "db" });
    const api = await operator.caller.services.create({
      name: "api",
      spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }], memberSelector: { matchLabels: { app: "api" } }, overrides: [{ attachmentId: one.id, weight: 300 }], manualMembers: [{ address: "10.99.0.5", weight: 50 }] },
    });
    await operator.caller.services.create({ name: "edge-only", spec: { ports: [{ protocol: "udp", port: 53, targetPort: 5353 }], hostSelector: { matchLabels: { zone: "edge" } }, manualMembers: [{ address: "10.99.0.6" }] } });

    const onA = await a.agent.servicesDesired({ family: 4 });
    expect(DesiredServices.safeParse(onA).success).toBe(true);
    expect(onA.serviceCidrs).toEqual(["10.96.0.0/16"]);
    const apiOnA = onA.services.find((s) => s.id === api.id)!;
    expect(apiOnA.members).toEqual([
      { address: "10.99.0.5", port: null, weight: 50, state: "active", health: "none", localCidr: null },
      { address: "10.88.0.11", port: null, weight: 300, state: "active", health: "none", localCidr: "10.88.0.0/24" },
      { address: "10.88.0.12", port: null, weight: 100, state: "active", health: "none", localCidr: null },
    ]);
    expect(onA.services.map((s) => s.name)).toContain("edge-only");

    const onB = await b.agent.servicesDesired({ family: 4 });
    expect(onB.services.map((s) => s.name)).not.toContain("edge-only");
    const apiOnB = onB.services.find((s) => s.id === api.id)!;
    expect(apiOnB.members.find((m) => m.address === "10.88.0.12")!.localCidr).toBe("10.88.0.0/24");
    expect(apiOnB.members.find((m) => m.address === "10.88.0.11")!.localCidr).toBeNull();
    expect(onB.version).toBe(onA.version);
    // The console's preview is the agent's view.
    expect(await viewer.caller.services.desiredFor({ hostId: b.hostId, family: 4 })).toEqual(onB);

    // A label change is a new version; the attachment leaves the pool.
    await operator.caller.services.setAttachmentLabels({ attachmentId: one.id, labels: { app: "other" } });
    const later = await a.agent.servicesDesired({ family: 4 });
    expect(later.version).toBeGreaterThan(onA.version);
    expect(later.services.find((s) => s.id === api.id)!.members.map((m) => m.address)).toEqual(["10.99.0.5", "10.88.0.12"]);
  });

  it("records what each host applied, fenced by version, and shows desired against applied", async () => {
    const h = await t.enrollHost("svc-host-c");
    const svc = await operator.caller.services.create({ name: "fenced", spec: web() });
    const desired = await h.agent.servicesDesired({ family: 4 });
    let row = (await viewer.caller.services.get({ id: svc.id })).hosts.find((x) => x.hostId === h.hostId)!;
    expect(row.applied).toBe(false);
    expect(await h.agent.reportServicesApplied({ family: 4, version: desired.version, applyMs: 12, error: null })).toEqual({ recorded: true });
    row = (await viewer.caller.services.get({ id: svc.id })).hosts.find((x) => x.hostId === h.hostId)!;
    expect(row).toMatchObject({ applied: true, appliedGeneration: desired.version, applyMs: 12, error: "" });
    expect(row.editToAppliedMs).toBeGreaterThanOrEqual(0);
    // A late report of an older version changes nothing; an error of an older version neither.
    expect(await h.agent.reportServicesApplied({ family: 4, version: desired.version - 1, applyMs: 1, error: null })).toEqual({ recorded: false });
    expect(await h.agent.reportServicesApplied({ family: 4, version: desired.version - 1, applyMs: null, error: "boom" })).toEqual({ recorded: false });
    // An edit puts the host behind until it reports again.
    await operator.caller.services.update({ id: svc.id, expectedRevision: 1, spec: web({ affinityTimeoutSeconds: 30 }) });
    const list = await viewer.caller.services.list();
    const item = list.find((s) => s.id === svc.id)!;
    expect(item.hosts.applied).toBeLessThan(item.hosts.total);
    await h.agent.reportServicesApplied({ family: 4, version: desired.version + 1, applyMs: null, error: "nft: syntax error" });
    row = (await viewer.caller.services.get({ id: svc.id })).hosts.find((x) => x.hostId === h.hostId)!;
    expect(row).toMatchObject({ applied: false, error: "nft: syntax error" });
    // Applied again; then a change tied to no service (a host's labels, which may move members)
    // puts the host behind for every service until it reports that version too.
    const fixed = await h.agent.servicesDesired({ family: 4 });
    await h.agent.reportServicesApplied({ family: 4, version: fixed.version, applyMs: 3, error: null });
    expect((await viewer.caller.services.get({ id: svc.id })).hosts.find((x) => x.hostId === h.hostId)!.applied).toBe(true);
    await operator.caller.services.setHostLabels({ hostId: h.hostId, labels: { zone: "b" } });
    const behind = await viewer.caller.services.get({ id: svc.id });
    expect(behind.hosts.find((x) => x.hostId === h.hostId)!.applied).toBe(false);
    expect(behind.lastChange!.generation).toBe(behind.generation);
    await h.agent.reportServicesApplied({ family: 4, version: behind.generation, applyMs: 3, error: null });
    expect((await viewer.caller.services.get({ id: svc.id })).hosts.find((x) => x.hostId === h.hostId)!.applied).toBe(true);
  });
});

describe("pools follow the containers", () => {
  const generation = async () => (await t.db.serviceChange.findFirst({ orderBy: { generation: "desc" }, select: { generation: true } }))?.generation ?? 0n;

  it("a labelled attachment becoming ready, failing or going away is a new version, rung on the database's bus; an unlabelled one is not", async () => {
    const h = await t.enrollHost("svc-follow");
    const { caller } = operator;
    await operator.caller.services.create({ name: "follow", spec: web({ memberSelector: { matchLabels: { app: "follow" } } }) });
    const bus = createDbEventBus(t.url);
    const stop = new AbortController();
    const heard: unknown[] = [];
    const listening = (async () => {
      for await (const e of bus.subscribe("services", stop.signal)) if (e.kind === "changed") heard.push(e);
    })().catch(() => {});
    try {
      // Labels given at attach time are kept; while pending the pool does not take it.
      const { attachment } = await caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name: "follow-1" }, labels: { app: "follow" } });
      expect(attachment.labels).toEqual({ app: "follow" });
      const plain = (await caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name: "plain-1" } })).attachment;
      const g0 = await generation();

      // As the agent's completion writes it: ready with its result.
      const result = { cniVersion: "1.0.0", ips: [{ address: "10.88.0.40/24" }] };
      await t.db.attachment.update({ where: { id: plain.id }, data: { state: "ready", result } });
      expect(await generation()).toBe(g0);
      await t.db.attachment.update({ where: { id: attachment.id }, data: { state: "ready", result } });
      const g1 = await generation();
      expect(g1).toBe(g0 + 1n);
      const desired = await h.agent.servicesDesired({ family: 4 });
      expect(desired.version).toBe(Number(g1));
      expect(desired.services.find((s) => s.name === "follow")!.members.map((m) => m.address)).toEqual(["10.88.0.40"]);
      await expect.poll(() => heard.length, { timeout: 5000 }).toBeGreaterThan(0);

      await t.db.attachment.update({ where: { id: attachment.id }, data: { state: "failed" } });
      expect(await generation()).toBe(g1 + 1n);
      expect((await h.agent.servicesDesired({ family: 4 })).services.find((s) => s.name === "follow")!.members).toEqual([]);
      await t.db.attachment.update({ where: { id: attachment.id }, data: { state: "ready" } });
      await t.db.attachment.delete({ where: { id: attachment.id } });
      expect(await generation()).toBe(g1 + 3n);
      const summaries = (await t.db.serviceChange.findMany({ where: { generation: { gt: g0 } }, orderBy: { generation: "asc" }, select: { summary: true } })).map((c) => c.summary);
      expect(summaries).toEqual([
        "attachment follow-1/eth0 on svc-lab ready",
        "attachment follow-1/eth0 on svc-lab failed",
        "attachment follow-1/eth0 on svc-lab ready",
        "attachment follow-1/eth0 on svc-lab deleted",
      ]);
    } finally {
      stop.abort();
      await listening;
      await bus.close();
    }
  });

  it("refuses labels that are not Kubernetes labels, at attach and when set", async () => {
    const h = await t.enrollHost("svc-badlabels");
    const bad: Record<string, string>[] = [{ "-x": "y" }, { "a/b/c": "y" }, { app: "bad value" }, { ["k".repeat(64)]: "v" }];
    for (const labels of bad) {
      const err = await trpcError(operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name: "bad-labels" }, labels }));
      expect(err.code, JSON.stringify(labels)).toBe("BAD_REQUEST");
      expect((await trpcError(operator.caller.services.setHostLabels({ hostId: h.hostId, labels }))).code).toBe("BAD_REQUEST");
    }
    expect(await t.db.attachment.count({ where: { containerId: "bad-labels" } })).toBe(0);
    expect((await t.db.host.findUniqueOrThrow({ where: { id: h.hostId }, select: { labels: true } })).labels).toEqual({});
  });
});

describe("the agents hear of changes on their push stream", () => {
  it("a services change is pushed to every agent's stream as one coalesced 'services' event", async () => {
    const h = await t.enrollHost("svc-push");
    const stream = (await h.agent.work({ slots: 1 }))[Symbol.asyncIterator]();
    let pending: Promise<IteratorResult<WorkEvent>> | undefined;
    const next = async (ms = 2000): Promise<WorkEvent | null> => {
      pending ??= stream.next();
      const got = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), ms))]);
      if (got === null) return null;
      pending = undefined;
      return got.value as WorkEvent;
    };
    try {
      expect((await next())?.kind).toBe("open");
      await operator.caller.services.create({ name: "pushed", spec: web() });
      expect((await next())?.kind).toBe("services");
      expect(await next(300)).toBeNull();
      // Another host's labels: every agent fetches its own part again.
      const other = await t.enrollHost("svc-push-other");
      await operator.caller.services.setHostLabels({ hostId: other.hostId, labels: { rack: "r1" } });
      expect((await next())?.kind).toBe("services");
    } finally {
      await stream.return?.(undefined);
    }
  });
});

describe("health", () => {
  it("each host checks its own members; a verdict to or from unhealthy is a new version that takes the member out or back; another host's verdicts are ignored", async () => {
    const a = await t.enrollHost("svc-health-a");
    const b = await t.enrollHost("svc-health-b");
    const svc = await operator.caller.services.create({
      name: "checked",
      spec: {
        ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }],
        healthCheck: { kind: "http", path: "/healthz", intervalSeconds: 2, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: 2 },
        manualMembers: [{ address: "10.99.1.1", hostId: a.hostId }, { address: "10.99.1.2", hostId: b.hostId }],
      },
    });
    const targets = await a.agent.servicesHealthTargets();
    expect(targets).toEqual([
      { key: `${svc.id}|10.99.1.1|8080`, address: "10.99.1.1", port: 8080, check: { kind: "http", path: "/healthz", expectedStatus: 200, intervalMs: 2000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 2 } },
    ]);
    const member = async (address: string) => (await a.agent.servicesDesired({ family: 4 })).services.find((s) => s.id === svc.id)!.members.find((m) => m.address === address)!;
    expect((await member("10.99.1.1")).health).toBe("unknown");

    const g0 = (await viewer.caller.services.get({ id: svc.id })).generation;
    const at = new Date();
    // Host A says B's member is down: not A's to say.
    expect(await a.agent.reportServicesHealth({ reports: [{ key: `${svc.id}|10.99.1.2|8080`, status: "unhealthy", latencyMs: null, message: "timeout", checkedAt: at }] })).toEqual({ recorded: 0, ignored: 1, flipped: 0 });
    expect((await member("10.99.1.2")).health).toBe("unknown");

    expect(await a.agent.reportServicesHealth({ reports: [{ key: targets[0]!.key, status: "unhealthy", latencyMs: 1000, message: "HTTP 503 (expected 200)", checkedAt: at }] })).toEqual({ recorded: 1, ignored: 0, flipped: 1 });
    const down = await viewer.caller.services.get({ id: svc.id });
    expect(down.generation).toBe(g0 + 1);
    // The version is this service's own change: its page knows which version its hosts must reach.
    expect(down.lastChange).toMatchObject({ generation: g0 + 1 });
    expect(await t.db.serviceChange.findFirst({ orderBy: { generation: "desc" }, select: { serviceId: true, summary: true } })).toEqual({ serviceId: svc.id, summary: "health on svc-health-a: 10.99.1.1:8080 unhealthy" });
    const m1 = down.members.find((m) => m.address === "10.99.1.1")!;
    expect(m1).toMatchObject({ health: "unhealthy", selectable: false, lastCheck: { latencyMs: 1000, message: "HTTP 503 (expected 200)" } });
    expect((await member("10.99.1.1")).health).toBe("unhealthy");

    // The same verdict with a new latency moves nothing.
    await a.agent.reportServicesHealth({ reports: [{ key: targets[0]!.key, status: "unhealthy", latencyMs: 900, message: "HTTP 503 (expected 200)", checkedAt: new Date() }] });
    expect((await viewer.caller.services.get({ id: svc.id })).generation).toBe(g0 + 1);
    // Healthy again: back in, a new version.
    expect((await a.agent.reportServicesHealth({ reports: [{ key: targets[0]!.key, status: "healthy", latencyMs: 3, message: "HTTP 200", checkedAt: new Date() }] })).flipped).toBe(1);
    const up = await viewer.caller.services.get({ id: svc.id });
    expect(up.generation).toBe(g0 + 2);
    expect(up.members.find((m) => m.address === "10.99.1.1")).toMatchObject({ health: "healthy", selectable: true });
  });

  it("refuses a check whose timeout is longer than its interval", async () => {
    const err = await trpcError(
      operator.caller.services.create({ name: "slowcheck", spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 80 }], healthCheck: { kind: "tcp", intervalSeconds: 1, timeoutSeconds: 5 } } }),
    );
    expect(err.code).toBe("BAD_REQUEST");
    expect(err.message).toContain("at most the interval");
  });

  it("takes a pool of 10,000 members whole, to the host's desired state and its nft transaction; refuses 10,001 and writes nothing", async () => {
    const address = (i: number) => `10.120.${i >> 8}.${i & 255}`;
    const members = (n: number) => Array.from({ length: n }, (_, i) => ({ address: address(i), weight: 1 + (i % 1000) }));
    const before = { services: await t.db.service.count(), changes: await t.db.serviceChange.count() };
    const err = await trpcError(operator.caller.services.create({ name: "huge", spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 80 }], manualMembers: members(10_001) } }));
    expect(err.code).toBe("BAD_REQUEST");
    expect(err.message).toContain("a pool holds at most 10000 members");
    expect({ services: await t.db.service.count(), changes: await t.db.serviceChange.count() }).toEqual(before);

    const cidrs = await viewer.caller.services.cidrs();
    if (!cidrs.includes("10.96.0.0/16")) await admin.caller.services.setCidrs({ cidrs: [...cidrs, "10.96.0.0/16"] });
    const big = await operator.caller.services.create({ name: "big", spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 80 }], manualMembers: members(10_000) } });
    const h = await t.enrollHost("svc-big");
    const desired = await h.agent.servicesDesired({ family: 4 });
    const pool = desired.services.find((s) => s.id === big.id)!;
    expect(pool.members).toHaveLength(10_000);
    // What the agent would apply: every member a destination of the one service, in one transaction.
    const { transaction } = planSync(null, DesiredServices.parse(desired), { layout: "compact", markBit: 0x4000 });
    const text = transaction;
    expect(text).toContain(address(0));
    expect(text).toContain(address(9_999));
    await operator.caller.services.delete({ id: big.id, confirmName: "big" });
  });
});
