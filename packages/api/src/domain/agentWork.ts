import type { Db, Prisma } from "@switchyard/db";
import type { AgentIdentity, Context } from "../context";
import { ApiError } from "../errors";

type AgentCtx = Pick<Context, "db" | "events" | "meta"> & { agent: AgentIdentity };

/** How long a claim lasts without an extend; the agent extends while it works. */
export const CLAIM_LEASE_MS = 60_000;
const MAX_LOG_LINES = 200;
const MAX_LINE_CHARS = 2000;

/** Retry back-off after a failed attempt: 2 s, 4 s, 8 s, … up to a minute. */
export function backoffMs(attempt: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(1, attempt));
}

export interface ClaimedOperation {
  operationId: string;
  attempt: number;
  kind: "attach" | "check" | "detach";
  generation: number;
  claimedUntil: Date;
  attachment: {
    id: string;
    containerId: string;
    ifName: string;
    targetKind: "netns" | "pid" | "sandbox";
    target: string;
    capabilityArgs: unknown;
    networkName: string;
    networkRevision: number;
  };
  /** The conflist of the attachment's network revision. */
  conflist: unknown;
}

/**
 * Claims up to `max` operations of the agent's host: the first unfinished operation of each
 * attachment (one at a time per attachment, in order), when queued and due or when its last
 * claim expired (the agent died or hung: a new attempt, which fences out the old one). Each claim
 * is a conditional update on (status, attempt), so two console replicas never hand out one claim.
 */
export async function claimOperations(ctx: AgentCtx, max: number): Promise<ClaimedOperation[]> {
  const now = new Date();
  const candidates = await ctx.db.operation.findMany({
    where: { hostId: ctx.agent.hostId, status: { in: ["queued", "running"] } },
    orderBy: { seq: "asc" },
    take: 2000,
    select: { id: true, kind: true, attachmentId: true, status: true, attempt: true, maxAttempts: true, notBefore: true, claimedUntil: true, generation: true },
  });
  const firstPerAttachment = new Set<string>();
  const won: (typeof candidates[number] & { claimedUntil: Date })[] = [];
  for (const op of candidates) {
    if (won.length >= max) break;
    if (firstPerAttachment.has(op.attachmentId)) continue;
    firstPerAttachment.add(op.attachmentId);
    const due = op.status === "queued" ? op.notBefore <= now : op.claimedUntil !== null && op.claimedUntil < now;
    if (!due) continue;
    if (op.status === "running" && op.attempt >= op.maxAttempts) {
      await finish(ctx, op, { outcome: "failed", error: `gave up after ${op.attempt} attempts: the agent did not report back within its claim`, retryable: false }, now);
      continue;
    }
    const claimedUntil = new Date(now.getTime() + CLAIM_LEASE_MS);
    const { count } = await ctx.db.operation.updateMany({
      where: { id: op.id, status: op.status, attempt: op.attempt },
      data: { status: "running", attempt: op.attempt + 1, claimedUntil, startedAt: now },
    });
    if (count === 0) continue;
    // Only the operation serving the latest desired state moves the attachment's state.
    if (op.kind !== "check") {
      await ctx.db.attachment.updateMany({ where: { id: op.attachmentId, generation: op.generation }, data: { state: op.kind === "attach" ? "applying" : "detaching" } });
    }
    won.push({ ...op, attempt: op.attempt + 1, claimedUntil });
  }
  if (won.length === 0) return [];
  // What the agent needs to run them: two queries for the whole page.
  const attachments = await ctx.db.attachment.findMany({
    where: { id: { in: won.map((op) => op.attachmentId) } },
    select: { id: true, containerId: true, ifName: true, targetKind: true, target: true, capabilityArgs: true, networkId: true, networkName: true, networkRevision: true },
  });
  const conflistOf = await revisionConflists(ctx.db, attachments);
  const attachmentById = new Map(attachments.map((a) => [a.id, a]));
  return won.map((op) => {
    const a = attachmentById.get(op.attachmentId)!;
    ctx.events.publish("operation", { kind: "status", operationId: op.id, attachmentId: a.id, hostId: ctx.agent.hostId, status: "running" });
    return {
      operationId: op.id,
      attempt: op.attempt,
      kind: op.kind,
      generation: op.generation,
      claimedUntil: op.claimedUntil,
      attachment: { id: a.id, containerId: a.containerId, ifName: a.ifName, targetKind: a.targetKind, target: a.target, capabilityArgs: a.capabilityArgs, networkName: a.networkName, networkRevision: a.networkRevision },
      conflist: conflistOf(a),
    };
  });
}

function staleAttempt(operationId: string, attempt: number): ApiError {
  return new ApiError("STALE_ATTEMPT", `Operation ${operationId} attempt ${attempt} is not the current claim; its result is refused`);
}

async function currentClaim(ctx: AgentCtx, operationId: string, attempt: number) {
  const op = await ctx.db.operation.findUnique({
    where: { id: operationId },
    select: { id: true, hostId: true, attachmentId: true, status: true, attempt: true, maxAttempts: true, generation: true, kind: true },
  });
  // Another host's operation looks the same as a missing one.
  if (!op || op.hostId !== ctx.agent.hostId) throw new ApiError("NOT_FOUND", "No operation with this id for this host");
  if (op.status !== "running" || op.attempt !== attempt) throw staleAttempt(operationId, attempt);
  return op;
}

export async function extendClaim(ctx: AgentCtx, input: { operationId: string; attempt: number }) {
  await currentClaim(ctx, input.operationId, input.attempt);
  const claimedUntil = new Date(Date.now() + CLAIM_LEASE_MS);
  const { count } = await ctx.db.operation.updateMany({ where: { id: input.operationId, status: "running", attempt: input.attempt }, data: { claimedUntil } });
  if (count === 0) throw staleAttempt(input.operationId, input.attempt);
  return { claimedUntil };
}

type JobLine = { stream: string; line: string; at?: Date };

function jobLines(input: { attempt: number; lines?: JobLine[] }) {
  return (input.lines ?? []).slice(0, MAX_LOG_LINES).map((l) => ({ at: l.at ?? new Date(), stream: l.stream.slice(0, 32), line: l.line.slice(0, MAX_LINE_CHARS), attempt: input.attempt }));
}

/**
 * Stores job lines of several operations at once: two queries whatever their number. Lines of
 * an attempt that is no longer the current claim (or of another host's operation) are refused,
 * entry by entry; the rest are stored.
 */
export async function appendLogs(ctx: AgentCtx, entries: { operationId: string; attempt: number; lines: JobLine[] }[]) {
  const ops = await ctx.db.operation.findMany({
    where: { id: { in: [...new Set(entries.map((e) => e.operationId))] }, hostId: ctx.agent.hostId },
    select: { id: true, attachmentId: true, status: true, attempt: true },
  });
  const byId = new Map(ops.map((op) => [op.id, op]));
  const accepted: { op: (typeof ops)[number]; lines: ReturnType<typeof jobLines> }[] = [];
  const refused: { operationId: string; attempt: number; reason: "notFound" | "staleAttempt" }[] = [];
  for (const entry of entries) {
    const op = byId.get(entry.operationId);
    if (!op) refused.push({ operationId: entry.operationId, attempt: entry.attempt, reason: "notFound" });
    else if (op.status !== "running" || op.attempt !== entry.attempt) refused.push({ operationId: entry.operationId, attempt: entry.attempt, reason: "staleAttempt" });
    else accepted.push({ op, lines: jobLines(entry) });
  }
  if (accepted.length > 0) await ctx.db.operationLog.createMany({ data: accepted.flatMap(({ op, lines }) => lines.map((l) => ({ ...l, operationId: op.id }))) });
  for (const { op, lines } of accepted) ctx.events.publish("operation", { kind: "log", operationId: op.id, attachmentId: op.attachmentId, hostId: ctx.agent.hostId, lines });
  return { stored: accepted.length, refused };
}

export interface CompleteInput {
  operationId: string;
  attempt: number;
  /** The job's last lines, stored in the same transaction as the outcome. */
  lines?: JobLine[];
  outcome: "succeeded" | "failed";
  result?: unknown;
  error?: string;
  /** A failure worth another attempt (after a back-off), e.g. a timeout or code 11. */
  retryable?: boolean;
}

type OpRow = { id: string; attachmentId: string; attempt: number; maxAttempts: number; generation: number; kind: "attach" | "check" | "detach" };
const OP_ROW_SELECT = { id: true, attachmentId: true, attempt: true, maxAttempts: true, generation: true, kind: true } as const;

/**
 * Closes an attempt with its outcome and moves the attachment, in one transaction fenced by
 * (operation, attempt). `op` is the row when the caller read it (a retry needs maxAttempts); a
 * terminal outcome can be given just the fence: the fenced UPDATE … RETURNING finds the row.
 */
async function finish(ctx: AgentCtx, op: OpRow | { id: string; attempt: number }, input: Omit<CompleteInput, "operationId" | "attempt">, now: Date) {
  const lines = jobLines({ attempt: op.attempt, lines: input.lines });
  const retry = "maxAttempts" in op && input.outcome === "failed" && input.retryable === true && op.attempt < op.maxAttempts;
  const status: "succeeded" | "queued" | "failed" = input.outcome === "succeeded" ? "succeeded" : retry ? "queued" : "failed";
  const error = (input.error ?? "").slice(0, 4000);
  const closed = await ctx.db.$transaction(async (tx) => {
    const where = { id: op.id, hostId: ctx.agent.hostId, status: "running" as const, attempt: op.attempt };
    const data: Prisma.OperationUpdateManyMutationInput = {
      status,
      error,
      claimedUntil: null,
      ...(input.result !== undefined ? { result: input.result as Prisma.InputJsonValue } : {}),
      ...(retry ? { notBefore: new Date(now.getTime() + backoffMs(op.attempt)) } : { finishedAt: now }),
    };
    let row: OpRow | undefined;
    if ("maxAttempts" in op) row = (await tx.operation.updateMany({ where, data })).count > 0 ? op : undefined;
    else [row] = await tx.operation.updateManyAndReturn({ where, data, select: OP_ROW_SELECT });
    if (!row) return undefined;
    if (lines.length > 0) await tx.operationLog.createMany({ data: lines.map((l) => ({ ...l, operationId: row.id })) });
    let change: Prisma.AttachmentUpdateManyMutationInput;
    if (status === "succeeded") {
      change =
        row.kind === "attach"
          ? { state: "ready", result: input.result as Prisma.InputJsonValue, lastError: "" }
          : row.kind === "detach"
            ? { state: "detached", result: undefined, lastError: "" }
            : { state: "ready", lastError: "" };
    } else if (retry) {
      change = { lastError: `attempt ${row.attempt} failed, retrying: ${error}` };
    } else {
      change = { state: "failed", lastError: error };
    }
    // Only the operation serving the latest desired state moves the attachment's state.
    await tx.attachment.updateMany({ where: { id: row.attachmentId, generation: row.generation }, data: change });
    return row;
  });
  if (!closed) return { done: false as const, status };
  const announce = { operationId: closed.id, attachmentId: closed.attachmentId, hostId: ctx.agent.hostId };
  if (lines.length > 0) ctx.events.publish("operation", { kind: "log", ...announce, lines });
  ctx.events.publish("operation", { kind: "status", ...announce, status });
  if (retry) {
    // Wake the agent when the back-off is over (its own periodic claim covers a console restart).
    const hostId = ctx.agent.hostId;
    setTimeout(() => ctx.events.publish("host", { kind: "work", hostId }), backoffMs(closed.attempt) + 50).unref();
  }
  return { done: true as const, status, op: closed };
}

/** Records an attempt's outcome, fenced by (operation, attempt): a stale attempt's late result is refused. */
export async function completeOperation(ctx: AgentCtx, input: CompleteInput) {
  // A success or a final failure needs no read first; a retryable failure needs maxAttempts.
  const terminal = input.outcome === "succeeded" || input.retryable !== true;
  const target = terminal ? { id: input.operationId, attempt: input.attempt } : await currentClaim(ctx, input.operationId, input.attempt);
  const finished = await finish(ctx, target, input, new Date());
  if (!finished.done) {
    await currentClaim(ctx, input.operationId, input.attempt); // NOT_FOUND for another host's or a missing operation
    throw staleAttempt(input.operationId, input.attempt);
  }
  // Work queued behind this one on the same attachment (a check, a detach) is claimable now;
  // saying so spares the agent a claim after every completion.
  const next = await ctx.db.operation.findFirst({ where: { attachmentId: finished.op.attachmentId, status: "queued" }, select: { id: true } });
  return { status: finished.status, more: next !== null };
}

/** What the agent's reconcile compares the host with: attachments that should exist, with their configs. */
export async function desiredAttachments(db: Db, agent: AgentIdentity) {
  const rows = await db.attachment.findMany({
    where: { hostId: agent.hostId, present: true },
    select: { id: true, containerId: true, ifName: true, targetKind: true, target: true, capabilityArgs: true, networkId: true, networkName: true, networkRevision: true, generation: true, state: true },
  });
  const conflistOf = await revisionConflists(db, rows);
  return rows.map(({ networkId, ...r }) => ({ ...r, conflist: conflistOf({ networkId, networkRevision: r.networkRevision }) }));
}

/** The conflists of the attachments' network revisions, read in one query. */
async function revisionConflists(db: Db, attachments: { networkId: string; networkRevision: number }[]) {
  const revisions = await db.networkRevision.findMany({
    where: { OR: attachments.map((a) => ({ networkId: a.networkId, number: a.networkRevision })) },
    select: { networkId: true, number: true, conflist: true },
  });
  const byKey = new Map(revisions.map((r) => [`${r.networkId}:${r.number}`, r.conflist]));
  return (a: { networkId: string; networkRevision: number }) => byKey.get(`${a.networkId}:${a.networkRevision}`) ?? null;
}

/**
 * A restarted agent hands back the claims of its previous process: they become due at once as
 * new attempts (the old attempts are fenced out), instead of after the claim lease runs out.
 */
export async function resumeAfterRestart(ctx: AgentCtx) {
  const { count } = await ctx.db.operation.updateMany({ where: { hostId: ctx.agent.hostId, status: "running" }, data: { claimedUntil: new Date(Date.now() - 1) } });
  if (count > 0) ctx.events.publish("host", { kind: "work", hostId: ctx.agent.hostId });
  return { released: count };
}

/** The agent found a ready attachment broken on the host (its namespace gone, its cache entry missing). */
export async function reportProblem(ctx: AgentCtx, input: { attachmentId: string; problem: string }) {
  const { count } = await ctx.db.attachment.updateMany({
    where: { id: input.attachmentId, hostId: ctx.agent.hostId, present: true, state: "ready" },
    data: { state: "failed", lastError: input.problem.slice(0, 2000) },
  });
  if (count > 0) ctx.events.publish("operation", { kind: "status", operationId: "", attachmentId: input.attachmentId, hostId: ctx.agent.hostId, status: "failed" });
  return { updated: count };
}
