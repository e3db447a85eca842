import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PRISMA_CLI = path.join(REPO_ROOT, "node_modules/prisma/build/index.js");
const SHIM = fileURLToPath(new URL("../bin/schema-engine", import.meta.url));
export const ADMIN_PG_URL = process.env.SWITCHYARD_TEST_PG_URL ?? "postgresql://switchyard:switchyard@127.0.0.1:5432/postgres";

/** Runs the stock prisma CLI from the repo root, with the offline schema engine. */
export function prisma(args: string[], databaseUrl: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [PRISMA_CLI, ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, DATABASE_URL: databaseUrl, PRISMA_SCHEMA_ENGINE_BINARY: SHIM, PRISMA_HIDE_UPDATE_MESSAGE: "1", CI: "1" },
  });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

/** An empty scratch database of each kind; `drop()` removes it. */
export async function scratchDatabase(kind: "postgres" | "pglite"): Promise<{ url: string; drop(): Promise<void> }> {
  if (kind === "pglite") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-pglite-"));
    return { url: `file:${dir}/db`, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `switchyard_scratch_${crypto.randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(ADMIN_PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}
