import { describe, expect, it } from "vitest";
import { redialDelayMs } from "./redial";

describe("redialDelayMs", () => {
  it("waits at least half its window, never at once: 1-2 s first, doubling", () => {
    expect([0, 1, 2, 3].map((a) => redialDelayMs(a, () => 0))).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect([0, 1, 2, 3].map((a) => redialDelayMs(a, () => 1))).toEqual([2_000, 4_000, 8_000, 16_000]);
  });
  it("stays within 30-60 s however many failures came before", () => {
    for (const attempt of [5, 6, 50, 10_000]) {
      expect(redialDelayMs(attempt, () => 0)).toBe(30_000);
      expect(redialDelayMs(attempt, () => 1)).toBe(60_000);
    }
  });
});
