import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, type Db } from "@switchyard/db";
import { serveApi, setupApiTest, type ApiTest } from "../testing";
import { storeAgentMetrics } from "./agentMetrics";

/**
 * agent.reportMetrics keeps one snapshot per host, the newest by the agent's `takenAt`. It is one
 * statement: a fleet pushing every 30 s held a pooled connection per push "idle in transaction"
 * between a read and an upsert, ran the pool (SWITCHYARD_DB_POOL) dry and got 503s (bench/fleet.ts).
 * Runs on both kinds (SWITCHYARD_TEST_DB); the pool test on PostgreSQL only (PGlite has no pool).
 */
let t: ApiTest;
beforeAll(async () => {
  t = await setupApiTest();
});
afterAll(async () => {
  await t?.close();
});

const snapshot = (value: number, takenAt: Date) => ({
  takenAt,
  metrics: [
    { name: "switchyard_agent_plugin_calls_total" as const, samples: [{ suffix: "" as const, labels: { plugin: "bridge", verb: "ADD", outcome: "ok" }, value }] },
    { name: "switchyard_agent_leases" as const, samples: [{ suffix: "" as const, labels: { network: "lab" }, value: 3 }] },
  ],
});
const storedRow = (hostId: string) => t.db.hostMetricsSnapshot.findUnique({ where: { hostId }, select: { takenAt: true, receivedAt: true, samples: true } });
const storedValue = async (hostId: string) => ((await storedRow(hostId))?.samples as { samples: { value: number }[] }[] | undefined)?.[0]?.samples[0]?.value;

describe(`agent metrics snapshots (${process.env.SWITCHYARD_TEST_DB ?? "pglite"})`, () => {
  it("stores the first, replaces it with a newer or same-instant one, and ignores an older one", async () => {
    const host = await t.enrollHost("metrics-store-a");
    const t0 = new Date("2030-01-01T00:00:10.123Z");
    expect(await storedRow(host.hostId)).toBeNull();

    expect(await storeAgentMetrics(t.db, host.identity, snapshot(1, t0))).toEqual({ stored: true, samples: 2 });
    const first = await storedRow(host.hostId);
    expect(first?.takenAt).toEqual(t0);
    expect(Math.abs(first!.receivedAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(first?.samples).toEqual(snapshot(1, t0).metrics);

    const t1 = new Date(t0.getTime() + 30_000);
    expect(await storeAgentMetrics(t.db, host.identity, snapshot(2, t1))).toEqual({ stored: true, samples: 2 });
    expect((await storedRow(host.hostId))?.takenAt).toEqual(t1);
    expect(await storedValue(host.hostId)).toBe(2);

    // A retried push arriving late: refused, the row untouched (receivedAt too).
    const before = await storedRow(host.hostId);
    expect(await storeAgentMetrics(t.db, host.identity, snapshot(9, new Date(t1.getTime() - 1)))).toEqual({ stored: false, samples: 2 });
    expect(await storedRow(host.hostId)).toEqual(before);

    // Taken at the same instant: replaces (the comparison is "newer is not allowed to lose", as it always was).
    expect(await storeAgentMetrics(t.db, host.identity, snapshot(3, t1))).toEqual({ stored: true, samples: 2 });
    expect(await storedValue(host.hostId)).toBe(3);

    // Another host's row is its own.
    const other = await t.enrollHost("metrics-store-b");
    expect(await storeAgentMetrics(t.db, other.identity, snapshot(7, t0))).toEqual({ stored: true, samples: 2 });
    expect(await storedValue(host.hostId)).toBe(3);
    expect(await storedValue(other.hostId)).toBe(7);
  });

  it("keeps the newest of many pushes racing for one host, whatever order they land in", async () => {
    const host = await t.enrollHost("metrics-store-race");
    const base = Date.parse("2030-02-01T00:00:00Z");
    const order = Array.from({ length: 40 }, (_, i) => (i * 17) % 40); // a fixed shuffle of 0..39
    const results = await Promise.all(order.map((i) => storeAgentMetrics(t.db, host.identity, snapshot(i, new Date(base + i * 1000)))));
    expect(results.some((r) => r.stored)).toBe(true);
    expect((await storedRow(host.hostId))?.takenAt).toEqual(new Date(base + 39_000));
    expect(await storedValue(host.hostId)).toBe(39);
  });
});

describe.skipIf((process.env.SWITCHYARD_TEST_DB ?? "pglite") !== "postgres")("a fleet pushing metrics through a small pool (PostgreSQL)", () => {
  let small: Db;
  let api: Awaited<ReturnType<typeof serveApi>>;
  beforeAll(async () => {
    // Two connections, and a query waits at most 0.5 s for one before the request is shed with 503 (the old read-then-upsert transaction shed 26 of 200 with 1 s).
    small = createDb(t.url, { max: 2, waitMs: 500 });
    api = await serveApi({ ...t.deps, db: small }, 0, { agentRates: { perHost: { perSecond: 1000, burst: 1000 }, calls: { perSecond: 10_000, burst: 10_000 } } });
  });
  afterAll(async () => {
    await api?.close();
    await small?.$disconnect();
  });

  it("takes 200 reports at once from 20 hosts with no 503, each host left with its newest", async () => {
    const hosts = await Promise.all(Array.from({ length: 20 }, (_, h) => t.enrollHost(`metrics-fleet-${h}`)));
    const push = (credential: string, body: unknown) =>
      fetch(`${api.url}/api/agent/agent.reportMetrics`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${credential}` }, body: JSON.stringify({ json: body }) });
    // Each agent once first (its credential looked up and cached), as a fleet already running is.
    for (const h of hosts) expect((await push(h.credential, snapshot(0, new Date("2030-03-01T00:00:00Z")))).status).toBe(200);

    const base = Date.parse("2030-03-01T00:01:00Z");
    const started = performance.now();
    const answers = await Promise.all(
      hosts.flatMap((h) =>
        Array.from({ length: 10 }, async (_, i) => {
          const k = (i * 7) % 10;
          const res = await push(h.credential, snapshot(k, new Date(base + k * 1000)));
          const body = await res.text();
          return { status: res.status, body };
        }),
      ),
    );
    const statuses = answers.reduce<Record<number, number>>((n, a) => ({ ...n, [a.status]: (n[a.status] ?? 0) + 1 }), {});
    expect(statuses, `answers after ${Math.round(performance.now() - started)} ms; first refusal: ${answers.find((a) => a.status !== 200)?.body.slice(0, 300)}`).toEqual({ 200: 200 });
    for (const h of hosts) {
      expect((await storedRow(h.hostId))?.takenAt).toEqual(new Date(base + 9000));
      expect(await storedValue(h.hostId)).toBe(9);
    }
  });
});
