import { afterEach, describe, expect, it, vi } from "vitest";
import { recordingLogger, settle, useFakeTime } from "../test/fakes";
import { systemClock } from "./clock";
import { BEAT_MS, INVENTORY_MS, VERSIONS_MS, createHeartbeat } from "./heartbeat";

afterEach(() => void vi.useRealTimers());

function setup(opts: { rotate?: boolean; failBeat?: boolean } = {}) {
  const beats: { inventory: boolean }[] = [];
  let versionCalls = 0;
  let rotations = 0;
  let flushes = 0;
  const log = recordingLogger();
  const heartbeat = createHeartbeat(
    {
      console: {
        heartbeat: async (input) => {
          if (opts.failBeat) throw new Error("ECONNREFUSED");
          beats.push({ inventory: input.inventory !== undefined });
          return { rotateCredential: opts.rotate ?? false } as never;
        },
        desired: async () => [],
      },
      collectInventory: async (_desired, versions) => ({ hostname: "h", versions }) as never,
      pluginVersions: async () => ++versionCalls,
      status: () => ({ lastSubscriptionEventAt: null, pushStream: { open: true, since: new Date() }, lastReconcile: null }),
      rotateCredential: async () => void rotations++,
      flushReports: async () => void flushes++,
      log,
      clock: systemClock,
    },
    0,
  );
  return { heartbeat, beats, log, counts: () => ({ versionCalls, rotations, flushes }) };
}

describe("heartbeat and inventory", () => {
  it("beats every 10 s with an inventory at first and then once a minute; plugin versions every 10 minutes", async () => {
    useFakeTime(vi);
    const s = setup();
    const stop = new AbortController();
    const running = s.heartbeat.run(stop.signal);
    await settle();
    expect(s.beats).toEqual([{ inventory: true }]);
    await vi.advanceTimersByTimeAsync(BEAT_MS);
    expect(s.beats).toEqual([{ inventory: true }, { inventory: false }]);
    await vi.advanceTimersByTimeAsync(INVENTORY_MS);
    expect(s.beats.filter((b) => b.inventory)).toHaveLength(2);
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
});
