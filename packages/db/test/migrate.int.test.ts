import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { createDb, migrateDatabase, MigrationError } from "../src/index";
import { readMigrations } from "../src/migrate";
import { prisma, REPO_ROOT, scratchDatabase } from "./cli";

describe.each(["postgres", "pglite"] as const)("migrateDatabase (%s)", (kind) => {
  it("is idempotent: a second run applies nothing", async () => {
    const db = await scratchDatabase(kind);
    try {
      const first = await migrateDatabase(db.url);
      expect(first.applied).toEqual(readMigrations().map((m) => m.name));
      expect(await migrateDatabase(db.url)).toEqual({ applied: [] });
    } finally {
      await db.drop();
    }
  });

  it("records a failing migration as failed, like Prisma, and refuses to go on", async () => {
    const db = await scratchDatabase(kind);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-migrations-"));
    try {
      fs.cpSync(path.join(REPO_ROOT, "prisma/migrations"), dir, { recursive: true });
      fs.mkdirSync(path.join(dir, "29990101000000_broken"));
      fs.writeFileSync(path.join(dir, "29990101000000_broken/migration.sql"), 'CREATE TABLE "Ok" (id INT);\nSELECT * FROM "does_not_exist";\n');
      await expect(migrateDatabase(db.url, { migrationsDir: dir })).rejects.toThrow(MigrationError);
      await expect(migrateDatabase(db.url, { migrationsDir: dir })).rejects.toThrow(/failed earlier/);

      const client = createDb(db.url);
      try {
        const rows = await client.$queryRaw<{ migration_name: string; finished: boolean; logs: string | null }[]>`
          SELECT migration_name, finished_at IS NOT NULL AS finished, logs FROM "_prisma_migrations" ORDER BY started_at`;
        expect(rows.at(-1)).toMatchObject({ migration_name: "29990101000000_broken", finished: false });
        expect(rows.at(-1)?.logs).toContain("does_not_exist");
        // The failed script ran as one implicit transaction: nothing of it is left behind.
        const ok = await client.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'Ok'`;
        expect(ok[0]?.n).toBe(0);
      } finally {
        await client.$disconnect();
      }
      if (kind === "postgres") {
        // Prisma's own view of the same database: the migration is failed.
        const status = prisma(["migrate", "status"], db.url);
        expect(status.output).toMatch(/failed/i);
      }
    } finally {
      await db.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("migrateDatabase on PostgreSQL", () => {
  it("serializes concurrent runs with the advisory lock", async () => {
    const db = await scratchDatabase("postgres");
    try {
      const results = await Promise.all([migrateDatabase(db.url), migrateDatabase(db.url), migrateDatabase(db.url)]);
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, readMigrations().length]);
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      const rows = await c.query(`SELECT count(*)::int AS n FROM "_prisma_migrations"`);
      await c.end();
      expect(rows.rows[0].n).toBe(readMigrations().length);
    } finally {
      await db.drop();
    }
  });
});
