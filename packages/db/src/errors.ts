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
