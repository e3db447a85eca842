import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const CLI_DIR = fileURLToPath(new URL("..", import.meta.url));
export const BIN = fileURLToPath(new URL("../bin/switchyard", import.meta.url));
export const BUNDLE = fileURLToPath(new URL("../dist/switchyard.mjs", import.meta.url));

/** Builds the bundle (as `turbo run build` does) when it is not there. */
export async function ensureBuilt(): Promise<void> {
  if (existsSync(BUNDLE) && process.env.SWITCHYARD_CLI_REBUILD !== "1") return;
  const r = await runNode([fileURLToPath(new URL("../build.mjs", import.meta.url))], { cwd: CLI_DIR });
  if (r.code !== 0) throw new Error(`building the CLI failed: ${r.stderr}`);
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runNode(args: string[], opts: { env?: Record<string, string>; input?: string; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: opts.env ?? { PATH: process.env.PATH ?? "/usr/bin:/bin" }, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** The built CLI as a CI job runs it: a minimal environment (no terminal), `env` added. */
export function cli(args: string[], opts: { env?: Record<string, string>; input?: string; cwd?: string } = {}): Promise<Run> {
  return runNode([BIN, ...args], { ...opts, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...opts.env } });
}
