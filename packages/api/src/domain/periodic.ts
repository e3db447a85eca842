export interface PeriodicJob<T> {
  /** One run now; a run already going is joined, not doubled (the timer's own runs wait for it too). */
  runOnce(): Promise<T>;
  stop(): void;
}

/**
 * Runs `run` every `intervalMs` in this process, never two at once, without keeping the process
 * alive. Several console replicas may each run one: the jobs given here skip rows another replica
 * is working on rather than wait for them.
 */
export function startPeriodic<T>(run: () => Promise<T>, opts: { intervalMs: number; onDone?: (outcome: T) => void; onError?: (err: unknown) => void }): PeriodicJob<T> {
  let running: Promise<T> | null = null;
  const runOnce = () => {
    running ??= run().finally(() => {
      running = null;
    });
    return running;
  };
  const timer = setInterval(() => {
    runOnce().then(
      (outcome) => opts.onDone?.(outcome),
      (err: unknown) => opts.onError?.(err),
    );
  }, opts.intervalMs);
  timer.unref();
  return { runOnce, stop: () => clearInterval(timer) };
}
