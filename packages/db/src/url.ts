import path from "node:path";

/** Where a database lives, parsed from a Switchyard database URL. */
export type DbTarget =
  | { kind: "postgres"; url: string }
  /** An embedded PGlite data directory (absolute). */
  | { kind: "pglite"; dir: string }
  /** An in-memory PGlite; a named one is shared within the process (tests), an anonymous one is fresh. */
  | { kind: "pglite-memory"; name: string | null };

/**
 * `postgresql://…` / `postgres://…`, or `file:<dir>` for an embedded PGlite directory
 * (`file:./.switchyard/db`, `file:/var/lib/switchyard/db`, `file:///var/lib/switchyard/db`;
 * relative paths resolve against the current directory), or `file::memory:` (fresh, in memory).
 * `file:` is the form the stock prisma CLI accepts in prisma.config.ts besides postgresql://.
 */
export function parseDbUrl(url: string): DbTarget {
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: "postgres", url };
  const rest = /^file:(.+)$/.exec(url)?.[1]?.replace(/^\/\/(?=[./])/, "").split("?")[0];
  if (!rest) {
    throw new Error(
      `database URL "${url.split(":")[0]}:…" is not supported: use postgresql://user:pass@host:5432/db or file:<PGlite directory> (e.g. file:./.switchyard/db)`,
    );
  }
  if (rest.startsWith(":memory:")) return { kind: "pglite-memory", name: rest.slice(":memory:".length) || null };
  return { kind: "pglite", dir: path.resolve(rest) };
}
