import { TRPCClientError } from "@trpc/client";
import type { Clock } from "./clock";
import { ConsoleHttpError, ConsoleTimeoutError } from "./client";
import { CredentialRefused } from "./console";
import type { Logger } from "./log";

/**
 * When the agent calls the console again after a failure (issue 15 §1): a failure that may pass
 * (no answer, a timeout, 5xx, 429) is retried with full-jitter exponential back-off, base 1 s and
 * capped at 60 s (AWS's "Exponential Backoff And Jitter": each wait is uniform in [0, min(cap,
 * base·2^attempt)], so a fleet that failed together comes back spread out), never sooner than the
 * console's `Retry-After`. A refusal (the credential or join token refused) is not retried: the
 * agent stops and exits 3. Any other answer (a 4xx other than 429) means the request itself is
 * wrong; sending it again cannot help, so it is not retried either.
 */

export const RETRY_BASE_MS = 1000;
export const RETRY_CAP_MS = 60_000;

export type FailureKind = "transient" | "refused" | "rejected";

export interface Failure {
  kind: FailureKind;
  /** The HTTP status, when an answer came. */
  status: number | null;
  /** The console's Retry-After, in ms, when it gave one. */
  retryAfterMs: number | null;
}

/** An answer's status and headers, as the console link keeps them (client.ts; a fetch Response reads the same). */
interface Answer {
  status: number;
  headers: { get(name: string): string | null };
}

function responseOf(error: unknown): Answer | null {
  if (!(error instanceof TRPCClientError)) return null;
  // Duck-typed: `instanceof Response` would load undici (fetch's code) into an agent that never uses it.
  const response = (error.meta as { response?: Partial<Answer> } | undefined)?.response;
  return typeof response?.status === "number" && typeof response.headers?.get === "function" ? (response as Answer) : null;
}

/** `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null || value.trim() === "") return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export function classifyFailure(error: unknown, now = Date.now()): Failure {
  if (error instanceof CredentialRefused) return { kind: "refused", status: 401, retryAfterMs: null };
  if (error instanceof ConsoleTimeoutError) return { kind: "transient", status: null, retryAfterMs: null };
  if (!(error instanceof TRPCClientError)) return { kind: "transient", status: null, retryAfterMs: null };
  const foreign = error.cause instanceof ConsoleHttpError ? error.cause : null;
  const response = responseOf(error);
  const status = foreign?.status ?? response?.status ?? (error.data as { httpStatus?: number } | undefined)?.httpStatus ?? null;
  const retryAfterMs = parseRetryAfter(foreign?.retryAfter ?? response?.headers.get("retry-after") ?? null, now);
  // No answer at all (connection refused or reset, DNS, TLS): the console may be restarting.
  if (status === null) return { kind: "transient", status, retryAfterMs };
  if (status === 429 || status >= 500) return { kind: "transient", status, retryAfterMs };
  if (status === 401) return { kind: "refused", status, retryAfterMs: null };
  return { kind: "rejected", status, retryAfterMs: null };
}

/** The wait before retry number `attempt` (0-based): uniform in [0, min(cap, base·2^attempt)). */
export function backoffMs(attempt: number, random: () => number = Math.random, base = RETRY_BASE_MS, cap = RETRY_CAP_MS): number {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** The wait before the next try: the back-off, but never before the console's Retry-After (itself capped). */
export function retryDelayMs(failure: Failure, attempt: number, random: () => number = Math.random): number {
  const jittered = backoffMs(attempt, random);
  return failure.retryAfterMs === null ? jittered : Math.max(jittered, Math.min(failure.retryAfterMs, RETRY_CAP_MS));
}

export interface RetryOptions {
  /** What is being called, for the log. */
  name: string;
  log: Logger;
  /** `now()` only to read a Retry-After date (a wall-clock time). */
  clock: Pick<Clock, "now" | "sleep">;
  signal?: AbortSignal;
  random?: () => number;
}

/**
 * Calls `fn` until it succeeds, fails in a way a retry cannot help (that error is thrown), or
 * `signal` aborts (the last error is thrown). Each retry is logged with its wait; the first
 * success after failures is logged too.
 */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await fn();
      if (attempt > 0) options.log.info(`${options.name} succeeded after retrying`, { attempts: attempt + 1 });
      return result;
    } catch (error) {
      const failure = classifyFailure(error, options.clock.now());
      if (failure.kind !== "transient" || options.signal?.aborted) throw error;
      const waitMs = retryDelayMs(failure, attempt, options.random);
      options.log.warn(`${options.name} failed; retrying`, { attempt: attempt + 1, status: failure.status, retryInMs: waitMs, error: (error as Error).message });
      await options.clock.sleep(waitMs, options.signal);
      if (options.signal?.aborted) throw error;
    }
  }
}
