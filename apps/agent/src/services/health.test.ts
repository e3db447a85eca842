import { describe, expect, it } from "vitest";
import { HealthCheck, type HealthTransition, type MemberHealthState, type ProbeOutcome, type Thresholds, applyProbeOutcome, createHealthState } from "./health";

const outcome = (result: ProbeOutcome["result"], at: number): ProbeOutcome => ({ result, latencyMs: result === "timeout" ? 500 : 3, message: result, at });

const SYMBOL = { unknown: "?", healthy: "+", unhealthy: "-" } as const;

/** Runs outcomes ("s" success, "f" failure, "t" timeout); returns the status after each (? unknown, + healthy, - unhealthy) and the transitions. */
function run(sequence: string, thresholds: Thresholds) {
  let state: MemberHealthState = createHealthState(0);
  const statuses: string[] = [];
  const transitions: HealthTransition[] = [];
  [...sequence].forEach((c, i) => {
    const r = applyProbeOutcome(state, outcome(c === "s" ? "success" : c === "f" ? "failure" : "timeout", i + 1), thresholds);
    state = r.state;
    statuses.push(SYMBOL[state.status]);
    if (r.transition) transitions.push(r.transition);
  });
  return { state, statuses: statuses.join(""), transitions };
}

describe("member health state machine", () => {
  it("stays unknown until a threshold is reached, then decides", () => {
    expect(run("sss", { healthyThreshold: 3, unhealthyThreshold: 2 }).statuses).toBe("??+");
    expect(run("ff", { healthyThreshold: 3, unhealthyThreshold: 2 }).statuses).toBe("?-");
    expect(run("fff", { healthyThreshold: 3, unhealthyThreshold: 3 }).statuses).toBe("??-");
  });

  it("goes down after unhealthyThreshold consecutive failures and up after healthyThreshold successes", () => {
    const r = run("ssfffss", { healthyThreshold: 2, unhealthyThreshold: 3 });
    expect(r.statuses).toBe("?+++--+");
    expect(r.transitions.map((t) => `${t.from}>${t.to}@${t.at}`)).toEqual(["unknown>healthy@2", "healthy>unhealthy@5", "unhealthy>healthy@7"]);
  });

  it("a flapping member keeps its verdict: a broken streak starts over", () => {
    const r = run("ssfsfsfsfs", { healthyThreshold: 2, unhealthyThreshold: 2 });
    expect(r.statuses).toBe("?+++++++++");
    expect(r.transitions).toHaveLength(1);
    const down = run("ffsfsfsfsf", { healthyThreshold: 2, unhealthyThreshold: 2 });
    expect(down.statuses).toBe("?---------");
    expect(down.transitions).toHaveLength(1);
    expect(down.state.consecutiveFailures).toBe(1);
  });

  it("a timeout counts as a failure", () => {
    const r = run("sstt", { healthyThreshold: 1, unhealthyThreshold: 2 });
    expect(r.statuses).toBe("+++-");
    expect(r.transitions.at(-1)).toMatchObject({ from: "healthy", to: "unhealthy", message: "timeout", at: 4 });
    expect(run("tft", { healthyThreshold: 1, unhealthyThreshold: 3 }).statuses).toBe("??-");
  });

  it("records the last latency, message and time of every check, and when the status changed", () => {
    const r = run("sf", { healthyThreshold: 1, unhealthyThreshold: 5 });
    expect(r.state).toEqual({ status: "healthy", consecutiveSuccesses: 0, consecutiveFailures: 1, lastLatencyMs: 3, lastMessage: "failure", lastCheckedAt: 2, since: 1 });
  });
});

describe("HealthCheck schema", () => {
  const base = { kind: "http", path: "/healthz", expectedStatus: 200, intervalMs: 1000, timeoutMs: 500, healthyThreshold: 2, unhealthyThreshold: 3 } as const;

  it("accepts a TCP and an HTTP check", () => {
    expect(HealthCheck.parse(base)).toEqual(base);
    expect(HealthCheck.parse({ kind: "tcp", intervalMs: 100, timeoutMs: 100, healthyThreshold: 1, unhealthyThreshold: 1 }).kind).toBe("tcp");
  });

  it.each([
    [{ path: "healthz" }, /must start with '\/'/],
    [{ path: "/a b" }, /visible ASCII/],
    [{ path: "/a\r\nHost: evil" }, /visible ASCII/],
    [{ path: "/a#b" }, /fragment/],
    [{ timeoutMs: 2000 }, /at most intervalMs/],
    [{ intervalMs: 10, timeoutMs: 10 }, /intervalMs/],
    [{ healthyThreshold: 0 }, /healthyThreshold/],
    [{ expectedStatus: 99 }, /expectedStatus/],
  ])("refuses %o", (patch, message) => {
    const r = HealthCheck.safeParse({ ...base, ...patch });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(message);
  });
});
