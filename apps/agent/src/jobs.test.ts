import { afterEach, describe, expect, it, vi } from "vitest";
import { recordingLogger, settle, useFakeTime } from "../test/fakes";
import { systemClock } from "./clock";
import { periodicJob } from "./jobs";

afterEach(() => void vi.useRealTimers());

describe("periodic jobs", () => {
  it("ticks after each interval, logs a failing tick and goes on, and ends at once when stopped", async () => {
    useFakeTime(vi);
    const log = recordingLogger();
    let ticks = 0;
    const job = periodicJob("reconcile", 1000, async () => {
      if (++ticks === 2) throw new Error("console down");
    }, { clock: systemClock, log });
    const stop = new AbortController();
    const running = job.run(stop.signal);
    await settle();
    expect(ticks).toBe(0);
    await vi.advanceTimersByTimeAsync(3000);
    expect(ticks).toBe(3);
    expect(log.lines.filter((l) => l.level === "error")).toEqual([{ level: "error", msg: "reconcile failed", fields: { error: "console down" } }]);
    stop.abort();
    await running;
    await vi.advanceTimersByTimeAsync(5000);
    expect(ticks).toBe(3);
  });
});
