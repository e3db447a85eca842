import type { AuditOutcome, Db, Prisma } from "@switchyard/db";

export interface AuditQuery {
  actor?: string;
  action?: string;
  targetType?: string;
  targetId?: string;
  outcome?: AuditOutcome;
  from?: Date;
  to?: Date;
  /** The id of the last event of the previous page. */
  cursor?: number;
  limit: number;
}

/** Newest first, keyset-paginated on the id, which grows with time. */
export async function listAuditEvents(db: Db, q: AuditQuery) {
  const where: Prisma.AuditEventWhereInput = {
    ...(q.actor ? { actorName: { contains: q.actor, mode: "insensitive" } } : {}),
    ...(q.action ? { action: { startsWith: q.action } } : {}),
    ...(q.targetType ? { targetType: q.targetType } : {}),
    ...(q.targetId ? { targetId: q.targetId } : {}),
    ...(q.outcome ? { outcome: q.outcome } : {}),
    ...(q.from || q.to ? { at: { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lte: q.to } : {}) } } : {}),
    ...(q.cursor ? { id: { lt: q.cursor } } : {}),
  };
  const rows = await db.auditEvent.findMany({ where, orderBy: { id: "desc" }, take: q.limit + 1 });
  const hasMore = rows.length > q.limit;
  const items = hasMore ? rows.slice(0, q.limit) : rows;
  return { items, nextCursor: hasMore ? items[items.length - 1]!.id : null };
}
