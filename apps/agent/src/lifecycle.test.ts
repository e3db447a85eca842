import { afterEach, describe, expect, it, vi } from "vitest";
import { deferred, recordingLogger, settle, useFakeTime } from "../test/fakes";
import { systemClock } from "./clock";
import type { AgentJob } from "./jobs";
import { MIN_FLUSH_MS, createLifecycle } from "./lifecycle";

afterEach(() => void vi.useRealTimers());

/** A lifecycle whose steps record themselves; `hang` makes a step never finish. */
function setup(opts: { graceMs?: number; startFails?: Error; hang?: ("job" | "drain" | "flush")[]; start?: Promise<void> } = {}) {
  const events: string[] = [];
  const hang = new Set(opts.hang ?? []);
  const forever = new Promise<void>(() => {});
  const job = (name: string): AgentJob => ({
    name,
    async run(signal) {
      events.push(`${name} runs`);
      await new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true }));
      events.push(`${name} sees stop`);
      if (hang.has("job")) await forever;
    },
  });
  const log = recordingLogger();
  const lifecycle = createLifecycle({
    start: async () => {
      events.push("start");
      if (opts.start) await opts.start;
      if (opts.startFails) throw opts.startFails;
    },
    jobs: [job("heartbeat"), job("push")],
    drain: async (graceMs) => {
      events.push(`drain ${graceMs}`);
      if (hang.has("drain")) await new Promise((r) => setTimeout(r, graceMs));
    },
    flush: async () => {
      events.push("flush");
      if (hang.has("flush")) await forever;
    },
    close: () => void events.push("close"),
    graceMs: opts.graceMs ?? 5000,
    stopping: new AbortController(),
    clock: systemClock,
    log,
  });
  return { lifecycle, events, log };
}

describe("the agent's life: start, jobs, stop", () => {
  it("starts, then runs the jobs in order; stop is ordered (no new work, drain, flush, close) and idempotent", async () => {
    const s = setup();
    const running = s.lifecycle.run();
    await settle();
    expect(s.events).toEqual(["start", "heartbeat runs", "push runs"]);
    const first = s.lifecycle.stop();
    const second = s.lifecycle.stop();
    expect(second).toBe(first);
    await first;
    await running;
    expect(s.events.slice(3)).toEqual(["heartbeat sees stop", "push sees stop", expect.stringMatching(/^drain \d+$/), "flush", "close"]);
    await s.lifecycle.stop();
    expect(s.events.filter((e) => e === "close")).toHaveLength(1);
  });

  it("is bounded: operations and jobs that never end get the grace, a hanging flush MIN_FLUSH_MS", async () => {
    useFakeTime(vi);
    const s = setup({ graceMs: 3000, hang: ["job", "drain", "flush"] });
    const running = s.lifecycle.run();
    await settle();
    let stopped = false;
    const stopping = s.lifecycle.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(3000 + MIN_FLUSH_MS - 2);
    expect(stopped).toBe(false);
    // (a timer of 0 ms counts as 1)
    await vi.advanceTimersByTimeAsync(5);
    await stopping;
    await running;
    expect(s.events.at(-1)).toBe("close");
    expect(s.log.messages("warn")).toEqual(["stopping without waiting further for a job", "final flush cut short: what is queued on disk is sent at the next start"]);
  });

  it("a refused credential stops it the same way without the flush, and run() rejects with it", async () => {
    const s = setup();
    const running = s.lifecycle.run();
    await settle();
    s.lifecycle.fail(new Error("credential refused"));
    await expect(running).rejects.toThrow("credential refused");
    expect(s.events).not.toContain("flush");
    expect(s.events.at(-1)).toBe("close");
    expect(s.lifecycle.failed).toBe(true);
  });

  it("a start that fails (not enrolled) rejects run(); no job starts and what was opened is closed", async () => {
    const s = setup({ startFails: new Error("not enrolled") });
    await expect(s.lifecycle.run()).rejects.toThrow("not enrolled");
    expect(s.events).toEqual(["start", expect.stringMatching(/^drain \d+$/), "close"]);
  });

  it("stopped during start: the start finishes first, then no job starts", async () => {
    const start = deferred();
    const s = setup({ start: start.promise });
    const running = s.lifecycle.run();
    await settle();
    const stopping = s.lifecycle.stop();
    await settle();
    expect(s.events).toEqual(["start"]);
    start.resolve();
    await stopping;
    await running;
    expect(s.events).toEqual(["start", expect.stringMatching(/^drain \d+$/), "flush", "close"]);
  });
});
