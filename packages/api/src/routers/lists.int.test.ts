import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest, trpcError } from "../testing";

let t: ApiTest;
let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;

beforeAll(async () => {
  t = await setupApiTest();
  admin = await t.callerAs("admin", "lists-admin");
  operator = await t.callerAs("operator", "lists-op");
  viewer = await t.callerAs("viewer", "lists-viewer");
});
afterAll(() => t?.close());

/** Every page of a list, following nextCursor, bounded. */
async function allPages<T>(page: (cursor?: string) => Promise<{ items: T[]; nextCursor: string | null }>): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const p = await page(cursor);
    out.push(...p.items);
    if (!p.nextCursor) return out;
    cursor = p.nextCursor;
  }
  throw new Error("more than 100 pages");
}

describe("networks.list", () => {
  it("pages by keyset in each sort order without gaps or repeats, and searches names and conflists", async () => {
    const names = ["pg-c", "pg-a", "pg-e", "pg-b", "pg-d", "pg-f", "pg-g"];
    for (const [i, name] of names.entries()) await operator.caller.networks.create({ text: BRIDGE_CONFLIST(name, `10.60.${i}.0/24`, `10.60.${i}.1`), comment: "" });
    const byName = await allPages((cursor) => viewer.caller.networks.list({ q: "pg-", sort: "name", dir: "asc", limit: 3, cursor }));
    expect(byName.map((n) => n.name)).toEqual([...names].sort());
    const desc = await allPages((cursor) => viewer.caller.networks.list({ q: "pg-", sort: "name", dir: "desc", limit: 2, cursor }));
    expect(desc.map((n) => n.name)).toEqual([...names].sort().reverse());
    const byCreated = await allPages((cursor) => viewer.caller.networks.list({ q: "pg-", sort: "createdAt", dir: "asc", limit: 2, cursor }));
    expect(byCreated.map((n) => n.name)).toEqual(names);
    // What the latest revision says comes with each row.
    expect(byName[0]).toMatchObject({ name: "pg-a", latestRevision: 1, cniVersion: "1.0.0", plugins: ["bridge", "portmap"], lastAuthor: "lists-op", attachments: 0 });
    expect(byName[0]!.updatedAt).toBeInstanceOf(Date);
    // An edit moves a network to the front of "recently updated", with its new revision's content.
    const b = byName.find((n) => n.name === "pg-b")!;
    await operator.caller.networks.update({ id: b.id, text: BRIDGE_CONFLIST("pg-b", "10.61.0.0/24", "10.61.0.1"), comment: "", expectedRevision: 1 });
    const recent = await viewer.caller.networks.list({ q: "pg-", sort: "updatedAt", dir: "desc", limit: 1 });
    expect(recent.items.map((n) => [n.name, n.latestRevision])).toEqual([["pg-b", 2]]);
    // The search reads the latest conflist: the new subnet finds pg-b, the old one nothing.
    expect((await viewer.caller.networks.list({ q: "10.61.0." })).items.map((n) => n.name)).toEqual(["pg-b"]);
    expect((await viewer.caller.networks.list({ q: "10.60.3." })).items).toEqual([]);
    // Wildcards are literal; no input at all is the first page by name.
    expect((await viewer.caller.networks.list({ q: "pg%" })).items).toEqual([]);
    expect((await viewer.caller.networks.list()).items.length).toBeGreaterThanOrEqual(names.length);
  });

  it("refuses a cursor it did not make, and anonymous callers", async () => {
    expect((await trpcError(viewer.caller.networks.list({ cursor: "bm90LWEtY3Vyc29y" }))).code).toBe("BAD_REQUEST");
    expect((await trpcError(viewer.caller.networks.list({ cursor: "has spaces" }))).code).toBe("BAD_REQUEST");
    expect((await trpcError(viewer.caller.networks.list({ limit: 5000 }))).code).toBe("BAD_REQUEST");
    expect((await trpcError(t.anonymous.networks.list())).code).toBe("UNAUTHORIZED");
  });
});

describe("hosts.list", () => {
  it("pages, sorts by name and last seen, searches names and versions, and counts present attachments", async () => {
    const hosts = [];
    for (const name of ["hl-b", "hl-a", "hl-c"]) hosts.push(await t.enrollHost(name, { agentVersion: `v-${name}` }));
    await hosts[2]!.agent.heartbeat({ agentVersion: "v-hl-c" });
    const byName = await allPages((cursor) => viewer.caller.hosts.list({ q: "hl-", limit: 2, cursor }));
    expect(byName.map((h) => h.name)).toEqual(["hl-a", "hl-b", "hl-c"]);
    expect(byName.find((h) => h.name === "hl-c")).toMatchObject({ liveness: "online", agentVersion: "v-hl-c" });
    const seen = await allPages((cursor) => viewer.caller.hosts.list({ q: "hl-", sort: "lastSeenAt", dir: "desc", limit: 1, cursor }));
    expect(seen[0]!.name).toBe("hl-c");
    expect(seen).toHaveLength(3);
    expect((await viewer.caller.hosts.list({ q: "V-HL-A" })).items.map((h) => h.name)).toEqual(["hl-a"]);
  });
});

describe("attachments.list and purge", () => {
  let hostId: string;
  let networkId: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    hostId = (await t.enrollHost("al-host", { agentVersion: "v-al-host" })).hostId;
    networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("al-net", "10.62.0.0/24", "10.62.0.1"), comment: "" })).id;
    const states = ["pending", "applying", "ready", "failed", "detaching", "detached"] as const;
    for (const [i, state] of states.entries()) {
      const made = await operator.caller.attachments.create({
        hostId,
        networkId,
        target: { kind: "netns", name: `al-${state}` },
        ifName: "eth0",
        portMappings: state === "ready" ? [{ hostPort: 18080, containerPort: 80, protocol: "tcp" }] : [],
      });
      ids[state] = made.attachment.id;
      // States as the agent's reports would leave them (the agent path has its own tests).
      await t.db.attachment.update({
        where: { id: made.attachment.id },
        data: { state, present: state !== "detaching" && state !== "detached", result: { cniVersion: "1.1.0", ips: [{ address: `10.62.0.${10 + i}/24` }] } },
      });
    }
  });

  it("shows ready and in-progress attachments unless asked for other states", async () => {
    const byDefault = await viewer.caller.attachments.list({ networkId });
    expect(byDefault.items.map((a) => a.containerId).sort()).toEqual(["al-applying", "al-detaching", "al-pending", "al-ready"]);
    const gone = await viewer.caller.attachments.list({ networkId, states: ["failed", "detached"] });
    expect(gone.items.map((a) => a.containerId).sort()).toEqual(["al-detached", "al-failed"]);
    expect((await trpcError(viewer.caller.attachments.list({ states: ["gone" as "ready"] }))).code).toBe("BAD_REQUEST");
    expect((await trpcError(viewer.caller.attachments.list({ states: [] }))).code).toBe("BAD_REQUEST");
  });

  it("carries port mappings, the older-revision mark and released addresses", async () => {
    const all = await viewer.caller.attachments.list({ networkId, states: ["ready", "detached"], sort: "containerId", dir: "asc" });
    const [detached, ready] = all.items;
    expect(ready).toMatchObject({ containerId: "al-ready", portMappings: [{ hostPort: 18080, containerPort: 80, protocol: "tcp" }], isOlderRevision: false, addressesReleased: false, host: { name: "al-host" } });
    expect(detached).toMatchObject({ containerId: "al-detached", portMappings: [], addressesReleased: true });
    await operator.caller.networks.update({ id: networkId, text: BRIDGE_CONFLIST("al-net", "10.62.0.0/23", "10.62.0.1"), comment: "", expectedRevision: 1 });
    const after = await viewer.caller.attachments.list({ networkId, states: ["ready", "detached"], sort: "containerId", dir: "asc" });
    expect(after.items.map((a) => [a.containerId, a.networkRevision, a.latestRevision, a.isOlderRevision])).toEqual([
      ["al-detached", 1, 2, false],
      ["al-ready", 1, 2, true],
    ]);
  });

  it("pages in each sort order and searches container, target, network and host names", async () => {
    const every = ["pending", "applying", "ready", "failed", "detaching", "detached"] as const;
    const paged = await allPages((cursor) => viewer.caller.attachments.list({ hostId, states: [...every], sort: "containerId", dir: "desc", limit: 4, cursor }));
    expect(paged.map((a) => a.containerId)).toEqual(every.map((s) => `al-${s}`).sort().reverse());
    const byState = await allPages((cursor) => viewer.caller.attachments.list({ hostId, states: [...every], sort: "state", limit: 1, cursor }));
    // Lifecycle order (the enum's), not the alphabet's: descending, the list's default direction.
    expect(byState.map((a) => a.state)).toEqual([...every].reverse());
    expect((await viewer.caller.attachments.list({ q: "AL-REA" })).items.map((a) => a.containerId)).toEqual(["al-ready"]);
    expect((await viewer.caller.attachments.list({ q: "al-host", states: [...every] })).items).toHaveLength(6);
    expect((await viewer.caller.attachments.list({ q: "al-net", hostId: "someone-else" })).items).toEqual([]);
  });

  it("purges by hand only detached attachments, as an operator, with their operations, audited", async () => {
    expect((await trpcError(viewer.caller.attachments.purge({ ids: [ids.detached!] }))).code).toBe("FORBIDDEN");
    const refused = await trpcError(operator.caller.attachments.purge({ ids: [ids.detached!, ids.ready!] }));
    expect(refused.code).toBe("CONFLICT");
    expect(refused.message).toContain("al-ready/eth0 on al-net is ready");
    expect(await t.db.attachment.count({ where: { id: { in: [ids.detached!, ids.ready!] } } })).toBe(2);
    expect((await trpcError(operator.caller.attachments.purge({ ids: ["no-such-attachment"] }))).code).toBe("NOT_FOUND");
    expect(await t.db.operation.count({ where: { attachmentId: ids.detached! } })).toBe(1);
    expect(await operator.caller.attachments.purge({ ids: [ids.detached!] })).toEqual({ purged: 1, more: false });
    expect(await t.db.attachment.count({ where: { id: ids.detached! } })).toBe(0);
    expect(await t.db.operation.count({ where: { attachmentId: ids.detached! } })).toBe(0);
    const audit = await t.db.auditEvent.findFirstOrThrow({ where: { action: "attachments.purge", targetId: ids.detached! } });
    expect(audit).toMatchObject({ actorName: "lists-op", targetName: "al-detached/eth0 on al-net", outcome: "success" });
    // The create's audit event still names what it created, though the row is gone.
    const created = await viewer.caller.audit.list({ q: "al-detached", action: "attachments.create" });
    expect(created.items.map((e) => e.targetName)).toEqual(["al-detached/eth0 on al-net"]);
  });
});

describe("purge after an age, on a timer", () => {
  it("purges only rows detached longer than the age, at most a batch per run, as the system", async () => {
    const { startDetachedPurge, purgeDetachedAttachments } = await import("../domain/attachmentPurge");
    const { hostId } = await t.enrollHost("purge-host", { agentVersion: "v-purge-host" });
    const networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("purge-net", "10.63.0.0/24", "10.63.0.1"), comment: "" })).id;
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      const a = await operator.caller.attachments.create({ hostId, networkId, target: { kind: "netns", name: `old-${i}` }, ifName: "eth0", portMappings: [] });
      await operator.caller.attachments.detach({ id: a.attachment.id }); // never applied: detached at once
      made.push(a.attachment.id);
    }
    const hourAgo = new Date(Date.now() - 3600_000);
    await t.db.attachment.updateMany({ where: { id: { in: made.slice(0, 3) } }, data: { updatedAt: hourAgo } });
    const ctx = { db: t.db, session: null, meta: { requestId: "r", sourceIp: "", userAgent: "" } };
    // Bounded: two of the three old ones, then the last, then nothing; the two recent ones stay.
    const cutoff = new Date(Date.now() - 60_000);
    expect(await purgeDetachedAttachments(ctx, { olderThan: cutoff, limit: 2, actorName: "system" })).toEqual({ purged: 2, more: true });
    const timer = startDetachedPurge({ db: t.db, maxAgeMs: 60_000, intervalMs: 3600_000 });
    try {
      expect(await timer.runOnce()).toEqual({ purged: 1, more: false });
      expect(await timer.runOnce()).toEqual({ purged: 0, more: false });
    } finally {
      timer.stop();
    }
    expect((await t.db.attachment.findMany({ where: { id: { in: made } }, select: { id: true } })).map((a) => a.id).sort()).toEqual(made.slice(3).sort());
    const events = await t.db.auditEvent.findMany({ where: { action: "attachments.purge", actorName: "system" }, orderBy: { id: "asc" } });
    expect(events.map((e) => (e.after as { purged: number }).purged)).toEqual([2, 1]);
  });
});

describe("audit.list", () => {
  it("finds events by the target's name, kept after the target is deleted", async () => {
    const net = await operator.caller.networks.create({ text: BRIDGE_CONFLIST("demo-audit", "10.64.0.0/24", "10.64.0.1"), comment: "" });
    await operator.caller.networks.update({ id: net.id, text: BRIDGE_CONFLIST("demo-audit", "10.64.1.0/24", "10.64.1.1"), comment: "", expectedRevision: 1 });
    await operator.caller.networks.delete({ id: net.id, confirmName: "demo-audit" });
    const found = await viewer.caller.audit.list({ q: "DEMO" });
    expect(found.items.map((e) => [e.action, e.targetName, e.targetId])).toEqual([
      ["networks.delete", "demo-audit", net.id],
      ["networks.update", "demo-audit", net.id],
      ["networks.create", "demo-audit", net.id],
    ]);
    const oldest = await viewer.caller.audit.list({ q: "demo-audit", dir: "asc", limit: 1 });
    expect(oldest.items.map((e) => e.action)).toEqual(["networks.create"]);
    const next = await viewer.caller.audit.list({ q: "demo-audit", dir: "asc", limit: 1, cursor: oldest.nextCursor! });
    expect(next.items.map((e) => e.action)).toEqual(["networks.update"]);
    // Names of other kinds of targets: a user whose role changed.
    const user = await admin.caller.users.create({ username: "demo-user", password: "a-long-password-1", role: "viewer" });
    await admin.caller.users.setRole({ id: user.id, role: "operator" });
    const roles = await viewer.caller.audit.list({ q: "demo-user", action: "users." });
    expect(roles.items.every((e) => e.targetName === "demo-user")).toBe(true);
    expect(roles.items.length).toBeGreaterThanOrEqual(2);
  });
});
