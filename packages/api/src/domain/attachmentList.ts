import { Prisma, type Db } from "@switchyard/db";
import type { AttachmentListQuery, AttachmentStateName } from "../listSchemas";
import type { AttachmentResult, PortMapping } from "../schemas";
import { afterCursor, containsPattern, orderBy, toPage, type Page, type SortKey } from "./paging";
import { toAttachmentView } from "./parsed";

interface AttachmentRow {
  id: string;
  hostId: string;
  hostName: string;
  networkId: string;
  networkName: string;
  networkRevision: number;
  /** The network's latest revision; null once the network is gone. */
  latestRevision: number | null;
  containerId: string;
  ifName: string;
  targetKind: "netns" | "pid" | "sandbox";
  target: string;
  capabilityArgs: unknown;
  present: boolean;
  generation: number;
  state: AttachmentStateName;
  result: unknown;
  lastError: string;
  createdByName: string;
  createdAt: Date;
  updatedAt: Date;
  sortValue: string | Date;
}

export interface AttachmentListRow extends Omit<AttachmentRow, "capabilityArgs" | "sortValue" | "hostName" | "result"> {
  host: { name: string };
  result: AttachmentResult | null;
  portMappings: PortMapping[];
  /** Runs a revision older than the network's latest: an edit has not reached it. */
  isOlderRevision: boolean;
  /** Detached: its addresses were given back and may belong to another attachment now. */
  addressesReleased: boolean;
}

const SORT_KEYS: Record<AttachmentListQuery["sort"], SortKey> = {
  createdAt: { expr: Prisma.sql`a."createdAt"`, kind: "time" },
  updatedAt: { expr: Prisma.sql`a."updatedAt"`, kind: "time" },
  containerId: { expr: Prisma.sql`a."containerId"`, kind: "text" },
  networkName: { expr: Prisma.sql`a."networkName"`, kind: "text" },
  hostName: { expr: Prisma.sql`h.name`, kind: "text" },
  state: { expr: Prisma.sql`a.state::text`, kind: "text" },
};

/**
 * One page of attachments in the given states (ready and in progress unless asked), of one host
 * or network or all. The search matches container id, interface, target, network and host name.
 */
export async function listAttachments(db: Db, q: AttachmentListQuery): Promise<Page<AttachmentListRow>> {
  const key = SORT_KEYS[q.sort];
  const id = Prisma.sql`a.id`;
  const search = q.q ? containsPattern(q.q) : null;
  // One text parameter, whatever the number of states: the statement keeps one shape.
  const states = [...new Set(q.states)].join(",");
  const rows = await db.$queryRaw<AttachmentRow[]>`
    SELECT a.id, a."hostId", h.name AS "hostName", a."networkId", a."networkName", a."networkRevision", n."latestRevision",
           a."containerId", a."ifName", a."targetKind"::text AS "targetKind", a.target, a."capabilityArgs", a.present, a.generation,
           a.state::text AS state, a.result, a."lastError", a."createdByName", a."createdAt", a."updatedAt", ${key.expr} AS "sortValue"
    FROM "Attachment" a
    JOIN "Host" h ON h.id = a."hostId"
    LEFT JOIN "Network" n ON n.id = a."networkId"
    WHERE a.state::text = ANY (string_to_array(${states}::text, ','))
      AND (${q.hostId ?? null}::text IS NULL OR a."hostId" = ${q.hostId ?? null}::text)
      AND (${q.networkId ?? null}::text IS NULL OR a."networkId" = ${q.networkId ?? null}::text)
      AND (${search}::text IS NULL OR a."containerId" ILIKE ${search}::text OR a.target ILIKE ${search}::text OR a."ifName" ILIKE ${search}::text
           OR a."networkName" ILIKE ${search}::text OR h.name ILIKE ${search}::text)
      AND ${afterCursor(key, id, q.dir, q.cursor)}
    ${orderBy(key, id, q.dir)}
    LIMIT ${q.limit + 1}`;
  const page = toPage(rows, q.limit, (r) => r.sortValue);
  return {
    nextCursor: page.nextCursor,
    items: page.items.map(({ sortValue: _s, hostName, ...row }) => {
      const { capabilityArgs: _c, ...a } = toAttachmentView(row);
      return {
        ...a,
        host: { name: hostName },
        isOlderRevision: a.latestRevision !== null && a.networkRevision < a.latestRevision && a.state !== "detached",
        addressesReleased: a.state === "detached",
      };
    }),
  };
}
