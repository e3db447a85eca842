import type { Db } from "@switchyard/db";
import type { AgentIdentity } from "../context";
import type { AgentMetricsSnapshot } from "../schemas/agentMetrics";
import { dbNow } from "../clock";

/** The agent pushes every 30 s (apps/agent/src/metrics.ts); a snapshot older than this is a host gone quiet and is not served. */
export const AGENT_METRICS_STALE_MS = 120_000;

/**
 * Keeps a host's latest metrics snapshot (already validated against the catalogue), replacing the
 * one before: counters are the agent's running totals, so only the latest matters. An older
 * snapshot (a retried push arriving late) does not overwrite a newer one; one taken at the same
 * instant does.
 *
 * One statement, no interactive transaction: with a whole fleet pushing, a read-then-upsert
 * transaction per push held a pooled connection idle between its steps and ran the pool dry (503s
 * for everyone, bench/fleet.ts). The conflict's WHERE is checked against the row as it is when
 * the update locks it, so two pushes racing cannot leave the older one stored.
 */
export async function storeAgentMetrics(db: Db, agent: AgentIdentity, snapshot: AgentMetricsSnapshot) {
  const receivedAt = dbNow().toISOString();
  const takenAt = snapshot.takenAt.toISOString();
  const samples = JSON.stringify(snapshot.metrics);
  const written = await db.$queryRaw<{ hostId: string }[]>`
    INSERT INTO "HostMetricsSnapshot" AS s ("hostId", "takenAt", "receivedAt", "samples")
    VALUES (${agent.hostId}, (${takenAt}::timestamptz AT TIME ZONE 'UTC'), (${receivedAt}::timestamptz AT TIME ZONE 'UTC'), ${samples}::jsonb)
    ON CONFLICT ("hostId") DO UPDATE SET "takenAt" = EXCLUDED."takenAt", "receivedAt" = EXCLUDED."receivedAt", "samples" = EXCLUDED."samples"
      WHERE s."takenAt" <= EXCLUDED."takenAt"
    RETURNING s."hostId"`;
  return { stored: written.length > 0, samples: snapshot.metrics.reduce((n, m) => n + m.samples.length, 0) };
}

/** The snapshots worth serving: received within AGENT_METRICS_STALE_MS, of hosts not revoked. */
export async function freshAgentMetrics(db: Db, now = dbNow()) {
  const rows = await db.hostMetricsSnapshot.findMany({
    where: { receivedAt: { gte: new Date(now.getTime() - AGENT_METRICS_STALE_MS) }, host: { revokedAt: null } },
    select: { receivedAt: true, samples: true, host: { select: { name: true } } },
    orderBy: { host: { name: "asc" } },
  });
  return rows.map((r) => ({ host: r.host.name, receivedAt: r.receivedAt, metrics: r.samples as unknown as AgentMetricsSnapshot["metrics"] }));
}
