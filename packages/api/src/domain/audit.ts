import type { Db, Prisma } from "@switchyard/db";
import type { AuditListInput } from "../listSchemas";

/**
 * Keyset-paginated on the id, which grows with time (newest first unless `dir` is asc). The
 * search matches the target's name (kept at write time), its id and the actor (actions have their
 * own prefix filter).
 */
export async function listAuditEvents(db: Db, q: AuditListInput) {
  const contains = (text: string) => ({ contains: text, mode: "insensitive" as const });
  const where: Prisma.AuditEventWhereInput = {
    ...(q.q ? { OR: [{ targetName: contains(q.q) }, { targetId: q.q }, { actorName: contains(q.q) }] } : {}),
    ...(q.actor ? { actorName: contains(q.actor) } : {}),
    ...(q.action ? { action: { startsWith: q.action } } : {}),
    ...(q.targetType ? { targetType: q.targetType } : {}),
    ...(q.targetId ? { targetId: q.targetId } : {}),
    ...(q.outcome ? { outcome: q.outcome } : {}),
    ...(q.from || q.to ? { at: { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lte: q.to } : {}) } } : {}),
    ...(q.cursor ? { id: q.dir === "asc" ? { gt: q.cursor } : { lt: q.cursor } } : {}),
  };
  const rows = await db.auditEvent.findMany({ where, orderBy: { id: q.dir }, take: q.limit + 1 });
  const hasMore = rows.length > q.limit;
  const items = hasMore ? rows.slice(0, q.limit) : rows;
  return { items, nextCursor: hasMore ? items[items.length - 1]!.id : null };
}
