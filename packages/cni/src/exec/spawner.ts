import { type ChildProcess, fork, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type ProcessHooks, type ProcessRun, type ProcessSpec, runProcess } from "./run-process.mjs";

export type { ProcessHooks, ProcessRun, ProcessSpec };

/** Starts processes: the plugins, and whatever else a caller runs the same way. */
export interface Spawner {
  run(spec: ProcessSpec, hooks?: ProcessHooks): Promise<ProcessRun>;
  /** Stops a helper process, if there is one; calls in flight end with an EHELPER spawn error. */
  close(): void;
}

/** spawn() from this process: the default. */
export const inProcessSpawner: Spawner = { run: runProcess, close: () => {} };

/** How long a helper with no call in flight lives on (an idle agent holds no second node). */
export const HELPER_IDLE_MS = 10_000;

/** In the helper's command line (`node - spawner-child`): what `ps` and the benchmarks find it by. */
export const HELPER_MARK = "spawner-child";

/**
 * Set at build time (tooling/bundle.mjs) in a single-file bundle: spawner-child.mjs and
 * run-process.mjs bundled into one small CommonJS script, which the helper gets on its stdin, so
 * that it evaluates that and nothing of the program. Undefined when this module runs from source.
 */
declare const SWITCHYARD_BUNDLED_HELPER_SOURCE: string | undefined;

function startHelperProcess(): ChildProcess {
  // The helper is a bare node: none of this process's flags or NODE_OPTIONS (a loader, a profiler).
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  if (typeof SWITCHYARD_BUNDLED_HELPER_SOURCE !== "string") {
    return fork(fileURLToPath(new URL("./spawner-child.mjs", import.meta.url)), [HELPER_MARK], { execArgv: [], env, serialization: "json", stdio: ["ignore", "inherit", "inherit", "ipc"] });
  }
  const child = spawn(process.execPath, ["-", HELPER_MARK], { env, serialization: "json", stdio: ["pipe", "inherit", "inherit", "ipc"] });
  // A helper that dies before it read its code shows as its exit, which settles the calls.
  child.stdin!.on("error", () => {});
  child.stdin!.end(SWITCHYARD_BUNDLED_HELPER_SOURCE);
  return child;
}

type HelperEvent = { id: number } & ({ t: "spawn" } | { t: "stderr"; data: string } | { t: "done"; run: ProcessRun });

interface Pending {
  hooks: ProcessHooks;
  resolve: (run: ProcessRun) => void;
  started: number;
}

/** One helper process and the calls it carries. */
interface Helper {
  child: ChildProcess;
  pending: Map<number, Pending>;
  idle?: NodeJS.Timeout;
}

export interface HelperSpawnerOptions {
  /** A helper with no call in flight for this long is stopped; the next call starts another. Default HELPER_IDLE_MS. */
  idleMs?: number;
}

/**
 * spawn() from a small helper process. Node's spawn() forks the calling process and waits for the
 * child's exec, blocking the event loop meanwhile; the time grows with the caller's memory (on a
 * 2-core VM: ~5 ms for a bare node, ~20 ms for a 700 MB one). A long-running caller that starts
 * many plugins at once (the agent) hands that to a bare node child, which forks cheaply and on
 * another core. Same results and semantics as inProcessSpawner (process group, timeout, limits).
 *
 * The helper is started at the first call, stopped once it has had no call in flight for
 * `idleMs` (it is a whole node, ~40 MB, that an idle caller need not keep), and started again at
 * the next call; it also exits when this process does. If it dies during a call, the call ends
 * with spawnError { code: "EHELPER" }: the process it started may still be running, its outcome
 * is unknown.
 */
export function createHelperSpawner(options: HelperSpawnerOptions = {}): Spawner {
  const idleMs = options.idleMs ?? HELPER_IDLE_MS;
  let current: Helper | undefined;
  let nextId = 1;

  const setRef = ({ child, pending }: Helper) => {
    // Calls in flight keep this process alive; an idle helper does not.
    const channel = child.channel as { ref(): void; unref(): void } | undefined;
    if (pending.size > 0) {
      child.ref();
      channel?.ref();
    } else {
      child.unref();
      channel?.unref();
    }
  };

  /** The last call ended: the helper goes after idleMs unless another comes. Only the parent decides, so no call can meet a helper on its way out. */
  const scheduleRetire = (helper: Helper) => {
    clearTimeout(helper.idle);
    if (helper.pending.size > 0) return;
    helper.idle = setTimeout(() => {
      if (helper.pending.size > 0) return;
      if (current === helper) current = undefined;
      // The helper exits on its own once the channel is gone (spawner-child.mjs).
      if (helper.child.connected) helper.child.disconnect();
    }, idleMs);
    helper.idle.unref();
  };

  function start(): Helper {
    const helper: Helper = { child: startHelperProcess(), pending: new Map() };
    const { child, pending } = helper;
    child.on("message", (event: HelperEvent) => {
      const call = pending.get(event.id);
      if (!call) return;
      if (event.t === "spawn") call.hooks.onSpawn?.();
      else if (event.t === "stderr") call.hooks.onStderr?.(event.data);
      else {
        pending.delete(event.id);
        setRef(helper);
        scheduleRetire(helper);
        call.resolve(event.run);
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(helper.idle);
      if (current === helper) current = undefined;
      const calls = [...pending.values()];
      pending.clear();
      for (const call of calls) {
        call.resolve({
          stdout: "",
          stderr: "",
          exitCode: null,
          signal: null,
          timedOut: false,
          durationMs: performance.now() - call.started,
          spawnError: { code: "EHELPER", message: `the spawn helper exited (${signal ?? `status ${code}`}) while the process ran; its outcome is unknown` },
        });
      }
    });
    child.on("error", () => {
      // A failed send or kill; "exit" settles the calls.
    });
    return helper;
  }

  return {
    run(spec, hooks = {}) {
      const helper = (current ??= start());
      const { child, pending } = helper;
      clearTimeout(helper.idle);
      const id = nextId++;
      return new Promise<ProcessRun>((resolve) => {
        pending.set(id, { hooks, resolve, started: performance.now() });
        setRef(helper);
        const { stdinAfter, ...plain } = spec;
        child.send({ id, spec: plain, hold: stdinAfter !== undefined });
        // The helper holds the process's stdin until told (a promise does not cross the channel).
        stdinAfter?.then(
          () => void (child.connected && child.send({ id, t: "release" })),
          (error: unknown) => void (child.connected && child.send({ id, t: "abort", reason: error instanceof Error ? error.message : String(error) })),
        );
      });
    },
    close() {
      if (!current) return;
      clearTimeout(current.idle);
      current.child.kill("SIGKILL");
      current = undefined;
    },
  };
}
