/** What the benchmarks share: bounded flags, quantiles and one printed row per series. */

export function clamp(n: number, lo: number, hi: number): number {
  return Number.isFinite(n) ? Math.min(hi, Math.max(lo, Math.trunc(n))) : lo;
}

/** Linear-interpolated quantile q (0–1) of xs; NaN when empty. */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export const median = (xs: number[]) => quantile(xs, 0.5);
export const fmt = (n: number) => n.toFixed(1).padStart(8);

/** `label  n=…  median … ms  p90 … ms`, the label padded to `width`. */
export function row(label: string, xs: number[], width = 32): string {
  return `${label.padEnd(width)} n=${String(xs.length).padStart(3)}  median ${fmt(median(xs))} ms  p90 ${fmt(quantile(xs, 0.9))} ms`;
}
