import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CNI_ERROR_CODES, CniError } from "../errors";
import { type ProcessRun, type Spawner, inProcessSpawner } from "./spawner";

/** A progress event of one plugin execution. */
export interface ExecEvent {
  verb: string;
  plugin: string;
  phase: "start" | "stderr" | "exit";
  data?: string;
  code?: number | null;
  durationMs?: number;
  /** exit: killed at the per-call timeout (its code is then null). */
  timedOut?: boolean;
}

export interface ExecPluginInput {
  /** Absolute path found by findPlugin. */
  pluginPath: string;
  verb: string;
  env: Record<string, string>;
  stdin: string;
  timeoutMs: number;
  onExec?: (event: ExecEvent) => void;
  /** Who starts the process; default inProcessSpawner. */
  spawner?: Spawner;
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

function runOnce(input: ExecPluginInput, plugin: string): Promise<ProcessRun> {
  const spawner = input.spawner ?? inProcessSpawner;
  return spawner.run(
    { file: input.pluginPath, env: input.env, stdin: input.stdin, timeoutMs: input.timeoutMs, maxStdoutBytes: MAX_STDOUT_BYTES, maxStderrBytes: MAX_STDERR_BYTES },
    {
      onSpawn: () => input.onExec?.({ verb: input.verb, plugin, phase: "start" }),
      onStderr: (data) => input.onExec?.({ verb: input.verb, plugin, phase: "stderr", data }),
    },
  );
}

function isErrorObject(value: unknown): value is { code: number; msg?: unknown; details?: unknown } {
  return typeof value === "object" && value !== null && typeof (value as { code?: unknown }).code === "number";
}

/** The CniError for a plugin that exited non-zero: its error JSON on stdout, else its stderr. */
export function pluginError(plugin: string, verb: string, run: Pick<ProcessRun, "stdout" | "stderr" | "exitCode" | "signal">): CniError {
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
    if (run.spawnError?.code === "EHELPER") {
      // The plugin may have run: like a timeout, its outcome is unknown.
      throw new CniError(CNI_ERROR_CODES.ioFailure, `plugin ${plugin} gave no answer (${input.verb})`, run.spawnError.message, { reason: "timeout", plugin });
    }
    if (!run.spawnError) input.onExec?.({ verb: input.verb, plugin, phase: "exit", code: run.exitCode, durationMs: run.durationMs, timedOut: run.timedOut });
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
