import { createHash } from "node:crypto";
import type { Db, Prisma } from "@switchyard/db";
import { writeAudit } from "../audit";
import { hashSecret, looksLike, newSecret } from "../auth/secrets";
import type { AgentIdentity, Context } from "../context";
import { ApiError } from "../errors";
import { conflistDigest } from "@switchyard/cni/digest";
import { hostRenderer } from "./ipamBlocks";
import { readInventory, readPortMappings } from "./parsed";
import { dbNow, dbNowMs } from "../clock";

type Ctx = Pick<Context, "db" | "events" | "session" | "meta">;

/** Agents heartbeat this often; a host unseen for three beats is offline. */
export const HEARTBEAT_INTERVAL_MS = 10_000;
export const OFFLINE_AFTER_MS = 3 * HEARTBEAT_INTERVAL_MS;
/** A host credential lives 30 days; agents rotate it once less than 10 are left. */
export const CREDENTIAL_TTL_MS = 30 * 24 * 3600_000;
export const CREDENTIAL_ROTATE_BEFORE_MS = 10 * 24 * 3600_000;

export async function createJoinToken(ctx: Ctx, input: { note: string; ttlMinutes: number }) {
  const { secret, hash } = newSecret("join");
  const expiresAt = new Date(dbNowMs() + input.ttlMinutes * 60_000);
  const user = ctx.session!.user;
  const row = await ctx.db.$transaction(async (tx) => {
    const created = await tx.joinToken.create({
      data: { tokenHash: hash, note: input.note, expiresAt, createdById: user.id, createdByName: user.username },
      select: { id: true, note: true, expiresAt: true, createdAt: true },
    });
    await writeAudit(tx, ctx, { action: "hosts.createJoinToken", targetType: "joinToken", targetId: created.id, after: { note: input.note, expiresAt }, outcome: "success" });
    return created;
  });
  // The token itself is returned once and never again.
  return { ...row, token: secret };
}

export async function listJoinTokens(db: Db) {
  const rows = await db.joinToken.findMany({
    orderBy: { createdAt: "desc" },
    take: 100,
    select: { id: true, note: true, createdByName: true, createdAt: true, expiresAt: true, usedAt: true, hostId: true },
  });
  const now = dbNowMs();
  return rows.map((r) => ({ ...r, state: r.usedAt ? ("used" as const) : r.expiresAt.getTime() <= now ? ("expired" as const) : ("unused" as const) }));
}

export async function deleteJoinToken(ctx: Ctx, id: string) {
  await ctx.db.$transaction(async (tx) => {
    const { count } = await tx.joinToken.deleteMany({ where: { id, usedAt: null } });
    if (count === 0) throw new ApiError("NOT_FOUND", "No unused join token with this id");
    await writeAudit(tx, ctx, { action: "hosts.deleteJoinToken", targetType: "joinToken", targetId: id, outcome: "success" });
  });
}

export interface EnrollInput {
  joinToken: string;
  hostname: string;
  agentVersion: string;
  enrolmentKey?: string | undefined;
}

/** How long after its use a join token may be traded again by the agent that used it (with its enrolment key). */
export const ENROLMENT_REPEAT_MS = 60 * 60_000;

/**
 * Trades a join token for a host credential. The token is consumed atomically (single use);
 * a host name already enrolled must be revoked first, and is then re-enrolled in place.
 *
 * An enrolment whose answer was lost (a proxy's 502 after the commit, a timeout, the agent killed
 * before it wrote the credential) is asked again with the same token: when the agent sends the
 * same enrolment key as with the first use, within ENROLMENT_REPEAT_MS, for the same host name,
 * the host is not revoked and still holds the credential of that enrolment, the answer is that
 * same credential again instead of "token used", which would make it give up. With a key the
 * credential is derived from it (whoever could read the key could read the answer), so every
 * try of one enrolment answers the same: a late first try processed after its retry cannot
 * replace the credential the agent kept. Nothing is written on a repeat but its audit row.
 */
export async function enrollHost(ctx: Pick<Context, "db" | "events" | "meta">, input: EnrollInput) {
  const refused = () => new ApiError("UNAUTHORIZED", "Join token is unknown, used or expired");
  if (!looksLike("join", input.joinToken)) throw refused();
  const tokenHash = hashSecret(input.joinToken);
  const { secret, hash } = input.enrolmentKey ? credentialOfEnrolment(tokenHash, input.enrolmentKey) : newSecret("host");
  const keyHash = input.enrolmentKey ? hashSecret(input.enrolmentKey) : null;
  const host = await ctx.db.$transaction(async (tx) => {
    const credentialExpiresAt = new Date(dbNowMs() + CREDENTIAL_TTL_MS);
    const token = await tx.joinToken.findUnique({ where: { tokenHash }, select: { id: true } });
    if (!token) throw refused();
    const { count } = await tx.joinToken.updateMany({ where: { id: token.id, usedAt: null, expiresAt: { gt: dbNow() } }, data: { usedAt: dbNow(), enrolmentKeyHash: keyHash } });
    if (count === 0) {
      // Read after the claim: a concurrent first use of this token has committed by now.
      const used = await tx.joinToken.findUnique({ where: { id: token.id }, select: { usedAt: true, hostId: true, enrolmentKeyHash: true } });
      const repeat = keyHash !== null && used?.enrolmentKeyHash === keyHash && used.hostId && used.usedAt && dbNowMs() - used.usedAt.getTime() < ENROLMENT_REPEAT_MS;
      if (!repeat) throw refused();
      // Still that enrolment's credential (not revoked, not rotated since: then the agent had its answer).
      const held = await tx.host.findFirst({ where: { id: used.hostId!, name: input.hostname, revokedAt: null, credentialHash: hash }, select: { id: true, name: true, credentialExpiresAt: true } });
      if (!held) throw refused();
      await writeAudit(tx, { session: null, meta: ctx.meta }, {
        action: "agent.enroll",
        actorName: `host:${held.name}`,
        targetType: "host",
        targetId: held.id,
        after: { name: held.name, agentVersion: input.agentVersion, repeated: true },
        outcome: "success",
      });
      return held;
    }
    const existing = await tx.host.findUnique({ where: { name: input.hostname }, select: { id: true, revokedAt: true } });
    if (existing && !existing.revokedAt) {
      throw new ApiError("CONFLICT", `A host named "${input.hostname}" is enrolled; revoke it before enrolling it again`);
    }
    const data = { credentialHash: hash, credentialExpiresAt, pendingCredentialHash: null, revokedAt: null, revokedByName: "", agentVersion: input.agentVersion, lastSeenAt: dbNow(), enrolledAt: dbNow() };
    const saved = existing
      ? await tx.host.update({ where: { id: existing.id }, data, select: { id: true, name: true, credentialExpiresAt: true } })
      : await tx.host.create({ data: { name: input.hostname, ...data }, select: { id: true, name: true, credentialExpiresAt: true } });
    await tx.joinToken.update({ where: { id: token.id }, data: { hostId: saved.id } });
    await writeAudit(tx, { session: null, meta: ctx.meta }, {
      action: "agent.enroll",
      actorName: `host:${saved.name}`,
      targetType: "host",
      targetId: saved.id,
      after: { name: saved.name, agentVersion: input.agentVersion, reenrolled: Boolean(existing) },
      outcome: "success",
    });
    return saved;
  });
  forgetHostCredentials(ctx.db, host.id);
  ctx.events.publish("host", { kind: "enrolled", hostId: host.id });
  return { hostId: host.id, hostName: host.name, credential: secret, credentialExpiresAt: host.credentialExpiresAt };
}

/** The credential of an enrolment with a key: the same for every try of it (see enrollHost). */
function credentialOfEnrolment(tokenHash: string, enrolmentKey: string): { secret: string; hash: string } {
  const secret = `syh_${createHash("sha256").update(`switchyard enrolment\0${tokenHash}\0${enrolmentKey}`).digest("base64url")}`;
  return { secret, hash: hashSecret(secret) };
}

/**
 * Recently authenticated credentials, per database: every agent call authenticates, and with 50
 * operations at once the lookup was one statement in seven. An entry lives a few seconds (never
 * past the credential's expiry); a revocation, a re-enrolment or a rotation taking effect in this
 * process drops the host's entries at once. Another console replica's revocation is seen within
 * CREDENTIAL_CACHE_MS (its push stream is closed by that replica at once).
 */
export const CREDENTIAL_CACHE_MS = 5_000;
const credentialCache = new WeakMap<Db, Map<string, { identity: AgentIdentity; until: number }>>();

function cacheOf(db: Db): Map<string, { identity: AgentIdentity; until: number }> {
  let cache = credentialCache.get(db);
  if (!cache) credentialCache.set(db, (cache = new Map()));
  return cache;
}

/** Forgets every cached credential of a host (revoked, re-enrolled, or its rotated credential now in use). */
export function forgetHostCredentials(db: Db, hostId: string): void {
  const cache = credentialCache.get(db);
  if (!cache) return;
  for (const [hash, entry] of cache) if (entry.identity.hostId === hostId) cache.delete(hash);
}

/**
 * The host behind a bearer credential, or null. A rotated credential becomes the current one
 * the first time it is used; revoked hosts and expired credentials are refused.
 */
export async function authenticateAgent(db: Db, credential: string): Promise<AgentIdentity | null> {
  if (!looksLike("host", credential)) return null;
  const hash = hashSecret(credential);
  const cache = cacheOf(db);
  const cached = cache.get(hash);
  // The cache keeps this process's own time; the credential's expiry is the database's (below).
  if (cached && cached.until > Date.now()) return cached.identity;
  cache.delete(hash);
  const host = await db.host.findFirst({
    where: { OR: [{ credentialHash: hash }, { pendingCredentialHash: hash }] },
    select: { id: true, name: true, credentialHash: true, credentialExpiresAt: true, pendingCredentialHash: true, revokedAt: true },
  });
  if (!host || host.revokedAt) return null;
  let expiresAt = host.credentialExpiresAt.getTime();
  if (host.pendingCredentialHash === hash) {
    expiresAt = dbNowMs() + CREDENTIAL_TTL_MS;
    await db.host.updateMany({
      where: { id: host.id, pendingCredentialHash: hash },
      data: { credentialHash: hash, pendingCredentialHash: null, credentialExpiresAt: new Date(expiresAt) },
    });
    // The previous credential stops working now: not even from the cache.
    forgetHostCredentials(db, host.id);
  } else if (expiresAt <= dbNowMs()) {
    return null;
  }
  const identity = { hostId: host.id, hostName: host.name };
  if (cache.size >= 10_000) cache.clear(); // bounded: credentials are per host, not per call
  cache.set(hash, { identity, until: Date.now() + Math.min(CREDENTIAL_CACHE_MS, expiresAt - dbNowMs()) });
  return identity;
}

/** Issues the next credential; the current one stays valid until the new one is first used. */
export async function rotateCredential(db: Db, agent: AgentIdentity) {
  const { secret, hash } = newSecret("host");
  await db.host.update({ where: { id: agent.hostId }, data: { pendingCredentialHash: hash } });
  return { credential: secret, credentialExpiresAt: new Date(dbNowMs() + CREDENTIAL_TTL_MS) };
}

export async function heartbeat(ctx: Pick<Context, "db" | "events">, agent: AgentIdentity, input: { agentVersion: string; inventory?: unknown; inventoryUnchanged?: true }) {
  const now = dbNow();
  const host = await ctx.db.host.update({
    where: { id: agent.hostId },
    data: {
      lastSeenAt: now,
      agentVersion: input.agentVersion,
      ...(input.inventory !== undefined
        ? { inventory: input.inventory as Prisma.InputJsonValue, inventoryAt: now }
        : // Confirmed as it stands: fresh as of now (the doctor's "inventory fresh" check), without the document sent again.
          input.inventoryUnchanged
          ? { inventoryAt: now }
          : {}),
    },
    select: { credentialExpiresAt: true },
  });
  if (input.inventory !== undefined) ctx.events.publish("host", { kind: "seen", hostId: agent.hostId });
  return {
    serverTime: now,
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    rotateCredential: host.credentialExpiresAt.getTime() - now.getTime() < CREDENTIAL_ROTATE_BEFORE_MS,
  };
}

export function liveness(lastSeenAt: Date | null, revokedAt: Date | null): "online" | "offline" | "revoked" {
  if (revokedAt) return "revoked";
  return lastSeenAt && dbNowMs() - lastSeenAt.getTime() < OFFLINE_AFTER_MS ? "online" : "offline";
}

export async function getHost(db: Db, id: string) {
  const host = await db.host.findUnique({
    where: { id },
    select: { id: true, name: true, enrolledAt: true, revokedAt: true, revokedByName: true, lastSeenAt: true, agentVersion: true, inventory: true, inventoryAt: true, credentialExpiresAt: true, labels: true },
  });
  if (!host) throw new ApiError("NOT_FOUND", `No host with id ${id}`);
  const inventory = readInventory(host.inventory);
  return { ...host, labels: (host.labels ?? {}) as Record<string, string>, inventory, liveness: liveness(host.lastSeenAt, host.revokedAt), offlineAfterMs: OFFLINE_AFTER_MS, confDrift: await confDrift(db, inventory, host.id) };
}

/** A file in the host's CNI conf dir against the console's network of the same name. */
export interface ConfDrift {
  file: string;
  networkName: string;
  /** in-sync: the latest revision; older: an earlier revision; differs: no revision; unmanaged: no such network in the console. */
  status: "in-sync" | "older" | "differs" | "unmanaged";
  /** The revision the file matches (in-sync, older). */
  revision?: number;
  latestRevision?: number;
}

/**
 * Drift between the host's conf dir and the console: each file the agent reported with a digest
 * (sha256 of its canonical JSON as parseNetworkConfig reads it) against every revision of the
 * console's network of that name. Tools on the host (containerd, nerdctl, cnitool) read those
 * files, so a file behind the console means containers they start get the old config.
 */
export async function confDrift(db: Db, inventory: unknown, hostId: string): Promise<ConfDrift[]> {
  const files = ((inventory as { confFiles?: { file: string; networkName?: string; digest?: string }[] } | null)?.confFiles ?? []).filter(
    (f): f is { file: string; networkName: string; digest: string } => typeof f.networkName === "string" && typeof f.digest === "string",
  );
  if (files.length === 0) return [];
  const networks = await db.network.findMany({
    where: { name: { in: [...new Set(files.map((f) => f.networkName))] } },
    select: { name: true, latestRevision: true, revisions: { select: { number: true, conflist: true }, orderBy: { number: "asc" } } },
  });
  // Each revision as this host would run it: narrowed to the host's blocks where the network has per-host blocks.
  const render = await hostRenderer(db, hostId, networks.map((n) => n.name));
  // In revision order: when a rollback made two revisions alike, the file matches the later one.
  const byName = new Map(
    networks.map((n) => [n.name, { latest: n.latestRevision, revisionOf: new Map(n.revisions.map((r) => [conflistDigest(render(n.name, r.conflist)), r.number])) }]),
  );
  return files.map(({ file, networkName, digest }) => {
    const network = byName.get(networkName);
    if (!network) return { file, networkName, status: "unmanaged" as const };
    const revision = network.revisionOf.get(digest);
    if (revision === undefined) return { file, networkName, status: "differs" as const, latestRevision: network.latest };
    return { file, networkName, status: revision === network.latest ? ("in-sync" as const) : ("older" as const), revision, latestRevision: network.latest };
  });
}

/** Revokes a host at once: its credential is refused from the next request, its stream is closed. */
export async function revokeHost(ctx: Ctx, id: string) {
  await ctx.db.$transaction(async (tx) => {
    const { count } = await tx.host.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: dbNow(), revokedByName: ctx.session!.user.username, pendingCredentialHash: null } });
    if (count === 0) throw new ApiError("NOT_FOUND", "No enrolled (unrevoked) host with this id");
    await writeAudit(tx, ctx, { action: "hosts.revoke", targetType: "host", targetId: id, outcome: "success" });
  });
  forgetHostCredentials(ctx.db, id);
  ctx.events.publish("host", { kind: "revoked", hostId: id });
}

/**
 * The quick start's local agent: while no host is enrolled, a fresh join token (valid one hour)
 * is written to `file` (0600) unless one is there already. Returns whether a token was written.
 */
export async function writeLocalJoinToken(db: Db, file: string): Promise<boolean> {
  const { existsSync, mkdirSync, writeFileSync } = await import("node:fs");
  const { dirname } = await import("node:path");
  if (existsSync(file) || (await db.host.count()) > 0) return false;
  const { secret, hash } = newSecret("join");
  await db.$transaction(async (tx) => {
    const row = await tx.joinToken.create({ data: { tokenHash: hash, note: "local agent (quick start)", createdByName: "system", expiresAt: new Date(dbNowMs() + 3600_000) }, select: { id: true } });
    await writeAudit(tx, { session: null, meta: { requestId: "", sourceIp: "", userAgent: "" } }, { action: "hosts.createJoinToken", actorName: "system", targetType: "joinToken", targetId: row.id, after: { note: "local agent (quick start)", file }, outcome: "success" });
  });
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return true;
}

/** Asks the host's agent to reconcile now: DEL stale attachments, CNI GC with the valid set, a fresh inventory. */
export async function requestReconcile(ctx: Ctx, id: string) {
  const host = await ctx.db.host.findUnique({ where: { id }, select: { revokedAt: true } });
  if (!host) throw new ApiError("NOT_FOUND", "No host with this id");
  if (host.revokedAt) throw new ApiError("CONFLICT", "This host is revoked");
  await writeAudit(ctx.db, ctx, { action: "hosts.reconcile", targetType: "host", targetId: id, outcome: "success" });
  ctx.events.publish("host", { kind: "reconcile", hostId: id });
}

/** A host port an attachment on the host maps (taken until the attachment's DEL has finished). */
export interface TakenHostPort {
  hostPort: number;
  protocol: string;
  /** "" when the mapping takes the port on every address. */
  hostIP: string;
  containerPort: number;
  attachmentId: string;
  containerId: string;
  ifName: string;
  networkName: string;
  state: string;
}

/** The host ports taken on a host, by port: what a new mapping there must avoid. */
export async function listHostPorts(db: Db, hostId: string): Promise<TakenHostPort[]> {
  const host = await db.host.findUnique({ where: { id: hostId }, select: { id: true } });
  if (!host) throw new ApiError("NOT_FOUND", `No host with id ${hostId}`);
  const rows = await db.attachment.findMany({
    where: { hostId, state: { not: "detached" } },
    select: { id: true, containerId: true, ifName: true, networkName: true, state: true, capabilityArgs: true },
  });
  return rows
    .flatMap((a) =>
      readPortMappings(a.capabilityArgs).map((m) => ({
        hostPort: m.hostPort,
        protocol: m.protocol,
        hostIP: m.hostIP ?? "",
        containerPort: m.containerPort,
        attachmentId: a.id,
        containerId: a.containerId,
        ifName: a.ifName,
        networkName: a.networkName,
        state: a.state,
      })),
    )
    .sort((x, y) => x.hostPort - y.hostPort || x.protocol.localeCompare(y.protocol) || x.hostIP.localeCompare(y.hostIP));
}
