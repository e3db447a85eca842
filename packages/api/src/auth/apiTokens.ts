import type { Db } from "@switchyard/db";
import { writeAudit } from "../audit";
import type { Context } from "../context";
import { ApiError } from "../errors";
import { type Role, hasRole } from "../roles";
import type { ApiTokenScope, CreateApiTokenInput } from "../schemas/apiTokens";
import type { SessionUser } from "./session";
import { hashSecret, looksLike, newSecret } from "./secrets";
import { dbNow, dbNowMs } from "../clock";

/**
 * API tokens: credentials for automation that act for their user and never beyond them. The
 * secret (`syt_…`) is shown once and stored as its SHA-256. Every use re-reads the token with its
 * user, so a token stops working at once when it is revoked or expires, or when its user is
 * disabled, deleted (cascade) or falls below the role the token needs (a registrar token:
 * operator; a general token: its own role): there is no cache to outlive a demotion.
 */

/** The role a registrar token needs its user to hold, at creation and at every use; a general token needs its own role. */
export const SCOPE_NEEDS: Readonly<Record<"registrar", Role>> = { registrar: "operator" };

const neededRole = (t: { scope: ApiTokenScope; role: Role | null }): Role => (t.scope === "general" ? (t.role ?? "admin") : SCOPE_NEEDS[t.scope]);

/** A caller authenticated by an API token (the console endpoint, `Authorization: Bearer syt_…`). */
export interface TokenIdentity {
  id: string;
  name: string;
  scope: ApiTokenScope;
  /** A general token's role (what it may do); null for a registrar token. */
  role: Role | null;
  readOnly: boolean;
  /** Services a registrar token may register into (empty: every one); a general token's limits with networkIds (both empty: none). */
  serviceIds: string[];
  /** Networks a general token may touch (see tokenLimits.ts). */
  networkIds: string[];
  user: Pick<SessionUser, "id" | "username" | "role">;
}

/** `lastUsedAt` is written at most this often per token: a process renewing every few seconds costs no write each time. */
const LAST_USED_EVERY_MS = 60_000;

type Ctx = Pick<Context, "db" | "session" | "meta">;

function signedIn(ctx: Ctx): SessionUser {
  if (!ctx.session) throw new ApiError("UNAUTHORIZED", "Sign in first: tokens are made by people, not by other tokens");
  return ctx.session.user;
}

export async function createApiToken(ctx: Ctx, input: CreateApiTokenInput): Promise<{ id: string; token: string; expiresAt: Date | null }> {
  const user = signedIn(ctx);
  const needs = neededRole({ scope: input.scope, role: input.role ?? null });
  if (!hasRole(user.role, needs)) {
    throw new ApiError("FORBIDDEN", input.scope === "general" ? `A token's role cannot be above yours: you are ${user.role}, the token asks for ${needs}` : `A ${input.scope} token needs the ${needs} role; you are ${user.role}`, [{ path: [input.scope === "general" ? "role" : "scope"], message: `at most ${user.role}`, severity: "error" }]);
  }
  if (input.expiresInDays === null && user.role !== "admin") {
    throw new ApiError("FORBIDDEN", "Only admins may create a token that never expires: give it a lifetime in days", [{ path: ["expiresInDays"], message: "give a lifetime in days", severity: "error" }]);
  }
  const services = await idsByName("service", input.services, (names) => ctx.db.service.findMany({ where: { name: { in: names } }, select: { id: true, name: true } }));
  const networks = await idsByName("network", input.networks, (names) => ctx.db.network.findMany({ where: { name: { in: names } }, select: { id: true, name: true } }));
  const { secret, hash } = newSecret("token");
  const expiresAt = input.expiresInDays === null ? null : new Date(dbNowMs() + input.expiresInDays * 86_400_000);
  return ctx.db.$transaction(async (tx) => {
    const taken = await tx.apiToken.findUnique({ where: { userId_name: { userId: user.id, name: input.name } }, select: { id: true } });
    if (taken) throw new ApiError("CONFLICT", `You already have a token named "${input.name}": revoke it or choose another name`, [{ path: ["name"], message: "taken", severity: "error" }]);
    const row = await tx.apiToken.create({
      data: { name: input.name, secretHash: hash, hint: secret.slice(0, 8), userId: user.id, scope: input.scope, role: input.role ?? null, readOnly: input.readOnly, serviceIds: services.map((s) => s.id), networkIds: networks.map((n) => n.id), expiresAt },
      select: { id: true },
    });
    await writeAudit(tx, ctx, {
      action: "tokens.create",
      targetType: "token",
      targetId: row.id,
      targetName: input.name,
      after: { name: input.name, scope: input.scope, role: input.role ?? null, readOnly: input.readOnly, services: services.map((s) => s.name), networks: networks.map((n) => n.name), expiresAt },
      outcome: "success",
    });
    return { id: row.id, token: secret, expiresAt };
  });
}

/** The objects named, every one of which must exist (limits name what is there, never what may come). */
async function idsByName(kind: "network" | "service", wanted: readonly string[], find: (names: string[]) => Promise<{ id: string; name: string }[]>) {
  const names = [...new Set(wanted)];
  if (names.length === 0) return [];
  const found = await find(names);
  const missing = names.filter((n) => !found.some((f) => f.name === n));
  if (missing.length) {
    throw new ApiError("BAD_INPUT", `No ${kind} named ${missing.map((m) => `"${m}"`).join(", ")}`, [{ path: [`${kind}s`], message: `unknown: ${missing.join(", ")}`, severity: "error" }]);
  }
  return found;
}

/** The signed-in user's tokens (an admin sees everyone's), newest first; never a secret. */
export async function listApiTokens(ctx: Ctx) {
  const user = signedIn(ctx);
  const rows = await ctx.db.apiToken.findMany({
    where: user.role === "admin" ? {} : { userId: user.id },
    orderBy: { createdAt: "desc" },
    take: 500,
    select: {
      id: true, name: true, hint: true, scope: true, role: true, readOnly: true, serviceIds: true, networkIds: true, expiresAt: true, createdAt: true,
      lastUsedAt: true, lastUsedIp: true, revokedAt: true, revokedByName: true, user: { select: { username: true } },
    },
  });
  const [services, networks] = await Promise.all([
    ctx.db.service.findMany({ where: { id: { in: [...new Set(rows.flatMap((r) => r.serviceIds))] } }, select: { id: true, name: true } }),
    ctx.db.network.findMany({ where: { id: { in: [...new Set(rows.flatMap((r) => r.networkIds))] } }, select: { id: true, name: true } }),
  ]);
  const serviceName = new Map(services.map((s) => [s.id, s.name]));
  const networkName = new Map(networks.map((n) => [n.id, n.name]));
  const now = dbNowMs();
  return rows.map(({ serviceIds, networkIds, user: owner, ...r }) => ({
    ...r,
    owner: owner.username,
    services: serviceIds.map((id) => serviceName.get(id) ?? "(deleted service)"),
    networks: networkIds.map((id) => networkName.get(id) ?? "(deleted network)"),
    status: r.revokedAt ? ("revoked" as const) : r.expiresAt && r.expiresAt.getTime() <= now ? ("expired" as const) : ("active" as const),
  }));
}

/** Revokes a token at once: its owner's, or anyone's for an admin. Revoking twice is a no-op. */
export async function revokeApiToken(ctx: Ctx, input: { id: string }): Promise<{ revoked: boolean }> {
  const user = signedIn(ctx);
  return ctx.db.$transaction(async (tx) => {
    const row = await tx.apiToken.findUnique({ where: { id: input.id }, select: { id: true, name: true, userId: true, revokedAt: true } });
    if (!row || (row.userId !== user.id && user.role !== "admin")) throw new ApiError("NOT_FOUND", `No token ${input.id} of yours`);
    if (row.revokedAt) return { revoked: false };
    await tx.apiToken.update({ where: { id: row.id }, data: { revokedAt: dbNow(), revokedByName: user.username } });
    await writeAudit(tx, ctx, { action: "tokens.revoke", targetType: "token", targetId: row.id, targetName: row.name, outcome: "success" });
    return { revoked: true };
  });
}

/**
 * The identity behind a bearer token, or null when it is not one, unknown, revoked, expired, or its
 * user is disabled or below the role the scope needs. Records when and from where it was last used.
 */
export async function authenticateApiToken(db: Db, secret: string, sourceIp: string): Promise<TokenIdentity | null> {
  if (!looksLike("token", secret)) return null;
  const row = await db.apiToken.findUnique({
    where: { secretHash: hashSecret(secret) },
    select: {
      id: true, name: true, scope: true, role: true, readOnly: true, serviceIds: true, networkIds: true, expiresAt: true, revokedAt: true, lastUsedAt: true,
      user: { select: { id: true, username: true, role: true, disabled: true } },
    },
  });
  const now = dbNowMs();
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= now)) return null;
  if (row.user.disabled || !hasRole(row.user.role, neededRole(row))) return null;
  if (!row.lastUsedAt || now - row.lastUsedAt.getTime() >= LAST_USED_EVERY_MS) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date(now), lastUsedIp: sourceIp.slice(0, 64) } });
  }
  const { disabled: _disabled, ...user } = row.user;
  return { id: row.id, name: row.name, scope: row.scope, role: row.role, readOnly: row.readOnly, serviceIds: row.serviceIds, networkIds: row.networkIds, user };
}

/** How a token's actions read in the audit log: its user, and which of their tokens. */
export const tokenActorName = (t: TokenIdentity) => `${t.user.username} (token ${t.name})`;
