/** What to run: an executable (absolute, or looked up in env.PATH), its arguments and exact environment. */
export interface ProcessSpec {
  file: string;
  args?: string[];
  env: Record<string, string>;
  stdin?: string;
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
  durationMs: number;
  /** It could not be started (ENOENT, EACCES, ETXTBSY, …), or the spawn helper died while it ran (EHELPER). */
  spawnError?: { code?: string; message: string };
}

export function runProcess(spec: ProcessSpec, hooks?: ProcessHooks): Promise<ProcessRun>;
