import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { Spawner } from "@switchyard/cni";
import { z } from "zod";

/** A container as its runtime describes it: what the console shows beside the CNI attachment. */
export interface RuntimeContainer {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  /** running, exited, created, … (the runtime's word). */
  state: string;
}

/** A container runtime the agent asks about the containers whose attachments it sees in libcni's cache. */
export interface ContainerSource {
  runtime: "podman";
  /** Every container the runtime knows, by id; throws when the runtime does not answer. */
  list(): Promise<Map<string, RuntimeContainer>>;
}

/** `podman ps --all --format json`, the fields read (podman 4.x); everything else is ignored. */
const PodmanPs = z.array(
  z.object({
    Id: z.string(),
    Names: z.array(z.string()).nullish(),
    Image: z.string().nullish(),
    Labels: z.record(z.string(), z.string()).nullish(),
    State: z.string().nullish(),
  }),
);

/** Variables podman needs to find its configuration and state; nothing else of the agent's environment. */
const PODMAN_ENV = ["PATH", "HOME", "XDG_RUNTIME_DIR", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF"];

/** The podman binary on PATH, if there is one (a host without podman has no podman source). */
export function findPodman(path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const file = join(dir, "podman");
    if (existsSync(file)) return file;
  }
  return undefined;
}

export function createPodmanSource(options: { bin: string; spawner: Spawner; timeoutMs?: number; env?: NodeJS.ProcessEnv }): ContainerSource {
  const from = options.env ?? process.env;
  const env = Object.fromEntries(PODMAN_ENV.filter((k) => from[k] !== undefined).map((k) => [k, from[k]!]));
  return {
    runtime: "podman",
    async list() {
      const run = await options.spawner.run({ file: options.bin, args: ["ps", "--all", "--format", "json"], env, timeoutMs: options.timeoutMs ?? 10_000, maxStdoutBytes: 32 * 1024 * 1024, maxStderrBytes: 64 * 1024 });
      if (run.spawnError) throw new Error(`podman could not be run: ${run.spawnError.message}`);
      if (run.timedOut) throw new Error(`podman did not answer within ${options.timeoutMs ?? 10_000} ms`);
      if (run.stdoutOverflow) throw new Error("podman's container list is over 32 MiB");
      if (run.exitCode !== 0) throw new Error(`podman ps exited ${run.exitCode ?? run.signal}: ${run.stderr.trim().slice(0, 500)}`);
      const parsed = PodmanPs.safeParse(JSON.parse(run.stdout || "[]"));
      if (!parsed.success) throw new Error(`podman ps answered what this agent does not read: ${parsed.error.issues[0]?.message}`);
      return new Map(
        parsed.data.map((c) => [c.Id, { id: c.Id, name: c.Names?.[0] ?? "", image: c.Image ?? "", labels: c.Labels ?? {}, state: c.State ?? "" }]),
      );
    },
  };
}
