import { createHash, randomBytes } from "node:crypto";
import type { Db, Role } from "@switchyard/db";
import { dbNowMs } from "../clock";

export const SESSION_COOKIE = "sy_session";

export interface SessionUser {
  id: string;
  username: string;
  displayName: string;
  role: Role;
}

export interface Session {
  id: string;
  user: SessionUser;
  expiresAt: Date;
}

export interface SessionPolicy {
  /** Idle lifetime; a session seen after half of it has passed is extended. */
  ttlMs: number;
}

/** Only the SHA-256 of the cookie token is stored, so a database leak yields no usable session. */
export function hashSessionToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export async function createSession(
  db: Db,
  opts: { userId: string; policy: SessionPolicy; sourceIp: string; userAgent: string },
): Promise<{ token: string; expiresAt: Date }> {
  const token = randomBytes(32).toString("base64url");
  const expiresAt = new Date(dbNowMs() + opts.policy.ttlMs);
  await db.session.create({
    data: {
      id: hashSessionToken(token),
      userId: opts.userId,
      expiresAt,
      sourceIp: opts.sourceIp.slice(0, 64),
      userAgent: opts.userAgent.slice(0, 256),
    },
  });
  return { token, expiresAt };
}

/** Resolves a cookie token to a live session of an enabled user, extending it when due. */
export async function validateSessionToken(db: Db, token: string, policy: SessionPolicy): Promise<Session | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const id = hashSessionToken(token);
  const row = await db.session.findUnique({
    where: { id },
    select: {
      id: true,
      expiresAt: true,
      user: { select: { id: true, username: true, displayName: true, role: true, disabled: true } },
    },
  });
  if (!row) return null;
  // The database's clock: a session written by another replica expires when the TTL says, whatever this host's clock.
  const now = dbNowMs();
  if (row.expiresAt.getTime() <= now || row.user.disabled) {
    await db.session.deleteMany({ where: { id } });
    return null;
  }
  let expiresAt = row.expiresAt;
  if (expiresAt.getTime() - now < policy.ttlMs / 2) {
    expiresAt = new Date(now + policy.ttlMs);
    await db.session.update({ where: { id }, data: { expiresAt, lastSeenAt: new Date(now) } });
  }
  const { disabled: _disabled, ...user } = row.user;
  return { id, user, expiresAt };
}

export async function deleteSession(db: Db, sessionId: string): Promise<void> {
  await db.session.deleteMany({ where: { id: sessionId } });
}

export function serializeSessionCookie(token: string, opts: { expiresAt: Date; secure: boolean }): string {
  const maxAge = Math.max(0, Math.floor((opts.expiresAt.getTime() - dbNowMs()) / 1000));
  return [
    `${SESSION_COOKIE}=${token}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Lax",
    `Max-Age=${maxAge}`,
    ...(opts.secure ? ["Secure"] : []),
  ].join("; ");
}

export function clearSessionCookie(secure: boolean): string {
  return [`${SESSION_COOKIE}=`, "Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=0", ...(secure ? ["Secure"] : [])].join(
    "; ",
  );
}

export function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
