import { Prisma, type Db } from "@switchyard/db";
import type { HostListQuery } from "../listSchemas";
import { liveness } from "./hosts";
import { afterCursor, containsPattern, orderBy, toPage, type Page, type SortKey } from "./paging";

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

/** One page of hosts; the search matches the name or the agent's version. */
export async function listHosts(db: Db, q: HostListQuery): Promise<Page<HostListRow>> {
  const key = SORT_KEYS[q.sort];
  const id = Prisma.sql`h.id`;
  const search = q.q ? containsPattern(q.q) : null;
  const rows = await db.$queryRaw<(HostRow & { sortValue: Date | string })[]>`
    SELECT page.*,
           (SELECT count(*)::int FROM "Attachment" a WHERE a."hostId" = page.id AND a.present) AS attachments
    FROM (
      SELECT h.id, h.name, h."enrolledAt", h."revokedAt", h."lastSeenAt", h."agentVersion", h."inventoryAt", ${key.expr} AS "sortValue"
      FROM "Host" h
      WHERE (${search}::text IS NULL OR h.name ILIKE ${search}::text OR h."agentVersion" ILIKE ${search}::text)
        AND ${afterCursor(key, id, q.dir, q.cursor)}
      ${orderBy(key, id, q.dir)}
      LIMIT ${q.limit + 1}
    ) page
    ${orderBy({ ...key, expr: Prisma.sql`page."sortValue"` }, Prisma.sql`page.id`, q.dir)}`;
  const page = toPage(rows, q.limit, (r) => r.sortValue);
  return {
    nextCursor: page.nextCursor,
    items: page.items.map(({ sortValue: _s, ...h }) => ({ ...h, liveness: liveness(h.lastSeenAt, h.revokedAt) })),
  };
}
