import { describe, expect, it } from "vitest";
import { createCoalescedRunner } from "./coalesce";

describe("createCoalescedRunner", () => {
  it("runs one more pass for any number of wakes during a pass, none for a wake after it, and says when it is idle", async () => {
    let passes = 0;
    let release: () => void = () => {};
    const runner = createCoalescedRunner(async () => {
      passes++;
      if (passes === 1) await new Promise<void>((r) => (release = r));
    });
    const first = runner.wake();
    expect(passes).toBe(1);
    const woken = [runner.wake(), runner.wake(), runner.wake()];
    expect(woken.every((w) => w === first)).toBe(true);
    release();
    await runner.idle();
    expect(passes).toBe(2);
    await runner.wake();
    expect(passes).toBe(3);
    await runner.idle();
    expect(passes).toBe(3);
  });

  it("a failed pass ends the run, rejects its waiters, and the next wake starts a new one", async () => {
    let fail = true;
    const runner = createCoalescedRunner(async () => {
      if (fail) throw new Error("boom");
    });
    await expect(runner.wake()).rejects.toThrow("boom");
    fail = false;
    await expect(runner.wake()).resolves.toBeUndefined();
  });
});
