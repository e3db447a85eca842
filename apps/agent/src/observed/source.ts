import type { ProcessRun } from "@switchyard/cni";

/** A container as its runtime describes it: what the console shows beside the CNI attachment. */
export interface RuntimeContainer {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  /** running, exited, stopped, created, … (the runtime's word, lower case). */
  state: string;
}

/** The runtimes the agent asks (the console's enum: packages/api/src/domain/observedAttachments.ts). */
export type RuntimeName = "podman" | "containerd";

/**
 * A container runtime the agent asks about the containers whose attachments it sees in libcni's
 * cache, and whose events it follows (observer.ts).
 */
export interface ContainerSource {
  runtime: RuntimeName;
  /** Whether the runtime is on this host (containerd: its socket exists, or did). An absent one is not reported, nor an error. */
  present(): boolean;
  /** What the runtime says of these cache container ids, for those it knows; throws when it does not answer. */
  describe(ids: readonly string[]): Promise<Map<string, RuntimeContainer>>;
  /** Its event stream, a long-running command printing a line per event: any line means "look again". */
  events?: { file: string; args: string[]; env: Record<string, string> };
  /** One line of that stream: what it makes stale (a container's cached description) is forgotten. */
  onEvent?(line: string): void;
}

/** A runtime's CLI call that did not answer, as one sentence for the console. */
export function runFailure(what: string, run: ProcessRun, timeoutMs: number): Error | null {
  if (run.spawnError) return new Error(`${what} could not be run: ${run.spawnError.message}`);
  if (run.timedOut) return new Error(`${what} did not answer within ${timeoutMs} ms`);
  if (run.stdoutOverflow) return new Error(`${what} printed more than this agent reads`);
  if (run.exitCode !== 0) return new Error(`${what} exited ${run.exitCode ?? run.signal}: ${run.stderr.trim().slice(0, 500)}`);
  return null;
}

/** Only these variables of the agent's environment reach a runtime's CLI. */
export function pickEnv(names: readonly string[], from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(names.filter((k) => from[k] !== undefined).map((k) => [k, from[k]!]));
}
