import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const MIGRATIONS = join(import.meta.dirname, "../../../prisma/migrations");

// The stock Prisma CLI on PostgreSQL splits a migration script at every semicolon, comments
// included: one in a comment breaks `migrate diff` and `migrate deploy` there (the embedded
// database does not mind, so only the PostgreSQL schema-engine test saw it, late in the run).
describe("migration scripts", () => {
  it("have no semicolon inside a -- comment", () => {
    const found = readdirSync(MIGRATIONS, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) =>
        readFileSync(join(MIGRATIONS, d.name, "migration.sql"), "utf8")
          .split("\n")
          .map((line, i) => ({ where: `${d.name}/migration.sql:${i + 1}`, comment: line.slice(line.indexOf("--") + 2), has: line.includes("--") }))
          .filter((l) => l.has && l.comment.includes(";"))
          .map((l) => l.where),
      );
    expect(found).toEqual([]);
  });
});
