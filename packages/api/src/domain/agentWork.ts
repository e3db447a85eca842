import type { Db, DbTx, Prisma } from "@switchyard/db";
import type { AgentIdentity, Context } from "../context";
import { ApiError } from "../errors";
import { countOperationsFinished, observePushDelay } from "../metrics/replica";
import { hostRenderer } from "./ipamBlocks";
import { enqueueOperationsFailed } from "./webhookEvents";
import { dbNow, dbNowMs } from "../clock";

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
  kind: "attach" | "check" | "detach" | "reapply";
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
  /** The conflist of the attachment's network revision (reapply: of the revision it moves to). */
  conflist: unknown;
  /** reapply: the revision the attachment runs now, to DEL before the ADD with `conflist`. */
  previous?: { networkRevision: number; conflist: unknown };
  /** detach with a revision (the way out for a stuck attachment): DEL with `conflist` only. */
  configSource?: "given";
}

/** A row of the claim statement: the operation and its attachment's columns side by side. */
type ClaimRow = Omit<ClaimedOperation, "claimedUntil" | "attachment" | "previous"> &
  Omit<ClaimedOperation["attachment"], "id"> & {
    previousRevision: number | null;
    previousConflist: unknown;
    toRevision: number | null;
    /** "claimed", or "expired": a claim that ran out on its last attempt (the agent died or hung every time). */
    row: "claimed" | "expired";
    attachmentId: string;
    /** Since when a queued operation was due (metrics: push delay); null for an expired claim handed out again. */
    dueAt: Date | null;
  };
/**
 * Claims up to `max` operations of the agent's host: the first unfinished operation of each
 * attachment (one at a time per attachment, in order), when queued and due or when its last
 * claim expired (the agent died or hung: a new attempt, which fences out the old one). The claim
 * is an update conditional on (status, attempt), so two console replicas never hand out one
 * claim (PostgreSQL re-checks the condition on a row another transaction changed meanwhile).
 *
 * One statement for the whole page: it picks, claims, moves the attachments (only those whose
 * latest desired state the operation serves) and returns what the agent needs to run each
 * operation, its network revision's config included. An expired claim on its last attempt comes
 * back as "expired" and is failed here. With `slots` (the agent's concurrency, for the push stream,
 * which cannot ask for "as many as are free") the operations the agent still holds count against it.
 */
export async function claimOperations(ctx: AgentCtx, max: number, options: { slots?: number } = {}): Promise<ClaimedOperation[]> {
  // The database's clock: whether an operation is due and whether a claim ran out are judged on the
  // times other replicas wrote (a replica ahead of them took live claims for expired ones).
  const now = dbNow();
  const claimedUntil = new Date(now.getTime() + CLAIM_LEASE_MS);
  const at = now.toISOString();
  // The statement is a function (migration 20261206023100_agent_work_functions, with one column more since 20261207001000_metrics): planned once per
  // connection, where sent as text it was planned at every call, at ten times the cost of running it.
  const rows = await ctx.db.$queryRaw<ClaimRow[]>`
    SELECT * FROM switchyard_claim_operations(${ctx.agent.hostId}, ${at}, ${claimedUntil.toISOString()}, ${max}::int, ${options.slots ?? null}::int)`;
  const expired = rows.filter((r) => r.row === "expired");
  if (expired.length > 0) {
    await finish(ctx, expired.map((op) => ({ operationId: op.operationId, attempt: op.attempt, outcome: "failed", error: `gave up after ${op.attempt} attempts: the agent did not report back within its claim` })), now);
  }
  const claimed = rows.filter((r) => r.row === "claimed");
  observePushDelay(claimed, options.slots ? "push" : "claim", now);
  // The config this host runs: its host-local range narrowed to its blocks where the network has per-host blocks.
  const render = claimed.length > 0 ? await hostRenderer(ctx.db, ctx.agent.hostId, claimed.map((r) => r.networkName)) : <T>(_: string, c: T) => c;
  return claimed
    .map((r) => {
      ctx.events.publish("operation", { kind: "status", operationId: r.operationId, attachmentId: r.attachmentId, hostId: ctx.agent.hostId, status: "running" });
      return {
        operationId: r.operationId,
        attempt: r.attempt,
        kind: r.kind,
        generation: r.generation,
        claimedUntil,
        attachment: { id: r.attachmentId, containerId: r.containerId, ifName: r.ifName, targetKind: r.targetKind, target: r.target, capabilityArgs: r.capabilityArgs, networkName: r.networkName, networkRevision: r.networkRevision },
        conflist: render(r.networkName, r.conflist ?? null),
        ...(r.kind === "reapply" && r.previousRevision !== null ? { previous: { networkRevision: r.previousRevision, conflist: render(r.networkName, r.previousConflist) } } : {}),
        // A detach names a revision only as the way out of a stuck attachment (attachmentRecovery.ts).
        ...(r.kind === "detach" && r.toRevision !== null ? { configSource: "given" as const } : {}),
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
  const claimedUntil = new Date(dbNowMs() + CLAIM_LEASE_MS);
  const { count } = await ctx.db.operation.updateMany({ where: { id: input.operationId, status: "running", attempt: input.attempt }, data: { claimedUntil } });
  if (count === 0) throw staleAttempt(input.operationId, input.attempt);
  return { claimedUntil };
}

type JobLine = { stream: string; line: string; at?: Date };

function jobLines(input: { attempt: number; lines?: JobLine[] }) {
  return (input.lines ?? []).slice(0, MAX_LOG_LINES).map((l) => ({ at: l.at ?? dbNow(), stream: l.stream.slice(0, 32), line: l.line.slice(0, MAX_LINE_CHARS), attempt: input.attempt }));
}

/**
 * Stores job lines of several operations at once, in one statement whatever their number (a
 * fixed statement: Prisma's createMany compiles a new query plan for every row count). Lines of
 * an attempt that is no longer the current claim (or of another host's operation) are refused,
 * entry by entry; the rest are stored.
 */
export async function appendLogs(ctx: AgentCtx, entries: { operationId: string; attempt: number; lines: JobLine[] }[]) {
  const linesOf = entries.map((e) => jobLines(e));
  // One statement, in a function (migration 20261206031000_append_logs_function) so that its plan is kept.
  const rows = await ctx.db.$queryRaw<{ i: number; attachmentId: string | null; current: boolean }[]>`
    SELECT * FROM switchyard_append_logs(${ctx.agent.hostId}, ${JSON.stringify(entries.map((e, i) => ({ i, operationId: e.operationId, attempt: e.attempt })))}::jsonb,
      ${JSON.stringify(linesOf.flatMap((lines, i) => lines.map((l) => ({ ...l, i }))))}::jsonb)`;
  const refused: { operationId: string; attempt: number; reason: "notFound" | "staleAttempt" }[] = [];
  let stored = 0;
  for (const row of rows) {
    const entry = entries[row.i]!;
    if (row.attachmentId === null) refused.push({ operationId: entry.operationId, attempt: entry.attempt, reason: "notFound" });
    else if (!row.current) refused.push({ operationId: entry.operationId, attempt: entry.attempt, reason: "staleAttempt" });
    else {
      stored++;
      ctx.events.publish("operation", { kind: "log", operationId: entry.operationId, attachmentId: row.attachmentId, hostId: ctx.agent.hostId });
    }
  }
  return { stored, refused };
}

export interface CompleteInput {
  operationId: string;
  attempt: number;
  /** The job's last lines, stored in the same statement as the outcome. */
  lines?: JobLine[];
  outcome: "succeeded" | "failed";
  result?: unknown;
  error?: string;
  /** A failure worth another attempt (after a back-off), e.g. a timeout or code 11. */
  retryable?: boolean;
}

/** What an attempt's close returns: the operation as it is now. */
type Closed = { n: number; id: string; attachmentId: string; attempt: number; status: "succeeded" | "queued" | "failed"; more: boolean; kind: ClaimedOperation["kind"] };

/**
 * Closes attempts with their outcomes, all in one statement, each fenced by (operation, attempt):
 * the operation's status (a retryable failure below maxAttempts is queued again after
 * `backoffMs`), its job lines, and the attachment's state (only when the operation serves
 * the attachment's latest desired state, its generation). Also says whether work is queued behind
 * each on the same attachment. An attempt that is not the current claim changes nothing and has
 * no entry in the result (indexed like `outcomes`).
 *
 * One statement rather than a transaction of four per operation: on the embedded database every
 * statement costs the console's only thread ~1 ms, and outcomes that finish together (an agent's
 * completions while a call is in flight) share it.
 */
async function finish(ctx: AgentCtx, outcomes: CompleteInput[], now: Date): Promise<(Closed | undefined)[]> {
  const lines = outcomes.map((o) => jobLines(o));
  const input = outcomes.map((o, n) => ({
    n,
    id: o.operationId,
    attempt: o.attempt,
    outcome: o.outcome,
    retryable: o.outcome === "failed" && o.retryable === true,
    error: (o.error ?? "").slice(0, 4000),
    // When a retry is due; the fence below makes the row's attempt this one.
    retryAt: new Date(now.getTime() + backoffMs(o.attempt)).toISOString(),
    ...(o.result !== undefined ? { result: o.result } : {}),
    lines: lines[n],
  }));
  const at = now.toISOString();
  // One statement, in a function (migration 20261206023100_agent_work_functions, with one column more since 20261207001000_metrics) so that its plan is kept.
  const close = (db: Db | DbTx) => db.$queryRaw<Closed[]>`SELECT * FROM switchyard_finish_operations(${ctx.agent.hostId}, ${at}, ${JSON.stringify(input)}::jsonb)`;
  // A failure may end an operation for good: its operation.failed webhook event commits with the
  // close (webhookEvents.ts). Successes, the common case, stay one statement.
  const rows = outcomes.some((o) => o.outcome === "failed")
    ? await ctx.db.$transaction(async (tx) => {
        const closed = await close(tx);
        await enqueueOperationsFailed(tx, closed.filter((c) => c.status === "failed").map((c) => c.id), now);
        return closed;
      })
    : await close(ctx.db);
  countOperationsFinished(rows);
  const byN = new Map(rows.map((r) => [r.n, r]));
  return outcomes.map((_, n) => {
    const closed = byN.get(n);
    if (!closed) return undefined;
    const announce = { operationId: closed.id, attachmentId: closed.attachmentId, hostId: ctx.agent.hostId };
    if (lines[n]!.length > 0) ctx.events.publish("operation", { kind: "log", ...announce });
    ctx.events.publish("operation", { kind: "status", ...announce, status: closed.status });
    if (closed.status === "queued") {
      // Wake the agent when the back-off is over (its own periodic claim covers a console restart).
      const hostId = ctx.agent.hostId;
      setTimeout(() => ctx.events.publish("host", { kind: "work", hostId }), backoffMs(closed.attempt) + 50).unref();
    }
    return closed;
  });
}

/** One outcome's answer: its operation's status and whether work waits behind it, or why it was refused. */
export type CompleteAnswer = { status: "succeeded" | "queued" | "failed"; more: boolean } | { refused: "staleAttempt" | "notFound" };

/**
 * Records attempts' outcomes, each fenced by (operation, attempt): a stale attempt's late result is
 * refused, and so is another host's operation (as if missing). `more` says work is queued behind it
 * on the same attachment (a check, a detach), which spares the agent a claim after every completion.
 * (The snapshot is the statement's: a retry queued by this very close is not counted; its wake-up
 * comes after the back-off.)
 */
export async function completeOperations(ctx: AgentCtx, outcomes: CompleteInput[]): Promise<CompleteAnswer[]> {
  const closed = await finish(ctx, outcomes, dbNow());
  const missed = outcomes.filter((_, n) => !closed[n]).map((o) => o.operationId);
  const known = missed.length === 0 ? new Set<string>() : new Set((await ctx.db.operation.findMany({ where: { id: { in: missed }, hostId: ctx.agent.hostId }, select: { id: true } })).map((o) => o.id));
  return outcomes.map((o, n) => {
    const c = closed[n];
    if (c) return { status: c.status, more: c.more };
    return { refused: known.has(o.operationId) ? "staleAttempt" : "notFound" };
  });
}

/** One outcome: NOT_FOUND for another host's or a missing operation, CONFLICT for a stale attempt. */
export async function completeOperation(ctx: AgentCtx, input: CompleteInput) {
  const [answer] = await completeOperations(ctx, [input]);
  if (answer && "refused" in answer) {
    if (answer.refused === "notFound") throw new ApiError("NOT_FOUND", "No operation with this id for this host");
    throw staleAttempt(input.operationId, input.attempt);
  }
  return answer!;
}

/** What the agent's reconcile compares the host with: attachments that should exist, with their configs. */
export async function desiredAttachments(db: Db, agent: AgentIdentity) {
  const rows = await db.attachment.findMany({
    where: { hostId: agent.hostId, present: true },
    select: { id: true, containerId: true, ifName: true, targetKind: true, target: true, capabilityArgs: true, networkId: true, networkName: true, networkRevision: true, generation: true, state: true },
  });
  // Most hosts' answer at rest, every reconcile: one query, not three.
  if (rows.length === 0) return [];
  const conflistOf = await revisionConflists(db, rows);
  const render = await hostRenderer(db, agent.hostId, rows.map((r) => r.networkName));
  return rows.map(({ networkId, ...r }) => ({ ...r, conflist: render(r.networkName, conflistOf({ networkId, networkRevision: r.networkRevision })) }));
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

/** Ends this host's running claims that match `where` now: the next claim hands them out again as new attempts. */
async function endClaims(ctx: AgentCtx, where: Prisma.OperationWhereInput) {
  const now = dbNow();
  const { count } = await ctx.db.operation.updateMany({ where: { ...where, hostId: ctx.agent.hostId, status: "running" }, data: { claimedUntil: new Date(now.getTime() - 1) } });
  if (count > 0) ctx.events.publish("host", { kind: "work", hostId: ctx.agent.hostId });
  return { released: count };
}

/**
 * A restarted agent hands back the claims of its previous process: they become due at once as
 * new attempts (the old attempts are fenced out), instead of after the claim lease runs out.
 */
export function resumeAfterRestart(ctx: AgentCtx) {
  return endClaims(ctx, {});
}

/**
 * Claims made for this host before `before` that its agent does not hold (`holding`: what it runs or
 * has finished and not yet reported): pushed into a stream that broke, or the answer of a claim lost
 * with its connection. They become due at once as new attempts (the old ones are fenced out),
 * instead of after the claim lease runs out. Claims made since `before` are left alone: the agent
 * may not have received them when it made its list.
 */
export function releaseUnheld(ctx: AgentCtx, before: Date, holding: readonly string[]) {
  return endClaims(ctx, { startedAt: { lt: before }, claimedUntil: { gte: dbNow() }, id: { notIn: [...holding] } });
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
