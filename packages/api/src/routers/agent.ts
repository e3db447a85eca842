import { TRPCError } from "@trpc/server";
import { appendLogs, claimOperations, completeOperation, desiredAttachments, extendClaim, reportProblem, resumeAfterRestart } from "../domain/agentWork";
import { enrollHost, heartbeat, rotateCredential } from "../domain/hosts";
import { ClaimInput, CompleteInput, EnrollInput, FenceInput, HeartbeatInput, Id, LogInput, PollInput } from "../schemas";
import { z } from "zod";
import { publicProcedure, router } from "../trpc";

/** Calls of an agent authenticated by its host credential; it sees only its own host's work. */
const agentProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.agent) throw new TRPCError({ code: "UNAUTHORIZED", message: "Unknown, revoked or expired host credential" });
  return next({ ctx: { ...ctx, agent: ctx.agent } });
});

/** Waits for new work for `hostId` or `ms`; a revocation ends the wait with UNAUTHORIZED. */
async function waitForWork(ctx: { events: { subscribe: (t: "host", s?: AbortSignal) => AsyncIterable<{ kind: string; hostId: string }> } }, hostId: string, ms: number, outer?: AbortSignal) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  const onOuter = () => abort.abort();
  outer?.addEventListener("abort", onOuter);
  try {
    for await (const event of ctx.events.subscribe("host", abort.signal)) {
      if (event.hostId !== hostId) continue;
      if (event.kind === "revoked") throw new TRPCError({ code: "UNAUTHORIZED", message: "This host was revoked" });
      if (event.kind === "work") return;
    }
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onOuter);
  }
}

export const agentRouter = router({
  enroll: publicProcedure.input(EnrollInput).mutation(({ ctx, input }) => enrollHost(ctx, input)),
  heartbeat: agentProcedure.input(HeartbeatInput).mutation(({ ctx, input }) => heartbeat(ctx, ctx.agent, input)),
  rotateCredential: agentProcedure.mutation(({ ctx }) => rotateCredential(ctx.db, ctx.agent)),
  claim: agentProcedure.input(ClaimInput).mutation(({ ctx, input }) => claimOperations(ctx, input.max)),
  /** Long-poll fallback: claims, or waits up to waitMs for work and claims then. */
  poll: agentProcedure.input(PollInput).mutation(async ({ ctx, input, signal }) => {
    const first = await claimOperations(ctx, input.max);
    if (first.length > 0 || input.waitMs === 0) return first;
    await waitForWork(ctx, ctx.agent.hostId, input.waitMs, signal);
    return claimOperations(ctx, input.max);
  }),
  /** Pushed work (SSE): one event now, then one whenever work for this host is queued. */
  work: agentProcedure.subscription(async function* ({ ctx, signal }): AsyncGenerator<{ kind: "work" | "revoked" | "reconcile"; at: Date }> {
    yield { kind: "work", at: new Date() };
    for await (const event of ctx.events.subscribe("host", signal)) {
      if (event.hostId !== ctx.agent.hostId) continue;
      // Said as data, then the stream ends: an error would only make the client's EventSource reconnect.
      if (event.kind === "revoked") return yield { kind: "revoked", at: new Date() };
      if (event.kind === "work" || event.kind === "reconcile") yield { kind: event.kind, at: new Date() };
    }
  }),
  extend: agentProcedure.input(FenceInput).mutation(({ ctx, input }) => extendClaim(ctx, input)),
  log: agentProcedure.input(LogInput).mutation(({ ctx, input }) => appendLogs(ctx, input.entries)),
  complete: agentProcedure.input(CompleteInput).mutation(({ ctx, input }) => completeOperation(ctx, input)),
  desired: agentProcedure.query(({ ctx }) => desiredAttachments(ctx.db, ctx.agent)),
  resume: agentProcedure.mutation(({ ctx }) => resumeAfterRestart(ctx)),
  reportProblem: agentProcedure.input(z.object({ attachmentId: Id, problem: z.string().min(1).max(2000) })).mutation(({ ctx, input }) => reportProblem(ctx, input)),
});

/** The agent endpoint's root: paths read `agent.claim`, `agent.complete`, … in logs and audit. */
export const agentRootRouter = router({ agent: agentRouter });
export type AgentRouter = typeof agentRootRouter;
