/**
 * One process of bench/fleet.ts's fleet: several host agents — the agent's own code, createAgent —
 * in one Node process, each with its own data, cache and conf dirs, host name and join token, all
 * sharing one spawn helper (AgentOptions.spawner) instead of one helper process each. fleet.ts
 * bundles this file as the agent is bundled (tooling/bundle.mjs) and drives it over IPC:
 *
 *   parent → worker  { t: "start", agents, common }   create and run the agents, all at once
 *                    { t: "stats" }                   answered with { t: "stats", … }
 *                    { t: "reset-loop" }              the event-loop delay histogram starts again
 *                    { t: "profile", path? }          start a CPU profile; with a path, write it there
 *                    { t: "stop" }                    stop every agent (bounded), answer, exit
 *   worker → parent  { t: "ready", rssKiB }           loaded, no agent yet (the process's floor)
 *                    { t: "events", events, … }       every 200 ms: what the agents said that matters
 *
 * The agents' logs are not written line by line (500 agents' info lines are noise): the lines that
 * mark a state (enrolled, push stream open or lost) become events, warnings and errors are counted
 * by message and the first of each kept with its fields. The process exits when its parent goes.
 */
import { readFileSync } from "node:fs";
import { createHelperSpawner } from "@switchyard/cni";
import { type Agent, createAgent } from "../apps/agent/src/agent";
import { systemClock } from "../apps/agent/src/clock";
import { parseConfig } from "../apps/agent/src/config";
import type { Logger } from "../apps/agent/src/log";
import { createStretchProfiler } from "./profile";

export interface FleetAgentSpec {
  /** The agent's index in the fleet (events name it). */
  index: number;
  hostname: string;
  joinToken: string;
  /** Its data, cache and conf dirs are under here. */
  root: string;
}

export interface FleetCommon {
  /** Agent flags every agent of the fleet gets (--console-url, --cni-path, …), as a host's unit passes them. */
  args: string[];
}

export type FleetEventKind = "enrolled" | "open" | "lost" | "exited" | "failed";
export interface FleetEvent {
  index: number;
  kind: FleetEventKind;
  /** Date.now() in this process. */
  at: number;
  detail?: string;
}

export interface FleetWorkerStats {
  t: "stats";
  rssKiB: number;
  hwmKiB: number;
  heapUsedMiB: number;
  /** Warnings and errors the agents logged, by level and message, with the first one's fields. */
  problems: { key: string; count: number; first: string }[];
  /** Enrolment retries by the HTTP status (or "network") the console answered. */
  enrolRetries: Record<string, number>;
  /** Event-loop delay of this process (ms): 100 agents share one loop. */
  loopDelayMs: { p50: number; p99: number; max: number };
}

const kib = (status: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
const ownStatus = () => readFileSync("/proc/self/status", "utf8");

export async function main(_argv: string[]): Promise<number> {
  if (!process.send) throw new Error("fleet-worker runs under bench/fleet.ts (an IPC channel), not by hand");
  const send = (m: unknown) => {
    if (process.connected) process.send!(m);
  };
  // Every agent's CNI cache dir lock registers an exit listener while it is used: 100 agents in one
  // process are more than EventEmitter's warning threshold of 10 without any leak.
  process.setMaxListeners(0);
  const { monitorEventLoopDelay } = await import("node:perf_hooks");
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();

  const events: FleetEvent[] = [];
  const problems = new Map<string, { count: number; first: string }>();
  const enrolRetries: Record<string, number> = {};
  const note = (index: number, kind: FleetEventKind, detail?: string) => events.push({ index, kind, at: Date.now(), ...(detail ? { detail } : {}) });

  /** The agent's Logger, minus the writing: state lines become events, problems counts. */
  const loggerFor = (index: number): Logger => {
    const emit = (level: "debug" | "info" | "warn" | "error") => (msg: string, fields: Record<string, unknown> = {}) => {
      if (msg === "enrolled") note(index, "enrolled");
      else if (msg === "push stream open") note(index, "open");
      else if (msg.startsWith("push stream lost")) note(index, "lost", String(fields.error ?? ""));
      if (msg === "enrolment failed; retrying") {
        const status = String(fields.status ?? "network");
        enrolRetries[status] = (enrolRetries[status] ?? 0) + 1;
      }
      if (level !== "warn" && level !== "error") return;
      const key = `${level}: ${msg}${fields.status !== undefined ? ` (status ${String(fields.status)})` : ""}`;
      const seen = problems.get(key);
      if (seen) seen.count++;
      else if (problems.size < 200) problems.set(key, { count: 1, first: JSON.stringify({ agent: index, ...fields }).slice(0, 400) });
    };
    return { debug: () => {}, info: emit("info"), warn: emit("warn"), error: emit("error") };
  };

  const flush = setInterval(() => {
    if (events.length > 0) send({ t: "events", events: events.splice(0) });
  }, 200);

  // One helper for all the agents of this process (each would otherwise fork its own, ~45 MB).
  const spawner = createHelperSpawner();
  const agents: Agent[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      // Each agent's stop is bounded by its own shutdown grace (--shutdown-grace); this bounds them all.
      await Promise.race([Promise.allSettled(agents.map((a) => a.stop())), new Promise((r) => setTimeout(r, 20_000).unref())]);
      spawner.close();
      clearInterval(flush);
      if (events.length > 0) send({ t: "events", events: events.splice(0) });
    })());

  const start = (specs: FleetAgentSpec[], common: FleetCommon) => {
    for (const spec of specs) {
      const config = parseConfig(
        [...common.args, "--hostname", spec.hostname, "--join-token", spec.joinToken, "--data-dir", `${spec.root}/data`, "--cache-dir", `${spec.root}/cache`, "--conf-dir", `${spec.root}/net.d`],
        {},
        spec.hostname,
      );
      const agent = createAgent(config, loggerFor(spec.index), systemClock, { spawner });
      agents.push(agent);
      agent.run().then(
        () => note(spec.index, "exited"),
        (error: unknown) => note(spec.index, "failed", (error as Error).message),
      );
    }
  };

  const profiler = createStretchProfiler();
  process.on("message", (m: { t: string; agents?: FleetAgentSpec[]; common?: FleetCommon; path?: string }) => {
    if (m.t === "start") start(m.agents!, m.common!);
    else if (m.t === "stats") {
      const status = ownStatus();
      const stats: FleetWorkerStats = {
        t: "stats",
        rssKiB: kib(status, "VmRSS"),
        hwmKiB: kib(status, "VmHWM"),
        heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
        problems: [...problems].map(([key, v]) => ({ key, ...v })),
        enrolRetries,
        loopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
      };
      send(stats);
    } else if (m.t === "reset-loop") loop.reset();
    else if (m.t === "profile") void (m.path ? profiler.stop(m.path) : profiler.start());
    else if (m.t === "stop") void stopAll().then(() => (send({ t: "stopped" }), setTimeout(() => process.exit(0), 100)));
  });
  // The bench stopped or died: nothing may outlive it. A Ctrl-C is the bench's to handle (it stops us in order).
  process.on("disconnect", () => void stopAll().finally(() => process.exit(0)));
  process.on("SIGINT", () => {});
  send({ t: "ready", rssKiB: kib(ownStatus(), "VmRSS") });
  return new Promise<number>(() => undefined);
}

// From source (`node --import tsx bench/fleet-worker.ts --run`, fleet.ts --from-source); the bundle's own wrapper calls main.
if (process.argv[2] === "--run") void main(process.argv.slice(3));
