import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AGENT_BODY_BUDGET_BYTES } from "@switchyard/api/schemas";
import { type LogEntry, createJobLog } from "./joblog";

const line = (text: string) => ({ stream: "agent" as const, line: text, at: new Date() });

// Fake timers: the flush interval is driven by the test, never waited for.
beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe("job log outbox", () => {
  it("sends the lines of every running operation in one call per flush, in order", async () => {
    const calls: LogEntry[][] = [];
    const jobLog = createJobLog(async (entries) => void calls.push(entries), 20);
    for (let i = 0; i < 50; i++) for (let n = 0; n < 3; n++) jobLog.add({ operationId: `op${i}`, attempt: 1 }, line(`op${i} line ${n}`));
    await vi.advanceTimersByTimeAsync(19);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    // 50 operations: one call (up to 64 entries each), each entry's lines in order.
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(50);
    expect(calls[0]![7]).toMatchObject({ operationId: "op7", attempt: 1 });
    expect(calls[0]![7]!.lines.map((l) => l.line)).toEqual(["op7 line 0", "op7 line 1", "op7 line 2"]);
    // Nothing left: no further call.
    await vi.advanceTimersByTimeAsync(200);
    expect(calls).toHaveLength(1);
    jobLog.stop();
  });

  it("take() waits for a call in flight, then hands over the rest; the timer no longer sends them", async () => {
    const calls: LogEntry[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const jobLog = createJobLog(async (entries) => {
      calls.push(entries);
      await gate;
    }, 10);
    const op = { operationId: "a", attempt: 2 };
    jobLog.add(op, line("first"));
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toHaveLength(1); // the flush carrying "first" is in flight, held by the gate
    jobLog.add(op, line("last"));
    let taken: string[] | undefined;
    const taking = jobLog.take(op).then((lines) => (taken = lines.map((l) => l.line)));
    await vi.advanceTimersByTimeAsync(50);
    expect(taken).toBeUndefined(); // still waiting for the call in flight
    release();
    await taking;
    expect(taken).toEqual(["last"]);
    await vi.advanceTimersByTimeAsync(100);
    expect(calls.flatMap((c) => c.flatMap((e) => e.lines.map((l) => l.line)))).toEqual(["first"]);
    jobLog.stop();
  });

  it("take() sends all but the last 200 lines first, so that the outcome can carry the rest", async () => {
    const calls: LogEntry[][] = [];
    const jobLog = createJobLog(async (entries) => void calls.push(entries), 60_000);
    const op = { operationId: "big", attempt: 1 };
    for (let n = 0; n < 450; n++) jobLog.add(op, line(`l${n}`));
    const rest = await jobLog.take(op);
    expect(rest.map((l) => l.line)).toEqual(Array.from({ length: 200 }, (_, i) => `l${i + 250}`));
    expect(calls.map((c) => c[0]!.lines.length)).toEqual([200, 50]);
    expect(calls[1]![0]!.lines[49]!.line).toBe("l249");
    jobLog.stop();
  });

  it("a failed call drops its lines and does not stop later flushes", async () => {
    let n = 0;
    const sent: string[] = [];
    const jobLog = createJobLog(async (entries) => {
      if (n++ === 0) throw new Error("console down");
      sent.push(...entries.flatMap((e) => e.lines.map((l) => l.line)));
    }, 10);
    jobLog.add({ operationId: "x", attempt: 1 }, line("lost"));
    await vi.advanceTimersByTimeAsync(10);
    expect(n).toBe(1);
    jobLog.add({ operationId: "x", attempt: 1 }, line("kept"));
    await vi.advanceTimersByTimeAsync(10);
    expect(sent).toEqual(["kept"]);
    jobLog.stop();
  });

  it("flush() sends every pending line at once, in calls within the console's limits (shutdown)", async () => {
    const calls: LogEntry[][] = [];
    const jobLog = createJobLog(async (entries) => void calls.push(entries), 60_000);
    for (let i = 0; i < 70; i++) jobLog.add({ operationId: `op${i}`, attempt: 1 }, line(`op${i}`));
    for (let n = 0; n < 250; n++) jobLog.add({ operationId: "op0", attempt: 1 }, line(`more ${n}`));
    await jobLog.flush();
    // 70 entries: 64 then 6; op0's 251 lines: 200 in the first call, 51 in a later one.
    expect(calls.map((c) => c.length)).toEqual([64, 7]);
    expect(calls.flatMap((c) => c.flatMap((e) => e.lines)).length).toBe(320);
    jobLog.stop();
  });

  it("keeps each call within the agents' body budget: 16 operations of 200 lines of 8,000 characters (25 MB) go in many calls, all of them, in order", async () => {
    const calls: LogEntry[][] = [];
    const jobLog = createJobLog(async (entries) => void calls.push(entries), 10);
    const long = "x".repeat(8000);
    for (let i = 0; i < 16; i++) for (let n = 0; n < 200; n++) jobLog.add({ operationId: `op${i}`, attempt: 1 }, line(`${n} ${long}`));
    await jobLog.flush();
    for (const c of calls) expect(Buffer.byteLength(JSON.stringify(c))).toBeLessThanOrEqual(AGENT_BODY_BUDGET_BYTES);
    expect(calls.length).toBeGreaterThan(10);
    const sent = new Map<string, number[]>();
    for (const c of calls) for (const e of c) sent.set(e.operationId, [...(sent.get(e.operationId) ?? []), ...e.lines.map((l) => Number(l.line.split(" ")[0]))]);
    expect(sent.size).toBe(16);
    for (const numbers of sent.values()) expect(numbers).toEqual(Array.from({ length: 200 }, (_, n) => n));
    jobLog.stop();
  });
});
