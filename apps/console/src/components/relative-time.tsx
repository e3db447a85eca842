"use client";

import { useEffect, useState } from "react";
import { formatRelative, formatTime } from "~/lib/time";

/** The current time, refreshed every `intervalMs` so relative times and freshness checks age. */
export function useNow(intervalMs = 10_000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/** "3 minutes ago", with the exact time and its zone as a tooltip (hover or keyboard focus). */
export function RelativeTime({ date, fallback = "never" }: { date: Date | null | undefined; fallback?: string }) {
  const now = useNow();
  if (!date) return <span className="muted">{fallback}</span>;
  const exact = formatTime(date);
  return (
    <time dateTime={date.toISOString()} title={exact} aria-label={`${formatRelative(date, now)} (${exact})`} tabIndex={0} className="has-tooltip" suppressHydrationWarning>
      {formatRelative(date, now)}
    </time>
  );
}

/** An absolute time with its zone ("2026-12-05 21:54:27 UTC"), never a bare local time. */
export function AbsoluteTime({ date, fallback = "never" }: { date: Date | null | undefined; fallback?: string }) {
  if (!date) return <span className="muted">{fallback}</span>;
  return (
    <time dateTime={date.toISOString()} suppressHydrationWarning>
      {formatTime(date)}
    </time>
  );
}
