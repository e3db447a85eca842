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

/** An absolute time with its zone, e.g. "2026-12-05 21:54:27 UTC" or "… GMT+1": never a bare local time. */
export function formatTime(date: Date, options: { timeZone?: string } = {}): string {
  const parts = new Intl.DateTimeFormat("en-CA", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    hour12: false, timeZoneName: "short", ...(options.timeZone ? { timeZone: options.timeZone } : {}),
  }).formatToParts(date);
  const get = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}:${get("second")} ${get("timeZoneName")}`;
}
