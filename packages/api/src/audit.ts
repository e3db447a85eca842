import type { AuditOutcome, Db, DbTx, Prisma } from "@switchyard/db";
import type { Context } from "./context";

export interface AuditEntry {
  action: string;
  targetType?: string;
  targetId?: string;
  before?: unknown;
  after?: unknown;
  outcome: AuditOutcome;
  message?: string;
  /** Overrides the session's actor, e.g. the attempted username of a failed sign-in. */
  actorName?: string;
}

// Keys whose values must never be written to the audit log, at any depth.
const SECRET_KEYS = new Set(["password", "passwordHash", "token", "secret", "currentPassword", "newPassword"]);

export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, SECRET_KEYS.has(k) ? "[redacted]" : redactSecrets(v)]),
    );
  }
  return value;
}

function toJson(value: unknown): Prisma.InputJsonValue | undefined {
  if (value === undefined || value === null) return undefined;
  return JSON.parse(JSON.stringify(redactSecrets(value))) as Prisma.InputJsonValue;
}

/** Writes one audit event; pass the transaction so the event commits with the change. */
export async function writeAudit(db: Db | DbTx, ctx: Pick<Context, "session" | "meta">, entry: AuditEntry) {
  await db.auditEvent.create({
    data: {
      actorId: ctx.session?.user.id ?? null,
      actorName: entry.actorName ?? ctx.session?.user.username ?? "anonymous",
      action: entry.action,
      targetType: entry.targetType ?? "",
      targetId: entry.targetId ?? "",
      before: toJson(entry.before),
      after: toJson(entry.after),
      requestId: ctx.meta.requestId,
      sourceIp: ctx.meta.sourceIp,
      outcome: entry.outcome,
      message: (entry.message ?? "").slice(0, 1000),
    },
  });
}
