import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { Spawner } from "@switchyard/cni";
import { z } from "zod";
import { type ContainerSource, pickEnv, runFailure } from "./source";

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

/** A binary on PATH, if there is one (a host without podman has no podman source). */
export function findOnPath(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const file = join(dir, name);
    if (existsSync(file)) return file;
  }
  return undefined;
}

/**
 * podman (no daemon): its container list names each container the cache holds (podman passes
 * its full container id to CNI), and `podman events` follows starts, stops and removals.
 */
export function createPodmanSource(options: { bin: string; spawner: Spawner; timeoutMs?: number; env?: NodeJS.ProcessEnv }): ContainerSource {
  const env = pickEnv(PODMAN_ENV, options.env);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    runtime: "podman",
    present: () => true,
    async describe(ids) {
      const run = await options.spawner.run({ file: options.bin, args: ["ps", "--all", "--format", "json"], env, timeoutMs, maxStdoutBytes: 32 * 1024 * 1024, maxStderrBytes: 64 * 1024 });
      const failure = runFailure("podman ps", run, timeoutMs);
      if (failure) throw failure;
      const parsed = PodmanPs.safeParse(JSON.parse(run.stdout || "[]"));
      if (!parsed.success) throw new Error(`podman ps answered what this agent does not read: ${parsed.error.issues[0]?.message}`);
      const wanted = new Set(ids);
      return new Map(
        parsed.data.filter((c) => wanted.has(c.Id)).map((c) => [c.Id, { id: c.Id, name: c.Names?.[0] ?? "", image: c.Image ?? "", labels: c.Labels ?? {}, state: (c.State ?? "").toLowerCase() }]),
      );
    },
    events: { file: options.bin, args: ["events", "--format", "json", "--filter", "type=container"], env },
  };
}
