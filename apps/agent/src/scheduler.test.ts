import { afterEach, describe, expect, it, vi } from "vitest";
import { deferred, recordingLogger, settle, useFakeTime } from "../test/fakes";
import { systemClock } from "./clock";
import type { ClaimedOperation } from "./console";
import { createGate } from "./gate";
import { createScheduler } from "./scheduler";

const op = (id: string, attachmentId = `att-${id}`, target = `sandbox-${attachmentId}`) => ({ operationId: id, attempt: 1, attachment: { id: attachmentId, targetKind: "sandbox", target } }) as unknown as ClaimedOperation;

/** A scheduler over a fake console whose queue the test fills, and operations the test finishes by hand. */
function setup(opts: { concurrency?: number; queued?: string[]; reporting?: boolean } = {}) {
  const queue: ClaimedOperation[] = [];
  const claims: number[] = [];
  const holdingCalls: { openedAt: Date; ids: string[] }[] = [];
  const running = new Map<string, ReturnType<typeof deferred<void>>>();
  /** With `reporting`: each operation's outcome on its way to the console, settled by the test after its host part. */
  const reporting = new Map<string, ReturnType<typeof deferred<void>>>();
  const started: string[] = [];
  const gate = createGate();
  const stop = new AbortController();
  const log = recordingLogger();
  let claimGate: Promise<void> | undefined;
  const scheduler = createScheduler({
    console: {
      claim: async (max) => {
        claims.push(max);
        if (claimGate) await claimGate;
        return queue.splice(0, max) as never;
      },
      holding: async (openedAt, ids) => (holdingCalls.push({ openedAt, ids }), { released: 0 }) as never,
    },
    concurrency: opts.concurrency ?? 2,
    run: async (raw) => {
      const id = (raw as { operationId: string }).operationId;
      started.push(id);
      const d = deferred();
      running.set(id, d);
      await d.promise;
      if (!opts.reporting) return;
      const reported = deferred();
      reporting.set(id, reported);
      return { reported: reported.promise };
    },
    queuedIds: () => opts.queued ?? [],
    gate,
    log,
    clock: systemClock,
    signal: stop.signal,
  });
  return { scheduler, queue, claims, holdingCalls, running, reporting, started, stop, log, gate, holdClaims: (p: Promise<void> | undefined) => (claimGate = p) };
}

afterEach(() => void vi.useRealTimers());

describe("work scheduling", () => {
  it("claims no more than the free slots, and claims again when a full page's operation ends", async () => {
    const s = setup({ concurrency: 2 });
    s.queue.push(op("1"), op("2"), op("3"));
    await s.scheduler.claimAndRun();
    await settle();
    // A full page (2 of 2) asks again, but no slot is free: the third waits.
    expect(s.claims).toEqual([2]);
    expect(s.started).toEqual(["1", "2"]);
    expect(s.scheduler.freeSlots()).toBe(0);
    s.running.get("1")!.resolve();
    await settle();
    expect(s.claims).toEqual([2, 1]);
    expect(s.started).toEqual(["1", "2", "3"]);
    s.running.get("2")!.resolve();
    s.running.get("3")!.resolve();
    await settle();
    expect(s.scheduler.inFlightCount).toBe(0);
  });

  it("runs one operation per attachment at a time (a re-issued attempt waits for the old one)", async () => {
    const s = setup({ concurrency: 4 });
    s.scheduler.start(op("old", "same"));
    s.scheduler.start(op("new", "same"));
    s.scheduler.start(op("other", "b"));
    await settle();
    expect(s.started).toEqual(["old", "other"]);
    s.running.get("old")!.resolve();
    await settle();
    expect(s.started).toEqual(["old", "other", "new"]);
    s.running.get("new")!.resolve();
    s.running.get("other")!.resolve();
  });

  it("runs one operation per namespace at a time: a sandbox on two networks is never detached while the other ADDs into it", async () => {
    const s = setup({ concurrency: 4 });
    s.scheduler.start(op("detach-net1", "att-net1", "web"));
    s.scheduler.start(op("attach-net2", "att-net2", "web"));
    s.scheduler.start(op("elsewhere", "att-3", "db"));
    await settle();
    expect(s.started).toEqual(["detach-net1", "elsewhere"]);
    s.running.get("detach-net1")!.resolve();
    await settle();
    expect(s.started).toEqual(["detach-net1", "elsewhere", "attach-net2"]);
    s.running.get("attach-net2")!.resolve();
    s.running.get("elsewhere")!.resolve();
  });

  it("an outcome on its way to a slow console holds its attachment and its slot, not the host: reconcile and other operations go on", async () => {
    const s = setup({ concurrency: 4, reporting: true });
    s.scheduler.start(op("first", "same"));
    await settle();
    s.running.get("first")!.resolve(); // its work on the host is done; the console has not answered
    await settle();
    // Reconcile takes the gate at once (it used to wait for the console's answer, up to 30 s).
    let reconciled = false;
    await s.gate.exclusive(async () => void (reconciled = true));
    expect(reconciled).toBe(true);
    s.scheduler.start(op("next", "same"));
    s.scheduler.start(op("other", "b"));
    await settle();
    // Another attachment runs; the same attachment's next operation waits for the answer.
    expect(s.started).toEqual(["first", "other"]);
    expect(s.scheduler.inFlightCount).toBe(3);
    s.reporting.get("first")!.resolve();
    await settle();
    expect(s.started).toEqual(["first", "other", "next"]);
    for (const id of ["next", "other"]) s.running.get(id)!.resolve();
    await settle();
    for (const id of ["next", "other"]) s.reporting.get(id)!.resolve();
    await settle();
    expect(s.scheduler.inFlightCount).toBe(0);
  });

  it("an operation waiting for its attachment does not hold the gate", async () => {
    const s = setup({ concurrency: 4 });
    s.scheduler.start(op("old", "same"));
    s.scheduler.start(op("new", "same"));
    await settle();
    // "old" runs (shared); "new" waits for the attachment outside the gate: reconcile queues behind "old" only.
    const reconciling = s.gate.exclusive(async () => [...s.started]);
    s.running.get("old")!.resolve();
    expect(await reconciling).toEqual(["old"]);
    await settle();
    expect(s.started).toEqual(["old", "new"]);
    s.running.get("new")!.resolve();
    await settle();
  });

  it("a crashing operation is logged and frees its slot", async () => {
    const s = setup();
    s.scheduler.start(op("1"));
    await settle();
    s.running.get("1")!.reject(new Error("kaboom"));
    await settle();
    expect(s.scheduler.inFlightCount).toBe(0);
    expect(s.log.lines.find((l) => l.msg === "operation crashed")?.fields).toMatchObject({ operationId: "1", error: "kaboom" });
  });

  it("holding lists what runs and what is queued for the console, and waits for a claim in flight", async () => {
    const s = setup({ concurrency: 4, queued: ["done-1", "run-1"] });
    s.scheduler.start(op("run-1"));
    const claimHeld = deferred();
    s.holdClaims(claimHeld.promise);
    s.queue.push(op("claimed-1"));
    const claiming = s.scheduler.claimAndRun();
    const openedAt = new Date();
    const handBack = s.scheduler.handBackUnheld(openedAt);
    await settle();
    expect(s.holdingCalls).toEqual([]); // the claim's operations must be on the list
    claimHeld.resolve();
    await claiming;
    await handBack;
    expect(s.holdingCalls).toHaveLength(1);
    expect(s.holdingCalls[0]!.openedAt).toBe(openedAt);
    expect([...s.holdingCalls[0]!.ids].sort()).toEqual(["claimed-1", "done-1", "run-1"]);
    for (const d of s.running.values()) d.resolve();
  });

  it("claims nothing once stopping", async () => {
    const s = setup();
    s.stop.abort();
    s.queue.push(op("1"));
    await s.scheduler.claimAndRun();
    expect(s.claims).toEqual([]);
  });

  it("drain waits for the operations in flight, and no longer than the grace", async () => {
    const s = setup();
    s.scheduler.start(op("quick"));
    s.scheduler.start(op("stuck"));
    await settle();
    useFakeTime(vi);
    const drained = s.scheduler.drain(5000);
    s.running.get("quick")!.resolve();
    await vi.advanceTimersByTimeAsync(4999);
    let done: boolean | undefined;
    void drained.then((d) => (done = d));
    await settle();
    expect(done).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(await drained).toBe(false);
    expect(s.log.messages("warn")).toContain("shutting down with operations in flight; their intents are journalled");
    vi.useRealTimers();
    s.running.get("stuck")!.resolve();
    await settle();
    expect(await s.scheduler.drain(5000)).toBe(true);
  });
});
