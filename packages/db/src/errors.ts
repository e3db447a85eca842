import { Prisma } from "./generated/prisma/client";

/** The domain-level outcomes of Prisma errors callers can act on. */
export const DB_ERROR_CODES = ["CONFLICT", "NOT_FOUND"] as const;
export type DbErrorCode = (typeof DB_ERROR_CODES)[number];

export type DbError = { code: "CONFLICT"; fields: string[] } | { code: "NOT_FOUND" };

/** P2002 (unique violation) → CONFLICT with the offending fields; P2025 (record not found) → NOT_FOUND; else null. */
export function mapPrismaError(err: unknown): DbError | null {
  if (!(err instanceof Prisma.PrismaClientKnownRequestError)) return null;
  switch (err.code) {
    case "P2002":
      return { code: "CONFLICT", fields: conflictFields(err.meta) };
    case "P2025":
      return { code: "NOT_FOUND" };
    default:
      return null;
  }
}

function conflictFields(meta: Record<string, unknown> | undefined): string[] {
  const target = meta?.target;
  if (Array.isArray(target)) return target.map(String);
  if (typeof target === "string") return [target];
  // Driver adapters report the constraint under meta.driverAdapterError.cause.constraint:
  // PGlite names the fields, adapter-pg only the index (Prisma names it <Model>_<a>_<b>_key).
  const cause = (meta?.driverAdapterError as { cause?: { constraint?: { fields?: unknown; index?: unknown } } } | undefined)
    ?.cause;
  const fields = cause?.constraint?.fields;
  if (Array.isArray(fields)) return fields.map((f) => String(f).replace(/^"|"$/g, ""));
  const index = cause?.constraint?.index;
  const model = typeof meta?.modelName === "string" ? meta.modelName : undefined;
  if (typeof index === "string" && model && index.startsWith(`${model}_`) && index.endsWith("_key")) {
    return index.slice(model.length + 1, -"_key".length).split("_");
  }
  return [];
}

/**
 * The database could not take the work in time, and may later: the pool had no connection free
 * within its wait (P2024, or pg's "timeout exceeded when trying to connect"), or an interactive
 * transaction could not start within its maxWait (P2028 "Unable to start a transaction in the
 * given time"). The console answers these 503 with Retry-After (a client should come back), never
 * 500 (a bug). Issue 15: 2 of 50 agents enrolling at once exited on exactly this.
 */
export function isBusyError(err: unknown): boolean {
  return causesOf(err).some((e) => {
    const code = (e as { code?: unknown }).code;
    if (code === "P2024") return true;
    if (code === "P2028" && /unable to start a transaction in the given time/i.test(e.message)) return true;
    return /timeout exceeded when trying to connect/i.test(e.message);
  });
}

/** PostgreSQL's SQLSTATEs of a server going away or not taking connections yet: connection exceptions (08), admin/crash shutdown and "starting up" (57P01-03), too many connections. */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300)$/;
/** How the driver adapter (and Prisma after it) names a connection that failed or could not be made. */
const UNAVAILABLE_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections"]);
/** Prisma's codes for the same: can't reach the server, timed out reaching it, operations timed out, the server closed the connection. */
const UNAVAILABLE_PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017"]);
const UNAVAILABLE_SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]);
const UNAVAILABLE_MESSAGE =
  /connection terminated|encountered a connection error and is not queryable|terminating connection due to administrator command|the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)|server closed the connection unexpectedly|server has closed the connection|can't reach database server/i;

/**
 * The database went away or does not take connections yet: a failover, a restart, the network
 * between (issue 15 §5). A transaction in flight was rolled back by the server; the next requests
 * get fresh connections once it is back. The console answers these 503 with Retry-After too,
 * never 500: the request may succeed when sent again.
 */
export function isUnavailableError(err: unknown): boolean {
  return causesOf(err).some((e) => {
    const { code, kind } = e as { code?: unknown; kind?: unknown };
    if (typeof code === "string" && (UNAVAILABLE_PRISMA_CODES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true;
    if (typeof kind === "string" && UNAVAILABLE_KINDS.has(kind)) return true;
    return UNAVAILABLE_MESSAGE.test(e.message);
  });
}

/**
 * `err` and what it wraps: `cause` chains, and the driver adapter's error Prisma keeps in
 * `meta.driverAdapterError` (with its own `cause`: `{ kind, code, originalCode }`), as Errors or
 * plain objects (given a message so one test fits both).
 */
function causesOf(err: unknown): Error[] {
  const out: Error[] = [];
  const queue: unknown[] = [err];
  while (queue.length > 0 && out.length < 10) {
    const e = queue.shift();
    if (!e || typeof e !== "object") continue;
    const message = typeof (e as { message?: unknown }).message === "string" ? (e as { message: string }).message : "";
    const { code, originalCode, kind } = e as { code?: unknown; originalCode?: unknown; kind?: unknown };
    out.push(e instanceof Error ? e : Object.assign(new Error(message), { code: code ?? originalCode, kind }));
    if (typeof originalCode === "string") out.push(Object.assign(new Error(message), { code: originalCode }));
    queue.push((e as { cause?: unknown }).cause, (e as { meta?: { driverAdapterError?: unknown } }).meta?.driverAdapterError);
  }
  return out;
}
