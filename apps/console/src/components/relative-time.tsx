"use client";

import { useEffect, useState } from "react";
import { formatRelative } from "~/lib/time";

/** The current time, refreshed every `intervalMs` so relative times and freshness checks age. */
export function useNow(intervalMs = 10_000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

export function RelativeTime({ date, fallback = "never" }: { date: Date | null | undefined; fallback?: string }) {
  const now = useNow();
  if (!date) return <span className="muted">{fallback}</span>;
  return (
    <time dateTime={date.toISOString()} title={date.toLocaleString()} suppressHydrationWarning>
      {formatRelative(date, now)}
    </time>
  );
}
