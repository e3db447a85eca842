import type { Db } from "@switchyard/db";
import { writeAudit } from "../audit";
import { getDummyHash, verifyPassword } from "../auth/password";
import { clearSessionCookie, createSession, deleteSession, serializeSessionCookie } from "../auth/session";
import type { Context } from "../context";
import { ApiError } from "../errors";

export async function signIn(ctx: Context, input: { username: string; password: string }) {
  const user = await ctx.db.user.findUnique({
    where: { username: input.username },
    select: { id: true, username: true, role: true, disabled: true, passwordHash: true },
  });
  // Verify against a dummy hash for unknown users so response time does not reveal which names exist.
  const ok = await verifyPassword(input.password, user?.passwordHash ?? (await getDummyHash()));
  if (!user || !ok || user.disabled) {
    await writeAudit(ctx.db, ctx, {
      action: "auth.signIn",
      targetType: "user",
      targetId: user?.id ?? "",
      actorName: input.username.slice(0, 64),
      outcome: "denied",
      message: user?.disabled && ok ? "user is disabled" : "wrong username or password",
    });
    throw new ApiError("UNAUTHORIZED", "Wrong username or password");
  }
  const { token, expiresAt } = await createSession(ctx.db, {
    userId: user.id,
    policy: ctx.sessionPolicy,
    sourceIp: ctx.meta.sourceIp,
    userAgent: ctx.meta.userAgent,
  });
  ctx.setCookie(serializeSessionCookie(token, { expiresAt, secure: ctx.secureCookies }));
  await writeAudit(ctx.db, { ...ctx, session: null }, {
    action: "auth.signIn",
    targetType: "user",
    targetId: user.id,
    actorName: user.username,
    outcome: "success",
  });
  return { username: user.username, role: user.role, expiresAt };
}

export async function signOut(ctx: Context & { session: NonNullable<Context["session"]> }) {
  await deleteSession(ctx.db, ctx.session.id);
  ctx.setCookie(clearSessionCookie(ctx.secureCookies));
  await writeAudit(ctx.db, ctx, { action: "auth.signOut", targetType: "user", targetId: ctx.session.user.id, outcome: "success" });
}

export async function readPasswordHash(db: Db, userId: string): Promise<string> {
  const row = await db.user.findUniqueOrThrow({ where: { id: userId }, select: { passwordHash: true } });
  return row.passwordHash;
}
