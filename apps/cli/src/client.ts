import type { AppRouter } from "@switchyard/api";
import type { TRPCClient } from "@trpc/client";
import { version as VERSION } from "../package.json";
import { CliError, EXIT } from "./exit";
import { fieldPath } from "./format";
import type { Settings } from "./config";

export type ConsoleClient = TRPCClient<AppRouter>;

/** How often a call over its token's rate (429) is sent again, after the console's Retry-After. */
export const RATE_LIMIT_RETRIES = 3;
/** A Retry-After beyond this is not waited for (a CI job should not sleep for minutes). */
export const RETRY_AFTER_MAX_S = 30;
/** One call's time limit. */
export const CALL_TIMEOUT_MS = 120_000;

export interface ClientOptions {
  /** Always shown (the rate-limit waits). */
  note: (line: string) => void;
  /** Shown with -v: each call, its status and time. */
  trace?: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
  /** Paths sent as POST (queries whose input outgrows a URL: the files of a plan). */
  postQueries?: readonly string[];
}

/** The exit code an HTTP status of a refusal maps to. */
export function exitForStatus(status: number): (typeof EXIT)[keyof typeof EXIT] {
  return status === 401 || status === 403 ? EXIT.refused : EXIT.failed;
}

/** Seconds to wait from a Retry-After header (seconds or an HTTP date), bounded. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number {
  if (header) {
    const n = Number(header);
    const s = Number.isFinite(n) ? n : (Date.parse(header) - now) / 1000;
    if (Number.isFinite(s)) return Math.min(RETRY_AFTER_MAX_S, Math.max(1, Math.ceil(s)));
  }
  return 1;
}

/**
 * fetch for the tRPC link: network failures become a clear CliError (exit 1); a 429 is sent again
 * after Retry-After, a bounded number of times; the console's refusals made before tRPC runs (401
 * bad token, 413 body too large, 429, …: `{ error: { message } }`, not a tRPC error body) become a
 * CliError with the console's message (401/403: exit 3). tRPC's own errors pass through.
 */
export function createCliFetch(settings: Settings, opts: ClientOptions): typeof fetch {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  return async (input, init) => {
    for (let attempt = 0; ; attempt++) {
      const timer = AbortSignal.timeout(CALL_TIMEOUT_MS);
      let res: Response;
      const t0 = performance.now();
      try {
        res = await fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, timer]) : timer });
        if (opts.trace) opts.trace(`${init?.method ?? "GET"} ${new URL(String(input instanceof Request ? input.url : input)).pathname}: ${res.status} in ${(performance.now() - t0).toFixed(0)} ms`);
      } catch (error) {
        if (timer.aborted) throw new CliError(EXIT.failed, `the console at ${settings.url} did not answer within ${CALL_TIMEOUT_MS / 1000} s`);
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        const why = cause?.code ?? cause?.message ?? (error as Error).message;
        throw new CliError(EXIT.failed, `cannot reach the console at ${settings.url}: ${why}`);
      }
      if (res.ok) return res;
      const text = await res.text();
      let body: { error?: { message?: unknown; json?: unknown } } | undefined;
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        body = undefined;
      }
      const isTrpcError = body?.error !== undefined && typeof body.error === "object" && body.error !== null && "json" in body.error;
      if (isTrpcError) return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
      const message = typeof body?.error?.message === "string" ? body.error.message : `HTTP ${res.status} ${res.statusText}`.trim();
      if (res.status === 429 && attempt < RATE_LIMIT_RETRIES) {
        const wait = retryAfterSeconds(res.headers.get("retry-after"));
        opts.note(`rate limited by the console (${message}); retrying in ${wait} s (${attempt + 1} of ${RATE_LIMIT_RETRIES})`);
        await sleep(wait * 1000);
        continue;
      }
      const refused = exitForStatus(res.status);
      throw new CliError(refused, refused === EXIT.refused ? `refused by the console: ${message}` : res.status === 429 ? `${message} (gave up after ${RATE_LIMIT_RETRIES} retries)` : `the console answered ${res.status}: ${message}`);
    }
  };
}

/** The tRPC client for the console's endpoint, with the token as a bearer. Loaded on first use (start stays fast). */
export async function createConsoleClient(settings: Settings, opts: ClientOptions): Promise<ConsoleClient> {
  const [{ createTRPCClient, httpLink, splitLink }, { default: superjson }] = await Promise.all([import("@trpc/client"), import("superjson")]);
  const url = `${settings.url}/api/trpc`;
  const headers = { authorization: `Bearer ${settings.token}`, "user-agent": `switchyard-cli/${VERSION}` };
  const fetchImpl = createCliFetch(settings, opts);
  const post = new Set(opts.postQueries ?? []);
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => post.has(op.path),
        true: httpLink({ url, transformer: superjson, headers, fetch: fetchImpl, methodOverride: "POST" }),
        false: httpLink({ url, transformer: superjson, headers, fetch: fetchImpl }),
      }),
    ],
  });
}


export interface TrpcErrorLike {
  message: string;
  cause?: unknown;
  data?: { code?: string; httpStatus?: number; issues?: { path: (string | number)[]; message: string; severity?: string }[] } | null;
}

/** A tRPC error's code (UNAUTHORIZED, BAD_REQUEST, …), when the error is one. */
export function trpcCode(error: unknown): string | undefined {
  return (error as TrpcErrorLike | undefined)?.data?.code;
}

/**
 * Any error of a call as the CLI reports it: our own CliError as is (also when tRPC wrapped it);
 * UNAUTHORIZED/FORBIDDEN → exit 3 with the console's message; the rest → exit 1, with the fields
 * of invalid input as detail lines.
 */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const e = error as TrpcErrorLike;
  if (e?.cause instanceof CliError) return e.cause;
  const code = e?.data?.code;
  if (code === "UNAUTHORIZED" || code === "FORBIDDEN") return new CliError(EXIT.refused, `refused by the console: ${e.message}`);
  if (code) {
    const details = (e.data?.issues ?? []).filter((i) => i.severity !== "warning").map((i) => `${fieldPath(i.path) || "input"}: ${i.message}`);
    return new CliError(EXIT.failed, e.message, details.length > 1 || (details.length === 1 && !e.message.includes(details[0]!)) ? details : []);
  }
  return new CliError(EXIT.failed, e instanceof Error ? `${e.message}` : String(error));
}
