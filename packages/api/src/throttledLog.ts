import { LRUCache } from "lru-cache";

export type LogEntry = Record<string, unknown>;
export type Log = (entry: LogEntry) => void;

/** The console's log: one JSON line on stderr. */
export const defaultLog: Log = (entry) => console.warn(JSON.stringify(entry));

/** How often each refusal of bad input is logged at most (per reason, or per credential). */
export const REFUSAL_LOG_EVERY_MS = 10_000;

/**
 * Logs what happens in bursts at most once per `key` every `everyMs`, with how many times it
 * happened since the last line (`count`): a client in a tight loop is one line every 10 s, not one
 * per request. Keys live in an LRU (a flood of distinct keys cannot grow it without bound).
 */
export function createThrottledLog(log: Log, everyMs = REFUSAL_LOG_EVERY_MS, maxKeys = 10_000, now: () => number = () => performance.now()) {
  const seen = new LRUCache<string, { count: number; at: number }>({ max: maxKeys });
  return (key: string, entry: () => LogEntry): void => {
    const t = now();
    const s = seen.get(key) ?? { count: 0, at: Number.NEGATIVE_INFINITY };
    s.count += 1;
    if (t - s.at < everyMs) {
      seen.set(key, s);
      return;
    }
    log({ ...entry(), count: s.count });
    seen.set(key, { count: 0, at: t });
  };
}
export type ThrottledLog = ReturnType<typeof createThrottledLog>;
