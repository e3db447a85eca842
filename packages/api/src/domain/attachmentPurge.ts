import { Prisma, type Db } from "@switchyard/db";
import { writeAudit } from "../audit";
import type { Context } from "../context";
import { ApiError } from "../errors";
import { startPeriodic, type PeriodicJob } from "./periodic";
import { dbNowMs } from "../clock";

type Ctx = Pick<Context, "db" | "session" | "meta">;

/** Most rows one purge deletes (by hand or on the timer); the rest wait for the next call. */
export const PURGE_BATCH = 500;
/** How many purged attachments one audit event names (it always counts them all). */
const AUDIT_NAMED = 100;

export interface PurgeOutcome {
  purged: number;
  /** More detached rows matched than one batch takes. */
  more: boolean;
}

interface PurgedRow {
  id: string;
  containerId: string;
  ifName: string;
  networkName: string;
  hostName: string;
}

const labelOf = (r: PurgedRow) => `${r.containerId}/${r.ifName} on ${r.networkName}`;

/**
 * Deletes detached attachments with their operations and job logs, oldest first: the given ones,
 * or those detached before `olderThan`, or every detached one. Only rows still detached when the
 * statement runs are deleted (a re-attach in between wins). One audit event per call.
 */
export async function purgeDetachedAttachments(
  ctx: Ctx,
  opts: { ids?: string[]; olderThan?: Date; limit?: number; actorName?: string },
): Promise<PurgeOutcome> {
  const limit = Math.min(opts.limit ?? PURGE_BATCH, PURGE_BATCH);
  if (opts.ids) await refuseNotDetached(ctx.db, opts.ids);
  const ids = opts.ids ? [...new Set(opts.ids)].join(",") : null;
  const cutoff = opts.olderThan ? opts.olderThan.toISOString() : null;
  return ctx.db.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<PurgedRow[]>(Prisma.sql`
      WITH doomed AS (
        SELECT a.id FROM "Attachment" a
        WHERE a.state = 'detached'
          AND (${ids}::text IS NULL OR a.id = ANY (string_to_array(${ids}::text, ',')))
          AND (${cutoff}::text IS NULL OR a."updatedAt" < (${cutoff}::timestamptz AT TIME ZONE 'UTC'))
        ORDER BY a."updatedAt", a.id
        LIMIT ${limit}
        FOR UPDATE OF a SKIP LOCKED
      )
      DELETE FROM "Attachment" a USING doomed, "Host" h
      WHERE a.id = doomed.id AND h.id = a."hostId" AND a.state = 'detached'
      RETURNING a.id, a."containerId", a."ifName", a."networkName", h.name AS "hostName"`);
    const [left] = await tx.$queryRaw<{ more: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM "Attachment" a WHERE a.state = 'detached'
        AND (${ids}::text IS NULL OR a.id = ANY (string_to_array(${ids}::text, ',')))
        AND (${cutoff}::text IS NULL OR a."updatedAt" < (${cutoff}::timestamptz AT TIME ZONE 'UTC'))) AS more`;
    const more = left?.more === true;
    if (rows.length > 0) {
      const one = rows.length === 1 ? rows[0]! : null;
      await writeAudit(tx, ctx, {
        action: "attachments.purge",
        actorName: opts.actorName,
        targetType: "attachment",
        targetId: one?.id ?? "",
        targetName: one ? labelOf(one) : `${rows.length} detached attachments`,
        after: {
          purged: rows.length,
          ...(opts.olderThan ? { detachedBefore: opts.olderThan.toISOString() } : {}),
          attachments: rows.slice(0, AUDIT_NAMED).map((r) => ({ id: r.id, name: labelOf(r), host: r.hostName })),
        },
        outcome: "success",
      });
    }
    return { purged: rows.length, more };
  });
}

/** By hand, each named attachment must exist and be detached; nothing is deleted otherwise. */
async function refuseNotDetached(db: Db, ids: string[]) {
  // One text parameter, not an `in` list: one statement shape whatever the number of ids.
  const found = await db.$queryRaw<{ id: string; state: string; containerId: string; ifName: string; networkName: string }[]>`
    SELECT id, state::text AS state, "containerId", "ifName", "networkName" FROM "Attachment"
    WHERE id = ANY (string_to_array(${ids.join(",")}::text, ','))`;
  const byId = new Map(found.map((a) => [a.id, a]));
  for (const [i, id] of ids.entries()) {
    const a = byId.get(id);
    if (!a) throw new ApiError("NOT_FOUND", `No attachment with id "${id}"`, [{ path: ["ids", i], message: "no such attachment", severity: "error" }]);
    if (a.state !== "detached") {
      throw new ApiError("CONFLICT", `${a.containerId}/${a.ifName} on ${a.networkName} is ${a.state}, not detached: detach it before purging it`, [
        { path: ["ids", i], message: `is ${a.state}`, severity: "error" },
      ]);
    }
  }
}

export type PurgeTimer = PeriodicJob<PurgeOutcome>;

/**
 * Purges attachments detached longer than `maxAgeMs`, every `intervalMs`, at most one batch per
 * run, in this (console) process. Several replicas may run it: rows another one is deleting are
 * skipped, not waited for.
 */
export function startDetachedPurge(opts: {
  db: Db;
  maxAgeMs: number;
  intervalMs: number;
  now?: () => number;
  onError?: (err: unknown) => void;
  onPurged?: (outcome: PurgeOutcome) => void;
}): PurgeTimer {
  const now = opts.now ?? dbNowMs;
  const ctx: Ctx = { db: opts.db, session: null, meta: { requestId: "purge-timer", sourceIp: "", userAgent: "" } };
  return startPeriodic(() => purgeDetachedAttachments(ctx, { olderThan: new Date(now() - opts.maxAgeMs), actorName: "system" }), {
    intervalMs: opts.intervalMs,
    onDone: (o) => o.purged > 0 && opts.onPurged?.(o),
    onError: opts.onError,
  });
}
