import { spawn } from "node:child_process";
import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CNI_ERROR_CODES, CniError } from "../errors";

/** A progress event of one plugin execution. */
export interface ExecEvent {
  verb: string;
  plugin: string;
  phase: "start" | "stderr" | "exit";
  data?: string;
  code?: number | null;
  durationMs?: number;
}

export interface ExecPluginInput {
  /** Absolute path found by findPlugin. */
  pluginPath: string;
  verb: string;
  env: Record<string, string>;
  stdin: string;
  timeoutMs: number;
  onExec?: (event: ExecEvent) => void;
  /** Delays between attempts when the executable is busy (ETXTBSY); default 5 retries. */
  busyRetryDelaysMs?: readonly number[];
}

export interface ExecOutput {
  stdout: string;
  stderr: string;
}

export const DEFAULT_BUSY_RETRY_DELAYS_MS = [50, 100, 200, 400, 800] as const;
const MAX_STDOUT_BYTES = 16 * 1024 * 1024;
const MAX_STDERR_BYTES = 256 * 1024;

interface RawRun {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  spawnError?: NodeJS.ErrnoException;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

function runOnce(input: ExecPluginInput, plugin: string): Promise<RawRun> {
  return new Promise((resolve) => {
    const started = performance.now();
    // detached: the plugin leads a new process group, so the timeout can kill it with every child it started.
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(input.pluginPath, [], { env: input.env, detached: true, stdio: ["pipe", "pipe", "pipe"] });
    } catch (error) {
      // Some spawn failures (ETXTBSY among them) are thrown rather than emitted.
      resolve({ stdout: "", stderr: "", exitCode: null, signal: null, timedOut: false, spawnError: error as NodeJS.ErrnoException });
      return;
    }
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = "";
    let timedOut = false;
    let settled = false;
    let spawned = false;

    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
      // A process that left the group could still hold stdout open; do not wait on it for ever.
      grace = setTimeout(() => finish({ stdout: "", stderr, exitCode: null, signal: "SIGKILL", timedOut }), 2000);
    }, input.timeoutMs);

    const finish = (run: RawRun) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (grace) clearTimeout(grace);
      resolve(run);
    };

    child.once("spawn", () => {
      spawned = true;
      input.onExec?.({ verb: input.verb, plugin, phase: "start" });
    });
    child.once("error", (error: NodeJS.ErrnoException) => {
      if (!spawned) finish({ stdout: "", stderr: "", exitCode: null, signal: null, timedOut: false, spawnError: error });
    });
    child.stdin!.on("error", () => {
      // EPIPE: the plugin exited without reading its config; its exit status tells the rest.
    });
    child.stdout!.on("data", (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes <= MAX_STDOUT_BYTES) stdout.push(chunk);
      else killGroup(child.pid);
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.slice(0, MAX_STDERR_BYTES - stderr.length);
      input.onExec?.({ verb: input.verb, plugin, phase: "stderr", data: chunk });
    });
    child.once("close", (exitCode, signal) => {
      if (!spawned) return;
      const durationMs = performance.now() - started;
      input.onExec?.({ verb: input.verb, plugin, phase: "exit", code: exitCode, durationMs });
      const out = Buffer.concat(stdout).toString("utf8");
      finish({ stdout: stdoutBytes > MAX_STDOUT_BYTES ? "" : out, stderr, exitCode, signal, timedOut });
    });
    child.stdin!.end(input.stdin);
  });
}

function isErrorObject(value: unknown): value is { code: number; msg?: unknown; details?: unknown } {
  return typeof value === "object" && value !== null && typeof (value as { code?: unknown }).code === "number";
}

/** The CniError for a plugin that exited non-zero: its error JSON on stdout, else its stderr. */
export function pluginError(plugin: string, verb: string, run: Pick<RawRun, "stdout" | "stderr" | "exitCode" | "signal">): CniError {
  const text = run.stdout.trim();
  if (text) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (isErrorObject(parsed)) {
        return new CniError(parsed.code, typeof parsed.msg === "string" ? parsed.msg : `plugin ${plugin} failed (${verb})`, typeof parsed.details === "string" ? parsed.details : "", {
          reason: "plugin",
          plugin,
          stderr: run.stderr,
        });
      }
    } catch {
      // Not JSON: reported below with the raw output.
    }
  }
  const how = run.signal ? `was killed by ${run.signal}` : `exited with status ${run.exitCode}`;
  const said = text ? `; stdout: ${JSON.stringify(text.slice(0, 500))}` : run.stderr.trim() ? `; stderr: ${JSON.stringify(run.stderr.trim().slice(0, 500))}` : " with no error message";
  return new CniError(CNI_ERROR_CODES.ioFailure, `plugin ${plugin} failed (${verb})`, `${how}${said}`, { reason: "pluginFailed", plugin, stderr: run.stderr });
}

/**
 * Runs one plugin per the CNI exec protocol: config on stdin, CNI_ variables in env, result or
 * error JSON on stdout. A busy executable (ETXTBSY, e.g. just being installed) is retried with a
 * fresh process; at the timeout the plugin's whole process group is killed.
 */
export async function execPlugin(input: ExecPluginInput): Promise<ExecOutput> {
  const plugin = basename(input.pluginPath);
  const delays = input.busyRetryDelaysMs ?? DEFAULT_BUSY_RETRY_DELAYS_MS;
  for (let attempt = 0; ; attempt++) {
    const run = await runOnce(input, plugin);
    if (run.spawnError) {
      if (run.spawnError.code === "ETXTBSY" && attempt < delays.length) {
        await sleep(delays[attempt]);
        continue;
      }
      throw new CniError(CNI_ERROR_CODES.ioFailure, `failed to execute plugin ${plugin}`, `${input.pluginPath}: ${run.spawnError.message}`, {
        reason: "pluginFailed",
        plugin,
        cause: run.spawnError,
      });
    }
    if (run.timedOut) {
      throw new CniError(CNI_ERROR_CODES.ioFailure, `plugin ${plugin} timed out (${input.verb})`, `no answer within ${input.timeoutMs} ms: killed its process group`, {
        reason: "timeout",
        plugin,
        stderr: run.stderr,
      });
    }
    if (run.exitCode !== 0) throw pluginError(plugin, input.verb, run);
    return { stdout: run.stdout, stderr: run.stderr };
  }
}
