import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { createDb, type Db } from "./client";
import { applyMigrations, hashMigrations, pgSession, pgliteSession, readMigrations } from "./migrate";
import { newPglite, registerMemoryPglite } from "./pglite";

export type TestDb = {
  db: Db;
  /** postgresql://… of the fresh database, or `file::memory:<id>` (reachable through createDb in this process). */
  url: string;
  kind: "pglite" | "pglite-dir" | "postgres";
  close(): Promise<void>;
};

const DEFAULT_PG_URL = "postgresql://switchyard:switchyard@127.0.0.1:5432/postgres";
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * A fresh, isolated, migrated database per call. `SWITCHYARD_TEST_DB=postgres` clones a
 * template database on `opts.pgUrl` (a test's own cluster), else `SWITCHYARD_TEST_PG_URL`; the default `pglite` loads a cached
 * data-directory tarball into an in-memory PGlite; `pglite-dir` loads it into a PGlite on a
 * temporary directory, as the console's embedded database is (`file:<dir>`: the benchmarks
 * measure what the console runs; an in-memory PGlite pays for growing its files in memory).
 */
export async function createTestDb(kind: string = process.env.SWITCHYARD_TEST_DB ?? "pglite", opts: { pgUrl?: string } = {}): Promise<TestDb> {
  if (kind === "postgres") return createPostgresTestDb(opts.pgUrl ?? process.env.SWITCHYARD_TEST_PG_URL ?? DEFAULT_PG_URL);
  if (kind === "pglite") return createPgliteTestDb();
  if (kind === "pglite-dir") return createPgliteDirTestDb();
  throw new Error(`SWITCHYARD_TEST_DB="${kind}" is not supported: use "pglite" (default), "pglite-dir" or "postgres"`);
}

// ---- PostgreSQL: CREATE DATABASE … TEMPLATE a migrated template ------------------------

const withDatabase = (url: string, database: string): string => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const templates = new Map<string, Promise<string>>();

/** Migrates `switchyard_tpl_<hash>` once, under a lock so parallel workers don't collide. */
function ensureTemplate(adminUrl: string): Promise<string> {
  const migrations = readMigrations();
  const name = `switchyard_tpl_${hashMigrations(migrations)}`;
  const key = `${adminUrl}#${name}`;
  let pending = templates.get(key);
  if (!pending) {
    pending = withAdmin(adminUrl, async (admin) => {
      await admin.query("SELECT pg_advisory_lock(hashtext('switchyard_test_template'))");
      try {
        const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
        if (exists.rowCount) return name;
        // Build under a scratch name and rename: a half-migrated template is never visible.
        const building = `${name}_building`;
        await admin.query(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`);
        await admin.query(`CREATE DATABASE "${building}"`);
        const client = new pg.Client({ connectionString: withDatabase(adminUrl, building) });
        await client.connect();
        try {
          await applyMigrations(pgSession(client), migrations);
        } finally {
          await client.end();
        }
        await admin.query(`ALTER DATABASE "${building}" RENAME TO "${name}"`);
        return name;
      } finally {
        await admin.query("SELECT pg_advisory_unlock(hashtext('switchyard_test_template'))");
      }
    });
    pending.catch(() => templates.delete(key));
    templates.set(key, pending);
  }
  return pending;
}

async function createPostgresTestDb(adminUrl: string): Promise<TestDb> {
  const template = await ensureTemplate(adminUrl);
  const name = `switchyard_test_${crypto.randomBytes(6).toString("hex")}`;
  await withAdmin(adminUrl, (admin) => admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`));
  const url = withDatabase(adminUrl, name);
  const db = createDb(url);
  return {
    db,
    url,
    kind: "postgres",
    close: once(async () => {
      await db.$disconnect();
      await withAdmin(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    }),
  };
}

// ---- PGlite: load a cached, migrated data-directory dump ---------------------------------

let snapshot: Promise<Blob> | undefined;

/** The migrated data directory as a tarball, cached in <repo>/.test-cache by migrations hash. */
function loadSnapshot(): Promise<Blob> {
  return (snapshot ??= (async () => {
    const migrations = readMigrations();
    const file = path.join(REPO_ROOT, ".test-cache", `pglite-${hashMigrations(migrations)}.tar.gz`);
    if (!fs.existsSync(file)) {
      const pglite = newPglite();
      await pglite.waitReady;
      await applyMigrations(pgliteSession(pglite), migrations);
      const dump = await pglite.dumpDataDir("gzip");
      await pglite.close();
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
      fs.writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
      fs.renameSync(tmp, file); // atomic: parallel workers never read a partial tarball
    }
    return new Blob([fs.readFileSync(file)]);
  })().catch((error) => {
    snapshot = undefined;
    throw error;
  }));
}

async function createPgliteTestDb(): Promise<TestDb> {
  const pglite = newPglite(undefined, { loadDataDir: await loadSnapshot() });
  await pglite.waitReady;
  const id = crypto.randomUUID();
  registerMemoryPglite(id, pglite);
  const url = `file::memory:${id}`;
  const db = createDb(url);
  return { db, url, kind: "pglite", close: once(() => db.$disconnect()) };
}

async function createPgliteDirTestDb(): Promise<TestDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-test-pglite-"));
  try {
    // Unpacked once by a PGlite of its own, then opened by the client as the console opens it.
    const loader = newPglite(dir, { loadDataDir: await loadSnapshot() });
    await loader.waitReady;
    await loader.close();
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const url = `file:${dir}`;
  const db = createDb(url);
  return {
    db,
    url,
    kind: "pglite-dir",
    close: once(async () => {
      await db.$disconnect();
      fs.rmSync(dir, { recursive: true, force: true });
    }),
  };
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
