import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createDb } from "@switchyard/db";
import type { AgentRates } from "./http";

const MAIN = fileURLToPath(new URL("./testConsoleMain.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Whether a PostgreSQL answers at `url` within a couple of seconds: PostgreSQL-only tests skip when none does. */
export async function postgresAnswers(url = process.env.SWITCHYARD_TEST_PG_URL ?? "postgresql://switchyard:switchyard@127.0.0.1:5432/postgres"): Promise<boolean> {
  const db = createDb(url, { max: 1, waitMs: 2000 });
  try {
    await db.$queryRaw`SELECT 1`;
    return true;
  } catch {
    return false;
  } finally {
    await db.$disconnect().catch(() => {});
  }
}

/** libfaketime's wrapper, needed by tests that run a replica on a wrong clock (scripts/test.sh installs it). */
export function faketimeBinary(): string {
  try {
    return execFileSync("sh", ["-c", "command -v faketime"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("faketime is not installed: apt-get install faketime (scripts/test.sh installs it)");
  }
}

export interface ConsoleProcess {
  url: string;
  /** Date.now() in the process when it started listening (its clock, faked or not). */
  clock: number;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * A console replica in its own process (testConsoleMain.ts) on the database at `url`; `clockOffset`
 * ("+600s") runs it under libfaketime, so its every clock really is that far off.
 */
export async function startConsoleProcess(opts: {
  url: string;
  name: string;
  clockOffset?: string;
  sessionTtlMs?: number;
  streamsPerCredential?: number;
  agentRates?: Partial<AgentRates>;
}): Promise<ConsoleProcess> {
  const { clockOffset: _offset, ...options } = opts;
  const args = ["--import", "tsx", MAIN, JSON.stringify(options)];
  const proc = opts.clockOffset
    ? spawn(faketimeBinary(), ["-f", opts.clockOffset, process.execPath, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
    : spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const started = await new Promise<{ url: string; clock: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`console process ${opts.name} did not start within 60 s:\n${out}`)), 60_000);
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const line = /\{"url":[^\n]*\}/.exec(out)?.[0];
      if (line) clearTimeout(timer), resolve(JSON.parse(line) as { url: string; clock: number });
    });
    proc.once("exit", (code) => (clearTimeout(timer), reject(new Error(`console process ${opts.name} exited (${code}):\n${out}`))));
  });
  return {
    ...started,
    proc,
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        const kill = setTimeout(() => proc.kill("SIGKILL"), 5000);
        proc.once("exit", () => (clearTimeout(kill), resolve()));
        proc.kill("SIGTERM");
      }),
  };
}
