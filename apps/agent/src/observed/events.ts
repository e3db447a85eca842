import { spawn } from "node:child_process";
import type { Clock } from "../clock";
import type { Logger } from "../log";
import type { ContainerSource } from "./source";

/** A line longer than this is dropped, not buffered (an event is a few KiB). */
const LINE_MAX = 1024 * 1024;
/** A stream that lived this long was following: its next restart starts from the shortest pause again. */
const HEALTHY_MS = 30_000;

/**
 * The stream runs under this `sh`, which ends it when its stdin closes: when the agent stops it,
 * and when the agent dies, even by SIGKILL (a runtime's event stream never ends by itself, and an
 * orphaned one would live on beside the next agent).
 */
export const STREAM_GUARD = [
  "exec 3<&0",
  '"$@" </dev/null & c=$!',
  "trap 'kill \"$c\" 2>/dev/null' TERM",
  '{ read -r _ <&3; kill "$c" 2>/dev/null; } & r=$!',
  'wait "$c"; s=$?',
  'kill "$r" 2>/dev/null',
  'exit "$s"',
].join("\n");

export interface FollowDeps {
  signal: AbortSignal;
  /** A line came, or the stream ended: something may have changed. */
  changed(): void;
  /** The stream (re)started: what happened before it is looked at once. */
  followed(): void;
  /** Whether to follow now (the runtime has containers here); looked at every `checkMs`. Always, when absent. */
  wanted?(): boolean;
  log: Logger;
  clock: Pick<Clock, "sleep">;
  minPauseMs?: number;
  maxPauseMs?: number;
  checkMs?: number;
}

/**
 * Follows a runtime's event stream (`podman events`, `ctr events`) while `wanted` and until `signal`
 * aborts: each line goes to the source (what it makes stale) and then `changed`. A stream that ends
 * — the runtime restarted, its socket went — is started again after a pause that doubles up to
 * `maxPauseMs`, and `followed` runs on each start so that what happened meanwhile is looked at once.
 * The outage is logged once, its end once. A runtime not present, or not wanted, is looked at again
 * every `checkMs`.
 */
export async function followEvents(source: ContainerSource, deps: FollowDeps): Promise<void> {
  const events = source.events;
  if (!events) return;
  const minPause = deps.minPauseMs ?? 1000;
  const checkMs = deps.checkMs ?? 5000;
  const wanted = () => source.present() && (deps.wanted?.() ?? true);
  let pause = minPause;
  let down = false;
  while (!deps.signal.aborted) {
    if (!wanted()) {
      await deps.clock.sleep(checkMs, deps.signal).catch(() => undefined);
      continue;
    }
    const started = Date.now();
    let heard = false;
    deps.followed();
    const end = await stream(events, { signal: deps.signal, wanted, checkMs }, (line) => {
      if (!heard && down) deps.log.info(`${source.runtime} events followed again`);
      heard = true;
      down = false;
      source.onEvent?.(line);
      deps.changed();
    });
    if (deps.signal.aborted) return;
    if (end === "unwanted") {
      pause = minPause;
      continue;
    }
    if (Date.now() - started >= HEALTHY_MS) pause = minPause;
    if (!down) deps.log.warn(`${source.runtime} event stream ended; following it again`, { end, pauseMs: pause });
    down = true;
    deps.changed();
    await deps.clock.sleep(pause, deps.signal).catch(() => undefined);
    pause = Math.min(pause * 2, deps.maxPauseMs ?? 30_000);
  }
}

/** Runs the command under STREAM_GUARD until it exits, `signal` aborts or it is no longer wanted. */
function stream(command: NonNullable<ContainerSource["events"]>, o: { signal: AbortSignal; wanted(): boolean; checkMs: number }, onLine: (line: string) => void): Promise<string> {
  return new Promise((resolve) => {
    if (o.signal.aborted) return resolve("stopped");
    const child = spawn("/bin/sh", ["-c", STREAM_GUARD, "sh", command.file, ...command.args], { env: command.env, stdio: ["pipe", "pipe", "pipe"] });
    let buffered = "";
    let dropping = false;
    let stderr = "";
    let why: "stopped" | "unwanted" | null = null;
    // Closing its stdin ends the stream; SIGKILL if it has not in 5 s.
    const end = (reason: "stopped" | "unwanted") => {
      why ??= reason;
      child.stdin.end();
      setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"), 5000).unref();
    };
    const abort = () => end("stopped");
    o.signal.addEventListener("abort", abort, { once: true });
    const check = setInterval(() => !o.wanted() && end("unwanted"), o.checkMs);
    child.stdin.on("error", () => undefined);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!dropping && line.trim()) onLine(line);
        dropping = false;
      }
      if (buffered.length > LINE_MAX) ((buffered = ""), (dropping = true));
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (stderr.length < 2048 && (stderr += chunk)));
    const done = (how: string) => {
      o.signal.removeEventListener("abort", abort);
      clearInterval(check);
      resolve(why ?? how);
    };
    child.on("error", (e) => done(`could not be run: ${e.message}`));
    child.on("close", (code, sig) => done(`exited ${code ?? sig}${stderr.trim() ? `: ${stderr.trim().slice(0, 300)}` : ""}`));
  });
}
