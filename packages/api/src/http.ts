import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { authenticateApiToken, type TokenIdentity } from "./auth/apiTokens";
import { DEFAULT_TOKEN_RATE, type TokenLimiter, type TokenRate, createTokenLimiter } from "./auth/tokenRate";
import { validateSessionToken, readCookie, SESSION_COOKIE } from "./auth/session";
import { createContextInner, type ConsoleDeps } from "./context";
import { instrumentRequests } from "./metrics/requests";
import { authenticateAgent } from "./domain/hosts";
import { appRouter } from "./root";
import { agentRootRouter } from "./routers/agent";
import { BUSY_RETRY_AFTER_S } from "./trpc";

export interface TrpcHttpOptions {
  endpoint: string;
  /** Origins allowed besides the request's own (e.g. the public URL behind a proxy). */
  allowedOrigins: string[];
  maxBodyBytes: number;
  maxBatchSize: number;
  /** Calls per second and burst allowed to each API token (a batch costs its size). */
  tokenRate: TokenRate;
}

export const DEFAULT_HTTP_OPTIONS: TrpcHttpOptions = {
  endpoint: "/api/trpc",
  allowedOrigins: [],
  maxBodyBytes: 2 * 1024 * 1024,
  maxBatchSize: 20,
  tokenRate: DEFAULT_TOKEN_RATE,
};

export function refuse(status: number, message: string, requestId: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: { message, requestId } }), {
    status,
    headers: { "content-type": "application/json", "x-request-id": requestId, "cache-control": "no-store", ...headers },
  });
}

/** `__proto__`/`constructor`/`prototype` keys never reach the deserializer. */
export function hasPollutingKey(text: string): boolean {
  // A key can spell those words only literally or through \u escapes (JSON has no other escape
  // for a letter or "_"): a text with neither cannot hold one, and is not walked. The walk (a
  // reviver called for every key) cost 50 ms for an agent's 10,000-lease report part.
  if (!text.includes("\\u") && !text.includes("__proto__") && !text.includes("constructor") && !text.includes("prototype")) {
    JSON.parse(text); // still refuse what is not JSON
    return false;
  }
  let found = false;
  JSON.parse(text, (key, value: unknown) => {
    if (key === "__proto__" || key === "constructor" || key === "prototype") found = true;
    return value;
  });
  return found;
}

function ownOrigin(req: Request): string {
  const url = new URL(req.url);
  const host = req.headers.get("host") ?? url.host;
  const proto = req.headers.get("x-forwarded-proto")?.split(",")[0]?.trim() ?? url.protocol.replace(":", "");
  return `${proto}://${host}`;
}

/** The peer address: apps/console/server.mjs appends the socket address last, so only it is trusted. */
export function sourceIp(req: Request): string {
  const xff = req.headers.get("x-forwarded-for");
  return xff?.split(",").at(-1)?.trim().slice(0, 64) ?? "";
}

export async function readBodyLimited(req: Request, limit: number): Promise<string | null> {
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > limit) return null;
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * What both endpoints check before tRPC sees a request: POSTs are JSON (from an allowed origin,
 * when `originAllowed` is given: CSRF) within the body limit, GET inputs within it too, no
 * prototype-polluting keys, batches bounded. A Response is a refusal.
 */
async function screen(
  req: Request,
  requestId: string,
  opts: Pick<TrpcHttpOptions, "endpoint" | "maxBodyBytes" | "maxBatchSize">,
  originAllowed: ((origin: string) => boolean) | null,
): Promise<Response | { body: string | undefined; paths: string[] }> {
  const url = new URL(req.url);
  let body: string | undefined;
  if (req.method === "POST") {
    if (originAllowed) {
      const origin = req.headers.get("origin");
      if (!origin || origin === "null" || !originAllowed(origin)) return refuse(403, `Origin ${JSON.stringify(origin)} is not allowed`, requestId);
    }
    const mediaType = req.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
    if (mediaType !== "application/json") return refuse(415, "Mutations must be sent as application/json", requestId);
    const text = await readBodyLimited(req, opts.maxBodyBytes);
    if (text === null) return refuse(413, `Request body is larger than ${opts.maxBodyBytes} bytes`, requestId);
    try {
      if (hasPollutingKey(text)) return refuse(400, "Keys __proto__, constructor and prototype are not allowed", requestId);
    } catch {
      return refuse(400, "Request body is not valid JSON", requestId);
    }
    body = text;
  } else if (req.method === "GET") {
    const input = url.searchParams.get("input");
    if (input && input.length > opts.maxBodyBytes) return refuse(414, "Request input is too large", requestId);
    try {
      if (input && hasPollutingKey(input)) return refuse(400, "Keys __proto__, constructor and prototype are not allowed", requestId);
    } catch {
      return refuse(400, "Request input is not valid JSON", requestId);
    }
  } else {
    return refuse(405, `Method ${req.method} is not allowed`, requestId);
  }
  const paths = url.pathname.slice(opts.endpoint.length + 1).split(",");
  if (paths.length > opts.maxBatchSize) return refuse(400, `A batch may hold at most ${opts.maxBatchSize} calls`, requestId);
  return { body, paths };
}

/** One bucket set per console: the tRPC and REST endpoints share it, so a token gets its rate once, not once per endpoint. */
const limiters = new WeakMap<ConsoleDeps, TokenLimiter>();
export function limiterFor(deps: ConsoleDeps, rate: TokenRate): TokenLimiter {
  let limiter = limiters.get(deps);
  if (!limiter) limiters.set(deps, (limiter = createTokenLimiter(rate)));
  return limiter;
}

/**
 * The API token of `Authorization: Bearer syt_…`, taken `calls` calls from its rate; a Response
 * is the refusal (401 not valid, 429 over its rate with Retry-After).
 */
export async function bearerToken(req: Request, d: ConsoleDeps, limiter: TokenLimiter, calls: number, requestId: string): Promise<TokenIdentity | Response> {
  const bearer = /^Bearer\s+(\S{1,200})$/i.exec(req.headers.get("authorization") ?? "")?.[1];
  const apiToken = bearer ? await authenticateApiToken(d.db, bearer, sourceIp(req)) : null;
  if (!apiToken) return refuse(401, "The API token is not valid: unknown, revoked or expired, or its user is disabled or lacks the role it needs (send Authorization: Bearer syt_...)", requestId);
  const wait = limiter.take(apiToken.id, calls);
  if (wait > 0) {
    const { perSecond, burst } = limiter.rate;
    const seconds = Math.max(1, Math.ceil(wait));
    return refuse(429, `API token "${apiToken.name}" is over its rate limit (${perSecond} calls/s, bursts of ${burst}; a batch counts each call): retry after ${seconds} s`, requestId, { "retry-after": String(seconds) });
  }
  return apiToken;
}

/**
 * The console's tRPC endpoint. Before tRPC sees a request: mutations must be
 * POSTed as JSON from our own origin (CSRF), bodies and batches are bounded,
 * and prototype-polluting keys are refused. Authorization stays in every procedure.
 */
export function createTrpcHttpHandler(deps: () => Promise<ConsoleDeps>, options: Partial<TrpcHttpOptions> = {}) {
  const opts = { ...DEFAULT_HTTP_OPTIONS, ...options };
  return instrumentRequests("browser", opts.endpoint, appRouter, async function handle(req: Request): Promise<Response> {
    const requestId = crypto.randomUUID();
    // An API token is sent explicitly, never ambiently: a request that carries one needs no Origin
    // (scripts send none), and its cookies are ignored, so it acts as the token and nothing more.
    // Other schemes (a proxy's Basic auth, which browsers do resend) leave the browser path as it is.
    const header = req.headers.get("authorization") ?? "";
    const bearerSent = /^Bearer\s/i.test(header);
    const screened = await screen(req, requestId, opts, bearerSent ? null : (origin) => origin === ownOrigin(req) || opts.allowedOrigins.includes(origin));
    if (screened instanceof Response) return screened;
    const { body, paths } = screened;
    // Each sign-in costs a deliberately slow password hash: one per request.
    if (paths.length > 1 && paths.includes("auth.signIn")) return refuse(400, "auth.signIn cannot be batched", requestId);

    const forwarded = body === undefined ? req : new Request(req.url, { method: "POST", headers: req.headers, body, signal: req.signal });
    const d = await deps();
    let session = null;
    let apiToken = null;
    if (bearerSent) {
      const authenticated = await bearerToken(req, d, limiterFor(d, opts.tokenRate), paths.length, requestId);
      if (authenticated instanceof Response) return authenticated;
      apiToken = authenticated;
    } else {
      const cookie = readCookie(req.headers.get("cookie"), SESSION_COOKIE);
      session = cookie ? await validateSessionToken(d.db, cookie, d.sessionPolicy) : null;
    }
    const response = await fetchRequestHandler({
      endpoint: opts.endpoint,
      req: forwarded,
      router: appRouter,
      maxBatchSize: opts.maxBatchSize,
      // Queries whose input outgrows a URL (a draft config, files to preview) may be POSTed; they
      // pass the same Origin and content-type screen as mutations. A mutation is never a GET.
      allowMethodOverride: true,
      responseMeta: retryAfterWhenShed,
      createContext: ({ resHeaders }) =>
        createContextInner({
          ...d,
          session,
          token: apiToken,
          meta: { requestId, sourceIp: sourceIp(req), userAgent: req.headers.get("user-agent") ?? "" },
          setCookie: (cookie) => resHeaders.append("set-cookie", cookie),
        }),
    });
    response.headers.set("x-request-id", requestId);
    response.headers.set("cache-control", "no-store");
    return response;
  });
}

/** 429 and 503 answers say when to come back (issue 15): agents and scripts wait at least that long. */
function retryAfterWhenShed({ errors }: { errors: readonly { code: string }[] }): { headers?: Record<string, string> } {
  return errors.some((e) => e.code === "SERVICE_UNAVAILABLE" || e.code === "TOO_MANY_REQUESTS") ? { headers: { "retry-after": String(BUSY_RETRY_AFTER_S) } } : {};
}

export const AGENT_ENDPOINT = "/api/agent";

/**
 * How much of a console process the agents may take (issue 15 §2), apart from people's calls on
 * /api/trpc: enrolments (each is a transaction and a credential hash), all agent calls together,
 * and each host's own calls (an agent that ignores Retry-After in a tight loop is held to its
 * share). Beyond any of them: 429 with Retry-After, before any database work.
 */
export interface AgentRates {
  enrol: TokenRate;
  calls: TokenRate;
  perHost: TokenRate;
}

export const DEFAULT_AGENT_RATES: AgentRates = {
  enrol: { perSecond: 10, burst: 20 },
  calls: { perSecond: 1000, burst: 2000 },
  perHost: { perSecond: 100, burst: 200 },
};

/** Shedding is logged, at most one line per reason every 10 s with how many were shed since. */
const SHED_LOG_EVERY_MS = 10_000;
const shedSince = new Map<string, { count: number; at: number }>();
function logShed(what: string, rate: TokenRate): void {
  const now = Date.now();
  const s = shedSince.get(what) ?? { count: 0, at: 0 };
  s.count += 1;
  shedSince.set(what, s);
  if (now - s.at < SHED_LOG_EVERY_MS) return;
  console.warn(JSON.stringify({ level: "warn", msg: "shedding agent load: 429 with Retry-After", reason: what, shed: s.count, perSecond: rate.perSecond, burst: rate.burst }));
  shedSince.set(what, { count: 0, at: now });
}

/** 429 with Retry-After (whole seconds, at least 1) when `limiter` has no room for `cost` under `key`. */
function overRate(limiter: TokenLimiter, key: string, cost: number, what: string, requestId: string): Response | null {
  const wait = limiter.take(key, cost);
  if (wait <= 0) return null;
  logShed(what, limiter.rate);
  const seconds = Math.max(1, Math.ceil(wait));
  const { perSecond, burst } = limiter.rate;
  return refuse(429, `${what} (${perSecond}/s, bursts of ${burst}, on this console process): retry after ${seconds} s`, requestId, { "retry-after": String(seconds) });
}

/**
 * The agents' tRPC endpoint. Agents authenticate with `Authorization: Bearer <host credential>`
 * (enrolment with a join token in the body); cookies are ignored here and credentials are not
 * accepted on the browser endpoint, so neither kind of caller can reach the other's procedures.
 * No Origin check: nothing is sent ambiently, so there is no CSRF. Bodies and batches are bounded.
 */
export function createAgentHttpHandler(deps: () => Promise<ConsoleDeps>, options: Partial<Pick<TrpcHttpOptions, "maxBodyBytes" | "maxBatchSize"> & { rates: Partial<AgentRates> }> = {}) {
  const opts = { ...DEFAULT_HTTP_OPTIONS, ...options, endpoint: AGENT_ENDPOINT };
  const rates = { ...DEFAULT_AGENT_RATES, ...options.rates };
  // One bucket set per handler, i.e. per console process: each replica sheds its own load.
  const enrolments = createTokenLimiter(rates.enrol);
  const calls = createTokenLimiter(rates.calls);
  const hosts = createTokenLimiter(rates.perHost);
  return instrumentRequests("agent", AGENT_ENDPOINT, agentRootRouter, async function handle(req: Request): Promise<Response> {
    const requestId = crypto.randomUUID();
    // No origin check: an agent sends its credential explicitly, never ambiently.
    const screened = await screen(req, requestId, opts, null);
    if (screened instanceof Response) return screened;
    const { body, paths } = screened;
    const bearer = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(req.headers.get("authorization") ?? "")?.[1];
    const enrolling = paths.filter((p) => p === "agent.enroll").length;
    const shed =
      overRate(calls, "all", paths.length, "Agents are calling this console faster than it takes", requestId) ??
      overRate(hosts, bearer ?? `ip:${sourceIp(req)}`, paths.length, "This host is calling the console faster than it takes", requestId) ??
      (enrolling > 0 ? overRate(enrolments, "all", enrolling, "Hosts are enrolling faster than this console takes them", requestId) : null);
    if (shed) return shed;
    const d = await deps();
    const agent = bearer ? await authenticateAgent(d.db, bearer) : null;
    const forwarded = body === undefined ? req : new Request(req.url, { method: "POST", headers: req.headers, body, signal: req.signal });
    const response = await fetchRequestHandler({
      endpoint: AGENT_ENDPOINT,
      req: forwarded,
      router: agentRootRouter,
      maxBatchSize: opts.maxBatchSize,
      responseMeta: retryAfterWhenShed,
      createContext: () => createContextInner({ ...d, session: null, agent, meta: { requestId, sourceIp: sourceIp(req), userAgent: req.headers.get("user-agent") ?? "" } }),
    });
    response.headers.set("x-request-id", requestId);
    response.headers.set("cache-control", "no-store");
    return response;
  });
}
