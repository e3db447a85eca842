import fc from "fast-check";
import { AggregatorRegistry, Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { SeriesCounter, SeriesHistogram } from "./series";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const labelNames = ["service", "member", "code"] as const;
type Name = (typeof labelNames)[number];

/** One request: which label set, and how long it took (a value at a bound is in that bucket). */
const observation = fc.record({
  service: fc.constantFrom("web", "api"),
  member: fc.constantFrom("10.1.0.5:8080", "10.1.0.6:8080", ""),
  code: fc.constantFrom("2xx", "5xx", "none"),
  seconds: fc.oneof(fc.constantFrom(...BUCKETS, 0, 20), fc.double({ min: 0, max: 30, noNaN: true })),
});

function pair() {
  const theirs = new Registry();
  const ours = new Registry();
  const config = (registers: Registry[]) => ({ name: "t_requests_total", help: "requests", labelNames, registers });
  const hConfig = (registers: Registry[]) => ({ name: "t_duration_seconds", help: "duration", labelNames, buckets: BUCKETS, registers });
  return {
    theirs,
    ours,
    counter: new Counter<Name>(config([theirs])),
    histogram: new Histogram<Name>(hConfig([theirs])),
    seriesCounter: new SeriesCounter<Name>(config([ours])),
    seriesHistogram: new SeriesHistogram<Name>(hConfig([ours])),
  };
}

describe("SeriesCounter and SeriesHistogram", () => {
  it("render exactly what prom-client's Counter and Histogram render for the same requests", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(observation, { maxLength: 200 }), async (requests) => {
        const p = pair();
        for (const { seconds, ...labels } of requests) {
          p.counter.inc(labels);
          p.histogram.observe(labels, seconds);
          p.seriesCounter.seriesOf(labels).inc();
          p.seriesHistogram.seriesOf(labels).observe(seconds);
        }
        expect(await p.ours.metrics()).toBe(await p.theirs.metrics());
      }),
      { numRuns: 100 },
    );
  });

  it("sum across workers as prom-client's AggregatorRegistry sums its own, and start again from zero when reset", async () => {
    const workers = [pair(), pair()];
    const requests = fc.sample(observation, { numRuns: 300, seed: 7 });
    requests.forEach(({ seconds, ...labels }, i) => {
      const p = workers[i % 2]!;
      p.counter.inc(labels);
      p.histogram.observe(labels, seconds);
      p.seriesCounter.seriesOf(labels).inc();
      p.seriesHistogram.seriesOf(labels).observe(seconds);
    });
    const theirs = AggregatorRegistry.aggregate(await Promise.all(workers.map((w) => w.theirs.getMetricsAsJSON())));
    const ours = AggregatorRegistry.aggregate(await Promise.all(workers.map((w) => w.ours.getMetricsAsJSON())));
    expect(await ours.metrics()).toBe(await theirs.metrics());

    workers[0]!.ours.resetMetrics();
    const text = await workers[0]!.ours.metrics();
    expect(text).toMatch(/t_requests_total\{service="\w+",member="[^"]*",code="\w+"\} 0/);
    expect(text).not.toMatch(/t_duration_seconds_count\{[^}]*\} [1-9]/);
  });
});
