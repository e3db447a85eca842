import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { migrateDatabase } from "../src/index";
import { prisma, REPO_ROOT, scratchDatabase } from "./cli";

const SCHEMA = path.join(REPO_ROOT, "prisma/schema.prisma");
const MIGRATIONS = path.join(REPO_ROOT, "prisma/migrations");

/** The stock prisma CLI through packages/db/bin/schema-engine (one file per kind, so they run in parallel). */
export function describeSchemaEngine(kind: "postgres" | "pglite"): void {
  describe(`prisma CLI through the offline schema engine (${kind})`, () => {
    it("finds no drift between prisma/migrations and prisma/schema.prisma", async () => {
      const db = await scratchDatabase(kind); // the shadow database hangs off this connection
      try {
        const diff = prisma(["migrate", "diff", "--from-migrations", MIGRATIONS, "--to-schema", SCHEMA, "--exit-code"], db.url);
        expect(diff.output).toContain("No difference detected");
        expect(diff.status, diff.output).toBe(0);
      } finally {
        await db.drop();
      }
    });

    it("reports drift when the schema changes without a migration", async () => {
      const db = await scratchDatabase(kind);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-schema-"));
      try {
        const edited = path.join(dir, "schema.prisma");
        fs.writeFileSync(edited, fs.readFileSync(SCHEMA, "utf8").replace("model Network {", "model Network {\n  mtu Int @default(1500)"));
        const diff = prisma(["migrate", "diff", "--from-migrations", MIGRATIONS, "--to-schema", edited, "--exit-code"], db.url);
        expect(diff.status, diff.output).toBe(2);
        expect(diff.output).toMatch(/Network/);
      } finally {
        await db.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("migrate deploy then migrate status succeed on a fresh database", async () => {
      const db = await scratchDatabase(kind);
      try {
        const deploy = prisma(["migrate", "deploy"], db.url);
        expect(deploy.status, deploy.output).toBe(0);
        const status = prisma(["migrate", "status"], db.url);
        expect(status.status, status.output).toBe(0);
        expect(status.output).toContain("Database schema is up to date!");
        const live = prisma(["migrate", "diff", "--from-config-datasource", "--to-schema", SCHEMA, "--exit-code"], db.url);
        expect(live.status, live.output).toBe(0);
      } finally {
        await db.drop();
      }
    });

    it("agrees with migrateDatabase: status is up to date, no drift", async () => {
      const db = await scratchDatabase(kind);
      try {
        expect((await migrateDatabase(db.url)).applied.length).toBeGreaterThan(0);
        const status = prisma(["migrate", "status"], db.url);
        expect(status.status, status.output).toBe(0);
        expect(status.output).toContain("Database schema is up to date!");
        const live = prisma(["migrate", "diff", "--from-config-datasource", "--to-schema", SCHEMA, "--exit-code"], db.url);
        expect(live.status, live.output).toBe(0);
      } finally {
        await db.drop();
      }
    });
  });
}
