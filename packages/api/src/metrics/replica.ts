import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * This console replica's own metrics (issue 13 §5): what passed through this process. Each replica
 * counts only its own requests, completions, claims and streams, so a fleet's total is the sum over
 * replicas (scrape each one: README "Metrics"). What the database knows (queue depth, the agents'
 * snapshots) is fleet-wide and rendered per scrape in fleet.ts, not here.
 */
function createReplicaMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: "switchyard_trpc_requests_total",
      help: "tRPC calls handled by this replica, by endpoint (browser: /api/trpc, agent: /api/agent), procedure and HTTP status; each call of a batch counts, with the batch's status.",
      labelNames: ["endpoint", "procedure", "status"] as const,
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: "switchyard_trpc_request_duration_seconds",
      help: "Time until the response started, by endpoint and procedure (for a subscription: until its stream opened).",
      labelNames: ["endpoint", "procedure"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    operationsFinished: new Counter({
      name: "switchyard_operations_finished_total",
      help: "Operation attempts closed by this replica, by kind and outcome (succeeded, failed, retrying: failed and queued again after a back-off).",
      labelNames: ["kind", "outcome"] as const,
      registers: [registry],
    }),
    pushDelay: new Histogram({
      name: "switchyard_operation_push_delay_seconds",
      help: "From an operation being due (queued, or its retry back-off over) to this replica handing it to its agent, by how (push: the agent's stream; claim: a claim or long poll).",
      labelNames: ["via"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    agentStreams: new Gauge({
      name: "switchyard_push_streams_open",
      help: "Agent push streams (agent.work subscriptions) open on this replica.",
      registers: [registry],
    }),
  };
}

export type ReplicaMetrics = ReturnType<typeof createReplicaMetrics>;

// One set per process, on globalThis: Next compiles each route into its own bundle (and dev
// reloads modules), and a second registry would count the same process twice or not at all.
const holder = globalThis as typeof globalThis & { __switchyardReplicaMetrics?: ReplicaMetrics };

export function replicaMetrics(): ReplicaMetrics {
  return (holder.__switchyardReplicaMetrics ??= createReplicaMetrics());
}

/** Operations claimed for an agent: how long each had been due (expired claims handed out again have no due time and are not counted). */
export function observePushDelay(claimed: readonly { dueAt: Date | null }[], via: "push" | "claim", now: Date): void {
  const { pushDelay } = replicaMetrics();
  for (const op of claimed) if (op.dueAt) pushDelay.observe({ via }, Math.max(0, now.getTime() - op.dueAt.getTime()) / 1000);
}

/** Attempts closed: a failure queued again for a retry is "retrying", not yet failed. */
export function countOperationsFinished(closed: readonly { kind: string; status: "succeeded" | "queued" | "failed" }[]): void {
  const { operationsFinished } = replicaMetrics();
  for (const c of closed) operationsFinished.inc({ kind: c.kind, outcome: c.status === "queued" ? "retrying" : c.status });
}
