import type { AgentRouter } from "@switchyard/api";
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, TRPCClientError, type TRPCClient, type TRPCLink } from "@trpc/client";
import { observable } from "@trpc/server/observable";
import { EventSource } from "eventsource";
import superjson from "superjson";

export type AgentClient = TRPCClient<AgentRouter>["agent"];

/** How long one call to the console may take before the agent gives up on it (the default). */
export const CONSOLE_CALL_TIMEOUT_MS = 30_000;

/** A call to the console got no answer in time: the agent stopped waiting (and retries as for any failed call). */
export class ConsoleTimeoutError extends Error {
  constructor(
    readonly call: string,
    readonly timeoutMs: number,
  ) {
    super(`console call ${call} timed out after ${timeoutMs} ms without an answer`);
    this.name = "ConsoleTimeoutError";
  }
}

/**
 * An answer that is not the console's own (a load balancer's 502 page, a relay's 429 in plain
 * text): tRPC cannot read it, so its status and Retry-After are kept here for the retry rules.
 */
export class ConsoleHttpError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfter: string | null,
    body: string,
  ) {
    super(`the console answered HTTP ${status}${body ? `: ${body}` : ""}`);
    this.name = "ConsoleHttpError";
  }
}

/** fetch for the tRPC link: a failed answer that is not JSON becomes a ConsoleHttpError. */
async function consoleFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const response = await fetch(input, init);
  if (response.ok || (response.headers.get("content-type") ?? "").includes("application/json")) return response;
  const body = (await response.text().catch(() => "")).replace(/\s+/g, " ").trim().slice(0, 200);
  throw new ConsoleHttpError(response.status, response.headers.get("retry-after"), body);
}

export interface AgentClientOptions {
  consoleUrl: string;
  /** Read at each call, so a rotation takes effect at once. */
  credential: () => string | undefined;
  userAgent: string;
  /** Per HTTP call (a long poll gets its own wait on top); default CONSOLE_CALL_TIMEOUT_MS. */
  timeoutMs?: number;
}

/** A call's time limit: a long poll waits on the console by design, so its wait is added. */
export function callTimeoutMs(path: string, input: unknown, timeoutMs: number): number {
  if (path === "agent.poll") {
    const waitMs = (input as { waitMs?: unknown } | undefined)?.waitMs;
    if (typeof waitMs === "number" && Number.isFinite(waitMs) && waitMs > 0) return timeoutMs + waitMs;
  }
  return timeoutMs;
}

/**
 * Every query and mutation gets an AbortSignal that fires after its time limit (besides the
 * caller's own signal): without it a console that accepts a request and never answers would hold
 * the caller forever (an outcome never reported, a job log that stops every later report). The
 * error names the call and the limit. The push stream (SSE) is left alone: it is meant to stay open.
 */
function timeoutLink(timeoutMs: number): TRPCLink<AgentRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        if (op.type === "subscription") return next(op).subscribe(observer);
        const ms = callTimeoutMs(op.path, op.input, timeoutMs);
        const timer = AbortSignal.timeout(ms);
        const signal = op.signal ? AbortSignal.any([op.signal, timer]) : timer;
        return next({ ...op, signal }).subscribe({
          next: (value) => observer.next(value),
          error: (error) => observer.error(timer.aborted && !op.signal?.aborted ? TRPCClientError.from(new ConsoleTimeoutError(op.path, ms)) : error),
          complete: () => observer.complete(),
        });
      });
}

/**
 * A fetch whose response headers must come within `ms` (then the body may stream for as long as it
 * lasts): a stream that never opens fails with ConsoleTimeoutError, and EventSource dials again.
 */
async function fetchWithHeadersWithin(ms: number, call: string, input: string | URL, init: RequestInit): Promise<Response> {
  const opening = new AbortController();
  const timer = setTimeout(() => opening.abort(new ConsoleTimeoutError(call, ms)), ms);
  try {
    return await fetch(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, opening.signal]) : opening.signal });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The agent's only channel to the console: it dials out (HTTP calls and one SSE stream for
 * pushed work), never listens.
 */
export function createAgentClient(opts: AgentClientOptions): AgentClient {
  const url = `${opts.consoleUrl}/api/agent`;
  const headers = (): Record<string, string> => {
    const c = opts.credential();
    return { "user-agent": opts.userAgent, ...(c ? { authorization: `Bearer ${c}` } : {}) };
  };
  const timeoutMs = opts.timeoutMs ?? CONSOLE_CALL_TIMEOUT_MS;
  const client = createTRPCClient<AgentRouter>({
    links: [
      timeoutLink(timeoutMs),
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url,
          transformer: superjson,
          EventSource,
          // The eventsource package takes a fetch: that is where the bearer header goes, and the
          // time limit on the stream's opening (until its headers come; the stream itself stays open).
          eventSourceOptions: () => ({ fetch: (input, init) => fetchWithHeadersWithin(timeoutMs, "agent.work", input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers() } }) }),
        }),
        false: httpLink({ url, transformer: superjson, headers, fetch: consoleFetch }),
      }),
    ],
  });
  return client.agent;
}
