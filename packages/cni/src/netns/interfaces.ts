import { type Spawner, inProcessSpawner } from "../exec/spawner";

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface InterfaceProbeOptions {
  spawner?: Spawner;
  /** PATH to find nsenter and cat in. */
  path?: string;
  timeoutMs?: number;
}

/** Interface names in a /proc/net/dev listing. */
export function parseNetDev(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split("\n").slice(2)) {
    const name = /^\s*([^:\s]+):/.exec(line)?.[1];
    if (name) names.push(name);
  }
  return names;
}

/**
 * Whether `ifName` exists in the namespace at `netns`: /proc/self/net/dev read by a `cat` that
 * nsenter(1) started in it (util-linux, on every Linux host), so no netlink code is needed here.
 * undefined when it cannot tell (no nsenter, the namespace went away, a timeout). One process, a
 * few milliseconds: the runtime asks only after an ADD failed.
 */
export async function hasInterface(netns: string, ifName: string, options: InterfaceProbeOptions = {}): Promise<boolean | undefined> {
  const spawner = options.spawner ?? inProcessSpawner;
  const run = await spawner.run({
    file: "nsenter",
    args: [`--net=${netns}`, "--", "cat", "/proc/self/net/dev"],
    env: { PATH: options.path || DEFAULT_PATH },
    timeoutMs: options.timeoutMs ?? 10_000,
    maxStdoutBytes: 1024 * 1024,
    maxStderrBytes: 16 * 1024,
  });
  if (run.spawnError || run.exitCode !== 0) return undefined;
  return parseNetDev(run.stdout).includes(ifName);
}
