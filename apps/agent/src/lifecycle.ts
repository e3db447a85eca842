import type { Clock } from "./clock";
import type { AgentJob } from "./jobs";
import type { Logger } from "./log";

/** The least time the final flush gets, even when the operations used up the grace. */
export const MIN_FLUSH_MS = 2000;

export interface LifecycleDeps {
  /** Once, before the jobs: enrolment, local recovery, the first reconcile. */
  start(): Promise<void>;
  /** Started in this order once `start` is done; they end when the agent stops. */
  jobs: AgentJob[];
  /** Waits for the operations in flight, at most `graceMs`. */
  drain(graceMs: number): Promise<unknown>;
  /** Sends what is still on its way (job lines, queued outcomes); skipped when the credential was refused. */
  flush(): Promise<void>;
  /** Releases what the agent holds (the spawn helper, timers). Runs once, last. */
  close(): void;
  /** How long shutdown waits for operations in flight. */
  graceMs: number;
  /** Aborted when the agent stops; the jobs and the scheduler watch it. */
  stopping: AbortController;
  clock: Clock;
  log: Logger;
}

/**
 * The agent's life: start, run the jobs, stop. Stopping is idempotent (every call gets the same
 * promise), ordered (stop taking work, let the operations in flight finish, flush, close) and
 * bounded (the grace for operations and jobs, then at most max(the rest of it, MIN_FLUSH_MS) for
 * the flush). A fatal error (the credential refused) stops the agent the same way, without the
 * flush, and `run` rejects with it.
 */
export function createLifecycle(deps: LifecycleDeps) {
  const { stopping } = deps;
  let fatal: Error | undefined;
  let started: Promise<void> | undefined;
  let jobsEnded: Promise<unknown> = Promise.resolve();
  let shutdown: Promise<void> | undefined;
  const aborted = new Promise<void>((resolve) => stopping.signal.addEventListener("abort", () => resolve(), { once: true }));

  /** Resolves with `work`, or after `ms` (whichever first), without leaving a timer behind. */
  async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
    const timer = new AbortController();
    const done = await Promise.race([work.then(() => true), deps.clock.sleep(Math.max(0, ms), timer.signal).then(() => false)]);
    timer.abort();
    return done;
  }

  async function shutDown(): Promise<void> {
    stopping.abort();
    const deadline = deps.clock.monotonic() + deps.graceMs;
    const left = () => Math.floor(deadline - deps.clock.monotonic());
    // Nothing new starts now; what was starting (recovery, the first reconcile) finishes first.
    if (started) await within(started.catch(() => {}), left());
    await deps.drain(Math.max(0, left()));
    if (!(await within(jobsEnded, left()))) deps.log.warn("stopping without waiting further for a job");
    if (!fatal && !(await within(deps.flush().catch((e: unknown) => deps.log.warn("final flush failed", { error: (e as Error).message })), Math.max(left(), MIN_FLUSH_MS)))) {
      deps.log.warn("final flush cut short: what is queued on disk is sent at the next start");
    }
    deps.close();
  }

  return {
    /** The credential was refused (or the start failed): nothing more goes to the console. */
    get failed(): boolean {
      return fatal !== undefined;
    },
    /** Stops the agent for good: the jobs end, and run() rejects with `error`. */
    fail(error: Error): void {
      fatal ??= error;
      stopping.abort();
    },
    /** Resolves when the agent stopped (stop() was called), rejects when it failed. */
    async run(): Promise<void> {
      try {
        started = deps.start();
        await started;
        if (!stopping.signal.aborted) jobsEnded = Promise.all(deps.jobs.map((job) => job.run(stopping.signal)));
        await Promise.race([jobsEnded, aborted]);
      } catch (error) {
        // A start that failed (not enrolled) is the run's failure.
        fatal ??= error as Error;
      }
      await (shutdown ??= shutDown());
      if (fatal) throw fatal;
    },
    stop(): Promise<void> {
      return (shutdown ??= shutDown());
    },
  };
}
