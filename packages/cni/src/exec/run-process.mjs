// Plain JavaScript on purpose: the spawn helper (spawner-child.mjs) runs this file under a bare
// `node`, without a TypeScript loader, so that it stays small (see spawner.ts).
import { spawn } from "node:child_process";

/** After a timeout's SIGKILL, how long to wait for stdout to close (a process that left the group may hold it). */
const KILL_GRACE_MS = 2000;

function killGroup(pid) {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * Runs one executable with its own process group (detached), `spec.stdin` written to it (once
 * `spec.stdinAfter` settled, when given), stdout and stderr collected up to their limits. At
 * `spec.timeoutMs` the whole group is killed. Never rejects: a failure to start is returned as
 * `spawnError`.
 *
 * @param {import("./run-process.mjs").ProcessSpec} spec
 * @param {import("./run-process.mjs").ProcessHooks} [hooks]
 * @returns {Promise<import("./run-process.mjs").ProcessRun>}
 */
export function runProcess(spec, hooks = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const spawnFailed = (error) =>
      resolve({ stdout: "", stderr: "", exitCode: null, signal: null, timedOut: false, durationMs: performance.now() - started, spawnError: { code: error.code, message: error.message } });
    let child;
    try {
      child = spawn(spec.file, spec.args ?? [], { env: spec.env, detached: true, stdio: ["pipe", "pipe", "pipe"] });
    } catch (error) {
      // Some spawn failures (ETXTBSY among them) are thrown rather than emitted.
      spawnFailed(error);
      return;
    }
    const stdout = [];
    let stdoutBytes = 0;
    let stderr = "";
    let timedOut = false;
    let settled = false;
    let spawned = false;
    let grace;
    // stdinAfter: when the process started and when its stdin went; the wait between is not its run time.
    let spawnedAt;
    let heldMs = 0;
    let aborted = false;

    const finish = (run) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (grace) clearTimeout(grace);
      resolve({ ...run, durationMs: performance.now() - started - heldMs });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
      grace = setTimeout(() => finish({ stdout: "", stderr, exitCode: null, signal: "SIGKILL", timedOut }), KILL_GRACE_MS);
    }, spec.timeoutMs);

    child.once("spawn", () => {
      spawned = true;
      spawnedAt = performance.now();
      hooks.onSpawn?.();
    });
    child.once("error", (error) => {
      if (!spawned) {
        settled = true;
        clearTimeout(timer);
        spawnFailed(error);
      }
    });
    child.stdin.on("error", () => {
      // EPIPE: the process exited without reading its input; its exit status tells the rest.
    });
    child.stdout.on("data", (chunk) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes <= spec.maxStdoutBytes) stdout.push(chunk);
      else killGroup(child.pid);
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      if (stderr.length < spec.maxStderrBytes) stderr += chunk.slice(0, spec.maxStderrBytes - stderr.length);
      hooks.onStderr?.(chunk);
    });
    child.once("close", (exitCode, signal) => {
      if (!spawned) return;
      if (aborted) {
        finish({ stdout: "", stderr, exitCode, signal, timedOut, spawnError: { code: "EABORTED", message: `killed before it got its input: ${aborted}` } });
        return;
      }
      const out = stdoutBytes > spec.maxStdoutBytes ? "" : Buffer.concat(stdout).toString("utf8");
      finish({ stdout: out, stderr, exitCode, signal, timedOut, stdoutOverflow: stdoutBytes > spec.maxStdoutBytes });
    });
    if (!spec.stdinAfter) {
      child.stdin.end(spec.stdin ?? "");
      return;
    }
    spec.stdinAfter.then(
      () => {
        if (spawnedAt !== undefined) heldMs = performance.now() - spawnedAt;
        if (!settled) child.stdin.end(spec.stdin ?? "");
      },
      (error) => {
        if (settled) return;
        aborted = error instanceof Error ? error.message : String(error);
        killGroup(child.pid);
      },
    );
  });
}
