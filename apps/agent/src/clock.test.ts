import type { AgentMetricsSnapshot } from "@switchyard/api/schemas/agentMetrics";
import { afterEach, describe, expect, it, vi } from "vitest";
import { recordingLogger, steppingClock, useFakeTime } from "../test/fakes";
import { type Clock, steadyWallClock } from "./clock";
import { createMetricsPusher } from "./metrics";

afterEach(() => void vi.useRealTimers());

/** The takenAt of each snapshot pushed with `clock`, one push before and two after the wall clock is stepped back an hour. */
async function takenAtAcrossStepBack(wrap: (clock: Clock) => Clock): Promise<number[]> {
  useFakeTime(vi);
  const { clock, step } = steppingClock();
  const sent: AgentMetricsSnapshot[] = [];
  const pusher = createMetricsPusher({
    metrics: { snapshot: async (now) => ({ takenAt: now, metrics: [] }) },
    send: async (s) => void sent.push(s),
    clock: wrap(clock),
    log: recordingLogger(),
  });
  await pusher.push();
  await vi.advanceTimersByTimeAsync(30_000);
  step(-3600_000);
  await pusher.push();
  await vi.advanceTimersByTimeAsync(30_000);
  await pusher.push();
  vi.useRealTimers();
  return sent.map((s) => s.takenAt.getTime());
}

describe("clock", () => {
  it("metrics snapshots stay in order across a wall-clock step back (the console keeps only a newer takenAt)", async () => {
    const steady = await takenAtAcrossStepBack(steadyWallClock);
    expect(steady[1]! - steady[0]!).toBe(30_000);
    expect(steady[2]! - steady[1]!).toBe(30_000);
    // The control: by the wall clock itself the later snapshots are an hour older, and the console would drop them.
    const wall = await takenAtAcrossStepBack((c) => c);
    expect(wall[1]!).toBeLessThan(wall[0]!);
  });

  it("a steady wall clock starts at the wall time and moves with the monotonic clock", () => {
    useFakeTime(vi);
    const { clock, step } = steppingClock();
    const steady = steadyWallClock(clock);
    expect(steady.now()).toBe(clock.now());
    step(7200_000);
    vi.advanceTimersByTime(1000);
    expect(steady.now()).toBe(clock.now() - 7200_000);
    expect(steady.monotonic()).toBe(clock.monotonic());
  });

  it("says whole milliseconds, as Date.now() does, from a monotonic clock that has fractions", () => {
    const wall = 1_765_000_000_000;
    let mono = 1000.25;
    const steady = steadyWallClock({ now: () => wall, monotonic: () => mono, sleep: async () => {} });
    mono += 2.9;
    expect(steady.now()).toBe(wall + 2);
    expect(Number.isInteger(steady.now())).toBe(true);
  });
});
