import { describe, expect, it } from "vitest";
import { createDb, migrateDatabase } from "../src/index";
import { scratchDatabase } from "./cli";

/**
 * The list_search_trigram migration creates pg_trgm and the lists' trigram indexes. PGlite ships
 * pg_trgm as an extension it must load at open (packages/db/src/pglite.ts): the migrated data
 * directory, opened again as the console opens it, must still use them.
 */
describe.each(["postgres", "pglite"] as const)("list_search_trigram migration (%s)", (kind) => {
  it("leaves pg_trgm usable and the trigram indexes in place, also after the database is opened again", async () => {
    const scratch = await scratchDatabase(kind);
    try {
      await migrateDatabase(scratch.url);
      const db = createDb(scratch.url);
      try {
        const [ext] = await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pg_trgm'`;
        expect(ext?.n).toBe(1);
        const indexes = await db.$queryRaw<{ name: string; options: string[] | null }[]>`
          SELECT c.relname AS name, c.reloptions AS options FROM pg_class c JOIN pg_am am ON am.oid = c.relam
          WHERE am.amname = 'gin' AND c.relname LIKE '%search_trgm_idx' ORDER BY c.relname`;
        expect(indexes.map((i) => i.name)).toEqual(["Attachment_search_trgm_idx", "AuditEvent_search_trgm_idx", "Host_search_trgm_idx", "NetworkRevision_search_trgm_idx"]);
        expect(indexes.every((i) => i.options?.includes("fastupdate=off"))).toBe(true);
        await db.$executeRaw`INSERT INTO "Host" (id, name, "credentialHash", "credentialExpiresAt", "agentVersion") VALUES ('tm-h', 'Trigram-Höst', 'tm-cred', now(), 'v1')`;
      } finally {
        await db.$disconnect();
      }

      // Opened again (PGlite: a new instance on the directory, with the extension loaded).
      const again = createDb(scratch.url);
      try {
        const [sim] = await again.$queryRaw<{ s: number }[]>`SELECT similarity('switchyard', 'switchyards')::float8 AS s`;
        expect(sim?.s).toBeGreaterThan(0.5);
        // The planner may pick the index only when told to skip the table: then the index must answer.
        const found = await again.$transaction([
          again.$executeRaw`SET LOCAL enable_seqscan = off`,
          again.$queryRaw<{ "QUERY PLAN": string }[]>`EXPLAIN SELECT id FROM "Host" h WHERE (h.name || ' ' || h."agentVersion") ILIKE '%höst%'`,
          again.$queryRaw<{ id: string }[]>`SELECT id FROM "Host" h WHERE (h.name || ' ' || h."agentVersion") ILIKE '%höst%'`,
        ]);
        expect(found[1].map((r) => r["QUERY PLAN"]).join("\n")).toContain("Host_search_trgm_idx");
        expect(found[2]).toEqual([{ id: "tm-h" }]);
      } finally {
        await again.$disconnect();
      }
    } finally {
      await scratch.drop();
    }
  });
});
