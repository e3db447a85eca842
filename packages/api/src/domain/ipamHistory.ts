import type { Db } from "@switchyard/db";
import { startPeriodic, type PeriodicJob } from "./periodic";
import { dbNowMs } from "../clock";

/** Most events one purge run deletes; the rest go at the next run. */
export const HISTORY_PURGE_BATCH = 50_000;

/** Deletes lease events older than `olderThan`, oldest first, at most one batch. Returns how many went. */
export async function purgeLeaseHistory(db: Db, olderThan: Date, limit = HISTORY_PURGE_BATCH): Promise<{ purged: number; more: boolean }> {
  const rows = await db.$queryRaw<{ n: number; m: number }[]>`
    WITH doomed AS (
      SELECT id FROM "LeaseEvent" WHERE at < (${olderThan.toISOString()}::timestamptz AT TIME ZONE 'UTC')
      ORDER BY at LIMIT ${limit + 1} FOR UPDATE SKIP LOCKED
    ),
    gone AS (DELETE FROM "LeaseEvent" WHERE id IN (SELECT id FROM doomed ORDER BY id LIMIT ${limit}) RETURNING 1)
    SELECT (SELECT count(*) FROM gone)::int AS n, (SELECT count(*) FROM doomed)::int AS m`;
  return { purged: rows[0]?.n ?? 0, more: (rows[0]?.m ?? 0) > limit };
}

/** Keeps each address's history for `keepMs` (SWITCHYARD_IPAM_HISTORY_DAYS), purged every `intervalMs`. */
export function startLeaseHistoryPurge(opts: {
  db: Db;
  keepMs: number;
  intervalMs: number;
  now?: () => number;
  onPurged?: (outcome: { purged: number; more: boolean }) => void;
  onError?: (err: unknown) => void;
}): PeriodicJob<{ purged: number; more: boolean }> {
  const now = opts.now ?? dbNowMs;
  return startPeriodic(() => purgeLeaseHistory(opts.db, new Date(now() - opts.keepMs)), {
    intervalMs: opts.intervalMs,
    onDone: (o) => o.purged > 0 && opts.onPurged?.(o),
    onError: opts.onError,
  });
}
