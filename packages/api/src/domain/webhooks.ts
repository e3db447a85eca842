import { randomBytes } from "node:crypto";
import { writeAudit } from "../audit";
import type { Context } from "../context";
import { ApiError } from "../errors";
import { hasRole } from "../roles";
import type { CreateWebhookInput, UpdateWebhookInput } from "../schemas/webhooks";
import { DestinationError, checkDestination, type DestinationPolicy } from "./webhookDestination";
import { enqueueTestEvent } from "./webhookEvents";
import { dbNow } from "../clock";

/**
 * Webhooks (issue 13 §5): admins create, change, delete, test and redeliver them (the router
 * checks the role; these functions check again what differs by role). Operators and admins read
 * the list and the delivery log; an operator sees a URL's origin only (URLs of chat services
 * carry their credential in the path). The signing secret is shown once, at creation.
 */

type Ctx = Pick<Context, "db" | "session" | "meta" | "token" | "reservedHostPorts" | "publicUrl">;

const policyOf = (ctx: Ctx, allowLocal: boolean): DestinationPolicy => ({ allowLocal, ownPorts: ctx.reservedHostPorts, publicUrl: ctx.publicUrl });

/** A destination refused says why, on the field. */
async function checkUrl(ctx: Ctx, url: string, allowLocal: boolean) {
  try {
    // A name that does not resolve yet is accepted here; every delivery resolves and checks again.
    await checkDestination(url, policyOf(ctx, allowLocal), { requireResolved: false });
  } catch (err) {
    if (err instanceof DestinationError) throw new ApiError("BAD_INPUT", err.message, [{ path: ["url"], message: err.message, severity: "error" }]);
    throw err;
  }
}

function user(ctx: Ctx) {
  if (!ctx.session) throw new ApiError("UNAUTHORIZED", "Sign in first");
  return ctx.session.user;
}

function requireAdmin(ctx: Ctx) {
  const u = user(ctx);
  if (!hasRole(u.role, "admin")) throw new ApiError("FORBIDDEN", `Webhooks are changed by admins; you are ${u.role}`);
  return u;
}

/** What the audit log keeps of a webhook: never its secret. */
const audited = (w: { name: string; url: string; events: string[]; enabled: boolean; allowLocal: boolean }) => ({ name: w.name, url: w.url, events: w.events, enabled: w.enabled, allowLocal: w.allowLocal });

export const newWebhookSecret = () => `whsec_${randomBytes(32).toString("base64url")}`;

export async function createWebhook(ctx: Ctx, input: CreateWebhookInput): Promise<{ id: string; secret: string }> {
  const u = requireAdmin(ctx);
  await checkUrl(ctx, input.url, input.allowLocal);
  const secret = newWebhookSecret();
  const events = [...new Set(input.events)];
  return ctx.db.$transaction(async (tx) => {
    if (await tx.webhook.findUnique({ where: { name: input.name }, select: { id: true } })) {
      throw new ApiError("CONFLICT", `A webhook named "${input.name}" exists: choose another name`, [{ path: ["name"], message: "taken", severity: "error" }]);
    }
    const row = await tx.webhook.create({
      data: { name: input.name, url: input.url, events, secret, enabled: input.enabled, allowLocal: input.allowLocal, createdById: u.id, createdByName: u.username },
      select: { id: true },
    });
    await writeAudit(tx, ctx, { action: "webhooks.create", targetType: "webhook", targetId: row.id, targetName: input.name, after: audited({ ...input, events }), outcome: "success" });
    return { id: row.id, secret };
  });
}

const WEBHOOK_SELECT = { id: true, name: true, url: true, events: true, enabled: true, allowLocal: true, createdByName: true, createdAt: true, updatedAt: true } as const;

export async function updateWebhook(ctx: Ctx, input: UpdateWebhookInput) {
  requireAdmin(ctx);
  const before = await ctx.db.webhook.findUnique({ where: { id: input.id }, select: WEBHOOK_SELECT });
  if (!before) throw new ApiError("NOT_FOUND", `No webhook ${input.id}`);
  const next = {
    name: input.name ?? before.name,
    url: input.url ?? before.url,
    events: input.events ? [...new Set(input.events)] : before.events,
    enabled: input.enabled ?? before.enabled,
    allowLocal: input.allowLocal ?? before.allowLocal,
  };
  // Turning the flag off or moving the URL: the destination must pass without what the flag allowed.
  if (next.url !== before.url || next.allowLocal !== before.allowLocal) await checkUrl(ctx, next.url, next.allowLocal);
  return ctx.db.$transaction(async (tx) => {
    if (next.name !== before.name && (await tx.webhook.findUnique({ where: { name: next.name }, select: { id: true } }))) {
      throw new ApiError("CONFLICT", `A webhook named "${next.name}" exists: choose another name`, [{ path: ["name"], message: "taken", severity: "error" }]);
    }
    const { count } = await tx.webhook.updateMany({ where: { id: before.id, updatedAt: before.updatedAt }, data: next });
    if (count === 0) throw new ApiError("CONFLICT", `Webhook ${before.name} changed meanwhile: reload and try again`);
    await writeAudit(tx, ctx, { action: "webhooks.update", targetType: "webhook", targetId: before.id, targetName: next.name, before: audited(before), after: audited(next), outcome: "success" });
    return { id: before.id, ...next };
  });
}

export async function deleteWebhook(ctx: Ctx, input: { id: string }) {
  requireAdmin(ctx);
  return ctx.db.$transaction(async (tx) => {
    const before = await tx.webhook.findUnique({ where: { id: input.id }, select: WEBHOOK_SELECT });
    if (!before) throw new ApiError("NOT_FOUND", `No webhook ${input.id}`);
    // Its deliveries go with it (cascade), pending ones included.
    await tx.webhook.delete({ where: { id: before.id } });
    await writeAudit(tx, ctx, { action: "webhooks.delete", targetType: "webhook", targetId: before.id, targetName: before.name, before: audited(before), outcome: "success" });
    return { deleted: true };
  });
}

/** An operator sees where a webhook goes (scheme, host, port), not its path: chat services put their credential there. */
function shownUrl(url: string, isAdmin: boolean): string {
  if (isAdmin || !URL.canParse(url)) return url;
  const u = new URL(url);
  return u.pathname === "/" && !u.search ? u.origin : `${u.origin}/…`;
}

export async function listWebhooks(ctx: Ctx) {
  const isAdmin = hasRole(user(ctx).role, "admin");
  const rows = await ctx.db.webhook.findMany({ orderBy: { name: "asc" }, take: 500, select: WEBHOOK_SELECT });
  const ids = rows.map((r) => r.id);
  const counts = await ctx.db.webhookDelivery.groupBy({ by: ["webhookId", "status"], where: { webhookId: { in: ids } }, _count: { _all: true } });
  const last = await ctx.db.webhookDelivery.findMany({
    where: { webhookId: { in: ids }, status: { not: "pending" } },
    orderBy: { finishedAt: "desc" },
    distinct: ["webhookId"],
    select: { webhookId: true, status: true, lastStatus: true, finishedAt: true, event: true },
  });
  return rows.map((r) => ({
    ...r,
    url: shownUrl(r.url, isAdmin),
    deliveries: Object.fromEntries(["pending", "succeeded", "failed"].map((s) => [s, counts.find((c) => c.webhookId === r.id && c.status === s)?._count._all ?? 0])) as Record<"pending" | "succeeded" | "failed", number>,
    lastDelivery: last.find((l) => l.webhookId === r.id) ?? null,
  }));
}

export async function listDeliveries(ctx: Ctx, input: { webhookId: string; status?: "pending" | "succeeded" | "failed" | undefined; limit: number }) {
  user(ctx);
  const hook = await ctx.db.webhook.findUnique({ where: { id: input.webhookId }, select: { id: true, name: true } });
  if (!hook) throw new ApiError("NOT_FOUND", `No webhook ${input.webhookId}`);
  const items = await ctx.db.webhookDelivery.findMany({
    where: { webhookId: hook.id, ...(input.status ? { status: input.status } : {}) },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: input.limit,
    select: { id: true, event: true, payload: true, status: true, attempts: true, maxAttempts: true, nextAttemptAt: true, claimedUntil: true, lastStatus: true, lastError: true, durationMs: true, createdAt: true, updatedAt: true, finishedAt: true },
  });
  return { webhook: hook, items };
}

/** Sends a `webhook.test` event to one webhook (enabled), whatever events it wants. */
export async function sendTestEvent(ctx: Ctx, input: { id: string }) {
  const u = requireAdmin(ctx);
  return ctx.db.$transaction(async (tx) => {
    const hook = await tx.webhook.findUnique({ where: { id: input.id }, select: { id: true, name: true, enabled: true } });
    if (!hook) throw new ApiError("NOT_FOUND", `No webhook ${input.id}`);
    if (!hook.enabled) throw new ApiError("CONFLICT", `Webhook ${hook.name} is disabled: enable it to send it a test event`);
    const deliveryId = await enqueueTestEvent(tx, { id: hook.id, name: hook.name }, u.username);
    await writeAudit(tx, ctx, { action: "webhooks.test", targetType: "webhook", targetId: hook.id, targetName: hook.name, after: { deliveryId }, outcome: "success" });
    return { deliveryId };
  });
}

/** Sends a delivery's event again, as a new delivery (the event's id stays, so receivers can tell). */
export async function redeliver(ctx: Ctx, input: { deliveryId: string }) {
  requireAdmin(ctx);
  return ctx.db.$transaction(async (tx) => {
    const d = await tx.webhookDelivery.findUnique({ where: { id: input.deliveryId }, select: { id: true, event: true, payload: true, status: true, webhook: { select: { id: true, name: true, enabled: true } } } });
    if (!d) throw new ApiError("NOT_FOUND", `No webhook delivery ${input.deliveryId}`);
    if (d.status === "pending") throw new ApiError("CONFLICT", `Delivery ${d.id} is still pending: it is retried on its own`);
    if (!d.webhook.enabled) throw new ApiError("CONFLICT", `Webhook ${d.webhook.name} is disabled: enable it to redeliver`);
    const made = await tx.webhookDelivery.create({ data: { webhookId: d.webhook.id, event: d.event, payload: d.payload as object, nextAttemptAt: dbNow() }, select: { id: true } });
    await writeAudit(tx, ctx, { action: "webhooks.redeliver", targetType: "webhook", targetId: d.webhook.id, targetName: d.webhook.name, after: { from: d.id, deliveryId: made.id, event: d.event }, outcome: "success" });
    return { deliveryId: made.id };
  });
}
