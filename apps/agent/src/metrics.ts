/// <reference path="./prom-client-lib.d.ts" />
import { AGENT_METRICS, AGENT_METRICS_LIMITS, type AgentMetricName, type AgentMetricsSnapshot } from "@switchyard/api/schemas/agentMetrics";
import type { ExecEvent } from "@switchyard/cni";
// prom-client's index loads every default collector, the cluster aggregator and the push gateway
// (cluster, http, https, zlib, perf_hooks, v8: ~5 MB of an idle agent's 60; bench/agent-memory.ts):
// the four classes used here come from their own modules (prom-client-lib.d.ts types them).
import Counter from "prom-client/lib/counter.js";
import Gauge from "prom-client/lib/gauge.js";
import Histogram from "prom-client/lib/histogram.js";
import Registry from "prom-client/lib/registry.js";
import type { Clock } from "./clock";
import type { AgentJob } from "./jobs";
import type { Logger } from "./log";

/** How often the agent pushes its metrics (the console serves a snapshot for 120 s). */
export const METRICS_PUSH_MS = 30_000;

type Metric = Counter<string> | Gauge<string> | Histogram<string>;

/**
 * The agent's metrics (issue 13 §5), built from the catalogue the console validates against.
 * The agent never listens on the network: its registry goes to the console (`agent.reportMetrics`,
 * every METRICS_PUSH_MS), which serves every host's latest snapshot with a `host` label.
 */
export function createAgentMetrics() {
  const registry = new Registry();
  const made = new Map<AgentMetricName, Metric>();
  for (const [name, spec] of Object.entries(AGENT_METRICS) as [AgentMetricName, (typeof AGENT_METRICS)[AgentMetricName]][]) {
    // The proxy's series are its own (its workers' registries), merged into the snapshot.
    if (!name.startsWith("switchyard_agent_")) continue;
    const common = { name, help: spec.help, labelNames: [...spec.labels], registers: [registry] };
    made.set(name, spec.type === "counter" ? new Counter(common) : spec.type === "gauge" ? new Gauge(common) : new Histogram({ ...common, buckets: [...spec.buckets] }));
  }
  const counter = (name: AgentMetricName) => made.get(name) as Counter<string>;
  const histogram = (name: AgentMetricName) => made.get(name) as Histogram<string>;
  const leases = made.get("switchyard_agent_leases") as Gauge<string>;

  return {
    registry,
    /** The CNI runtime's exec observer: one call counted and timed at each plugin exit. */
    onExec(e: ExecEvent): void {
      if (e.phase !== "exit") return;
      const outcome = e.timedOut ? "timeout" : e.code === 0 ? "ok" : "error";
      counter("switchyard_agent_plugin_calls_total").inc({ plugin: e.plugin, verb: e.verb, outcome });
      histogram("switchyard_agent_plugin_call_duration_seconds").observe({ plugin: e.plugin, verb: e.verb }, (e.durationMs ?? 0) / 1000);
    },
    /** Runs one reconcile, counted and timed; its error is the caller's still. */
    async timeReconcile<T>(run: () => Promise<T>): Promise<T> {
      const end = histogram("switchyard_agent_reconcile_duration_seconds").startTimer();
      let outcome = "error";
      try {
        const result = await run();
        outcome = "ok";
        return result;
      } finally {
        end();
        counter("switchyard_agent_reconcile_runs_total").inc({ outcome });
      }
    },
    /** An IPAM report's end: its outcome, duration, and the leases per network of its snapshot. */
    leaseReport(r: { ok: boolean; seconds: number; leasesByNetwork?: ReadonlyMap<string, number> }): void {
      counter("switchyard_agent_lease_reports_total").inc({ outcome: r.ok ? "ok" : "error" });
      histogram("switchyard_agent_lease_report_duration_seconds").observe(r.seconds);
      if (r.leasesByNetwork) {
        // A network gone from the host leaves the gauge with it.
        leases.reset();
        for (const [network, n] of r.leasesByNetwork) leases.set({ network }, n);
      }
    },
    /** A services sync's report to the console: applied (with its duration) or failed. */
    ruleSync(r: { family: 4 | 6; applyMs: number | null; error: string | null }): void {
      const family = String(r.family);
      counter("switchyard_agent_rule_syncs_total").inc({ family, outcome: r.error === null ? "ok" : "error" });
      if (r.error === null && r.applyMs !== null) histogram("switchyard_agent_rule_sync_duration_seconds").observe({ family }, r.applyMs / 1000);
    },
    /**
     * The registry in the shape agent.reportMetrics takes (what prom-client says, by the catalogue's
     * names), with `more` families of the catalogue (the proxy's) after the agent's own.
     */
    async snapshot(now: Date, more: readonly { name: string; values: { value: number; labels: Partial<Record<string, string | number>>; metricName?: string }[] }[] = []): Promise<AgentMetricsSnapshot> {
      const own = await registry.getMetricsAsJSON();
      const families = [...own, ...more.filter((f) => Object.hasOwn(AGENT_METRICS, f.name) && !f.name.startsWith("switchyard_agent_"))];
      let room: number = AGENT_METRICS_LIMITS.samples;
      return {
        takenAt: now,
        metrics: families.map((f) => {
          const samples = f.values.slice(0, Math.max(0, room)).map((v) => {
            const name = (v as { metricName?: string }).metricName ?? f.name;
            const labels = Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, String(x).slice(0, AGENT_METRICS_LIMITS.labelValueChars)]));
            return { suffix: name.slice(f.name.length) as AgentMetricsSnapshot["metrics"][number]["samples"][number]["suffix"], labels, value: v.value };
          });
          room -= samples.length;
          return { name: f.name as AgentMetricName, samples };
        }),
      };
    },
  };
}
export type AgentMetrics = ReturnType<typeof createAgentMetrics>;

/** Pushes the registry every METRICS_PUSH_MS (first after one interval: the console has just heard the start). */
export function createMetricsPusher(deps: {
  metrics: Pick<AgentMetrics, "snapshot">;
  send(snapshot: AgentMetricsSnapshot): Promise<unknown>;
  /** More families to push with the agent's (the proxy's, summed over its workers). */
  more?(): Promise<Parameters<AgentMetrics["snapshot"]>[1]>;
  clock: Clock;
  log: Logger;
  everyMs?: number;
}): AgentJob & { push(): Promise<void> } {
  const everyMs = deps.everyMs ?? METRICS_PUSH_MS;
  async function push(): Promise<void> {
    const more = (await deps.more?.().catch(() => [])) ?? [];
    await deps.send(await deps.metrics.snapshot(new Date(deps.clock.now()), more));
  }
  return {
    name: "metrics push",
    push,
    async run(signal: AbortSignal): Promise<void> {
      while (!signal.aborted) {
        await deps.clock.sleep(everyMs, signal);
        if (signal.aborted) return;
        // A missed push is only a gap in the graphs: the next one carries the running totals.
        await push().catch((e: unknown) => deps.log.debug("metrics not pushed", { error: (e as Error).message }));
      }
    },
  };
}
