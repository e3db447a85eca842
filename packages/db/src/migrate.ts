import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { leasePglite } from "./pglite";
import { parseDbUrl } from "./url";

/**
 * prisma/migrations at the repository root, found from this file rather than process.cwd().
 * (Not `new URL(literal, import.meta.url)`: bundlers such as Turbopack treat that as an
 * asset import. Bundled callers pass `migrationsDir` explicitly.)
 */
export const defaultMigrationsDir = (): string =>
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../prisma/migrations");

export type Migration = { name: string; sql: string; checksum: string };
export type MigrateOptions = { migrationsDir?: string };

/** A migration script failed; it is recorded as failed in `_prisma_migrations`, as Prisma does. */
export class MigrationError extends Error {
  constructor(
    message: string,
    readonly migrationName: string,
  ) {
    super(message);
    this.name = "MigrationError";
  }
}

/** The migration folders in apply order, with Prisma's checksum (sha256 hex of migration.sql). */
export function readMigrations(dir: string = defaultMigrationsDir()): Migration[] {
  return fs
    .readdirSync(/*turbopackIgnore: true*/ dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(dir, e.name, "migration.sql")))
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: crypto.createHash("sha256").update(sql).digest("hex") };
    });
}

/** Identifies a migration history (names and contents); names test template databases and caches. */
export function hashMigrations(migrations: Migration[]): string {
  const h = crypto.createHash("sha256");
  for (const m of migrations) h.update(`${m.name}\0${m.checksum}\0`);
  return h.digest("hex").slice(0, 16);
}

/** One connection: the advisory lock belongs to the session that migrates. */
export type SqlSession = {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  exec(script: string): Promise<void>;
};

export function pgSession(client: pg.Client): SqlSession {
  return {
    query: async <T>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as T[],
    exec: async (script) => void (await client.query(script)),
  };
}

export function pgliteSession(db: PGlite): SqlSession {
  return {
    query: async <T>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params)).rows,
    exec: async (script) => void (await db.exec(script)),
  };
}

// The key Prisma's schema engine locks on, so we also serialize against `prisma migrate deploy`.
const PRISMA_MIGRATE_LOCK = 72707369;

type MigrationRow = {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
};

/**
 * Applies pending migrations in order on one session, recording Prisma's own
 * `_prisma_migrations` rows so `prisma migrate status|deploy` agree afterwards.
 */
export async function applyMigrations(session: SqlSession, migrations: Migration[]): Promise<{ applied: string[] }> {
  await session.query("SELECT pg_advisory_lock($1)", [PRISMA_MIGRATE_LOCK]);
  try {
    await session.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`);
    const rows = await session.query<MigrationRow>(
      `SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at`,
    );
    const failed = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null).map((r) => r.migration_name);
    if (failed.length > 0) {
      throw new MigrationError(
        `migration ${failed.map((n) => `"${n}"`).join(", ")} failed earlier and blocks new migrations: fix the database, then run \`prisma migrate resolve --rolled-back ${failed[0]}\` (or --applied)`,
        failed[0]!,
      );
    }
    const done = new Set(rows.filter((r) => r.finished_at !== null && r.rolled_back_at === null).map((r) => r.migration_name));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.name)) continue;
      const id = crypto.randomUUID();
      await session.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)`,
        [id, m.checksum, m.name],
      );
      try {
        await session.exec(m.sql);
      } catch (error) {
        const e = error as { code?: string; message?: string };
        const logs = `A migration failed to apply. New migrations cannot be applied before the error is recovered from.\n\nMigration name: ${m.name}\n\nDatabase error code: ${e.code ?? "unknown"}\n\nDatabase error:\n${e.message ?? String(error)}\n`;
        await session.query(`UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1`, [id, logs]);
        throw new MigrationError(`migration "${m.name}" failed: ${e.message ?? String(error)}`, m.name);
      }
      await session.query(`UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`, [id]);
      applied.push(m.name);
    }
    return { applied };
  } finally {
    await session.query("SELECT pg_advisory_unlock($1)", [PRISMA_MIGRATE_LOCK]).catch(() => {});
  }
}

/**
 * Applies `prisma/migrations` to the database at `url` inside this process (PGlite can be opened
 * by one process only, so the console cannot shell out to the CLI). Idempotent; serialized across
 * processes with Prisma's advisory lock.
 */
export async function migrateDatabase(url: string, options: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const migrations = readMigrations(options.migrationsDir);
  const target = parseDbUrl(url);
  if (target.kind === "postgres") {
    const client = new pg.Client({ connectionString: target.url });
    await client.connect();
    try {
      return await applyMigrations(pgSession(client), migrations);
    } finally {
      await client.end();
    }
  }
  const lease = leasePglite(target);
  try {
    return await applyMigrations(pgliteSession(lease.pglite), migrations);
  } finally {
    await lease.release();
  }
}
