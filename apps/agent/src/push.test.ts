import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { deferred, recordingLogger, settle, steppingClock, trpcError, useFakeTime } from "../test/fakes";
import { type Clock, systemClock } from "./clock";
import type { CredentialRefused, WorkEvent, WorkSubscriber } from "./console";
import { POLL_WAIT_MS, STABLE_STREAM_MS, createPushStream } from "./push";

afterEach(() => void vi.useRealTimers());

/** A push stream over a fake console (streams the test drives) and a scheduler that records what it is asked. */
function setup(opts: { free?: number; spreadMs?: number; random?: () => number; clock?: Clock } = {}) {
  const streams: { subscriber: WorkSubscriber; slots: number; unsubscribed: boolean }[] = [];
  const polls: { max: number; holding?: string[] }[] = [];
  const asked: string[] = [];
  const refused: CredentialRefused[] = [];
  const changes: boolean[] = [];
  // As the console does when there is no work: the poll is held for its wait (or until the agent gives up on it).
  let pollAnswer: (signal?: AbortSignal) => Promise<unknown[]> = (signal) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve([]), POLL_WAIT_MS);
      signal?.addEventListener("abort", () => (clearTimeout(timer), resolve([])), { once: true });
    });
  const log = recordingLogger();
  const push = createPushStream({
    console: {
      subscribeWork: (slots, subscriber) => {
        const s = { subscriber, slots, unsubscribed: false };
        streams.push(s);
        return { unsubscribe: () => void (s.unsubscribed = true) };
      },
      poll: async (input, signal) => (polls.push({ max: input.max!, ...(input.holding ? { holding: input.holding } : {}) }), pollAnswer(signal) as never),
    },
    scheduler: {
      start: (op) => void asked.push(`start ${op.operationId}`),
      claimAndRun: async () => void asked.push("claim"),
      noteWorkWaiting: () => void asked.push("more"),
      handBackUnheld: async (at) => void asked.push(`holding since ${at.toISOString()}`),
      holding: () => ["held-1"],
      freeSlots: () => opts.free ?? 4,
      isClaiming: false,
    },
    concurrency: 8,
    onReconcile: () => void asked.push("reconcile"),
    onRelease: () => void asked.push("release"),
    onServices: () => void asked.push("services"),
    onProbe: () => void asked.push("probe"),
    onDeploy: () => void asked.push("deploy"),
    onRefused: (e) => void refused.push(e),
    onStreamChange: (s) => void changes.push(s.open),
    reconnectSpreadMs: opts.spreadMs ?? 0,
    ...(opts.random ? { random: opts.random } : {}),
    log,
    clock: opts.clock ?? systemClock,
  });
  return { push, streams, polls, asked, refused, changes, log, answerPolls: (f: (signal?: AbortSignal) => Promise<unknown[]>) => (pollAnswer = f) };
}

const at = new Date("2026-12-05T10:00:00Z");
const event = (e: Record<string, unknown>) => ({ at, ...e }) as unknown as WorkEvent;

describe("push stream", () => {
  it("acts on what the console pushes: open (what it holds), operations, work, reconcile, release, services, deploy", async () => {
    const s = setup();
    const stop = new AbortController();
    const running = s.push.run(stop.signal);
    expect(s.streams[0]!.slots).toBe(8);
    const sub = s.streams[0]!.subscriber;
    sub.onData(event({ kind: "open" }));
    expect(s.push.state.open).toBe(true);
    expect(s.changes).toEqual([true]);
    expect(s.push.lastPushAt).toBeNull(); // "open" is not work
    sub.onData(event({ kind: "operations", ops: [{ operationId: "o1" }, { operationId: "o2" }], more: true }));
    sub.onData(event({ kind: "work" }));
    sub.onData(event({ kind: "reconcile" }));
    sub.onData(event({ kind: "release" }));
    sub.onData(event({ kind: "services" }));
    sub.onData(event({ kind: "deploy" }));
    await settle();
    expect(s.asked).toEqual([`holding since ${at.toISOString()}`, "start o1", "start o2", "more", "claim", "reconcile", "release", "services", "deploy"]);
    expect(s.push.lastPushAt).toBeInstanceOf(Date);
    expect(s.log.messages("info").filter((m) => m === "push stream open")).toHaveLength(1);
    stop.abort();
    await running;
    expect(s.streams[0]!.unsubscribed).toBe(true);
    expect(s.push.state.open).toBe(false);
  });

  it("a revoked event or an UNAUTHORIZED end refuses the credential; no long-polling", async () => {
    const s = setup();
    const stop = new AbortController();
    const running = s.push.run(stop.signal);
    s.streams[0]!.subscriber.onData(event({ kind: "revoked" }));
    expect(s.refused.map((e) => e.message)).toEqual(["the console revoked this host"]);
    s.streams[0]!.subscriber.onError(await trpcError("UNAUTHORIZED", "Unknown, revoked or expired host credential"));
    await running;
    expect(s.refused.map((e) => e.message)).toEqual(["the console revoked this host", "Unknown, revoked or expired host credential"]);
    expect(s.polls).toEqual([]);
  });

  it("a lost stream is opened again after a random part of the spread, without a long poll first", async () => {
    useFakeTime(vi);
    const s = setup({ spreadMs: 30_000, random: () => 0.5 });
    const stop = new AbortController();
    const running = s.push.run(stop.signal);
    s.streams[0]!.subscriber.onData(event({ kind: "open" }));
    s.streams[0]!.subscriber.onError(new Error("socket hang up"));
    await settle();
    expect(s.log.lines.find((l) => l.msg === "push stream lost; reconnecting after a random wait")?.fields).toMatchObject({ reconnectInMs: 15_000 });
    await vi.advanceTimersByTimeAsync(14_999);
    expect(s.streams).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.streams).toHaveLength(2);
    expect(s.polls).toEqual([]);
    stop.abort();
    await running;
  });

  it("a stream that closes as soon as it opens is opened again less and less often; one that stayed open waits only the spread", async () => {
    useFakeTime(vi);
    const s = setup({ spreadMs: 0, random: () => 0.5 });
    const stop = new AbortController();
    const running = s.push.run(stop.signal);
    for (let i = 0; i < 3; i++) {
      s.streams[i]!.subscriber.onData(event({ kind: "open" }));
      s.streams[i]!.subscriber.onComplete();
      await vi.advanceTimersByTimeAsync(2000);
    }
    s.streams[3]!.subscriber.onData(event({ kind: "open" }));
    await vi.advanceTimersByTimeAsync(STABLE_STREAM_MS);
    s.streams[3]!.subscriber.onComplete();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.streams).toHaveLength(5);
    expect(s.log.lines.filter((l) => l.msg === "push stream lost; reconnecting after a random wait").map((l) => l.fields.reconnectInMs)).toEqual([500, 1000, 2000, 0]);
    stop.abort();
    await running;
  });

  it("a stream that cannot open: one poll meanwhile (saying what the agent holds), and the stream again as soon as it returns", async () => {
    useFakeTime(vi);
    const s = setup({ spreadMs: 30_000, random: () => 0.5 });
    const stop = new AbortController();
    const answer = deferred<unknown[]>();
    s.answerPolls(() => answer.promise);
    const running = s.push.run(stop.signal);
    s.streams[0]!.subscriber.onData(event({ kind: "open" }));
    s.streams[0]!.subscriber.onError(new Error("socket hang up"));
    await vi.advanceTimersByTimeAsync(15_000);
    s.streams[1]!.subscriber.onError(new Error("ECONNREFUSED"));
    await settle();
    expect(s.polls).toEqual([{ max: 4, holding: ["held-1"] }]);
    expect(s.streams).toHaveLength(2);
    answer.resolve([{ operationId: "p1" }]);
    await settle();
    expect(s.asked).toContain("start p1");
    expect(s.streams).toHaveLength(3);
    stop.abort();
    await running;
  });

  it("what the console pushed while the stream was down is caught up once it is open again (reconcile, releases, services, probes, deployments)", async () => {
    useFakeTime(vi);
    const s = setup({ spreadMs: 1000, random: () => 0.5 });
    const stop = new AbortController();
    const running = s.push.run(stop.signal);
    // The first stream follows the agent's start, which did all of it.
    s.streams[0]!.subscriber.onData(event({ kind: "open" }));
    await settle();
    expect(s.asked).toEqual([`holding since ${at.toISOString()}`]);
    s.streams[0]!.subscriber.onError(new Error("socket hang up"));
    // A reconcile asked for now goes only over a stream: none is open.
    await vi.advanceTimersByTimeAsync(500);
    s.asked.length = 0;
    s.streams[1]!.subscriber.onData(event({ kind: "open" }));
    await settle();
    expect(s.asked).toEqual(expect.arrayContaining(["reconcile", "release", "services", "probe", "deploy"]));
    expect(s.log.messages("info")).toContain("push stream open again: catching up on what it may have carried meanwhile");
    stop.abort();
    await running;
  });

  it("a wall-clock step back while polling does not keep the agent off its stream", async () => {
    useFakeTime(vi);
    const { clock, step } = steppingClock();
    const s = setup({ clock });
    const stop = new AbortController();
    const running = s.push.run(stop.signal);
    s.streams[0]!.subscriber.onError(new Error("ECONNREFUSED"));
    await vi.advanceTimersByTimeAsync(0);
    expect(s.polls).toHaveLength(1);
    step(-3 * 3600_000);
    // The poll is held its 20 s (no work); a minute later the agent has tried its stream again.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.streams.length).toBeGreaterThanOrEqual(2);
    stop.abort();
    await running;
  });

  it("a stream the transport would dial again by itself (its replica went away) is ended and counts as lost", async () => {
    useFakeTime(vi);
    const s = setup({ spreadMs: 30_000, random: () => 0.25 });
    const stop = new AbortController();
    // A poll waits until the test stops.
    s.answerPolls(() => new Promise((r) => stop.signal.addEventListener("abort", () => r([]))));
    const running = s.push.run(stop.signal);
    const sub = s.streams[0]!.subscriber;
    sub.onConnectionStateChange?.({ state: "connecting", error: null });
    sub.onConnectionStateChange?.({ state: "pending", error: null });
    sub.onData(event({ kind: "open" }));
    await settle();
    // Opening (connecting, no error) and open (pending) are not losses.
    expect(s.streams[0]!.unsubscribed).toBe(false);
    sub.onConnectionStateChange?.({ state: "connecting", error: new Error("terminated: other side closed") });
    await settle();
    expect(s.streams[0]!.unsubscribed).toBe(true);
    expect(s.push.state.open).toBe(false);
    expect(s.log.lines.find((l) => l.msg === "push stream lost; reconnecting after a random wait")?.fields).toMatchObject({ error: "terminated: other side closed", reconnectInMs: 7_500 });
    await vi.advanceTimersByTimeAsync(7_499);
    expect(s.streams).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.streams).toHaveLength(2);
    stop.abort();
    await running;
  });

  it("a failing poll is retried with back-off, never before the console's Retry-After, the stream tried again each time", async () => {
    useFakeTime(vi);
    const s = setup({ random: () => 0 });
    const stop = new AbortController();
    let failing = 2;
    s.answerPolls(async () => {
      if (failing-- > 0) throw await trpcError("SERVICE_UNAVAILABLE", "busy", { "retry-after": "5" });
      return new Promise((resolve) => stop.signal.addEventListener("abort", () => resolve([])));
    });
    const running = s.push.run(stop.signal);
    s.streams[0]!.subscriber.onError(new Error("socket hang up"));
    await vi.advanceTimersByTimeAsync(0);
    expect(s.polls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(s.streams).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.streams).toHaveLength(2);
    s.streams[1]!.subscriber.onError(new Error("busy"));
    await vi.advanceTimersByTimeAsync(0);
    expect(s.polls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(5_000);
    s.streams[2]!.subscriber.onError(new Error("busy"));
    await vi.advanceTimersByTimeAsync(0);
    expect(s.polls).toHaveLength(3);
    expect(s.log.lines.filter((l) => l.msg === "poll failed; retrying").map((l) => l.fields.retryInMs)).toEqual([5000, 5000]);
    stop.abort();
    await running;
  });

  it("a flapping stream leaves no abort listener behind", async () => {
    useFakeTime(vi);
    const s = setup();
    const stop = new AbortController();
    // The console holds a poll up to its wait when there is no work.
    s.answerPolls(() => new Promise((r) => setTimeout(() => r([]), 20_000)));
    const running = s.push.run(stop.signal);
    for (let i = 0; i < 5; i++) {
      s.streams[i]!.subscriber.onComplete();
      await vi.advanceTimersByTimeAsync(POLL_WAIT_MS + 1);
    }
    expect(s.streams.length).toBeGreaterThanOrEqual(6);
    expect(getEventListeners(stop.signal, "abort").length).toBeLessThanOrEqual(1);
    stop.abort();
    await running;
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });
});
