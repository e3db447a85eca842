import { Prisma, type Db } from "@switchyard/db";
import type { Within } from "../auth/tokenLimits";
import type { NetworkListQuery } from "../listSchemas";
import { afterCursor, containsPattern, orderBy, type Page, searchCondition, type SortKey, toPage } from "./paging";

export interface NetworkListRow {
  id: string;
  name: string;
  latestRevision: number;
  createdAt: Date;
  updatedAt: Date;
  cniVersion: string;
  /** The latest revision's plugin types, in chain order. */
  plugins: string[];
  lastAuthor: string;
  /** Attachments that are, or are becoming, present. */
  attachments: number;
}

const SORT_KEYS: Record<NetworkListQuery["sort"], SortKey> = {
  name: { expr: Prisma.sql`n.name`, kind: "text" },
  updatedAt: { expr: Prisma.sql`n."updatedAt"`, kind: "time" },
  createdAt: { expr: Prisma.sql`n."createdAt"`, kind: "time" },
};

/**
 * The statement of one page of networks with what their latest revision says. One statement: the
 * latest revision is joined on (network, latestRevision), where the list used to send one OR
 * clause per network. The search matches the name or anything in the latest revision's text as
 * written (a plugin type, a subnet), through the revisions' trigram index: the index holds the
 * name as the parsed config gives it, which every save keeps equal to the network's name.
 */
export function networkPageSql(q: NetworkListQuery, within: Within | null = null): Prisma.Sql {
  const key = SORT_KEYS[q.sort];
  const id = Prisma.sql`n.id`;
  const matches = q.q
    ? Prisma.sql`AND ${searchCondition(
        containsPattern(q.q),
        Prisma.sql`COALESCE(r.conflist ->> 'name', '') || ' ' || r.text`,
        Prisma.sql`n.name ILIKE ${containsPattern(q.q)}::text OR r.text ILIKE ${containsPattern(q.q)}::text`,
      )}`
    : Prisma.empty;
  return Prisma.sql`
    SELECT page.*,
           (SELECT count(*)::int FROM "Attachment" a WHERE a."networkId" = page.id AND a.present) AS attachments
    FROM (
      SELECT n.id, n.name, n."latestRevision", n."createdAt", n."updatedAt",
             COALESCE(r.conflist ->> 'cniVersion', '') AS "cniVersion",
             COALESCE((SELECT jsonb_agg(p ->> 'type' ORDER BY i) FROM jsonb_array_elements(CASE WHEN jsonb_typeof(r.conflist -> 'plugins') = 'array' THEN r.conflist -> 'plugins' ELSE '[]'::jsonb END) WITH ORDINALITY AS x(p, i)), '[]'::jsonb) AS plugins,
             COALESCE(r."authorName", '') AS "lastAuthor"
      FROM "Network" n
      LEFT JOIN "NetworkRevision" r ON r."networkId" = n.id AND r.number = n."latestRevision"
      WHERE ${afterCursor(key, id, q.dir, q.cursor)}
        ${matches}
        ${within ? Prisma.sql`AND n.id = ANY (string_to_array(${[...within.networkIds].join(",")}::text, ','))` : Prisma.empty}
      ${orderBy(key, id, q.dir)}
      LIMIT ${q.limit + 1}
    ) page
    ${orderBy({ ...key, expr: Prisma.raw(`page."${q.sort}"`) }, Prisma.sql`page.id`, q.dir)}`;
}

/** One page of networks (see networkPageSql); only those of `within` for a limited API token. */
export async function listNetworks(db: Db, q: NetworkListQuery, within: Within | null = null): Promise<Page<NetworkListRow>> {
  const rows = await db.$queryRaw<NetworkListRow[]>(networkPageSql(q, within));
  return toPage(rows, q.limit, (r) => (q.sort === "name" ? r.name : r[q.sort]));
}
