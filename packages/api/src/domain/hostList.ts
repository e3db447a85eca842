import { Prisma, type Db } from "@switchyard/db";
import type { HostListQuery } from "../listSchemas";
import { liveness } from "./hosts";
import { afterCursor, containsPattern, orderBy, type Page, searchCondition, type SortKey, toPage } from "./paging";

interface HostRow {
  id: string;
  name: string;
  enrolledAt: Date;
  revokedAt: Date | null;
  lastSeenAt: Date | null;
  agentVersion: string;
  inventoryAt: Date | null;
  /** Attachments that are, or are becoming, present. */
  attachments: number;
}
export type HostListRow = HostRow & { liveness: ReturnType<typeof liveness> };

// Never seen sorts as the oldest: keyset comparison needs a value on every row.
const NEVER = Prisma.sql`'1970-01-01 00:00:00'::timestamp`;
const SORT_KEYS: Record<HostListQuery["sort"], SortKey> = {
  name: { expr: Prisma.sql`h.name`, kind: "text" },
  lastSeenAt: { expr: Prisma.sql`COALESCE(h."lastSeenAt", ${NEVER})`, kind: "time" },
  enrolledAt: { expr: Prisma.sql`h."enrolledAt"`, kind: "time" },
};

/**
 * The statement of one page of hosts; the search matches the name or the agent's version (through
 * the hosts' trigram index). Present attachments are counted for the page's hosts only, each
 * through the (host, present) index.
 */
export function hostPageSql(q: HostListQuery): Prisma.Sql {
  const key = SORT_KEYS[q.sort];
  const id = Prisma.sql`h.id`;
  const matches = q.q
    ? Prisma.sql`AND ${searchCondition(
        containsPattern(q.q),
        Prisma.sql`h.name || ' ' || h."agentVersion"`,
        Prisma.sql`h.name ILIKE ${containsPattern(q.q)}::text OR h."agentVersion" ILIKE ${containsPattern(q.q)}::text`,
      )}`
    : Prisma.empty;
  return Prisma.sql`
    SELECT page.*,
           (SELECT count(*)::int FROM "Attachment" a WHERE a."hostId" = page.id AND a.present) AS attachments
    FROM (
      SELECT h.id, h.name, h."enrolledAt", h."revokedAt", h."lastSeenAt", h."agentVersion", h."inventoryAt", ${key.expr} AS "sortValue"
      FROM "Host" h
      WHERE ${afterCursor(key, id, q.dir, q.cursor)}
        ${matches}
      ${orderBy(key, id, q.dir)}
      LIMIT ${q.limit + 1}
    ) page
    ${orderBy({ ...key, expr: Prisma.sql`page."sortValue"` }, Prisma.sql`page.id`, q.dir)}`;
}

/** One page of hosts (see hostPageSql). */
export async function listHosts(db: Db, q: HostListQuery): Promise<Page<HostListRow>> {
  const rows = await db.$queryRaw<(HostRow & { sortValue: Date | string })[]>(hostPageSql(q));
  const page = toPage(rows, q.limit, (r) => r.sortValue);
  return {
    nextCursor: page.nextCursor,
    items: page.items.map(({ sortValue: _s, ...h }) => ({ ...h, liveness: liveness(h.lastSeenAt, h.revokedAt) })),
  };
}
