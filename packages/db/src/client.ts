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

/**
 * A client for `postgresql://…` (pg pool) or `file:<dir>` / `file::memory:` (embedded PGlite).
 * `db.$disconnect()` also closes the PGlite instance once no other client in the process uses it.
 */
export function createDb(url: string): Db {
  const target = parseDbUrl(url);
  if (target.kind === "postgres") return newClient(new PrismaPg({ connectionString: target.url }));
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
