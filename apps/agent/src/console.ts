import { TRPCClientError } from "@trpc/client";
import type { AgentClient } from "./client";

/** The console refused our credential: revoked, expired or unknown. The process should exit. */
export class CredentialRefused extends Error {}

export function trpcCode(error: unknown): string | undefined {
  return error instanceof TRPCClientError ? (error.data as { code?: string } | undefined)?.code : undefined;
}

type Input<F extends (...args: never[]) => unknown> = Parameters<F>[0];
export type ClaimedOperation = Awaited<ReturnType<AgentClient["claim"]["mutate"]>>[number];
export type DesiredAttachment = Awaited<ReturnType<AgentClient["desired"]["query"]>>[number];
export type HeartbeatInput = Input<AgentClient["heartbeat"]["mutate"]>;
/** Containers other runtimes attached on this host, as the console takes them (packages/api/src/domain/observedAttachments.ts). */
export type ObservedReportInput = Input<AgentClient["reportObserved"]["mutate"]>;
export type CompleteAnswer = Awaited<ReturnType<AgentClient["completeMany"]["mutate"]>>["answers"][number];
export type LogEntries = Input<AgentClient["log"]["mutate"]>["entries"];
export type Outcomes = Input<AgentClient["completeMany"]["mutate"]>["outcomes"];
type WorkHandlers = NonNullable<Parameters<AgentClient["work"]["subscribe"]>[1]>;
export type WorkEvent = Parameters<NonNullable<WorkHandlers["onData"]>>[0];

/** What the push stream's subscriber is told; `unsubscribe` ends it. */
export interface WorkSubscriber {
  onData(event: WorkEvent): void;
  onError(error: Error): void;
  onComplete(): void;
  /**
   * The transport's state: tRPC's SSE link dials a lost stream again by itself ("connecting",
   * with the error that ended it), at once and without back-off.
   */
  onConnectionStateChange?(state: { state: "idle" | "connecting" | "pending"; error: Error | null }): void;
}

/**
 * The console as the agent's jobs see it: plain functions over the tRPC client, each a small
 * port a test can fake. Every call but enrolment goes through `guard`: an UNAUTHORIZED answer
 * (revoked or expired) calls `onRefused` once, then rethrows.
 */
export function createConsolePort(client: AgentClient, onRefused: (error: CredentialRefused) => void) {
  async function guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (trpcCode(error) === "UNAUTHORIZED") onRefused(new CredentialRefused((error as Error).message));
      throw error;
    }
  }
  return {
    enroll: async (input: Input<AgentClient["enroll"]["mutate"]>) => client.enroll.mutate(input),
    heartbeat: (input: HeartbeatInput) => guard(() => client.heartbeat.mutate(input)),
    rotateCredential: () => guard(() => client.rotateCredential.mutate()),
    claim: (max: number) => guard(() => client.claim.mutate({ max })),
    poll: (input: Input<AgentClient["poll"]["mutate"]>, signal?: AbortSignal) => guard(() => client.poll.mutate(input, signal ? { signal } : undefined)),
    holding: (openedAt: Date, operationIds: string[]) => guard(() => client.holding.mutate({ openedAt, operationIds })),
    extend: (fence: { operationId: string; attempt: number }) => guard(() => client.extend.mutate(fence)),
    log: (entries: LogEntries) => guard(() => client.log.mutate({ entries })),
    completeMany: async (outcomes: Outcomes) => (await guard(() => client.completeMany.mutate({ outcomes }))).answers,
    desired: () => guard(() => client.desired.query()),
    currentConfigs: (networkNames: string[]) => guard(() => client.currentConfigs.query({ networkNames })),
    resume: () => guard(() => client.resume.mutate()),
    /** The networks this host's conf dir must hold (re-validated by the deployer). */
    deployments: (): Promise<{ networks: unknown[] }> => guard(() => client.deployments.query()),
    reportObserved: (input: ObservedReportInput) => guard(() => client.reportObserved.mutate(input)),
    reportConfDir: (input: Input<AgentClient["reportConfDir"]["mutate"]>) => guard(() => client.reportConfDir.mutate(input)),
    reportProblem: (attachmentId: string, problem: string) => guard(() => client.reportProblem.mutate({ attachmentId, problem })),
    reportIpam: (report: Input<AgentClient["reportIpam"]["mutate"]>) => guard(() => client.reportIpam.mutate(report)),
    claimReleases: () => guard(() => client.claimReleases.mutate()),
    completeRelease: (input: Input<AgentClient["completeRelease"]["mutate"]>) => guard(() => client.completeRelease.mutate(input)),
    /** What this host must program for services (re-validated by the caller before use). */
    servicesDesired: (family: 4 | 6): Promise<unknown> => guard(() => client.servicesDesired.query({ family })),
    reportServicesApplied: (input: Input<AgentClient["reportServicesApplied"]["mutate"]>) => guard(() => client.reportServicesApplied.mutate(input)),
    /** The members on this host to health-check (re-validated by the caller). */
    servicesHealthTargets: (): Promise<unknown[]> => guard(() => client.servicesHealthTargets.query()),
    reportProxyHealth: (input: Input<AgentClient["reportProxyHealth"]["mutate"]>) => guard(() => client.reportProxyHealth.mutate(input)),
    reportServicesHealth: (input: Input<AgentClient["reportServicesHealth"]["mutate"]>) => guard(() => client.reportServicesHealth.mutate(input)),
    claimProbes: (): Promise<{ probes: unknown[] }> => guard(() => client.claimProbes.mutate()),
    reportProbe: (input: Input<AgentClient["reportProbe"]["mutate"]>) => guard(() => client.reportProbe.mutate(input)),
    /** This agent's metrics registry (metrics.ts): the console serves it with the host's name. */
    reportMetrics: (input: Input<AgentClient["reportMetrics"]["mutate"]>) => guard(() => client.reportMetrics.mutate(input)),
    /** Pushed work; an UNAUTHORIZED end is the subscriber's to judge (see push.ts). */
    subscribeWork: (slots: number, subscriber: WorkSubscriber): { unsubscribe(): void } => client.work.subscribe({ slots }, subscriber),
  };
}
export type ConsolePort = ReturnType<typeof createConsolePort>;
