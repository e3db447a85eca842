import { CanonicalIp, PortNumber, memberAddressProblem } from "@switchyard/dataplane";
import { z } from "zod";
import { systemClock } from "../clock";
import { HealthCheck, type HealthTransition, type MemberHealthState, type ProbeOutcome, applyProbeOutcome, createHealthState } from "./health";
import { type ProbeClock, probeMember } from "./health-probe";

/** One member to check: the console's key for it, its address and port on this host, its service's check. */
export const HealthTarget = z.object({
  key: z.string().min(1).max(200),
  address: CanonicalIp.superRefine((a, ctx) => {
    const problem = memberAddressProblem(a);
    if (problem) ctx.addIssue({ code: "custom", message: `${problem}: it cannot be checked as a member` });
  }),
  port: PortNumber,
  check: HealthCheck,
});
export type HealthTarget = z.infer<typeof HealthTarget>;

/** Every check's result, for the console: the state after it, the probe, and the transition if the status changed. */
export interface HealthReport {
  key: string;
  state: MemberHealthState;
  outcome: ProbeOutcome;
  transition: HealthTransition | null;
}

export interface HealthCheckerOptions {
  /** Checks in flight at once, across all members (default 16): 10,000 members never open 10,000 sockets. */
  maxConcurrent?: number;
  onReport?: (report: HealthReport) => void;
  /** The schedule and latencies run on its monotonic time; the times reported (`at`, `since`) are its wall time. */
  clock?: ProbeClock;
}

export interface HealthChecker {
  /** Replaces the set of members to check: new ones start `unknown`, removed ones stop; a changed address or check starts over. */
  setTargets(targets: readonly HealthTarget[]): void;
  /** The current state of every member, by key. */
  states(): Map<string, MemberHealthState>;
  /** Stops every timer and waits for checks in flight (each bounded by its timeout). Idempotent. */
  stop(): Promise<void>;
}

interface Entry {
  target: HealthTarget;
  fingerprint: string;
  state: MemberHealthState;
  timer: NodeJS.Timeout | null;
  isRemoved: boolean;
}

// A probe's own timer is the limit; this only guards against a probe that never settles.
const GRACE_MS = 250;

/**
 * Runs each member's check every `intervalMs` (the first one at a random point of the first
 * interval, so thousands of members do not fire together), at most `maxConcurrent` at once,
 * each within its `timeoutMs`, and folds the outcomes through the state machine. A member whose
 * previous check is still queued or running skips a round rather than piling up; the next check
 * of a member is one interval after its last probe began, however long that probe waited for a slot.
 */
export function createHealthChecker(options: HealthCheckerOptions = {}): HealthChecker {
  const maxConcurrent = options.maxConcurrent ?? 16;
  const clock = options.clock ?? systemClock;
  const entries = new Map<string, Entry>();
  const inFlight = new Set<Promise<void>>();
  const waiting: (() => void)[] = [];
  let running = 0;
  let isStopped = false;

  const acquire = async () => {
    if (running < maxConcurrent) {
      running++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };

  const schedule = (entry: Entry, delayMs: number) => {
    if (isStopped || entry.isRemoved) return;
    entry.timer = setTimeout(() => {
      entry.timer = null;
      const job = checkOnce(entry).finally(() => inFlight.delete(job));
      inFlight.add(job);
    }, delayMs);
  };

  const checkOnce = async (entry: Entry) => {
    await acquire();
    // From when the probe could go (not from the queue): a member's probes are never closer than one interval.
    const started = clock.monotonic();
    try {
      if (isStopped || entry.isRemoved) return;
      const { target } = entry;
      const outcome = await withGuard(probeMember(target, target.check, clock), target.check.timeoutMs + GRACE_MS, clock);
      if (entry.isRemoved) return;
      const { state, transition } = applyProbeOutcome(entry.state, outcome, target.check);
      entry.state = state;
      options.onReport?.({ key: target.key, state, outcome, transition });
    } finally {
      release();
      schedule(entry, Math.max(0, entry.target.check.intervalMs - (clock.monotonic() - started)));
    }
  };

  return {
    setTargets(targets) {
      if (isStopped) throw new Error("health checker is stopped");
      const parsed = z.array(HealthTarget).safeParse(targets);
      if (!parsed.success) throw new Error(`health targets refused: ${z.prettifyError(parsed.error)}`);
      const wanted = new Map<string, HealthTarget>();
      for (const t of parsed.data) {
        if (wanted.has(t.key)) throw new Error(`health targets refused: key "${t.key}" is listed twice`);
        wanted.set(t.key, t);
      }
      for (const [key, entry] of entries) {
        const next = wanted.get(key);
        if (next && JSON.stringify(next) === entry.fingerprint) continue;
        entry.isRemoved = true;
        if (entry.timer) clearTimeout(entry.timer);
        entries.delete(key);
      }
      for (const [key, target] of wanted) {
        if (entries.has(key)) continue;
        const entry: Entry = { target, fingerprint: JSON.stringify(target), state: createHealthState(clock.now()), timer: null, isRemoved: false };
        entries.set(key, entry);
        schedule(entry, Math.floor(Math.random() * target.check.intervalMs));
      }
    },
    states() {
      return new Map([...entries].map(([key, e]) => [key, e.state]));
    },
    async stop() {
      isStopped = true;
      for (const entry of entries.values()) {
        entry.isRemoved = true;
        if (entry.timer) clearTimeout(entry.timer);
      }
      for (const wake of waiting.splice(0)) wake();
      await Promise.allSettled([...inFlight]);
    },
  };
}

function withGuard(probe: Promise<ProbeOutcome>, limitMs: number, clock: ProbeClock): Promise<ProbeOutcome> {
  const started = clock.monotonic();
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<ProbeOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ result: "timeout", latencyMs: clock.monotonic() - started, message: `check did not finish within ${limitMs} ms`, at: clock.now() }), limitMs);
  });
  return Promise.race([probe, guard]).finally(() => clearTimeout(timer));
}
