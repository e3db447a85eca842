import { writeAudit } from "../audit";
import type { Context } from "../context";
import { ApiError } from "../errors";
import { loadForChange, OPERATION_SELECT, published } from "./attachments";
import { dbNow } from "../clock";

type Ctx = Pick<Context, "db" | "events" | "session" | "meta">;

/**
 * An attachment that cannot get free on its own: its operation failed for good (a detach, or an
 * attach whose rollback left state behind), or a detach keeps failing and is retrying. Often the
 * config the host cached when ADD ran is what fails (a CNI version the plugins lack, a plugin
 * whose binary is gone), so a detach with it fails again however often it is retried.
 */
export function isStuck(a: { state: string; lastError: string }): boolean {
  return a.state === "failed" || (a.state === "detaching" && a.lastError !== "");
}

/**
 * The way out for a stuck attachment (issue 17): a detach that DELs with the network's current
 * revision only (`configSource: "given"` in the payload, see agentWork.ts), not with the config
 * the host cached. Queued operations of the attachment give way to it; one that runs right now is
 * waited for (its outcome may free the attachment). Journalled, audited and in the job view like
 * any other operation.
 */
export async function detachWithCurrentRevision(ctx: Ctx, id: string) {
  const out = await ctx.db.$transaction(async (tx) => {
    const a = await loadForChange(tx, id);
    if (!isStuck(a)) {
      throw new ApiError("CONFLICT", `Only a stuck attachment (failed, or detaching with failed attempts) is detached with the current network revision; this one is ${a.state}${a.state === "ready" || a.state === "pending" ? ": detach it" : ""}`);
    }
    const network = await tx.network.findUnique({ where: { id: a.networkId }, select: { latestRevision: true } });
    if (!network || network.latestRevision < 1) throw new ApiError("NOT_FOUND", `Network ${a.networkName} has no revision to detach with`);
    const pending = await tx.operation.findMany({ where: { attachmentId: id, status: { in: ["queued", "running"] } }, select: { id: true, kind: true, status: true, attempt: true } });
    const running = pending.find((p) => p.status === "running");
    if (running) throw new ApiError("CONFLICT", `The ${running.kind} of this attachment is running now (attempt ${running.attempt}): wait for its outcome, then try again`);
    const now = dbNow();
    if (pending.length > 0) {
      await tx.operation.updateMany({
        where: { id: { in: pending.map((p) => p.id) }, status: "queued" },
        data: { status: "cancelled", finishedAt: now, error: `replaced by a detach with network revision ${network.latestRevision}` },
      });
    }
    const generation = a.generation + 1;
    await tx.attachment.update({ where: { id }, data: { present: false, generation, state: "detaching", lastError: "" } });
    const op = await tx.operation.create({
      data: {
        hostId: a.hostId,
        attachmentId: id,
        kind: "detach",
        generation,
        toRevision: network.latestRevision,
        requestedById: ctx.session?.user.id ?? null,
        requestedByName: ctx.session?.user.username ?? "",
        // Due now by the database's clock (Prisma's own default would be this process's clock).
        notBefore: now,
        createdAt: now,
      },
      select: OPERATION_SELECT,
    });
    await writeAudit(tx, ctx, {
      action: "attachments.detachWithCurrentRevision",
      targetType: "attachment",
      targetId: id,
      before: { state: a.state, present: a.present, revision: a.networkRevision, lastError: a.lastError.slice(0, 500) },
      after: { present: false, revision: network.latestRevision, configSource: "given" },
      outcome: "success",
    });
    return { op, cancelled: pending, hostId: a.hostId };
  });
  for (const c of out.cancelled) ctx.events.publish("operation", { kind: "status", operationId: c.id, attachmentId: id, hostId: out.hostId, status: "cancelled" });
  published(ctx, out.op);
  return { operation: out.op };
}
