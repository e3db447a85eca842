import { Prisma, type AuditEvent, type Db } from "@switchyard/db";
import type { AuditListInput } from "../listSchemas";
import { containsPattern, prefixPattern, searchCondition } from "./paging";

/** The indexed search text (see the list_search_trigram migration): written exactly as indexed. */
const SEARCH_TEXT = Prisma.sql`e."targetName" || ' ' || e."targetId" || ' ' || e."actorName"`;

/**
 * The statement of one page of audit events, keyset-paginated on the id, which grows with time
 * (newest first unless `dir` is asc). The search matches the target's name (kept at write time),
 * its id (exactly) and the actor; `actor` matches the actor's name. Both are case-insensitive
 * substrings found through the audit log's trigram index. Actions match by prefix.
 */
export function auditPageSql(q: AuditListInput): Prisma.Sql {
  const conditions: Prisma.Sql[] = [];
  if (q.q) {
    const pattern = containsPattern(q.q);
    conditions.push(
      searchCondition(pattern, SEARCH_TEXT, Prisma.sql`e."targetName" ILIKE ${pattern}::text OR e."targetId" = ${q.q}::text OR e."actorName" ILIKE ${pattern}::text`),
    );
  }
  if (q.actor) {
    const pattern = containsPattern(q.actor);
    conditions.push(searchCondition(pattern, SEARCH_TEXT, Prisma.sql`e."actorName" ILIKE ${pattern}::text`));
  }
  if (q.action) conditions.push(Prisma.sql`e.action LIKE ${prefixPattern(q.action)}::text`);
  if (q.targetType) conditions.push(Prisma.sql`e."targetType" = ${q.targetType}::text`);
  if (q.targetId) conditions.push(Prisma.sql`e."targetId" = ${q.targetId}::text`);
  if (q.outcome) conditions.push(Prisma.sql`e.outcome::text = ${q.outcome}::text`);
  // `at` holds UTC without a zone (Prisma's DateTime).
  if (q.from) conditions.push(Prisma.sql`e.at >= (${q.from.toISOString()}::timestamptz AT TIME ZONE 'UTC')`);
  if (q.to) conditions.push(Prisma.sql`e.at <= (${q.to.toISOString()}::timestamptz AT TIME ZONE 'UTC')`);
  if (q.cursor) conditions.push(q.dir === "asc" ? Prisma.sql`e.id > ${q.cursor}::int` : Prisma.sql`e.id < ${q.cursor}::int`);
  const where = conditions.length ? Prisma.sql`WHERE ${Prisma.join(conditions, " AND ")}` : Prisma.empty;
  return Prisma.sql`
    SELECT e.id, e.at, e."actorId", e."actorName", e.action, e."targetType", e."targetId", e."targetName", e.before, e.after,
           e."requestId", e."sourceIp", e.outcome::text AS outcome, e.message
    FROM "AuditEvent" e
    ${where}
    ORDER BY e.id ${q.dir === "asc" ? Prisma.sql`ASC` : Prisma.sql`DESC`}
    LIMIT ${q.limit + 1}`;
}

/** One page of audit events (see auditPageSql). */
export async function listAuditEvents(db: Db, q: AuditListInput): Promise<{ items: AuditEvent[]; nextCursor: number | null }> {
  const rows = await db.$queryRaw<AuditEvent[]>(auditPageSql(q));
  const hasMore = rows.length > q.limit;
  const items = hasMore ? rows.slice(0, q.limit) : rows;
  return { items, nextCursor: hasMore ? items[items.length - 1]!.id : null };
}
