import { existsSync } from "node:fs";
import type { Spawner } from "@switchyard/cni";
import { z } from "zod";
import { type ContainerSource, pickEnv, type RuntimeContainer, runFailure } from "./source";

/** containerd did not answer at all (hung, or ctr could not run): the whole pass fails, not one container. */
class NotAnswering extends Error {}

/** containerd's socket where its packages put it. */
export const CONTAINERD_ADDRESS = "/run/containerd/containerd.sock";

/** `ctr containers info`, the fields read; the spec and the rest are ignored. */
const ContainerInfo = z.object({ ID: z.string(), Image: z.string().nullish(), Labels: z.record(z.string(), z.string()).nullish() });

/** Labels containerd and its clients set for themselves: not the operator's, so not offered to selectors. */
const INTERNAL_LABEL = /^(io\.containerd\.|nerdctl\/(?!name$))/;

/** At most this many descriptions are asked for per pass (one `ctr` each); the rest wait for the next pass. */
export const CONTAINERD_INFO_PER_PASS = 2000;

/**
 * A containerd line of `ctr events`: `<date> <time> <zone> <zone name> <namespace> <topic> <json>`.
 * Null for anything else.
 */
export function parseContainerdEvent(line: string): { namespace: string; topic: string; id: string | null } | null {
  const m = /^\S+ \S+ \S+ \S+ (\S+) (\/\S+)(?: (\{.*\}))?$/.exec(line.trim());
  if (!m) return null;
  let id: string | null = null;
  try {
    const body = JSON.parse(m[3] ?? "{}") as { id?: unknown; container_id?: unknown };
    id = typeof body.container_id === "string" ? body.container_id : typeof body.id === "string" ? body.id : null;
  } catch {
    id = null;
  }
  return { namespace: m[1]!, topic: m[2]!, id };
}

/** `ctr tasks ls`: `TASK PID STATUS` rows, the header first. */
export function parseTaskList(text: string): Map<string, string> {
  const tasks = new Map<string, string>();
  for (const line of text.split("\n").slice(1)) {
    const [id, , status] = line.trim().split(/\s+/);
    if (id && status) tasks.set(id, status.toLowerCase());
  }
  return tasks;
}

/**
 * containerd, through its `ctr` CLI on its socket. Which container a cache entry belongs to:
 * `ctr run --cni` names it `<namespace>-<id>` to CNI, nerdctl and CRI pass the id itself; both are
 * matched against each namespace's containers. A container's image and labels do not change
 * without an event (`/containers/update`), so each is asked once and kept until then; its state
 * is the task's (`ctr tasks ls`, one call per namespace), `stopped` without a task.
 */
export function createContainerdSource(options: { bin: string; address?: string; spawner: Spawner; timeoutMs?: number; env?: NodeJS.ProcessEnv }): ContainerSource {
  const address = options.address ?? CONTAINERD_ADDRESS;
  const env = pickEnv(["PATH"], options.env);
  const timeoutMs = options.timeoutMs ?? 10_000;
  let seenSocket = false;
  /** Descriptions by `<namespace>/<id>`, without the state. */
  const described = new Map<string, Omit<RuntimeContainer, "state">>();

  async function ctr(args: string[], maxStdoutBytes = 8 * 1024 * 1024): Promise<string> {
    const argv = ["--address", address, ...args];
    const run = await options.spawner.run({ file: options.bin, args: argv, env, timeoutMs, maxStdoutBytes, maxStderrBytes: 64 * 1024 });
    const failure = runFailure(`containerd (ctr ${args.filter((a) => !a.startsWith("--")).slice(0, 3).join(" ")})`, run, timeoutMs);
    if (failure) throw run.timedOut || run.spawnError ? new NotAnswering(failure.message) : failure;
    return run.stdout;
  }
  const lines = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean);

  async function info(namespace: string, id: string): Promise<Omit<RuntimeContainer, "state">> {
    const parsed = ContainerInfo.safeParse(JSON.parse(await ctr(["--namespace", namespace, "containers", "info", id], 4 * 1024 * 1024)));
    if (!parsed.success) throw new Error(`containerd described container ${id} in a form this agent does not read: ${parsed.error.issues[0]?.message}`);
    const all = parsed.data.Labels ?? {};
    const labels = Object.fromEntries(Object.entries(all).filter(([k]) => !INTERNAL_LABEL.test(k)));
    return { id, name: all["nerdctl/name"] ?? id, image: parsed.data.Image ?? "", labels };
  }

  return {
    runtime: "containerd",
    // Once seen, a socket that goes is a containerd restarting or down (reported as not answering), not one absent.
    present: () => (seenSocket ||= existsSync(address)),
    async describe(ids) {
      const found = new Map<string, RuntimeContainer>();
      if (ids.length === 0) return found;
      const matched: { cacheId: string; namespace: string; id: string; state: string }[] = [];
      const claimed = new Set<string>();
      for (const namespace of lines(await ctr(["namespaces", "list", "--quiet"]))) {
        const containers = new Set(lines(await ctr(["--namespace", namespace, "containers", "list", "--quiet"])));
        if (containers.size === 0) continue;
        const tasks = parseTaskList(await ctr(["--namespace", namespace, "tasks", "list"]));
        for (const cacheId of ids) {
          const id = containers.has(cacheId) ? cacheId : cacheId.startsWith(`${namespace}-`) && containers.has(cacheId.slice(namespace.length + 1)) ? cacheId.slice(namespace.length + 1) : null;
          if (id === null || claimed.has(cacheId)) continue;
          claimed.add(cacheId);
          matched.push({ cacheId, namespace, id, state: tasks.get(id) ?? "stopped" });
        }
      }
      const live = new Set(matched.map((m) => `${m.namespace}/${m.id}`));
      for (const key of described.keys()) if (!live.has(key)) described.delete(key);
      // New containers are described a few at a time, at most CONTAINERD_INFO_PER_PASS per pass.
      const unknown = matched.filter((m) => !described.has(`${m.namespace}/${m.id}`)).slice(0, CONTAINERD_INFO_PER_PASS);
      let next = 0;
      const worker = async () => {
        while (next < unknown.length) {
          const m = unknown[next++]!;
          try {
            described.set(`${m.namespace}/${m.id}`, await info(m.namespace, m.id));
          } catch (error) {
            // Removed since the listing: left for the next pass. A containerd that stopped answering fails the pass.
            if (error instanceof NotAnswering) throw error;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(4, unknown.length) }, worker));
      for (const m of matched) {
        const d = described.get(`${m.namespace}/${m.id}`);
        if (d) found.set(m.cacheId, { ...d, state: m.state });
      }
      return found;
    },
    events: { file: options.bin, args: ["--address", address, "events"], env },
    onEvent(line) {
      const e = parseContainerdEvent(line);
      if (e?.id && (e.topic === "/containers/update" || e.topic === "/containers/delete")) described.delete(`${e.namespace}/${e.id}`);
    },
  };
}
