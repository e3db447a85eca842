import type { Logger } from "../log";
import { type HealthReport, HealthTarget, createHealthChecker } from "./health-checker";

/**
 * The members on this host that the console asks this agent to check (issue 12, Health): their
 * targets fetched whenever the services change, checked by the health checker, the verdicts sent
 * back. A change of verdict goes at once (it may move rules on every host); the last latency and
 * message of every member go in one batch every few seconds.
 */

/** How often the latest result of every member is sent when no verdict changed. */
export const HEALTH_BATCH_MS = 5000;
/** How soon a changed verdict is sent (a few changes at once travel together). */
export const HEALTH_FLUSH_SOON_MS = 50;

export interface HealthLoopDeps {
  fetchTargets(): Promise<unknown[]>;
  report(input: { reports: { key: string; status: "unknown" | "healthy" | "unhealthy"; latencyMs: number | null; message: string; checkedAt: Date }[] }): Promise<unknown>;
  log: Logger;
  maxConcurrent?: number;
}

export function createHealthLoop(deps: HealthLoopDeps) {
  const pending = new Map<string, HealthReport>();
  let timer: ReturnType<typeof setTimeout> | null = null;
  let flushing: Promise<void> | null = null;
  let stopped = false;

  const checker = createHealthChecker({
    maxConcurrent: deps.maxConcurrent,
    onReport: (r) => {
      pending.set(r.key, r);
      schedule(r.transition ? HEALTH_FLUSH_SOON_MS : HEALTH_BATCH_MS);
    },
  });

  function schedule(ms: number) {
    if (stopped) return;
    if (timer && ms >= HEALTH_BATCH_MS) return; // a batch is already due no later than this
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void flush();
    }, ms);
    timer.unref?.();
  }

  async function flush(): Promise<void> {
    if (flushing) return flushing;
    const batch = [...pending.values()];
    pending.clear();
    if (batch.length === 0) return;
    flushing = deps
      .report({
        reports: batch.map((r) => ({ key: r.key, status: r.state.status, latencyMs: r.outcome.latencyMs === null ? null : Math.round(r.outcome.latencyMs), message: r.outcome.message.slice(0, 500), checkedAt: new Date(r.outcome.at) })),
      })
      .then(() => undefined)
      .catch((e: unknown) => {
        // Kept for the next flush (newer results of the same member replace them).
        for (const r of batch) if (!pending.has(r.key)) pending.set(r.key, r);
        deps.log.warn("services: health report failed; sent again with the next", { error: (e as Error).message });
        schedule(HEALTH_BATCH_MS);
      })
      .finally(() => (flushing = null));
    return flushing;
  }

  return {
    /** Fetches the members to check and hands them to the checker (new ones start unknown, gone ones stop). */
    async refresh(): Promise<void> {
      const raw = await deps.fetchTargets();
      const targets: HealthTarget[] = [];
      for (const t of raw) {
        const parsed = HealthTarget.safeParse(t);
        if (parsed.success) targets.push(parsed.data);
        else deps.log.warn("services: a health target refused", { error: parsed.error.issues[0]?.message });
      }
      if (!stopped) checker.setTargets(targets);
    },
    flush,
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await checker.stop();
    },
  };
}
