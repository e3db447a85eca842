import pino from "pino";
import { Counter, Gauge, Registry } from "prom-client";
import type { ProxyConfig } from "./config";
import type { RequestOutcome } from "./http";
import type { ListenerState, MemberRuntime } from "./listener-state";
import { type CounterSeries, type HistogramSeries, SeriesCounter, SeriesHistogram } from "./series";
import type { ConnectionOutcome } from "./tcp";

/**
 * What a worker tells about its traffic (issue 14 §6): per-member counters and latency
 * histograms (prom-client; the primary sums the workers' registries with its
 * AggregatorRegistry), and one access log line per request or connection (pino, on stderr),
 * every one while a worker logs fewer than `fullRatePerSecond` a second, then one in
 * `sampleOneIn`: a busy proxy does not spend its time writing logs.
 */

export const PROXY_METRIC_PREFIX = "switchyard_proxy_";

export function createProxyMetrics(registry = new Registry()) {
  const labelNames = ["service", "listener", "member"] as const;
  const hooks = { beforeInflight: (): void => undefined };
  return {
    registry,
    /** Called when the in-flight gauge is collected: the worker sets it from its listeners then (not on the hot path). */
    hooks,
    requests: new SeriesCounter({ name: `${PROXY_METRIC_PREFIX}requests_total`, help: "HTTP requests answered, by member and status class (member is empty when none was picked)", labelNames: [...labelNames, "code"], registers: [registry] }),
    duration: new SeriesHistogram({
      name: `${PROXY_METRIC_PREFIX}request_duration_seconds`,
      help: "Time from a request's arrival to its response's end, by member",
      labelNames,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    connections: new Counter({ name: `${PROXY_METRIC_PREFIX}connections_total`, help: "TCP connections spliced, by member", labelNames, registers: [registry] }),
    bytes: new Counter({ name: `${PROXY_METRIC_PREFIX}tcp_bytes_total`, help: "Bytes carried by TCP listeners, by member and direction", labelNames: [...labelNames, "direction"], registers: [registry] }),
    failures: new Counter({ name: `${PROXY_METRIC_PREFIX}member_failures_total`, help: "Tries on a member that failed (connect refused or timed out, reset, 5xx): what passive health counts", labelNames, registers: [registry] }),
    retries: new Counter({ name: `${PROXY_METRIC_PREFIX}retries_total`, help: "Requests retried on another member", labelNames: ["service", "listener"], registers: [registry] }),
    inflight: new Gauge({
      name: `${PROXY_METRIC_PREFIX}inflight`,
      help: "Requests or connections in flight, by member",
      labelNames,
      registers: [registry],
      collect: () => hooks.beforeInflight(),
    }),
  };
}
export type ProxyMetrics = ReturnType<typeof createProxyMetrics>;

/** A sampler: true for every call until `full` in the current second, then for one in `oneIn`. */
export function createSampler(clock: () => number = () => performance.now()) {
  let second = 0;
  let count = 0;
  return (full: number, oneIn: number): boolean => {
    const now = Math.floor(clock() / 1000);
    if (now !== second) {
      second = now;
      count = 0;
    }
    count += 1;
    return count <= full || count % oneIn === 0;
  };
}

const codeClass = (status: number) => (status === 0 ? "none" : `${Math.floor(status / 100)}xx`);

export function createObserver(options: { metrics: ProxyMetrics; config: () => ProxyConfig | null; log?: pino.Logger }) {
  const log = options.log ?? pino({ base: { proxy: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: false }));
  const sample = createSampler();
  const { metrics } = options;
  const logs = () => {
    const c = options.config()?.accessLog;
    return c?.enabled === true && sample(c.fullRatePerSecond, c.sampleOneIn);
  };
  const labels = (l: ListenerState, m: MemberRuntime | null) => ({ service: l.config.serviceName, listener: l.key, member: m?.key ?? "" });
  // A request's series, found once per member (or listener, for no member) and kept: prom-client
  // hashes a label set on every inc/observe, which cost ~4-6 % of a worker's time (series.ts).
  type Series = { labels: ReturnType<typeof labels>; requests: Map<number, CounterSeries>; duration: HistogramSeries };
  const byMember = new WeakMap<MemberRuntime, Series>();
  const byListener = new WeakMap<ListenerState, Series>();
  const seriesOf = (l: ListenerState, m: MemberRuntime | null): Series => {
    const found = m === null ? byListener.get(l) : byMember.get(m);
    if (found !== undefined) return found;
    const ls = labels(l, m);
    const s: Series = { labels: ls, requests: new Map(), duration: metrics.duration.seriesOf(ls) };
    if (m === null) byListener.set(l, s);
    else byMember.set(m, s);
    return s;
  };
  return {
    log,
    requestDone(o: RequestOutcome): void {
      const series = seriesOf(o.listener, o.member);
      const l = series.labels;
      const hundred = Math.floor(o.status / 100);
      let requests = series.requests.get(hundred);
      if (requests === undefined) series.requests.set(hundred, (requests = metrics.requests.seriesOf({ ...l, code: codeClass(o.status) })));
      requests.inc();
      series.duration.observe(o.ms / 1000);
      if (o.retried) metrics.retries.inc({ service: l.service, listener: l.listener });
      if (logs()) {
        log.info({ kind: "http", service: l.service, listener: l.listener, pool: o.pool, member: l.member || null, client: o.client, method: o.method, path: o.path, status: o.status, ms: Math.round(o.ms * 100) / 100, retried: o.retried, error: o.error }, "request");
      }
    },
    connectionDone(o: ConnectionOutcome): void {
      const l = labels(o.listener, o.member);
      metrics.connections.inc(l);
      metrics.bytes.inc({ ...l, direction: "in" }, o.bytesIn);
      metrics.bytes.inc({ ...l, direction: "out" }, o.bytesOut);
      if (logs()) {
        log.info({ kind: "tcp", service: l.service, listener: l.listener, member: l.member || null, client: o.client, bytesIn: o.bytesIn, bytesOut: o.bytesOut, ms: Math.round(o.ms * 100) / 100, error: o.error }, "connection");
      }
    },
    memberFailed(l: ListenerState, m: MemberRuntime): void {
      metrics.failures.inc(labels(l, m));
    },
    /** The in-flight gauge, set from the listeners' counts when scraped (not on the hot path). */
    collectInflight(listeners: readonly ListenerState[]): void {
      metrics.inflight.reset();
      for (const l of listeners) for (const [key, n] of l.inflight) metrics.inflight.set({ service: l.config.serviceName, listener: l.key, member: key }, n);
    },
  };
}
