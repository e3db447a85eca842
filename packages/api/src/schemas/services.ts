import { CanonicalIp, DesiredPort, MemberState, PortNumber, SERVICE_LIMITS, ServiceName } from "@switchyard/dataplane/desired";
import { DEFAULT_POOL, PoolName, ProxySettings } from "@switchyard/dataplane/proxy";
import { parseCidr, parseIp } from "@switchyard/ipam";
import { z } from "zod";

/**
 * Services and their endpoint pools (issue 12), as the console's API takes them. A service's
 * spec is kept in revisions (like a network's conflist): its ports, affinity, the hosts it is
 * programmed on, its health check, and its pool (a label selector over attachments, members
 * added by hand, and each member's weight and state). Registered members are not in the spec:
 * processes come and go through the API, and each registration is its own row.
 */

// ---- Labels, as Kubernetes validates them ------------------------------------------------

const LABEL_NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is not a label key (`[prefix/]name`), or null. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : null;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== null && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN_RE.test(prefix))) {
    return `label key "${key}": the prefix must be a DNS subdomain (lowercase, at most 253 characters)`;
  }
  if (!LABEL_NAME_RE.test(name)) {
    return `label key "${key}": the name must be 1-63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit`;
  }
  return null;
}

/** Why `value` is not a label value, or null (empty is a value). */
export function labelValueProblem(value: string): string | null {
  if (value === "" || LABEL_NAME_RE.test(value)) return null;
  return `label value "${value}": at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit`;
}

export const LABELS_MAX = 64;

export const Labels = z.record(z.string().max(317), z.string().max(63)).superRefine((labels, ctx) => {
  const keys = Object.keys(labels);
  if (keys.length > LABELS_MAX) ctx.addIssue({ code: "custom", message: `${keys.length} labels: at most ${LABELS_MAX}` });
  for (const key of keys) {
    const problem = labelKeyProblem(key) ?? labelValueProblem(labels[key]!);
    if (problem) ctx.addIssue({ code: "custom", path: [key], message: problem });
  }
});
export type Labels = z.infer<typeof Labels>;

const LabelKey = z.string().superRefine((k, ctx) => {
  const problem = labelKeyProblem(k);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});
const LabelValue = z.string().superRefine((v, ctx) => {
  const problem = labelValueProblem(v);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** A Kubernetes label selector: every matchLabels pair and every expression must hold. */
export const LabelSelector = z
  .object({
    matchLabels: z.record(LabelKey, LabelValue).optional(),
    matchExpressions: z
      .array(
        z.discriminatedUnion("operator", [
          z.object({ key: LabelKey, operator: z.enum(["In", "NotIn"]), values: z.array(LabelValue).min(1, "In and NotIn need at least one value").max(64) }),
          z.object({ key: LabelKey, operator: z.enum(["Exists", "DoesNotExist"]) }),
        ]),
      )
      .max(32)
      .optional(),
  })
  .strict();
export type LabelSelector = z.infer<typeof LabelSelector>;

/** Whether `labels` satisfy `selector`. An empty selector matches everything, as in Kubernetes. */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
    if (e.operator === "In" && !(has && e.values.includes(labels[e.key]!))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(labels[e.key]!)) return false;
  }
  return true;
}

// ---- The spec of a service -----------------------------------------------------------------

/** A port as the spec holds it: the one shape the hosts receive (the dataplane's DesiredPort). */
export const ServicePortSpec = DesiredPort;

export const HealthCheckSpec = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("tcp") }),
  z.object({
    kind: z.literal("http"),
    path: z.string().min(1).max(512).regex(/^\/[\x21-\x7e]*$/, "must start with '/' and hold only visible ASCII (no spaces)"),
    expectStatus: z.number().int().min(100).max(599).default(200),
  }),
]).and(
  z.object({
    intervalSeconds: z.number().int().min(1).max(3600).default(5),
    timeoutSeconds: z.number().int().min(1).max(60).default(2),
    healthyThreshold: z.number().int().min(1).max(10).default(2),
    unhealthyThreshold: z.number().int().min(1).max(10).default(3),
  }),
).refine((c) => c.timeoutSeconds <= c.intervalSeconds, { message: "the timeout must be at most the interval (a check never overlaps the next)", path: ["timeoutSeconds"] });
export type HealthCheckSpec = z.infer<typeof HealthCheckSpec>;

/** A member added by hand: an address (and a port on a one-port service), on a host when known. */
export const ManualMemberSpec = z.object({
  address: CanonicalIp,
  port: PortNumber.nullable().default(null),
  hostId: z.string().max(64).nullable().default(null),
  weight: z.number().int().min(0).max(SERVICE_LIMITS.weightMax).default(100),
  state: MemberState.default("active"),
  /** The proxy plane's pool (routes pick pools); the kernel plane takes every member. */
  pool: PoolName.default(DEFAULT_POOL),
});
export type ManualMemberSpec = z.infer<typeof ManualMemberSpec>;

/** Weight and state of a member the selector chose (by attachment), when not the defaults. */
export const MemberOverrideSpec = z.object({
  attachmentId: z.string().min(1).max(64),
  weight: z.number().int().min(0).max(SERVICE_LIMITS.weightMax).optional(),
  state: MemberState.optional(),
  pool: PoolName.optional(),
});

export const ServiceSpec = z
  .object({
    ports: z.array(ServicePortSpec).min(1, "a service needs at least one port").max(SERVICE_LIMITS.portsPerService),
    /** Client-IP affinity in seconds, or null for none. */
    affinityTimeoutSeconds: z.number().int().min(1).max(SERVICE_LIMITS.affinityTimeoutMax).nullable().default(null),
    /** The hosts it is programmed on: null for every host, else those whose labels match. */
    hostSelector: LabelSelector.nullable().default(null),
    healthCheck: HealthCheckSpec.nullable().default(null),
    /** Attachments whose labels match are members (ready ones only); null for none. */
    memberSelector: LabelSelector.nullable().default(null),
    manualMembers: z.array(ManualMemberSpec).max(SERVICE_LIMITS.membersPerService, `a pool holds at most ${SERVICE_LIMITS.membersPerService} members`).default([]),
    overrides: z.array(MemberOverrideSpec).max(SERVICE_LIMITS.membersPerService, `a pool holds at most ${SERVICE_LIMITS.membersPerService} members`).default([]),
    /**
     * Which data plane carries it (issue 14): `kernel`, the nftables table (L4, random weighted,
     * every protocol), or `proxy`, the userspace proxy on each host (TCP and HTTP: routes, least
     * connections, consistent hashing, retries, passive health, per-request logs).
     */
    dataPlane: z.enum(["kernel", "proxy"]).default("kernel"),
    /** The proxy's settings; kept while the service is on the kernel plane, so a switch back finds them. */
    proxy: ProxySettings.nullable().default(null),
  })
  .superRefine((s, ctx) => {
    if (s.dataPlane === "proxy") {
      s.ports.forEach((p, i) => {
        if (p.protocol !== "tcp") ctx.addIssue({ code: "custom", path: ["ports", i, "protocol"], message: `the proxy carries TCP (and HTTP over it), not ${p.protocol}: keep this service on the kernel plane` });
      });
      if (s.affinityTimeoutSeconds !== null) {
        ctx.addIssue({ code: "custom", path: ["affinityTimeoutSeconds"], message: "on the proxy plane, client affinity is consistent hashing on the client address (proxy.balance): leave this empty" });
      }
    }
    if (s.proxy) {
      const servicePorts = new Set(s.ports.map((p) => p.port));
      const hostPorts = new Set<number>();
      s.proxy.ports.forEach((p, i) => {
        if (!servicePorts.has(p.port)) ctx.addIssue({ code: "custom", path: ["proxy", "ports", i, "port"], message: `port ${p.port} is not one of the service's ports` });
        if (p.hostPort !== null) {
          if (hostPorts.has(p.hostPort)) ctx.addIssue({ code: "custom", path: ["proxy", "ports", i, "hostPort"], message: `host port ${p.hostPort} is listed twice` });
          hostPorts.add(p.hostPort);
        }
      });
      const labelProblem = s.proxy.poolLabel === null ? null : labelKeyProblem(s.proxy.poolLabel);
      if (labelProblem) ctx.addIssue({ code: "custom", path: ["proxy", "poolLabel"], message: labelProblem });
      if (s.proxy.routes.length > 0 && !s.proxy.ports.some((p) => p.kind === "http")) {
        ctx.addIssue({ code: "custom", path: ["proxy", "routes"], message: "routes read the host and path of HTTP requests: make at least one port HTTP" });
      }
    }
    const ports = new Set<string>();
    s.ports.forEach((p, i) => {
      const key = `${p.protocol}/${p.port}`;
      if (ports.has(key)) ctx.addIssue({ code: "custom", path: ["ports", i, "port"], message: `port ${key} is listed twice` });
      ports.add(key);
    });
    const members = new Set<string>();
    s.manualMembers.forEach((m, i) => {
      if (m.port !== null && s.ports.length > 1) {
        ctx.addIssue({ code: "custom", path: ["manualMembers", i, "port"], message: `member ${m.address}:${m.port} names its own port, which only a one-port service allows: leave it empty to use each port's target port` });
      }
      // The same endpoint twice, also as a port-less member beside one naming the target port.
      const keys = [`${m.address}/${m.port ?? "*"}`, ...s.ports.map((p) => `${m.address}/${m.port ?? p.targetPort}`)];
      if (keys.some((k) => members.has(k))) ctx.addIssue({ code: "custom", path: ["manualMembers", i, "address"], message: `member ${m.address}${m.port === null ? "" : `:${m.port}`} is listed twice` });
      for (const k of keys) members.add(k);
    });
    const sel = s.memberSelector;
    if (sel && Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0) {
      ctx.addIssue({ code: "custom", path: ["memberSelector"], message: "an empty member selector would take every labelled attachment: give at least one label or expression, or none (null)" });
    }
    const overridden = new Set<string>();
    s.overrides.forEach((o, i) => {
      if (overridden.has(o.attachmentId)) ctx.addIssue({ code: "custom", path: ["overrides", i, "attachmentId"], message: `attachment ${o.attachmentId} is overridden twice` });
      overridden.add(o.attachmentId);
    });
  });
export type ServiceSpec = z.infer<typeof ServiceSpec>;

export const CreateServiceInput = z.object({
  name: ServiceName,
  /** A VIP given by the operator (checked); without one the console allocates from the service CIDRs. */
  vip: CanonicalIp.optional(),
  /** Which service CIDR family to allocate from when no VIP is given. */
  family: z.union([z.literal(4), z.literal(6)]).default(4),
  spec: ServiceSpec,
  comment: z.string().max(500).default(""),
});
export const UpdateServiceInput = z.object({ id: z.string().min(1).max(64), spec: ServiceSpec, comment: z.string().max(500).default(""), expectedRevision: z.number().int().positive() });
export const RollbackServiceInput = z.object({ id: z.string().min(1).max(64), toRevision: z.number().int().positive(), expectedRevision: z.number().int().positive() });
/** A change to plan (nothing is written): the spec update would write, or the revision a rollback would restore. */
export const PlanServiceInput = z.object({
  id: z.string().min(1).max(64),
  change: z.discriminatedUnion("kind", [z.object({ kind: z.literal("update"), spec: ServiceSpec }), z.object({ kind: z.literal("rollback"), toRevision: z.number().int().positive() })]),
  /** When given, a service past this revision is refused (the page planned against an old state). */
  expectedRevision: z.number().int().positive().optional(),
});
export type PlanServiceInput = z.infer<typeof PlanServiceInput>;
export const DeleteServiceInput = z.object({ id: z.string().min(1).max(64), confirmName: z.string().max(63) });

/** The service CIDRs: at most one per family is enough for most; a few allowed. */
export const SetServiceCidrsInput = z.object({
  cidrs: z
    .array(
      z.string().max(49).superRefine((c, ctx) => {
        const parsed = parseCidr(c);
        if (!parsed.ok) return void ctx.addIssue({ code: "custom", message: parsed.error.message });
        if (parsed.value.text !== c) ctx.addIssue({ code: "custom", message: `write it as ${parsed.value.text}` });
        const size = parsed.value.family === 4 ? 32 - parsed.value.prefixLength : 128 - parsed.value.prefixLength;
        if (size < 2) ctx.addIssue({ code: "custom", message: `${c} holds no address to hand out` });
      }),
    )
    .max(SERVICE_LIMITS.serviceCidrs),
});

/** An IP literal, however written: the console compares canonical forms. */
export function canonicalIp(text: string): string | null {
  const parsed = parseIp(text);
  return parsed.ok ? parsed.value.text : null;
}

/**
 * A member registered through the API (issue 12 §6) by a process that is not an attachment: the
 * service by name (what a script knows), the endpoint, and optionally the host it lives on (by
 * name: its agent runs the member's health check), weight, state and a TTL after which the
 * registration lapses unless the process registers again (a renewal changes nothing else).
 */
export const RegisterMemberInput = z.object({
  service: ServiceName,
  address: CanonicalIp,
  /** The member's own port (one-port services only), else each port's target port. */
  port: PortNumber.nullable().default(null),
  host: z.string().min(1).max(253).nullable().default(null),
  weight: z.number().int().min(0).max(SERVICE_LIMITS.weightMax).default(100),
  state: MemberState.default("active"),
  ttlSeconds: z.number().int().min(5, "a TTL under 5 s would lapse between two renewals").max(86_400).nullable().default(null),
});
export type RegisterMemberInput = z.infer<typeof RegisterMemberInput>;

export const DeregisterMemberInput = z.object({
  service: ServiceName,
  address: CanonicalIp,
  port: PortNumber.nullable().default(null),
});
export type DeregisterMemberInput = z.infer<typeof DeregisterMemberInput>;
