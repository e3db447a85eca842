import { Counter, type CounterConfiguration, Histogram, type HistogramConfiguration } from "prom-client";

/**
 * prom-client's Counter and Histogram for the proxy's per-request metrics, with the hot path
 * taken out of prom-client: a caller asks once for a label set's series and then counts into
 * plain numbers (no label validation, hashing or object per request, which cost ~4 % of a
 * worker's time at full load). prom-client renders them when scraped, through `get()`, in the
 * same form its own classes give (series.test.ts compares the two), so the registry, the
 * primary's AggregatorRegistry and the agent's exposition see no difference.
 */

type Labels = Record<string, string>;
type CounterData<L extends string> = Awaited<ReturnType<Counter<L>["get"]>>;
/** A histogram as prom-client's registry reads it before rendering (Histogram.getForPromString). */
interface PromStringData {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: { labels: Record<string, string | number>; sharedLabels: Labels; value: number; metricName: string }[];
}

/** A label set's key: its values in the metric's label order. */
const keyOf = (names: readonly string[], labels: Labels) => JSON.stringify(names.map((n) => labels[n]));

export class CounterSeries {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(by = 1): void {
    this.value += by;
  }
}

export class SeriesCounter<L extends string> extends Counter<L> {
  private readonly series = new Map<string, CounterSeries>();
  private readonly names: readonly string[];

  constructor(config: CounterConfiguration<L>) {
    super(config);
    this.names = config.labelNames ?? [];
  }

  /** The series of one label set: keep it, and count into it. */
  seriesOf(labels: Record<L, string>): CounterSeries {
    const key = keyOf(this.names, labels);
    let s = this.series.get(key);
    if (s === undefined) this.series.set(key, (s = new CounterSeries({ ...labels })));
    return s;
  }

  override async get(): Promise<CounterData<L>> {
    const own = await super.get();
    const values = [...own.values, ...[...this.series.values()].map((s) => ({ labels: s.labels as Partial<Record<L, string>>, value: s.value }))];
    return { ...own, values };
  }

  override reset(): void {
    super.reset();
    // prom-client's constructor calls reset() too, before this class's fields exist.
    for (const s of this.series?.values() ?? []) s.value = 0;
  }
}

export class HistogramSeries {
  /** Observations per bucket (not cumulative); past the last bound they are in `count` only. */
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.buckets[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

export class SeriesHistogram<L extends string> extends Histogram<L> {
  private readonly series = new Map<string, HistogramSeries>();
  private readonly bounds: number[];
  private readonly names: readonly string[];

  constructor(config: HistogramConfiguration<L> & { buckets: number[] }) {
    super(config);
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    this.names = config.labelNames ?? [];
  }

  seriesOf(labels: Record<L, string>): HistogramSeries {
    const key = keyOf(this.names, labels);
    let s = this.series.get(key);
    if (s === undefined) this.series.set(key, (s = new HistogramSeries({ ...labels }, this.bounds)));
    return s;
  }

  /**
   * What prom-client's registry renders a histogram from (and what its `get()` turns into the JSON
   * form, labels and `le` merged): its own series, then these, in the shape its Histogram gives.
   */
  async getForPromString(): Promise<PromStringData> {
    const own = (await (Histogram.prototype as unknown as { getForPromString(): Promise<PromStringData> }).getForPromString.call(this)) as PromStringData;
    const values = [...own.values];
    for (const s of this.series.values()) {
      const bucket = `${own.name}_bucket`;
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.buckets[i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: s.labels, value: cumulative, metricName: bucket });
      }
      values.push(
        { labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: bucket },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${own.name}_sum` },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${own.name}_count` },
      );
    }
    return { ...own, values };
  }

  override reset(): void {
    super.reset();
    for (const s of this.series?.values() ?? []) {
      s.buckets.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
