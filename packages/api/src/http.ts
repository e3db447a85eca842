import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { authenticateApiToken, type TokenIdentity } from "./auth/apiTokens";
import { DEFAULT_TOKEN_RATE, type TokenLimiter, type TokenRate, createTokenLimiter } from "./auth/tokenRate";
import { validateSessionToken, readCookie, SESSION_COOKIE } from "./auth/session";
import { createContextInner, type ConsoleDeps } from "./context";
import { instrumentRequests } from "./metrics/requests";
import { authenticateAgent } from "./domain/hosts";
import { appRouter } from "./root";
import { agentRootRouter } from "./routers/agent";
import { BUSY_RETRY_AFTER_S, dbShedMessage, isDbShedError } from "./trpc";
import { type AgentRates, type AgentRefusal, AGENT_ENDPOINT, createAgentAdmission } from "./agentAdmission";
import { DEFAULT_STREAMS_PER_CREDENTIAL, type HeldRequests, createHeldRequests, releaseWhenDone } from "./heldRequests";
import { AGENT_MAX_BODY_BYTES_MIN } from "./schemas";
import { type Log, type ThrottledLog, createThrottledLog, defaultLog } from "./throttledLog";

// Agent admission (rates, who counts as a host) lives in its own module; these stay importable from here.
export { AGENT_ENDPOINT, DEFAULT_AGENT_RATES, type AgentRates } from "./agentAdmission";

export interface TrpcHttpOptions {
  endpoint: string;
  /** Origins allowed besides the request's own (e.g. the public URL behind a proxy). */
  allowedOrigins: string[];
  maxBodyBytes: number;
  maxBatchSize: number;
  /** Calls per second and burst allowed to each API token (a batch costs its size). */
  tokenRate: TokenRate;
  /** Live streams (SSE subscriptions) and long polls each credential may hold at once on this process (429 beyond). */
  streamsPerCredential: number;
  /** Where refusals of bad input are logged (at most one line per reason or credential every 10 s). */
  log: Log;
}

export const DEFAULT_HTTP_OPTIONS: TrpcHttpOptions = {
  endpoint: "/api/trpc",
  allowedOrigins: [],
  maxBodyBytes: 2 * 1024 * 1024,
  maxBatchSize: 20,
  tokenRate: DEFAULT_TOKEN_RATE,
  streamsPerCredential: DEFAULT_STREAMS_PER_CREDENTIAL,
  log: defaultLog,
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

/** What a 413 says: the limit, which calls the body was for, and what to do. */
export function tooLargeMessage(req: Request, endpoint: string, limit: number): string {
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  const size = Number.isFinite(declared) ? `${declared} bytes` : `over ${limit} bytes`;
  const calls = new URL(req.url).pathname.slice(endpoint.length + 1).slice(0, 200) || endpoint;
  return `Request body for ${calls} is ${size}; this console takes at most ${limit} bytes (SWITCHYARD_MAX_BODY_BYTES): nothing of it was read further or stored`;
}

/** Logs bodies and inputs refused as too large: one line per endpoint and source address every 10 s. */
export function tooLargeLog(throttled: ThrottledLog, endpoint: string) {
  return (req: Request, status: 413 | 414, limit: number) => {
    const ip = sourceIp(req);
    throttled(`${status}:${endpoint}:${ip}`, () => ({
      level: "warn",
      msg: status === 413 ? "request body too large: 413" : "request input too large: 414",
      endpoint,
      calls: new URL(req.url).pathname.slice(endpoint.length + 1).slice(0, 200),
      declaredBytes: Number(req.headers.get("content-length") ?? "NaN") || null,
      limit,
      sourceIp: ip,
    }));
  };
}

/**
 * `handle`, with a database too busy or gone (a failover) while the request was authenticated,
 * before tRPC (a session, a credential, a token looked up), answered 503 with Retry-After like
 * inside tRPC, never 500; logged once per endpoint every 10 s.
 */
export function shedWhenDbDown(handle: (req: Request) => Promise<Response>, throttled: ThrottledLog, endpoint: string) {
  return async function shed(req: Request): Promise<Response> {
    try {
      return await handle(req);
    } catch (err) {
      if (!isDbShedError(err)) throw err;
      throttled(`db:${endpoint}`, () => ({ level: "warn", msg: "database unavailable or busy: 503 with Retry-After", endpoint, error: String(err).slice(0, 300) }));
      return refuse(503, dbShedMessage(err), crypto.randomUUID(), { "retry-after": String(BUSY_RETRY_AFTER_S) });
    }
  };
}

/** The paths of `router`'s subscriptions: a request for one holds its connection for as long as the stream lasts. */
function subscriptionsOf(router: { _def: { procedures: object } }): Set<string> {
  const procedures = router._def.procedures as Record<string, { _def: { type: string } }>;
  return new Set(Object.entries(procedures).filter(([, p]) => p._def.type === "subscription").map(([path]) => path));
}

/** Who holds a stream, for its slot and for the log: never a secret. */
interface Holder {
  key: string;
  name: string;
}

/**
 * Takes a slot of `kind` (a stream, a long poll) for `holder`; a Response is the refusal: 429 with
 * Retry-After, logged once per holder every 10 s with how many were refused since.
 */
function takeHeld(held: HeldRequests, throttled: ThrottledLog, kind: "stream" | "long poll", holder: Holder, requestId: string): Response | (() => void) {
  const release = held.take(`${kind}:${holder.key}`);
  if (release) return release;
  throttled(`${kind}:${holder.key}`, () => ({ level: "warn", msg: `too many ${kind}s held by one credential: 429 with Retry-After`, holder: holder.name, held: held.held(`${kind}:${holder.key}`), max: held.max }));
  return refuse(
    429,
    `${holder.name} already holds ${held.max} ${kind}s on this console process (at most ${held.max} per credential, SWITCHYARD_STREAMS_PER_CREDENTIAL): close one (a browser tab, another agent with the same credential) or retry after ${HELD_RETRY_AFTER_S} s`,
    requestId,
    { "retry-after": String(HELD_RETRY_AFTER_S) },
  );
}

/** A stream whose client vanished without a word is found dead at its next ping (SSE_PING_MS), and its slot freed. */
const HELD_RETRY_AFTER_S = 10;

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
  logTooLarge: (req: Request, status: 413 | 414, limit: number) => void,
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
    if (text === null) {
      logTooLarge(req, 413, opts.maxBodyBytes);
      return refuse(413, tooLargeMessage(req, opts.endpoint, opts.maxBodyBytes), requestId);
    }
    try {
      if (hasPollutingKey(text)) return refuse(400, "Keys __proto__, constructor and prototype are not allowed", requestId);
    } catch {
      return refuse(400, "Request body is not valid JSON", requestId);
    }
    body = text;
  } else if (req.method === "GET") {
    const input = url.searchParams.get("input");
    if (input && input.length > opts.maxBodyBytes) {
      logTooLarge(req, 414, opts.maxBodyBytes);
      return refuse(414, `Request input is larger than this console takes (${opts.maxBodyBytes} characters): POST it as JSON`, requestId);
    }
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
  const throttled = createThrottledLog(opts.log);
  const logTooLarge = tooLargeLog(throttled, opts.endpoint);
  const subscriptions = subscriptionsOf(appRouter);
  const streams = createHeldRequests(opts.streamsPerCredential);
  return instrumentRequests("browser", opts.endpoint, appRouter, shedWhenDbDown(async function handle(req: Request): Promise<Response> {
    const requestId = crypto.randomUUID();
    // An API token is sent explicitly, never ambiently: a request that carries one needs no Origin
    // (scripts send none), and its cookies are ignored, so it acts as the token and nothing more.
    // Other schemes (a proxy's Basic auth, which browsers do resend) leave the browser path as it is.
    const header = req.headers.get("authorization") ?? "";
    const bearerSent = /^Bearer\s/i.test(header);
    const screened = await screen(req, requestId, opts, bearerSent ? null : (origin) => origin === ownOrigin(req) || opts.allowedOrigins.includes(origin), logTooLarge);
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
    // A live stream holds its connection: at most streamsPerCredential per session (one per open tab), token or address.
    let release: (() => void) | null = null;
    if (paths.some((p) => subscriptions.has(p))) {
      const holder: Holder = session
        ? { key: `session:${session.id}`, name: `User "${session.user.username}"'s session ${session.id.slice(0, 8)}` }
        : apiToken
          ? { key: `token:${apiToken.id}`, name: `API token "${apiToken.name}"` }
          : { key: `ip:${sourceIp(req)}`, name: `Address ${sourceIp(req)} (not signed in)` };
      const held = takeHeld(streams, throttled, "stream", holder, requestId);
      if (held instanceof Response) return held;
      release = held;
    }
    const answered = fetchRequestHandler({
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
    return finish(answered, requestId, release, req.signal);
  }, throttled, opts.endpoint));
}

/** The response as sent: its request id, never cached, and the held slot given back when it ends (or fails to start). */
async function finish(answered: Promise<Response>, requestId: string, release: (() => void) | null, signal: AbortSignal): Promise<Response> {
  let response: Response;
  try {
    response = await answered;
  } catch (err) {
    release?.();
    throw err;
  }
  if (release) response = releaseWhenDone(response, release, signal);
  response.headers.set("x-request-id", requestId);
  response.headers.set("cache-control", "no-store");
  return response;
}

/** 429 and 503 answers say when to come back (issue 15): agents and scripts wait at least that long. */
function retryAfterWhenShed({ errors }: { errors: readonly { code: string }[] }): { headers?: Record<string, string> } {
  return errors.some((e) => e.code === "SERVICE_UNAVAILABLE" || e.code === "TOO_MANY_REQUESTS") ? { headers: { "retry-after": String(BUSY_RETRY_AFTER_S) } } : {};
}

/**
 * The agents' tRPC endpoint. Agents authenticate with `Authorization: Bearer <host credential>`
 * (enrolment with a join token in the body); cookies are ignored here and credentials are not
 * accepted on the browser endpoint, so neither kind of caller can reach the other's procedures.
 * No Origin check: nothing is sent ambiently, so there is no CSRF. Bodies and batches are bounded.
 */
export function createAgentHttpHandler(
  deps: () => Promise<ConsoleDeps>,
  options: Partial<Pick<TrpcHttpOptions, "maxBodyBytes" | "maxBatchSize" | "streamsPerCredential" | "log"> & { rates: Partial<AgentRates> }> = {},
) {
  const base = { ...DEFAULT_HTTP_OPTIONS, ...options, endpoint: AGENT_ENDPOINT };
  // Agents keep every request within AGENT_BODY_BUDGET_BYTES; the limit here never goes below twice that.
  const opts = { ...base, maxBodyBytes: Math.max(base.maxBodyBytes, AGENT_MAX_BODY_BYTES_MIN) };
  const throttled = createThrottledLog(opts.log);
  const admission = createAgentAdmission({ rates: options.rates, maxBatchSize: opts.maxBatchSize, throttled });
  const logTooLarge = tooLargeLog(throttled, AGENT_ENDPOINT);
  const subscriptions = subscriptionsOf(agentRootRouter);
  const held = createHeldRequests(opts.streamsPerCredential);
  const refuseOverRate = (r: AgentRefusal, requestId: string) => refuse(r.status, r.message, requestId, { "retry-after": String(r.retryAfterS) });
  return instrumentRequests("agent", AGENT_ENDPOINT, agentRootRouter, shedWhenDbDown(async function handle(req: Request): Promise<Response> {
    const requestId = crypto.randomUUID();
    // Rates first, before the body is read: an agent looping past Retry-After costs a bucket lookup.
    const ip = sourceIp(req);
    const ticket = admission.admit(req, ip);
    if ("status" in ticket) return refuseOverRate(ticket, requestId);
    const { paths } = ticket;
    // No origin check: an agent sends its credential explicitly, never ambiently.
    const screened = await screen(req, requestId, opts, null, logTooLarge);
    if (screened instanceof Response) return screened;
    const { body } = screened;
    const d = await deps();
    const authenticated = await admission.authenticate(ticket, (bearer) => authenticateAgent(d.db, bearer));
    if ("status" in authenticated) return refuseOverRate(authenticated, requestId);
    const { agent } = authenticated;
    // The push stream and long polls hold their connection: at most streamsPerCredential of each per host.
    let release: (() => void) | null = null;
    const kind = paths.some((p) => subscriptions.has(p)) ? "stream" : paths.includes("agent.poll") ? "long poll" : null;
    if (kind) {
      const holder: Holder = agent ? { key: `host:${agent.hostId}`, name: `Host "${agent.hostName}"` } : { key: `ip:${ip}`, name: `Address ${ip} (no valid host credential)` };
      const taken = takeHeld(held, throttled, kind, holder, requestId);
      if (taken instanceof Response) return taken;
      release = taken;
    }
    const forwarded = body === undefined ? req : new Request(req.url, { method: "POST", headers: req.headers, body, signal: req.signal });
    const answered = fetchRequestHandler({
      endpoint: AGENT_ENDPOINT,
      req: forwarded,
      router: agentRootRouter,
      maxBatchSize: opts.maxBatchSize,
      responseMeta: retryAfterWhenShed,
      createContext: () => createContextInner({ ...d, session: null, agent, meta: { requestId, sourceIp: ip, userAgent: req.headers.get("user-agent") ?? "" } }),
    });
    return finish(answered, requestId, release, req.signal);
  }, throttled, AGENT_ENDPOINT));
}
