import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PassiveHealth } from "./config";
import { type Ejection, createEjections, createFailureDetector } from "./outlier";

/** A clock the test moves by hand. */
function fakeClock(start = 1_700_000_000_000) {
  return {
    t: start,
    now() {
      return this.t;
    },
    advance(ms: number) {
      this.t += ms;
    },
  };
}

const settingsOf = (overrides: Partial<PassiveHealth> = {}): PassiveHealth => PassiveHealth.parse(overrides);

/** Records `count` outcomes; the reasons returned, null ones included. */
function recordMany(detector: ReturnType<typeof createFailureDetector>, key: string, ok: boolean, count: number): (string | null)[] {
  return Array.from({ length: count }, () => detector.record(key, ok));
}

describe("createFailureDetector", () => {
  it("reports the member that fails consecutiveFailures times in a row, then counts afresh", () => {
    const detector = createFailureDetector(settingsOf({ consecutiveFailures: 5 }), fakeClock());
    expect(recordMany(detector, "a", false, 4)).toEqual([null, null, null, null]);
    expect(detector.record("a", false)).toBe("5 consecutive failures");
    expect(recordMany(detector, "a", false, 4)).toEqual([null, null, null, null]);
    expect(detector.record("a", false)).toBe("5 consecutive failures");
  });

  it("lets a success end the run of failures", () => {
    const detector = createFailureDetector(settingsOf({ consecutiveFailures: 5 }), fakeClock());
    recordMany(detector, "a", false, 4);
    expect(detector.record("a", true)).toBeNull();
    expect(recordMany(detector, "a", false, 4)).toEqual([null, null, null, null]);
    expect(detector.record("a", false)).toBe("5 consecutive failures");
  });

  it("counts each member on its own", () => {
    const detector = createFailureDetector(settingsOf({ consecutiveFailures: 3 }), fakeClock());
    recordMany(detector, "a", false, 2);
    recordMany(detector, "b", false, 2);
    expect(detector.record("b", true)).toBeNull();
    expect(detector.record("a", false)).toBe("3 consecutive failures");
    expect(detector.record("b", false)).toBeNull();
  });

  it("reports nothing when both thresholds are off", () => {
    const detector = createFailureDetector(settingsOf({ consecutiveFailures: 0, failureRatePercent: null }), fakeClock());
    expect(recordMany(detector, "a", false, 2000).every((r) => r === null)).toBe(true);
  });

  it("reports a failure rate at or above the threshold once the window holds failureRateMinRequests", () => {
    const detector = createFailureDetector(settingsOf({ consecutiveFailures: 0, failureRatePercent: 60, failureRateMinRequests: 40 }), fakeClock());
    // 25 of the first 39 fail (64%): too few requests to judge.
    expect(recordMany(detector, "a", true, 15).every((r) => r === null)).toBe(true);
    expect(recordMany(detector, "a", false, 24).every((r) => r === null)).toBe(true);
    expect(detector.record("a", false)).toBe("62% of 40 requests failed in 10 s");
    // Counted afresh after a report.
    expect(recordMany(detector, "a", false, 39).every((r) => r === null)).toBe(true);
    expect(detector.record("a", false)).toBe("100% of 40 requests failed in 10 s");
  });

  it("does not report a rate below the threshold, however many requests", () => {
    const detector = createFailureDetector(settingsOf({ consecutiveFailures: 0, failureRatePercent: 50, failureRateMinRequests: 10 }), fakeClock());
    for (let i = 0; i < 1000; i++) {
      expect(detector.record("a", true)).toBeNull();
      expect(detector.record("a", i % 3 !== 0)).toBeNull(); // one in six fails
    }
  });

  it("lets old outcomes age out of the window", () => {
    const settings = settingsOf({ consecutiveFailures: 0, failureRatePercent: 50, failureRateMinRequests: 10, windowSeconds: 10 });
    const failThenSucceed = (gapMs: number) => {
      const clock = fakeClock();
      const detector = createFailureDetector(settings, clock);
      recordMany(detector, "a", false, 6);
      clock.advance(gapMs);
      return recordMany(detector, "a", true, 4).at(-1);
    };
    expect(failThenSucceed(8_000)).toBe("60% of 10 requests failed in 10 s");
    expect(failThenSucceed(10_500)).toBeNull(); // the six failures left the window
    expect(failThenSucceed(3_600_000)).toBeNull();
  });

  it("agrees with a plain model of the bucketed window on any sequence of outcomes", () => {
    const settings = settingsOf({ consecutiveFailures: 4, failureRatePercent: 50, failureRateMinRequests: 8, windowSeconds: 5 });
    const bucketMs = 500; // 5 s in 10 buckets
    fc.assert(
      fc.property(fc.array(fc.record({ waitMs: fc.oneof(fc.constant(0), fc.nat(1500), fc.nat(12_000)), key: fc.constantFrom("a", "b"), ok: fc.boolean() }), { maxLength: 300 }), (events) => {
        const clock = fakeClock(0);
        const detector = createFailureDetector(settings, clock);
        // The model keeps every outcome and counts those of the last 10 buckets.
        const model = new Map<string, { run: number; outcomes: { bucket: number; ok: boolean }[] }>();
        for (const { waitMs, key, ok } of events) {
          clock.advance(waitMs);
          const bucket = Math.floor(clock.t / bucketMs);
          const m = model.get(key) ?? { run: 0, outcomes: [] };
          model.set(key, m);
          m.outcomes.push({ bucket, ok });
          m.run = ok ? 0 : m.run + 1;
          const inWindow = m.outcomes.filter((o) => o.bucket > bucket - 10);
          const failed = inWindow.filter((o) => !o.ok).length;
          let expected: string | null = null;
          if (m.run >= 4) expected = `${m.run} consecutive failures`;
          else if (inWindow.length >= 8 && failed * 2 >= inWindow.length) expected = `${Math.floor((failed * 100) / inWindow.length)}% of ${inWindow.length} requests failed in 5 s`;
          if (expected) model.delete(key);
          expect(detector.record(key, ok)).toBe(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("forgets members it is told to retain no longer", () => {
    const detector = createFailureDetector(settingsOf({ consecutiveFailures: 3 }), fakeClock());
    recordMany(detector, "a", false, 2);
    recordMany(detector, "b", false, 2);
    detector.retain(new Set(["b"]));
    expect(detector.record("a", false)).toBeNull(); // a run of 1, not 3
    expect(detector.record("b", false)).toBe("3 consecutive failures");
  });
});

describe("createEjections", () => {
  const settings = settingsOf({ baseEjectionSeconds: 30, maxEjectionSeconds: 100, maxEjectedPercent: 50 });
  const isEjection = (r: Ejection | { refused: string }): r is Ejection => !("refused" in r);
  const eject = (ejections: ReturnType<typeof createEjections>, key: string, poolSize = 10, s = settings): Ejection => {
    const result = ejections.report("web", poolSize, key, "5 consecutive failures", s);
    if (!isEjection(result)) expect.fail(`expected an ejection, got: ${result.refused}`);
    return result;
  };

  it("ejects for baseEjectionSeconds, then 2×, 3× in a row, capped at maxEjectionSeconds", () => {
    const clock = fakeClock();
    const ejections = createEjections(clock);
    const durations: number[] = [];
    for (let i = 0; i < 5; i++) {
      const e = eject(ejections, "a");
      expect(e).toMatchObject({ key: "a", reason: "5 consecutive failures", since: clock.t, count: i + 1 });
      durations.push((e.until - e.since) / 1000);
      clock.t = e.until;
      expect(ejections.expire()).toEqual([e]);
      clock.advance(5_000); // back in, and failing again soon
    }
    expect(durations).toEqual([30, 60, 90, 100, 100]);
  });

  it("starts the count over once the member stayed in for maxEjectionSeconds", () => {
    const clock = fakeClock();
    const ejections = createEjections(clock);
    clock.t = eject(ejections, "a").until;
    ejections.expire();
    clock.advance(99_999);
    const second = eject(ejections, "a");
    expect(second.count).toBe(2);
    clock.t = second.until;
    ejections.expire();
    clock.advance(100_000);
    expect(eject(ejections, "a").count).toBe(1);
  });

  it("refuses a member already ejected", () => {
    const ejections = createEjections(fakeClock());
    const first = eject(ejections, "a");
    expect(ejections.report("web", 10, "a", "62% of 40 requests failed in 10 s", settings)).toEqual({ refused: `a is already ejected until ${new Date(first.until).toISOString()}` });
    expect(ejections.active("web")).toEqual([first]);
  });

  it("refuses to put more than maxEjectedPercent of a pool out (rounded down), counting each pool apart", () => {
    const ejections = createEjections(fakeClock());
    eject(ejections, "a", 5);
    eject(ejections, "b", 5);
    expect(ejections.report("web", 5, "c", "5 consecutive failures", settings)).toEqual({
      refused: "c stays in: 2 of 5 members already ejected and the pool allows 2 (maxEjectedPercent 50, at least one member stays)",
    });
    expect(isEjection(ejections.report("api", 5, "c", "5 consecutive failures", settings))).toBe(true);
    expect(ejections.active("web").map((e) => e.key)).toEqual(["a", "b"]);
  });

  it("keeps one member of a pool of two or more in, and ejects a pool's only member only at 100%", () => {
    const all = settingsOf({ maxEjectedPercent: 100 });
    const ejections = createEjections(fakeClock());
    expect(isEjection(ejections.report("two", 2, "a", "r", all))).toBe(true);
    expect("refused" in ejections.report("two", 2, "b", "r", all)).toBe(true);
    expect(isEjection(ejections.report("one", 1, "a", "r", all))).toBe(true);
    expect("refused" in ejections.report("half", 1, "a", "r", settingsOf({ maxEjectedPercent: 99 }))).toBe(true);
    expect("refused" in ejections.report("none", 10, "a", "r", settingsOf({ maxEjectedPercent: 0 }))).toBe(true);
    expect("refused" in ejections.report("small", 9, "a", "r", settingsOf({ maxEjectedPercent: 10 }))).toBe(true);
    expect(isEjection(ejections.report("ten", 10, "a", "r", settingsOf({ maxEjectedPercent: 10 })))).toBe(true);
  });

  it("expires the ejections that ended, and says when the next one ends", () => {
    const clock = fakeClock();
    const ejections = createEjections(clock);
    expect(ejections.nextExpiry()).toBeNull();
    const a = eject(ejections, "a"); // 30 s
    clock.advance(10_000);
    const b = eject(ejections, "b"); // ends 10 s after a
    expect(ejections.nextExpiry()).toBe(a.until);
    clock.t = a.until - 1;
    expect(ejections.expire()).toEqual([]);
    clock.t = a.until;
    expect(ejections.expire()).toEqual([a]);
    expect(ejections.active()).toEqual([b]);
    expect(ejections.nextExpiry()).toBe(b.until);
    clock.t = b.until + 60_000;
    expect(ejections.expire()).toEqual([b]);
    expect(ejections.expire()).toEqual([]);
    expect(ejections.nextExpiry()).toBeNull();
  });

  it("counts an ejection that ended but was not expired yet as over", () => {
    const clock = fakeClock();
    const ejections = createEjections(clock);
    const first = eject(ejections, "a", 2);
    clock.t = first.until;
    expect(ejections.active()).toEqual([]);
    const second = eject(ejections, "b", 2); // a is back: b may go
    clock.t = second.until;
    expect(eject(ejections, "a", 2).count).toBe(2);
  });

  it("lists active ejections by pool or all together", () => {
    const ejections = createEjections(fakeClock());
    const a = eject(ejections, "a");
    const c = ejections.report("api", 10, "c", "r", settings);
    expect(ejections.active("web")).toEqual([a]);
    expect(ejections.active("api")).toEqual([c]);
    expect(ejections.active("gone")).toEqual([]);
    expect(ejections.active()).toEqual([a, c]);
  });

  it("forgets members and pools that left the config, streaks included", () => {
    const clock = fakeClock();
    const ejections = createEjections(clock);
    clock.t = eject(ejections, "a").until;
    ejections.expire();
    eject(ejections, "b");
    ejections.retain("web", new Set(["c"]));
    expect(ejections.active("web")).toEqual([]);
    expect(ejections.nextExpiry()).toBeNull();
    expect(eject(ejections, "a").count).toBe(1); // its streak of 1 was forgotten
    ejections.report("api", 10, "a", "r", settings);
    ejections.retain("api", new Set());
    expect(ejections.active().map((e) => e.key)).toEqual(["a"]);
    expect(ejections.active("api")).toEqual([]);
  });
});
