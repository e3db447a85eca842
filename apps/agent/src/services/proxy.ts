import { type ChildProcess, fork, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type MetricFamily, type ParentMessage, type ProxyConfig, type ProxyEvent, type WatchedFlow, listenerKey } from "@switchyard/dataplane/proxy";
import type { Logger } from "../log";

/**
 * The userspace proxy under the agent (issue 14 §1): its own process (`switchyard-agent proxy`, from
 * the agent's own file: nothing more to ship), so a proxy crash never takes the agent down. Started when a config first
 * has a listener, restarted when it dies (its last config sent again; a pause that grows while it
 * keeps dying), stopped with the agent; the proxy stops itself if the agent dies (its IPC channel
 * closes). In `netns` mode it runs inside that namespace, as the rest of the services plane does.
 */

export interface ProxySupervisorDeps {
  log: Logger;
  /** The script that runs the proxy and the arguments before the proxy's own: this agent's file and `proxy` by default. */
  command?: { script: string; args: string[] };
  /** Workers (default: one per core). */
  workers?: number;
  /** Run inside this named namespace (tests, labs). */
  netns?: string;
  /** Passive health changed: the proxy's ejections, whole, each with its service. */
  onEjections?(ejections: ReportedEjection[]): void;
  /** How long connections of a removed listener (or a stopping proxy) get to finish, in ms (default 5 s). */
  graceMs?: number;
  /** How long `apply` waits for the proxy to say it runs a config. */
  applyTimeoutMs?: number;
}

export interface ReportedEjection {
  serviceId: string;
  listener: string;
  member: string;
  reason: string;
  since: number;
  until: number;
  count: number;
}

export interface ApplyResult {
  version: number;
  /** Listeners that could not listen, or the whole config refused. */
  errors: { listener: string; error: string }[];
}

/** How the proxy is started: this agent's own file with `proxy` (the bundle carries it), or the built bundle when running from source. */
export function defaultProxyCommand(): { script: string; args: string[] } {
  const self = process.argv[1] ?? "";
  if (/switchyard-agent(\.mjs)?$/.test(self)) return { script: self, args: ["proxy"] };
  return { script: fileURLToPath(new URL("../../dist/switchyard-agent.mjs", import.meta.url)), args: ["proxy"] };
}

export function createProxySupervisor(deps: ProxySupervisorDeps) {
  const command = deps.command ?? defaultProxyCommand();
  let child: ChildProcess | null = null;
  let config: ProxyConfig | null = null;
  let stopping = false;
  let restarts = 0;
  let startedAt = 0;
  let restartTimer: NodeJS.Timeout | null = null;
  let askId = 0;
  /** Questions asked of the proxy (metrics, watched flows) by id, waiting for its answer. */
  const waiters = new Map<number, (answer: unknown[]) => void>();
  const applyWaiters = new Set<{ version: number; resolve(r: ApplyResult): void }>();
  let lastApplied: ApplyResult | null = null;
  /** Ejections already logged (listener|member|since). */
  let logged = new Set<string>();
  const stats = { starts: 0, exits: 0 };

  function start(): ChildProcess {
    const args = [...command.args, ...(deps.workers ? ["--workers", String(deps.workers)] : []), "--grace-ms", String(deps.graceMs ?? 5000)];
    // Under `ip netns exec` the IPC channel's descriptor is inherited through the exec (NODE_CHANNEL_FD).
    const proc = deps.netns
      ? spawn("ip", ["netns", "exec", deps.netns, process.execPath, command.script, ...args], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
      : fork(command.script, args, { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
    stats.starts += 1;
    startedAt = performance.now();
    proc.on("message", (m: ProxyEvent) => onEvent(m));
    proc.once("exit", (code, signal) => {
      stats.exits += 1;
      if (child === proc) child = null;
      for (const w of waiters.values()) w([]);
      waiters.clear();
      if (stopping) return;
      // A proxy that ran a minute is not crash-looping: start over from a short pause. (Monotonic: a wall-clock
      // step would reset the pause of a crash-looping proxy, or keep one that ran for an hour at the longest.)
      if (performance.now() - startedAt > 60_000) restarts = 0;
      const delay = Math.min(100 * 2 ** restarts, 5000);
      restarts += 1;
      deps.log.error("proxy: exited; restarting", { code, signal, inMs: delay, restarts });
      restartTimer = setTimeout(() => {
        restartTimer = null;
        if (stopping || config === null) return;
        child = start();
        send({ type: "config", config });
      }, delay);
    });
    proc.on("error", (e) => deps.log.error("proxy: could not start", { script: command.script, error: e.message }));
    deps.log.info("proxy: started", { pid: proc.pid, script: command.script, netns: deps.netns });
    return proc;
  }

  function send(m: ParentMessage): void {
    if (child?.connected) child.send(m);
  }

  /** Asks the proxy a question its primary answers by id; an empty answer when none runs or it does not answer in time. */
  function ask<T>(type: "metrics" | "watched", timeoutMs: number): Promise<T[]> {
    if (!child?.connected) return Promise.resolve([]);
    const id = ++askId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiters.delete(id);
        resolve([]);
      }, timeoutMs);
      timer.unref();
      waiters.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer as T[]);
      });
      send({ type, id });
    });
  }

  function onEvent(e: ProxyEvent): void {
    if (e.type === "applied" || e.type === "refused") {
      const result: ApplyResult = e.type === "applied" ? { version: e.version, errors: e.errors } : { version: e.version ?? -1, errors: [{ listener: "*", error: `config refused: ${e.error}` }] };
      if (e.type === "refused") deps.log.error("proxy: config refused", { version: e.version, error: e.error });
      lastApplied = result;
      for (const w of applyWaiters) {
        if (w.version !== result.version) continue;
        applyWaiters.delete(w);
        w.resolve(result);
      }
    } else if (e.type === "ejections") {
      const serviceOf = new Map((config?.listeners ?? []).map((l) => [listenerKey(l), l.serviceId]));
      const ejections = e.ejections.flatMap((x) => {
        const serviceId = serviceOf.get(x.listener);
        return serviceId === undefined ? [] : [{ serviceId, listener: x.listener, member: x.key, reason: x.reason, since: x.since, until: x.until, count: x.count }];
      });
      // The proxy sends the whole list at each change: each ejection is logged once, when it is new.
      const current = new Set<string>();
      for (const x of ejections) {
        const key = `${x.listener}|${x.member}|${x.since}`;
        current.add(key);
        if (!logged.has(key)) deps.log.warn("proxy: member ejected by passive health", { listener: x.listener, member: x.member, reason: x.reason, until: new Date(x.until).toISOString() });
      }
      logged = current;
      deps.onEjections?.(ejections);
    } else if (e.type === "metrics" || e.type === "watched") {
      waiters.get(e.id)?.(e.type === "metrics" ? e.families : e.flows);
      waiters.delete(e.id);
    } else if (e.type === "worker-exit") {
      deps.log.warn("proxy: a worker exited; the proxy restarts it", { code: e.code, signal: e.signal });
    }
  }

  return {
    /**
     * Hands `next` to the proxy (starting it when this is the first config with a listener) and
     * resolves when it says it runs that version, with the listeners it could not bind.
     */
    apply(next: ProxyConfig): Promise<ApplyResult> {
      config = next;
      if (child === null && restartTimer === null) {
        if (next.listeners.length === 0) return Promise.resolve({ version: next.version, errors: [] });
        child = start();
      }
      return new Promise((resolve) => {
        const waiter = { version: next.version, resolve };
        applyWaiters.add(waiter);
        const timer = setTimeout(() => {
          if (!applyWaiters.delete(waiter)) return;
          resolve({ version: next.version, errors: [{ listener: "*", error: `the proxy did not say it runs version ${next.version} within ${deps.applyTimeoutMs ?? 15_000} ms` }] });
        }, deps.applyTimeoutMs ?? 15_000);
        timer.unref();
        send({ type: "config", config: next });
      });
    },
    /** The workers' metrics, summed (prom-client's JSON); none when no proxy runs. */
    metrics(timeoutMs = 3000): Promise<MetricFamily[]> {
      return ask("metrics", timeoutMs);
    },
    /** Starts recording which member each client address and port is given, for `ms` (a probe's window). */
    watch(ms: number): void {
      send({ type: "watch", ms });
    },
    /** What was recorded since `watch` (and stops recording); empty when no proxy runs. */
    watched(timeoutMs = 3000): Promise<WatchedFlow[]> {
      return ask("watched", timeoutMs);
    },
    pid: () => child?.pid ?? null,
    lastApplied: () => lastApplied,
    stats: () => ({ ...stats, running: child !== null }),
    /** Stops the proxy: its workers get their grace to finish connections. */
    async stop(timeoutMs = (deps.graceMs ?? 5000) + 2000): Promise<void> {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      const proc = child;
      if (!proc) return;
      const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
      send({ type: "stop" });
      const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export type ProxySupervisor = ReturnType<typeof createProxySupervisor>;
