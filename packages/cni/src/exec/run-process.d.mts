/** What to run: an executable (absolute, or looked up in env.PATH), its arguments and exact environment. */
export interface ProcessSpec {
  file: string;
  args?: string[];
  env: Record<string, string>;
  stdin?: string;
  /**
   * Start the process at once but write its stdin only when this settles: resolved, the stdin
   * goes; rejected, the process group is killed before it got any and the run ends with
   * spawnError EABORTED. For a CNI plugin, which reads its whole config from stdin before it acts
   * (skel), this overlaps the fork with whatever must be durable before the plugin may act.
   */
  stdinAfter?: Promise<unknown>;
  timeoutMs: number;
  maxStdoutBytes: number;
  maxStderrBytes: number;
}

export interface ProcessHooks {
  /** The process was started (exec succeeded). */
  onSpawn?(): void;
  /** A chunk of its stderr, as it arrives. */
  onStderr?(chunk: string): void;
}

export interface ProcessRun {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: string | null;
  /** Killed (with its process group) at the timeout. */
  timedOut: boolean;
  /** stdout passed maxStdoutBytes: the group was killed and stdout is "". */
  stdoutOverflow?: boolean;
  /** From the call to the close, less the time a started process waited for `stdinAfter`. */
  durationMs: number;
  /** It could not be started (ENOENT, EACCES, ETXTBSY, …), the spawn helper died while it ran (EHELPER), or `stdinAfter` rejected (EABORTED: killed before it got its stdin). */
  spawnError?: { code?: string; message: string };
}

export function runProcess(spec: ProcessSpec, hooks?: ProcessHooks): Promise<ProcessRun>;
