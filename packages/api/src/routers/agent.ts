import { TRPCError } from "@trpc/server";
import { ProxyHealthReport, recordProxyHealth } from "../domain/proxyHealth";
import { type ClaimedOperation, appendLogs, claimOperations, completeOperation, completeOperations, desiredAttachments, extendClaim, releaseUnheld, reportProblem, resumeAfterRestart } from "../domain/agentWork";
import { currentConfigs } from "../domain/currentConfigs";
import { ingestIpamReport } from "../domain/ipamIngest";
import { recordConflicts } from "../domain/ipamConflicts";
import { IpamReport } from "../schemas/ipamReport";
import { claimReleases, completeRelease } from "../domain/ipamRelease";
import { CompleteReleaseInput } from "../schemas/ipamRelease";
import { enrollHost, heartbeat, rotateCredential } from "../domain/hosts";
import { desiredServicesFor, recordServicesApplied } from "../domain/serviceDesired";
import { HealthReportInput, healthTargetsFor, recordHealthReports } from "../domain/serviceHealth";
import { claimProbes, reportProbe } from "../domain/serviceProbes";
import { ReportProbeInput } from "../schemas/serviceProbe";
import { ClaimInput, CompleteInput, CompleteManyInput, CurrentConfigsInput, EnrollInput, FenceInput, HeartbeatInput, HoldingInput, Id, LogInput, PollInput, WorkInput } from "../schemas";
import { z } from "zod";
import { storeAgentMetrics } from "../domain/agentMetrics";
import { replicaMetrics } from "../metrics/replica";
import { AgentMetricsSnapshot } from "../schemas/agentMetrics";
import type { EventBus } from "../events";
import { publicProcedure, router } from "../trpc";
import { dbNow } from "../clock";
import { ConfDirReportInput, deploymentsForHost, recordConfDirReport } from "../domain/networkDeployments";
import { advanceRollouts } from "../domain/networkRollouts";
import { ObservedReportInput, recordObserved } from "../domain/observedAttachments";

/** Calls of an agent authenticated by its host credential; it sees only its own host's work. */
const agentProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.agent) throw new TRPCError({ code: "UNAUTHORIZED", message: "Unknown, revoked or expired host credential" });
  return next({ ctx: { ...ctx, agent: ctx.agent } });
});

/** What the push stream says. */
export type WorkEvent =
  | { kind: "open" | "work" | "revoked" | "reconcile" | "release" | "services" | "probe" | "deploy"; at: Date }
  | { kind: "operations"; at: Date; ops: ClaimedOperation[]; more: boolean };

/**
 * Host events for `hostId`'s long poll, listening from this call (before the poll's first claim,
 * so that work queued between that claim and the wait is not missed), for at most `ms`.
 */
function watchForWork(ctx: { events: EventBus }, hostId: string, ms: number, outer?: AbortSignal) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  const onOuter = () => abort.abort();
  outer?.addEventListener("abort", onOuter);
  const events = ctx.events.subscribe("host", abort.signal, { hostId });
  return {
    /**
     * Resolves on new work for `hostId` or at the end of the wait; a revocation ends it with
     * UNAUTHORIZED. A resync (events may have been missed) ends it too: the caller claims, which is
     * the catch-up by query.
     */
    async next(): Promise<void> {
      for await (const event of events) {
        if (event.kind === "resync") return;
        if (event.hostId !== hostId) continue;
        if (event.kind === "revoked") throw new TRPCError({ code: "UNAUTHORIZED", message: "This host was revoked" });
        if (event.kind === "work") return;
      }
    },
    close(): void {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onOuter);
      abort.abort();
    },
  };
}

export const agentRouter = router({
  enroll: publicProcedure.input(EnrollInput).mutation(({ ctx, input }) => enrollHost(ctx, input)),
  heartbeat: agentProcedure.input(HeartbeatInput).mutation(({ ctx, input }) => heartbeat(ctx, ctx.agent, input)),
  rotateCredential: agentProcedure.mutation(({ ctx }) => rotateCredential(ctx.db, ctx.agent)),
  claim: agentProcedure.input(ClaimInput).mutation(({ ctx, input }) => claimOperations(ctx, input.max)),
  /** Long-poll fallback: claims, or waits up to waitMs for work and claims then. */
  poll: agentProcedure.input(PollInput).mutation(async ({ ctx, input, signal }) => {
    if (input.holding) await releaseUnheld(ctx, dbNow(), input.holding);
    if (input.waitMs === 0) return claimOperations(ctx, input.max);
    const work = watchForWork(ctx, ctx.agent.hostId, input.waitMs, signal);
    try {
      const first = await claimOperations(ctx, input.max);
      if (first.length > 0) return first;
      await work.next();
      return await claimOperations(ctx, input.max);
    } finally {
      work.close();
    }
  }),
  /**
   * Pushed work (SSE). With `slots` the stream says "open", then claims for the agent and pushes the claimed
   * operations themselves (no claim round trip): at once, then whenever work for this host is
   * queued; `more` says a page was full, so the agent claims again as slots free up. Without
   * `slots`, a "work" event asks the agent to claim. A claim pushed into a stream that breaks is
   * handed out again as a new attempt when the agent next says what it holds (`holding`, on the
   * next "open"; `poll` with `holding`), at the latest after CLAIM_LEASE_MS: delivery is at least once.
   */
  work: agentProcedure.input(WorkInput).subscription(async function* ({ ctx, input, signal }): AsyncGenerator<WorkEvent> {
    const slots = input?.slots;
    // The database's clock: the agent sends the "open" event's time back (HoldingInput.openedAt) to whichever replica it reaches next.
    const at = () => dbNow();
    let due = true;
    let revoked = false;
    let reconciles = 0;
    let releases = false;
    let services = false;
    let probes = false;
    let deploy = false;
    let missed = false;
    let wake: (() => void) | undefined;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener("abort", onAbort);
    if (signal?.aborted) stop.abort();
    stop.signal.addEventListener("abort", () => wake?.(), { once: true });
    const streams = replicaMetrics().agentStreams;
    streams.inc();
    // Events are noted as they come; the loop below acts on them, so that a burst of new work
    // while a claim runs is one claim more, not one per event.
    const listening = (async () => {
      // This host's events only (and every services event and resync): see SubscribeFilter.
      for await (const message of ctx.events.subscribeMany(["host", "services"], stop.signal, { hostId: ctx.agent.hostId })) {
        // Events may have been missed: claim, which finds by query whatever they would have said
        // (and fetch the services, which the agent compares with what it applied).
        if (message.topic === "resync") (due = true), (missed = true), (services = true), (probes = true), (deploy = true);
        // What every host must program changed: each agent fetches its own part.
        else if (message.topic === "services") services = true;
        if (message.topic !== "host") {
          wake?.();
          continue;
        }
        const event = message.event;
        if (event.hostId !== ctx.agent.hostId) continue;
        else if (event.kind === "revoked") revoked = true;
        else if (event.kind === "work") due = true;
        else if (event.kind === "reconcile") reconciles++;
        else if (event.kind === "release") releases = true;
        else if (event.kind === "probe") probes = true;
        else if (event.kind === "deploy") deploy = true;
        else continue;
        wake?.();
      }
    })();
    try {
      // Says the stream is up even when there is no work (the doctor's "push stream" check).
      if (slots) yield { kind: "open", at: at() };
      while (!stop.signal.aborted) {
        if (missed) {
          // A revocation may be among what was missed.
          missed = false;
          const host = await ctx.db.host.findUnique({ where: { id: ctx.agent.hostId }, select: { revokedAt: true } });
          if (!host || host.revokedAt) revoked = true;
        }
        // Said as data, then the stream ends: an error would only make the client's EventSource reconnect.
        if (revoked) return yield { kind: "revoked", at: at() };
        for (; reconciles > 0; reconciles--) yield { kind: "reconcile", at: at() };
        if (releases) {
          releases = false;
          yield { kind: "release", at: at() };
        }
        if (services) {
          services = false;
          yield { kind: "services", at: at() };
        }
        if (probes) {
          probes = false;
          yield { kind: "probe", at: at() };
        }
        if (deploy) {
          deploy = false;
          yield { kind: "deploy", at: at() };
        }
        if (due) {
          due = false;
          if (!slots) {
            yield { kind: "work", at: at() };
            continue;
          }
          const ops = await claimOperations(ctx, slots, { slots });
          if (ops.length > 0) yield { kind: "operations", at: at(), ops, more: ops.length === slots };
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      streams.dec();
      signal?.removeEventListener("abort", onAbort);
      stop.abort();
      await listening.catch(() => {});
    }
  }),
  /** What the agent holds, said when its push stream opens: claims made before and not held are handed out again. */
  holding: agentProcedure.input(HoldingInput).mutation(({ ctx, input }) => releaseUnheld(ctx, input.openedAt, input.operationIds)),
  extend: agentProcedure.input(FenceInput).mutation(({ ctx, input }) => extendClaim(ctx, input)),
  log: agentProcedure.input(LogInput).mutation(({ ctx, input }) => appendLogs(ctx, input.entries)),
  complete: agentProcedure.input(CompleteInput).mutation(({ ctx, input }) => completeOperation(ctx, input)),
  /** Several outcomes at once; each gets its answer (a refusal is an answer, not an error). */
  completeMany: agentProcedure.input(CompleteManyInput).mutation(async ({ ctx, input }) => ({ answers: await completeOperations(ctx, input.outcomes) })),
  desired: agentProcedure.query(({ ctx }) => desiredAttachments(ctx.db, ctx.agent)),
  /** The latest revision's config of networks with attachments on this host: reconcile's way out of a cached config that fails. */
  currentConfigs: agentProcedure.input(CurrentConfigsInput).query(({ ctx, input }) => currentConfigs(ctx.db, ctx.agent, input.networkNames)),
  resume: agentProcedure.mutation(({ ctx }) => resumeAfterRestart(ctx)),
  /** The host's IPAM: a full report in parts when it connects, then what changed (issue 11). */
  reportIpam: agentProcedure
    .input(IpamReport)
    .mutation(async ({ ctx, input }) => {
      const host = { id: ctx.agent.hostId, name: ctx.agent.hostName };
      const outcome = await ingestIpamReport(ctx.db, host, input);
      // Only a new holder can start a conflict: networks where nothing was allocated are not looked at.
      await recordConflicts(ctx.db, host, outcome.networks.filter((n) => n.allocated > 0).map((n) => n.networkName));
      // After the commit: one doorbell per network whose leases changed.
      for (const n of outcome.networks) {
        if (n.allocated + n.released + n.written > 0) ctx.events.publish("ipam", { kind: "leases", networkName: n.networkName, hostId: ctx.agent.hostId });
      }
      // Networks the host no longer reports took their leases with them: their pages must hear it too.
      for (const networkName of outcome.forgottenNetworks) ctx.events.publish("ipam", { kind: "leases", networkName, hostId: ctx.agent.hostId });
      return { takenAt: input.takenAt, networks: outcome.networks.length, forgotten: outcome.forgotten };
    }),
  /** Releases of leaked addresses queued for this host (issue 11), marked running for the agent. */
  claimReleases: agentProcedure.mutation(async ({ ctx }) => ({ releases: await claimReleases(ctx) })),
  /** What the agent did for a release: each address freed or not, each step with its outcome (audited). */
  completeRelease: agentProcedure.input(CompleteReleaseInput).mutation(({ ctx, input }) => completeRelease(ctx, input)),
  /** What this host must program for services (issue 12), at the current version, for one family. */
  servicesDesired: agentProcedure
    .input(z.object({ family: z.union([z.literal(4), z.literal(6)]) }))
    .query(({ ctx, input }) => desiredServicesFor(ctx.db, ctx.agent.hostId, input.family)),
  /** The version this host applied, or the error it hit (fenced: an older report never overwrites a newer one). */
  reportServicesApplied: agentProcedure
    .input(z.object({ family: z.union([z.literal(4), z.literal(6)]), version: z.number().int().min(0), applyMs: z.number().int().min(0).max(3_600_000).nullable(), error: z.string().max(2000).nullable() }))
    .mutation(async ({ ctx, input }) => {
      const outcome = await recordServicesApplied(ctx.db, ctx.agent.hostId, input);
      // The services pages show desired against applied: their doorbell is the host's.
      if (outcome.recorded) ctx.events.publish("host", { kind: "seen", hostId: ctx.agent.hostId });
      return outcome;
    }),
  /** The members on this host whose health it checks, and how. */
  servicesHealthTargets: agentProcedure.query(({ ctx }) => healthTargetsFor(ctx.db, ctx.agent.hostId)),
  /** Verdicts of those checks; a member going unhealthy or coming back is a new version for every host. */
  reportServicesHealth: agentProcedure
    .input(HealthReportInput)
    .mutation(({ ctx, input }) => recordHealthReports(ctx, { id: ctx.agent.hostId, name: ctx.agent.hostName }, input)),
  /** The members this host's proxy ejected now (passive health, issue 14), the whole list. */
  reportProxyHealth: agentProcedure.input(ProxyHealthReport).mutation(({ ctx, input }) => recordProxyHealth(ctx, ctx.agent.hostId, input)),
  /** Service probes asked of this host (marked running as they are handed over). */
  claimProbes: agentProcedure.mutation(async ({ ctx }) => ({ probes: await claimProbes(ctx) })),
  /** A probe's outcome (only this host's running probes are recorded). */
  reportProbe: agentProcedure.input(ReportProbeInput).mutation(({ ctx, input }) => reportProbe(ctx, input)),
  /** The agent's metrics registry, validated against its catalogue, kept as this host's latest snapshot for every replica's /metrics. */
  reportMetrics: agentProcedure.input(AgentMetricsSnapshot).mutation(({ ctx, input }) => storeAgentMetrics(ctx.db, ctx.agent, input)),
  /** The networks placed on this host, each as this host runs it: the files its conf dir must hold (issue 16). */
  deployments: agentProcedure.query(async ({ ctx }) => ({ networks: await deploymentsForHost(ctx.db, ctx.agent.hostId) })),
  /** What the agent's last apply did in its conf dir, the whole picture. */
  reportConfDir: agentProcedure.input(ConfDirReportInput).mutation(async ({ ctx, input }) => {
    const outcome = await recordConfDirReport(ctx, ctx.agent.hostId, input);
    // A rollout waiting for this host's file moves on, or pauses saying why.
    if (!input.error) await advanceRollouts(ctx, ctx.agent.hostId, input);
    ctx.events.publish("host", { kind: "seen", hostId: ctx.agent.hostId });
    return outcome;
  }),
  /** Containers other runtimes attached on this host (libcni cache entries the agent did not make), the whole list. */
  reportObserved: agentProcedure.input(ObservedReportInput).mutation(({ ctx, input }) => recordObserved(ctx, ctx.agent.hostId, input)),
  reportProblem: agentProcedure.input(z.object({ attachmentId: Id, problem: z.string().min(1).max(2000) })).mutation(({ ctx, input }) => reportProblem(ctx, input)),
});

/** The agent endpoint's root: paths read `agent.claim`, `agent.complete`, … in logs and audit. */
export const agentRootRouter = router({ agent: agentRouter });
export type AgentRouter = typeof agentRootRouter;
