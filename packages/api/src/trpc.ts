import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import { hasRole, type Role } from "./roles";
import { writeAudit } from "./audit";
import type { Context } from "./context";
import { checkWithin, type ProcedureMeta, withinOf } from "./auth/tokenLimits";
import { ApiError, TRPC_CODE_OF, type FieldIssue } from "./errors";
import { isBusyError, isUnavailableError } from "@switchyard/db";

/** Every SSE stream (browser tabs, agents' push streams) says "ping" this often when it has nothing else to say. */
export const SSE_PING_MS = 10_000;
/**
 * A client that hears nothing (not even a ping) for this long takes its stream for dead and dials
 * again: a half-open connection cannot leave a page or an agent deaf. The browser re-reads what it
 * shows on the new "connected"; the agent's push stream claims.
 */
export const SSE_RECONNECT_AFTER_INACTIVITY_MS = 30_000;

const t = initTRPC.context<Context>().meta<ProcedureMeta>().create({
  transformer: superjson,
  isDev: false,
  sse: { ping: { enabled: true, intervalMs: SSE_PING_MS }, client: { reconnectAfterInactivityMs: SSE_RECONNECT_AFTER_INACTIVITY_MS } },
  errorFormatter({ shape, error, ctx }) {
    const requestId = ctx?.meta.requestId ?? "";
    // Never send stack traces to clients.
    const { stack: _stack, ...data } = shape.data;
    const { message, issues } = describeError(error, requestId);
    return { ...shape, message, data: { ...data, issues, requestId } };
  },
});

/**
 * What a client is told of an error (the tRPC and REST endpoints alike): the message, with the
 * fields of invalid input; an unknown error opaque, its detail logged with the request id.
 */
export function describeError(error: TRPCError, requestId: string): { message: string; issues: FieldIssue[] } {
  const cause = error.cause;
  const issues: FieldIssue[] =
    cause instanceof ApiError
      ? cause.issues
      : cause instanceof ZodError
        ? cause.issues.map((i) => ({ path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)), message: i.message, severity: "error" as const }))
        : [];
  if (error.code === "INTERNAL_SERVER_ERROR" && isDbShedError(cause ?? error)) {
    // The database went away under a stream (its generator ran past the middleware): said, not a bug.
    console.warn(JSON.stringify({ level: "warn", msg: "database unavailable", requestId, error: String(cause ?? error) }));
    return { message: dbShedMessage(cause ?? error), issues };
  }
  if (error.code === "INTERNAL_SERVER_ERROR") {
    console.error(JSON.stringify({ level: "error", msg: "unhandled", requestId, error: String(cause ?? error), stack: (cause ?? error).stack }));
    return { message: `Internal error (request ${requestId})`, issues };
  }
  return { message: cause instanceof ZodError ? issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ") : error.message, issues };
}

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** How long a client is asked to wait when the console sheds load (429, 503): see retryAfterFor. */
export const BUSY_RETRY_AFTER_S = 2;

/** A database too busy for the work (issue 15) or gone for a moment (a failover, a restart: issue 15 §5): 503 with Retry-After, never 500. */
export function isDbShedError(err: unknown): boolean {
  return isBusyError(err) || isUnavailableError(err);
}

export function dbShedMessage(err: unknown): string {
  return isBusyError(err)
    ? `The console's database is busy: retry in ${BUSY_RETRY_AFTER_S} s`
    : `The console's database is unavailable (restarting or failing over): retry in ${BUSY_RETRY_AFTER_S} s`;
}

/**
 * Domain ApiErrors become TRPCErrors here, and refused mutations are audited. A database too busy
 * to take the work in time (isBusyError: no connection free, a transaction that could not start)
 * is SERVICE_UNAVAILABLE (503 with Retry-After): the caller should come back, as agents do; it was
 * a 500 before, and agents treated it as fatal (issue 15).
 */
const translateErrors = t.middleware(async ({ ctx, next, type, path, getRawInput }) => {
  const result = await next();
  if (result.ok) return result;
  const err = result.error;
  const cause = err.cause instanceof ApiError ? err.cause : null;
  const error = cause
    ? new TRPCError({ code: TRPC_CODE_OF[cause.code], message: cause.message, cause })
    : isDbShedError(err.cause ?? err)
      ? new TRPCError({ code: "SERVICE_UNAVAILABLE", message: dbShedMessage(err.cause ?? err), cause: err.cause ?? err })
      : err;
  // Not audited: a bug (logged with its request id), or load shed (an audit row would add to the load).
  const shed = error.code === "SERVICE_UNAVAILABLE" || error.code === "TOO_MANY_REQUESTS";
  if (type === "mutation" && path !== "auth.signIn" && error.code !== "INTERNAL_SERVER_ERROR" && !shed) {
    const raw = (await getRawInput().catch(() => undefined)) as { id?: unknown } | undefined;
    const targetId = typeof raw?.id === "string" ? raw.id.slice(0, 64) : "";
    await writeAudit(ctx.db, ctx, {
      ...(ctx.agent ? { actorName: `host:${ctx.agent.hostName}` } : {}),
      action: path,
      targetId,
      outcome: error.code === "FORBIDDEN" || error.code === "UNAUTHORIZED" || error.code === "NOT_FOUND" ? "denied" : "error",
      message: `${error.code}: ${error.message}`,
    }).catch((e: unknown) => console.error(JSON.stringify({ level: "error", msg: "audit write failed", error: String(e) })));
  }
  return { ...result, error };
});

export const publicProcedure = t.procedure.use(translateErrors);

/** What only people do: a token never signs in or out, makes or revokes tokens, or holds a live stream. */
export const PEOPLE_ONLY = /^(auth|tokens|events)\./;

export const protectedProcedure = publicProcedure.use(async ({ ctx, next, path, type, meta, getRawInput }) => {
  if (!ctx.session && ctx.token) {
    const token = ctx.token;
    if (token.scope !== "general" || token.role === null) {
      throw new TRPCError({ code: "FORBIDDEN", message: `This API token (${token.scope}) may only register and deregister service members (services.register, services.deregister, services.registrations)` });
    }
    if (PEOPLE_ONLY.test(path)) throw new TRPCError({ code: "FORBIDDEN", message: `${path} is for people signed in, not for API tokens` });
    if (token.readOnly && type !== "query") throw new TRPCError({ code: "FORBIDDEN", message: `This API token (${token.name}) is read-only: ${path} changes something` });
    const within = withinOf(token);
    if (within) await checkWithin(ctx.db, token, within, path, meta?.touches, await getRawInput().catch(() => undefined));
    // A general token acts as its user with the token's own role (never above the user's: checked at each use).
    const session = { id: `token:${token.id}`, user: { id: token.user.id, username: token.user.username, displayName: token.user.username, role: token.role }, expiresAt: new Date(8.64e15) };
    return next({ ctx: { ...ctx, session, within } });
  }
  if (!ctx.session) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in first" });
  return next({ ctx: { ...ctx, session: ctx.session } });
});

/**
 * Registration (issue 12 §6): a registrar API token, or a signed-in operator (anyone signed in
 * reads). Which services a token may touch is checked where the service is known
 * (serviceRegistrations.ts).
 */
export const registrarReadProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.token && !ctx.session) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in first, or send a registrar API token as Authorization: Bearer syt_..." });
  return next();
});

export const registrarProcedure = publicProcedure.use(({ ctx, next }) => {
  if (ctx.token?.scope === "general" && (ctx.token.readOnly || ctx.token.role === null || !hasRole(ctx.token.role, "operator"))) {
    throw new TRPCError({ code: "FORBIDDEN", message: `This API token (${ctx.token.name}) cannot register members: that needs a token with the operator role that is not read-only` });
  }
  if (ctx.token) return next();
  if (!ctx.session) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in first, or send a registrar API token as Authorization: Bearer syt_..." });
  if (!hasRole(ctx.session.user.role, "operator")) {
    throw new TRPCError({ code: "FORBIDDEN", message: `This needs the operator role; you are ${ctx.session.user.role}` });
  }
  return next();
});

export { hasRole } from "./roles";

function requireRole(atLeast: Role) {
  return protectedProcedure.use(({ ctx, next }) => {
    if (!hasRole(ctx.session.user.role, atLeast)) {
      throw new TRPCError({ code: "FORBIDDEN", message: `This needs the ${atLeast} role; you are ${ctx.session.user.role}` });
    }
    return next();
  });
}

/** Anyone signed in reads. */
export const viewerProcedure = protectedProcedure;
/** Operators change networks. */
export const operatorProcedure = requireRole("operator");
/** Admins manage users. */
export const adminProcedure = requireRole("admin");
