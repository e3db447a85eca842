import { CanonicalIp, PortNumber, Protocol } from "@switchyard/dataplane/desired";
import { z } from "zod";

/**
 * A probe of a service (issue 12): a bounded number of connections to its VIP from one host —
 * the host itself or the network namespace of one of its attachments — sent by that host's agent,
 * and how they spread over the members. One schema per shape, shared by the console (what an
 * operator asks for, what it hands the agent) and the agent (which parses the task again).
 */

export const PROBE_LIMITS = {
  /** Connections per probe. */
  countMax: 1000,
  /** Connections in flight at once. */
  concurrency: 8,
  /** Per connection. */
  connectTimeoutMs: 1000,
  /** The whole probe, whatever the count. */
  totalMs: 30_000,
  /** A pending probe its agent has not taken by then fails: the host is offline. */
  pickupMs: 30_000,
  /** A running probe whose agent has not reported by then (since it said it started) fails. */
  reportMs: 90_000,
  /** Probes pending or running on one host at once: the queue an agent works through stays short (and well inside reportMs). */
  outstandingPerHost: 2,
} as const;

/** Protocols a probe can send: TCP connects, UDP datagrams; SCTP is refused with a reason. */
export const ProbeProtocol = Protocol.refine((p) => p !== "sctp", { message: "sctp cannot be probed: only tcp and udp ports" });

export const ProbeCount = z
  .number()
  .int("the count must be a whole number")
  .min(1, "the count must be 1-1000")
  .max(PROBE_LIMITS.countMax, `the count must be 1-${PROBE_LIMITS.countMax}`);

/** Where the connections leave from: the host itself, or one ready attachment's namespace on it. */
export const ProbeSource = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("host") }),
  z.object({ kind: z.literal("attachment"), attachmentId: z.string().min(1).max(64) }),
]);
export type ProbeSource = z.infer<typeof ProbeSource>;

export const StartProbeInput = z.object({
  serviceId: z.string().min(1).max(64),
  hostId: z.string().min(1).max(64),
  protocol: ProbeProtocol,
  port: PortNumber,
  source: ProbeSource,
  count: ProbeCount,
});
export type StartProbeInput = z.infer<typeof StartProbeInput>;

/** An attachment's namespace, as the agent resolves it (re-validated there: netnsPathOf). */
export const ProbeNamespace = z.object({ targetKind: z.enum(["netns", "pid", "sandbox"]), target: z.string().min(1).max(64) });

/** What the agent is asked to do: the VIP:port (which it must program itself), the count, where from. */
export const ProbeTask = z.object({
  id: z.string().min(1).max(64),
  vip: CanonicalIp,
  protocol: ProbeProtocol,
  port: PortNumber,
  count: ProbeCount,
  /** null: from the host (the namespace the agent programs services in). */
  namespace: ProbeNamespace.nullable(),
});
export type ProbeTask = z.infer<typeof ProbeTask>;

export const ProbeMemberCount = z.object({ address: CanonicalIp, port: PortNumber, count: z.number().int().min(0).max(PROBE_LIMITS.countMax) });

const Count = z.number().int().min(0).max(PROBE_LIMITS.countMax);

/** What came of the connections, and which member answered each (from conntrack). */
export const ProbeResult = z.object({
  sent: Count,
  /** TCP: connected; UDP: a reply came back. */
  answered: Count,
  refused: Count,
  timedOut: Count,
  /** Any other error (unreachable, reset, …). */
  failed: Count,
  /** Answers per member (conntrack's reply source); empty when members are unknown. */
  members: z.array(ProbeMemberCount).max(10_000),
  /** Whether members were attributed (conntrack present and readable). */
  membersKnown: z.boolean(),
  /** Answered connections conntrack did not name a member for. */
  unattributed: Count,
  durationMs: z.number().int().min(0).max(600_000),
  /** Why members are unknown, the first errors, … */
  notes: z.array(z.string().max(300)).max(10),
});
export type ProbeResult = z.infer<typeof ProbeResult>;

/** The agent's report: it starts sending now (running), or the outcome. */
export const ReportProbeInput = z.discriminatedUnion("status", [
  z.object({ id: z.string().min(1).max(64), status: z.literal("running") }),
  z.object({ id: z.string().min(1).max(64), status: z.literal("done"), result: ProbeResult }),
  z.object({ id: z.string().min(1).max(64), status: z.literal("failed"), error: z.string().min(1).max(2000) }),
]);
export type ReportProbeInput = z.infer<typeof ReportProbeInput>;
