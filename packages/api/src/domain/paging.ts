import { Prisma } from "@switchyard/db";
import { z } from "zod";
import { ApiError } from "../errors";
import { AttachmentStateName, type SortDir } from "../listSchemas";

/**
 * Keyset paging in SQL: rows ordered by (sort key, id), a page continues after the last row of
 * the previous one. Every statement has one fixed shape whatever the page, the filters' values or
 * the number of rows (Prisma compiles and caches a plan per query shape: shapes that grow with
 * the data, such as an OR clause per row, cost a compile each and fill that cache).
 */

/** How a sort key is compared: its SQL type. */
export type SortKind = "text" | "time" | "attachmentState";

export interface SortKey {
  /** The SQL expression ordered on (a trusted, fixed column expression, never user text). */
  expr: Prisma.Sql;
  kind: SortKind;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

const CursorValue = z.tuple([z.string().max(300), z.string().min(1).max(64)]);

export function encodeCursor(value: string | Date, id: string): string {
  const v = value instanceof Date ? value.toISOString() : value;
  return Buffer.from(JSON.stringify([v, id])).toString("base64url");
}

export function decodeCursor(cursor: string, kind: SortKind): { value: string; id: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const ok = CursorValue.safeParse(parsed);
  const badValue = kind === "time" ? Number.isNaN(Date.parse(ok.data?.[0] ?? "")) : kind === "attachmentState" ? !AttachmentStateName.safeParse(ok.data?.[0]).success : false;
  if (!ok.success || badValue) {
    throw new ApiError("BAD_INPUT", `cursor "${cursor.slice(0, 40)}" is not a cursor of this list and sort: pass a nextCursor as returned, or none for the first page`, [
      { path: ["cursor"], message: "not a cursor of this list and sort", severity: "error" },
    ]);
  }
  return { value: ok.data[0], id: ok.data[1] };
}

function literal(value: string, kind: SortKind): Prisma.Sql {
  // Time columns hold UTC without a zone (Prisma's DateTime).
  if (kind === "time") return Prisma.sql`(${value}::timestamptz AT TIME ZONE 'UTC')`;
  if (kind === "attachmentState") return Prisma.sql`${value}::text::"AttachmentState"`;
  return Prisma.sql`${value}::text`;
}

/** `(key, id) > (cursor)` (or `<` descending); TRUE on the first page. */
export function afterCursor(key: SortKey, idExpr: Prisma.Sql, dir: SortDir, cursor: string | undefined): Prisma.Sql {
  if (!cursor) return Prisma.sql`TRUE`;
  const c = decodeCursor(cursor, key.kind);
  return dir === "asc"
    ? Prisma.sql`(${key.expr}, ${idExpr}) > (${literal(c.value, key.kind)}, ${c.id}::text)`
    : Prisma.sql`(${key.expr}, ${idExpr}) < (${literal(c.value, key.kind)}, ${c.id}::text)`;
}

export function orderBy(key: SortKey, idExpr: Prisma.Sql, dir: SortDir): Prisma.Sql {
  return dir === "asc" ? Prisma.sql`ORDER BY ${key.expr} ASC, ${idExpr} ASC` : Prisma.sql`ORDER BY ${key.expr} DESC, ${idExpr} DESC`;
}

/** A LIKE pattern matching `text` anywhere, its wildcards taken literally. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, "\\$&")}%`;
}

/** A LIKE pattern matching what starts with `text`, its wildcards taken literally. */
export function prefixPattern(text: string): string {
  return `${text.replace(/[\\%_]/g, "\\$&")}%`;
}

/**
 * A case-insensitive substring search through a trigram index (pg_trgm, GIN): `indexed` is the
 * indexed expression exactly as the migration wrote it (the searched columns joined by a space),
 * which finds the candidates, and `exact` says which of them match (a term that spans two columns
 * in the joined text matches no column). A term of fewer than three characters has no trigram to
 * look up: the planner then reads the rows in sort order and stops at the page's end.
 */
export function searchCondition(pattern: string, indexed: Prisma.Sql, exact: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`(${indexed}) ILIKE ${pattern}::text AND (${exact})`;
}

/**
 * Cuts the `limit + 1` rows a page query read into the page and the cursor of the next one.
 * `sortValue` gives the sort key of a row as the query compared it.
 */
export function toPage<R extends { id: string }>(rows: R[], limit: number, sortValue: (row: R) => string | Date): Page<R> {
  const hasMore = rows.length > limit;
  const items = hasMore ? rows.slice(0, limit) : rows;
  const last = items[items.length - 1];
  return { items, nextCursor: hasMore && last ? encodeCursor(sortValue(last), last.id) : null };
}
