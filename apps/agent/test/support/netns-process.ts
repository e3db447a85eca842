import { type ChildProcess, spawn } from "node:child_process";
import { type Interface, createInterface } from "node:readline";

export interface NetnsProcess {
  child: ChildProcess;
  /** Every stdout line so far. */
  lines: string[];
  /** Resolves with the first stdout line (from now on, or already seen) matching `pattern`; rejects after `timeoutMs`. */
  waitForLine(pattern: RegExp | ((line: string) => boolean), timeoutMs?: number, fromIndex?: number): Promise<string>;
  /** Writes one line to its stdin (when started with `hasStdin`). */
  writeLine(line: string): void;
  /** SIGTERM, then SIGKILL after a second; resolves when it has exited. Safe to call twice. */
  stop(): Promise<void>;
}

export interface SpawnInNetnsOptions {
  /** Node flags before the script (e.g. ["--import", "tsx"]). */
  nodeFlags?: string[];
  /** The script is a file (run as `node file args`) instead of `node -e script args`. */
  isFile?: boolean;
  /** The process is killed after this long whatever happens (bounded lifetime). */
  lifetimeMs?: number;
  /** Keep a pipe to its stdin open (`writeLine`). */
  hasStdin?: boolean;
}

/**
 * Runs a Node script inside a test namespace (`ip netns exec NS node …`: ip execs, so the pid
 * is node's and signals reach it). Its stdout is read line by line.
 */
export function spawnNodeInNetns(netns: string, script: string, args: readonly string[] = [], options: SpawnInNetnsOptions = {}): NetnsProcess {
  const scriptArgs = options.isFile ? [script] : ["-e", script];
  const child = spawn("ip", ["netns", "exec", netns, process.execPath, ...(options.nodeFlags ?? []), ...scriptArgs, ...args], { stdio: [options.hasStdin ? "pipe" : "ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  const rl: Interface = createInterface({ input: child.stdout! });
  rl.on("line", (line) => {
    lines.push(line);
    for (const l of listeners) l(line);
  });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => {
    if (stderr.length < 8192) stderr += b.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const lifetime = setTimeout(() => child.kill("SIGKILL"), options.lifetimeMs ?? 120_000);
  void exited.then(() => clearTimeout(lifetime));

  return {
    child,
    lines,
    waitForLine(pattern, timeoutMs = 10_000, fromIndex = 0) {
      const matches = typeof pattern === "function" ? pattern : (l: string) => pattern.test(l);
      const seen = lines.slice(fromIndex).find(matches);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`no line matching ${String(pattern)} within ${timeoutMs} ms in ${netns}; stdout tail: ${lines.slice(-5).join(" | ")}; stderr: ${stderr.slice(0, 500)}`));
        }, timeoutMs);
        const listener = (line: string) => {
          if (!matches(line)) return;
          clearTimeout(timer);
          listeners.delete(listener);
          resolve(line);
        };
        listeners.add(listener);
      });
    },
    writeLine(line) {
      if (!child.stdin) throw new Error("process started without hasStdin");
      child.stdin.write(`${line}\n`);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const kill = setTimeout(() => child.kill("SIGKILL"), 1000);
      await exited;
      clearTimeout(kill);
    },
  };
}
