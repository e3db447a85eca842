import type { AgentRouter } from "@switchyard/api";
import { createTRPCClient, httpSubscriptionLink, splitLink, TRPCClientError, type TRPCClient, type TRPCLink } from "@trpc/client";
import { observable } from "@trpc/server/observable";
import { EventSource } from "eventsource";
import superjson from "superjson";
import { type HttpAnswer, type HttpRequest, sendRequest } from "./http";

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

/** One call's request: an answer that is not the console's JSON (a failure, a redirect) becomes a ConsoleHttpError. */
async function callConsole(url: string, init: HttpRequest): Promise<{ answer: HttpAnswer; json: unknown }> {
  const answer = await sendRequest(url, init);
  const ok = answer.status >= 200 && answer.status < 300;
  if (ok || (answer.headers.get("content-type") ?? "").includes("application/json")) return { answer, json: await answer.json() };
  const location = answer.headers.get("location");
  const body = location ? `redirected to ${location} (not followed: give that as the console URL)` : (await answer.text().catch(() => "")).replace(/\s+/g, " ").trim().slice(0, 200);
  throw new ConsoleHttpError(answer.status, answer.headers.get("retry-after"), body);
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null;

/**
 * tRPC's httpLink, on sendRequest (http.ts) rather than fetch: httpLink reads the global FormData
 * at every call, which loads undici all the same. One call per request as httpLink makes it: a
 * query is a GET with its input in the URL, a mutation a POST of JSON; the answer is the console's
 * tRPC envelope (superjson), or a ConsoleHttpError.
 */
function consoleLink(opts: { url: string; headers: () => Record<string, string> }): TRPCLink<AgentRouter> {
  return () =>
    ({ op }) =>
      observable((observer) => {
        const input = superjson.serialize(op.input);
        const isQuery = op.type === "query";
        const url = `${opts.url}/${op.path}${isQuery ? `?input=${encodeURIComponent(JSON.stringify(input))}` : ""}`;
        const abort = new AbortController();
        const signal = op.signal ? AbortSignal.any([op.signal, abort.signal]) : abort.signal;
        const request: HttpRequest = isQuery
          ? { method: "GET", headers: opts.headers(), signal }
          : { method: "POST", headers: { "content-type": "application/json", ...opts.headers() }, body: JSON.stringify(input), signal };
        let isDone = false;
        let meta: { response: HttpAnswer; responseJSON: unknown } | undefined;
        callConsole(url, request)
          .then(({ answer, json }) => {
            isDone = true;
            meta = { response: answer, responseJSON: json };
            if (isObject(json) && isObject(json.error)) {
              observer.error(TRPCClientError.from({ ...json, error: superjson.deserialize(json.error as never) } as never, { meta }));
              return;
            }
            if (!isObject(json) || !isObject(json.result)) throw new Error(`the console's answer to ${op.path} is not a tRPC response`);
            observer.next({ context: meta, result: { ...json.result, type: "data", data: superjson.deserialize(json.result.data as never) } } as never);
            observer.complete();
          })
          .catch((cause: unknown) => {
            isDone = true;
            observer.error(TRPCClientError.from(cause as Error, { meta }));
          });
        return () => {
          if (!isDone) abort.abort();
        };
      });
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
 * A request whose answer's headers must come within `ms` (then the body may stream for as long as
 * it lasts): a stream that never opens fails with ConsoleTimeoutError, and EventSource dials again.
 */
async function requestWithHeadersWithin(ms: number, call: string, input: string | URL, init: HttpRequest): Promise<HttpAnswer> {
  const opening = new AbortController();
  const timer = setTimeout(() => opening.abort(new ConsoleTimeoutError(call, ms)), ms);
  try {
    return await sendRequest(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, opening.signal]) : opening.signal });
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
          eventSourceOptions: () => ({
            fetch: (input, init) => requestWithHeadersWithin(timeoutMs, "agent.work", input, { method: "GET", headers: { ...(init?.headers as Record<string, string>), ...headers() }, signal: init?.signal as AbortSignal | undefined }),
          }),
        }),
        false: consoleLink({ url, headers }),
      }),
    ],
  });
  return client.agent;
}
