import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BASE_URL } from "./playwright.config";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");

/**
 * Starts the built console on a fresh embedded database, exactly as the quick start
 * does, and reads the one-time bootstrap secret it prints.
 */
export default async function globalSetup() {
  const dataDir = mkdtempSync(path.join(tmpdir(), "switchyard-e2e-"));
  const port = new URL(BASE_URL).port;
  const child = spawn(process.execPath, ["server.mjs"], {
    cwd: path.join(root, "apps/console"),
    env: { ...process.env, HOST: "127.0.0.1", PORT: port, SWITCHYARD_DATA_DIR: dataDir, NEXT_MANUAL_SIG_HANDLE: "true", NEXT_TELEMETRY_DISABLED: "1", DATABASE_URL: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));

  const deadline = Date.now() + 90_000;
  let secret: string | undefined;
  while (Date.now() < deadline && !secret) {
    if (child.exitCode !== null) throw new Error(`console exited early:\n${output}`);
    try {
      // The first request runs instrumentation (migrations, bootstrap) if it has not run yet.
      await fetch(`${BASE_URL}/login`);
    } catch {
      /* not listening yet */
    }
    secret = /bootstrap secret:\s+(\S+)/.exec(output)?.[1];
    if (!secret) await new Promise((r) => setTimeout(r, 250));
  }
  if (!secret) throw new Error(`no bootstrap secret printed within 90 s:\n${output}`);
  mkdirSync(path.join(here, ".auth"), { recursive: true });
  writeFileSync(path.join(here, ".auth/bootstrap.json"), JSON.stringify({ username: "admin", secret }));

  return async () => {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    rmSync(dataDir, { recursive: true, force: true });
    if (process.env.E2E_LOG) writeFileSync(process.env.E2E_LOG, output);
  };
}
