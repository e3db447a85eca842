/**
 * The agent as a real child process, its JSON log lines read from stderr (the tests that start
 * one and wait for what it says; the fault run, which kills and restarts it).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { waitFor } from "../wait";

export type AgentLogLine = Record<string, unknown>;

export interface AgentProcess {
  proc: ChildProcess;
  /** Its log lines so far, parsed (a line that is not JSON is kept as `{ msg: line }`); the oldest go past `maxLines`. */
  logs: AgentLogLine[];
  /** Resolves with its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** The first line (seen already, or from now on) matching `pred`; fails after `timeoutMs`. */
  waitForLog(pred: (line: AgentLogLine) => boolean, timeoutMs?: number): Promise<AgentLogLine>;
  /** SIGKILL unless it has exited; resolves once it has. */
  kill(): Promise<void>;
}

export interface AgentProcessOptions {
  /** Its whole environment (default: PATH only, as a service unit gives it). */
  env?: Record<string, string>;
  /** Each line as it arrives (the fault run counts warnings across restarts). */
  onLine?(line: AgentLogLine): void;
  /** Lines kept in `logs` (default 50,000): a long run must not grow without bound. */
  maxLines?: number;
}

const DEFAULT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

/** `node <argv…>`: argv starts with the agent's bin (AGENT_BIN, agentArgs()). */
export function startAgentProcess(argv: string[], options: AgentProcessOptions = {}): AgentProcess {
  const proc = spawn(process.execPath, argv, { env: options.env ?? { PATH: process.env.PATH ?? DEFAULT_PATH }, stdio: ["ignore", "ignore", "pipe"] });
  const logs: AgentLogLine[] = [];
  const maxLines = options.maxLines ?? 50_000;
  let buf = "";
  proc.stderr!.on("data", (chunk: Buffer) => {
    const lines = (buf += chunk.toString()).split("\n");
    buf = lines.pop()!;
    for (const text of lines) {
      let line: AgentLogLine;
      try {
        line = JSON.parse(text) as AgentLogLine;
      } catch {
        line = { msg: text };
      }
      logs.push(line);
      if (logs.length > maxLines) logs.splice(0, logs.length - maxLines);
      options.onLine?.(line);
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return {
    proc,
    logs,
    exited,
    waitForLog: (pred, timeoutMs = 30_000) => waitFor("agent log line", async () => logs.find(pred), timeoutMs),
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
}
