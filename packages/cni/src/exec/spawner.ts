import { type ChildProcess, fork } from "node:child_process";
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

/**
 * Set at build time (tooling/bundle.mjs) in a single-file bundle: the bundle carries the helper and
 * becomes it when run with this argument. Undefined when this module runs from source.
 */
declare const SWITCHYARD_BUNDLED_HELPER_ARG: string | undefined;

/** The helper's code: spawner-child.mjs beside this module, or the bundle this module was built into. */
function locateHelper(): { script: string; args: string[] } {
  if (typeof SWITCHYARD_BUNDLED_HELPER_ARG === "string") return { script: fileURLToPath(import.meta.url), args: [SWITCHYARD_BUNDLED_HELPER_ARG] };
  return { script: fileURLToPath(new URL("./spawner-child.mjs", import.meta.url)), args: [] };
}

type HelperEvent = { id: number } & ({ t: "spawn" } | { t: "stderr"; data: string } | { t: "done"; run: ProcessRun });

interface Pending {
  hooks: ProcessHooks;
  resolve: (run: ProcessRun) => void;
  started: number;
}

/**
 * spawn() from a small helper process. Node's spawn() forks the calling process and waits for the
 * child's exec, blocking the event loop meanwhile; the time grows with the caller's memory (on a
 * 2-core VM: ~5 ms for a bare node, ~20 ms for a 700 MB one). A long-running caller that starts
 * many plugins at once (the agent) hands that to a bare node child, which forks cheaply and on
 * another core. Same results and semantics as inProcessSpawner (process group, timeout, limits).
 *
 * The helper is started at the first call and again after it dies; it exits when this process
 * does. If it dies during a call, the call ends with spawnError { code: "EHELPER" }: the process
 * it started may still be running, its outcome is unknown.
 */
export function createHelperSpawner(): Spawner {
  const helperEntry = locateHelper();
  let helper: ChildProcess | undefined;
  let nextId = 1;
  const pending = new Map<number, Pending>();

  const setRef = (child: ChildProcess) => {
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

  function start(): ChildProcess {
    const { NODE_OPTIONS: _ignored, ...env } = process.env;
    const child = fork(helperEntry.script, helperEntry.args, { execArgv: [], env, serialization: "json", stdio: ["ignore", "inherit", "inherit", "ipc"] });
    child.on("message", (event: HelperEvent) => {
      const call = pending.get(event.id);
      if (!call) return;
      if (event.t === "spawn") call.hooks.onSpawn?.();
      else if (event.t === "stderr") call.hooks.onStderr?.(event.data);
      else {
        pending.delete(event.id);
        setRef(child);
        call.resolve(event.run);
      }
    });
    child.once("exit", (code, signal) => {
      if (helper === child) helper = undefined;
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
    return child;
  }

  return {
    run(spec, hooks = {}) {
      helper ??= start();
      const child = helper;
      const id = nextId++;
      return new Promise<ProcessRun>((resolve) => {
        pending.set(id, { hooks, resolve, started: performance.now() });
        setRef(child);
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
      helper?.kill("SIGKILL");
      helper = undefined;
    },
  };
}
