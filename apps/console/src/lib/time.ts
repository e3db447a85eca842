const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
  ["second", 1_000],
];
const rtf = new Intl.RelativeTimeFormat("en", { numeric: "always" });

/** "12 seconds ago", "in 3 hours": the largest whole unit, truncated, so an age never reads older than it is. */
export function formatRelative(date: Date, now: Date): string {
  const diff = date.getTime() - now.getTime();
  if (Math.abs(diff) < 5_000) return "just now";
  const [unit, ms] = UNITS.find(([, ms]) => Math.abs(diff) >= ms) ?? UNITS[UNITS.length - 1]!;
  return rtf.format(Math.trunc(diff / ms), unit);
}
