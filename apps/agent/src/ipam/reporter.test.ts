import type { IpamSnapshot } from "@switchyard/api/schemas/ipam";
import { afterEach, describe, expect, it, vi } from "vitest";
import { recordingLogger, settle, steppingClock, useFakeTime } from "../../test/fakes";
import { createIpamReporter } from "./reporter";

afterEach(() => void vi.useRealTimers());

describe("IPAM reporter", () => {
  it("a full report comes every fullEveryMs by the monotonic clock, whatever the wall clock is stepped to", async () => {
    useFakeTime(vi);
    const { clock, step } = steppingClock();
    // Whether each report was full, in order.
    const full: boolean[] = [];
    const reporter = createIpamReporter({
      snapshot: async (_previous, isFull) => (full.push(isFull), { takenAt: clock.now(), networks: [] }) as unknown as IpamSnapshot,
      send: async () => undefined,
      intervalMs: 10_000,
      fullEveryMs: 3600_000,
      log: recordingLogger(),
      clock,
    });
    const stop = new AbortController();
    const running = reporter.run(stop.signal);
    await settle();
    expect(full).toEqual([true]);
    // Two hours forward: the next look is a change report, not a full one.
    step(2 * 3600_000);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(full).toEqual([true, false]);
    // Four hours back: the full report still comes an hour after the first.
    step(-4 * 3600_000);
    await vi.advanceTimersByTimeAsync(3600_000 - 10_000);
    expect(full.filter(Boolean)).toHaveLength(2);
    expect(full.at(-1)).toBe(true);
    stop.abort();
    await running;
  });
});
