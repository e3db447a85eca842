import { z } from "zod";

/**
 * Active health checks of the members on this agent's host (issue 12, Health): the check's
 * shape, and the per-member state machine that turns probe outcomes into verdicts. Pure: the
 * probes (health-probe.ts) and the scheduler (health-checker.ts) feed it.
 */

export const HEALTH_LIMITS = {
  intervalMsMin: 100,
  intervalMsMax: 300_000,
  timeoutMsMin: 50,
  thresholdMax: 20,
  pathMaxLength: 1024,
} as const;

const Threshold = z.number().int().min(1).max(HEALTH_LIMITS.thresholdMax);

const checkTiming = {
  intervalMs: z.number().int().min(HEALTH_LIMITS.intervalMsMin).max(HEALTH_LIMITS.intervalMsMax),
  /** One check's hard limit, connect and response included; at most the interval. */
  timeoutMs: z.number().int().min(HEALTH_LIMITS.timeoutMsMin).max(HEALTH_LIMITS.intervalMsMax),
  /** Consecutive successes that make a member healthy. */
  healthyThreshold: Threshold,
  /** Consecutive failures (timeouts included) that make it unhealthy. */
  unhealthyThreshold: Threshold,
};

/** An HTTP path: starts with '/', visible ASCII only (no spaces, CR/LF or '#'), so it cannot split the request line. */
export const HealthPath = z
  .string()
  .max(HEALTH_LIMITS.pathMaxLength)
  .regex(/^\/[!-~]*$/, "must start with '/' and hold only visible ASCII characters (no spaces or control characters)")
  .refine((p) => !p.includes("#"), "must not hold a fragment ('#')");

export const HealthCheck = z
  .discriminatedUnion("kind", [
    z.object({ kind: z.literal("tcp"), ...checkTiming }),
    z.object({
      kind: z.literal("http"),
      path: HealthPath,
      /** The status a healthy member answers; anything else, a redirect included (never followed), is a failure. */
      expectedStatus: z.number().int().min(100).max(599),
      ...checkTiming,
    }),
  ])
  .refine((c) => c.timeoutMs <= c.intervalMs, { message: "timeoutMs must be at most intervalMs (a check never overlaps the next)", path: ["timeoutMs"] });
export type HealthCheck = z.infer<typeof HealthCheck>;

export type HealthStatus = "unknown" | "healthy" | "unhealthy";

/** What one probe found. A timeout is a failure of its own kind, so the message can say so. */
export interface ProbeOutcome {
  result: "success" | "failure" | "timeout";
  /** Time to the answer (connect for TCP, response headers for HTTP), or until it gave up. */
  latencyMs: number;
  message: string;
  /** When the probe finished (ms since the epoch, from the checker's clock). */
  at: number;
}

export interface MemberHealthState {
  status: HealthStatus;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  lastLatencyMs: number | null;
  lastMessage: string | null;
  lastCheckedAt: number | null;
  /** When the status last changed (or the state was created). */
  since: number;
}

export interface HealthTransition {
  from: HealthStatus;
  to: HealthStatus;
  at: number;
  /** The probe that tipped it, e.g. "HTTP 503 (expected 200)". */
  message: string;
}

export type Thresholds = Pick<HealthCheck, "healthyThreshold" | "unhealthyThreshold">;

/** A member nobody has checked yet: `unknown` until a threshold is reached. */
export function createHealthState(now: number): MemberHealthState {
  return { status: "unknown", consecutiveSuccesses: 0, consecutiveFailures: 0, lastLatencyMs: null, lastMessage: null, lastCheckedAt: null, since: now };
}

/**
 * Folds one probe outcome into a member's state: `healthyThreshold` consecutive successes make it
 * healthy, `unhealthyThreshold` consecutive failures (timeouts count) make it unhealthy; a streak
 * broken by the other outcome starts over, so a flapping member keeps its verdict. Returns the
 * new state and the transition, if the status changed.
 */
export function applyProbeOutcome(state: MemberHealthState, outcome: ProbeOutcome, thresholds: Thresholds): { state: MemberHealthState; transition: HealthTransition | null } {
  const isSuccess = outcome.result === "success";
  const consecutiveSuccesses = isSuccess ? state.consecutiveSuccesses + 1 : 0;
  const consecutiveFailures = isSuccess ? 0 : state.consecutiveFailures + 1;
  let status = state.status;
  if (isSuccess && consecutiveSuccesses >= thresholds.healthyThreshold) status = "healthy";
  if (!isSuccess && consecutiveFailures >= thresholds.unhealthyThreshold) status = "unhealthy";
  const next: MemberHealthState = {
    status,
    consecutiveSuccesses,
    consecutiveFailures,
    lastLatencyMs: outcome.latencyMs,
    lastMessage: outcome.message,
    lastCheckedAt: outcome.at,
    since: status === state.status ? state.since : outcome.at,
  };
  const transition = status === state.status ? null : { from: state.status, to: status, at: outcome.at, message: outcome.message };
  return { state: next, transition };
}
