import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseNetworkConfig } from "@switchyard/cni/config";
import { conflistDigest } from "@switchyard/cni/digest";
import { CREDENTIAL_CACHE_MS, ENROLMENT_REPEAT_MS, authenticateAgent } from "../domain/hosts";
import type { WorkEvent } from "./agent";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest, trpcError } from "../testing";

let t: ApiTest;
let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;
let networkId: string;

beforeAll(async () => {
  t = await setupApiTest();
  admin = await t.callerAs("admin", "ada");
  operator = await t.callerAs("operator", "otto");
  viewer = await t.callerAs("viewer", "vera");
  networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("agentnet", "10.77.0.0/24", "10.77.0.1"), comment: "" })).id;
});
afterAll(() => t?.close());

async function enroll(hostname: string) {
  const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
  const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname, agentVersion: "test" });
  const identity = await authenticateAgent(t.db, enrolled.credential);
  expect(identity).toEqual({ hostId: enrolled.hostId, hostName: hostname });
  return { ...enrolled, agent: t.agentCaller(identity) };
}

describe("enrolment and host credentials", () => {
  it("a join token is made by admins only, shown once, used once, and refused when expired", async () => {
    expect((await trpcError(operator.caller.hosts.createJoinToken({ note: "", ttlMinutes: 10 }))).code).toBe("FORBIDDEN");
    const { token, id } = await admin.caller.hosts.createJoinToken({ note: "edge-1", ttlMinutes: 10 });
    expect(token).toMatch(/^syj_/);
    const listed = await admin.caller.hosts.joinTokens();
    expect(JSON.stringify(listed)).not.toContain(token.slice(4));
    expect(listed.find((r) => r.id === id)?.state).toBe("unused");
    const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname: "edge-1", agentVersion: "1.0" });
    expect(enrolled.credential).toMatch(/^syh_/);
    expect((await admin.caller.hosts.joinTokens()).find((r) => r.id === id)?.state).toBe("used");
    expect((await trpcError(t.agentCaller(null).enroll({ joinToken: token, hostname: "edge-2", agentVersion: "" }))).code).toBe("UNAUTHORIZED");
    const expired = await admin.caller.hosts.createJoinToken({ note: "", ttlMinutes: 1 });
    await t.db.joinToken.update({ where: { id: expired.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await trpcError(t.agentCaller(null).enroll({ joinToken: expired.token, hostname: "edge-3", agentVersion: "" }))).code).toBe("UNAUTHORIZED");
    expect(await t.db.host.count({ where: { name: { in: ["edge-2", "edge-3"] } } })).toBe(0);
    // Secrets never reach the audit log.
    const audit = await t.db.auditEvent.findMany({ where: { action: { in: ["hosts.createJoinToken", "agent.enroll"] } } });
    expect(audit.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(audit)).not.toContain(token.slice(4));
    expect(JSON.stringify(audit)).not.toContain(enrolled.credential.slice(4));
  });

  it("an enrolled name is refused until revoked; a revoked agent is refused at once, then may re-enrol", async () => {
    const first = await enroll("edge-re");
    const again = await admin.caller.hosts.createJoinToken({ note: "", ttlMinutes: 10 });
    expect((await trpcError(t.agentCaller(null).enroll({ joinToken: again.token, hostname: "edge-re", agentVersion: "" }))).code).toBe("CONFLICT");
    expect((await trpcError(operator.caller.hosts.revoke({ id: first.hostId }))).code).toBe("FORBIDDEN");
    await admin.caller.hosts.revoke({ id: first.hostId });
    expect(await authenticateAgent(t.db, first.credential)).toBeNull();
    expect((await trpcError(t.agentCaller(null).heartbeat({ agentVersion: "" }))).code).toBe("UNAUTHORIZED");
    const next = await admin.caller.hosts.createJoinToken({ note: "", ttlMinutes: 10 });
    const re = await t.agentCaller(null).enroll({ joinToken: next.token, hostname: "edge-re", agentVersion: "" });
    expect(re.hostId).toBe(first.hostId);
    expect(await authenticateAgent(t.db, first.credential)).toBeNull();
    expect(await authenticateAgent(t.db, re.credential)).not.toBeNull();
  });

  it("an agent whose enrolment answer was lost asks again with its key and gets the same credential; any other reuse of the token is refused", async () => {
    const { token } = await admin.caller.hosts.createJoinToken({ note: "edge-lost", ttlMinutes: 10 });
    const key = "k".repeat(43);
    const first = await t.agentCaller(null).enroll({ joinToken: token, hostname: "edge-lost", agentVersion: "1", enrolmentKey: key });
    // The answer never reached the agent; it asks again with the same token and key (twice: a
    // late try processed after its retry answers the same, so the credential kept stays good).
    const again = await t.agentCaller(null).enroll({ joinToken: token, hostname: "edge-lost", agentVersion: "1", enrolmentKey: key });
    const late = await t.agentCaller(null).enroll({ joinToken: token, hostname: "edge-lost", agentVersion: "1", enrolmentKey: key });
    expect(again).toEqual(first);
    expect(late).toEqual(first);
    expect(await authenticateAgent(t.db, again.credential)).toEqual({ hostId: first.hostId, hostName: "edge-lost" });
    expect(await t.db.host.count({ where: { name: "edge-lost" } })).toBe(1);
    const repeated = await t.db.auditEvent.findMany({ where: { action: "agent.enroll", targetId: first.hostId }, orderBy: { at: "asc" } });
    expect(repeated.map((a) => (a.after as { repeated?: boolean }).repeated ?? false)).toEqual([false, true, true]);
    // Another token with another key gives another credential.
    const { token: other } = await admin.caller.hosts.createJoinToken({ note: "edge-lost-2", ttlMinutes: 10 });
    expect((await t.agentCaller(null).enroll({ joinToken: other, hostname: "edge-lost-2", agentVersion: "1", enrolmentKey: key })).credential).not.toBe(first.credential);

    // Another key, no key, another name: "used". A revoked host, or a use older than the window: "used".
    const refusedWith = async (input: { hostname?: string; enrolmentKey?: string }) =>
      (await trpcError(t.agentCaller(null).enroll({ joinToken: token, hostname: input.hostname ?? "edge-lost", agentVersion: "1", ...(input.enrolmentKey ? { enrolmentKey: input.enrolmentKey } : {}) }))).code;
    expect(await refusedWith({ enrolmentKey: "x".repeat(43) })).toBe("UNAUTHORIZED");
    expect(await refusedWith({})).toBe("UNAUTHORIZED");
    expect(await refusedWith({ hostname: "edge-other", enrolmentKey: key })).toBe("UNAUTHORIZED");
    const { id: tokenId } = (await t.db.joinToken.findFirst({ where: { note: "edge-lost" }, select: { id: true } }))!;
    await t.db.joinToken.update({ where: { id: tokenId }, data: { usedAt: new Date(Date.now() - ENROLMENT_REPEAT_MS - 1000) } });
    expect(await refusedWith({ enrolmentKey: key })).toBe("UNAUTHORIZED");
    await t.db.joinToken.update({ where: { id: tokenId }, data: { usedAt: new Date() } });
    // Rotated since (the agent had its answer): no repeat, and the rotated credential stays.
    const rotated = await t.agentCaller((await authenticateAgent(t.db, first.credential))!).rotateCredential();
    expect(await authenticateAgent(t.db, rotated.credential)).not.toBeNull();
    expect(await refusedWith({ enrolmentKey: key })).toBe("UNAUTHORIZED");
    expect(await authenticateAgent(t.db, rotated.credential)).not.toBeNull();
    await admin.caller.hosts.revoke({ id: first.hostId });
    expect(await refusedWith({ enrolmentKey: key })).toBe("UNAUTHORIZED");
  });

  it("a rotated credential replaces the old one when first used", async () => {
    const h = await enroll("edge-rot");
    const rotated = await h.agent.rotateCredential();
    expect(await authenticateAgent(t.db, h.credential)).not.toBeNull();
    expect(await authenticateAgent(t.db, rotated.credential)).not.toBeNull();
    expect(await authenticateAgent(t.db, h.credential)).toBeNull();
  });

  it("caches an authenticated credential for a few seconds: a revocation here is seen at once, another replica's within CREDENTIAL_CACHE_MS", async () => {
    const h = await enroll("edge-cache");
    expect(await authenticateAgent(t.db, h.credential)).toEqual({ hostId: h.hostId, hostName: "edge-cache" });
    // Another console replica revokes the host: this process's database row changes behind its cache.
    await t.db.host.update({ where: { id: h.hostId }, data: { revokedAt: new Date() } });
    expect(await authenticateAgent(t.db, h.credential)).not.toBeNull();
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + CREDENTIAL_CACHE_MS + 1);
      expect(await authenticateAgent(t.db, h.credential)).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it("compares the conf dir's files the agent reports with every revision of the console's networks (drift)", async () => {
    const h = await enroll("drift-1");
    const v1 = BRIDGE_CONFLIST("driftnet", "10.79.0.0/24", "10.79.0.1");
    const v2 = BRIDGE_CONFLIST("driftnet", "10.79.1.0/24", "10.79.1.1");
    const net = await operator.caller.networks.create({ text: v1, comment: "" });
    await operator.caller.networks.update({ id: net.id, text: v2, comment: "", expectedRevision: 1 });
    // Digests as the agent makes them: of the file as parseNetworkConfig reads it (key order and layout do not count).
    const digestOf = (text: string) => {
      const parsed = parseNetworkConfig(text);
      if (!parsed.ok) throw new Error("bad fixture");
      return conflistDigest(parsed.conflist);
    };
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(v2) as Record<string, unknown>).reverse()));
    const confFiles = [
      { file: "10-driftnet.conflist", networkName: "driftnet", digest: digestOf(reordered) },
      { file: "11-driftnet-old.conflist", networkName: "driftnet", digest: digestOf(v1) },
      { file: "12-driftnet-edited.conflist", networkName: "driftnet", digest: digestOf(BRIDGE_CONFLIST("driftnet", "10.79.9.0/24", "10.79.9.1")) },
      { file: "87-podman.conflist", networkName: "podman", digest: digestOf(BRIDGE_CONFLIST("podman")) },
      { file: "99-broken.conflist", error: "not JSON" },
    ];
    const base = { hostname: "drift-1", kernel: "6.1", addresses: [], plugins: [], cniPath: [], netnsDir: "/run/netns", namespaces: [], confDir: "/etc/cni/net.d", cacheDir: "/var/lib/cni", cachedAttachments: [], ipForward: { v4: true, v6: false }, tools: { nft: true, iptables: true, ip: true } };
    await h.agent.heartbeat({ agentVersion: "t", inventory: { ...base, confFiles } });
    expect((await viewer.caller.hosts.get({ id: h.hostId })).confDrift).toEqual([
      { file: "10-driftnet.conflist", networkName: "driftnet", status: "in-sync", revision: 2, latestRevision: 2 },
      { file: "11-driftnet-old.conflist", networkName: "driftnet", status: "older", revision: 1, latestRevision: 2 },
      { file: "12-driftnet-edited.conflist", networkName: "driftnet", status: "differs", latestRevision: 2 },
      { file: "87-podman.conflist", networkName: "podman", status: "unmanaged" },
    ]);
    // A rollback to revision 1 makes revision 3 alike: the old file is at the latest again.
    await operator.caller.networks.rollback({ id: net.id, toRevision: 1, expectedRevision: 2 });
    const after = (await viewer.caller.hosts.get({ id: h.hostId })).confDrift;
    expect(after[1]).toEqual({ file: "11-driftnet-old.conflist", networkName: "driftnet", status: "in-sync", revision: 3, latestRevision: 3 });
    expect((await trpcError(h.agent.heartbeat({ agentVersion: "t", inventory: { ...base, confFiles: [{ file: "x", networkName: "x", digest: "nothex" }] } }))).code).toBe("BAD_REQUEST");
  });

  it("heartbeats record liveness and the inventory; the host list shows them", async () => {
    const h = await enroll("edge-hb");
    const beat = await h.agent.heartbeat({
      agentVersion: "9.9",
      inventory: {
        hostname: "edge-hb",
        kernel: "6.1",
        addresses: [{ ifName: "eth0", address: "192.0.2.10/24" }],
        plugins: [{ name: "bridge", path: "/usr/lib/cni/bridge", executable: true, cniVersion: "1.1.0", supportedVersions: ["1.0.0", "1.1.0"] }],
        cniPath: ["/usr/lib/cni"],
        netnsDir: "/run/netns",
        namespaces: [],
        confDir: "/etc/cni/net.d",
        confFiles: [],
        cacheDir: "/var/lib/cni",
        cachedAttachments: [],
        ipForward: { v4: true, v6: false },
        tools: { nft: true, iptables: true, ip: true },
        masquerade: [],
      },
    });
    expect(beat.rotateCredential).toBe(false);
    const listed = (await viewer.caller.hosts.list()).items.find((h2) => h2.id === h.hostId);
    expect(listed).toMatchObject({ liveness: "online", agentVersion: "9.9" });
    const got = await viewer.caller.hosts.get({ id: h.hostId });
    expect((got.inventory as { kernel: string }).kernel).toBe("6.1");
    const bad = await trpcError(h.agent.heartbeat({ agentVersion: "", inventory: { hostname: "x".repeat(500) } as never }));
    expect(bad.code).toBe("BAD_REQUEST");

    // "Unchanged" keeps the inventory fresh without sending it again; a bare beat only says the host lives.
    const at = async () => (await t.db.host.findUniqueOrThrow({ where: { id: h.hostId }, select: { inventoryAt: true } })).inventoryAt!.getTime();
    const sent = await at();
    await new Promise((r) => setTimeout(r, 20));
    await h.agent.heartbeat({ agentVersion: "9.9" });
    expect(await at()).toBe(sent);
    await h.agent.heartbeat({ agentVersion: "9.9", inventoryUnchanged: true });
    expect(await at()).toBeGreaterThan(sent);
    expect(((await viewer.caller.hosts.get({ id: h.hostId })).inventory as { kernel: string }).kernel).toBe("6.1");
    expect((await trpcError(h.agent.heartbeat({ agentVersion: "9.9", inventoryUnchanged: false as never }))).code).toBe("BAD_REQUEST");
  });
});

describe("attachments and operations", () => {
  it("operators attach, viewers cannot; the agent claims the work with its config, one at a time per attachment", async () => {
    const h = await enroll("work-1");
    expect((await trpcError(viewer.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "sandbox" }, ifName: "eth0", portMappings: [] }))).code).toBe("FORBIDDEN");
    const { attachment, operation } = await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "sandbox", name: "box-1" }, ifName: "eth0", portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] });
    expect(attachment).toMatchObject({ state: "pending", containerId: "box-1", targetKind: "sandbox", target: "box-1", networkRevision: 1 });
    expect(operation).toMatchObject({ kind: "attach", status: "queued", attempt: 0 });
    expect((await trpcError(operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "sandbox", name: "box-1" }, ifName: "eth0", portMappings: [] }))).code).toBe("CONFLICT");
    const [claimed, ...rest] = await h.agent.claim({ max: 4 });
    expect(rest).toEqual([]);
    expect(claimed).toMatchObject({ operationId: operation.id, attempt: 1, kind: "attach", attachment: { containerId: "box-1", ifName: "eth0", capabilityArgs: { portMappings: [{ hostPort: 8080 }] } } });
    expect((claimed!.conflist as { name: string }).name).toBe("agentnet");
    expect((await viewer.caller.attachments.get({ id: attachment.id })).state).toBe("applying");
    // Nothing else is claimable while the attach runs.
    expect(await h.agent.claim({ max: 4 })).toEqual([]);
    expect(await h.agent.log({ entries: [{ operationId: operation.id, attempt: 1, lines: [{ stream: "plugin", line: "bridge: ADD" }] }] })).toEqual({ stored: 1, refused: [] });
    // The job's last lines travel with the outcome and are stored with it.
    expect(
      await h.agent.complete({ operationId: operation.id, attempt: 1, outcome: "succeeded", result: { cniVersion: "1.1.0", ips: [{ address: "10.77.0.2/24" }] }, lines: [{ stream: "agent", line: "address 10.77.0.2/24", at: new Date("2026-12-01T10:00:00.123Z") }] }),
    ).toEqual({ status: "succeeded", more: false });
    const ready = await viewer.caller.attachments.get({ id: attachment.id });
    expect(ready.state).toBe("ready");
    expect(ready.result).toMatchObject({ ips: [{ address: "10.77.0.2/24" }] });
    const op = await viewer.caller.attachments.operation({ id: operation.id });
    expect(op).toMatchObject({ status: "succeeded", attempt: 1 });
    expect(op.logs.map((l) => l.line)).toEqual(["bridge: ADD", "address 10.77.0.2/24"]);
    expect(op.logs[1]).toMatchObject({ stream: "agent", attempt: 1, at: new Date("2026-12-01T10:00:00.123Z") });
    expect(op.result).toEqual({ cniVersion: "1.1.0", ips: [{ address: "10.77.0.2/24" }] });
    expect(op.finishedAt!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(op.finishedAt!.getTime()).toBeGreaterThan(Date.now() - 60_000);
    // A late result of the same attempt is refused and changes nothing, its lines included.
    const stale = await trpcError(h.agent.complete({ operationId: operation.id, attempt: 1, outcome: "failed", error: "late", lines: [{ stream: "agent", line: "late line" }] }));
    expect(stale.code).toBe("CONFLICT");
    expect((await viewer.caller.attachments.get({ id: attachment.id })).state).toBe("ready");
    expect((await viewer.caller.attachments.operation({ id: operation.id })).logs.map((l) => l.line)).toEqual(["bridge: ADD", "address 10.77.0.2/24"]);
  });

  it("an attach to a missing or revoked host or a missing network is refused and writes nothing; a detached one is attached again as a new generation", async () => {
    const h = await enroll("refuse-1");
    const attach = (hostId: string, net: string, name = "refused") => operator.caller.attachments.create({ hostId, networkId: net, target: { kind: "netns", name }, ifName: "eth0", portMappings: [] });
    const counts = async () => ({ attachments: await t.db.attachment.count(), operations: await t.db.operation.count(), audit: await t.db.auditEvent.count({ where: { action: "attachments.create", outcome: "success" } }) });
    const before = await counts();
    expect((await trpcError(attach("nohost", networkId))).code).toBe("NOT_FOUND");
    expect((await trpcError(attach(h.hostId, "nonetwork"))).code).toBe("NOT_FOUND");
    const revoked = await enroll("refuse-2");
    await admin.caller.hosts.revoke({ id: revoked.hostId });
    expect((await trpcError(attach(revoked.hostId, networkId))).code).toBe("CONFLICT");
    expect(await counts()).toEqual(before);
    // Detached (never applied: at once), then attached again: the same row, a new generation, a new attach.
    const first = await attach(h.hostId, networkId, "again");
    await operator.caller.attachments.detach({ id: first.attachment.id });
    const second = await attach(h.hostId, networkId, "again");
    expect(second.attachment).toMatchObject({ id: first.attachment.id, state: "pending", generation: first.attachment.generation + 2 });
    expect(second.operation).toMatchObject({ kind: "attach", status: "queued", generation: first.attachment.generation + 2 });
  });

  it("create returns the rows as the database holds them and audits them; of two concurrent creates of one attachment exactly one is written", async () => {
    const h = await enroll("shape-1");
    const made = await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name: "shape" }, ifName: "eth1", portMappings: [{ hostPort: 9090, containerPort: 90, protocol: "udp" }] });
    const { host: _host, ...stored } = await t.db.attachment.findUniqueOrThrow({ where: { id: made.attachment.id }, include: { host: { select: { name: true } } } });
    // The row as stored, plus its port mappings parsed from the capability args.
    const { portMappings, ...row } = made.attachment;
    expect(row).toEqual({ ...Object.fromEntries(Object.keys(row).map((k) => [k, (stored as Record<string, unknown>)[k]])), host: { name: "shape-1" } });
    expect(portMappings).toEqual([{ hostPort: 9090, containerPort: 90, protocol: "udp" }]);
    expect(made.attachment.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(made.attachment.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(made.attachment).toMatchObject({ hostId: h.hostId, networkId, networkName: "agentnet", containerId: "shape", ifName: "eth1", generation: 1, present: true, result: null, lastError: "", createdByName: "otto" });
    const op = await t.db.operation.findUniqueOrThrow({ where: { id: made.operation.id } });
    expect(made.operation).toEqual(Object.fromEntries(Object.keys(made.operation).map((k) => [k, (op as Record<string, unknown>)[k]])));
    expect(made.operation).toMatchObject({ attachmentId: made.attachment.id, kind: "attach", status: "queued", attempt: 0, maxAttempts: 5, generation: 1, startedAt: null, finishedAt: null, requestedByName: "otto" });
    expect(made.operation.notBefore.getTime()).toBe(made.operation.createdAt.getTime());
    const audit = await t.db.auditEvent.findFirstOrThrow({ where: { action: "attachments.create", targetId: made.attachment.id } });
    expect(audit).toMatchObject({ actorName: "otto", targetType: "attachment", outcome: "success" });
    expect(audit.after).toEqual({ host: "shape-1", network: "agentnet", revision: 1, containerId: "shape", ifName: "eth1", target: { kind: "netns", target: "shape" }, capabilityArgs: { portMappings: [{ hostPort: 9090, containerPort: 90, protocol: "udp" }] } });

    const both = await Promise.allSettled([0, 1].map(() => operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name: "race" }, ifName: "eth0", portMappings: [] })));
    expect(both.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const lost = both.find((r): r is PromiseRejectedResult => r.status === "rejected")!;
    expect((lost.reason as { code: string }).code).toBe("CONFLICT");
    const rows = await t.db.attachment.findMany({ where: { hostId: h.hostId, containerId: "race" }, include: { operations: true } });
    expect(rows.map((r) => r.operations.length)).toEqual([1]);
    expect(await t.db.auditEvent.count({ where: { action: "attachments.create", outcome: "success", targetId: rows[0]!.id } })).toBe(1);
  });

  it("completeMany closes outcomes that finished together in one call, each fenced on its own", async () => {
    const h = await enroll("many-1");
    const other = await enroll("many-2");
    const made: Awaited<ReturnType<typeof operator.caller.attachments.create>>[] = [];
    for (const name of ["m-ok", "m-retry", "m-fail"]) made.push(await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name }, ifName: "eth0", portMappings: [] }));
    const theirs = await operator.caller.attachments.create({ hostId: other.hostId, networkId, target: { kind: "netns", name: "m-theirs" }, ifName: "eth0", portMappings: [] });
    const claimed = await h.agent.claim({ max: 8 });
    const [theirClaim] = await other.agent.claim({ max: 8 });
    expect(claimed).toHaveLength(3);
    const [ok, retry, fail] = made.map((m) => m.operation.id);
    const { answers } = await h.agent.completeMany({
      outcomes: [
        { operationId: ok!, attempt: 1, outcome: "succeeded", result: { cniVersion: "1.1.0", ips: [{ address: "10.77.0.9/24" }] }, lines: [{ stream: "agent", line: "address 10.77.0.9/24" }] },
        { operationId: retry!, attempt: 1, outcome: "failed", error: "plugin timed out", retryable: true },
        { operationId: fail!, attempt: 1, outcome: "failed", error: "bridge: address in use" },
        { operationId: fail!, attempt: 7, outcome: "succeeded" },
        { operationId: theirs.operation.id, attempt: theirClaim!.attempt, outcome: "succeeded" },
      ],
    });
    expect(answers).toEqual([
      { status: "succeeded", more: false },
      { status: "queued", more: false },
      { status: "failed", more: false },
      { refused: "staleAttempt" },
      { refused: "notFound" },
    ]);
    const state = async (m: (typeof made)[number]) => viewer.caller.attachments.get({ id: m.attachment.id });
    expect(await state(made[0]!)).toMatchObject({ state: "ready", result: { ips: [{ address: "10.77.0.9/24" }] } });
    expect(await state(made[1]!)).toMatchObject({ state: "applying", lastError: "attempt 1 failed, retrying: plugin timed out" });
    expect(await state(made[2]!)).toMatchObject({ state: "failed", lastError: "bridge: address in use" });
    expect((await viewer.caller.attachments.operation({ id: ok! })).logs.map((l) => l.line)).toEqual(["address 10.77.0.9/24"]);
    // The other host's operation was not touched.
    expect((await t.db.operation.findUniqueOrThrow({ where: { id: theirs.operation.id } })).status).toBe("running");
  });

  it("work queued behind a running operation is handed out once it completes, and the completion says it is there", async () => {
    const h = await enroll("behind-1");
    const { attachment, operation } = await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name: "behind" }, ifName: "eth0", portMappings: [] });
    const [attach] = await h.agent.claim({ max: 4 });
    const detach = (await operator.caller.attachments.detach({ id: attachment.id })).operation!;
    expect(detach).toMatchObject({ kind: "detach", status: "queued" });
    expect(await h.agent.claim({ max: 4 })).toEqual([]);
    expect(await h.agent.complete({ operationId: operation.id, attempt: attach!.attempt, outcome: "succeeded", result: { ips: [] } })).toEqual({ status: "succeeded", more: true });
    const [next] = await h.agent.claim({ max: 4 });
    expect(next).toMatchObject({ operationId: detach.id, kind: "detach", attempt: 1 });
    expect(await h.agent.complete({ operationId: detach.id, attempt: 1, outcome: "succeeded" })).toEqual({ status: "succeeded", more: false });
    expect((await viewer.caller.attachments.get({ id: attachment.id })).state).toBe("detached");
  });

  it("with slots, the push stream claims for the agent and pushes the operations, never more than its free slots", async () => {
    const h = await enroll("push-1");
    const create = async (name: string) => (await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name }, ifName: "eth0", portMappings: [] })).operation;
    const stream = (await h.agent.work({ slots: 2 }))[Symbol.asyncIterator]();
    let pending: Promise<IteratorResult<WorkEvent>> | undefined;
    /** The next event, or null when none comes within `ms` (the request stays pending for the next call). */
    const next = async (ms = 2000): Promise<WorkEvent | null> => {
      pending ??= stream.next();
      const got = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), ms))]);
      if (got === null) return null;
      pending = undefined;
      return got.value as WorkEvent;
    };
    const pushed = (e: WorkEvent | null) => (e && e.kind === "operations" ? { ids: e.ops.map((op) => op.operationId), more: e.more } : e);
    try {
      expect((await next())?.kind).toBe("open");
      const a1 = await create("push-a1");
      const e1 = await next();
      expect(pushed(e1)).toEqual({ ids: [a1.id], more: false });
      // Claimed as by the claim call: the attempt is fenced, the attachment applying, the config with it.
      expect(e1).toMatchObject({ ops: [{ attempt: 1, kind: "attach", attachment: { containerId: "push-a1" }, conflist: { name: "agentnet" } }] });
      expect((await t.db.operation.findUniqueOrThrow({ where: { id: a1.id } })).status).toBe("running");
      const a2 = await create("push-a2");
      const a3 = await create("push-a3");
      // One slot is free: a2 comes, a3 waits.
      expect(pushed(await next())).toEqual({ ids: [a2.id], more: false });
      expect(await next(300)).toBeNull();
      // The agent, full, claims once an operation ends.
      await h.agent.complete({ operationId: a1.id, attempt: 1, outcome: "succeeded", result: { ips: [] } });
      expect((await h.agent.claim({ max: 1 })).map((op) => op.operationId)).toEqual([a3.id]);
      await h.agent.complete({ operationId: a2.id, attempt: 1, outcome: "succeeded", result: { ips: [] } });
      await h.agent.complete({ operationId: a3.id, attempt: 1, outcome: "succeeded", result: { ips: [] } });
      // The stream was waiting: new work is pushed as it comes.
      const a4 = await create("push-a4");
      expect(pushed(await next())).toEqual({ ids: [a4.id], more: false });
      await h.agent.complete({ operationId: a4.id, attempt: 1, outcome: "succeeded", result: { ips: [] } });
      // A burst while the agent reads: one claim for all of it, a full page, "more" behind it.
      const burst = [await create("push-a5"), await create("push-a6"), await create("push-a7")];
      expect(pushed(await next())).toEqual({ ids: burst.slice(0, 2).map((op) => op.id), more: true });
    } finally {
      await stream.return?.();
    }
  });

  it("claims hand out pages in creation order, each operation with its attachment and its revision's config", async () => {
    const h = await enroll("page-1");
    const created = [];
    for (let i = 0; i < 20; i++) created.push((await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name: `pg-${i}` }, ifName: "eth0", portMappings: [] })).operation.id);
    const first = await h.agent.claim({ max: 16 });
    const second = await h.agent.claim({ max: 16 });
    expect(await h.agent.claim({ max: 16 })).toEqual([]);
    expect([...first, ...second].map((op) => op.operationId)).toEqual(created);
    expect(first).toHaveLength(16);
    for (const [i, op] of [...first, ...second].entries()) {
      expect(op).toMatchObject({ attempt: 1, kind: "attach", attachment: { containerId: `pg-${i}`, targetKind: "netns", target: `pg-${i}`, networkName: "agentnet", networkRevision: 1 } });
      expect((op.conflist as { name: string }).name).toBe("agentnet");
    }
    const states = await t.db.attachment.findMany({ where: { hostId: h.hostId }, select: { state: true } });
    expect(states.map((a) => a.state)).toEqual(Array(20).fill("applying"));
  });

  it("concurrent claims (console replicas on one database) never hand out one operation twice", async () => {
    const h = await enroll("race-1");
    const created = new Set<string>();
    for (let i = 0; i < 24; i++) created.add((await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name: `race-${i}` }, ifName: "eth0", portMappings: [] })).operation.id);
    // Eight claims at once (on PostgreSQL, eight connections of the pool racing for the same rows).
    const pages = await Promise.all(Array.from({ length: 8 }, () => h.agent.claim({ max: 8 })));
    const claimed = pages.flat();
    expect(new Set(claimed.map((op) => op.operationId)).size).toBe(claimed.length);
    for (const op of claimed) expect(created.has(op.operationId)).toBe(true);
    expect(claimed.every((op) => op.attempt === 1)).toBe(true);
    // What a losing claim skipped is still there for the next one; nothing was claimed twice in the database.
    const rest = await h.agent.claim({ max: 64 });
    expect(claimed.length + rest.length).toBe(24);
    const rows = await t.db.operation.findMany({ where: { id: { in: [...created] } }, select: { status: true, attempt: true } });
    expect(rows.every((r) => r.status === "running" && r.attempt === 1)).toBe(true);
  });

  it("an agent sees and touches only its own host's work", async () => {
    const mine = await enroll("iso-1");
    const other = await enroll("iso-2");
    const { operation } = await operator.caller.attachments.create({ hostId: mine.hostId, networkId, target: { kind: "netns", name: "web" }, ifName: "eth0", portMappings: [] });
    expect(await other.agent.claim({ max: 4 })).toEqual([]);
    const [claimed] = await mine.agent.claim({ max: 4 });
    expect((await trpcError(other.agent.complete({ operationId: operation.id, attempt: claimed!.attempt, outcome: "succeeded" }))).code).toBe("NOT_FOUND");
    // Job lines: another host's operation is refused like a missing one; a stale attempt's too; the rest are stored.
    const otherOp = (await operator.caller.attachments.create({ hostId: other.hostId, networkId, target: { kind: "netns", name: "web2" }, ifName: "eth0", portMappings: [] })).operation;
    const [otherClaim] = await other.agent.claim({ max: 4 });
    const logged = await other.agent.log({
      entries: [
        { operationId: operation.id, attempt: claimed!.attempt, lines: [{ stream: "agent", line: "not yours" }] },
        { operationId: otherOp.id, attempt: otherClaim!.attempt + 1, lines: [{ stream: "agent", line: "stale" }] },
        { operationId: otherOp.id, attempt: otherClaim!.attempt, lines: [{ stream: "agent", line: "kept" }] },
      ],
    });
    expect(logged).toEqual({
      stored: 1,
      refused: [
        { operationId: operation.id, attempt: claimed!.attempt, reason: "notFound" },
        { operationId: otherOp.id, attempt: otherClaim!.attempt + 1, reason: "staleAttempt" },
      ],
    });
    expect((await viewer.caller.attachments.operation({ id: operation.id })).logs).toEqual([]);
    expect((await viewer.caller.attachments.operation({ id: otherOp.id })).logs.map((l) => l.line)).toEqual(["kept"]);
    expect((await other.agent.desired()).map((d) => d.containerId)).toEqual(["web2"]);
    expect((await mine.agent.desired()).map((d) => d.containerId)).toEqual(["web"]);
  });

  it("an expired claim is re-issued as a new attempt and the old attempt's result is refused", async () => {
    const h = await enroll("stale-1");
    const { operation, attachment } = await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "pid", pid: 4242 }, ifName: "eth1", portMappings: [] });
    expect(attachment.containerId).toBe("pid-4242");
    const [first] = await h.agent.claim({ max: 1 });
    expect(first!.attempt).toBe(1);
    await t.db.operation.update({ where: { id: operation.id }, data: { claimedUntil: new Date(Date.now() - 1000) } });
    const [second] = await h.agent.claim({ max: 1 });
    expect(second).toMatchObject({ operationId: operation.id, attempt: 2 });
    expect((await trpcError(h.agent.complete({ operationId: operation.id, attempt: 1, outcome: "succeeded", result: { ips: [] } }))).code).toBe("CONFLICT");
    expect((await trpcError(h.agent.extend({ operationId: operation.id, attempt: 1 }))).code).toBe("CONFLICT");
    await h.agent.extend({ operationId: operation.id, attempt: 2 });
    await h.agent.complete({ operationId: operation.id, attempt: 2, outcome: "succeeded", result: { ips: [] } });
    expect((await viewer.caller.attachments.get({ id: attachment.id })).state).toBe("ready");
  });

  it("claims the agent does not hold, made before its stream opened or its poll, are handed out again at once; held, newer and other hosts' claims stay", async () => {
    const h = await enroll("hold-1");
    const other = await enroll("hold-2");
    const make = (hostId: string, name: string) => operator.caller.attachments.create({ hostId, networkId, target: { kind: "netns", name }, ifName: "eth0", portMappings: [] });
    const held = await make(h.hostId, "held");
    const lost = await make(h.hostId, "lost");
    const theirs = await make(other.hostId, "theirs");
    expect((await h.agent.claim({ max: 2 })).map((o) => o.operationId).sort()).toEqual([held.operation.id, lost.operation.id].sort());
    expect(await other.agent.claim({ max: 1 })).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 5));
    const openedAt = new Date();
    await new Promise((r) => setTimeout(r, 5));
    const newer = await make(h.hostId, "newer");
    expect((await h.agent.claim({ max: 1 })).map((o) => o.operationId)).toEqual([newer.operation.id]);

    expect(await h.agent.holding({ openedAt, operationIds: [held.operation.id] })).toEqual({ released: 1 });
    const running = async (id: string) => (await t.db.operation.findUniqueOrThrow({ where: { id } })).attempt;
    expect([await running(held.operation.id), await running(newer.operation.id), await running(theirs.operation.id)]).toEqual([1, 1, 1]);
    // The lost claim is due again at once: a new attempt; the old attempt's late result is refused.
    expect((await h.agent.claim({ max: 4 })).map((o) => [o.operationId, o.attempt])).toEqual([[lost.operation.id, 2]]);
    expect((await trpcError(h.agent.complete({ operationId: lost.operation.id, attempt: 1, outcome: "succeeded", result: { ips: [] } }))).code).toBe("CONFLICT");
    expect(await h.agent.holding({ openedAt: new Date(), operationIds: [held.operation.id, newer.operation.id, lost.operation.id] })).toEqual({ released: 0 });

    // The long-poll fallback: its holding list releases claims made before the poll, which then hands them out.
    await new Promise((r) => setTimeout(r, 5));
    expect((await h.agent.poll({ max: 4, waitMs: 0, holding: [held.operation.id, newer.operation.id] })).map((o) => [o.operationId, o.attempt])).toEqual([[lost.operation.id, 3]]);
    expect((await trpcError(h.agent.holding({ openedAt: new Date(), operationIds: ["../x"] }))).code).toBe("BAD_REQUEST");
  });

  it("a claim that expired on its last attempt fails the operation at the next claim; other work is still handed out", async () => {
    const h = await enroll("expire-1");
    const dead = await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name: "dead" }, ifName: "eth0", portMappings: [] });
    const [c1] = await h.agent.claim({ max: 1 });
    expect(c1!.operationId).toBe(dead.operation.id);
    // The agent never reports back, and this was its last attempt.
    await t.db.operation.update({ where: { id: dead.operation.id }, data: { claimedUntil: new Date(Date.now() - 1000), maxAttempts: 1 } });
    const live = await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "netns", name: "live" }, ifName: "eth0", portMappings: [] });
    const claimed = await h.agent.claim({ max: 4 });
    expect(claimed.map((c) => c.operationId)).toEqual([live.operation.id]);
    const op = await t.db.operation.findUniqueOrThrow({ where: { id: dead.operation.id } });
    expect(op).toMatchObject({ status: "failed", attempt: 1, claimedUntil: null, error: "gave up after 1 attempts: the agent did not report back within its claim" });
    expect(op.finishedAt).not.toBeNull();
    expect(await viewer.caller.attachments.get({ id: dead.attachment.id })).toMatchObject({ state: "failed", lastError: op.error });
    // Its late result is refused.
    expect((await trpcError(h.agent.complete({ operationId: dead.operation.id, attempt: 1, outcome: "succeeded", result: { ips: [] } }))).code).toBe("CONFLICT");
  });

  it("a retryable failure backs off and retries; a final one fails the attachment, which can be retried", async () => {
    const h = await enroll("retry-1");
    const { operation, attachment } = await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "sandbox" }, ifName: "eth0", portMappings: [] });
    const [c1] = await h.agent.claim({ max: 1 });
    expect((await h.agent.complete({ operationId: operation.id, attempt: c1!.attempt, outcome: "failed", error: "plugin timed out", retryable: true })).status).toBe("queued");
    const queued = await t.db.operation.findUniqueOrThrow({ where: { id: operation.id } });
    // backoffMs(1): 2 s from the close; not finished; the attachment says why it waits.
    expect(queued.notBefore.getTime() - Date.now()).toBeGreaterThan(1000);
    expect(queued.notBefore.getTime() - Date.now()).toBeLessThanOrEqual(2000);
    expect(queued).toMatchObject({ status: "queued", finishedAt: null, claimedUntil: null, error: "plugin timed out" });
    expect(await viewer.caller.attachments.get({ id: attachment.id })).toMatchObject({ state: "applying", lastError: "attempt 1 failed, retrying: plugin timed out" });
    expect(await h.agent.claim({ max: 1 })).toEqual([]);
    await t.db.operation.update({ where: { id: operation.id }, data: { notBefore: new Date() } });
    const [c2] = await h.agent.claim({ max: 1 });
    expect(c2!.attempt).toBe(2);
    await h.agent.complete({ operationId: operation.id, attempt: 2, outcome: "failed", error: "bridge: address in use", retryable: false });
    const failed = await viewer.caller.attachments.get({ id: attachment.id });
    expect(failed).toMatchObject({ state: "failed", lastError: "bridge: address in use" });
    const retried = await operator.caller.attachments.retry({ id: attachment.id });
    expect(retried.operation).toMatchObject({ kind: "attach", status: "queued", generation: failed.generation + 1 });
  });

  it("detach: at once when nothing was applied, else a detach operation; queued work can be cancelled", async () => {
    const h = await enroll("detach-1");
    const never = await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "sandbox" }, ifName: "eth0", portMappings: [] });
    expect((await operator.caller.attachments.detach({ id: never.attachment.id })).operation).toBeNull();
    expect((await viewer.caller.attachments.get({ id: never.attachment.id })).state).toBe("detached");
    expect((await t.db.operation.findUniqueOrThrow({ where: { id: never.operation.id } })).status).toBe("cancelled");
    expect(await h.agent.claim({ max: 4 })).toEqual([]);

    const applied = await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "sandbox" }, ifName: "eth0", portMappings: [] });
    const [c] = await h.agent.claim({ max: 4 });
    await h.agent.complete({ operationId: applied.operation.id, attempt: c!.attempt, outcome: "succeeded", result: { ips: [] } });
    const { operation: detachOp } = await operator.caller.attachments.detach({ id: applied.attachment.id });
    expect(detachOp).toMatchObject({ kind: "detach", status: "queued" });
    expect((await viewer.caller.attachments.get({ id: applied.attachment.id })).state).toBe("detaching");
    expect((await trpcError(operator.caller.attachments.cancelOperation({ id: detachOp!.id }))).code).toBe("CONFLICT");
    const [d] = await h.agent.claim({ max: 4 });
    expect(d).toMatchObject({ kind: "detach", operationId: detachOp!.id });
    await h.agent.complete({ operationId: detachOp!.id, attempt: d!.attempt, outcome: "succeeded" });
    expect((await viewer.caller.attachments.get({ id: applied.attachment.id })).state).toBe("detached");
    // Re-attaching the same container reuses the row with a new generation.
    const again = await operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "sandbox", name: applied.attachment.target }, ifName: "eth0", portMappings: [] });
    expect(again.attachment.id).toBe(applied.attachment.id);
    await operator.caller.attachments.cancelOperation({ id: again.operation.id });
    expect((await viewer.caller.attachments.get({ id: applied.attachment.id })).state).toBe("detached");
    expect(await t.db.auditEvent.count({ where: { action: "operations.cancel", targetId: again.operation.id } })).toBe(1);
  });

  it("refuses bad input before anything is written", async () => {
    const h = await enroll("bad-1");
    const before = await t.db.attachment.count();
    for (const bad of [
      { target: { kind: "netns", name: "../x" } },
      { target: { kind: "netns", name: "a b" } },
      { target: { kind: "pid", pid: 1 } },
      { target: { kind: "sandbox" }, ifName: "averyveryverylongname" },
      { target: { kind: "sandbox" }, containerId: "-x" },
      { target: { kind: "sandbox" }, portMappings: [{ hostPort: 0, containerPort: 80 }] },
      { target: { kind: "sandbox" }, portMappings: [{ hostPort: 65536, containerPort: 80 }] },
    ]) {
      const err = await trpcError(operator.caller.attachments.create({ hostId: h.hostId, networkId, ifName: "eth0", portMappings: [], ...bad } as never));
      expect(err.code, JSON.stringify(bad)).toBe("BAD_REQUEST");
    }
    expect(await t.db.attachment.count()).toBe(before);
    // Claims: 1 to 64 a call; log calls: 1 to 64 entries.
    for (const max of [0, 65]) expect((await trpcError(h.agent.claim({ max }))).code).toBe("BAD_REQUEST");
    expect((await trpcError(h.agent.log({ entries: [] }))).code).toBe("BAD_REQUEST");
  });

  it("a network in use on a host cannot be deleted; once detached it can", async () => {
    const h = await enroll("netdel-1");
    const net = await operator.caller.networks.create({ text: BRIDGE_CONFLIST("doomed", "10.78.0.0/24", "10.78.0.1"), comment: "" });
    const { attachment } = await operator.caller.attachments.create({ hostId: h.hostId, networkId: net.id, target: { kind: "sandbox" }, ifName: "eth0", portMappings: [] });
    const [c] = await h.agent.claim({ max: 1 });
    await h.agent.complete({ operationId: c!.operationId, attempt: c!.attempt, outcome: "succeeded", result: { ips: [] } });
    const err = await trpcError(operator.caller.networks.delete({ id: net.id, confirmName: "doomed" }));
    expect(err.code).toBe("CONFLICT");
    expect(err.message).toContain("detach it first");
    const { operation } = await operator.caller.attachments.detach({ id: attachment.id });
    const [d] = await h.agent.claim({ max: 1 });
    await h.agent.complete({ operationId: operation!.id, attempt: d!.attempt, outcome: "succeeded" });
    await operator.caller.networks.delete({ id: net.id, confirmName: "doomed" });
    expect(await t.db.attachment.count({ where: { id: attachment.id } })).toBe(0);
  });

  it("port mappings: not the console's port, not twice on a host, host IPs only the host's own (HARDENING 4)", async () => {
    const h = await enroll("ports-1");
    const attach = (portMappings: { hostPort: number; containerPort: number; protocol: "tcp" | "udp"; hostIP?: string }[], name?: string) =>
      operator.caller.attachments.create({ hostId: h.hostId, networkId, target: { kind: "sandbox", ...(name ? { name } : {}) }, ifName: "eth0", portMappings });
    expect((await trpcError(attach([{ hostPort: 3000, containerPort: 80, protocol: "tcp" }]))).message).toContain("console's own");
    expect((await trpcError(attach([{ hostPort: 8081, containerPort: 80, protocol: "tcp" }, { hostPort: 8081, containerPort: 81, protocol: "tcp" }]))).message).toContain("mapped twice");
    await attach([{ hostPort: 8082, containerPort: 80, protocol: "tcp" }], "p1");
    const taken = await trpcError(attach([{ hostPort: 8082, containerPort: 80, protocol: "tcp" }], "p2"));
    expect(taken.code).toBe("CONFLICT");
    expect(taken.message).toContain("already mapped by p1/eth0");
    await attach([{ hostPort: 8082, containerPort: 80, protocol: "udp" }], "p3");
    expect((await trpcError(attach([{ hostPort: 8083, containerPort: 80, protocol: "tcp", hostIP: "192.0.2.55" }], "p4"))).message).toContain("not an address of this host");
    await h.agent.heartbeat({ agentVersion: "", inventory: { hostname: "ports-1", kernel: "", addresses: [{ ifName: "eth0", address: "192.0.2.55/24" }], plugins: [], cniPath: [], netnsDir: "/run/netns", namespaces: [], confDir: "", confFiles: [], cacheDir: "", cachedAttachments: [], ipForward: { v4: null, v6: null }, tools: { nft: false, iptables: false, ip: true }, masquerade: [] } });
    await attach([{ hostPort: 8083, containerPort: 80, protocol: "tcp", hostIP: "192.0.2.55" }], "p4");
    expect(await t.db.attachment.count({ where: { hostId: h.hostId } })).toBe(3);
  });
});
