import { describe, expect, it } from "vitest";
import { createTokenLimiter } from "./tokenRate";

describe("createTokenLimiter: a token bucket per API token", () => {
  it("lets a burst through, then refills at the rate, and says how long to wait", () => {
    let clock = 0;
    const limiter = createTokenLimiter({ perSecond: 2, burst: 3 }, () => clock);
    expect([1, 2, 3].map(() => limiter.take("a", 1))).toEqual([0, 0, 0]);
    expect(limiter.take("a", 1)).toBeCloseTo(0.5); // one call refills in 1/2 s
    clock = 499;
    expect(limiter.take("a", 1)).toBeCloseTo(0.0005);
    clock = 500;
    expect(limiter.take("a", 1)).toBe(0);
    expect(limiter.take("a", 1)).toBeGreaterThan(0);
  });

  it("keeps each token's bucket apart", () => {
    const clock = 0;
    const limiter = createTokenLimiter({ perSecond: 1, burst: 1 }, () => clock);
    expect(limiter.take("a", 1)).toBe(0);
    expect(limiter.take("a", 1)).toBeGreaterThan(0);
    expect(limiter.take("b", 1)).toBe(0);
  });

  it("charges a batch its size, a batch over the burst a full burst, and a refused request nothing", () => {
    let clock = 0;
    const limiter = createTokenLimiter({ perSecond: 10, burst: 5 }, () => clock);
    expect(limiter.take("a", 4)).toBe(0);
    expect(limiter.take("a", 2)).toBeCloseTo(0.1); // 1 left, 2 needed
    expect(limiter.take("a", 1)).toBe(0); // the refusal took nothing
    clock = 1000;
    expect(limiter.take("a", 50)).toBe(0); // full again: a batch of 50 costs the burst of 5
    expect(limiter.take("a", 1)).toBeCloseTo(0.1);
  });

  it("never holds more than the burst, however long a token was idle", () => {
    let clock = 0;
    const limiter = createTokenLimiter({ perSecond: 100, burst: 2 }, () => clock);
    clock = 3_600_000;
    expect([limiter.take("a", 1), limiter.take("a", 1), limiter.take("a", 1) > 0]).toEqual([0, 0, true]);
  });

  it("refuses a rate that would let nothing through", () => {
    expect(() => createTokenLimiter({ perSecond: 0, burst: 5 })).toThrow(/perSecond > 0/);
    expect(() => createTokenLimiter({ perSecond: 1, burst: 0 })).toThrow(/burst >= 1/);
  });
});
