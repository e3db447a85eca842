import { PrismaPg } from "@prisma/adapter-pg";
import type { ITXClientDenyList, SqlDriverAdapterFactory } from "@prisma/client/runtime/client";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "./generated/prisma/client";
import { leasePglite } from "./pglite";
import { parseDbUrl } from "./url";

/** Secrets never leave the data layer unless a query asks: `omit: { passwordHash: false }`. */
const omitSecrets = { user: { passwordHash: true }, webhook: { secret: true } } as const;

function newClient(adapter: SqlDriverAdapterFactory) {
  return new PrismaClient({ adapter, omit: omitSecrets });
}

/** The Prisma client for Switchyard's database. */
export type Db = ReturnType<typeof newClient>;
/** The client inside `db.$transaction(async (tx) => …)`; domain code accepts `Db | DbTx`. */
export type DbTx = Omit<Db, ITXClientDenyList>;

export interface PoolOptions {
  /** PostgreSQL connections this process may hold (pg's pool `max`; the console's SWITCHYARD_DB_POOL). */
  max?: number;
  /** How long a query may wait for a free connection before it fails as busy (isBusyError); 0 waits forever. */
  waitMs?: number;
}

export const DEFAULT_POOL: Required<PoolOptions> = { max: 10, waitMs: 10_000 };

/**
 * A client for `postgresql://…` (pg pool) or `file:<dir>` / `file::memory:` (embedded PGlite).
 * `db.$disconnect()` also closes the PGlite instance once no other client in the process uses it.
 * A query that cannot get a connection within `pool.waitMs` fails (isBusyError) rather than wait
 * without bound behind a burst: the console sheds it with 503 and Retry-After.
 */
export function createDb(url: string, pool: PoolOptions = {}): Db {
  const target = parseDbUrl(url);
  const { max, waitMs } = { ...DEFAULT_POOL, ...pool };
  if (target.kind === "postgres") return newClient(new PrismaPg({ connectionString: target.url, max, connectionTimeoutMillis: waitMs }));
  const lease = leasePglite(target);
  const db = newClient(new PrismaPGlite(lease.pglite));
  const disconnect = db.$disconnect.bind(db);
  Object.defineProperty(db, "$disconnect", {
    value: async () => {
      await disconnect();
      await lease.release();
    },
  });
  return db;
}

/** Same as `db.$disconnect()`; reads better in shutdown code. */
export function closeDb(db: Db): Promise<void> {
  return db.$disconnect();
}
