import type { Clock } from "./clock";
import type { Logger } from "./log";

/**
 * One of the agent's long-running jobs (heartbeat, push stream, reconcile, the claim safety net;
 * next: lease reporting, service rules). `run` loops until `signal` aborts and handles its own
 * errors; the agent starts its jobs in order after recovery and ends them together at shutdown.
 */
export interface AgentJob {
  readonly name: string;
  run(signal: AbortSignal): Promise<void>;
}

/** A job that calls `tick` every `everyMs` (after the first wait); a failing tick is logged and the next one comes. */
export function periodicJob(name: string, everyMs: number, tick: () => Promise<void>, deps: { clock: Clock; log: Logger }): AgentJob {
  return {
    name,
    async run(signal: AbortSignal): Promise<void> {
      while (!signal.aborted) {
        await deps.clock.sleep(everyMs, signal);
        if (signal.aborted) return;
        await tick().catch((e: unknown) => deps.log.error(`${name} failed`, { error: (e as Error).message }));
      }
    },
  };
}
