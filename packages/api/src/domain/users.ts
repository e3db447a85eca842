import { mapPrismaError, type Db, type DbTx } from "@switchyard/db";
import type { Role } from "../roles";
import { writeAudit } from "../audit";
import { generateSecret, hashPassword } from "../auth/password";
import type { Context } from "../context";
import { ApiError } from "../errors";

type Ctx = Pick<Context, "db" | "session" | "meta">;

export const USER_SELECT = {
  id: true,
  username: true,
  displayName: true,
  role: true,
  disabled: true,
  createdAt: true,
  updatedAt: true,
} as const;

export async function listUsers(db: Db) {
  return db.user.findMany({ orderBy: { username: "asc" }, select: USER_SELECT });
}

/**
 * Enabled admins, with their rows locked until the transaction ends: two admins
 * demoting each other at once must not both see the other still in place.
 */
async function lockActiveAdmins(tx: DbTx): Promise<string[]> {
  const rows = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "User" WHERE role = 'admin' AND NOT disabled FOR UPDATE`;
  return rows.map((r) => r.id);
}

export async function createUser(
  ctx: Ctx,
  input: { username: string; displayName: string; password: string; role: Role },
) {
  const passwordHash = await hashPassword(input.password);
  try {
    return await ctx.db.$transaction(async (tx) => {
      const user = await tx.user.create({
        data: { username: input.username, displayName: input.displayName, role: input.role, passwordHash },
        select: USER_SELECT,
      });
      await writeAudit(tx, ctx, { action: "users.create", targetType: "user", targetId: user.id, after: user, outcome: "success" });
      return user;
    });
  } catch (err) {
    if (mapPrismaError(err)?.code === "CONFLICT") {
      throw new ApiError("CONFLICT", `A user named "${input.username}" already exists`, [
        { path: ["username"], message: `"${input.username}" is taken`, severity: "error" },
      ]);
    }
    throw err;
  }
}

/**
 * Changes a user's role or disabled flag. The last enabled admin can be neither
 * demoted nor disabled, so the console can never lock its admins out.
 */
export async function updateUser(ctx: Ctx, input: { id: string; role?: Role; disabled?: boolean }) {
  return ctx.db.$transaction(async (tx) => {
    const admins = await lockActiveAdmins(tx);
    const before = await tx.user.findUnique({ where: { id: input.id }, select: USER_SELECT });
    if (!before) throw new ApiError("NOT_FOUND", `User ${input.id} not found`);
    const after = await tx.user.update({
      where: { id: input.id },
      data: { role: input.role, disabled: input.disabled },
      select: USER_SELECT,
    });
    if (before.role === "admin" && !before.disabled && (after.role !== "admin" || after.disabled)) {
      if (admins.filter((id) => id !== input.id).length === 0) {
        throw new ApiError("LAST_ADMIN", `"${before.username}" is the last enabled admin: make another admin first`);
      }
    }
    if (after.disabled || after.role !== before.role) {
      // A disabled user is signed out everywhere; a role change takes effect on the next request anyway.
      if (after.disabled) await tx.session.deleteMany({ where: { userId: input.id } });
    }
    await writeAudit(tx, ctx, {
      action: input.disabled !== undefined ? "users.setDisabled" : "users.setRole",
      targetType: "user",
      targetId: input.id,
      before,
      after,
      outcome: "success",
    });
    return after;
  });
}

export async function setUserPassword(ctx: Ctx, input: { id: string; password: string; action: string }) {
  const passwordHash = await hashPassword(input.password);
  await ctx.db.$transaction(async (tx) => {
    const user = await tx.user.findUnique({ where: { id: input.id }, select: { id: true } });
    if (!user) throw new ApiError("NOT_FOUND", `User ${input.id} not found`);
    await tx.user.update({ where: { id: input.id }, data: { passwordHash } });
    // Other sessions of that user end: a password change must lock out whoever had it.
    await tx.session.deleteMany({ where: { userId: input.id, ...(ctx.session ? { id: { not: ctx.session.id } } : {}) } });
    await writeAudit(tx, ctx, { action: input.action, targetType: "user", targetId: input.id, outcome: "success" });
  });
}

/**
 * On first start (no users), creates the admin account whose password is the
 * operator-set SWITCHYARD_ADMIN_PASSWORD or a one-time secret returned for printing.
 * Never "first visitor becomes admin". Safe when several replicas start at once.
 */
export async function ensureBootstrapAdmin(
  db: Db,
  opts: { password?: string; username?: string },
): Promise<{ created: false } | { created: true; username: string; secret: string | null }> {
  const username = opts.username ?? "admin";
  const secret = opts.password ? null : generateSecret();
  const passwordHash = await hashPassword(opts.password ?? secret!);
  return db.$transaction(async (tx) => {
    // Replicas starting together on an empty database: one creates the admin, the others wait
    // here and then see it (count-then-create alone lets both create, and one fails to start).
    await tx.$queryRaw`SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtext('switchyard.first-start'), 0)) AS l`;
    if ((await tx.user.count()) > 0) return { created: false as const };
    const user = await tx.user.create({
      data: { username, displayName: "Administrator", role: "admin", passwordHash },
      select: { id: true },
    });
    await writeAudit(tx, { session: null, meta: { requestId: "bootstrap", sourceIp: "", userAgent: "" } }, {
      action: "users.bootstrap",
      targetType: "user",
      targetId: user.id,
      actorName: "system",
      after: { username, role: "admin", passwordFrom: opts.password ? "SWITCHYARD_ADMIN_PASSWORD" : "bootstrap secret" },
      outcome: "success",
    });
    return { created: true as const, username, secret };
  });
}
