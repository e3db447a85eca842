import type { Db, Prisma } from "@switchyard/db";
import type { AgentIdentity } from "../context";
import type { AgentMetricsSnapshot } from "../schemas/agentMetrics";
import { dbNow } from "../clock";

/** The agent pushes every 30 s (apps/agent/src/metrics.ts); a snapshot older than this is a host gone quiet and is not served. */
export const AGENT_METRICS_STALE_MS = 120_000;

/**
 * Keeps a host's latest metrics snapshot (already validated against the catalogue), replacing the
 * one before: counters are the agent's running totals, so only the latest matters. An older
 * snapshot (a retried push arriving late) does not overwrite a newer one.
 */
export async function storeAgentMetrics(db: Db, agent: AgentIdentity, snapshot: AgentMetricsSnapshot) {
  const receivedAt = dbNow();
  const samples = snapshot.metrics as unknown as Prisma.InputJsonValue;
  const stored = await db.$transaction(async (tx) => {
    const current = await tx.hostMetricsSnapshot.findUnique({ where: { hostId: agent.hostId }, select: { takenAt: true } });
    if (current && current.takenAt > snapshot.takenAt) return false;
    await tx.hostMetricsSnapshot.upsert({
      where: { hostId: agent.hostId },
      create: { hostId: agent.hostId, takenAt: snapshot.takenAt, receivedAt, samples },
      update: { takenAt: snapshot.takenAt, receivedAt, samples },
    });
    return true;
  });
  return { stored, samples: snapshot.metrics.reduce((n, m) => n + m.samples.length, 0) };
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
