import { afterEach, describe, expect, it, vi } from "vitest";
import { recordingLogger, settle, steppingClock, useFakeTime } from "../test/fakes";
import { type Clock, systemClock } from "./clock";
import { BEAT_MS, INVENTORY_MS, INVENTORY_REFRESH_MS, VERSIONS_MS, createHeartbeat } from "./heartbeat";

afterEach(() => void vi.useRealTimers());

function setup(opts: { rotate?: boolean; failBeat?: boolean; random?: () => number; clock?: Clock } = {}) {
  const beats: { inventory: boolean }[] = [];
  const confirmations: number[] = [];
  let versionCalls = 0;
  let rotations = 0;
  let flushes = 0;
  // What the host looks like: a test changes it to see the inventory sent.
  const host = { namespaces: ["a"] };
  const log = recordingLogger();
  const heartbeat = createHeartbeat(
    {
      console: {
        heartbeat: async (input) => {
          if (opts.failBeat) throw new Error("ECONNREFUSED");
          beats.push({ inventory: input.inventory !== undefined });
          if (input.inventoryUnchanged) confirmations.push(beats.length);
          return { rotateCredential: opts.rotate ?? false } as never;
        },
        desired: async () => [],
      },
      collectInventory: async (_desired, versions) => ({ hostname: "h", versions, namespaces: [...host.namespaces] }) as never,
      pluginVersions: async () => ++versionCalls,
      status: () => ({ lastSubscriptionEventAt: new Date(), pushStream: { open: true, since: new Date("2026-12-05T00:00:00Z") }, lastReconcile: null }),
      rotateCredential: async () => void rotations++,
      flushReports: async () => void flushes++,
      log,
      clock: opts.clock ?? systemClock,
      random: opts.random ?? (() => 0.5),
    },
    0,
  );
  return { heartbeat, beats, confirmations, log, host, counts: () => ({ versionCalls, rotations, flushes }) };
}

describe("heartbeat and inventory", () => {
  it("beats every 10 s with an inventory at first, then only when the host changed or every 5 minutes; plugin versions every 10 minutes", async () => {
    useFakeTime(vi);
    const s = setup();
    const stop = new AbortController();
    const running = s.heartbeat.run(stop.signal);
    await settle();
    expect(s.beats).toEqual([{ inventory: true }]);
    await vi.advanceTimersByTimeAsync(BEAT_MS);
    expect(s.beats).toEqual([{ inventory: true }, { inventory: false }]);
    // Looked at every minute, unchanged: not sent, confirmed (the console keeps it fresh).
    await vi.advanceTimersByTimeAsync(INVENTORY_MS);
    expect(s.beats.filter((b) => b.inventory)).toHaveLength(1);
    expect(s.confirmations).toHaveLength(1);
    // Changed: sent at the next look.
    s.host.namespaces.push("b");
    await vi.advanceTimersByTimeAsync(INVENTORY_MS);
    expect(s.beats.filter((b) => b.inventory)).toHaveLength(2);
    // Unchanged for 5 minutes: sent again all the same.
    await vi.advanceTimersByTimeAsync(INVENTORY_REFRESH_MS - INVENTORY_MS);
    expect(s.beats.filter((b) => b.inventory)).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(INVENTORY_MS + BEAT_MS);
    expect(s.beats.filter((b) => b.inventory)).toHaveLength(3);
    expect(s.counts().versionCalls).toBe(1);
    await vi.advanceTimersByTimeAsync(VERSIONS_MS);
    expect(s.counts().versionCalls).toBe(2);
    expect(s.counts().flushes).toBe(s.beats.length); // queued outcomes go with every beat
    stop.abort();
    await running;
  });

  it("a requested inventory goes with the next beat, which comes within half a second", async () => {
    useFakeTime(vi);
    const s = setup();
    const stop = new AbortController();
    const running = s.heartbeat.run(stop.signal);
    await settle();
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.beats).toHaveLength(1);
    s.heartbeat.requestInventory();
    await vi.advanceTimersByTimeAsync(500);
    expect(s.beats).toEqual([{ inventory: true }, { inventory: true }]);
    stop.abort();
    await running;
  });

  it("the wait between beats is drawn from 8–12 s", async () => {
    for (const [r, ms] of [[0, 8000], [0.999, 11_990]] as const) {
      useFakeTime(vi);
      const s = setup({ random: () => r });
      const stop = new AbortController();
      const running = s.heartbeat.run(stop.signal);
      await settle();
      await vi.advanceTimersByTimeAsync(ms - 10);
      expect(s.beats).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(20);
      expect(s.beats).toHaveLength(2);
      stop.abort();
      await running;
      vi.useRealTimers();
    }
  });

  it("rotates the credential when the console asks", async () => {
    const s = setup({ rotate: true });
    await s.heartbeat.beat();
    expect(s.counts().rotations).toBe(1);
  });

  it("a failed beat is logged and retried at the next beat; stopping ends the loop at once", async () => {
    useFakeTime(vi);
    const s = setup({ failBeat: true });
    const stop = new AbortController();
    const running = s.heartbeat.run(stop.signal);
    await settle();
    await vi.advanceTimersByTimeAsync(BEAT_MS);
    expect(s.log.messages("warn")).toEqual(["heartbeat failed; retrying", "heartbeat failed; retrying"]);
    stop.abort();
    await running;
  });
  it("the inventory and plugin versions keep their periods when the wall clock is stepped by hours", async () => {
    useFakeTime(vi);
    const { clock, step } = steppingClock();
    const s = setup({ clock });
    const stop = new AbortController();
    const running = s.heartbeat.run(stop.signal);
    await settle();
    expect(s.beats).toEqual([{ inventory: true }]);
    // Three hours forward: nothing is due 10 s after the first look (no inventory, no plugin spawned).
    step(3 * 3600_000);
    await vi.advanceTimersByTimeAsync(BEAT_MS);
    expect(s.beats).toHaveLength(2);
    expect(s.confirmations).toEqual([]);
    expect(s.counts().versionCalls).toBe(1);
    // Six hours back: the inventory is still looked at a minute after the first look.
    step(-6 * 3600_000);
    await vi.advanceTimersByTimeAsync(INVENTORY_MS - BEAT_MS);
    expect(s.confirmations).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(VERSIONS_MS);
    expect(s.counts().versionCalls).toBe(2);
    stop.abort();
    await running;
  });
});
