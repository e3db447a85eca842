/**
 * A console replica as its own process (packages/api/src/testReplicaMain.ts) on a fixed port, so
 * that it can be SIGKILLed and started again where its agents keep dialing it (the fault run).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const CONSOLE_MAIN = join(REPO_ROOT, "packages/api/src/testReplicaMain.ts");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ConsoleProcess {
  url: string;
  start(): Promise<void>;
  kill(): Promise<void>;
  isRunning(): boolean;
  /** Exits nobody asked for (a crash), with the end of its output. */
  crashes: string[];
  stop(): Promise<void>;
}

export function createConsoleProcess(dbUrl: string, port: number, logFile?: string): ConsoleProcess {
  let proc: ChildProcess | undefined;
  let stopping = false;
  let killing = false;
  const crashes: string[] = [];
  const running = () => proc !== undefined && proc.exitCode === null && proc.signalCode === null;
  async function start(): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      let out = "";
      const child = spawn(process.execPath, ["--import", "tsx", CONSOLE_MAIN, dbUrl, "faultrun", String(port)], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
      proc = child;
      const keep = (d: Buffer) => {
        out = (out + d.toString()).slice(-8000);
        if (logFile) appendFileSync(logFile, d);
      };
      child.stderr!.on("data", keep);
      const started = await new Promise<boolean>((resolve) => {
        child.stdout!.on("data", (d: Buffer) => {
          keep(d);
          if (out.includes('{"url"')) resolve(true);
        });
        child.once("exit", () => resolve(false));
      });
      if (started) {
        child.once("exit", (code, signal) => {
          if (!killing && !stopping) crashes.push(`console process exited by itself (${code ?? signal}): ${out.slice(-2000)}`);
        });
        return;
      }
      // The port of the killed process may not be free yet; anything else is worth seeing.
      if (Date.now() > deadline || !out.includes("EADDRINUSE")) throw new Error(`the console process did not start:\n${out}`);
      await sleep(200);
    }
  }
  async function kill(): Promise<void> {
    const child = proc;
    if (!child || !running()) return;
    killing = true;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGKILL");
    await exited;
    killing = false;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    start,
    kill,
    isRunning: running,
    crashes,
    async stop() {
      stopping = true;
      await kill();
    },
  };
}
