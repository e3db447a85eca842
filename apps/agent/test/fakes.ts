/** Small fakes for the agent's unit tests; the real console and plugins are in agent.int.test.ts. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../src/clock";
import type { Logger } from "../src/log";
import { sleep } from "../src/sleep";

export interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps its lines for assertions. */
export function recordingLogger(): Logger & { lines: LogLine[]; messages(level?: string): string[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => void lines.push({ level, msg, fields });
  return {
    lines,
    messages: (level) => lines.filter((l) => !level || l.level === level).map((l) => l.msg),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
  };
}

/** A real temporary directory, removed by `remove()`. */
export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), "sy-agent-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A promise the test settles by hand. */
export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Lets every queued promise callback run (a few turns of the microtask queue and one of the event loop). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Fake timers, Date and performance.now() for the clock; setImmediate stays real so that `settle()` still works. */
export function useFakeTime(vi: { useFakeTimers(config?: { toFake?: ("setTimeout" | "clearTimeout" | "setInterval" | "clearInterval" | "Date" | "performance")[]; now?: number }): unknown }, now = Date.UTC(2026, 11, 5)) {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date", "performance"], now });
}

/**
 * The system clock (under `useFakeTime`) with a wall clock someone steps: NTP, or an operator
 * setting the time. `step(ms)` moves `now()` at once; the monotonic time and the timers run on evenly.
 */
export function steppingClock(): { clock: Clock; step(ms: number): void } {
  let offsetMs = 0;
  return {
    clock: { now: () => Date.now() + offsetMs, monotonic: () => performance.now(), sleep },
    step: (ms) => void (offsetMs += ms),
  };
}

/** An error as the tRPC client throws it for a console answer with this code (UNAUTHORIZED, …). */
const HTTP_STATUS: Record<string, number> = { BAD_REQUEST: 400, UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409, TOO_MANY_REQUESTS: 429, INTERNAL_SERVER_ERROR: 500, SERVICE_UNAVAILABLE: 503 };

/** A tRPC client error as the console's answer `code` gives it (its HTTP response, with `headers`, in meta). */
export async function trpcError(code: string, message = code, headers: Record<string, string> = {}) {
  const { TRPCClientError } = await import("@trpc/client");
  const httpStatus = HTTP_STATUS[code] ?? 500;
  return new TRPCClientError(message, { result: { error: { code: -32001, message, data: { code, httpStatus } } }, meta: { response: new Response(null, { status: httpStatus, headers }) } } as never);
}
