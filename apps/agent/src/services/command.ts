import { spawn } from "node:child_process";
import { z } from "zod";

/** What a host tool answered: its exit, its output (bounded), and whether it was there at all. */
export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The executable was not found (ENOENT): a missing tool is reported, not thrown. */
  isMissing: boolean;
  timedOut: boolean;
}

export interface CommandOptions {
  /** Written to stdin (a batch file for `ip -batch -`). */
  input?: string;
  timeoutMs?: number;
  /** Output beyond this is dropped: a runaway listing cannot exhaust the agent's memory. */
  maxOutputBytes?: number;
}

/**
 * Runs a host tool from an argv array (never a shell string, HARDENING 6), bounded in time
 * and output. Never throws for a non-zero exit: callers decide what an exit means.
 */
export function runCommand(file: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  const { input, timeoutMs = 15_000, maxOutputBytes = 64 * 1024 * 1024 } = options;
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" } });
    const out = collect(maxOutputBytes);
    const err = collect(64 * 1024);
    let timedOut = false;
    child.stdout.on("data", out.push);
    child.stderr.on("data", err.push);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout: "", stderr: e.message, isMissing: e.code === "ENOENT", timedOut: false });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: out.text(), stderr: err.text(), isMissing: false, timedOut });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(input ?? "");
  });
}

function collect(limit: number) {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    push: (b: Buffer) => {
      if (size >= limit) return;
      chunks.push(b.subarray(0, limit - size));
      size += b.length;
    },
    text: () => Buffer.concat(chunks).toString(),
  };
}

/** How a command's failure reads in an error: the argv and what the tool said. */
export function describeFailure(file: string, args: readonly string[], r: CommandResult): string {
  const how = r.isMissing ? "is not installed" : r.timedOut ? "timed out" : `exited ${r.code ?? r.signal}`;
  return `${file} ${args.join(" ")} ${how}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ""}`;
}

/**
 * A network namespace by name (under /run/netns), as `ip -n` and `ip netns exec` take it: the
 * agent's own tests and callers pass their own namespaces; the host is `undefined`.
 */
export const NetnsRef = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/, "must be a namespace name under /run/netns: 1-64 letters, digits, '_', '.', '-', not starting with '-' or '.'");

/** `ip -n NS` for a namespace, nothing for the host. */
export function ipNetnsArgs(netns: string | undefined): string[] {
  return netns === undefined ? [] : ["-n", NetnsRef.parse(netns)];
}

/** `[file, args]` to run `file args` inside a namespace (`ip netns exec`), or on the host. */
export function inNetns(netns: string | undefined, file: string, args: readonly string[]): [string, string[]] {
  if (netns === undefined) return [file, [...args]];
  return ["ip", ["netns", "exec", NetnsRef.parse(netns), file, ...args]];
}
