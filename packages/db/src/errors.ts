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
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "P2024") return true;
    if (code === "P2028" && /unable to start a transaction in the given time/i.test(e.message)) return true;
    if (/timeout exceeded when trying to connect/i.test(e.message)) return true;
  }
  return false;
}
