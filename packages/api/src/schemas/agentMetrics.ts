import { z } from "zod";

/**
 * The agent's metrics (issue 13 §5): one catalogue that the agent builds its prom-client registry
 * from and the console validates pushed snapshots against, so that an agent can only report these
 * series, with these labels, and the console writes their HELP and TYPE itself. The console adds a
 * `host` label (the host's name, from its credential): an agent cannot name another host.
 */
export const AGENT_METRICS = {
  switchyard_agent_plugin_calls_total: {
    type: "counter",
    help: "CNI plugin executions by plugin, verb (ADD, DEL, CHECK, GC, STATUS, VERSION) and outcome (ok, error, timeout).",
    labels: ["plugin", "verb", "outcome"],
  },
  switchyard_agent_plugin_call_duration_seconds: {
    type: "histogram",
    help: "Duration of CNI plugin executions.",
    labels: ["plugin", "verb"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  },
  switchyard_agent_reconcile_runs_total: {
    type: "counter",
    help: "Reconcile runs (desired attachments against the host) by outcome (ok, error).",
    labels: ["outcome"],
  },
  switchyard_agent_reconcile_duration_seconds: {
    type: "histogram",
    help: "Duration of reconcile runs.",
    labels: [],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  },
  switchyard_agent_leases: {
    type: "gauge",
    help: "Addresses leased on this host per network, as of the last IPAM snapshot.",
    labels: ["network"],
  },
  switchyard_agent_lease_reports_total: {
    type: "counter",
    help: "IPAM snapshots taken and sent to the console, by outcome (ok, error).",
    labels: ["outcome"],
  },
  switchyard_agent_lease_report_duration_seconds: {
    type: "histogram",
    help: "Duration of an IPAM report: reading the host's leases and sending what changed.",
    labels: [],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  },
  switchyard_agent_rule_syncs_total: {
    type: "counter",
    help: "Service data plane syncs (nftables rules applied) by address family (4, 6) and outcome (ok, error).",
    labels: ["family", "outcome"],
  },
  switchyard_agent_rule_sync_duration_seconds: {
    type: "histogram",
    help: "Duration of successful service data plane syncs (the nftables transaction), by address family.",
    labels: ["family"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  },
  // The userspace proxy's (issue 14), summed over its workers; the agent pushes them with its own.
  switchyard_proxy_requests_total: {
    type: "counter",
    help: "HTTP requests the proxy answered, by service, listener, member (empty when none was picked) and status class (2xx…5xx, none).",
    labels: ["service", "listener", "member", "code"],
  },
  switchyard_proxy_request_duration_seconds: {
    type: "histogram",
    help: "Time from a request's arrival at the proxy to its response's end, by member.",
    labels: ["service", "listener", "member"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  },
  switchyard_proxy_connections_total: {
    type: "counter",
    help: "TCP connections the proxy spliced, by member.",
    labels: ["service", "listener", "member"],
  },
  switchyard_proxy_tcp_bytes_total: {
    type: "counter",
    help: "Bytes carried by the proxy's TCP listeners, by member and direction (in: from clients, out: to clients).",
    labels: ["service", "listener", "member", "direction"],
  },
  switchyard_proxy_member_failures_total: {
    type: "counter",
    help: "Tries on a member that failed (connect refused or timed out, reset, 5xx): what passive health counts.",
    labels: ["service", "listener", "member"],
  },
  switchyard_proxy_retries_total: {
    type: "counter",
    help: "Requests the proxy retried on another member.",
    labels: ["service", "listener"],
  },
  switchyard_proxy_inflight: {
    type: "gauge",
    help: "Requests or connections in flight through the proxy, by member.",
    labels: ["service", "listener", "member"],
  },
} as const satisfies Record<string, { type: "counter" | "gauge" | "histogram"; help: string; labels: readonly string[]; buckets?: readonly number[] }>;

export type AgentMetricName = keyof typeof AGENT_METRICS;
export const AGENT_METRIC_NAMES = Object.keys(AGENT_METRICS) as [AgentMetricName, ...AgentMetricName[]];

/** Bounds of a snapshot: far above what the catalogue yields on a real host, far below what would hurt a scrape. */
export const AGENT_METRICS_LIMITS = { samples: 5000, labelValueChars: 128 } as const;

/** A sample: `suffix` is "" for a counter or gauge, "_bucket", "_sum" or "_count" for a histogram. */
const Sample = z.object({
  suffix: z.enum(["", "_bucket", "_sum", "_count"]),
  labels: z.record(z.string().regex(/^[a-z_]{1,32}$/), z.string().max(AGENT_METRICS_LIMITS.labelValueChars)),
  value: z.number(), // zod 4 refuses Infinity and NaN here
});

const Family = z.object({ name: z.enum(AGENT_METRIC_NAMES), samples: z.array(Sample).max(AGENT_METRICS_LIMITS.samples) });

/**
 * What the agent pushes (agent.reportMetrics). Every sample's labels must be exactly its metric's
 * (plus `le` on a histogram's buckets), the suffix must fit its type, counters and histograms
 * cannot be negative, and all samples together stay within the limit: whatever fails is refused
 * whole, naming the metric and label.
 */
export const AgentMetricsSnapshot = z
  .object({ takenAt: z.coerce.date(), metrics: z.array(Family).max(AGENT_METRIC_NAMES.length) })
  .superRefine((snapshot, ctx) => {
    const seen = new Set<string>();
    let total = 0;
    snapshot.metrics.forEach((family, f) => {
      if (seen.has(family.name)) ctx.addIssue({ code: "custom", path: ["metrics", f, "name"], message: `metric ${family.name} is sent twice` });
      seen.add(family.name);
      total += family.samples.length;
      const spec = AGENT_METRICS[family.name];
      const histogram = spec.type === "histogram";
      family.samples.forEach((sample, s) => {
        const path = ["metrics", f, "samples", s];
        if (histogram ? sample.suffix === "" : sample.suffix !== "") {
          ctx.addIssue({ code: "custom", path: [...path, "suffix"], message: `${family.name} is a ${spec.type}: suffix "${sample.suffix}" does not fit` });
        }
        const expected = [...spec.labels, ...(sample.suffix === "_bucket" ? ["le"] : [])].sort();
        const got = Object.keys(sample.labels).sort();
        if (expected.join(",") !== got.join(",")) {
          ctx.addIssue({ code: "custom", path: [...path, "labels"], message: `${family.name} takes labels {${expected.join(", ")}}, got {${got.join(", ")}}` });
        }
        if (sample.suffix === "_bucket" && !/^(\+Inf|\d+(\.\d+)?(e[+-]?\d+)?)$/.test(sample.labels.le ?? "")) {
          ctx.addIssue({ code: "custom", path: [...path, "labels", "le"], message: `le must be a bucket bound or "+Inf", got ${JSON.stringify(sample.labels.le)}` });
        }
        if (spec.type !== "gauge" && sample.value < 0) {
          ctx.addIssue({ code: "custom", path: [...path, "value"], message: `${family.name} cannot be negative, got ${sample.value}` });
        }
      });
    });
    if (total > AGENT_METRICS_LIMITS.samples) ctx.addIssue({ code: "custom", path: ["metrics"], message: `a snapshot holds at most ${AGENT_METRICS_LIMITS.samples} samples, got ${total}` });
  });
export type AgentMetricsSnapshot = z.infer<typeof AgentMetricsSnapshot>;
