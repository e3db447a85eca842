import type { Db } from "@switchyard/db";
import { freshAgentMetrics } from "../domain/agentMetrics";
import { AGENT_METRICS, AGENT_METRIC_NAMES } from "../schemas/agentMetrics";
import { dbNow } from "../clock";

/** A label value in the text format: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function header(name: string, type: string, help: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n# TYPE ${name} ${type}\n`;
}

/**
 * Operations not yet finished, per host and status, read at scrape time. Per host through the
 * (hostId, status, notBefore) index: the cost follows the unfinished operations, not the table.
 */
async function queueDepth(db: Db): Promise<string> {
  const rows = await db.$queryRaw<{ host: string; status: string; n: number }[]>`
    SELECT h.name AS host, s.status, (SELECT count(*)::int FROM "Operation" o WHERE o."hostId" = h.id AND o.status = s.status::"OperationStatus") AS n
    FROM "Host" h CROSS JOIN (VALUES ('queued'), ('running')) AS s(status)
    ORDER BY h.name, s.status`;
  let text = header("switchyard_operations_unfinished", "gauge", "Operations not yet finished (fleet-wide, from the database), by host and status (queued, running).");
  for (const r of rows) text += `switchyard_operations_unfinished${labelText({ host: r.host, status: r.status })} ${r.n}\n`;
  return text;
}

/** The agents' latest snapshots, each sample with its host's name; HELP and TYPE from the catalogue, not from the agent. */
async function agentSeries(db: Db, now: Date): Promise<string> {
  const snapshots = await freshAgentMetrics(db, now);
  let text = header("switchyard_agent_snapshot_age_seconds", "gauge", "Age of the metrics snapshot served for each host (snapshots older than 120 s are not served).");
  for (const s of snapshots) text += `switchyard_agent_snapshot_age_seconds${labelText({ host: s.host })} ${(now.getTime() - s.receivedAt.getTime()) / 1000}\n`;
  for (const name of AGENT_METRIC_NAMES) {
    const spec = AGENT_METRICS[name];
    text += header(name, spec.type, spec.help);
    for (const s of snapshots) {
      const family = s.metrics.find((m) => m.name === name);
      for (const sample of family?.samples ?? []) text += `${name}${sample.suffix}${labelText({ host: s.host, ...sample.labels })} ${sample.value}\n`;
    }
  }
  return text;
}

/** What the database knows, the same on every replica: queue depth and the agents' metrics. */
export async function renderFleetMetrics(db: Db, now = dbNow()): Promise<string> {
  const [queue, agents] = await Promise.all([queueDepth(db), agentSeries(db, now)]);
  return queue + agents;
}
