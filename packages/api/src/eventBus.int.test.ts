import { openNotifyChannel } from "@switchyard/db";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { authenticateAgent } from "./domain/hosts";
import { EVENTS_CHANNEL } from "./eventBusDb";
import { decodeEnvelope } from "./eventWire";
import type { WorkEvent } from "./routers/agent";
import { SESSION_RECHECK_MS } from "./routers/events";
import { openReplica, reader, type Replica } from "./testReplicas";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "./testing";

// Two console replicas on one database (PostgreSQL: two LISTEN connections; PGlite: the
// in-process path, both buses on the one instance). Runs on both kinds (SWITCHYARD_TEST_DB).
let t: ApiTest;
let a: Replica;
let b: Replica;
type User = Awaited<ReturnType<ApiTest["createUserRow"]>>;
let admin: User;
let operator: User;
let viewer: User;
let networkId: string;

beforeAll(async () => {
  t = await setupApiTest();
  [a, b] = await Promise.all([openReplica(t, "a"), openReplica(t, "b")]);
  [admin, operator, viewer] = await Promise.all([t.createUserRow("ada", "admin"), t.createUserRow("otto", "operator"), t.createUserRow("vera", "viewer")]);
  networkId = (await b.caller(t.sessionOf(operator)).networks.create({ text: BRIDGE_CONFLIST("replnet", "10.71.0.0/24", "10.71.0.1"), comment: "" })).id;
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await t?.close();
});

async function enrollOn(replica: Replica, hostname: string) {
  const { token } = await replica.caller(t.sessionOf(admin)).hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
  const enrolled = await replica.agentCaller({ hostId: "", hostName: "" }).enroll({ joinToken: token, hostname, agentVersion: "test" });
  const identity = (await authenticateAgent(t.db, enrolled.credential))!;
  return { hostId: enrolled.hostId, identity };
}

const attach = (replica: Replica, hostId: string, name: string) =>
  replica.caller(t.sessionOf(operator)).attachments.create({ hostId, networkId, target: { kind: "netns", name }, ifName: "eth0", portMappings: [] });

describe(`events across console replicas (${process.env.SWITCHYARD_TEST_DB ?? "pglite"})`, () => {
  it("an attachment created through replica B wakes the agent's push stream on replica A, and A's browsers see it", async () => {
    const host = await enrollOn(a, "repl-1");
    const work = reader<WorkEvent>(await a.agentCaller(host.identity).work({ slots: 4 }));
    const browser = reader(await a.caller(t.sessionOf(viewer)).events.stream());
    try {
      expect((await work.next())?.kind).toBe("open");
      const started = performance.now();
      const { operation } = await attach(b, host.hostId, "repl-1a");
      // The agent's own safety poll is 15 s: this bound shows the push, not the poll.
      const pushed = await work.next(2000);
      const delayMs = performance.now() - started;
      expect(pushed).toMatchObject({ kind: "operations", ops: [{ operationId: operation.id, kind: "attach" }] });
      expect(delayMs).toBeLessThan(2000);
      const seen = await browser.until((m) => m.topic === "operation" && m.event.operationId === operation.id && m.event.status === "queued");
      expect(seen).toMatchObject({ topic: "operation", event: { kind: "status", hostId: host.hostId } });
      // A network change through B reaches A's browsers too, with its fields intact (the date revived).
      await b.caller(t.sessionOf(operator)).networks.create({ text: BRIDGE_CONFLIST("replnet-2", "10.72.0.0/24", "10.72.0.1"), comment: "" });
      const change = await browser.until((m) => m.topic === "network");
      expect(change).toMatchObject({ topic: "network", event: { kind: "created", name: "replnet-2", actor: "otto" } });
      expect(change?.topic === "network" && change.event.at instanceof Date).toBe(true);
    } finally {
      await work.close();
      await browser.close();
    }
  });

  it("a browser stream listens once the procedure returns, before it is read (tRPC says \"connected\" first, and the browser re-reads on that)", async () => {
    const stream = await a.caller(t.sessionOf(viewer)).events.stream();
    // Not read yet (the reader below starts reading).
    a.deps.events.publish("operation", { kind: "status", operationId: "op-before-read", attachmentId: "att-1", hostId: "h-1", status: "succeeded" });
    const browser = reader(stream);
    try {
      expect(await browser.next(3000)).toEqual({ topic: "operation", event: { kind: "status", operationId: "op-before-read", attachmentId: "att-1", hostId: "h-1", status: "succeeded" } });
    } finally {
      await browser.close();
    }
  });

  it("browsers get only what they may see: no agent-only host events, and no stream without a session", async () => {
    const browser = reader(await a.caller(t.sessionOf(viewer)).events.stream());
    try {
      b.deps.events.publish("host", { kind: "work", hostId: "h-agent-only" });
      b.deps.events.publish("host", { kind: "reconcile", hostId: "h-agent-only" });
      b.deps.events.publish("host", { kind: "seen", hostId: "h-visible" });
      const got: unknown[] = [];
      const visible = await browser.until((m) => (got.push(m), m.topic === "host" && m.event.hostId === "h-visible"));
      expect(visible).toEqual({ topic: "host", event: { kind: "seen", hostId: "h-visible" } });
      expect(got.filter((m) => (m as { event: { hostId?: string } }).event.hostId === "h-agent-only")).toEqual([]);
    } finally {
      await browser.close();
    }
    await expect(t.anonymous.events.stream()).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });

  it("a browser stream ends with UNAUTHORIZED once its session is gone (signed out, disabled or expired)", async () => {
    const user = await t.createUserRow("sam", "viewer");
    const session = { ...t.sessionOf(user), id: `stream-session-${user.id}` };
    await t.db.session.create({ data: { id: session.id, userId: user.id, expiresAt: session.expiresAt } });
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      const stream = reader(await a.caller(session).events.stream());
      await vi.advanceTimersByTimeAsync(SESSION_RECHECK_MS);
      b.deps.events.publish("host", { kind: "seen", hostId: "while-signed-in" });
      expect(await stream.until((m) => m.topic === "host")).toEqual({ topic: "host", event: { kind: "seen", hostId: "while-signed-in" } });
      await t.db.session.delete({ where: { id: session.id } });
      await vi.advanceTimersByTimeAsync(SESSION_RECHECK_MS);
      await expect(stream.next(3000)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    } finally {
      vi.useRealTimers();
    }
  });

  it("a burst in one tick goes out as one NOTIFY (or as few as the payload limit needs), duplicates once", async () => {
    const notifications: string[] = [];
    const counter = openNotifyChannel(t.url, EVENTS_CHANNEL, { onMessage: (p) => notifications.push(p), onConnected: () => {} }, { applicationName: "switchyard-events-counter" });
    await counter.ready;
    const heard = new Set<string>();
    const stop = new AbortController();
    const listening = (async () => {
      for await (const e of a.deps.events.subscribe("host", stop.signal)) if (e.kind === "work" && e.hostId.startsWith("burst-")) heard.add(e.hostId);
    })();
    try {
      for (let i = 0; i < 300; i++) b.deps.events.publish("host", { kind: "work", hostId: `burst-${i % 150}` });
      const deadline = Date.now() + 3000;
      while (heard.size < 150 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(heard.size).toBe(150);
      await new Promise((r) => setTimeout(r, 100));
      const fromBurst = notifications.map((p) => decodeEnvelope(p)!).filter((e) => e.events.some(([, ev]) => (ev as { hostId: string }).hostId.startsWith("burst-")));
      // 150 distinct events of ~50 bytes: two payloads of ≤ 7900 bytes; 300 publishes would be 300 NOTIFYs unbatched.
      expect(fromBurst.length).toBeGreaterThanOrEqual(1);
      expect(fromBurst.length).toBeLessThanOrEqual(2);
      expect(fromBurst.flatMap((e) => e.events)).toHaveLength(150);
    } finally {
      stop.abort();
      await listening;
      await counter.close();
    }
  });

  it("job lines are a doorbell: the reader on the other replica reads them by query after its last line id", async () => {
    const host = await enrollOn(a, "repl-log");
    const { operation } = await attach(a, host.hostId, "repl-log-1");
    const agent = a.agentCaller(host.identity);
    const [claimed] = await agent.claim({ max: 1 });
    const browser = reader(await b.caller(t.sessionOf(viewer)).events.stream());
    const viewerOnB = b.caller(t.sessionOf(viewer));
    try {
      await agent.log({ entries: [{ operationId: operation.id, attempt: claimed!.attempt, lines: [{ stream: "stderr", line: "first" }, { stream: "stderr", line: "second" }] }] });
      const bell = await browser.until((m) => m.topic === "operation" && m.event.kind === "log");
      expect(bell).toEqual({ topic: "operation", event: { kind: "log", operationId: operation.id, attachmentId: operation.attachmentId, hostId: host.hostId } });
      const first = await viewerOnB.attachments.operationLogs({ operationId: operation.id, afterId: 0 });
      expect(first.lines.map((l) => l.line)).toEqual(["first", "second"]);
      await agent.log({ entries: [{ operationId: operation.id, attempt: claimed!.attempt, lines: [{ stream: "plugin", line: "third" }] }] });
      await browser.until((m) => m.topic === "operation" && m.event.kind === "log");
      const next = await viewerOnB.attachments.operationLogs({ operationId: operation.id, afterId: first.lines.at(-1)!.id });
      expect(next).toMatchObject({ lines: [{ line: "third", stream: "plugin", attempt: claimed!.attempt }], more: false });
    } finally {
      await browser.close();
    }
  });
});
