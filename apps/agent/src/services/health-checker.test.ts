import { type AddressInfo, type Server, createServer } from "node:net";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { steppingClock, useFakeTime } from "../../test/fakes";
import { type HealthReport, createHealthChecker } from "./health-checker";
import { probeMember } from "./health-probe";

// The scheduler's test answers each check at once (a member cannot be on loopback); the probe's own test connects for real.
vi.mock("./health-probe", async (actual) => {
  const real = await actual<typeof import("./health-probe")>();
  return { ...real, probeMember: vi.fn(real.probeMember) };
});

// A real member on loopback: the checks connect to it; only the clocks are fake.
let server: Server;
let port: number;
beforeEach(async () => {
  server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  vi.mocked(probeMember).mockReset(); // back to the real probe
  await new Promise((resolve) => server.close(resolve));
});

const CHECK = { kind: "tcp", intervalMs: 1000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 1 } as const;

/** Lets real I/O (the connect) run until `done()` holds; the fake timers stand still meanwhile. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !done(); i++) await new Promise<void>((r) => setImmediate(r));
}

/** The console's bound on a reported latency (packages/api/src/domain/serviceHealth.ts). */
const isAcceptedLatency = (ms: number) => ms >= 0 && ms <= 3_600_000;

describe("health checker", () => {
  it.each([
    ["back an hour", -3600_000],
    ["forward two hours", 2 * 3600_000],
  ])("runs the next check one interval later when the wall clock steps %s during a check", async (_step, stepMs) => {
    useFakeTime(vi);
    vi.spyOn(Math, "random").mockReturnValue(0); // the first check at once
    const { clock, step } = steppingClock();
    vi.mocked(probeMember).mockImplementation(async () => ({ result: "success", latencyMs: 0, message: "TCP connect", at: clock.now() }));
    const reports: HealthReport[] = [];
    const checker = createHealthChecker({
      clock,
      onReport: (r) => {
        if (reports.push(r) === 1) step(stepMs);
      },
    });
    checker.setTargets([{ key: "m", address: "10.88.0.11", port: 8080, check: CHECK }]);
    await vi.advanceTimersByTimeAsync(0);
    await until(() => reports.length === 1);
    expect(reports.map((r) => r.outcome.result)).toEqual(["success"]);

    await vi.advanceTimersByTimeAsync(900);
    await until(() => reports.length === 2);
    expect(reports).toHaveLength(1); // not early
    await vi.advanceTimersByTimeAsync(100);
    await until(() => reports.length === 2);
    expect(reports).toHaveLength(2); // not an hour late either
    await checker.stop();
  });

  it("a member's probes begin one interval apart even when one waited for a slot behind a slow probe", async () => {
    useFakeTime(vi);
    vi.spyOn(Math, "random").mockReturnValue(0); // every first check at once
    const { clock } = steppingClock();
    const began = { slow: [] as number[], fast: [] as number[] };
    vi.mocked(probeMember).mockImplementation(async (target) => {
      const key = target.port === 1 ? "slow" : "fast";
      began[key].push(clock.monotonic());
      // The slow member's probe holds the only slot for 400 ms.
      if (key === "slow") await new Promise((r) => setTimeout(r, 400));
      return { result: "success", latencyMs: 0, message: "TCP connect", at: clock.now() };
    });
    const checker = createHealthChecker({ clock, maxConcurrent: 1 });
    checker.setTargets([
      // Checked once in the window: only the fast member's first probe waits for the slot.
      { key: "slow", address: "10.88.0.11", port: 1, check: { ...CHECK, intervalMs: 10_000 } },
      { key: "fast", address: "10.88.0.12", port: 2, check: CHECK },
    ]);
    for (let i = 0; i < 40; i++) await vi.advanceTimersByTimeAsync(100);
    // Stopping waits for the probe in flight: the fake timers must let it end.
    const stopped = checker.stop();
    await vi.advanceTimersByTimeAsync(1000);
    await stopped;
    expect(began.fast.length).toBeGreaterThanOrEqual(3);
    // The first fast probe waited 400 ms for the slot; the next ones still begin a full interval after the one before.
    for (let i = 1; i < began.fast.length; i++) expect(began.fast[i]! - began.fast[i - 1]!).toBeGreaterThanOrEqual(CHECK.intervalMs);
  });

  it("a timeout reports at least its limit, however the monotonic clock read when the timer fired", async () => {
    // A member that takes the connection and never answers.
    const held: import("node:net").Socket[] = [];
    const silent = createServer((s) => void held.push(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    // libuv fires a timer by its whole-millisecond loop clock: the monotonic clock may read a little less.
    let reads = 0;
    const early = { now: () => Date.now(), monotonic: () => (reads++ === 0 ? 1000 : 1000 + 49.98) };
    try {
      const outcome = await probeMember({ address: "127.0.0.1", port: (silent.address() as AddressInfo).port }, { kind: "http", path: "/", expectedStatus: 200, intervalMs: 1000, timeoutMs: 50, healthyThreshold: 1, unhealthyThreshold: 1 }, early);
      expect(outcome).toMatchObject({ result: "timeout", latencyMs: 50 });
    } finally {
      for (const s of held) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("reports the time to connect, and the wall time the check finished, when the wall clock steps back during it", async () => {
    const started = Date.now();
    let reads = 0;
    // The first reading (of either clock) is before the connect, every later one after a step back of an hour.
    const clock = { now: () => Date.now() - (reads++ > 0 ? 3600_000 : 0), monotonic: () => (reads++, performance.now()) };
    const outcome = await probeMember({ address: "127.0.0.1", port }, CHECK, clock);
    expect(outcome.result).toBe("success");
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(0);
    expect(outcome.latencyMs).toBeLessThan(CHECK.timeoutMs);
    expect(isAcceptedLatency(Math.round(outcome.latencyMs))).toBe(true);
    // `at` is a time for the console: the wall clock's, stepped or not.
    expect(Math.abs(outcome.at - (started - 3600_000))).toBeLessThan(5000);
  });
});
