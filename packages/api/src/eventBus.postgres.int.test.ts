import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authenticateAgent } from "./domain/hosts";
import type { WorkEvent } from "./routers/agent";
import { openReplica, reader, type Replica } from "./testReplicas";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "./testing";

// Always on PostgreSQL: a listener connection that can be killed exists only there.
let t: ApiTest;
let a: Replica;
let b: Replica;
type User = Awaited<ReturnType<ApiTest["createUserRow"]>>;
let admin: User;
let operator: User;
let viewer: User;
let networkId: string;
const RECONNECT_MS = 800;

beforeAll(async () => {
  t = await setupApiTest({ kind: "postgres" });
  // B waits RECONNECT_MS before it listens again, so what A says meanwhile is surely missed.
  [a, b] = await Promise.all([openReplica(t, "ra"), openReplica(t, "rb", { retryMs: { min: RECONNECT_MS, max: RECONNECT_MS } })]);
  [admin, operator, viewer] = await Promise.all([t.createUserRow("ada", "admin"), t.createUserRow("otto", "operator"), t.createUserRow("vera", "viewer")]);
  networkId = (await a.caller(t.sessionOf(operator)).networks.create({ text: BRIDGE_CONFLIST("pgnet", "10.73.0.0/24", "10.73.0.1"), comment: "" })).id;
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await t?.close();
});

const listenerPids = async (name: string) =>
  (await t.db.$queryRaw<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE application_name = ${`switchyard-events-${name}`} AND datname = current_database()`).map((r) => r.pid);

describe("the event listener on PostgreSQL", () => {
  it("holds one connection per replica; killed, it reconnects, and the agent and browsers on it catch up by query", async () => {
    const { token } = await a.caller(t.sessionOf(admin)).hosts.createJoinToken({ note: "", ttlMinutes: 10 });
    const enrolled = await a.agentCaller({ hostId: "", hostName: "" }).enroll({ joinToken: token, hostname: "pg-1", agentVersion: "test" });
    const identity = (await authenticateAgent(t.db, enrolled.credential))!;
    const work = reader<WorkEvent>(await b.agentCaller(identity).work({ slots: 4 }));
    const browser = reader(await b.caller(t.sessionOf(viewer)).events.stream());
    const attach = (name: string) => a.caller(t.sessionOf(operator)).attachments.create({ hostId: enrolled.hostId, networkId, target: { kind: "netns", name }, ifName: "eth0", portMappings: [] });
    try {
      expect((await work.next())?.kind).toBe("open");
      const [before] = await listenerPids("rb");
      expect(await listenerPids("rb")).toHaveLength(1);
      await t.db.$queryRaw`SELECT pg_terminate_backend(${before}::int)`;
      // Said while B does not listen: its NOTIFY reaches nobody on B.
      const missed = (await attach("pg-missed")).operation;
      expect(await listenerPids("rb")).toEqual([]);
      // Back after RECONNECT_MS: B says "resync", and the push stream claims what it missed (and
      // tells the agent to fetch its services again: what changed meanwhile is unknown).
      expect(await browser.until((m) => m.topic === "resync", 5000)).toEqual({ topic: "resync", event: { kind: "resync", reason: "reconnected" } });
      const afterResync: WorkEvent[] = [];
      const claimed = await work.until((e) => (afterResync.push(e), e.kind === "operations"), 5000);
      expect(claimed).toMatchObject({ kind: "operations", ops: [{ operationId: missed.id }] });
      if (!afterResync.some((e) => e.kind === "services")) expect(await work.next(2000)).toMatchObject({ kind: "services" });
      const [after] = await listenerPids("rb");
      expect(after).toBeDefined();
      expect(after).not.toBe(before);
      // Listening again: the next change is pushed as usual.
      const next = (await attach("pg-next")).operation;
      expect(await work.until((e) => e.kind === "operations", 2000)).toMatchObject({ kind: "operations", ops: [{ operationId: next.id }] });
      expect(await browser.until((m) => m.topic === "operation" && m.event.operationId === next.id)).not.toBeNull();
    } finally {
      await work.close();
      await browser.close();
    }
  });

  it("a send that fails while the connection is down is not lost: the next doorbell asks the others to resync", async () => {
    const stream = reader(a.deps.events.subscribe("host"));
    try {
      const [pid] = await listenerPids("rb");
      await t.db.$queryRaw`SELECT pg_terminate_backend(${pid}::int)`;
      // B publishes while its connection is gone (the send fails), then once more after it is back.
      await new Promise((r) => setTimeout(r, 100));
      b.deps.events.publish("host", { kind: "seen", hostId: "during-outage" });
      await new Promise((r) => setTimeout(r, RECONNECT_MS + 500));
      b.deps.events.publish("host", { kind: "seen", hostId: "after-outage" });
      const got: unknown[] = [];
      await stream.until((e) => (got.push(e), "hostId" in e && e.hostId === "after-outage"), 5000);
      expect(got).toContainEqual({ kind: "resync", reason: "missed" });
      expect(got.at(-1)).toEqual({ kind: "seen", hostId: "after-outage" });
    } finally {
      await stream.close();
    }
  });
});
