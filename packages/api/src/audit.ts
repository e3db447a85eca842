import type { AuditOutcome, Db, DbTx, Prisma } from "@switchyard/db";
import { tokenActorName } from "./auth/apiTokens";
import type { Context } from "./context";

export interface AuditEntry {
  action: string;
  targetType?: string;
  targetId?: string;
  /** The target's name as the event should show it; looked up when not given. */
  targetName?: string;
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

function nameIn(value: unknown): string | undefined {
  if (!value || typeof value !== "object") return undefined;
  const v = value as { name?: unknown; username?: unknown };
  return typeof v.name === "string" ? v.name : typeof v.username === "string" ? v.username : undefined;
}

/**
 * The target's name, kept with the event so that it still reads once the target is renamed or
 * gone: the entry's own, else the name its before/after carries, else one lookup by id.
 */
async function targetNameOf(db: Db | DbTx, entry: AuditEntry): Promise<string> {
  const known = entry.targetName ?? nameIn(entry.after) ?? nameIn(entry.before);
  if (known !== undefined) return known;
  const id = entry.targetId;
  if (!id) return "";
  switch (entry.targetType) {
    case "network":
      return (await db.network.findUnique({ where: { id }, select: { name: true } }))?.name ?? "";
    case "host":
      return (await db.host.findUnique({ where: { id }, select: { name: true } }))?.name ?? "";
    case "user":
      return (await db.user.findUnique({ where: { id }, select: { username: true } }))?.username ?? "";
    case "attachment": {
      const a = await db.attachment.findUnique({ where: { id }, select: { containerId: true, ifName: true, networkName: true } });
      return a ? `${a.containerId}/${a.ifName} on ${a.networkName}` : "";
    }
    case "operation": {
      const op = await db.operation.findUnique({ where: { id }, select: { kind: true, attachment: { select: { containerId: true, ifName: true, networkName: true } } } });
      return op ? `${op.kind} of ${op.attachment.containerId}/${op.attachment.ifName} on ${op.attachment.networkName}` : "";
    }
    default:
      return "";
  }
}

/** Writes one audit event; pass the transaction so the event commits with the change. */
export async function writeAudit(db: Db | DbTx, ctx: Pick<Context, "session" | "meta"> & { token?: Context["token"] }, entry: AuditEntry) {
  const targetName = (await targetNameOf(db, entry)).slice(0, 300);
  // A token acts for its user: the event names both.
  const token = ctx.token ?? null;
  await db.auditEvent.create({
    data: {
      actorId: ctx.session?.user.id ?? token?.user.id ?? null,
      actorName: entry.actorName ?? (token ? tokenActorName(token) : (ctx.session?.user.username ?? "anonymous")),
      action: entry.action,
      targetType: entry.targetType ?? "",
      targetId: entry.targetId ?? "",
      targetName,
      before: toJson(entry.before),
      after: toJson(entry.after),
      requestId: ctx.meta.requestId,
      sourceIp: ctx.meta.sourceIp,
      outcome: entry.outcome,
      message: (entry.message ?? "").slice(0, 1000),
    },
  });
}
