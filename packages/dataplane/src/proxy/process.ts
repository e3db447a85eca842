import cluster, { type Worker } from "node:cluster";
import { readFileSync } from "node:fs";
import os from "node:os";
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from "prom-client";
import { z } from "zod";
import { type ProxyConfig, ProxyConfig as ProxyConfigSchema, listenerKey, memberKey } from "./config";
import { type Ejection, createEjections, createFailureDetector } from "./outlier";
import { createObserver, createProxyMetrics } from "./observe";
import { type ListenError, createProxyRuntime } from "./runtime";

/**
 * The proxy process (issue 14 §1): a cluster primary and one worker per core. The agent forks
 * it and sends it configs over IPC (`--config FILE` instead runs it alone, SIGHUP reloads the
 * file: the bench and an operator's debugging). The primary validates each config, hands it to
 * every worker and says when all of them run it; it restarts a worker that dies, decides
 * passive-health ejections for the whole process (workers report members crossing a threshold),
 * and sums the workers' metrics. Workers accept on the shared listening sockets themselves
 * (SCHED_NONE): the primary never carries a connection, so it is no bottleneck.
 *
 * Messages, parent → proxy: {type:"config", config} | {type:"metrics", id} | {type:"watch", ms} |
 * {type:"watched", id} | {type:"stop"}. proxy → parent: {type:"ready"} | {type:"applied", version,
 * errors} | {type:"refused", version, error} | {type:"ejections", ejections} | {type:"metrics", id,
 * families} | {type:"watched", id, flows} | {type:"worker-exit", code, signal}.
 */

export type MetricFamily = MetricObjectWithValues<MetricValue<string>>;

export type ParentMessage =
  | { type: "config"; config: unknown }
  | { type: "metrics"; id: number }
  | { type: "watch"; ms: number }
  | { type: "watched"; id: number }
  | { type: "stop" };

/** A connection (TCP) or request (HTTP) seen while watching: which member the client's address and port were given. */
export interface WatchedFlow {
  client: string;
  port: number;
  member: string;
}
export type ProxyEvent =
  | { type: "ready"; workers: number }
  | { type: "applied"; version: number; errors: ListenError[] }
  | { type: "refused"; version: number | null; error: string }
  | { type: "ejections"; ejections: (Ejection & { listener: string })[] }
  /** The workers' registries summed (prom-client's JSON shape): the agent pushes them with its own. */
  | { type: "metrics"; id: number; families: MetricFamily[] }
  | { type: "watched"; id: number; flows: WatchedFlow[] }
  | { type: "worker-exit"; code: number | null; signal: string | null };

type ToWorker =
  | { type: "config"; config: ProxyConfig }
  | { type: "ejected"; byListener: Record<string, string[]> }
  | { type: "watch"; ms: number }
  | { type: "watched"; id: number }
  | { type: "metrics"; id: number }
  | { type: "stop" };
type FromWorker =
  | { type: "hello" }
  | { type: "watched"; id: number; flows: WatchedFlow[] }
  | { type: "metrics"; id: number; families: MetricFamily[] }
  | { type: "applied"; version: number; errors: ListenError[] } | { type: "crossing"; listener: string; member: string; reason: string };

const Args = z.object({ config: z.string().optional(), workers: z.number().int().min(1).max(256).optional(), graceMs: z.number().int().min(0).optional() });

function parseArgs(argv: string[]): z.infer<typeof Args> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--config") out.config = argv[++i];
    else if (a === "--workers") out.workers = Number(argv[++i]);
    else if (a === "--grace-ms") out.graceMs = Number(argv[++i]);
    else throw new Error(`unknown argument ${a} (switchyard-agent proxy [--config FILE] [--workers N] [--grace-ms MS])`);
  }
  return Args.parse(out);
}

export async function main(argv: string[]): Promise<void> {
  if (cluster.isPrimary) return runPrimary(parseArgs(argv));
  return runWorker(Number(process.env.SWITCHYARD_PROXY_GRACE_MS ?? 30_000));
}

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join(".") || "config"}: ${i.message}`)
    .join("; ");
}

async function runPrimary(args: z.infer<typeof Args>): Promise<void> {
  const underAgent = typeof process.send === "function";
  const emit = (e: ProxyEvent) => {
    if (underAgent) process.send!(e);
    else process.stdout.write(`${JSON.stringify(e)}\n`);
  };
  const count = args.workers ?? os.availableParallelism();
  const graceMs = args.graceMs ?? 30_000;
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ silent: false });
  // An ejection's since/until go to the agent and the console as times, and its length is a duration: wall time
  // as it was at start, moved on by the monotonic clock, so a wall-clock step neither ends one at once nor keeps it for hours.
  const wallAtStart = Date.now();
  const monotonicAtStart = performance.now();
  // Whole ms, as Date.now(): the console takes ejection times as integers.
  const steadyNow = () => wallAtStart + Math.floor(performance.now() - monotonicAtStart);
  const ejections = createEjections({ now: steadyNow });
  let config: ProxyConfig | null = null;
  let stopping = false;
  /** Workers that have not yet said they run `config`'s version. */
  let waiting = new Map<number, ListenError[] | null>();
  let expiryTimer: NodeJS.Timeout | null = null;
  const restarts: number[] = [];

  const toWorker = (w: Worker, m: ToWorker) => {
    if (w.isConnected()) w.send(m);
  };
  const broadcast = (m: ToWorker) => {
    for (const w of Object.values(cluster.workers ?? {})) if (w) toWorker(w, m);
  };
  const ejectedMessage = (): ToWorker => {
    const byListener: Record<string, string[]> = {};
    for (const e of ejections.active()) {
      const [listener, member] = splitPoolKey(e.key);
      (byListener[listener] ??= []).push(member);
    }
    return { type: "ejected", byListener };
  };
  const reportEjections = () => emit({ type: "ejections", ejections: ejections.active().map((e) => ({ ...e, listener: splitPoolKey(e.key)[0], key: splitPoolKey(e.key)[1] })) });
  const scheduleExpiry = () => {
    if (expiryTimer) clearTimeout(expiryTimer);
    const next = ejections.nextExpiry();
    if (next === null) return;
    expiryTimer = setTimeout(() => {
      expiryTimer = null;
      if (ejections.expire().length > 0) {
        broadcast(ejectedMessage());
        reportEjections();
      }
      scheduleExpiry();
    }, Math.max(0, next - steadyNow()) + 5);
    expiryTimer.unref();
  };

  const fork = () => {
    const w = cluster.fork({ SWITCHYARD_PROXY_GRACE_MS: String(graceMs) });
    w.on("message", (m: FromWorker) => onWorkerMessage(w, m));
    return w;
  };

  /** Workers that said hello: their message handler is in place (a message sent before is lost). */
  const ready = new Set<number>();

  /**
   * Questions every worker answers (watched flows, metrics): the workers that still have to answer
   * and what came; after 2 s the answer goes with what came (a worker restarting says nothing).
   */
  const gathering = new Map<string, { left: Set<number>; parts: unknown[]; timer: NodeJS.Timeout; done(parts: unknown[]): void }>();
  const finishGather = (key: string) => {
    const g = gathering.get(key);
    if (!g) return;
    clearTimeout(g.timer);
    gathering.delete(key);
    g.done(g.parts);
  };
  const gather = (kind: "watched" | "metrics", id: number, done: (parts: unknown[]) => void) => {
    const key = `${kind}:${id}`;
    const left = new Set([...ready].filter((w) => cluster.workers?.[w]?.isConnected()));
    const timer = setTimeout(() => finishGather(key), 2000);
    timer.unref();
    gathering.set(key, { left, parts: [], timer, done });
    if (left.size === 0) return finishGather(key);
    broadcast({ type: kind, id });
  };
  const gathered = (w: Worker, key: string, part: unknown) => {
    const g = gathering.get(key);
    if (!g) return;
    g.parts.push(part);
    g.left.delete(w.id);
    if (g.left.size === 0) finishGather(key);
  };

  function onWorkerMessage(w: Worker, m: FromWorker) {
    if (m.type === "watched") return gathered(w, `watched:${m.id}`, m.flows);
    if (m.type === "metrics") return gathered(w, `metrics:${m.id}`, m.families);
    if (m.type === "hello") {
      ready.add(w.id);
      if (config) {
        waiting.set(w.id, null);
        toWorker(w, { type: "config", config });
        toWorker(w, ejectedMessage());
      }
      return;
    }
    if (m.type === "applied") {
      if (!config || m.version !== config.version || !waiting.has(w.id)) return;
      waiting.set(w.id, m.errors);
      // Said once every worker runs it (at start, once every worker has started).
      if (ready.size >= count && [...waiting.values()].every((e) => e !== null)) {
        // Every worker binds the same sockets: one worker's error is the listener's.
        const errors = new Map<string, ListenError>();
        for (const list of waiting.values()) for (const e of list ?? []) errors.set(e.listener, e);
        emit({ type: "applied", version: config.version, errors: [...errors.values()] });
      }
      return;
    }
    if (m.type === "crossing" && config) {
      const listener = config.listeners.find((l) => listenerKey(l) === m.listener);
      if (!listener) return;
      const poolSize = new Set(Object.values(listener.pools).flatMap((ms) => ms.map(memberKey))).size;
      const result = ejections.report(m.listener, poolSize, poolKey(m.listener, m.member), m.reason, listener.passiveHealth);
      if ("refused" in result) return;
      broadcast(ejectedMessage());
      reportEjections();
      scheduleExpiry();
    }
  }

  const applyConfig = (raw: unknown) => {
    const parsed = ProxyConfigSchema.safeParse(raw);
    if (!parsed.success) {
      const version = typeof (raw as { version?: unknown })?.version === "number" ? (raw as { version: number }).version : null;
      return emit({ type: "refused", version, error: describe(parsed.error) });
    }
    config = parsed.data;
    for (const l of config.listeners) {
      const key = listenerKey(l);
      ejections.retain(key, new Set(Object.values(l.pools).flatMap((ms) => ms.map((m) => poolKey(key, memberKey(m))))));
    }
    const keys = new Set(config.listeners.map(listenerKey));
    for (const e of ejections.active()) {
      const [listener] = splitPoolKey(e.key);
      if (!keys.has(listener)) ejections.retain(listener, new Set());
    }
    waiting = new Map(Object.values(cluster.workers ?? {}).flatMap((w) => (w?.isConnected() && ready.has(w.id) ? [[w.id, null] as const] : [])));
    for (const id of waiting.keys()) {
      const w = cluster.workers?.[id];
      if (!w) continue;
      toWorker(w, { type: "config", config });
      toWorker(w, ejectedMessage());
    }
  };

  cluster.on("exit", (w, code, signal) => {
    waiting.delete(w.id);
    ready.delete(w.id);
    if (stopping) return;
    emit({ type: "worker-exit", code, signal });
    // A worker that keeps dying (ten times a minute) is not restarted in a tight loop: a second's pause.
    const now = performance.now(); // a window, not a time: a wall-clock step must not empty or fill it
    restarts.push(now);
    while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
    setTimeout(fork, restarts.length > 10 ? 1000 : 0);
  });

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    broadcast({ type: "stop" });
    const deadline = setTimeout(() => process.exit(0), graceMs + 2000);
    deadline.unref();
    await Promise.all(Object.values(cluster.workers ?? {}).map((w) => (w ? new Promise((r) => w.once("exit", r)) : null)));
    process.exit(0);
  };

  for (let i = 0; i < count; i++) fork();
  if (underAgent) {
    process.on("message", (m: ParentMessage) => {
      if (m.type === "config") applyConfig(m.config);
      else if (m.type === "metrics")
        gather("metrics", m.id, (parts) => {
          // Counters and histograms summed over the workers (prom-client's own aggregation).
          const families = (parts as MetricFamily[][]).filter((p) => p.length > 0);
          void (families.length === 0 ? Promise.resolve([]) : AggregatorRegistry.aggregate(families).getMetricsAsJSON()).then(
            (summed) => emit({ type: "metrics", id: m.id, families: summed as MetricFamily[] }),
            () => emit({ type: "metrics", id: m.id, families: [] }),
          );
        });
      else if (m.type === "watch") broadcast({ type: "watch", ms: Math.min(Math.max(0, m.ms), 120_000) });
      else if (m.type === "watched") gather("watched", m.id, (parts) => emit({ type: "watched", id: m.id, flows: (parts as WatchedFlow[][]).flat() }));
      else if (m.type === "stop") void stop();
    });
    // Stopped with the agent: when it goes (even by SIGKILL), the IPC channel closes.
    process.on("disconnect", () => void stop());
  }
  if (args.config) {
    const path = args.config;
    const load = () => {
      try {
        applyConfig(JSON.parse(readFileSync(path, "utf8")));
      } catch (e) {
        emit({ type: "refused", version: null, error: `${path}: ${(e as Error).message}` });
      }
    };
    load();
    process.on("SIGHUP", load);
  }
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
  emit({ type: "ready", workers: count });
}

/** Ejections are per listener: a member of two listeners fails (or not) in each on its own. */
const poolKey = (listener: string, member: string) => `${listener}|${member}`;
const splitPoolKey = (key: string): [string, string] => {
  const i = key.indexOf("|");
  return [key.slice(0, i), key.slice(i + 1)];
};

async function runWorker(graceMs: number): Promise<void> {
  let config: ProxyConfig | null = null;
  const metrics = createProxyMetrics();
  const observer = createObserver({ metrics, config: () => config });
  const detectors = new Map<string, ReturnType<typeof createFailureDetector>>();
  // A probe's window (the agent asks): which member each client address and port was given, at most 4,096.
  let watch: { until: number; flows: Map<string, WatchedFlow> } | null = null;
  const runtime = createProxyRuntime({
    removeGraceMs: graceMs,
    hooks: {
      picked(_listener, member, socket) {
        if (watch === null || performance.now() > watch.until || watch.flows.size >= 4096) return;
        const remote = socket.remoteAddress ?? "";
        const client = remote.startsWith("::ffff:") && remote.includes(".") ? remote.slice(7) : remote;
        const port = socket.remotePort ?? 0;
        watch.flows.set(`${client}|${port}`, { client, port, member: member.key });
      },
      memberResult(listener, member, ok) {
        if (!ok) observer.memberFailed(listener, member);
        const reason = detectors.get(listener.key)?.record(member.key, ok) ?? null;
        if (reason !== null) process.send!({ type: "crossing", listener: listener.key, member: member.key, reason } satisfies FromWorker);
      },
      requestDone: observer.requestDone,
      connectionDone: observer.connectionDone,
    },
  });
  // In-flight counts are read when the primary collects (a scrape), not kept on the hot path.
  metrics.hooks.beforeInflight = () => observer.collectInflight(runtime.listeners());
  let queue = Promise.resolve();
  // The primary's latest word on ejections, applied again after each config (new listeners start with it).
  let ejected = new Map<string, Set<string>>();
  process.on("message", (m: ToWorker) => {
    if (m.type === "config") {
      queue = queue.then(async () => {
        config = m.config;
        for (const l of m.config.listeners) {
          const key = listenerKey(l);
          const settings = JSON.stringify(l.passiveHealth);
          const existing = detectors.get(key) as (ReturnType<typeof createFailureDetector> & { settings?: string }) | undefined;
          if (existing?.settings !== settings) detectors.set(key, Object.assign(createFailureDetector(l.passiveHealth, { now: () => performance.now() }), { settings }));
          detectors.get(key)!.retain(new Set(Object.values(l.pools).flatMap((ms) => ms.map(memberKey))));
        }
        for (const key of detectors.keys()) if (!m.config.listeners.some((l) => listenerKey(l) === key)) detectors.delete(key);
        const errors = await runtime.apply(m.config);
        runtime.setEjected(ejected);
        process.send!({ type: "applied", version: m.config.version, errors } satisfies FromWorker);
      });
    } else if (m.type === "metrics") {
      void metrics.registry.getMetricsAsJSON().then((families) => process.send!({ type: "metrics", id: m.id, families: families as MetricFamily[] } satisfies FromWorker));
    } else if (m.type === "watch") {
      watch = { until: performance.now() + m.ms, flows: new Map() };
    } else if (m.type === "watched") {
      process.send!({ type: "watched", id: m.id, flows: [...(watch?.flows.values() ?? [])] } satisfies FromWorker);
      watch = null;
    } else if (m.type === "ejected") {
      ejected = new Map(Object.entries(m.byListener).map(([k, v]) => [k, new Set(v)]));
      runtime.setEjected(ejected);
    } else if (m.type === "stop") {
      void runtime.close().then(() => {
        observer.log.flush();
        process.exit(0);
      });
    }
  });
  process.send!({ type: "hello" } satisfies FromWorker);
}
